/**
 * The SQL that gives a PostgreSQL database Amazon Redshift's functions, types and system views (the
 * installed half of the Redshift dialect; the runner's token rewrites in rewrite.ts are the other half).
 * Installed by install.ts; README "Redshift functions, types and system views" lists every object with
 * its Redshift reference page and what differs.
 *
 * Where things go: what Redshift has as built-ins goes into `pg_catalog`, so that it is found whatever
 * the `search_path` (Redshift scripts set theirs freely) and also inside functions and procedures,
 * whose bodies the runner never rewrites. Helpers, and the Redshift versions of functions PostgreSQL
 * already has with the same arguments (REGEXP_*), live in schema `rsqlo_redshift`; the runner's
 * rewrite calls those by their qualified name, which keeps the result column's name.
 *
 * Every statement is re-runnable (CREATE OR REPLACE, IF NOT EXISTS), so an upgrade replaces objects in
 * place and never drops what a user's views or tables depend on.
 */
import { LOAD_ERRORS_SQL, LOAD_ERRORS_VIEW } from '../s3/load-errors.js';
import { HELPER_SCHEMA } from './names.js';

export { HELPER_SCHEMA };

/** Marker put in the comment of every object installed in pg_catalog (how an upgrade finds stale ones). */
export const OBJECT_MARKER = 'rsqlo: Redshift compatibility';

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

const S = HELPER_SCHEMA;

