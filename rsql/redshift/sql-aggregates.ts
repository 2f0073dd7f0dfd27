/**
 * Redshift's aggregates and ANALYZE COMPRESSION as SQL (part of the installation script sql.ts
 * assembles): LISTAGG (aggregate and window), MEDIAN, and the function the runner turns ANALYZE
 * COMPRESSION into.
 */
import { HELPER_SCHEMA } from './names.js';

const S = HELPER_SCHEMA;

/** LISTAGG, MEDIAN and ANALYZE COMPRESSION. */
export function aggregateSql(): string {
  return `
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
END $fn$;`;
}
