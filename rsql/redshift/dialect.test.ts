/**
 * Redshift's types, DDL, TRUNCATE and system views on PostgreSQL through the runner (compatibility layer
 * on, functions installed), checked against the Amazon Redshift Database Developer Guide page cited
 * above each test.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, query } from '../../test/support/postgres.js';
import type { PgConnectionInfo } from '../embedded-postgres.js';
import { makeRunner, type Runner } from '../test-helpers.js';
import { installRedshiftCompat } from './install.js';

let r: Runner;
let conn: PgConnectionInfo;
let drop: () => Promise<void>;

beforeAll(async () => {
  const db = await createTestDatabase('rs_dialect');
  drop = db.drop;
  conn = db.connection;
  await installRedshiftCompat(conn, { databases: [conn.database] });
  r = makeRunner(conn);
});

afterAll(async () => {
  r?.cleanup();
  await drop?.();
});

async function run(script: string, args = ['-A', '-t', '-q']) {
  return r.run(script, { args });
}

/** Output lines of a script that must not fail. */
async function lines(script: string): Promise<string[]> {
  const res = await run(script);
  expect(res.stderr).toBe('');
  return res.stdout.replace(/\n$/, '').split('\n');
}

function client(): pg.Client {
  return new pg.Client({
    host: conn.host,
    port: conn.port,
    user: conn.user,
    password: conn.password,
    database: conn.database,
  });
}

/** Polls `probe` until it returns a value, failing after `ms`. */
async function until<T>(probe: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('condition not reached before the deadline');
    await new Promise((res) => setTimeout(res, 50));
  }
}

describe('types', () => {
  // https://docs.aws.amazon.com/redshift/latest/dg/r_Character_types.html: "create table test(col1
  // varchar(max));" "The MAX setting defines the width of the column as 4096 bytes for CHAR or 65535
  // bytes for VARCHAR." "If you use the VARCHAR data type without a length specifier in a CREATE TABLE
  // statement, the default length is 256." "An NVARCHAR column without a length specification is
  // converted to a VARCHAR(256) column." "You can create an Amazon Redshift table with a TEXT column, but
  // it is converted to a VARCHAR(256) column" "BPCHAR … converts to a fixed-length CHAR(256) column"
  // "An NCHAR column without a length specification is converted to a CHAR(1) column."
  it('VARCHAR(MAX), CHAR(MAX), TEXT, BPCHAR, NVARCHAR, NCHAR and VARCHAR get Redshift’s lengths', async () => {
    expect(
      await lines(`create table test(col1 varchar(max));
create table test2(c char(max), t text, b bpchar, nv nvarchar, nv10 nvarchar(10), nc nchar, v varchar, cv character varying);
select "column", type from pg_table_def where tablename in ('test', 'test2') order by tablename, "column";`),
    ).toEqual([
      'col1|character varying(65535)',
      'b|character(256)',
      'c|character(4096)',
      'cv|character varying(256)',
      'nc|character(1)',
      'nv|character varying(256)',
      'nv10|character varying(10)',
      't|character varying(256)',
      'v|character varying(256)',
    ]);
    // "An attempt to store a longer string into a column of these types results in an error, unless the
    // extra characters are all spaces (blanks), in which case the string is truncated"
    const res = await run(`insert into test values (repeat('x', 65535));
\\echo :ERROR :ACTIVITYCOUNT
insert into test values (repeat('x', 65536));
\\echo :ERRORCODE
insert into test2 (t) values (repeat('y', 256) || '   ');
insert into test2 (t) values (repeat('y', 257));
\\echo :ERRORCODE
select length(col1) from test;
select length(t) from test2;
drop table test; drop table test2;`);
    expect(res.stdout).toBe('false 1\n22001\n22001\n65535\n256\n');
    expect(res.stderr).toContain('value too long for type character varying(65535)');
  });

  // https://docs.aws.amazon.com/redshift/latest/dg/JSON_PARSE.html, https://docs.aws.amazon.com/redshift/latest/dg/JSON_SERIALIZE.html,
  // https://docs.aws.amazon.com/redshift/latest/dg/r_SUPER_type.html
  it('SUPER holds JSON; JSON_PARSE and JSON_SERIALIZE print it as Redshift does', async () => {
    expect(
      await lines(`SELECT JSON_PARSE('[10001,10002,"abc"]');
SELECT JSON_TYPEOF(JSON_PARSE('[10001,10002,"abc"]'));
SELECT JSON_SERIALIZE(JSON_PARSE('[10001,10002,"abc"]'));
create temp table docs (id int, body super);
insert into docs values (1, json_parse('{"name": "x",  "tags": [1, 2]}')), (2, null);
select id, body, json_extract_path_text(json_serialize(body), 'name') from docs order by id;
select "column", type from pg_table_def where tablename = 'docs' order by "column";
select is_valid_json('{"a":1}'), is_valid_json('{"a":1');`),
    ).toEqual([
      '[10001,10002,"abc"]',
      'array',
      '[10001,10002,"abc"]',
      '1|{"name":"x","tags":[1,2]}|x',
      '2||',
      'body|super',
      'id|integer',
      't|f',
    ]);
  });

  // https://docs.aws.amazon.com/redshift/latest/dg/r_patternmatching_condition_like.html: "The
  // following example uses the default escape string (\\) to search for strings that include "start"":
  // where "column" like '%start\\_%' — Redshift reads backslash escapes in '…' literals
  it('string literals take backslash escapes, as on Redshift', async () => {
    expect(
      await lines(`create temp table stl_s3client (start_time timestamp, startx int);
create temp table stl_undone (undo_start_ts timestamp);
select tablename, "column" from pg_table_def
where "column" like '%start\\\\_%'
order by 1, 2
limit 5;
select 'it\\'s', length('a\\tb'), E'x\\\\y';`),
    ).toEqual(['stl_s3client|start_time', 'stl_undone|undo_start_ts', "it's|3|x\\y"]);
  });
});

