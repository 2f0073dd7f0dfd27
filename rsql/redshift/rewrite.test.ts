/**
 * The runner's Redshift rewrites as text (no database): what each becomes, and what must never change.
 * functions.test.ts and dialect.test.ts run the same statements against PostgreSQL.
 */
import { describe, expect, it } from 'vitest';
import { rewriteForPostgres, tokenizeSql } from '../compat.js';
import { mayNeedRedshiftRewrite } from './rewrite.js';

const rw = (sql: string) => rewriteForPostgres(sql, { standardStrings: false }).sql;

describe('expressions', () => {
  it.each([
    ['select nvl(a, b) from t;', 'select COALESCE(a, b) from t;'],
    ['select NVL (a, b, c) from t;', 'select COALESCE (a, b, c) from t;'],
    [
      "select decode(caldate, '2008-06-01', 'June 1st, 2008') from d;",
      "select CASE caldate WHEN '2008-06-01' THEN 'June 1st, 2008' END from d;",
    ],
    [
      "select decode(c, 'a', 1, 'b', 2, 0) from d;",
      "select CASE c WHEN 'a' THEN 1 WHEN 'b' THEN 2 ELSE 0 END from d;",
    ],
    ['select decode(s, null, 0, 1) from v;', 'select CASE WHEN (s) IS NULL THEN 0 ELSE 1 END from v;'],
    [
      "select decode(s, null, 'n', 5, 'five') from v;",
      "select CASE WHEN (s) IS NULL THEN 'n' WHEN (s) = (5) THEN 'five' END from v;",
    ],
    ["select decode(x, 'hex') from t;", "select decode(x, 'hex') from t;"], // PostgreSQL's decode(text, format)
    [
      'select nvl(decode(a, 1, nvl(b, 0), 2), 5) from t;',
      'select COALESCE(CASE a WHEN 1 THEN COALESCE(b, 0) ELSE 2 END, 5) from t;',
    ],
    ['select approximate count(distinct p) from s;', 'select count(distinct p) from s;'],
    ['select dateadd(day, 30, caldate) from d;', "select date_add('day', 30, caldate) from d;"],
    ["select dateadd('month', 1, x) from d;", "select date_add('month', 1, x) from d;"],
    ['select datediff(qtr, a, b) from d;', "select date_diff('qtr', a, b) from d;"],
    [
      'select date_part(dow, x), pgdate_part(W, x) from d;',
      "select pgdate_part('dow', x), pgdate_part('w', x) from d;",
    ],
    ['select extract(ms from ts) from d;', "select date_part('ms', ts, true) from d;"],
    [
      "select extract('year' from ts), extract(epoch from a - b) from d;",
      "select date_part('year', ts, true), date_part('epoch', a - b, true) from d;",
    ],
    [
      'select sysdate, trunc(sysdate) from d;',
      'select pg_catalog."timestamp"(transaction_timestamp()), trunc(pg_catalog."timestamp"(transaction_timestamp())) from d;',
    ],
    ['select getdate();', `select pg_catalog."timestamp"(date_trunc('second', statement_timestamp()));`],
    ["select regexp_substr(e, '@[^.]*') from u;", "select rsqlo_redshift.regexp_substr(e, '@[^.]*') from u;"],
    [
      'select cast(x as varchar(max)), y::varchar(MAX), z::char(max) from t;',
      'select cast(x as varchar(65535)), y::varchar(65535), z::char(4096) from t;',
    ],
    ['select x::nvarchar(10) from t;', 'select x::varchar(10) from t;'],
  ])('%s', (input, output) => {
    expect(rw(input)).toBe(output);
  });

  it('LISTAGG … WITHIN GROUP becomes the aggregate with ORDER BY, or a window over the whole partition', () => {
    expect(rw("select listagg(sellerid, ', ') within group (order by sellerid) from sales;")).toBe(
      "select listagg(sellerid, ', ', false ORDER BY sellerid) from sales;",
    );
    expect(rw("select listagg(distinct d, ',') within group (order by s desc, i asc) from w;")).toBe(
      "select listagg(d, ',', true ORDER BY s desc, i asc) from w;",
    );
    expect(rw('select listagg(x) from w;')).toBe("select listagg(x, '', false) from w;");
    expect(rw("select listagg(s, ',') within group (order by s) over (partition by b) as ids from w;")).toBe(
      "select listagg(s, ',', false) OVER (partition by b ORDER BY s ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) as ids from w;",
    );
    expect(rw('select listagg(s) within group (order by d) over () from w;')).toBe(
      "select listagg(s, '', false) OVER (ORDER BY d ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) from w;",
    );
    expect(rw("select listagg(nvl(a, b), ',') within group (order by decode(c, 1, 2, 3)) from w;")).toBe(
      "select listagg(COALESCE(a, b), ',', false ORDER BY CASE c WHEN 1 THEN 2 ELSE 3 END) from w;",
    );
  });

  it('never touches strings, quoted identifiers, comments, dollar quotes, qualified names or aliases', () => {
    for (const sql of [
      'select \'nvl(a, b)\', "nvl"(1), s.nvl(a, b) from s;',
      'select 1 -- nvl(a, b) and sysdate\n;',
      'select /* decode(a, 1, 2, 3) */ 1;',
      'select $$ listagg(x) within group (order by y) $$;',
      "select x as sysdate, 'sysdate' from t;",
      'create function f() returns int as $body$ select nvl(1, 2) $body$ language sql;',
    ]) {
      expect(rw(sql)).toBe(sql);
    }
  });

  it('reads backslash escapes in strings when standard_conforming_strings is off (as the runner sets it)', () => {
    expect(rw("select 'it\\'s nvl(a)', nvl(a, b);")).toBe("select 'it\\'s nvl(a)', COALESCE(a, b);");
    expect(rw("select '', nvl(a, b), e'x\\'nvl(y)';")).toBe("select '', COALESCE(a, b), e'x\\'nvl(y)';");
    // with standard strings, a backslash is an ordinary character
    expect(rewriteForPostgres("select 'C:\\', nvl(a, b);").sql).toBe("select 'C:\\', COALESCE(a, b);");
    const sql = "select 'a\\'b', '', 'c'";
    expect(
      tokenizeSql(sql, false)
        .filter((t) => t.type === 'string')
        .map((t) => t.text),
    ).toEqual(["'a\\'b'", "''", "'c'"]);
  });
});

