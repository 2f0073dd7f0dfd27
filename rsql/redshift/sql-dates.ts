/**
 * Redshift's date and time functions as SQL (part of the installation script sql.ts assembles): the
 * date part names, GETDATE/SYSDATE/TRUNC, DATEADD, DATEDIFF, DATE_PART/EXTRACT, MONTHS_BETWEEN,
 * ADD_MONTHS, LAST_DAY, NEXT_DAY and CONVERT_TIMEZONE. Every function that takes a date part name
 * resolves it through `datepart()`, built from {@link DATE_PARTS}.
 */
import { HELPER_SCHEMA } from './names.js';

const S = HELPER_SCHEMA;

/** Redshift date part names and abbreviations → PostgreSQL's names (r_Dateparts_for_datetime_functions). */
export const DATE_PARTS: Readonly<Record<string, string>> = Object.freeze({
  millennium: 'millennium',
  millennia: 'millennium',
  mil: 'millennium',
  mils: 'millennium',
  century: 'century',
  centuries: 'century',
  c: 'century',
  cent: 'century',
  cents: 'century',
  decade: 'decade',
  decades: 'decade',
  dec: 'decade',
  decs: 'decade',
  epoch: 'epoch',
  year: 'year',
  years: 'year',
  y: 'year',
  yr: 'year',
  yrs: 'year',
  quarter: 'quarter',
  quarters: 'quarter',
  qtr: 'quarter',
  qtrs: 'quarter',
  month: 'month',
  months: 'month',
  mon: 'month',
  mons: 'month',
  week: 'week',
  weeks: 'week',
  w: 'week',
  dayofweek: 'dow',
  dow: 'dow',
  dw: 'dow',
  weekday: 'dow',
  dayofyear: 'doy',
  doy: 'doy',
  dy: 'doy',
  yearday: 'doy',
  day: 'day',
  days: 'day',
  d: 'day',
  hour: 'hour',
  hours: 'hour',
  h: 'hour',
  hr: 'hour',
  hrs: 'hour',
  minute: 'minute',
  minutes: 'minute',
  m: 'minute',
  min: 'minute',
  mins: 'minute',
  second: 'second',
  seconds: 'second',
  s: 'second',
  sec: 'second',
  secs: 'second',
  millisecond: 'millisecond',
  milliseconds: 'millisecond',
  ms: 'millisecond',
  msec: 'millisecond',
  msecs: 'millisecond',
  msecond: 'millisecond',
  mseconds: 'millisecond',
  millisec: 'millisecond',
  millisecs: 'millisecond',
  millisecon: 'millisecond',
  microsecond: 'microsecond',
  microseconds: 'microsecond',
  microsec: 'microsecond',
  microsecs: 'microsecond',
  usecond: 'microsecond',
  useconds: 'microsecond',
  us: 'microsecond',
  usec: 'microsecond',
  usecs: 'microsecond',
  timezone: 'timezone',
  timezone_hour: 'timezone_hour',
  timezone_minute: 'timezone_minute',
  // PostgreSQL's own names, accepted too
  isodow: 'isodow',
  isoyear: 'isoyear',
  julian: 'julian',
});

/** `datepart(part)`: a Redshift date part name or abbreviation → PostgreSQL's (fails on an unknown one). */
export function datePartFunction(): string {
  const whens = Object.entries(DATE_PARTS)
    .map(([k, v]) => `WHEN '${k}' THEN '${v}'`)
    .join(' ');
  return `
CREATE OR REPLACE FUNCTION ${S}.datepart(part text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE r text := CASE lower(btrim(part)) ${whens} END;
BEGIN
  IF r IS NULL THEN
    RAISE EXCEPTION 'date part "%" is not recognized', part USING ERRCODE = '22023',
      HINT = 'Use a Redshift date part: year, quarter, month, week, day, hour, minute, second, millisecond, microsecond (or an abbreviation).';
  END IF;
  RETURN r;
END $fn$;`;
}

