/**
 * The real runner (bin/rsql.cjs, the standalone bundle) writing its stdout as bytes (output.ts): the order
 * of results, notices, errors, `\echo` and `\o` output in one combined log, and big results through a pipe
 * byte for byte as psql prints them.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, pgEnv } from '../test/support/postgres.js';
import type { PgConnectionInfo } from './embedded-postgres.js';
import { makeRunner, type Runner } from './test-helpers.js';

const RSQL = resolve(dirname(fileURLToPath(import.meta.url)), '../bin/rsql.cjs');
const PSQL = '/usr/bin/psql';

let db: { connection: PgConnectionInfo; drop: () => Promise<void> };
let r: Runner;

beforeAll(async () => {
  db = await createTestDatabase('output_order');
  r = makeRunner(db.connection);
});

afterAll(async () => {
  r?.cleanup();
  await db?.drop();
});

const env = () => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: r.dir, ...pgEnv(db.connection) });

/** Runs the real runner on `script` with stdout and stderr into the same file: the combined log. */
function combinedLog(script: string, args: string[] = []): Promise<{ code: number | null; log: string }> {
  const file = join(r.dir, 'script.sql');
  writeFileSync(file, script);
  const logFile = join(r.dir, 'combined.log');
  const fd = openSync(logFile, 'w');
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [RSQL, '-X', ...args, '-f', file], {
      env: env(),
      cwd: r.dir,
      stdio: ['ignore', fd, fd],
    });
    child.on('error', fail);
    child.on('close', (code) => {
      closeSync(fd);
      done({ code, log: readFileSync(logFile, 'utf8') });
    });
  });
}

/** Runs the real runner with stdout as a pipe; its stdout as bytes. */
function piped(args: string[]): Promise<{ code: number | null; out: Buffer; err: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [RSQL, '-X', ...args], { env: env(), cwd: r.dir });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('error', fail);
    child.on('close', (code) => done({ code, out: Buffer.concat(out), err }));
  });
}

describe('output of the real runner', () => {
  it('keeps results, notices, errors, \\echo and \\o output in the order they happened', async () => {
    const script = [
      '\\echo first',
      "select 1 as a, 'x' as b;",
      "do $$ begin raise notice 'note one'; end $$;",
      'select 2 as c;',
      'select 1/0;',
      '\\echo after the error',
      '\\o redirected.txt',
      'select 3 as d;',
      '\\echo echo still on stdout',
      '\\qecho qecho into the file',
      "do $$ begin raise notice 'note two'; end $$;",
      '\\o',
      "select 'ü' as e, 4 as f;",
      'select 5 as g;',
      '\\echo last',
      '',
    ].join('\n');
    const { code, log } = await combinedLog(script);
    expect(code).toBe(0);
    expect(log).toBe(
      [
        'first',
        ' a | b ',
        '---+---',
        ' 1 | x',
        '(1 row)',
        '',
        'NOTICE:  note one',
        'DO',
        ' c ',
        '---',
        ' 2',
        '(1 row)',
        '',
        `rsql: ERROR: division by zero`,
        'after the error',
        'echo still on stdout',
        'NOTICE:  note two',
        ' e | f ',
        '---+---',
        ' ü | 4',
        '(1 row)',
        '',
        ' g ',
        '---',
        ' 5',
        '(1 row)',
        '',
        'last',
        '',
      ].join('\n'),
    );
    expect(readFileSync(join(r.dir, 'redirected.txt'), 'utf8')).toBe(
      ' d \n---\n 3\n(1 row)\n\nqecho into the file\nDO\n',
    );
  });

  it.skipIf(!existsSync(PSQL))('prints big results through a pipe byte for byte as psql', async () => {
    // many flushes of the 64 KiB buffer, and rows wider than the buffer (written straight through)
    for (const sql of [
      "select g as id, repeat('x', g % 97) as pad, g * 1.5 as amount from generate_series(1, 20000) g",
      "select g, repeat('y', 100000 + g) as wide from generate_series(1, 3) g",
    ]) {
      const ours = await piped(['-c', sql]);
      expect(ours.err).toBe('');
      expect(ours.code).toBe(0);
      const theirs = spawnSync(PSQL, ['-X', '-c', sql], { env: env(), maxBuffer: 64 * 1024 * 1024 });
      expect(theirs.status).toBe(0);
      expect(ours.out.length).toBe(theirs.stdout.length);
      expect(ours.out.equals(theirs.stdout)).toBe(true);
    }
  });
});