describe('DDL and commands', () => {
  it('gives CREATE TABLE columns Redshift’s lengths and keeps the other rewrites', () => {
    expect(
      rw(
        'create table test(col1 varchar(max), c2 char(max), c3 nvarchar(10), c4 text, c5 varchar, c6 bpchar, c7 character varying, c8 text encode lzo, c9 nvarchar) diststyle even;',
      ),
    ).toBe(
      'create table test(col1 varchar(65535), c2 char(4096), c3 varchar(10), c4 varchar(256), c5 varchar(256), c6 char(256), c7 varchar(256), c8 varchar(256), c9 varchar(256));',
    );
    expect(rw("alter table t add column c text default 'x';")).toBe(
      "alter table t add column c varchar(256) default 'x';",
    );
    expect(rw('alter table t add c varchar;')).toBe('alter table t add c varchar(256);');
    // text outside column definitions, and CREATE TABLE … AS / LIKE, are left alone
    for (const sql of [
      'create table t as select x::text from y;',
      'create table t (like s including defaults) backup no;',
      "select 'a'::text, cast(b as text) from t;",
      'create table t (a text[], primary key (a));',
    ]) {
      expect(rw(sql)).toBe(sql.replace(' backup no', ''));
    }
  });

  it.each([
    ['vacuum;', 'VACUUM;'],
    ['vacuum sales;', 'VACUUM sales;'],
    ['vacuum sales to 100 percent;', 'VACUUM sales;'],
    ['vacuum sort only sales to 75 percent;', 'VACUUM sales;'],
    ['vacuum delete only sales to 75 percent;', 'VACUUM sales;'],
    ['vacuum reindex listing;', 'VACUUM listing;'],
    ['VACUUM FULL public.sales BOOST;', 'VACUUM public.sales;'],
    ['vacuum recluster sales;', 'VACUUM sales;'],
    ['vacuum (verbose, analyze) t;', 'vacuum (verbose, analyze) t;'],
    ['vacuum analyze t;', 'vacuum analyze t;'],
  ])('VACUUM: %s', (input, output) => {
    expect(rw(input)).toBe(output);
  });

  it('VACUUM errors Redshift reports become errors', () => {
    expect(rw('vacuum reindex listing to 75 percent;')).toMatch(
      /^DO \$rsqlo\$ BEGIN RAISE EXCEPTION 'VACUUM REINDEX isn''t supported with TO threshold PERCENT'/,
    );
    expect(rw('vacuum to 75 percent;')).toMatch(/needs a table name/);
    expect(rw('vacuum t to 101 percent;')).toMatch(/between 0 and 100/);
  });

  it.each([
    [
      'analyze compression listing;',
      "SELECT * FROM rsqlo_redshift.analyze_compression('listing', NULL::text[]);",
    ],
    [
      'analyze compression sales(qtysold, "Commission", saletime) comprows 1000000;',
      "SELECT * FROM rsqlo_redshift.analyze_compression('sales', ARRAY['qtysold', 'Commission', 'saletime']::text[]);",
    ],
    ['analyze compression;', 'SELECT * FROM rsqlo_redshift.analyze_compression(NULL, NULL::text[]);'],
    ['analyze t;', 'analyze t;'],
  ])('ANALYZE COMPRESSION: %s', (input, output) => {
    expect(rw(input)).toBe(output);
  });

  it('GRANT … DROP leaves the DROP privilege out', () => {
    expect(rw('grant select, drop on t to group g;')).toBe('grant select on t to group g;');
    expect(rw('grant drop on table qa_tickit.sales to group qa_users;')).toMatch(
      /^DO \$rsqlo\$ BEGIN RAISE NOTICE/,
    );
    expect(rw('grant all on schema qa_tickit to group qa_users;')).toBe(
      'grant all on schema qa_tickit to group qa_users;',
    );
  });
});

describe('cost', () => {
  it('only tokenizes statements that mention a rewritten word', () => {
    expect(mayNeedRedshiftRewrite('insert into t values (1, 2)')).toBe(false);
    expect(mayNeedRedshiftRewrite('select a, b from t where c = 1')).toBe(false);
    expect(mayNeedRedshiftRewrite('select nvl(a, b) from t')).toBe(true);
    expect(mayNeedRedshiftRewrite('VACUUM t')).toBe(true);
  });
});
