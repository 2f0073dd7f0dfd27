/**
 * Runner fixes of issue 16 item 6 that are not table layout (those are in format-psql.test.ts):
 * `SHOW query_group`, scripts that are not UTF-8 text, and the memory a huge `\set` value costs.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, pgEnv, query } from '../test/support/postgres.js';
import type { PgConnectionInfo } from './embedded-postgres.js';
import { main } from './main.js';
import { makeRunner, type Runner } from './test-helpers.js';

const RSQL_JS = resolve(dirname(fileURLToPath(import.meta.url)), '../bin/rsql.js');

let db: { connection: PgConnectionInfo; drop: () => Promise<void> };
let r: Runner;

beforeAll(async () => {
  db = await createTestDatabase('runner_output');
  r = makeRunner(db.connection);
});

afterAll(async () => {
  r?.cleanup();
  await db?.drop();
});

describe('SHOW query_group', () => {
  it('names its column query_group and shows unset until set, as in the Redshift SHOW example', async () => {
    // https://docs.aws.amazon.com/redshift/latest/dg/r_SHOW.html: `show query_group;` → column
    // query_group, value unset
    const res = await r.run(
      "SHOW query_group;\nSET query_group TO 'Monday';\nshow query_group;\nRESET query_group;\nSHOW QUERY_GROUP;\n",
    );
    expect(res.stderr).toBe('');
    expect(res.stdout).toBe(
      ' query_group \n-------------\n unset\n(1 row)\n\nSET\n' +
        ' query_group \n-------------\n Monday\n(1 row)\n\nRESET\n' +
        ' query_group \n-------------\n unset\n(1 row)\n\n',
    );
  });

  it('counts one row and fails like any statement inside an aborted transaction', async () => {
    const res = await r.run(
      'show query_group;\n\\echo :ACTIVITYCOUNT\nbegin;\nselect 1/0;\nshow query_group;\n\\echo :ERRORCODE\nrollback;\n',
      { args: ['-q'] },
    );
    expect(res.stdout).toContain('1\n');
    expect(res.stdout).toContain('25P02\n');
  });
});

describe('scripts that are not UTF-8 text', () => {
  const printable = /^[\x20-\x7e\n]*$/;

  it('refuses a binary -f file before running any of it; the message shows the bytes escaped', async () => {
    const path = join(r.dir, 'binary.sql');
    writeFileSync(
      path,
      Buffer.concat([
        Buffer.from('create table must_not_exist (a int);\n'),
        Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0xff, 0xfe, 0x07]),
      ]),
    );
    const res = await r.argv(['-f', path]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(printable);
    expect(res.stderr).toBe(
      `rsql: ${path}:2: not valid UTF-8: byte sequence \\x8b at byte 39 (scripts must be UTF-8 text; convert other encodings first, e.g. iconv -f LATIN1 -t UTF-8)\n`,
    );
    const rows = await query(db.connection, "select to_regclass('must_not_exist') as t");
    expect(rows[0]?.t).toBeNull();
  });

  it('names a NUL byte, and a Latin-1 file, with the line they are on', async () => {
    const nul = join(r.dir, 'nul.sql');
    writeFileSync(nul, Buffer.from('select 1;\nselect 2;\n\u0000\n'));
    const a = await r.argv(['-f', nul]);
    expect(a.code).toBe(1);
    expect(a.stderr).toBe(`rsql: ${nul}:3: not a text file: NUL byte (\\x00) at byte 21\n`);
    const latin1 = join(r.dir, 'latin1.sql');
    writeFileSync(latin1, Buffer.from("select 1;\n-- caf\xe9 au lait\nselect 'd\xe9j\xe0';\n", 'latin1'));
    const b = await r.argv(['-f', latin1]);
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(/^rsql: .*latin1\.sql:2: not valid UTF-8: byte sequence \\xe9 at byte 17 /);
    expect(b.stdout).toBe('');
  });

  it('checks stdin the same way', async () => {
    let stderr = '';
    const code = await main([], {
      stdin: Readable.from([Buffer.from([0x73, 0x65, 0x6c, 0xff, 0x0a])]),
      stdout: { write: () => {} },
      stderr: {
        write: (s: string) => {
          stderr += s;
        },
      },
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: r.dir, ...pgEnv(db.connection) },
      cwd: r.dir,
    });
    expect(code).toBe(1);
    expect(stderr).toMatch(/^rsql: <stdin>:1: not valid UTF-8: byte sequence \\xff at byte 4 /);
  });

  it('an \\i of a binary file is a failed command: reported escaped, counted, the script goes on', async () => {
    writeFileSync(join(r.dir, 'inc.bin'), Buffer.from([0x41, 0xc3, 0x28, 0x0a]));
    const res = await r.run('\\i inc.bin\n\\echo after :ERRORLEVEL\n');
    expect(res.stdout).toBe('after 8\n');
    expect(res.stderr).toBe(
      'rsql: inc.bin:1: not valid UTF-8: byte sequence \\xc3 at byte 2 (scripts must be UTF-8 text; convert other encodings first, e.g. iconv -f LATIN1 -t UTF-8)\n',
    );
  });

  it('control characters in a quoted command are escaped in script messages', async () => {
    const res = await r.run('\\\u0007bad\n', { args: ['-v', 'RSQL_ON_SCRIPT_ERROR=continue'] });
    expect(res.stderr).toBe('rsql: <stdin>:1: invalid command \\\\x07bad\n');
  });
});

/** Peak RSS (KiB) of the real `rsql` running `script`, read by a probe loaded before it. */
function peakRss(script: string): Promise<{ rssKb: number; stdout: string; code: number | null }> {
  const probe = join(r.dir, 'rss-probe.mjs');
  writeFileSync(
    probe,
    "process.on('exit', () => process.stderr.write('MAXRSS ' + process.resourceUsage().maxRSS + '\\n'));\n",
  );
  const file = join(r.dir, 'big.sql');
  writeFileSync(file, script);
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', probe, RSQL_JS, '-q', '-f', file], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: r.dir, ...pgEnv(db.connection) },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('error', fail);
    child.on('close', (code) => {
      const m = /MAXRSS (\d+)/.exec(err);
      if (!m) fail(new Error(`no MAXRSS line: ${err}`));
      else done({ rssKb: Number(m[1]), stdout: out, code });
    });
  });
}

describe('a 20 MB \\set value', () => {
  it('costs memory linear in its size (a few copies), and arrives intact', { timeout: 180_000 }, async () => {
    const mb = 1024 * 1024;
    const script = (n: number, quoted: boolean) => {
      const v = 'x'.repeat(n);
      return `\\set big ${quoted ? `'${v}'` : v}\nselect length(:'big') as n;\n`;
    };
    const small = await peakRss(script(mb, false));
    const big = await peakRss(script(20 * mb, false));
    const bigQuoted = await peakRss(script(20 * mb, true));
    expect(small.stdout).toContain(String(mb));
    expect(big.stdout).toContain(String(20 * mb));
    expect(bigQuoted.stdout).toContain(String(20 * mb));
    // 19 MB more text may cost a handful of copies (file bytes, decoded text, the value, the SQL
    // literal): well under 10 × 19 MB. Character-by-character concatenation cost ~35 × (700 MB).
    const limitKb = 10 * 19 * 1024;
    expect(big.rssKb - small.rssKb).toBeLessThan(limitKb);
    expect(bigQuoted.rssKb - small.rssKb).toBeLessThan(limitKb);
  });
});
