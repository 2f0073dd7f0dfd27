/**
 * Redshift's functions on PostgreSQL (installed sql.ts + the runner's rewrites), each checked against the
 * examples and results of its page in the Amazon Redshift Database Developer Guide (cited above each
 * test, https://docs.aws.amazon.com/redshift/latest/dg/<page>.html). The statements are the
 * documentation's, run through the runner unchanged; sample tables hold the rows the examples read.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../test/support/postgres.js';
import { makeRunner, type Runner } from '../test-helpers.js';
import { installRedshiftCompat } from './install.js';

let r: Runner;
let drop: () => Promise<void>;

beforeAll(async () => {
  const db = await createTestDatabase('rs_functions');
  drop = db.drop;
  await installRedshiftCompat(db.connection, { databases: [db.connection.database] });
  r = makeRunner(db.connection);
});

afterAll(async () => {
  r?.cleanup();
  await drop?.();
});

/** Runs a script (unaligned, tuples only, quiet) and returns its output lines; stderr must be empty. */
async function lines(script: string): Promise<string[]> {
  const res = await r.run(script, { args: ['-A', '-t', '-q'] });
  expect(res.stderr).toBe('');
  return res.stdout.replace(/\n$/, '').split('\n');
}

/** Runs one query with headers (unaligned) and returns [header, ...rows]. */
async function table(script: string): Promise<string[]> {
  const res = await r.run(script, { args: ['-A', '-q'] });
  expect(res.stderr).toBe('');
  return res.stdout
    .replace(/\n$/, '')
    .split('\n')
    .filter((l) => !/^\(\d+ rows?\)$/.test(l));
}

const WINSALES = `
CREATE TEMP TABLE winsales(salesid int, dateid date, sellerid int, buyerid char(10), qty int, qty_shipped int);
INSERT INTO winsales VALUES
  (30001, '8/2/2003', 3, 'b', 10, 10), (10001, '12/24/2003', 1, 'c', 10, 10), (10005, '12/24/2003', 1, 'a', 30, null),
  (40001, '1/9/2004', 4, 'a', 40, null), (10006, '1/18/2004', 1, 'c', 10, null), (20001, '2/12/2004', 2, 'b', 20, 20),
  (40005, '2/12/2004', 4, 'a', 10, 10), (20002, '2/16/2004', 2, 'c', 20, 20), (30003, '4/18/2004', 3, 'b', 15, null),
  (30004, '4/18/2004', 3, 'b', 20, null), (30007, '9/7/2004', 3, 'c', 30, null);
`; // https://docs.aws.amazon.com/redshift/latest/dg/c_Window_functions.html#r_Window_function_example, verbatim

const USERS_EMAILS = `
CREATE TEMP TABLE users (userid int, email varchar(100));
INSERT INTO users VALUES (1, 'Etiam.laoreet.libero@sodalesMaurisblandit.edu'), (2, 'Suspendisse.tristique@nonnisiAenean.edu'),
  (3, 'amet.faucibus.ut@condimentumegetvolutpat.ca'), (4, 'sed@lacusUtnec.ca');
`;

