/**
 * The runner's table output compared byte for byte with psql's (Debian's psql 15 client, as installed by
 * .ci/run) on the same database: expanded record lines for every border, control characters and tabs,
 * titles. Each case runs the same query with the same flags through both programs.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, pgEnv } from '../test/support/postgres.js';
import type { PgConnectionInfo } from './embedded-postgres.js';
import { makeRunner, type Runner } from './test-helpers.js';

const PSQL = '/usr/bin/psql';
const havePsql = existsSync(PSQL);
if (!havePsql && !process.env.CI)
  console.warn('[format-psql.test.ts] skipping: /usr/bin/psql is not installed');

let db: { connection: PgConnectionInfo; drop: () => Promise<void> };
let r: Runner;

beforeAll(async () => {
  db = await createTestDatabase('format_psql');
  r = makeRunner(db.connection);
});

afterAll(async () => {
  r?.cleanup();
  await db?.drop();
});

function psql(flags: string[], sql: string): string {
  const res = spawnSync(PSQL, ['-X', '-q', ...flags, '-c', sql], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...pgEnv(db.connection) },
    encoding: 'utf8',
  });
  if (res.status !== 0) throw new Error(`psql failed: ${res.stderr}`);
  return res.stdout;
}

async function ours(flags: string[], sql: string): Promise<string> {
  const res = await r.run('', { args: ['-q', ...flags, '-c', sql] });
  expect(res.stderr).toBe('');
  return res.stdout;
}

const TWO_ROWS = "select 1 as a, 'xyz' as bbbbbbbbbb, E'm\\nl' as c union all select 2, 'q', 'r'";
const LONG_NAME = "select 1 as averyveryverylongname, 'x' as b";
const SHORT_NAME_LONG_VALUE =
  "select 1 as a, 'x' as b, 'longer value here' as c union all select 2, 'y', 'z'";
const CONTROL =
  "select E'a\\tb' as t, E'x\\ry' as r, E'bel\\007' as c, E'\\x01' || 'z' as d, chr(133) || 'x' as e, " +
  "E'tab\\tin\\tmany' as f, E'ab\\tc\\nd\\te' as g, 'plain' as h, E'\\x7f' as del";
const TAB_HEADER = 'select E\'col\\tname\' as "tab\th", 1 as n';

describe.skipIf(!havePsql && !process.env.CI)('output compared with psql 15', () => {
  it('psql is installed (CI installs postgresql-client)', () => {
    expect(havePsql, `${PSQL} is missing: apt-get install -y postgresql-client`).toBe(true);
  });

  const expanded: [string, string][] = [
    ['two rows', TWO_ROWS],
    ['long column name', LONG_NAME],
    ['short names, long value', SHORT_NAME_LONG_VALUE],
    ['record label longer than both columns', "select 1 as a, 'b' as b"],
  ];
  for (const border of ['0', '1', '2']) {
    for (const tuples of [false, true]) {
      for (const [name, sql] of expanded) {
        it(`expanded, border ${border}${tuples ? ', tuples only' : ''}: ${name}`, async () => {
          const flags = ['-x', '-P', `border=${border}`, ...(tuples ? ['-t'] : [])];
          expect(await ours(flags, sql)).toBe(psql(flags, sql));
        });
      }
    }
  }

  for (const flags of [
    [],
    ['-P', 'border=0'],
    ['-P', 'border=2'],
    ['-x'],
    ['-x', '-P', 'border=2'],
    ['-A'],
  ]) {
    it(`tabs and control characters, ${flags.join(' ') || 'default'}`, async () => {
      expect(await ours(flags, CONTROL)).toBe(psql(flags, CONTROL));
      expect(await ours(flags, TAB_HEADER)).toBe(psql(flags, TAB_HEADER));
    });
  }

  for (const border of ['0', '1', '2']) {
    it(`titles are centred like psql, border ${border}`, async () => {
      for (const [title, sql] of [
        ['Hello', "select 1 as a, 'xyz' as bbbbbbbbbb"],
        ['Odd', 'select 1 as a, 2 as b'],
        ['A much longer title than the table', 'select 1 as a'],
      ] as const) {
        const flags = ['-P', `border=${border}`, '-P', `title=${title}`];
        expect(await ours(flags, sql)).toBe(psql(flags, sql));
        const x = [...flags, '-x'];
        expect(await ours(x, sql)).toBe(psql(x, sql));
      }
    });
  }
});