describe('DDL', () => {
  // https://docs.aws.amazon.com/redshift/latest/dg/r_CREATE_TABLE_examples.html ("Create a temporary
  // table that is LIKE another table") and r_CREATE_TABLE_NEW.html ("LIKE parent_table [ { INCLUDING |
  // EXCLUDING } DEFAULTS ]", "BACKUP { YES | NO }")
  it('CREATE TABLE … (LIKE …) copies the columns; BACKUP NO is accepted', async () => {
    expect(
      await lines(`create table event (eventid integer not null distkey, venueid smallint not null, catid smallint not null,
  dateid smallint not null sortkey, eventname varchar(200) default 'tbd', starttime timestamp) backup no;
create temp table tempevent(like event);
select "column", type, encoding, distkey, sortkey
 from pg_table_def where tablename = 'tempevent';
create table staging (like event including defaults) backup no;
insert into staging (eventid, venueid, catid, dateid) values (1, 2, 3, 4);
select eventname, (select "notnull" from pg_table_def where tablename = 'staging' and "column" = 'eventid') from staging;
drop table staging; drop table event;`),
    ).toEqual([
      'eventid|integer|none                            |f|0',
      'venueid|smallint|none                            |f|0',
      'catid|smallint|none                            |f|0',
      'dateid|smallint|none                            |f|0',
      'eventname|character varying(200)|none                            |f|0',
      'starttime|timestamp without time zone|none                            |f|0',
      'tbd|t',
    ]);
  });

  // https://docs.aws.amazon.com/redshift/latest/dg/r_VACUUM_command.html: every example; "The following
  // command returns an error: vacuum reindex listing to 75 percent;" "You can't run VACUUM within a
  // transaction block (BEGIN ... END)."
  it('VACUUM accepts Redshift’s options and rejects what Redshift rejects', async () => {
    const res = await run(
      `create table sales (salesid int); create table listing (listid int);
vacuum;
vacuum sales;
vacuum sales to 100 percent;
 vacuum sort only sales to 75 percent;
vacuum delete only sales to 75 percent;
vacuum reindex listing;
\\echo ok :ERROR :ACTIVITYCOUNT
vacuum reindex listing to 75 percent;
\\echo :ERROR :ERRORCODE
begin;
vacuum sales;
\\echo :ERRORCODE
rollback;
drop table sales; drop table listing;`,
      ['-A', '-t'],
    );
    expect(res.stdout).toBe(
      'CREATE TABLE\nCREATE TABLE\nVACUUM\nVACUUM\nVACUUM\nVACUUM\nVACUUM\nVACUUM\nok false 0\ntrue 42601\nBEGIN\n25001\nROLLBACK\nDROP TABLE\nDROP TABLE\n',
    );
    expect(res.stderr).toBe(
      "rsql: ERROR: VACUUM REINDEX isn't supported with TO threshold PERCENT\nrsql: ERROR: VACUUM cannot run inside a transaction block\n",
    );
  });

  // https://docs.aws.amazon.com/redshift/latest/dg/r_ANALYZE_COMPRESSION.html: the report's columns
  // Table, Column, Encoding, Est_reduction_pct; columns not named in the list show N/A and 0.00
  it('ANALYZE COMPRESSION returns the report for a table or some of its columns', async () => {
    const res = await run(
      `create table sales (salesid int, listid int, qtysold smallint, commission numeric(8,2), saletime timestamp);
analyze compression sales;
analyze compression sales(qtysold, commission, saletime);
\\echo :ACTIVITYCOUNT
analyze compression nosuchtable;
\\echo :ERRORCODE
drop table sales;`,
      ['-A', '-q'],
    );
    expect(res.stdout).toBe(
      [
        'Table|Column|Encoding|Est_reduction_pct',
        'sales|salesid|raw|0.00',
        'sales|listid|raw|0.00',
        'sales|qtysold|raw|0.00',
        'sales|commission|raw|0.00',
        'sales|saletime|raw|0.00',
        '(5 rows)',
        'Table|Column|Encoding|Est_reduction_pct',
        'sales|salesid|N/A|0.00',
        'sales|listid|N/A|0.00',
        'sales|qtysold|raw|0.00',
        'sales|commission|raw|0.00',
        'sales|saletime|raw|0.00',
        '(5 rows)',
        '5',
        '42P01',
        '',
      ].join('\n'),
    );
    expect(res.stderr).toBe('rsql: ERROR: relation "nosuchtable" does not exist\n');
  });

  // https://docs.aws.amazon.com/redshift/latest/dg/r_CREATE_GROUP.html ("create group admin_group with
  // user admin1, admin2;") and https://docs.aws.amazon.com/redshift/latest/dg/r_GRANT-examples.html
  // (GRANT … TO GROUP, "to group qa_users, group ro_users", "create user schema_user in group qa_users
  // password 'Abcd1234';", "grant drop on table qa_tickit.sales to group qa_users;")
  it('CREATE GROUP and GRANT … TO GROUP work on PostgreSQL roles', async () => {
    const s = randomBytes(3).toString('hex');
    const res = await run(
      `create user admin1_${s} password 'Abcd1234'; create user admin2_${s} password 'Abcd1234';
create group admin_group_${s} with user admin1_${s}, admin2_${s};
create group qa_users_${s};
create group ro_users_${s};
create user schema_user_${s} in group qa_users_${s} password 'Abcd1234';
create schema qa_tickit;
create table qa_tickit.sales (salesid int);
grant all on schema qa_tickit to group qa_users_${s};
grant all on table qa_tickit.sales to group qa_users_${s}, group ro_users_${s};
grant drop on table qa_tickit.sales to group qa_users_${s};
\\echo drop :ERROR
grant select, drop on table qa_tickit.sales to group ro_users_${s};
select has_table_privilege('schema_user_${s}', 'qa_tickit.sales', 'insert'),
       has_schema_privilege('schema_user_${s}', 'qa_tickit', 'usage'),
       pg_has_role('admin2_${s}', 'admin_group_${s}', 'member');
drop table qa_tickit.sales; drop schema qa_tickit;
drop user schema_user_${s}; drop user admin1_${s}; drop user admin2_${s};
drop group admin_group_${s}; drop group qa_users_${s}; drop group ro_users_${s};`,
      ['-A', '-t'],
    );
    expect(res.stdout).toBe(
      [
        'CREATE ROLE',
        'CREATE ROLE',
        'CREATE ROLE',
        'CREATE ROLE',
        'CREATE ROLE',
        'CREATE ROLE',
        'CREATE SCHEMA',
        'CREATE TABLE',
        'GRANT',
        'GRANT',
        'DO',
        'drop false',
        'GRANT',
        't|t|t',
        'DROP TABLE',
        'DROP SCHEMA',
        ...Array(6).fill('DROP ROLE'),
        '',
      ].join('\n'),
    );
    expect(res.stderr).toBe(
      'NOTICE:  rsqlo: the DROP privilege has no PostgreSQL equivalent; nothing was granted\n',
    );
  });
});

