/**
 * One temporary directory per test run, and nothing left behind (issue 10, "Also"). The first
 * globalSetup of a run creates `rsqlo-test-run-*` in the system temp dir and points TMPDIR at it,
 * so every `mkdtemp(os.tmpdir())` of the run — test workspaces, engine homes, embedded PostgreSQL
 * clusters, test processes' own temp files — lands inside. At teardown everything under it is
 * stopped (see cleanup.ts) and removed.
 *
 * A run that is interrupted (Ctrl-C, SIGTERM, even SIGKILL of vitest) cannot be trusted to tear
 * down, so a janitor process (janitor.ts) is started beside it, detached from the terminal's
 * process group: when the vitest process is gone it does the same cleanup, plus the processes that
 * registered their pid (DynamoDB Local) with {@link registerForCleanup}.
 */
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { removeTestDir } from './cleanup.js';

const ENV = 'RSQLO_TEST_RUN_DIR';
const PIDS = '.cleanup-pids';

/** Creates the run's directory (or returns the one this run already has) and its janitor. */
export function setUpRunDir(): { dir: string; teardown: () => void } {
  const existing = process.env[ENV];
  if (existing) return { dir: existing, teardown: () => {} };
  const dir = mkdtempSync(path.join(tmpdir(), 'rsqlo-test-run-'));
  // As root the embedded PostgreSQL runs as OS user postgres, which must traverse to the homes.
  chmodSync(dir, 0o755);
  process.env[ENV] = dir;
  process.env.TMPDIR = dir;
  const tsx = path.resolve(import.meta.dirname, '../../node_modules/tsx/dist/cli.mjs');
  const janitor = spawn(
    process.execPath,
    [tsx, path.join(import.meta.dirname, 'janitor.ts'), String(process.pid), dir],
    {
      detached: true,
      stdio: 'ignore',
      env: { ...process.env, TMPDIR: path.dirname(dir) },
    },
  );
  janitor.unref();
  return {
    dir,
    teardown: () => {
      try {
        if (janitor.pid) process.kill(janitor.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      cleanUpRunDir(dir);
      delete process.env[ENV];
    },
  };
}

/** Stops what the run left and removes its directory (also what the janitor does). */
export function cleanUpRunDir(dir: string): void {
  let registered: string[] = [];
  try {
    registered = readFileSync(path.join(dir, PIDS), 'utf8').split('\n').filter(Boolean);
  } catch {
    // none registered
  }
  for (const line of registered) {
    const [pid, marker] = line.split(' ', 2) as [string, string | undefined];
    if (marker && !commandLine(Number(pid)).includes(marker)) continue; // gone, or the pid was reused
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // gone
    }
  }
  removeTestDir(dir);
}

function commandLine(pid: number): string {
  const r = spawnSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout : '';
}

/**
 * A process outside the run's directory (DynamoDB Local) to kill if the run dies; `marker` is a
 * piece of its command line, checked first so that a reused pid is never killed.
 */
export function registerForCleanup(pid: number | undefined, marker: string): void {
  const dir = process.env[ENV];
  if (dir && pid) appendFileSync(path.join(dir, PIDS), `${pid} ${marker}\n`);
}
