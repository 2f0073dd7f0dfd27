/**
 * Real `rsqlo` processes for tests that attack the engine from outside (kill it, follow its logs,
 * measure its memory): spawned from bin/rsqlo.js exactly as a user runs them.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const RSQLO_BIN = path.resolve(import.meta.dirname, '../../bin/rsqlo.js');
const MAX_RSS_PRELOAD = path.resolve(import.meta.dirname, 'max-rss.cjs');

/**
 * Polls `check` until it returns a truthy value. The deadline is a liveness bound (a test that
 * would otherwise hang fails, naming what it waited for), never a timing assertion.
 */
export async function until<T>(
  check: () => T | undefined | false | null | Promise<T | undefined | false | null>,
  what: string,
  timeoutMs = 120_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A spawned rsqlo process with its output collected as it comes. */
export interface RsqloProcess {
  child: ChildProcess;
  /** Everything it wrote to stdout so far (empty with `stdoutFile`). */
  stdout(): string;
  stderr(): string;
  /**
   * Resolves with the exit code (or the signal name) once the process has exited. Its output goes
   * to files, not pipes: processes it leaves behind (a job, a server) cannot hold this open.
   */
  exit: Promise<number | string>;
}

export interface SpawnRsqloOptions {
  env?: Record<string, string | undefined>;
  /** Send stdout to this file instead of collecting it (for huge outputs). */
  stdoutFile?: string;
  /** Write the process's peak resident set size (bytes) to this file at exit. */
  maxRssFile?: string;
  cwd?: string;
}

/** Starts `rsqlo <argv>` as a child process (its own process group, so a test can kill it all). */
export function spawnRsqlo(argv: string[], opts: SpawnRsqloOptions = {}): RsqloProcess {
  const nodeArgs = opts.maxRssFile ? ['--require', MAX_RSS_PRELOAD] : [];
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
  if (opts.maxRssFile) env.RSQLO_TEST_MAX_RSS_FILE = opts.maxRssFile;
  for (const [k, v] of Object.entries(opts.env ?? {})) if (v === undefined) delete env[k];
  const dir = mkdtempSync(path.join(tmpdir(), 'rsqlo-test-proc-'));
  const outFile = opts.stdoutFile ?? path.join(dir, 'stdout');
  const errFile = path.join(dir, 'stderr');
  const outFd = openSync(outFile, 'w');
  const errFd = openSync(errFile, 'w');
  const child = spawn(process.execPath, [...nodeArgs, RSQLO_BIN, ...argv], {
    env,
    cwd: opts.cwd,
    stdio: ['ignore', outFd, errFd],
    detached: true,
  });
  closeSync(outFd);
  closeSync(errFd);
  const read = (file: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return '';
    }
  };
  let final: { out: string; err: string } | undefined;
  const exit = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => {
      final = { out: opts.stdoutFile ? '' : read(outFile), err: read(errFile) };
      rmSync(dir, { recursive: true, force: true });
      resolve(code ?? signal ?? 'unknown');
    }),
  );
  return {
    child,
    stdout: () => final?.out ?? (opts.stdoutFile ? '' : read(outFile)),
    stderr: () => final?.err ?? read(errFile),
    exit,
  };
}

/** The peak RSS a process wrote with {@link SpawnRsqloOptions.maxRssFile}. */
export function readMaxRss(file: string): number {
  return Number(readFileSync(file, 'utf8'));
}

/** A process as `ps` lists it. */
export interface ProcessRow {
  pid: number;
  ppid: number;
  args: string;
}

/** Every process whose command line contains `text` (this test process and `ps` excluded). */
export function processesMentioning(text: string): ProcessRow[] {
  const r = spawnSync('ps', ['-A', '-o', 'pid=', '-o', 'ppid=', '-o', 'args='], { encoding: 'utf8' });
  const rows: ProcessRow[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const row = { pid: Number(m[1]), ppid: Number(m[2]), args: m[3] as string };
    if (row.pid !== process.pid && row.args.includes(text) && !row.args.startsWith('ps ')) rows.push(row);
  }
  return rows;
}

/** SIGKILLs every process whose command line contains `text`: a test's leftovers, whatever happened. */
export function killProcessesMentioning(text: string): void {
  for (const p of processesMentioning(text)) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}