describe('TRUNCATE commits the transaction it runs in', () => {
  // https://docs.aws.amazon.com/redshift/latest/dg/r_TRUNCATE.html: "begin; truncate date; rollback;
  // select count(*) from date;" → 0. "The TRUNCATE command commits the transaction in which it is run;
  // therefore, you can't roll back a TRUNCATE operation, and a TRUNCATE command may commit other
  // operations when it commits itself."
  it('cannot be rolled back, and commits what came before it', async () => {
    const res = await run(
      `create table date (dateid int);
create table audit_log (msg text);
insert into date values (1), (2), (3);
begin;
insert into audit_log values ('before truncate');
truncate date;
\\echo truncate :ERROR :ERRORCODE :ACTIVITYCOUNT
rollback;
select count(*) from date;
select count(*) from audit_log;
drop table date; drop table audit_log;`,
      ['-A', '-t'],
    );
    expect(res.stdout).toBe(
      'CREATE TABLE\nCREATE TABLE\nINSERT 0 3\nBEGIN\nINSERT 0 1\nTRUNCATE TABLE\ntruncate false 00000 0\nROLLBACK\n0\n1\nDROP TABLE\nDROP TABLE\n',
    );
    // the ROLLBACK finds no transaction: the TRUNCATE committed it
    expect(res.stderr).toBe('WARNING:  there is no transaction in progress\n');
  });

  it('outside a transaction it is a plain TRUNCATE; in a failed one it is refused like any statement', async () => {
    const res = await run(
      `create table t1 (a int); insert into t1 values (1);
truncate t1;
\\echo :ERROR :ACTIVITYCOUNT
begin;
select 1/0;
truncate table t1;
\\echo :ERROR :ERRORCODE :ACTIVITYCOUNT
rollback;
insert into t1 values (2);
begin; insert into t1 values (3); truncate t1; insert into t1 values (4); commit;
select string_agg(a::text, ',') from t1;
drop table t1;`,
      ['-A', '-t', '-q'],
    );
    expect(res.stdout).toBe('false 0\ntrue 25P02 0\n4\n');
    expect(res.stderr).toBe(
      'rsql: ERROR: division by zero\nrsql: ERROR: current transaction is aborted, commands ignored until end of transaction block\n' +
        'WARNING:  there is no transaction in progress\n',
    );
  });

  it('is left alone with RSQL_COMPAT=off (PostgreSQL rolls it back)', async () => {
    const res = await run(
      `create table t2 (a int); insert into t2 values (1);
begin; truncate t2; rollback;
select count(*) from t2;
drop table t2;`,
      ['-A', '-t', '-q', '-v', 'RSQL_COMPAT=off'],
    );
    expect(res.stdout).toBe('1\n');
    expect(res.stderr).toBe('');
  });
});

