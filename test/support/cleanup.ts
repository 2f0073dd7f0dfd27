/**
 * Cleaning up after tests, whatever they left: processes (jobs, engines, PostgreSQL servers) whose
 * command line names a directory, clusters kept outside it (root: see rsql/embedded-postgres.ts),
 * and the directory itself. Written against what is on disk and in `ps`, not through the code under
 * test, so it works as well when that code is broken (or reverted to check a test fails).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';

interface Row {
  pid: number;
  args: string;
}

function processes(): Row[] {
  const r = spawnSync('ps', ['-A', '-o', 'pid=', '-o', 'args='], { encoding: 'utf8' });
  const rows: Row[] = [];
  for (const line of (r.stdout ?? '').split('\n')) {
    const m = /^\s*(\d+)\s+(.*)$/.exec(line);
    if (m && Number(m[1]) !== process.pid) rows.push({ pid: Number(m[1]), args: m[2] as string });
  }
  return rows;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone
  }
}

/** Clusters a tree holds or points at: every `connection.json` (depth ≤ 6) and where its cluster is. */
export function clustersUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, depth: number) => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory() && !e.isSymbolicLink() && depth < 6 && e.name !== 'node_modules')
        walk(p, depth + 1);
      else if (e.name === 'connection.json') {
        try {
          const state = JSON.parse(readFileSync(p, 'utf8')) as { pgdata?: unknown };
          out.push(typeof state.pgdata === 'string' ? state.pgdata : path.join(d, 'pgdata'));
        } catch {
          out.push(path.join(d, 'pgdata'));
        }
      }
    }
  };
  walk(dir, 0);
  return out;
}

/**
 * Stops everything running from `dir` (PostgreSQL servers of clusters in it or recorded in it get a
 * fast shutdown first, so they leave no shared memory behind; the rest is SIGKILLed) and removes
 * `dir` and the clusters kept elsewhere for it. Synchronous and self-contained: usable from an
 * exit handler.
 */
export function removeTestDir(dir: string): void {
  const clusters = existsSync(dir) ? clustersUnder(dir) : [];
  const names = [dir, ...clusters];
  const mentioning = () => processes().filter((p) => names.some((n) => p.args.includes(n)));
  const postmasters = mentioning().filter((p) => /(^|\/)postgres /.test(p.args));
  for (const p of postmasters) signal(p.pid, 'SIGINT');
  const deadline = Date.now() + 10_000;
  while (postmasters.some((p) => alive(p.pid)) && Date.now() < deadline) {
    spawnSync('sleep', ['0.05']);
  }
  for (const p of mentioning()) signal(p.pid, 'SIGKILL');
  for (const c of clusters) {
    if (!c.startsWith(dir)) rmSync(path.dirname(c), { recursive: true, force: true });
  }
  rmSync(dir, { recursive: true, force: true });
}