describe('GETDATE, SYSDATE, TRUNC(timestamp)', () => {
  // https://docs.aws.amazon.com/redshift/latest/dg/r_GETDATE.html: "select getdate();" → column "timestamp", 2008-12-04 16:10:43 (whole seconds);
  // "select trunc(getdate());" → column "trunc", the date. "It returns the start date or time of the
  // current statement, even when it is within a transaction block".
  it('GETDATE() is the statement start to the second, as TIMESTAMP named "timestamp"', async () => {
    const t = await table('select getdate();');
    expect(t[0]).toBe('timestamp');
    expect(t[1]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    expect(await table('select trunc(getdate());')).toEqual([
      'trunc',
      expect.stringMatching(/^\d{4}-\d\d-\d\d$/),
    ]);
    expect(
      await lines(`begin;
select getdate() = date_trunc('second', statement_timestamp())::timestamp, pg_typeof(getdate());
commit;`),
    ).toEqual(['t|timestamp without time zone']);
  });

  // https://docs.aws.amazon.com/redshift/latest/dg/r_SYSDATE.html: "select sysdate;" → "timestamp" 2008-12-04 16:10:43.976353; "SYSDATE returns the start
  // date and time for the current transaction, not for the start of the current statement."
  it('SYSDATE (no parentheses) is the transaction start with microseconds', async () => {
    const t = await table('select sysdate;');
    expect(t[0]).toBe('timestamp');
    expect(t[1]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?$/);
    expect(await table('select trunc(sysdate);')).toEqual([
      'trunc',
      expect.stringMatching(/^\d{4}-\d\d-\d\d$/),
    ]);
    expect(
      await lines(`begin;
select pg_sleep(0.01);
select sysdate = transaction_timestamp()::timestamp, sysdate < statement_timestamp()::timestamp;
commit;
select salesid, trunc(saletime) as saletime, trunc(sysdate) - 120 <= trunc(sysdate) from (select 1 as salesid, sysdate as saletime) s;`),
    ).toEqual(['', 't|t', expect.stringMatching(/^1\|\d{4}-\d\d-\d\d\|t$/)]);
  });

  // https://docs.aws.amazon.com/redshift/latest/dg/r_TRUNC_date.html: "select trunc(starttime) from event order by eventid limit 1;" → 2008-01-25 (a DATE)
  it('TRUNC(timestamp) returns the date', async () => {
    expect(
      await lines(`create temp table event (eventid int, starttime timestamp);
insert into event values (1, '2008-01-25 14:30:00'), (2, '2008-01-26 19:00:00');
select trunc(starttime) from event order by eventid limit 1;
select pg_typeof(trunc(starttime)) from event limit 1;`),
    ).toEqual(['2008-01-25', 'date']);
  });
});

describe('NVL, NVL2, DECODE', () => {
  // https://docs.aws.amazon.com/redshift/latest/dg/r_NVL_function.html
  it('NVL is COALESCE: examples and the mixed-type error', async () => {
    expect(await table('SELECT COALESCE(NULL, 12, NULL);')).toEqual(['coalesce', '12']);
    expect(await table("SELECT NVL(NULL, 'Amazon Redshift', NULL);")).toEqual([
      'coalesce',
      'Amazon Redshift',
    ]);
    const bad = await r.run("SELECT NVL(NULL, 'Amazon Redshift', 12);\n\\echo :ERRORCODE", {
      args: ['-A', '-t', '-q'],
    });
    // Redshift: ERROR: invalid input syntax for integer: "Amazon Redshift"
    expect(bad.stderr).toContain('invalid input syntax for type integer: "Amazon Redshift"');
    expect(bad.stdout).toBe('22P02\n');
    const t = await table(`create temp table datetable (start_date date, end_date date);
insert into datetable values ('2008-06-01','2008-12-31');
insert into datetable values (null,'2008-12-31');
insert into datetable values ('2008-12-31',null);
select nvl(start_date, end_date)
from datetable
order by 1;`);
    expect(t).toEqual(['coalesce', '2008-06-01', '2008-12-31', '2008-12-31']);
    expect(
      await lines(`create temp table booking_info (booking_id int, booking_code character(8), check_in date, check_out date, funds_collected numeric(12,2));
insert into booking_info values (1, 'OCEAN_WV', '2023-02-01','2023-02-03',100.00);
insert into booking_info values (2, 'OCEAN_WV', '2023-04-22','2023-04-26',120.00);
insert into booking_info values (3, 'DSRT_SUN', '2023-03-13','2023-03-16',125.00);
insert into booking_info values (4, 'DSRT_SUN', '2023-06-01','2023-06-03',140.00);
insert into booking_info values (5, 'DSRT_SUN', '2023-07-10',null,null);
insert into booking_info values (6, 'OCEAN_WV', '2023-08-15',null,null);
select nvl(check_out, check_in)
from booking_info
order by check_out;
select nvl(sum(funds_collected), 0.0) as sumresult from booking_info where booking_id > 100;`),
    ).toEqual(['2023-02-03', '2023-03-16', '2023-04-26', '2023-06-03', '2023-07-10', '2023-08-15', '0.0']);
  });

  // https://docs.aws.amazon.com/redshift/latest/dg/r_NVL2.html: the users example (with Redshift's + string concatenation) and the DECODE comparison
  it('NVL2 returns the second or third argument', async () => {
    expect(
      await lines(`create temp table users (firstname varchar(30), lastname varchar(30), email varchar(100), phone char(14), state char(2));
insert into users values ('Aphrodite', 'Acevedo', 'x@example.com', '(906) 632-4407', 'WA'),
  ('Caldwell', 'Acevedo', 'Nunc.sollicitudin@Duisac.ca', '(111) 111-1111', 'WA'),
  ('Quinn', 'Adams', 'vel@adipiscingligulaAenean.com', '(222) 222-2222', 'WA');
update users set email = null where firstname = 'Aphrodite' and lastname = 'Acevedo';
select (firstname + ' ' + lastname) as name,
nvl2(email, email, phone) AS contact_info
from users
where state = 'WA'
and lastname  like 'A%'
order by lastname, firstname;
select nvl2(column1, '2345', 1234) from (select null::int as column1) t;`),
    ).toEqual([
      'Aphrodite Acevedo|(906) 632-4407',
      'Caldwell Acevedo|Nunc.sollicitudin@Duisac.ca',
      'Quinn Adams|vel@adipiscingligulaAenean.com',
      '1234',
    ]);
  });

  // https://docs.aws.amazon.com/redshift/latest/dg/r_DECODE_expression.html
  it('DECODE: replacements, default, and NULL matching NULL; column "case"', async () => {
    expect(
      await table(`create temp table datetable (caldate date, month char(3));
insert into datetable select d::date, 'JUN' from generate_series('2008-06-01'::date, '2008-06-03', '1 day') d;
select decode(caldate, '2008-06-01', 'June 1st, 2008')
from datetable where month='JUN' order by caldate;`),
    ).toEqual(['case', 'June 1st, 2008', '', '']);
    expect(
      await lines(`create temp table category (catid int, catname varchar(10));
insert into category values (1,'MLB'),(2,'NHL'),(3,'NFL'),(4,'NBA'),(5,'MLS'),(6,'Musicals'),(7,'Plays'),(8,'Opera'),(9,'Pop'),(10,'Jazz'),(11,'Classical');
select catid, decode(catname,
'NHL', 'National Hockey League',
'MLB', 'Major League Baseball',
'MLS', 'Major League Soccer',
'NFL', 'National Football League',
'NBA', 'National Basketball Association',
'Unknown')
from category
order by catid;`),
    ).toEqual([
      '1|Major League Baseball',
      '2|National Hockey League',
      '3|National Football League',
      '4|National Basketball Association',
      '5|Major League Soccer',
      '6|Unknown',
      '7|Unknown',
      '8|Unknown',
      '9|Unknown',
      '10|Unknown',
      '11|Unknown',
    ]);
    expect(
      await lines(`create temp table venue (venuename varchar(100), venuestate char(2), venueseats int);
insert into venue values ('Coors Field', 'CO', 76125), ('Ballys Hotel', 'NV', null), ('Bellagio Hotel', 'NV', null);
select venuename, venuestate, decode(venueseats,null,0,1)
from venue
where venuestate in('NV','CO')
order by 2,3,1;
select decode(column1, null, 1234, '2345') from (select null::int as column1) t;`),
    ).toEqual(['Coors Field|CO|1', 'Ballys Hotel|NV|0', 'Bellagio Hotel|NV|0', '1234']);
  });
});

describe('LISTAGG', () => {
  // https://docs.aws.amazon.com/redshift/latest/dg/r_LISTAGG.html
  it('aggregates in WITHIN GROUP order, with delimiter, DISTINCT and GROUP BY', async () => {
    const byDate = await table(`${WINSALES}
select listagg(sellerid)
within group (order by dateid)
from winsales;`);
    expect(byDate[0]).toBe('listagg');
    // 31141242333 in the documentation; 2004-02-12 has two sales (sellers 2 and 4), in either order
    // ("Deterministic only if ORDER BY provides unique ordering", https://docs.aws.amazon.com/redshift/latest/dg/r_WF_LISTAGG.html)
    expect(['31141242333', '31141422333']).toContain(byDate[1]);
    expect(
      await lines(`${WINSALES}
select listagg(dateid,'|')
within group (order by sellerid desc,salesid asc)
from winsales
where buyerid  = 'b';
select buyerid,
listagg(salesid,',')
within group (order by salesid) as sales_id
from winsales
group by buyerid
order by buyerid;`),
    ).toEqual([
      '2003-08-02|2004-04-18|2004-04-18|2004-02-12',
      // the page prints a's list as here; its b and c lists are not in salesid order although the
      // query orders by salesid, so they are checked in the order the query asks for
      'a         |10005,40001,40005',
      'b         |20001,30001,30003,30004',
      'c         |10001,10006,20002,30007',
    ]);
  });

  it('DISTINCT keeps the first value encountered, ignoring trailing blanks; NULL and empty values are skipped', async () => {
    expect(
      await lines(`create temp table v (o int, x varchar(5));
insert into v values (1, 'a  '), (2, 'b'), (3, 'a'), (4, null), (5, ''), (6, 'b ');
select listagg(distinct x, ',') within group (order by o) from v;
select listagg(x, ',') within group (order by o) from v;
select listagg(x) within group (order by o) is null from v where o in (4, 5);`),
    ).toEqual(['a  ,b', 'a  ,b,a,b ', 't']);
  });

  it('fails like Redshift beyond 65535 bytes', async () => {
    const res = await r.run(
      "select listagg(repeat('x', 1000), ',') within group (order by g) from generate_series(1, 70) g;\n\\echo :ERRORCODE",
      { args: ['-A', '-t', '-q'] },
    );
    // https://docs.aws.amazon.com/redshift/latest/dg/r_LISTAGG.html: "Invalid operation: Result size exceeds LISTAGG limit"
    expect(res.stderr).toContain('Result size exceeds LISTAGG limit');
    expect(res.stdout).toBe('22001\n');
  });

  // https://docs.aws.amazon.com/redshift/latest/dg/r_WF_LISTAGG.html
  it('works as a window function over the whole partition', async () => {
    const all = await lines(`${WINSALES}
select listagg(sellerid)
within group (order by sellerid)
over() from winsales;`);
    expect(all).toEqual(Array(11).fill('11122333344'));
    expect(
      await lines(`${WINSALES}
select listagg(sellerid)
within group (order by dateid)
over () as seller
from winsales
where buyerid = 'b' ;
select listagg(dateid,',')
within group (order by sellerid desc,salesid asc)
over () as dates
from winsales
where buyerid  = 'b';
select listagg(distinct dateid,',')
within group (order by sellerid desc,salesid asc)
over () as dates
from winsales
where buyerid  = 'b';
select buyerid,
listagg(salesid,',')
within group (order by salesid)
over (partition by buyerid) as sales_id
from winsales
where buyerid = 'a'
order by buyerid;`),
    ).toEqual([
      ...Array(4).fill('3233'),
      ...Array(4).fill('2003-08-02,2004-04-18,2004-04-18,2004-02-12'),
      ...Array(4).fill('2003-08-02,2004-04-18,2004-02-12'),
      ...Array(3).fill('a         |10005,40001,40005'),
    ]);
  });
});

describe('MEDIAN and APPROXIMATE COUNT', () => {
  // https://docs.aws.amazon.com/redshift/latest/dg/r_MEDIAN.html: MEDIAN equals PERCENTILE_CONT(0.5); https://docs.aws.amazon.com/redshift/latest/dg/r_WF_MEDIAN.html: the WINSALES example
  it('MEDIAN as an aggregate equals PERCENTILE_CONT(0.5)', async () => {
    const rows = await lines(`${WINSALES}
select sellerid, qty,
percentile_cont(0.5) within group (order by qty),
median (qty)
from winsales
group by sellerid, qty
order by sellerid, qty;`);
    expect(rows.length).toBe(9);
    for (const row of rows) {
      const [, qty, pc, median] = row.split('|');
      expect(Number(pc)).toBe(Number(qty));
      expect(median).toBe(`${qty}.0`);
    }
  });

  it('MEDIAN as a window function, and its return types', async () => {
    expect(
      await lines(`${WINSALES}
select sellerid, qty, median(qty)
over (partition by sellerid)
from winsales
order by sellerid, qty;
select pg_typeof(median(qty)), pg_typeof(median(qty::float8)), pg_typeof(median(dateid)), pg_typeof(median(dateid::timestamp)) from winsales;
select median(qty_shipped) from winsales;`),
    ).toEqual([
      '1|10|10.0',
      '1|10|10.0',
      '1|30|10.0',
      '2|20|20.0',
      '2|20|20.0',
      '3|10|17.5',
      '3|15|17.5',
      '3|20|17.5',
      '3|30|17.5',
      '4|10|25.0',
      '4|40|25.0',
      'numeric|double precision|date|timestamp without time zone',
      '10.0',
    ]);
  });

  // https://docs.aws.amazon.com/redshift/latest/dg/r_COUNT.html: APPROXIMATE COUNT(DISTINCT …) "with a low relative error of around 2%"; here it is exact
  it('APPROXIMATE COUNT(DISTINCT x) counts exactly', async () => {
    const t = await table(`${WINSALES}
select approximate count(distinct qty) from winsales;`);
    expect(t).toEqual(['count', '5']);
  });
});

describe('DATEADD, DATEDIFF, DATE_PART, EXTRACT', () => {
  // https://docs.aws.amazon.com/redshift/latest/dg/r_DATEADD_function.html
  it('DATEADD: documentation examples, named date_add', async () => {
    expect(await table("select dateadd(month,18,'2008-02-28');")).toEqual([
      'date_add',
      '2009-08-28 00:00:00',
    ]);
    expect(
      await lines(`select dateadd(m,30,'2008-02-28');
select add_months('2008-04-30',1);
select dateadd(month,1,'2008-04-30');
select dateadd(month,12,'2016-02-29');
select dateadd(year, 1, '2016-02-29');
create temp table date (dateid int, caldate date, month char(5));
insert into date values (1, '2008-11-01', 'NOV'), (2, '2008-11-02', 'NOV'), (3, '2008-11-03', 'NOV');
select dateadd(day,30,caldate) as novplus30
from date
where month='NOV'
order by dateid;`),
    ).toEqual([
      '2008-02-28 00:30:00',
      '2008-05-31 00:00:00',
      '2008-05-30 00:00:00',
      '2017-02-28 00:00:00',
      '2017-03-01 00:00:00',
      '2008-12-01 00:00:00',
      '2008-12-02 00:00:00',
      '2008-12-03 00:00:00',
    ]);
  });

  it('DATEADD on TIME and TIMETZ', async () => {
    expect(
      await lines(`create temp table time_test (time_val time);
insert into time_test values ('20:00:00'), ('00:00:00.5550'), ('00:58:00');
select dateadd(minute,5,time_val) as minplus5 from time_test;
select dateadd(hour, 8, time '13:24:55');
select dateadd(hour, 12, time '13:24:55');
create temp table timetz_test (timetz_val timetz);
insert into timetz_test values ('04:00:00+00'), ('00:00:00.5550+00'), ('05:58:00+00');
select dateadd(minute,5,timetz_val) as minplus5_tz from timetz_test;
select dateadd(hour, 2, timetz '13:24:55 PST');`),
    ).toEqual([
      // the documentation prints fractional seconds with four digits (00:05:00.5550); PostgreSQL
      // prints the same value without trailing zeros
      '20:05:00',
      '00:05:00.555',
      '01:03:00',
      '21:24:55',
      '01:24:55',
      '04:05:00+00',
      '00:05:00.555+00',
      '06:03:00+00',
      '23:24:55+00',
    ]);
  });

  // https://docs.aws.amazon.com/redshift/latest/dg/r_DATEDIFF_function.html
  it('DATEDIFF: documentation examples, named date_diff', async () => {
    expect(await table("select datediff(hour, '2023-01-01', '2023-01-03 05:04:03');")).toEqual([
      'date_diff',
      '53',
    ]);
    expect(
      await lines(`select datediff(week,'2009-01-01','2009-12-31') as numweeks;
Select datediff(days, 'Jun 1,2008 09:59:59 EST', 'Jul 4,2008 09:59:59 EST') date_diff;
create temp table date_table (start_date date, end_date date);
insert into date_table values ('2009-01-01', '2009-03-23'), ('2023-01-04', '2024-05-04');
select datediff(day, start_date, end_date) as duration from date_table order by start_date;
create temp table time_test (time_val time);
insert into time_test values ('20:00:00'), ('00:00:00.5550'), ('00:58:00');
select datediff(hour, time_val, time '15:24:45') from time_test;
select datediff(minute, time '20:00:00', time '21:00:00') as nummins;
create temp table timetz_test (timetz_val timetz);
insert into timetz_test values ('04:00:00+00'), ('00:00:00.5550+00'), ('05:58:00+00');
select datediff(hours, timetz '20:00:00 PST', timetz_val) as numhours from timetz_test;
select datediff(hours, timetz '20:00:00 PST', timetz '00:58:00 EST') as numhours;`),
    ).toEqual(['52', '33', '81', '486', '-5', '15', '15', '60', '0', '-4', '1', '1']);
  });

  // https://docs.aws.amazon.com/redshift/latest/dg/r_DATEDIFF_function.html: "DATEDIFF determines the number of date part boundaries that are crossed
  // between two expressions … 12-31-2008 and 01-01-2009 … returns 1 year … 01-01-2009 8:30:00 and
  // 01-01-2009 10:00:00, the result is 2 hours." Every date part of https://docs.aws.amazon.com/redshift/latest/dg/r_Dateparts_for_datetime_functions.html,
  // each across one boundary and within one unit, and negative when the second is earlier.
  it('DATEDIFF counts boundaries for every date part', async () => {
    const cases: [string, string, string, number][] = [
      ['year', '2008-12-31', '2009-01-01', 1],
      ['y', '2008-01-01', '2008-12-31 23:59:59', 0],
      ['hour', '2009-01-01 08:30:00', '2009-01-01 10:00:00', 2],
      ['millennium', '2000-12-31', '2001-01-01', 1],
      ['mil', '2001-01-01', '2999-12-31', 0],
      ['century', '2000-12-31', '2001-01-01', 1],
      ['c', '2001-01-01', '2100-12-31', 0],
      ['decade', '2009-12-31', '2010-01-01', 1],
      ['dec', '2010-01-01', '2019-12-31', 0],
      ['quarter', '2008-03-31', '2008-04-01', 1],
      ['qtr', '2008-04-01', '2008-06-30', 0],
      ['month', '2008-01-31', '2008-02-01', 1],
      ['mon', '2008-02-01', '2008-02-29', 0],
      ['week', '2009-01-04', '2009-01-05', 1],
      ['w', '2009-01-05', '2009-01-11', 0],
      ['day', '2009-01-01 23:59:59', '2009-01-02 00:00:00', 1],
      ['d', '2009-01-02 00:00:00', '2009-01-02 23:59:59', 0],
      ['h', '2009-01-01 08:59:59', '2009-01-01 08:00:00', 0],
      ['minute', '2009-01-01 08:00:59', '2009-01-01 08:01:00', 1],
      ['m', '2009-01-01 08:01:00', '2009-01-01 08:01:59', 0],
      ['second', '2009-01-01 08:00:00.999', '2009-01-01 08:00:01', 1],
      ['s', '2009-01-01 08:00:01', '2009-01-01 08:00:01.999', 0],
      ['millisecond', '2009-01-01 08:00:00.0009', '2009-01-01 08:00:00.001', 1],
      ['ms', '2009-01-01 08:00:00.001', '2009-01-01 08:00:00.0019', 0],
      ['microsecond', '2009-01-01 08:00:00.000001', '2009-01-01 08:00:00.000002', 1],
      ['year', '2009-01-01', '2008-12-31', -1],
      ['month', '2009-03-01', '2008-12-31', -3],
    ];
    const script = cases.map(([p, a, b]) => `select datediff(${p}, '${a}', '${b}');`).join('\n');
    expect((await lines(script)).map(Number)).toEqual(cases.map((c) => c[3]));
  });

  // https://docs.aws.amazon.com/redshift/latest/dg/r_DATE_PART_function.html and https://docs.aws.amazon.com/redshift/latest/dg/r_Dateparts_for_datetime_functions.html
  it('DATE_PART: documentation examples, named pgdate_part', async () => {
    expect(await table("SELECT DATE_PART(minute, timestamp '20230104 04:05:06.789');")).toEqual([
      'pgdate_part',
      '5',
    ]);
    expect(
      await lines(`SELECT DATE_PART(week, timestamp '20220502 04:05:06.789');
SELECT DATE_PART(day, timestamp '20220502 04:05:06.789');
SELECT DATE_PART(dayofweek, timestamp '20220502 04:05:06.789');
SELECT DATE_PART(century, timestamp '20220502 04:05:06.789');
SELECT DATE_PART(millennium, timestamp '20220502 04:05:06.789');
SELECT DATE_PART(microsecond, timestamp '20220502 04:05:06.789');
SELECT DATE_PART(month, date '20220502');
create temp table listing (listid int, listtime timestamp);
insert into listing values (10, '2008-06-17 09:44:54');
SELECT date_part(w, listtime) AS weeks, listtime
FROM listing
WHERE listid=10;
SELECT date_part(dow, timestamp '2008-01-05 14:00:00');
create temp table seconds(micro timestamp);
insert into seconds values('2009-09-21 11:10:03.189717');
select extract(sec from micro) from seconds;
select date_part(sec, micro) from seconds;`),
    ).toEqual(['18', '2', '1', '21', '3', '789000', '5', '25|2008-06-17 09:44:54', '6', '3', '3.189717']);
  });

  it('EXTRACT and DATE_PART: century, decade, millennium and epoch as Redshift counts them', async () => {
    expect(
      await lines(`select extract (century from timestamp '2000-12-16 12:21:13');
select extract (century from timestamp '2001-12-16 12:21:13');
select extract(decade from timestamp '1999-02-16 20:38:40');
select extract(decade from timestamp '2000-02-16 20:38:40');
select extract(decade from timestamp '2010-02-16 20:38:40');
select extract (mil from timestamp '2000-12-16 12:21:13');
select extract (mil from timestamp '2001-12-16 12:21:13');
create temp table event (eventname varchar(200), starttime timestamp);
insert into event values ('Mamma Mia!', '2008-01-01 20:00:00'), ('Spamalot', '2008-01-02 20:00:00');
create temp table event_example
as select eventname, starttime, date_part(epoch, starttime) from event;
select "column", type from pg_table_def where tablename='event_example';
select eventname, starttime, pgdate_part from event_example order by starttime;
select eventname,
starttime,
timestamp with time zone 'epoch' + pgdate_part * interval '1 second' AS converted_timestamp
from event_example order by starttime;`),
    ).toEqual([
      '20',
      '21',
      '200',
      '201',
      '202',
      '2',
      '3',
      'eventname|character varying(200)',
      'starttime|timestamp without time zone',
      'pgdate_part|double precision',
      'Mamma Mia!|2008-01-01 20:00:00|1199217600',
      'Spamalot|2008-01-02 20:00:00|1199304000',
      'Mamma Mia!|2008-01-01 20:00:00|2008-01-01 20:00:00+00',
      'Spamalot|2008-01-02 20:00:00|2008-01-02 20:00:00+00',
    ]);
  });

  // https://docs.aws.amazon.com/redshift/latest/dg/r_EXTRACT_function.html
  it('EXTRACT: documentation examples, named date_part', async () => {
    expect(await table("select extract(minute from timestamp '2009-09-09 12:08:43');")).toEqual([
      'date_part',
      '8',
    ]);
    expect(
      await lines(`select extract(ms from timestamp '2009-09-09 12:08:43.101');
select extract(year from timestamptz '1.12.1997 07:37:16.00 PST');
create temp table time_test (time_val time);
insert into time_test values ('20:00:00'), ('00:00:00.5550'), ('00:58:00');
select extract(minute from time_val) as minutes from time_test;
select extract(hour from time_val) as hours from time_test;
select extract(ms from time '18:25:33.123456');
create temp table timetz_test (timetz_val timetz);
insert into timetz_test values ('04:00:00+00'), ('00:00:00.5550+00'), ('05:58:00+00');
select extract(hour from timetz_val) as hours from timetz_test;
select extract(ms from timetz '18:25:33.123456 EST');
select extract(timezone_hour from timetz '1.12.1997 07:37:16.00 PDT');
create temp table sales (salesid int, saletime timestamp, pricepaid numeric(8,2));
insert into sales values (159073, '2008-02-08 10:00:00', 10000), (160318, '2008-02-18 10:00:00', 12000), (1, '2008-03-01', 5);
select salesid, extract(week from saletime) as weeknum
from sales
where pricepaid > 9999
order by 2;
select pg_typeof(extract(minute from timestamp '2009-09-09 12:08:43')), pg_typeof(extract(year from timestamptz '1.12.1997 07:37:16.00 PST'));`),
    ).toEqual([
      '101',
      '1997',
      '0',
      '0',
      '58',
      '20',
      '0',
      '0',
      '123',
      '4',
      '0',
      '5',
      '123',
      '-7',
      '159073|6',
      '160318|8',
      'bigint|double precision',
    ]);
  });
});

describe('MONTHS_BETWEEN, ADD_MONTHS, LAST_DAY, NEXT_DAY, CONVERT_TIMEZONE', () => {
  // https://docs.aws.amazon.com/redshift/latest/dg/r_MONTHS_BETWEEN_function.html (the page shows month_diff with two decimals)
  it('MONTHS_BETWEEN counts 31-day months', async () => {
    expect(
      await lines(`select months_between('1969-01-18', '1969-03-18')
as months;
create temp table event (eventname varchar(200), starttime timestamp);
insert into event values
  ('.38 Special', '2008-01-21 19:30:00'), ('.38 Special', '2008-12-25 15:00:00'),
  ('3 Doors Down', '2008-01-03 15:00:00'), ('3 Doors Down', '2008-12-01 19:30:00'),
  ('70s Soul Jam', '2008-01-16 19:30:00'), ('70s Soul Jam', '2008-12-07 14:00:00'),
  ('A Bronx Tale', '2008-01-21 19:00:00'), ('A Bronx Tale', '2008-12-15 15:00:00'),
  ('A Catered Affair', '2008-01-08 19:30:00'), ('A Catered Affair', '2008-12-19 19:00:00');
select eventname,
min(starttime) as first_show,
max(starttime) as last_show,
round(months_between(max(starttime),min(starttime))::numeric, 2) as month_diff
from event
group by eventname
order by eventname
limit 5;
select months_between('2014-08-31', '2014-09-30'), months_between('2014-02-15 23:00', '2014-01-15 01:00');`),
    ).toEqual([
      '-2',
      '.38 Special|2008-01-21 19:30:00|2008-12-25 15:00:00|11.12',
      '3 Doors Down|2008-01-03 15:00:00|2008-12-01 19:30:00|10.94',
      '70s Soul Jam|2008-01-16 19:30:00|2008-12-07 14:00:00|10.70',
      'A Bronx Tale|2008-01-21 19:00:00|2008-12-15 15:00:00|10.80',
      'A Catered Affair|2008-01-08 19:30:00|2008-12-19 19:00:00|11.35',
      // "If date1 and date2 both contain the same date within a month … or the last day of the month
      // … then the result is a whole number … regardless of whether the timestamp portion matches"
      '-1|1',
    ]);
  });

  // https://docs.aws.amazon.com/redshift/latest/dg/r_ADD_MONTHS.html, https://docs.aws.amazon.com/redshift/latest/dg/r_LAST_DAY.html, https://docs.aws.amazon.com/redshift/latest/dg/r_NEXT_DAY.html
  it('ADD_MONTHS, LAST_DAY and NEXT_DAY', async () => {
    expect(
      await lines(`select add_months('2008-03-31',1);
select add_months('2008-04-30',1);
create table date (caldate date);
insert into date values ('2008-01-01'), ('2008-01-02'), ('2008-01-03');
select distinct trunc(add_months(caldate, 12)) as calplus12,
trunc(caldate) as cal
from date
order by 1 asc;
select last_day(date '2014-01-10');
select datediff(day, saletime, last_day(saletime)) as "Days Remaining" from (select timestamp '2008-02-25 10:00:00' as saletime) s;
select next_day('2014-08-20','Tuesday');
select listtime, next_day(listtime, 'Tue') from (select timestamp '2008-01-01 05:54:44' as listtime) l;
select caldate, next_day (caldate, 'Monday') as marketing_target from (values (date '2008-07-06'), (date '2008-07-03'), (date '2008-07-01')) d(caldate) order by 1;
drop table date;`),
    ).toEqual([
      '2008-04-30 00:00:00',
      '2008-05-31 00:00:00',
      '2009-01-01|2008-01-01',
      '2009-01-02|2008-01-02',
      '2009-01-03|2008-01-03',
      '2014-01-31',
      '4',
      '2014-08-26',
      '2008-01-01 05:54:44|2008-01-08',
      '2008-07-01|2008-07-07',
      '2008-07-03|2008-07-07',
      '2008-07-06|2008-07-07',
    ]);
    // every day name of the NEXT_DAY table, from Wednesday 2014-08-20; capitalization does not matter
    const names: [string, string][] = [
      ['Su', '2014-08-24'],
      ['SUN', '2014-08-24'],
      ['sunday', '2014-08-24'],
      ['M', '2014-08-25'],
      ['Mo', '2014-08-25'],
      ['Mon', '2014-08-25'],
      ['Monday', '2014-08-25'],
      ['Tu', '2014-08-26'],
      ['Tue', '2014-08-26'],
      ['Tues', '2014-08-26'],
      ['W', '2014-08-27'],
      ['We', '2014-08-27'],
      ['Wed', '2014-08-27'],
      ['Wednesday', '2014-08-27'],
      ['Th', '2014-08-21'],
      ['Thu', '2014-08-21'],
      ['Thurs', '2014-08-21'],
      ['Thursday', '2014-08-21'],
      ['F', '2014-08-22'],
      ['Fr', '2014-08-22'],
      ['Fri', '2014-08-22'],
      ['Friday', '2014-08-22'],
      ['Sa', '2014-08-23'],
      ['Sat', '2014-08-23'],
      ['Saturday', '2014-08-23'],
    ];
    expect(await lines(names.map(([n]) => `select next_day('2014-08-20', '${n}');`).join('\n'))).toEqual(
      names.map((x) => x[1]),
    );
    const bad = await r.run("select next_day('2014-08-20', 'Funday');", { args: ['-A', '-t', '-q'] });
    expect(bad.stderr).toContain('"Funday" is not a day of the week');
  });

  // https://docs.aws.amazon.com/redshift/latest/dg/CONVERT_TIMEZONE.html
  it('CONVERT_TIMEZONE with names, abbreviations and POSIX offsets', async () => {
    expect(
      await lines(`create temp table listing (listid int, listtime timestamp);
insert into listing values (16, '2008-08-24 09:36:12');
select listtime, convert_timezone('PST', listtime) from listing
where listid = 16;
select listtime, convert_timezone('US/Pacific', listtime) from listing
where listid = 16;
select convert_timezone('EST', 'PST', '20080305 12:25:29');
select convert_timezone('America/New_York', '2013-02-01 08:00:00');
select convert_timezone('America/New_York', '2013-06-01 08:00:00');
SELECT CONVERT_TIMEZONE('GMT','NEWZONE +2','2014-05-17 12:00:00') as newzone_plus_2,
CONVERT_TIMEZONE('GMT','NEWZONE-2:15','2014-05-17 12:00:00') as newzone_minus_2_15,
CONVERT_TIMEZONE('GMT','America/Los_Angeles+2','2014-05-17 12:00:00') as la_plus_2,
CONVERT_TIMEZONE('GMT','GMT+2','2014-05-17 12:00:00') as gmt_plus_2;`),
    ).toEqual([
      '2008-08-24 09:36:12|2008-08-24 01:36:12',
      '2008-08-24 09:36:12|2008-08-24 02:36:12',
      '2008-03-05 09:25:29',
      '2013-02-01 03:00:00',
      '2013-06-01 04:00:00',
      '2014-05-17 10:00:00|2014-05-17 14:15:00|2014-05-17 10:00:00|2014-05-17 10:00:00',
    ]);
  });
});

describe('LEN, CHARINDEX, STRTOL', () => {
  // https://docs.aws.amazon.com/redshift/latest/dg/r_LEN.html
  it('LEN counts characters (trailing blanks of CHAR excluded), bytes of VARBYTE', async () => {
    expect(await table("select octet_length('français'), \nlen('français');")).toEqual([
      'octet_length|len',
      '9|8',
    ]);
    expect(
      await lines(`select len('cat'), len('cat   ');
select len('aaa'::varbyte);
select len('cat   '::char(6)), len('cat   '::varchar(6));`),
    ).toEqual(['3|6', '3', '3|6']);
  });

  // https://docs.aws.amazon.com/redshift/latest/dg/r_CHARINDEX.html
  it('CHARINDEX is one-based, 0 when not found', async () => {
    expect(await table("select charindex('dog', 'fish');")).toEqual(['charindex', '0']);
    expect(
      await lines("select charindex('fish', 'dogfish');\nselect charindex('é', 'café au lait');"),
    ).toEqual(['4', '4']);
  });

  // https://docs.aws.amazon.com/redshift/latest/dg/r_STRTOL.html
  it('STRTOL converts in any base from 2 to 36', async () => {
    expect(
      await lines(`select strtol('0xf',16);
select strtol('abcd1234',16);
select strtol('1234567', 10);
select strtol('1234567', 8);
select strtol('110101', 2);
select strtol('', 2);
select strtol('  -0x1A', 16), strtol('+z', 36), strtol('12z', 10);
select strtol(null, 10) is null;`),
    ).toEqual(['15', '2882343476', '1234567', '342391', '53', '0', '-26|35|12', 't']);
    const bad = await r.run("select strtol('ffffffffffffffffff', 16);", { args: ['-A', '-t', '-q'] });
    expect(bad.stderr).toContain('out of the range of a 64-bit integer');
  });
});

describe('REGEXP_COUNT, REGEXP_INSTR, REGEXP_SUBSTR, REGEXP_REPLACE', () => {
  // https://docs.aws.amazon.com/redshift/latest/dg/REGEXP_COUNT.html (the patterns are written with '\\.' as on Redshift, where '…' takes backslash escapes)
  it('REGEXP_COUNT', async () => {
    expect(await table("SELECT regexp_count('abcdefghijklmnopqrstuvwxyz', '[a-z]{3}');")).toEqual([
      'regexp_count',
      '8',
    ]);
    expect(
      await lines(`${USERS_EMAILS}
SELECT email, regexp_count(email,'@[^.]*\\\\.(org|edu)')FROM users
ORDER BY userid LIMIT 4;
SELECT regexp_count('the fox', 'FOX', 1, 'i');
SELECT regexp_count('passwd7 plain A1234 a1234', '(?=[^ ]*[a-z])(?=[^ ]*[0-9])[^ ]+', 1, 'p');
SELECT regexp_count('passwd7 plain A1234 a1234', '(?=[^ ]*[a-z])(?=[^ ]*[0-9])[^ ]+', 1, 'ip');
SELECT regexp_count('abc', 'b', 5), regexp_count('abcb', 'b', 0);`),
    ).toEqual([
      'Etiam.laoreet.libero@sodalesMaurisblandit.edu|1',
      'Suspendisse.tristique@nonnisiAenean.edu|1',
      'amet.faucibus.ut@condimentumegetvolutpat.ca|0',
      'sed@lacusUtnec.ca|0',
      '1',
      '2',
      '3',
      '0|2',
    ]);
  });

  // https://docs.aws.amazon.com/redshift/latest/dg/REGEXP_INSTR.html
  it('REGEXP_INSTR', async () => {
    expect(
      await lines(`${USERS_EMAILS}
SELECT email, regexp_instr(email, '@[^.]*')
FROM users
ORDER BY userid LIMIT 4;
create temp table venue (venueid int, venuename varchar(100));
insert into venue values (1, 'The Home Depot Center'), (2, 'Izod Center'), (3, 'Wachovia Center'), (4, 'Air Canada Centre'), (5, 'Fenway Park');
SELECT venuename, regexp_instr(venuename,'[cC]ent(er|re)$')
FROM venue
WHERE regexp_instr(venuename,'[cC]ent(er|re)$') > 0
ORDER BY venueid LIMIT 4;
SELECT regexp_instr('the fox', 'FOX', 1, 1, 0, 'i');
SELECT regexp_instr('passwd7 plain A1234 a1234', '(?=[^ ]*[a-z])(?=[^ ]*[0-9])[^ ]+', 1, 2, 0, 'p');
SELECT regexp_instr('passwd7 plain A1234 a1234', '(?=[^ ]*[a-z])(?=[^ ]*[0-9])[^ ]+', 1, 2, 0, 'ip');
SELECT regexp_instr('the fox', 'fox', 1, 1, 1), regexp_instr('the fox', 'fox', 1, 0), regexp_instr('the fox', 'fox', 9);`),
    ).toEqual([
      'Etiam.laoreet.libero@sodalesMaurisblandit.edu|21',
      'Suspendisse.tristique@nonnisiAenean.edu|22',
      'amet.faucibus.ut@condimentumegetvolutpat.ca|17',
      'sed@lacusUtnec.ca|4',
      'The Home Depot Center|16',
      'Izod Center|6',
      'Wachovia Center|10',
      'Air Canada Centre|12',
      '5',
      '21',
      '15',
      '8|0|0',
    ]);
  });

  // https://docs.aws.amazon.com/redshift/latest/dg/REGEXP_SUBSTR.html
  it('REGEXP_SUBSTR', async () => {
    expect(
      await lines(`${USERS_EMAILS}
SELECT email, regexp_substr(email,'@[^.]*')
FROM users
ORDER BY userid LIMIT 4;
SELECT regexp_substr('the fox', 'FOX', 1, 1, 'i');
SELECT regexp_substr('THE SECRET CODE IS THE LOWERCASE PART OF 1931abc0EZ.', '[a-z]+', 1, 1, 'c');
SELECT regexp_substr('passwd7 plain A1234 a1234', '(?=[^ ]*[a-z])(?=[^ ]*[0-9])[^ ]+', 1, 2, 'p');
SELECT regexp_substr('passwd7 plain A1234 a1234', '(?=[^ ]*[a-z])(?=[^ ]*[0-9])[^ ]+', 1, 2, 'ip');
select regexp_substr(
               'This is a cat, this is a dog. This is a mouse.',
               'this is a (\\\\w+)', 1, 2, 'ie');
select regexp_substr('abc', 'b', 9) = '', regexp_substr('abc', 'b', 1, 0) is null;`),
    ).toEqual([
      'Etiam.laoreet.libero@sodalesMaurisblandit.edu|@sodalesMaurisblandit',
      'Suspendisse.tristique@nonnisiAenean.edu|@nonnisiAenean',
      'amet.faucibus.ut@condimentumegetvolutpat.ca|@condimentumegetvolutpat',
      'sed@lacusUtnec.ca|@lacusUtnec',
      'fox',
      'abc',
      'a1234',
      'A1234',
      'dog',
      't|t',
    ]);
  });

  // https://docs.aws.amazon.com/redshift/latest/dg/REGEXP_REPLACE.html
  it('REGEXP_REPLACE replaces every occurrence', async () => {
    expect(
      await lines(`${USERS_EMAILS}
SELECT email, regexp_replace(email, '@.*\\\\.(org|gov|com|edu|ca)$')
FROM users
ORDER BY userid LIMIT 4;
SELECT email, regexp_replace(email, '@.*\\\\.[[:alpha:]]{2,3}',
'@internal.company.com') FROM users
ORDER BY userid LIMIT 4;
SELECT regexp_replace('the fox', 'FOX', 'quick brown fox', 1, 'i');
SELECT regexp_replace('passwd7 plain A1234 a1234', '(?=[^ ]*[a-z])(?=[^ ]*[0-9])[^ ]+', '[hidden]', 1, 'p');
SELECT regexp_replace('passwd7 plain A1234 a1234', '(?=[^ ]*[a-z])(?=[^ ]*[0-9])[^ ]+', '[hidden]', 1, 'ip');`),
    ).toEqual([
      'Etiam.laoreet.libero@sodalesMaurisblandit.edu|Etiam.laoreet.libero',
      'Suspendisse.tristique@nonnisiAenean.edu|Suspendisse.tristique',
      'amet.faucibus.ut@condimentumegetvolutpat.ca|amet.faucibus.ut',
      'sed@lacusUtnec.ca|sed',
      'Etiam.laoreet.libero@sodalesMaurisblandit.edu|Etiam.laoreet.libero@internal.company.com',
      'Suspendisse.tristique@nonnisiAenean.edu|Suspendisse.tristique@internal.company.com',
      'amet.faucibus.ut@condimentumegetvolutpat.ca|amet.faucibus.ut@internal.company.com',
      'sed@lacusUtnec.ca|sed@internal.company.com',
      'the quick brown fox',
      '[hidden] plain A1234 [hidden]',
      '[hidden] plain [hidden] [hidden]',
    ]);
  });
});

describe('JSON_EXTRACT_PATH_TEXT', () => {
  // https://docs.aws.amazon.com/redshift/latest/dg/JSON_EXTRACT_PATH_TEXT.html
  it('takes the JSON text first, path elements after, NULL for missing paths, null_if_invalid', async () => {
    expect(
      await table(`select json_extract_path_text('{"f2":{"f3":1},"f4":{"f5":99,"f6":"star"}}','f4', 'f6');`),
    ).toEqual(['json_extract_path_text', 'star']);
    const bad = await r.run(
      `select json_extract_path_text('{"f2":{"f3":1},"f4":{"f5":99,"f6":"star"}','f4', 'f6');\n\\echo :ERROR`,
      { args: ['-A', '-t', '-q'] },
    );
    expect(bad.stderr).toContain('invalid input syntax for type json');
    expect(bad.stdout).toBe('true\n');
    expect(
      await lines(`select json_extract_path_text('{"f2":{"f3":1},"f4":{"f5":99,"f6":"star"}','f4', 'f6',true) is null;
select json_extract_path_text('{
    "farm": {
        "barn": {
            "color": "red",
            "feed stocked": true
        }
    }
}', 'farm', 'barn', 'color');
select json_extract_path_text('{
    "farm": {
        "barn": {}
    }
}', 'farm', 'barn', 'color') is null;
select json_extract_path_text('{
  "house": {
    "address": {
      "street": "123 Any St.",
      "city": "Any Town",
      "state": "FL",
      "zip": "32830"
    },
    "bathroom": {
      "color": "green",
      "shower": true
    },
    "appliances": {
      "washing machine": {
        "brand": "Any Brand",
        "color": "beige"
      },
      "dryer": {
        "brand": "Any Brand",
        "color": "white"
      }
    }
  }
}', 'house', 'appliances', 'washing machine', 'brand');
create temp table j (doc varchar(200));
insert into j values ('{"a":{"b":"x"}}'), (null), ('not json');
select json_extract_path_text(doc, 'a', 'b', true) from j order by doc nulls first;`),
    ).toEqual(['t', 'red', 't', 'Any Brand', '', '', 'x']);
  });
});