describe('system views', () => {
  // https://docs.aws.amazon.com/redshift/latest/dg/r_PG_TABLE_DEF.html: "PG_TABLE_DEF will only return
  // information for tables in schemas that are included in the search path." The demo example.
  it('PG_TABLE_DEF lists the columns of tables on the search path', async () => {
    expect(
      await lines(`create schema demo;
create table demo.demotable (one int);
select * from pg_table_def where tablename = 'demotable';
set search_path to '$user', 'public', 'demo';
select * from pg_table_def where tablename = 'demotable';
drop table demo.demotable; drop schema demo;`),
    ).toEqual(['demo|demotable|one|integer|none                            |f|0|f']);
  });

  // https://docs.aws.amazon.com/redshift/latest/dg/r_SVV_TABLE_INFO.html: "Shows summary information for
  // tables in the database", "The SVV_TABLE_INFO view doesn't return any information for empty tables."
  // tbl_rows: "This value includes rows marked for deletion, but not yet vacuumed."
  it('SVV_TABLE_INFO summarises non-empty user tables', async () => {
    expect(
      await lines(`create table info_full (id int, name varchar(30), note varchar(120));
create table info_empty (id int);
insert into info_full select g, 'n' || g, null from generate_series(1, 25) g;
select database = current_database(), schema, "table", encoded, diststyle, max_varchar, sortkey_num, size >= 1, tbl_rows, estimated_visible_rows
from svv_table_info where "table" like 'info\\_%' order by "table";
select count(*) from svv_table_info where table_id = 'info_empty'::regclass;
drop table info_full; drop table info_empty;`),
    ).toEqual(['t|public|info_full|N|EVEN|120|0|t|25|25', '0']);
  });

  // https://docs.aws.amazon.com/redshift/latest/dg/r_STV_INFLIGHT.html: "determine what queries are
  // currently running"; the sample output shows "two queries currently running, including the
  // STV_INFLIGHT query itself"
  it('STV_INFLIGHT shows the running queries, this one included', async () => {
    const other = client();
    await other.connect();
    const otherPid = (await other.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]?.pid;
    const running = other.query('select pg_sleep(60) /* inflight probe */').catch((e: Error) => e);
    try {
      const row = await until(async () => {
        const rows = await lines(
          `select slice, query > 0, trim(label) querylabel, pid, starttime <= getdate() + interval '1 second', substring(text,1,20) querytext from stv_inflight where pid = ${otherPid};`,
        );
        return rows[0] ? rows[0] : undefined;
      });
      expect(row).toBe(`0|t||${otherPid}|t|select pg_sleep(60) `);
      expect(
        await lines(`set query_group to 'avgwait.sql';
select trim(label), substring(text, 1, 20) from stv_inflight where pid = pg_backend_pid();`),
      ).toEqual(['avgwait.sql|select trim(label), ']);
    } finally {
      await query(conn, 'select pg_cancel_backend($1)', [otherPid]);
      const outcome = await running;
      expect(outcome).toBeInstanceOf(Error);
      await other.end();
    }
  });

  // https://docs.aws.amazon.com/redshift/latest/dg/r_STL_QUERY.html ("select query, trim(querytxt) as
  // sqlquery from stl_query order by query desc limit 5;") and
  // https://docs.aws.amazon.com/redshift/latest/dg/r_SVL_QLOG.html ("select query, pid, elapsed,
  // substring from svl_qlog where userid = 100 order by starttime desc limit 5;"): each session's last
  // finished statement
  it('STL_QUERY and SVL_QLOG show the last finished statement of each session', async () => {
    const other = client();
    await other.connect();
    try {
      const pid = (await other.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]?.pid;
      await other.query('select 42 as answer /* stl probe */');
      const row = await until(async () => {
        const rows = await lines(
          `select query > 0, trim(querytxt) as sqlquery, trim(database) = current_database(), endtime >= starttime, aborted, trim(label) from stl_query where pid = ${pid};`,
        );
        return rows[0]?.includes('stl probe') ? rows[0] : undefined;
      });
      expect(row).toBe('t|select 42 as answer /* stl probe */|t|t|0|default');
      expect(
        await lines(`select q.query = l.query, l.elapsed = (extract(epoch from q.endtime - q.starttime) * 1000000)::bigint, trim(l.substring)
from stl_query q join svl_qlog l using (pid) where pid = ${pid};
select count(*) >= 0 from (select query, trim(querytxt) as sqlquery from stl_query order by query desc limit 5) x;
select count(*) >= 0 from (select query, pid, elapsed, substring from svl_qlog where userid = 100 order by starttime desc limit 5) y;`),
      ).toEqual(['t|t|select 42 as answer /* stl probe */', 't', 't']);
    } finally {
      await other.end();
    }
  });
});