function datePartFunction(): string {
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

/** DECODE(expr, search, result [, search, result]… [, default]) as functions, for code the runner does not rewrite. */
function decodeFunctions(): string {
  const out: string[] = [];
  // results of any (common) type; text results and text searches so that calls with literals resolve
  for (const [key, result] of [
    ['anyelement', 'anycompatible'],
    ['anyelement', 'text'],
    ['text', 'text'],
  ] as const) {
    for (let pairs = 1; pairs <= 10; pairs++) {
      for (const withDefault of [false, true]) {
        const args = [`e ${key}`];
        const whens: string[] = [];
        for (let i = 1; i <= pairs; i++) {
          args.push(`s${i} ${key}`, `r${i} ${result}`);
          whens.push(`WHEN e IS NOT DISTINCT FROM s${i} THEN r${i}`);
        }
        if (withDefault) args.push(`d ${result}`);
        out.push(
          `CREATE OR REPLACE FUNCTION pg_catalog.decode(${args.join(', ')}) RETURNS ${result}
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$ SELECT CASE ${whens.join(' ')}${withDefault ? ' ELSE d' : ''} END $fn$;`,
        );
      }
    }
  }
  return out.join('\n');
}

function nvlFunctions(): string {
  const out: string[] = [];
  for (const t of ['anycompatible', 'text']) {
    for (let n = 2; n <= 8; n++) {
      const names = Array.from({ length: n }, (_, i) => `a${i + 1}`);
      out.push(
        `CREATE OR REPLACE FUNCTION pg_catalog.nvl(${names.map((x) => `${x} ${t}`).join(', ')}) RETURNS ${t}
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$ SELECT COALESCE(${names.join(', ')}) $fn$;`,
      );
    }
  }
  return out.join('\n');
}

function jsonExtractPathFunctions(): string {
  const out: string[] = [];
  for (let n = 1; n <= 5; n++) {
    const paths = Array.from({ length: n }, (_, i) => `p${i + 1} text`);
    const names = Array.from({ length: n }, (_, i) => `p${i + 1}`);
    out.push(`CREATE OR REPLACE FUNCTION pg_catalog.json_extract_path_text(j text, ${paths.join(', ')}, null_if_invalid boolean) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $fn$
DECLARE doc json;
BEGIN
  IF j IS NULL THEN RETURN NULL; END IF;
  BEGIN
    doc := j::json;
  EXCEPTION WHEN invalid_text_representation THEN
    IF null_if_invalid THEN RETURN NULL; END IF;
    RAISE;
  END;
  RETURN pg_catalog.json_extract_path_text(doc, ${names.join(', ')});
END $fn$;`);
  }
  return out.join('\n');
}

/**
 * The whole installation script. `version` is recorded in pg_catalog.rsqlo_redshift_compat_version()
 * (install.ts compares it before installing).
 */
export function redshiftCompatSql(version: string): string {
  return String.raw`
CREATE SCHEMA IF NOT EXISTS ${S};
COMMENT ON SCHEMA ${S} IS 'rsqlo: helpers of the Redshift compatibility functions (see pg_catalog.rsqlo_redshift_compat_version())';
GRANT USAGE ON SCHEMA ${S} TO PUBLIC;

${datePartFunction()}

CREATE OR REPLACE FUNCTION ${S}.fail(message text) RETURNS void
LANGUAGE plpgsql AS $fn$ BEGIN RAISE EXCEPTION '%', message USING ERRCODE = '22023'; END $fn$;

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
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$ SELECT d $fn$;

------------------------------------------------------------------------------------------------------
-- NVL (the runner rewrites it to COALESCE), NVL2, DECODE (the runner rewrites it to CASE)
------------------------------------------------------------------------------------------------------
${nvlFunctions()}

CREATE OR REPLACE FUNCTION pg_catalog.nvl2(e anyelement, not_null_value anycompatible, null_value anycompatible)
RETURNS anycompatible LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
SELECT CASE WHEN e IS NOT NULL THEN not_null_value ELSE null_value END $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.nvl2(e anyelement, not_null_value text, null_value text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
SELECT CASE WHEN e IS NOT NULL THEN not_null_value ELSE null_value END $fn$;

${decodeFunctions()}

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
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $fn$ SELECT ts AT TIME ZONE target_tz $fn$;

------------------------------------------------------------------------------------------------------
-- LEN, CHARINDEX, STRTOL
------------------------------------------------------------------------------------------------------
-- VARBYTE (as bytea) and Redshift's string concatenation with + (the NVL2 example uses it)
DO $do$ BEGIN
  IF to_regtype('pg_catalog.varbyte') IS NULL THEN
    CREATE DOMAIN pg_catalog.varbyte AS bytea;
  END IF;
  IF to_regoperator('pg_catalog.+(text,text)') IS NULL THEN
    CREATE OPERATOR pg_catalog.+ (LEFTARG = text, RIGHTARG = text, FUNCTION = pg_catalog.textcat);
  END IF;
END $do$;

CREATE OR REPLACE FUNCTION pg_catalog.len(s text) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$ SELECT length(s) $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.len(s bpchar) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$ SELECT length(s) $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.len(b bytea) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$ SELECT octet_length(b) $fn$;

CREATE OR REPLACE FUNCTION pg_catalog.charindex(sub text, str text) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$ SELECT strpos(str, sub) $fn$;

CREATE OR REPLACE FUNCTION pg_catalog.strtol(num_string text, base integer) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE
  i int := 1;
  n int := length(num_string);
  neg boolean := false;
  acc numeric := 0;
  c text;
  v int;
BEGIN
  IF base < 2 OR base > 36 THEN
    RAISE EXCEPTION 'STRTOL: base % is out of range (2 to 36)', base USING ERRCODE = '22023';
  END IF;
  WHILE i <= n AND substr(num_string, i, 1) IN (' ', chr(9), chr(10), chr(11), chr(12), chr(13)) LOOP i := i + 1; END LOOP;
  IF i <= n AND substr(num_string, i, 1) IN ('+', '-') THEN
    neg := substr(num_string, i, 1) = '-';
    i := i + 1;
  END IF;
  IF base = 16 AND lower(substr(num_string, i, 2)) = '0x' THEN i := i + 2; END IF;
  WHILE i <= n LOOP
    c := lower(substr(num_string, i, 1));
    v := CASE WHEN c BETWEEN '0' AND '9' THEN ascii(c) - 48 WHEN c BETWEEN 'a' AND 'z' THEN ascii(c) - 87 ELSE 99 END;
    EXIT WHEN v >= base;
    acc := acc * base + v;
    i := i + 1;
  END LOOP;
  IF neg THEN acc := -acc; END IF;
  IF acc > 9223372036854775807 OR acc < -9223372036854775808 THEN
    RAISE EXCEPTION 'STRTOL: "%" is out of the range of a 64-bit integer', num_string USING ERRCODE = '22003';
  END IF;
  RETURN acc::bigint;
END $fn$;

------------------------------------------------------------------------------------------------------
-- REGEXP_COUNT / REGEXP_INSTR / REGEXP_SUBSTR / REGEXP_REPLACE with Redshift's arguments (PostgreSQL's
-- functions of the same names differ: no 'p'/'e' parameters, position checks, replace-all). Arguments
-- handed to PostgreSQL's functions are clamped even in branches CASE does not take: the planner folds
-- constant calls before CASE chooses. Function bodies are parsed when called, under the caller's
-- standard_conforming_strings (off in the runner, as on Redshift): no backslash outside E'…'.
------------------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION ${S}.regexp_flags(parameters text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $fn$
DECLARE out text := ''; ch text;
BEGIN
  FOREACH ch IN ARRAY regexp_split_to_array(coalesce(parameters, ''), '') LOOP
    CASE ch
      WHEN 'c', 'i' THEN out := out || ch;
      WHEN 'p', 'e' THEN NULL; -- PCRE: PostgreSQL's advanced regular expressions cover look-ahead, \d, \w …
      ELSE RAISE EXCEPTION 'invalid regular expression parameter "%"', ch USING ERRCODE = '22023';
    END CASE;
  END LOOP;
  RETURN out;
END $fn$;

CREATE OR REPLACE FUNCTION ${S}.regexp_has_group(pattern text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
SELECT pattern ~ E'(^|[^\\\\])(\\\\\\\\)*\\((?!\\?)' $fn$;

CREATE OR REPLACE FUNCTION ${S}.regexp_count(source_string text, pattern text, "position" integer DEFAULT 1, parameters text DEFAULT 'c')
RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
SELECT CASE
  WHEN source_string IS NULL OR pattern IS NULL THEN NULL
  WHEN greatest(coalesce("position", 1), 1) > length(source_string) THEN 0
  ELSE pg_catalog.regexp_count(source_string, pattern, greatest(coalesce("position", 1), 1), ${S}.regexp_flags(parameters))
END $fn$;

CREATE OR REPLACE FUNCTION ${S}.regexp_instr(source_string text, pattern text, "position" integer DEFAULT 1,
  occurrence integer DEFAULT 1, option integer DEFAULT 0, parameters text DEFAULT 'c')
RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
SELECT CASE
  WHEN source_string IS NULL OR pattern IS NULL THEN NULL
  WHEN greatest(coalesce("position", 1), 1) > length(source_string) THEN 0
  WHEN coalesce(occurrence, 1) < 1 OR coalesce(occurrence, 1) > length(source_string) THEN 0
  ELSE pg_catalog.regexp_instr(source_string, pattern, greatest(coalesce("position", 1), 1), greatest(coalesce(occurrence, 1), 1),
    CASE WHEN coalesce(option, 0) <> 0 THEN 1 ELSE 0 END, ${S}.regexp_flags(parameters),
    CASE WHEN strpos(coalesce(parameters, ''), 'e') > 0 AND ${S}.regexp_has_group(pattern) THEN 1 ELSE 0 END)
END $fn$;

CREATE OR REPLACE FUNCTION ${S}.regexp_substr(source_string text, pattern text, "position" integer DEFAULT 1,
  occurrence integer DEFAULT 1, parameters text DEFAULT 'c')
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
SELECT CASE
  WHEN source_string IS NULL OR pattern IS NULL THEN NULL
  WHEN greatest(coalesce("position", 1), 1) > length(source_string) THEN ''
  WHEN coalesce(occurrence, 1) < 1 OR coalesce(occurrence, 1) > length(source_string) THEN NULL
  ELSE pg_catalog.regexp_substr(source_string, pattern, greatest(coalesce("position", 1), 1), greatest(coalesce(occurrence, 1), 1),
    ${S}.regexp_flags(parameters),
    CASE WHEN strpos(coalesce(parameters, ''), 'e') > 0 AND ${S}.regexp_has_group(pattern) THEN 1 ELSE 0 END)
END $fn$;

CREATE OR REPLACE FUNCTION ${S}.regexp_replace(source_string text, pattern text, replace_string text DEFAULT '',
  "position" integer DEFAULT 1, parameters text DEFAULT 'c')
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
SELECT CASE
  WHEN source_string IS NULL OR pattern IS NULL OR replace_string IS NULL THEN NULL
  WHEN greatest(coalesce("position", 1), 1) > length(source_string) THEN source_string
  ELSE pg_catalog.regexp_replace(source_string, pattern, replace_string, greatest(coalesce("position", 1), 1), 0,
    ${S}.regexp_flags(parameters))
END $fn$;

------------------------------------------------------------------------------------------------------
-- JSON_EXTRACT_PATH_TEXT on VARCHAR, with null_if_invalid; SUPER (as json), JSON_PARSE,
-- JSON_SERIALIZE, IS_VALID_JSON
------------------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION pg_catalog.json_extract_path_text(j text, VARIADIC path text[]) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$ SELECT pg_catalog.json_extract_path_text(j::json, VARIADIC path) $fn$;
${jsonExtractPathFunctions()}

DO $do$ BEGIN
  IF to_regtype('pg_catalog.super') IS NULL THEN
    CREATE DOMAIN pg_catalog.super AS json;
  END IF;
END $do$;
-- Redshift prints SUPER values compactly ([10001,10002,"abc"]), keys in their input order
CREATE OR REPLACE FUNCTION ${S}.json_compact(j json) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
BEGIN
  CASE json_typeof(j)
    WHEN 'object' THEN
      RETURN '{' || coalesce((SELECT string_agg(to_json(e.key)::text || ':' || ${S}.json_compact(e.value), ',' ORDER BY e.n)
                              FROM json_each(j) WITH ORDINALITY AS e(key, value, n)), '') || '}';
    WHEN 'array' THEN
      RETURN '[' || coalesce((SELECT string_agg(${S}.json_compact(e.value), ',' ORDER BY e.n)
                              FROM json_array_elements(j) WITH ORDINALITY AS e(value, n)), '') || ']';
    ELSE RETURN btrim(j::text);
  END CASE;
END $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.json_parse(json_string text) RETURNS pg_catalog.super
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$ SELECT ${S}.json_compact(json_string::json)::json::pg_catalog.super $fn$;
-- JSON_SERIALIZE is SQL/JSON syntax in PostgreSQL 17 and later (it rejects the SUPER domain): the runner
-- calls this one by its qualified name
CREATE OR REPLACE FUNCTION ${S}.json_serialize(value pg_catalog.super) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$ SELECT ${S}.json_compact(value::json) $fn$;
CREATE OR REPLACE FUNCTION pg_catalog.is_valid_json(json_string text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $fn$
BEGIN
  IF json_string IS NULL THEN RETURN NULL; END IF;
  PERFORM json_string::json;
  RETURN true;
EXCEPTION WHEN invalid_text_representation THEN
  RETURN false;
END $fn$;

------------------------------------------------------------------------------------------------------
-- LISTAGG (aggregate and window; the runner turns WITHIN GROUP into the aggregate's ORDER BY, or into
-- the window's ORDER BY with a whole-partition frame) and MEDIAN
------------------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION ${S}.listagg_step(state text[], value anyelement, delimiter text, is_distinct boolean)
RETURNS text[] LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $fn$
DECLARE v text := value::text;
BEGIN
  IF state IS NULL THEN
    state := ARRAY[coalesce(delimiter, ''), CASE WHEN is_distinct THEN 't' ELSE 'f' END];
  END IF;
  IF v IS NOT NULL AND v <> '' THEN
    state := array_append(state, v);
  END IF;
  RETURN state;
END $fn$;

CREATE OR REPLACE FUNCTION ${S}.listagg_final(state text[]) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $fn$
DECLARE
  result text;
  seen text[] := '{}';
  kept text[] := '{}';
  v text;
BEGIN
  IF state IS NULL OR cardinality(state) <= 2 THEN RETURN NULL; END IF;
  IF state[2] = 't' THEN
    -- DISTINCT: trailing blanks are not significant, the first value encountered is kept
    FOREACH v IN ARRAY state[3:] LOOP
      IF NOT rtrim(v) = ANY (seen) THEN
        seen := array_append(seen, rtrim(v));
        kept := array_append(kept, v);
      END IF;
    END LOOP;
    result := array_to_string(kept, state[1]);
  ELSE
    result := array_to_string(state[3:], state[1]);
  END IF;
  IF octet_length(result) > 65535 THEN
    RAISE EXCEPTION 'Result size exceeds LISTAGG limit' USING ERRCODE = '22001',
      DETAIL = format('The result is %s bytes; the limit is 65535.', octet_length(result));
  END IF;
  RETURN result;
END $fn$;

CREATE OR REPLACE AGGREGATE pg_catalog.listagg(anyelement, text, boolean) (
  SFUNC = ${S}.listagg_step, STYPE = text[], FINALFUNC = ${S}.listagg_final, PARALLEL = SAFE
);
CREATE OR REPLACE FUNCTION ${S}.listagg_step(state text[], value anyelement, delimiter text)
RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$ SELECT ${S}.listagg_step(state, value, delimiter, false) $fn$;
CREATE OR REPLACE AGGREGATE pg_catalog.listagg(anyelement, text) (
  SFUNC = ${S}.listagg_step, STYPE = text[], FINALFUNC = ${S}.listagg_final, PARALLEL = SAFE
);
CREATE OR REPLACE FUNCTION ${S}.listagg_step(state text[], value anyelement)
RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$ SELECT ${S}.listagg_step(state, value, NULL::text, false) $fn$;
CREATE OR REPLACE AGGREGATE pg_catalog.listagg(anyelement) (
  SFUNC = ${S}.listagg_step, STYPE = text[], FINALFUNC = ${S}.listagg_final, PARALLEL = SAFE
);

-- MEDIAN: PERCENTILE_CONT(0.5); integers and decimals give DECIMAL (one more decimal digit than the
-- input), floats DOUBLE, dates DATE, timestamps TIMESTAMP[TZ]
CREATE OR REPLACE FUNCTION ${S}.median_numeric(state numeric[]) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
WITH v AS (SELECT x, row_number() OVER (ORDER BY x) AS i, count(*) OVER () AS n
           FROM unnest(state) AS x WHERE x IS NOT NULL)
SELECT round(avg(x), max(scale(x)) + 1) FROM v WHERE i IN ((n + 1) / 2, (n + 2) / 2) $fn$;
CREATE OR REPLACE FUNCTION ${S}.median_float(state double precision[]) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(state) AS x $fn$;
CREATE OR REPLACE FUNCTION ${S}.median_timestamp(state timestamp[]) RETURNS timestamp
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
SELECT 'epoch'::pg_catalog.timestamp + percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM x)) * interval '1 second'
FROM unnest(state) AS x $fn$;
CREATE OR REPLACE FUNCTION ${S}.median_timestamptz(state timestamptz[]) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
SELECT to_timestamp(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM x))) FROM unnest(state) AS x $fn$;
CREATE OR REPLACE FUNCTION ${S}.median_date(state date[]) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$ SELECT ${S}.median_timestamp(state::pg_catalog.timestamp[])::pg_catalog.date $fn$;

${['numeric', 'bigint', 'integer', 'smallint']
  .map(
    (t) => `CREATE OR REPLACE FUNCTION ${S}.median_step(state numeric[], value ${t}) RETURNS numeric[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$ SELECT CASE WHEN value IS NULL THEN state ELSE array_append(state, value::numeric) END $fn$;`,
  )
  .join('\n')}
CREATE OR REPLACE AGGREGATE pg_catalog.median(numeric) (SFUNC = ${S}.median_step, STYPE = numeric[], FINALFUNC = ${S}.median_numeric, PARALLEL = SAFE);
CREATE OR REPLACE AGGREGATE pg_catalog.median(bigint) (SFUNC = ${S}.median_step, STYPE = numeric[], FINALFUNC = ${S}.median_numeric, PARALLEL = SAFE);
CREATE OR REPLACE AGGREGATE pg_catalog.median(integer) (SFUNC = ${S}.median_step, STYPE = numeric[], FINALFUNC = ${S}.median_numeric, PARALLEL = SAFE);
CREATE OR REPLACE AGGREGATE pg_catalog.median(smallint) (SFUNC = ${S}.median_step, STYPE = numeric[], FINALFUNC = ${S}.median_numeric, PARALLEL = SAFE);
CREATE OR REPLACE AGGREGATE pg_catalog.median(double precision) (SFUNC = array_append, STYPE = double precision[], FINALFUNC = ${S}.median_float, PARALLEL = SAFE);
CREATE OR REPLACE FUNCTION ${S}.median_step(state double precision[], value real) RETURNS double precision[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$ SELECT array_append(state, value::double precision) $fn$;
CREATE OR REPLACE AGGREGATE pg_catalog.median(real) (SFUNC = ${S}.median_step, STYPE = double precision[], FINALFUNC = ${S}.median_float, PARALLEL = SAFE);
CREATE OR REPLACE AGGREGATE pg_catalog.median(date) (SFUNC = array_append, STYPE = date[], FINALFUNC = ${S}.median_date, PARALLEL = SAFE);
CREATE OR REPLACE AGGREGATE pg_catalog.median(timestamp) (SFUNC = array_append, STYPE = timestamp[], FINALFUNC = ${S}.median_timestamp, PARALLEL = SAFE);
CREATE OR REPLACE AGGREGATE pg_catalog.median(timestamptz) (SFUNC = array_append, STYPE = timestamptz[], FINALFUNC = ${S}.median_timestamptz, PARALLEL = SAFE);

------------------------------------------------------------------------------------------------------
-- ANALYZE COMPRESSION (the runner rewrites the command to a SELECT from this function)
------------------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION ${S}.analyze_compression(table_name text, column_names text[])
RETURNS TABLE ("Table" text, "Column" text, "Encoding" text, "Est_reduction_pct" numeric(5, 2))
LANGUAGE plpgsql STABLE AS $fn$
DECLARE rel regclass := CASE WHEN table_name IS NULL THEN NULL ELSE table_name::regclass END;
BEGIN
  RETURN QUERY
  SELECT c.relname::text, a.attname::text,
         CASE WHEN column_names IS NULL OR a.attname::text = ANY (column_names) THEN 'raw' ELSE 'N/A' END,
         0.00::numeric(5, 2)
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  WHERE c.relkind IN ('r', 'p')
    AND (rel IS NULL OR c.oid = rel)
    AND (rel IS NOT NULL OR (n.nspname NOT IN ('pg_catalog', 'information_schema', '${S}') AND n.nspname !~ '^pg_'))
  ORDER BY n.nspname, c.relname, a.attnum;
END $fn$;

------------------------------------------------------------------------------------------------------
-- System views: PG_TABLE_DEF, SVV_TABLE_INFO, STV_INFLIGHT, STL_QUERY, SVL_QLOG
------------------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION ${S}.query_id(pid integer, started timestamptz) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
SELECT (('x' || substr(md5(pid::text || '/' || coalesce(started::text, '')), 1, 8))::bit(32)::integer & 2147483647) $fn$;

CREATE OR REPLACE FUNCTION ${S}.table_rows(rel regclass) RETURNS bigint
LANGUAGE plpgsql STABLE AS $fn$
DECLARE n bigint;
BEGIN
  EXECUTE format('SELECT count(*) FROM %s', rel) INTO n;
  RETURN n;
EXCEPTION WHEN insufficient_privilege OR undefined_table THEN
  RETURN NULL;
END $fn$;

SET LOCAL allow_system_table_mods = on;

CREATE OR REPLACE VIEW pg_catalog.pg_table_def AS
SELECT n.nspname AS schemaname,
       c.relname AS tablename,
       a.attname AS "column",
       format_type(a.atttypid, a.atttypmod) AS "type",
       'none'::character(32) AS "encoding",
       false AS distkey,
       0 AS sortkey,
       a.attnotnull AS "notnull"
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p') AND pg_catalog.pg_table_is_visible(c.oid);

CREATE OR REPLACE VIEW pg_catalog.svv_table_info AS
SELECT t.database, t.schema, t.table_id, t."table", t.encoded, t.diststyle, t.sortkey1, t.max_varchar,
       t.sortkey1_enc, t.sortkey_num, t.size, t.pct_used, t.empty, t.unsorted, t.stats_off, t.tbl_rows,
       t.skew_sortkey1, t.skew_rows, t.estimated_visible_rows, t.risk_event, t.vacuum_sort_benefit, t.create_time
FROM (
  SELECT current_database()::text AS database,
         n.nspname::text AS schema,
         c.oid AS table_id,
         c.relname::text AS "table",
         'N'::text AS encoded,
         'EVEN'::text AS diststyle,
         NULL::text AS sortkey1,
         (SELECT max(a.atttypmod - 4) FROM pg_catalog.pg_attribute a
           WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
             AND a.atttypid = 'pg_catalog.varchar'::regtype AND a.atttypmod > 4)::integer AS max_varchar,
         NULL::character(32) AS sortkey1_enc,
         0 AS sortkey_num,
         ceil(pg_catalog.pg_total_relation_size(c.oid) / 1048576.0)::bigint AS size,
         NULL::numeric(10, 4) AS pct_used,
         0::bigint AS empty,
         NULL::numeric(5, 2) AS unsorted,
         (CASE WHEN s.last_analyze IS NULL AND s.last_autoanalyze IS NULL THEN 100
               ELSE least(100, coalesce(s.n_mod_since_analyze, 0) * 100.0 / greatest(c.reltuples, 1)) END)::numeric(5, 2)
           AS stats_off,
         (r.n + coalesce(s.n_dead_tup, 0))::numeric(38, 0) AS tbl_rows,
         NULL::numeric(19, 2) AS skew_sortkey1,
         NULL::numeric(19, 2) AS skew_rows,
         r.n::numeric(38, 0) AS estimated_visible_rows,
         NULL::text AS risk_event,
         NULL::numeric(12, 2) AS vacuum_sort_benefit,
         NULL::pg_catalog.timestamp AS create_time
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_stat_all_tables s ON s.relid = c.oid
  CROSS JOIN LATERAL (SELECT ${S}.table_rows(c.oid::regclass) AS n) r
  WHERE c.relkind IN ('r', 'p', 'm')
    AND n.nspname NOT IN ('pg_catalog', 'information_schema', '${S}')
    AND n.nspname !~ '^pg_(toast|temp_)'
) t
WHERE t.tbl_rows > 0;

CREATE OR REPLACE VIEW pg_catalog.stv_inflight AS
SELECT a.usesysid::integer AS userid,
       0 AS slice,
       ${S}.query_id(a.pid, a.query_start) AS query,
       (CASE WHEN a.pid = pg_catalog.pg_backend_pid()
             THEN coalesce(current_setting('rsqlo.query_group', true), '') ELSE '' END)::character(320) AS label,
       coalesce(a.backend_xid::text::bigint, 0) AS xid,
       a.pid,
       (a.query_start AT TIME ZONE 'UTC') AS starttime,
       left(a.query, 100)::character(100) AS text,
       0 AS suspended,
       0 AS insert_pristine,
       0 AS concurrency_scaling_status
FROM pg_catalog.pg_stat_activity a
WHERE a.backend_type = 'client backend' AND a.state = 'active' AND a.datname = current_database();

CREATE OR REPLACE VIEW pg_catalog.stl_query AS
SELECT a.usesysid::integer AS userid,
       ${S}.query_id(a.pid, a.query_start) AS query,
       (CASE WHEN a.pid = pg_catalog.pg_backend_pid()
             THEN coalesce(nullif(current_setting('rsqlo.query_group', true), ''), 'default') ELSE 'default' END)::character(320) AS label,
       coalesce(a.backend_xid::text::bigint, 0) AS xid,
       a.pid,
       a.datname::character(32) AS database,
       a.query::character(4000) AS querytxt,
       (a.query_start AT TIME ZONE 'UTC') AS starttime,
       (a.state_change AT TIME ZONE 'UTC') AS endtime,
       CASE WHEN a.state = 'idle in transaction (aborted)' THEN 1 ELSE 0 END AS aborted,
       0 AS insert_pristine,
       0 AS concurrency_scaling_status
FROM pg_catalog.pg_stat_activity a
WHERE a.backend_type = 'client backend' AND a.state <> 'active' AND a.query_start IS NOT NULL AND a.query <> '';

CREATE OR REPLACE VIEW pg_catalog.svl_qlog AS
SELECT q.userid, q.query, q.xid, q.pid, q.starttime, q.endtime,
       (extract(epoch FROM q.endtime - q.starttime) * 1000000)::bigint AS elapsed,
       q.aborted, q.label,
       left(q.querytxt, 60)::character(60) AS substring,
       NULL::integer AS source_query,
       '0 - Ran on the main cluster'::text AS concurrency_scaling_status_txt,
       NULL::integer AS from_sp_call
FROM pg_catalog.stl_query q;

GRANT SELECT ON pg_catalog.pg_table_def, pg_catalog.stv_inflight, pg_catalog.stl_query, pg_catalog.svl_qlog TO PUBLIC;

-- STL_LOAD_ERRORS: the rows COPY from S3 rejected (rsql/s3/load-errors.ts writes them; not transactional)
${LOAD_ERRORS_SQL}
SET LOCAL allow_system_table_mods = on;
${LOAD_ERRORS_VIEW}

------------------------------------------------------------------------------------------------------
-- Version marker (last, so a half-run script is never taken for an installed one)
------------------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION pg_catalog.rsqlo_redshift_compat_version() RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$ SELECT '${version}'::text $fn$;
`;
}