/** GETDATE, SYSDATE and TRUNC(timestamp). */
export function dateBasicsSql(): string {
  return `
------------------------------------------------------------------------------------------------------
-- GETDATE, SYSDATE (the runner rewrites bare SYSDATE), TRUNC(timestamp)
------------------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION pg_catalog.getdate() RETURNS timestamp
LANGUAGE sql STABLE PARALLEL SAFE AS $fn$ SELECT date_trunc('second', statement_timestamp())::pg_catalog.timestamp $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.sysdate() RETURNS timestamp
LANGUAGE sql STABLE PARALLEL SAFE AS $fn$ SELECT transaction_timestamp()::pg_catalog.timestamp $fn$;

CREATE OR REPLACE FUNCTION pg_catalog.trunc(ts timestamp) RETURNS date
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$ SELECT ts::pg_catalog.date $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.trunc(ts timestamptz) RETURNS date
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $fn$ SELECT ts::pg_catalog.date $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.trunc(d date) RETURNS date
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$ SELECT d $fn$;`;
}

/** DATEADD, DATEDIFF, DATE_PART/EXTRACT, MONTHS_BETWEEN, ADD_MONTHS, LAST_DAY, NEXT_DAY, CONVERT_TIMEZONE. */
export function dateArithmeticSql(): string {
  return `
------------------------------------------------------------------------------------------------------
-- DATEADD / DATE_ADD
------------------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION ${S}.dateadd_ts(part text, n bigint, ts timestamp) RETURNS timestamp
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE p text := ${S}.datepart(part);
BEGIN
  CASE p
    WHEN 'year', 'decade', 'century', 'millennium' THEN
      -- Redshift keeps month and day and lets 02-29 roll over: dateadd(year, 1, '2016-02-29') = 2017-03-01
      RETURN date_trunc('month', ts)
        + make_interval(years => (n * CASE p WHEN 'year' THEN 1 WHEN 'decade' THEN 10 WHEN 'century' THEN 100 ELSE 1000 END)::int)
        + (ts - date_trunc('month', ts));
    WHEN 'quarter' THEN RETURN ts + make_interval(months => (n * 3)::int);
    WHEN 'month' THEN RETURN ts + make_interval(months => n::int);
    WHEN 'week' THEN RETURN ts + make_interval(days => (n * 7)::int);
    WHEN 'day' THEN RETURN ts + make_interval(days => n::int);
    WHEN 'hour' THEN RETURN ts + n * interval '1 hour';
    WHEN 'minute' THEN RETURN ts + n * interval '1 minute';
    WHEN 'second' THEN RETURN ts + n * interval '1 second';
    WHEN 'millisecond' THEN RETURN ts + n * interval '1 millisecond';
    WHEN 'microsecond' THEN RETURN ts + n * interval '1 microsecond';
    ELSE PERFORM ${S}.fail(format('DATEADD: date part "%s" is not supported', part));
  END CASE;
  RETURN NULL;
END $fn$;

CREATE OR REPLACE FUNCTION ${S}.dateadd_time(part text, n bigint, t time) RETURNS time
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE p text := ${S}.datepart(part);
BEGIN
  CASE p
    WHEN 'hour' THEN RETURN t + n * interval '1 hour';
    WHEN 'minute' THEN RETURN t + n * interval '1 minute';
    WHEN 'second' THEN RETURN t + n * interval '1 second';
    WHEN 'millisecond' THEN RETURN t + n * interval '1 millisecond';
    WHEN 'microsecond' THEN RETURN t + n * interval '1 microsecond';
    ELSE PERFORM ${S}.fail(format('DATEADD: date part "%s" is not valid for a TIME value', part));
  END CASE;
  RETURN NULL;
END $fn$;

CREATE OR REPLACE FUNCTION ${S}.dateadd_timetz(part text, n bigint, t timetz) RETURNS timetz
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE AS $fn$
DECLARE p text := ${S}.datepart(part);
DECLARE lt timetz := timezone(current_setting('TimeZone'), t);
BEGIN
  CASE p
    WHEN 'hour' THEN RETURN lt + n * interval '1 hour';
    WHEN 'minute' THEN RETURN lt + n * interval '1 minute';
    WHEN 'second' THEN RETURN lt + n * interval '1 second';
    WHEN 'millisecond' THEN RETURN lt + n * interval '1 millisecond';
    WHEN 'microsecond' THEN RETURN lt + n * interval '1 microsecond';
    ELSE PERFORM ${S}.fail(format('DATEADD: date part "%s" is not valid for a TIMETZ value', part));
  END CASE;
  RETURN NULL;
END $fn$;

${['dateadd', 'date_add']
  .map(
    (name) => `
CREATE OR REPLACE FUNCTION pg_catalog.${name}(part text, n bigint, ts timestamp) RETURNS timestamp
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$ SELECT ${S}.dateadd_ts(part, n, ts) $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.${name}(part text, n bigint, d date) RETURNS timestamp
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$ SELECT ${S}.dateadd_ts(part, n, d::pg_catalog.timestamp) $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.${name}(part text, n bigint, ts text) RETURNS timestamp
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $fn$ SELECT ${S}.dateadd_ts(part, n, ts::pg_catalog.timestamp) $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.${name}(part text, n bigint, ts timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $fn$ SELECT ${S}.dateadd_ts(part, n, ts::pg_catalog.timestamp)::timestamptz $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.${name}(part text, n bigint, t time) RETURNS time
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$ SELECT ${S}.dateadd_time(part, n, t) $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.${name}(part text, n bigint, t timetz) RETURNS timetz
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $fn$ SELECT ${S}.dateadd_timetz(part, n, t) $fn$;`,
  )
  .join('\n')}

------------------------------------------------------------------------------------------------------
-- DATEDIFF / DATE_DIFF: the number of date part boundaries crossed
------------------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION ${S}.datediff_ts(part text, a timestamp, b timestamp) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE p text := ${S}.datepart(part);
BEGIN
  CASE p
    WHEN 'millennium' THEN RETURN extract(millennium FROM b) - extract(millennium FROM a);
    WHEN 'century' THEN RETURN extract(century FROM b) - extract(century FROM a);
    WHEN 'decade' THEN RETURN floor(extract(year FROM b) / 10) - floor(extract(year FROM a) / 10);
    WHEN 'year' THEN RETURN extract(year FROM b) - extract(year FROM a);
    WHEN 'quarter' THEN
      RETURN (extract(year FROM b) * 4 + extract(quarter FROM b)) - (extract(year FROM a) * 4 + extract(quarter FROM a));
    WHEN 'month' THEN
      RETURN (extract(year FROM b) * 12 + extract(month FROM b)) - (extract(year FROM a) * 12 + extract(month FROM a));
    WHEN 'week' THEN RETURN (date_trunc('week', b)::pg_catalog.date - date_trunc('week', a)::pg_catalog.date) / 7;
    WHEN 'day' THEN RETURN b::pg_catalog.date - a::pg_catalog.date;
    WHEN 'hour' THEN RETURN extract(epoch FROM date_trunc('hour', b) - date_trunc('hour', a)) / 3600;
    WHEN 'minute' THEN RETURN extract(epoch FROM date_trunc('minute', b) - date_trunc('minute', a)) / 60;
    WHEN 'second' THEN RETURN extract(epoch FROM date_trunc('second', b) - date_trunc('second', a));
    WHEN 'millisecond' THEN
      RETURN extract(epoch FROM date_trunc('milliseconds', b) - date_trunc('milliseconds', a)) * 1000;
    WHEN 'microsecond' THEN RETURN extract(epoch FROM b - a) * 1000000;
    ELSE PERFORM ${S}.fail(format('DATEDIFF: date part "%s" is not supported', part));
  END CASE;
  RETURN NULL;
END $fn$;

CREATE OR REPLACE FUNCTION ${S}.datediff_time(part text, a time, b time) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE p text := ${S}.datepart(part);
BEGIN
  CASE p
    WHEN 'hour' THEN RETURN extract(hour FROM b) - extract(hour FROM a);
    WHEN 'minute' THEN RETURN (extract(hour FROM b) * 60 + extract(minute FROM b)) - (extract(hour FROM a) * 60 + extract(minute FROM a));
    WHEN 'second' THEN RETURN floor(extract(epoch FROM b)) - floor(extract(epoch FROM a));
    WHEN 'millisecond' THEN RETURN floor(extract(epoch FROM b) * 1000) - floor(extract(epoch FROM a) * 1000);
    WHEN 'microsecond' THEN RETURN extract(epoch FROM b - a) * 1000000;
    ELSE PERFORM ${S}.fail(format('DATEDIFF: date part "%s" is not valid for TIME values', part));
  END CASE;
  RETURN NULL;
END $fn$;

${['datediff', 'date_diff']
  .map(
    (name) => `
CREATE OR REPLACE FUNCTION pg_catalog.${name}(part text, a timestamp, b timestamp) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$ SELECT ${S}.datediff_ts(part, a, b) $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.${name}(part text, a date, b date) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$ SELECT ${S}.datediff_ts(part, a::pg_catalog.timestamp, b::pg_catalog.timestamp) $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.${name}(part text, a text, b text) RETURNS bigint
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $fn$ SELECT ${S}.datediff_ts(part, a::pg_catalog.timestamp, b::pg_catalog.timestamp) $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.${name}(part text, a timestamptz, b timestamptz) RETURNS bigint
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $fn$ SELECT ${S}.datediff_ts(part, a::pg_catalog.timestamp, b::pg_catalog.timestamp) $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.${name}(part text, a time, b time) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$ SELECT ${S}.datediff_time(part, a, b) $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.${name}(part text, a timetz, b timetz) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
SELECT ${S}.datediff_time(part, (a AT TIME ZONE 'UTC')::pg_catalog.time, (b AT TIME ZONE 'UTC')::pg_catalog.time) $fn$;`,
  )
  .join('\n')}

------------------------------------------------------------------------------------------------------
-- DATE_PART / PGDATE_PART (double precision, the whole seconds) and EXTRACT (the runner rewrites
-- EXTRACT(part FROM x) to date_part('part', x, true): integers, the part alone)
------------------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION ${S}.pgdate_part_ts(part text, ts timestamp) RETURNS double precision
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE p text := ${S}.datepart(part);
BEGIN
  CASE p
    WHEN 'decade' THEN RETURN floor(extract(year FROM ts) / 10) + 1;
    WHEN 'millisecond' THEN RETURN extract(microseconds FROM ts)::numeric % 1000000 / 1000;
    WHEN 'microsecond' THEN RETURN extract(microseconds FROM ts)::numeric % 1000000;
    ELSE RETURN date_part(p, ts);
  END CASE;
END $fn$;

CREATE OR REPLACE FUNCTION ${S}.extract_ts(part text, ts timestamp) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE p text := ${S}.datepart(part);
BEGIN
  CASE p
    WHEN 'decade' THEN RETURN floor(extract(year FROM ts) / 10) + 1;
    WHEN 'second' THEN RETURN floor(extract(second FROM ts));
    WHEN 'millisecond' THEN RETURN floor((extract(microseconds FROM ts)::numeric % 1000000) / 1000);
    WHEN 'microsecond' THEN RETURN extract(microseconds FROM ts)::numeric % 1000000;
    ELSE RETURN floor(date_part(p, ts));
  END CASE;
END $fn$;

${(['time', 'timetz'] as const)
  .map(
    (typ) => `CREATE OR REPLACE FUNCTION ${S}.extract_${typ}(part text, t ${typ}) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE p text := ${S}.datepart(part);
BEGIN
  CASE p
    WHEN 'second' THEN RETURN floor(extract(second FROM t));
    WHEN 'millisecond' THEN RETURN floor((extract(microseconds FROM t)::numeric % 1000000) / 1000);
    WHEN 'microsecond' THEN RETURN extract(microseconds FROM t)::numeric % 1000000;
    ELSE RETURN floor(date_part(p, t));
  END CASE;
END $fn$;
`,
  )
  .join('\n')}
CREATE OR REPLACE FUNCTION pg_catalog.pgdate_part(part text, ts timestamp) RETURNS double precision
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$ SELECT ${S}.pgdate_part_ts(part, ts) $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.pgdate_part(part text, d date) RETURNS double precision
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$ SELECT ${S}.pgdate_part_ts(part, d::pg_catalog.timestamp) $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.pgdate_part(part text, ts text) RETURNS double precision
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $fn$ SELECT ${S}.pgdate_part_ts(part, ts::pg_catalog.timestamp) $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.pgdate_part(part text, ts timestamptz) RETURNS double precision
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $fn$
SELECT CASE ${S}.datepart(part) WHEN 'epoch' THEN date_part('epoch', ts)
  WHEN 'timezone' THEN date_part('timezone', ts) WHEN 'timezone_hour' THEN date_part('timezone_hour', ts)
  WHEN 'timezone_minute' THEN date_part('timezone_minute', ts)
  ELSE ${S}.pgdate_part_ts(part, ts::pg_catalog.timestamp) END $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.pgdate_part(part text, t time) RETURNS double precision
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$ SELECT date_part(${S}.datepart(part), t) $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.pgdate_part(part text, t timetz) RETURNS double precision
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$ SELECT date_part(${S}.datepart(part), t) $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.pgdate_part(part text, i interval) RETURNS double precision
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$ SELECT date_part(${S}.datepart(part), i) $fn$;

-- EXTRACT: the third argument only tells these apart from PostgreSQL's date_part (result column "date_part")
CREATE OR REPLACE FUNCTION pg_catalog.date_part(part text, ts timestamp, redshift_extract boolean) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$ SELECT ${S}.extract_ts(part, ts) $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.date_part(part text, d date, redshift_extract boolean) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$ SELECT ${S}.extract_ts(part, d::pg_catalog.timestamp) $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.date_part(part text, ts text, redshift_extract boolean) RETURNS bigint
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $fn$ SELECT ${S}.extract_ts(part, ts::pg_catalog.timestamp) $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.date_part(part text, ts timestamptz, redshift_extract boolean) RETURNS double precision
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $fn$
SELECT CASE WHEN ${S}.datepart(part) IN ('epoch', 'timezone', 'timezone_hour', 'timezone_minute')
  THEN date_part(${S}.datepart(part), ts) ELSE ${S}.extract_ts(part, ts::pg_catalog.timestamp) END $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.date_part(part text, t time, redshift_extract boolean) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$ SELECT ${S}.extract_time(part, t) $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.date_part(part text, t timetz, redshift_extract boolean) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$ SELECT ${S}.extract_timetz(part, t) $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.date_part(part text, i interval, redshift_extract boolean) RETURNS double precision
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$ SELECT date_part(${S}.datepart(part), i) $fn$;

------------------------------------------------------------------------------------------------------
-- MONTHS_BETWEEN, ADD_MONTHS, LAST_DAY, NEXT_DAY
------------------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION ${S}.months_between(a timestamp, b timestamp) RETURNS double precision
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
SELECT CASE
  WHEN extract(day FROM a) = extract(day FROM b)
    OR (a::pg_catalog.date = (date_trunc('month', a) + interval '1 month - 1 day')::pg_catalog.date
        AND b::pg_catalog.date = (date_trunc('month', b) + interval '1 month - 1 day')::pg_catalog.date)
  THEN ((extract(year FROM a) * 12 + extract(month FROM a)) - (extract(year FROM b) * 12 + extract(month FROM b)))::double precision
  ELSE ((extract(year FROM a) * 12 + extract(month FROM a)) - (extract(year FROM b) * 12 + extract(month FROM b))
        + ((extract(day FROM a) - extract(day FROM b))
           + (extract(epoch FROM a::pg_catalog.time) - extract(epoch FROM b::pg_catalog.time)) / 86400) / 31)::double precision
END $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.months_between(a timestamp, b timestamp) RETURNS double precision
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$ SELECT ${S}.months_between(a, b) $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.months_between(a date, b date) RETURNS double precision
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$ SELECT ${S}.months_between(a::pg_catalog.timestamp, b::pg_catalog.timestamp) $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.months_between(a text, b text) RETURNS double precision
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $fn$ SELECT ${S}.months_between(a::pg_catalog.timestamp, b::pg_catalog.timestamp) $fn$;

CREATE OR REPLACE FUNCTION ${S}.add_months(ts timestamp, n bigint) RETURNS timestamp
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
SELECT CASE WHEN ts::pg_catalog.date = (date_trunc('month', ts) + interval '1 month - 1 day')::pg_catalog.date
  THEN (date_trunc('month', ts + make_interval(months => n::int)) + interval '1 month - 1 day')::pg_catalog.date + ts::pg_catalog.time
  ELSE ts + make_interval(months => n::int) END $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.add_months(ts timestamp, n bigint) RETURNS timestamp
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$ SELECT ${S}.add_months(ts, n) $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.add_months(d date, n bigint) RETURNS timestamp
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$ SELECT ${S}.add_months(d::pg_catalog.timestamp, n) $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.add_months(ts text, n bigint) RETURNS timestamp
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $fn$ SELECT ${S}.add_months(ts::pg_catalog.timestamp, n) $fn$;

CREATE OR REPLACE FUNCTION pg_catalog.last_day(ts timestamp) RETURNS date
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$ SELECT (date_trunc('month', ts) + interval '1 month - 1 day')::pg_catalog.date $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.last_day(d date) RETURNS date
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$ SELECT (date_trunc('month', d::pg_catalog.timestamp) + interval '1 month - 1 day')::pg_catalog.date $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.last_day(ts text) RETURNS date
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $fn$ SELECT (date_trunc('month', ts::pg_catalog.timestamp) + interval '1 month - 1 day')::pg_catalog.date $fn$;

CREATE OR REPLACE FUNCTION ${S}.weekday_number(day text) RETURNS int
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE r int := CASE lower(btrim(day))
  WHEN 'su' THEN 0 WHEN 'sun' THEN 0 WHEN 'sunday' THEN 0
  WHEN 'm' THEN 1 WHEN 'mo' THEN 1 WHEN 'mon' THEN 1 WHEN 'monday' THEN 1
  WHEN 'tu' THEN 2 WHEN 'tue' THEN 2 WHEN 'tues' THEN 2 WHEN 'tuesday' THEN 2
  WHEN 'w' THEN 3 WHEN 'we' THEN 3 WHEN 'wed' THEN 3 WHEN 'wednesday' THEN 3
  WHEN 'th' THEN 4 WHEN 'thu' THEN 4 WHEN 'thurs' THEN 4 WHEN 'thursday' THEN 4
  WHEN 'f' THEN 5 WHEN 'fr' THEN 5 WHEN 'fri' THEN 5 WHEN 'friday' THEN 5
  WHEN 'sa' THEN 6 WHEN 'sat' THEN 6 WHEN 'saturday' THEN 6 END;
BEGIN
  IF r IS NULL THEN
    RAISE EXCEPTION 'NEXT_DAY: "%" is not a day of the week', day USING ERRCODE = '22023';
  END IF;
  RETURN r;
END $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.next_day(d date, day text) RETURNS date
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
SELECT d + (((${S}.weekday_number(day) - extract(dow FROM d)::int + 6) % 7) + 1) $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.next_day(ts timestamp, day text) RETURNS date
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$ SELECT pg_catalog.next_day(ts::pg_catalog.date, day) $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.next_day(ts text, day text) RETURNS date
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $fn$ SELECT pg_catalog.next_day(ts::pg_catalog.timestamp::pg_catalog.date, day) $fn$;

------------------------------------------------------------------------------------------------------
-- CONVERT_TIMEZONE
------------------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION pg_catalog.convert_timezone(source_tz text, target_tz text, ts timestamp) RETURNS timestamp
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $fn$ SELECT (ts AT TIME ZONE source_tz) AT TIME ZONE target_tz $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.convert_timezone(source_tz text, target_tz text, ts text) RETURNS timestamp
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $fn$ SELECT (ts::pg_catalog.timestamp AT TIME ZONE source_tz) AT TIME ZONE target_tz $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.convert_timezone(target_tz text, ts timestamp) RETURNS timestamp
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $fn$ SELECT (ts AT TIME ZONE 'UTC') AT TIME ZONE target_tz $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.convert_timezone(target_tz text, ts text) RETURNS timestamp
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $fn$ SELECT (ts::pg_catalog.timestamp AT TIME ZONE 'UTC') AT TIME ZONE target_tz $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.convert_timezone(target_tz text, ts timestamptz) RETURNS timestamp
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $fn$ SELECT ts AT TIME ZONE target_tz $fn$;`;
}
