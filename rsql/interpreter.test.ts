/**
 * The runner against a real PostgreSQL (shared embedded server, own database): spec §4–§8 — status
 * variables, transactions, conditionals, \exit, ON_ERROR_STOP, \goto/\label, \gset, interpolation, output.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../test/support/postgres.js';
import { makeRunner, type Runner } from './test-helpers.js';

let r: Runner;
let drop: () => Promise<void>;

beforeAll(async () => {
  const db = await createTestDatabase('rsql_interp');
  drop = db.drop;
  r = makeRunner(db.connection);
});

afterAll(async () => {
  r?.cleanup();
  await drop?.();
});

describe('statements and output', () => {
  it('prints results like psql and command tags unless -q', async () => {
    const script = `
create table t_out (id int, name text);
insert into t_out values (1, 'a'), (2, 'b');
select * from t_out order by id;
drop table t_out;
`;
    const res = await r.run(script);
    expect(res.code).toBe(0);
    expect(res.stderr).toBe('');
    expect(res.stdout).toBe(
      'CREATE TABLE\nINSERT 0 2\n id | name \n----+------\n  1 | a\n  2 | b\n(2 rows)\n\nDROP TABLE\n',
    );
    const quiet = await r.run('select 1 as x; create temp table q (a int);', { args: ['-q'] });
    expect(quiet.stdout).toBe(' x \n---\n 1\n(1 row)\n\n');
  });

  it('supports -A and -t', async () => {
    const res = await r.run("select 1 as a, 'x' as b;", { args: ['-A', '-t'] });
    expect(res.stdout).toBe('1|x\n');
  });

  it('prints server notices on stderr like psql', async () => {
    const res = await r.run("do $$ begin raise notice 'hello %', 42; raise info 'fyi'; end $$;");
    expect(res.stderr).toBe('NOTICE:  hello 42\nINFO:  fyi\n');
    expect(res.stdout).toBe('DO\n');
  });

  it('prints SQL errors on stderr with DETAIL/HINT, and continues', async () => {
    const res = await r.run(`
create temp table u (id int primary key);
insert into u values (1);
insert into u values (1);
select * from nope;
\\echo still running
`);
    expect(res.code).toBe(0);
    expect(res.stderr).toBe(
      'rsql: ERROR: duplicate key value violates unique constraint "u_pkey"\nDETAIL: Key (id)=(1) already exists.\n' +
        'rsql: ERROR: relation "nope" does not exist\n',
    );
    expect(res.stdout).toContain('still running');
  });

  it('keeps stdout and stderr in order when statements are pipelined', async () => {
    const lines = ['create temp table p (n int);'];
    for (let i = 0; i < 50; i++) lines.push(i === 25 ? 'select 1/0;' : `insert into p values (${i});`);
    lines.push('select count(*) as n from p;', '\\echo :ACTIVITYCOUNT :ERROR');
    const res = await r.run(lines.join('\n'));
    expect(res.stderr).toBe('rsql: ERROR: division by zero\n');
    expect(res.stdout.match(/INSERT 0 1/g)).toHaveLength(49);
    expect(res.stdout).toContain(' n  \n----\n 49\n(1 row)\n\n1 false\n');
  });
});

describe('status variables (spec §4.2)', () => {
  it('sets ERROR, ERRORCODE, SQLSTATE, LAST_ERROR_* and counts after success and failure', async () => {
    const res = await r.run(`
\\echo start :ERROR :ERRORCODE :ACTIVITYCOUNT [:LAST_ERROR_MESSAGE] :LAST_ERROR_SQLSTATE
select * from missing_table;
\\echo fail :ERROR :ERRORCODE :SQLSTATE :ACTIVITYCOUNT :ROW_COUNT :LAST_ERROR_SQLSTATE
\\echo msg :LAST_ERROR_MESSAGE
select 1;
\\echo ok :ERROR :ERRORCODE :ACTIVITYCOUNT :LAST_ERROR_SQLSTATE
\\echo sticky :LAST_ERROR_MESSAGE
`);
    expect(res.stdout).toContain('start false 00000 0 [] 00000\n');
    expect(res.stdout).toContain('fail true 42P01 42P01 0 0 42P01\n');
    expect(res.stdout).toContain('msg relation "missing_table" does not exist\n');
    expect(res.stdout).toContain('ok false 00000 1 42P01\n');
    expect(res.stdout).toContain('sticky relation "missing_table" does not exist\n');
  });

  it('counts ACTIVITYCOUNT after SELECT, INSERT, UPDATE, DELETE, DDL and SET', async () => {
    const res = await r.run(`
create temp table ac (n int);
\\echo ddl :ACTIVITYCOUNT
insert into ac select generate_series(1, 5);
\\echo insert :ACTIVITYCOUNT :ROW_COUNT
update ac set n = n + 1 where n > 2;
\\echo update :ACTIVITYCOUNT
select * from ac where n > 3;
\\echo select :ACTIVITYCOUNT
delete from ac where n = 6;
\\echo delete :ACTIVITYCOUNT
set search_path to public, pg_temp;
\\echo set :ACTIVITYCOUNT
select * from ac where false;
\\if :ACTIVITYCOUNT = 0
\\remark 'views do not exist'
\\endif
`);
    for (const line of [
      'ddl 0',
      'insert 5 5',
      'update 3',
      'select 3',
      'delete 1',
      'set 0',
      'views do not exist',
    ]) {
      expect(res.stdout).toContain(`${line}\n`);
    }
  });

  it('renders ERROR as 1/0 with RSQL_ERROR_VALUES=numeric, and both forms compare numerically', async () => {
    const script = `
select 1/0;
\\echo error=:ERROR
\\if :ERROR <> 0
\\echo numeric-compare
\\endif
\\if :ERROR = 1
\\echo equals-one
\\endif
\\if :ERROR
\\echo bare
\\endif
`;
    const b = await r.run(script);
    expect(b.stdout).toBe('error=true\nnumeric-compare\nequals-one\nbare\n');
    const n = await r.run(script, { args: ['-v', 'RSQL_ERROR_VALUES=numeric'] });
    expect(n.stdout).toBe('error=1\nnumeric-compare\nequals-one\nbare\n');
  });

  it('fails the rest of a transaction with 25P02 after an error inside BEGIN', async () => {
    const res = await r.run(`
create table tx (n int);
begin;
insert into tx values (1);
insert into tx values ('x');
\\echo after-error :ERRORCODE
insert into tx values (2);
\\echo aborted :ERRORCODE :ERROR
commit;
select count(*) as c from tx;
drop table tx;
`);
    expect(res.stdout).toContain('after-error 22P02\n');
    expect(res.stdout).toContain('aborted 25P02 true\n');
    expect(res.stdout).toContain('ROLLBACK\n');
    expect(res.stdout).toContain(' c \n---\n 0\n(1 row)');
    expect(res.stderr).toContain(
      'rsql: ERROR: current transaction is aborted, commands ignored until end of transaction block',
    );
  });
});

describe('\\if / \\elseif / \\else / \\endif (spec §5)', () => {
  it('takes the error branch and exits with its code (the seed pattern)', async () => {
    const script = `
begin ;
SET query_group to 'rsql_blog_querygroup';
INSERT INTO no_such_schema.blog_table VALUES (1, 'x', CURRENT_TIMESTAMP(0));
\\if :ERROR <> 0
 \\echo 'Insert Statement Failed with Below Details'
 \\echo 'Error Code -'
 \\echo :ERRORCODE
 \\remark :LAST_ERROR_MESSAGE
 \\exit 21
\\else
 \\echo :ACTIVITYCOUNT
 \\remark '\\n **** Statement Executed Successfully **** \\n'
\\endif
commit ;
\\exit 0
`;
    const res = await r.run(script);
    expect(res.code).toBe(21);
    expect(res.stdout).toContain(
      'Insert Statement Failed with Below Details\nError Code -\n42P01\nrelation "no_such_schema.blog_table" does not exist\n',
    );
    expect(res.stdout).not.toContain('Executed Successfully');
  });

  it('takes the success branch and reaches \\exit 0', async () => {
    const res = await r.run(`
create temp table ok_t (n int);
insert into ok_t values (1);
\\if :ERROR <> 0
  \\exit 21
\\else
  \\echo :ACTIVITYCOUNT
  \\remark '\\n **** Statement Executed Successfully **** \\n'
\\endif
\\exit 0
\\echo not reached
`);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('1\n\n **** Statement Executed Successfully **** \n\n');
    expect(res.stdout).not.toContain('not reached');
  });

  it("compares :'ERRORCODE' with '00000'", async () => {
    const res = await r.run(`
select 1;
\\if :'ERRORCODE' = '00000'
    \\remark 'The statement was executed without error'
\\else
    \\remark :LAST_ERROR_MESSAGE
\\endif
select * from nope_again;
\\IF :'ERRORCODE' = '00000'
    \\remark 'no'
\\ELSE
    \\remark :LAST_ERROR_MESSAGE
\\ENDIF
`);
    expect(res.stdout).toContain(
      'The statement was executed without error\nrelation "nope_again" does not exist\n',
    );
  });

  it('evaluates \\elseif chains, \\elif, nesting, AND/OR/NOT and \\gset values', async () => {
    const res = await r.run(`
select 994803 as query \\gset
\\if :query > 1000000
    \\remark 'greater'
\\elseif :query = 1000000
    \\remark 'equal'
\\else
    \\remark 'less'
\\endif
\\set a 5
\\if :a > 10
  \\echo no
\\elif :a > 3 AND NOT (:a = 4 OR :a = 6)
  \\echo elif-taken
  \\if :a = 5
    \\echo nested-true
  \\else
    \\echo nested-false
  \\endif
\\else
  \\echo no-else
\\endif
\\if false
  \\if true
    \\echo inside-false-parent
  \\endif
  select 1/0;
\\endif
\\echo done :ERROR
`);
    expect(res.stdout).toBe('less\nelif-taken\nnested-true\ndone false\n');
    expect(res.stderr).toBe('');
  });

  it("treats a non-boolean single operand as false with psql's message", async () => {
    const res = await r.run('\\if maybe\n\\echo yes\n\\else\n\\echo no\n\\endif\n');
    expect(res.stdout).toBe('no\n');
    expect(res.stderr).toContain('\\if: unrecognized value "maybe" for "\\if expression": Boolean expected');
  });
});

describe('\\exit, \\q, ON_ERROR_STOP (spec §8.2)', () => {
  it('\\exit N returns N mod 256; \\EXIT is case-insensitive', async () => {
    expect((await r.run('\\exit 15')).code).toBe(15);
    expect((await r.run('\\EXIT 300')).code).toBe(44);
    expect((await r.run('\\exit')).code).toBe(0);
    expect((await r.run('\\quit\n\\exit 4')).code).toBe(0);
  });

  it('stops at the first error with ON_ERROR_STOP and exits 3', async () => {
    const res = await r.run('select 1 as a;\nselect 1/0;\n\\echo after\nselect 2 as b;', {
      args: ['-v', 'ON_ERROR_STOP=1'],
    });
    expect(res.code).toBe(3);
    expect(res.stdout).toBe(' a \n---\n 1\n(1 row)\n\n');
    expect(res.stderr).toBe('rsql: ERROR: division by zero\n');
    const set = await r.run('\\set ON_ERROR_STOP on\nselect 1/0;\n\\echo after');
    expect(set.code).toBe(3);
    expect(set.stdout).toBe('');
  });

  it('ends with 0 after unhandled errors by default; RSQL_EXIT_ON_UNHANDLED_ERROR changes it', async () => {
    expect((await r.run('select 1/0;\nselect 1;')).code).toBe(0);
    expect((await r.run('select 1/0;', { args: ['-v', 'RSQL_EXIT_ON_UNHANDLED_ERROR=severity'] })).code).toBe(
      8,
    );
    expect((await r.run('select 1/0;', { args: ['-v', 'RSQL_EXIT_ON_UNHANDLED_ERROR=4'] })).code).toBe(4);
    expect(
      (await r.run('select 1/0;\n\\q', { env: { RSQLO_RSQL_EXIT_ON_UNHANDLED_ERROR: 'severity' } })).code,
    ).toBe(8);
    expect((await r.run('select 1;', { args: ['-v', 'RSQL_EXIT_ON_UNHANDLED_ERROR=severity'] })).code).toBe(
      0,
    );
  });

  it('applies \\rset errorlevel severities and MAXERROR', async () => {
    const res = await r.run(
      '\\rset errorlevel 42P01 severity 0\nselect * from tbl;\nselect 1 as col;\n\\echo :ERRORLEVEL',
      {
        args: ['-v', 'RSQL_EXIT_ON_UNHANDLED_ERROR=severity'],
      },
    );
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('Errorlevel is on.\n col \n-----\n   1\n(1 row)\n\n0\n');
    expect(res.stderr).toBe('rsql: ERROR: relation "tbl" does not exist\n');
    const max = await r.run('\\rset maxerror 7\nselect 1/0;\n\\echo after');
    expect(max.code).toBe(8);
    expect(max.stdout).toBe('Maxerror is 7.\n');
    const stop0 = await r.run('\\rset errorlevel 42P01 severity 0\nselect * from tbl;\n\\echo after', {
      args: ['-v', 'ON_ERROR_STOP=1'],
    });
    expect(stop0.code).toBe(0);
    expect(stop0.stdout).toContain('after');
  });
});

describe('\\goto / \\label (spec §6)', () => {
  it('jumps forward, prints ignored/processed lines, skips \\exit', async () => {
    const res = await r.run(`
\\goto LETSDOSOMETHING
\\label LETSQUIT
\\exit 0
\\label LetsDoSomething   
\\echo did something
`);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('\\label LETSQUIT ignored\n\\label LetsDoSomething processed\ndid something\n');
  });

  it('leaves nested \\if blocks, restoring the conditional stack to the label depth', async () => {
    const res = await r.run(`
select 150 as cnt \\gset
\\if :cnt > 100
    \\if true
        \\goto LABELB
    \\endif
    \\echo not printed
\\endif

\\label LABELA
\\remark 'this is label LABELA'
\\label LABELB
\\remark 'this is label LABELB'
\\if true
\\echo balanced
\\endif
`);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(
      '\\label LABELA ignored\n\\label LABELB processed\nthis is label LABELB\nbalanced\n',
    );
    expect(res.stderr).toBe('');
  });

  it('suppresses label lines with -q', async () => {
    const res = await r.run('\\goto B\n\\label A\n\\label B\n\\echo here', { args: ['-q'] });
    expect(res.stdout).toBe('here\n');
  });

  it('reports a missing label, skips to end of input and exits as for an unhandled error', async () => {
    const script = '\\goto NOWHERE\n\\echo skipped\nselect 1/0;\n\\exit 5\n';
    const res = await r.run(script);
    expect(res.stdout).toBe('');
    expect(res.stderr).toBe('rsql: ERROR: \\goto label "NOWHERE" not found\n');
    expect(res.code).toBe(0);
    const sev = await r.run(script, { args: ['-v', 'RSQL_EXIT_ON_UNHANDLED_ERROR=severity'] });
    expect(sev.code).toBe(8);
    const stop = await r.run(script, { args: ['-v', 'ON_ERROR_STOP=1'] });
    expect(stop.code).toBe(3);
  });

  it('cannot jump backwards', async () => {
    const res = await r.run('\\label BACK\n\\echo once\n\\goto BACK\n\\echo never');
    expect(res.stdout).toBe('once\n');
    expect(res.stderr).toContain('\\goto label "BACK" not found');
  });
});

describe('\\gset (spec §4.1)', () => {
  it('sets variables from one row, with a prefix, NULL unsets', async () => {
    const res = await r.run(`
\\set gone x
select 1 as one, 'two' as two, null as gone \\gset
\\echo :one :two [:gone] :ERROR :ACTIVITYCOUNT
select 3 as three \\gset p_
\\echo :p_three
`);
    expect(res.stdout).toBe('1 two [:gone] false 1\n3\n');
  });

  it('fails with 0 rows and with 2 rows, setting ERROR', async () => {
    const res = await r.run(`
select 1 as x where false \\gset
\\echo zero :ERROR :ERRORCODE :ACTIVITYCOUNT [:x] :LAST_ERROR_MESSAGE
select generate_series(1, 2) as y \\gset
\\echo two :ERROR :ERRORCODE :ACTIVITYCOUNT [:y] :LAST_ERROR_MESSAGE
select 5 as z \\gset
\\echo one :ERROR :z
`);
    expect(res.stdout).toBe(
      'zero true 02000 0 [:x] no rows returned for \\gset\n' +
        'two true 21000 2 [:y] more than one row returned for \\gset\n' +
        'one false 5\n',
    );
    expect(res.stderr).toBe(
      'rsql: ERROR: no rows returned for \\gset\nrsql: ERROR: more than one row returned for \\gset\n',
    );
    const stop = await r.run('select 1 where false \\gset\n\\echo after', {
      args: ['-v', 'ON_ERROR_STOP=1'],
    });
    expect(stop.code).toBe(3);
  });
});

describe('variables and interpolation (spec §4.1)', () => {
  it('interpolates -v and \\set values raw, as literal and as identifier', async () => {
    const res = await r.run(
      `
create temp table :"tbl" (v text);
insert into :"tbl" values (:'who');
select v from :"tbl" where v = :'who';
\\echo :who :'who' [:undefined_var] :{?who} :{?nope}
\\set combined :who '-' suffix
\\echo :combined
\\unset who
\\echo :who
select 1 as c :EXPLAIN;
`,
      { args: ['-v', "who=O'Brien", '-v', 'tbl=My Table', '-v', 'EXPLAIN='] },
    );
    expect(res.stderr).toBe('');
    expect(res.stdout).toContain("    v    \n---------\n O'Brien\n(1 row)");
    expect(res.stdout).toContain("O'Brien 'O''Brien' [:undefined_var] TRUE FALSE\n");
    expect(res.stdout).toContain("O'Brien-suffix\n");
    expect(res.stdout).toContain(':who\n');
    expect(res.stdout).toContain(' c \n---\n 1\n(1 row)');
  });

  it('does not interpolate in inactive branches nor inside SQL quotes', async () => {
    const res = await r.run(
      "\\set x 42\nselect ':x' as a, :x as b;\n\\if false\n\\echo :x `echo hidden`\n\\endif",
    );
    expect(res.stdout).toBe(' a  | b  \n----+----\n :x | 42\n(1 row)\n\n');
  });

  it('lists variables with \\set and runs backquotes', async () => {
    const res = await r.run('\\set greeting `echo hi there`\n\\echo :greeting');
    expect(res.stdout).toBe('hi there\n');
  });
});

describe('meta-command dispatch (rsql/meta/table.ts)', () => {
  it('drops the statement of a skipped \\gset, ignores unknown commands there, names missing arguments', async () => {
    const script = [
      '\\if false',
      "select 'not sent' as x \\gset",
      '\\frobnicate',
      '\\dt',
      '\\endif',
      'select 1 as y;',
      '\\echo :x',
      '\\unset',
      '\\UNSET',
      '\\setenv',
      '\\getenv ONLY',
      '\\pset',
      '\\echo done',
    ].join('\n');
    const res = await r.run(script);
    expect(res.code).toBe(0);
    // a kept statement would have been glued to "select 1 as y" and failed
    expect(res.stdout).toBe(' y \n---\n 1\n(1 row)\n\n:x\ndone\n');
    expect(res.stderr).toBe(
      [8, 9, 10, 11, 12]
        .map((line, i) => {
          const name = ['unset', 'unset', 'setenv', 'getenv', 'pset'][i];
          return `rsql: <stdin>:${line}: \\${name}: missing required argument\n`;
        })
        .join(''),
    );
  });
});

describe('\\echo, \\remark, \\qecho, \\warn (spec §7)', () => {
  it('prints with escapes, -n, // line breaks, and to the right streams', async () => {
    const res = await r.run(`
\\echo ' ------------------------------- '
\\echo '\\n ***** MAIN ***** \\n'
\\echo -n no newline
\\echo Start Time - 12:00:00.123
\\remark 'hello//world'
\\REMARK Starting...
\\remark 'Region staging finished with error:' :ERRORCODE
\\warn to stderr
\\qecho to query output
`);
    expect(res.stdout).toBe(
      ' ------------------------------- \n\n ***** MAIN ***** \n\nno newlineStart Time - 12:00:00.123\nhello\nworld\nStarting...\n' +
        'Region staging finished with error: 00000\nto query output\n',
    );
    expect(res.stderr).toBe('to stderr\n');
  });
});

describe('Redshift compatibility layer', () => {
  it('neutralises Redshift-only SET/RESET inside a transaction and Redshift table attributes', async () => {
    const res = await r.run(`
begin;
SET query_group to 'rsql_blog_querygroup';
\\echo set :ERROR :ERRORCODE :ACTIVITYCOUNT
set wlm_query_slot_count to 2;
reset query_group;
create table rs_t (id int encode az64 distkey, name varchar(20) encode lzo, created timestamp sortkey)
  diststyle key compound sortkey (id, created);
insert into rs_t values (1, 'a', now());
commit;
select count(*) as n from rs_t;
drop table rs_t;
`);
    expect(res.stderr).toBe('');
    expect(res.stdout).toContain('SET\nset false 00000 0\nSET\nRESET\nCREATE TABLE\nINSERT 0 1\nCOMMIT\n');
  });

  it('can be switched off with RSQL_COMPAT=off (then PostgreSQL rejects Redshift SQL)', async () => {
    const res = await r.run("SET query_group to 'x';\n\\echo :ERRORCODE", {
      args: ['-v', 'RSQL_COMPAT=off'],
    });
    expect(res.stdout).toBe('42704\n');
    expect(res.stderr).toBe('rsql: ERROR: unrecognized configuration parameter "query_group"\n');
    const env = await r.run("SET query_group to 'x';\n\\echo :ERRORCODE", {
      env: { RSQLO_RSQL_COMPAT: 'off' },
    });
    expect(env.stdout).toBe('42704\n');
  });
});

describe('COPY', () => {
  it('runs COPY FROM STDIN with inline data and \\copy to/from files', async () => {
    const out = `${r.dir}/copy-out.csv`;
    const res = await r.run(`
create temp table c1 (a int, b text);
copy c1 from stdin;
1\tone
2\ttwo
\\.
select count(*) as n from c1;
\\copy c1 to '${out}' with (format csv)
\\copy c1 from '${out}' with (format csv)
select count(*) as n from c1;
copy c1 to stdout;
`);
    expect(res.stderr).toBe('');
    expect(res.stdout).toContain('COPY 2\n n \n---\n 2\n(1 row)');
    expect(res.stdout).toContain(' n \n---\n 4\n(1 row)');
    expect(res.stdout).toContain('1\tone\n2\ttwo\n1\tone\n2\ttwo\nCOPY 4\n');
  });
});
