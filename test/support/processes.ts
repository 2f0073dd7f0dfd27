/**
 * Real `rsqlo` processes for tests that attack the engine from outside (kill it, follow its logs,
 * measure its memory): spawned from bin/rsqlo.js exactly as a user runs them.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
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
  timeoutMs = 30_000,
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
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  exit: Promise<number | string>;
}

export interface SpawnRsqloOptions {
  env?: Record<string, string | undefined>;
  /** Send stdout to this file instead of collecting it (for huge outputs). */
  stdoutFile?: string;
  /** Write the process's peak resident set size (bytes) to this file at exit. */
  maxRssFile?: string;
}

/** Starts `rsqlo <argv>` as a child process (its own process group, so a test can kill it all). */
export function spawnRsqlo(argv: string[], opts: SpawnRsqloOptions = {}): RsqloProcess {
  const nodeArgs = opts.maxRssFile ? ['--require', MAX_RSS_PRELOAD] : [];
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
  if (opts.maxRssFile) env.RSQLO_TEST_MAX_RSS_FILE = opts.maxRssFile;
  for (const [k, v] of Object.entries(opts.env ?? {})) if (v === undefined) delete env[k];
  const outFd = opts.stdoutFile ? openSync(opts.stdoutFile, 'w') : undefined;
  const child = spawn(process.execPath, [...nodeArgs, RSQLO_BIN, ...argv], {
    env,
    stdio: ['ignore', outFd ?? 'pipe', 'pipe'],
    detached: true,
  });
  if (outFd !== undefined) closeSync(outFd);
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const exit = new Promise<number | string>((resolve) =>
    child.once('close', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  return { child, stdout: () => out, stderr: () => err, exit };
}

/** The peak RSS a process wrote with {@link SpawnRsqloOptions.maxRssFile}. */
export function readMaxRss(file: string): number {
  return Number(readFileSync(file, 'utf8'));
}
