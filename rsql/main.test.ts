/**
 * The runner's command line, exit codes, malformed scripts and file/session/report commands against a real
 * PostgreSQL (spec §1, §3, §8–§11).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../test/support/postgres.js';
import type { PgConnectionInfo } from './embedded-postgres.js';
import { makeRunner, type Runner, type RunResult } from './test-helpers.js';

let r: Runner;
let conn: PgConnectionInfo;
let drop: () => Promise<void>;

beforeAll(async () => {
  const db = await createTestDatabase('rsql_main');
  drop = db.drop;
  conn = db.connection;
  r = makeRunner(conn);
});

afterAll(async () => {
  r?.cleanup();
  await drop?.();
});

/** No JavaScript stack trace ever reaches the user. */
function expectNoStack(res: RunResult): void {
  expect(res.stderr).not.toMatch(/\n\s+at .+\(.*:\d+:\d+\)/);
  expect(res.stdout).not.toMatch(/\n\s+at .+\(.*:\d+:\d+\)/);
}

describe('command line', () => {
  it('prints the version and help', async () => {
    const v = await r.argv(['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/^rsql \(rsqlo\) \d+\.\d+\.\d+/);
    const h = await r.argv(['--help']);
    expect(h.stdout).toContain('Usage:');
  });

  it('rejects unknown flags with a usage error and exit 1', async () => {
    const res = await r.argv(['--frobnicate']);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe(
      'rsql: unrecognized option \'--frobnicate\'\nTry "rsql --help" for more information.\n',
    );
  });

  it('takes host/port/user/db from flags over PG* variables', async () => {
    const res = await r.argv(
      [
        '-h',
        conn.host,
        '-p',
        String(conn.port),
        '-U',
        conn.user,
        '-d',
        conn.database,
        '-c',
        'select current_database() as db',
      ],
      {
        PGHOST: 'nowhere.invalid',
        PGPORT: '1',
      },
    );
    expect(res.stdout).toContain(` ${conn.database}\n`);
  });

  it('accepts a conninfo string or a URI as -d, and in \\c', async () => {
    const info = await r.argv(
      [
        '-d',
        `host=${conn.host} port=${conn.port} dbname='${conn.database}' user=${conn.user}`,
        '-At',
        '-c',
        'select current_database()',
      ],
      { PGHOST: 'nowhere.invalid' },
    );
    expect(info.stdout).toBe(`${conn.database}\n`);
    const uri = await r.argv([
      '-d',
      `postgres://${conn.user}@${conn.host}:${conn.port}/postgres`,
      '-At',
      '-c',
      'select current_database()',
    ]);
    expect(uri.stdout).toBe('postgres\n');
    const c = await r.run(`\\c dbname=postgres\nselect current_database();`, { args: ['-At', '-q'] });
    expect(c.stdout).toBe('postgres\n');
    const bad = await r.argv(['-d', "dbname='open", '-c', 'select 1']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('unterminated quoted string in connection info string');
  });

  it('uses RSPASSWORD before PGPASSWORD', async () => {
    const ok = await r.argv(['-c', 'select 1 as one'], { RSPASSWORD: conn.password, PGPASSWORD: 'wrong' });
    expect(ok.code).toBe(0);
    const bad = await r.argv(['-c', 'select 1'], { RSPASSWORD: 'wrong', PGPASSWORD: conn.password });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('password authentication failed');
    expect(bad.stderr).not.toContain('wrong');
    expectNoStack(bad);
  });

  it('falls back to ~/.pgpass (mode 0600) when no password variable is set', async () => {
    const pgpass = join(r.dir, '.pgpass');
    writeFileSync(
      pgpass,
      `# comment\nother:1:*:*:nope\n${conn.host}:${conn.port}:*:${conn.user}:${conn.password}\n`,
      {
        mode: 0o600,
      },
    );
    const ok = await r.argv(['-At', '-c', 'select 42'], { PGPASSWORD: undefined });
    expect(ok.stdout).toBe('42\n');
    const none = await r.argv(['-c', 'select 1'], {
      PGPASSWORD: undefined,
      PGPASSFILE: join(r.dir, 'absent'),
    });
    expect(none.code).toBe(2);
    expectNoStack(none);
  });

  it('runs several -c commands in order, meta-commands included', async () => {
    const res = await r.argv(['-c', '\\set x 7', '-c', 'select :x as x', '-c', '\\echo done']);
    expect(res.stdout).toBe(' x \n---\n 7\n(1 row)\n\ndone\n');
  });

  it('exits 2 when the server cannot be reached', async () => {
    const res = await r.argv(['-h', '127.0.0.1', '-p', '1', '-c', 'select 1']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(
      /^rsql: error: connection to server at "127.0.0.1", port 1 failed: Connection refused\n$/,
    );
  });

  it('exits 1 when the -f file does not exist', async () => {
    const res = await r.argv(['-f', 'missing.sql']);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe('rsql: error: missing.sql: No such file or directory\n');
  });

  it('writes the exit code to RSQLO_EXIT_FILE', async () => {
    const f = join(r.dir, 'exit-code');
    await r.run('\\exit 42', { env: { RSQLO_EXIT_FILE: f } });
    expect(readFileSync(f, 'utf8')).toBe('42\n');
    await r.argv(['--bogus'], { RSQLO_EXIT_FILE: f });
    expect(readFileSync(f, 'utf8')).toBe('1\n');
  });

  it('applies -P and -o', async () => {
    const out = join(r.dir, 'o.txt');
    const res = await r.run('select 1 as a, 2 as b;', {
      args: ['-P', 'format=unaligned', '-P', 'pager=off', '-o', out],
    });
    expect(res.stdout).toBe('');
    expect(readFileSync(out, 'utf8')).toBe('a|b\n1|2\n(1 row)\n');
  });

  it('echoes input with -a and queries with -e', async () => {
    const a = await r.run('\\set x 1\nselect :x as v;', { args: ['-a'] });
    expect(a.stdout).toBe('\\set x 1\nselect :x as v;\n v \n---\n 1\n(1 row)\n\n');
    const e = await r.run('\\set x 1\nselect :x as v;', { args: ['-e'] });
    expect(e.stdout).toBe('select 1 as v;\n v \n---\n 1\n(1 row)\n\n');
  });

  it('runs everything in one transaction with -1', async () => {
    const res = await r.run('create table one_tx (n int);\nselect 1/0;\n', {
      args: ['-1', '-v', 'ON_ERROR_STOP=1'],
    });
    expect(res.code).toBe(3);
    const check = await r.run("select count(*) as n from pg_tables where tablename = 'one_tx';", {
      args: ['-At'],
    });
    expect(check.stdout).toBe('0\n');
    const q = await r.run('create table one_tx_q (n int);\n\\q\n', { args: ['-1'] });
    expect(q.code).toBe(0);
    const kept = await r.run("select count(*) from pg_tables where tablename = 'one_tx_q';", {
      args: ['-At'],
    });
    expect(kept.stdout).toBe('1\n');
  });
});

describe('malformed scripts: clear message with line number, non-zero exit, no stack trace', () => {
  it.each([
    ['unterminated quote', "select 1;\nselect 'abc;\n\\echo x\n", 'unterminated quoted string', 2],
    [
      'unterminated dollar quote',
      'select 1;\n\n  do $$ begin\n  perform 1;\n',
      'unterminated dollar-quoted string',
      3,
    ],
    ['\\endif without \\if', '\\echo a\n\\endif\n\\echo b\n', '\\endif: no matching \\if', 2],
    ['\\else without \\if', '\\else\n', '\\else: no matching \\if', 1],
    [
      'EOF inside \\if',
      '\\if true\n\\echo in\n',
      'reached end of file without finding closing \\endif (\\if at line 1)',
      3,
    ],
    [
      'unknown meta-command',
      'select 1;\n\\frobnicate now\n\\echo after\n',
      'invalid command \\frobnicate',
      2,
    ],
  ])('%s', async (_name, script, message, line) => {
    const res = await r.run(script, { asFile: 'bad.sql' });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`rsql: ${join(r.dir, 'bad.sql')}:${line}: ${message}\n`);
    expect(res.stdout).not.toContain('after');
    expectNoStack(res);
    const stdin = await r.run(script);
    expect(stdin.code).toBe(1);
    expect(stdin.stderr).toContain(`rsql: <stdin>:${line}: ${message}\n`);
  });

  it('reports it after the statements before it have run and printed', async () => {
    const res = await r.run('select 1 as a;\nselect 1/0;\nselect 2 as b;\n\\endif\nselect 3 as c;\n');
    expect(res.code).toBe(1);
    expect(res.stdout).toBe(' a \n---\n 1\n(1 row)\n\n b \n---\n 2\n(1 row)\n\n');
    expect(res.stderr).toBe('rsql: ERROR: division by zero\nrsql: <stdin>:4: \\endif: no matching \\if\n');
  });

  it('continues after a script error with RSQL_ON_SCRIPT_ERROR=continue', async () => {
    const res = await r.run('\\frobnicate\n\\echo after\n', {
      args: ['-v', 'RSQL_ON_SCRIPT_ERROR=continue'],
    });
    expect(res.stdout).toBe('after\n');
    expect(res.stderr).toBe('rsql: <stdin>:1: invalid command \\frobnicate\n');
    expect(res.code).toBe(0);
  });

  it('\\elseif after \\else is an error', async () => {
    const res = await r.run('\\if false\n\\else\n\\elseif true\n\\endif\n');
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('<stdin>:3: \\elseif: cannot occur after \\else');
  });
});

describe('files: \\i, \\ir, \\run, \\o', () => {
  it('includes files, \\q ends only the included file, \\ir is relative to the script', async () => {
    mkdirSync(join(r.dir, 'sub'), { recursive: true });
    writeFileSync(join(r.dir, 'sub', 'inner.sql'), '\\echo inner\n\\q\n\\echo not-reached\n');
    writeFileSync(join(r.dir, 'sub', 'outer.sql'), '\\ir inner.sql\n\\echo outer-after\n');
    const res = await r.run(`\\i ${join(r.dir, 'sub', 'outer.sql')}\n\\echo main-after\n`);
    expect(res.stdout).toBe('inner\nouter-after\nmain-after\n');
  });

  it('\\exit inside an included file exits rsql', async () => {
    r.file('exits.sql', '\\exit 9\n');
    const res = await r.run('\\i exits.sql\n\\echo never');
    expect(res.code).toBe(9);
    expect(res.stdout).toBe('');
  });

  it('reports a missing \\i file and continues', async () => {
    const res = await r.run('\\i nope.sql\n\\echo after');
    expect(res.stderr).toBe('rsql: <stdin>:1: nope.sql: No such file or directory\n');
    expect(res.stdout).toBe('after\n');
  });

  it('\\run file= skip= skips header lines and says so', async () => {
    r.file('test.sql', 'select 1 as lineitem_cnt;\nselect 2 as customer_cnt;\nselect 3 as orders_cnt;\n');
    const res = await r.run("\\run file=test.sql skip=2\n\\RUN file='test.sql'\n");
    expect(res.stdout).toBe(
      '2 records skipped in RUN file.\n orders_cnt \n------------\n          3\n(1 row)\n\n' +
        ' lineitem_cnt \n--------------\n            1\n(1 row)\n\n' +
        ' customer_cnt \n--------------\n            2\n(1 row)\n\n' +
        ' orders_cnt \n------------\n          3\n(1 row)\n\n',
    );
  });

  it('\\o sends query output and \\qecho to a file, \\echo stays on stdout', async () => {
    const res = await r.run('\\o out.txt\nselect 1 as a;\n\\qecho q\n\\echo e\n\\o\nselect 2 as b;');
    expect(readFileSync(join(r.dir, 'out.txt'), 'utf8')).toBe(' a \n---\n 1\n(1 row)\n\nq\n');
    expect(res.stdout).toBe('e\n b \n---\n 2\n(1 row)\n\n');
  });
});

describe('\\timing, \\pset, \\rset, \\export', () => {
  it('\\timing prints Time: lines', async () => {
    const res = await r.run('\\timing on\nselect 1 as a;\n\\timing off\nselect 2 as b;');
    expect(res.stdout).toMatch(
      /^Timing is on\.\n a \n---\n 1\n\(1 row\)\n\nTime: \d+\.\d{3} ms\nTiming is off\.\n b \n/,
    );
  });

  it('\\pset waits for RFORMAT (RSQL) and \\rset prints its messages', async () => {
    const res = await r.run(`
\\pset format unaligned
select 1 as a;
\\rset rformat on
select 1 as a;
\\rset rformat off
\\rset titledashes off
\\rset width
\\rset width 50
\\rset heading "General Title"
\\rset rtitle "A||B"
\\rset maxerror 0
select 2 as b;
`);
    expect(res.stdout).toBe(
      'Output format is unaligned. (Changes will take effect after RFORMAT is switched ON)\n' +
        ' a \n---\n 1\n(1 row)\n\n' +
        'Rformat is on.\na\n1\n(1 row)\n' +
        'Rformat is off.\nTitledashes is off.\nTarget width is 75.\nTarget width is 50.\n' +
        'Heading is set to: General Title\n' +
        'Rtitle is set to: &DATE||A||B (Changes will take effect after RFORMAT is switched ON)\n' +
        'Maxerror is default.\n b \n 2\n(1 row)\n\n',
    );
  });

  it('applies \\pset at once with RSQL_PSET_DEFERRED=off, and \\a \\t \\x toggles', async () => {
    const res = await r.run(
      '\\pset null (null)\nselect null as n;\n\\a\n\\t\nselect 1 as a, 2 as b;\n\\x\n\\a\nselect 1 as a;',
      {
        args: ['-v', 'RSQL_PSET_DEFERRED=off'],
      },
    );
    expect(res.stdout).toBe(
      'Null display is "(null)".\n   n    \n--------\n (null)\n(1 row)\n\n' +
        'Output format is unaligned.\nTuples only is on.\n1|2\nExpanded display is on.\nOutput format is aligned.\na | 1\n\n',
    );
  });

  it('\\export report writes SELECT results to a file and prints (exported N rows)', async () => {
    const res = await r.run(`
\\export report file='report.out'
select generate_series(1, 3) as n;
select 'x' as y;
\\export reset
select 1 as back_on_console;
`);
    expect(res.stdout).toBe(
      '(exported 3 rows)\n(exported 1 rows)\n back_on_console \n-----------------\n               1\n(1 row)\n\n',
    );
    expect(readFileSync(join(r.dir, 'report.out'), 'utf8')).toBe(
      ' n \n---\n 1\n 2\n 3\n(3 rows)\n\n y \n---\n x\n(1 row)\n\n',
    );
  });
});

describe('sessions and the shell', () => {
  it('\\c and \\logon switch databases and keep status variables', async () => {
    const res = await r.run(`
select 1/0;
\\c postgres
\\echo :DBNAME :ERRORCODE
\\logon ${conn.database} - ${conn.host} ${conn.port}
select current_database() as db;
`);
    expect(res.stdout).toContain(
      `You are now connected to database "postgres" as user "${conn.user}".\npostgres 22012\n`,
    );
    expect(res.stdout).toContain(
      `You are now connected to database "${conn.database}" as user "${conn.user}" on host "${conn.host}" at port "${conn.port}".\n`,
    );
    expect(res.stdout).toContain(` ${conn.database}\n(1 row)`);
  });

  it('a failed \\connect stops with exit 2', async () => {
    const res = await r.run('\\c no_such_database_xyz\n\\echo after');
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('\\connect: connection to server');
    expect(res.stdout).toBe('');
    expectNoStack(res);
  });

  it('\\os and \\! run shell commands and wait for them', async () => {
    const res = await r.run(
      '\\echo before\n\\os echo from-shell; exit 3\n\\echo :SHELL_EXIT_CODE\n\\! echo bang >&2\n\\echo after',
    );
    expect(res.stdout).toBe('before\nfrom-shell\n3\nafter\n');
    expect(res.stderr).toBe('bang\n');
  });

  it('\\setenv passes variables to shell commands', async () => {
    const res = await r.run('\\setenv GREETING hello\n\\! echo $GREETING');
    expect(res.stdout).toBe('hello\n');
  });
});

describe('connection loss, DSN, signals', () => {
  it('exits 2 when the server ends the session', async () => {
    const res = await r.run(
      'select 1 as a;\nselect pg_terminate_backend(pg_backend_pid());\n\\echo after\nselect 2;',
    );
    expect(res.code).toBe(2);
    expect(res.stdout).toBe(' a \n---\n 1\n(1 row)\n\n');
    expect(res.stderr).toContain('rsql: FATAL: terminating connection due to administrator command\n');
    expect(res.stderr).toContain('rsql: error: connection to server was lost');
    expectNoStack(res);
  });

  it('connects through an ODBC DSN from $ODBCINI (-D)', async () => {
    const ini = r.file(
      'odbc.ini',
      `[ODBC Data Sources]\netl=Amazon Redshift\n\n[etl]\nHost=${conn.host}\nPort=${conn.port}\nDatabase=${conn.database}\nUID=${conn.user}\n`,
    );
    const res = await r.argv(['-D', 'etl', '-At', '-c', 'select current_database()'], {
      ODBCINI: ini,
      PGHOST: 'nowhere.invalid',
    });
    expect(res.stdout).toBe(`${conn.database}\n`);
    const missing = await r.argv(['-D', 'nope', '-c', 'select 1'], { ODBCINI: ini });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('data source name "nope" not found');
  });

  it('flushes output while waiting, and records 143 in RSQLO_EXIT_FILE when terminated', async () => {
    const bin = resolve(dirname(fileURLToPath(import.meta.url)), '../bin/rsql.js');
    const exitFile = join(r.dir, 'sigterm-exit');
    const child = spawn(process.execPath, [bin, '-c', '\\echo ready', '-c', 'select pg_sleep(60)'], {
      env: {
        ...process.env,
        PGHOST: conn.host,
        PGPORT: String(conn.port),
        PGUSER: conn.user,
        PGDATABASE: conn.database,
        PGPASSWORD: conn.password,
        RSQLO_EXIT_FILE: exitFile,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    await new Promise<void>((res) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('ready')) res();
      });
    });
    const code = await new Promise<number | null>((res) => {
      child.on('exit', (c) => res(c));
      child.kill('SIGTERM');
    });
    expect(code).toBe(143);
    expect(readFileSync(exitFile, 'utf8')).toBe('143\n');
  });
});

describe('other psql commands', () => {
  it('\\g, \\gx, \\p, \\r, \\f, \\conninfo, \\encoding, \\getenv, \\cd, \\?', async () => {
    mkdirSync(join(r.dir, 'cdtest'), { recursive: true });
    writeFileSync(join(r.dir, 'cdtest', 'inc.sql'), '\\echo included\n');
    const res = await r.run(
      [
        'select 1 as a \\g',
        '\\g',
        'select 2 as b, 3 as c \\gx',
        'select 4 as d \\g g.out',
        '\\p',
        'select 5 as never_sent \\r',
        '\\a',
        '\\f ;',
        'select 1 as x, 2 as y;',
        '\\a',
        '\\conninfo',
        '\\encoding',
        '\\getenv home HOME',
        '\\echo :home',
        '\\cd cdtest',
        '\\i inc.sql',
        '\\?',
      ].join('\n'),
    );
    expect(res.stderr).toBe('');
    expect(res.stdout).toContain(' a \n---\n 1\n(1 row)\n\n a \n---\n 1\n(1 row)\n\n');
    expect(res.stdout).toContain('-[ RECORD 1 ]\nb | 2\nc | 3\n\n');
    expect(readFileSync(join(r.dir, 'g.out'), 'utf8')).toBe(' d \n---\n 4\n(1 row)\n\n');
    expect(res.stdout).toContain('select 4 as d\nQuery buffer reset (cleared).\n');
    expect(res.stdout).toContain('Field separator is ";".\nx;y\n1;2\n(1 row)\n');
    expect(res.stdout).toContain(
      `You are connected to database "${conn.database}" as user "${conn.user}" on host "${conn.host}" at port "${conn.port}".\n`,
    );
    expect(res.stdout).toContain(`UTF8\n${r.dir}\nincluded\n`);
    expect(res.stdout).toContain('\\if EXPR, \\elseif EXPR');
    expect(res.stdout).not.toContain('never_sent');
  });
});

describe('unsupported psql commands', () => {
  it('fail cleanly without stopping the script', async () => {
    const res = await r.run('\\dt\n\\echo after');
    expect(res.stderr).toBe('rsql: <stdin>:1: \\dt is not supported by this runner\n');
    expect(res.stdout).toBe('after\n');
  });

  it('the exit file is not written when not asked', () => {
    expect(existsSync(join(r.dir, 'never'))).toBe(false);
  });
});
