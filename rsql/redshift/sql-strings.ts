/**
 * Redshift's conditional and string functions as SQL (part of the installation script sql.ts
 * assembles): NVL, NVL2, DECODE (the runner rewrites most calls, these serve the code it does not
 * rewrite, such as function bodies), LEN, CHARINDEX, STRTOL, VARBYTE, `+` on strings and the REGEXP_*
 * functions with Redshift's arguments.
 */
import { HELPER_SCHEMA } from './names.js';

const S = HELPER_SCHEMA;

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

/** NVL, NVL2 and DECODE. */
export function conditionalSql(): string {
  return `
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

${decodeFunctions()}`;
}

/** LEN, CHARINDEX, STRTOL, VARBYTE, string `+`, REGEXP_COUNT/INSTR/SUBSTR/REPLACE. */
export function stringSql(): string {
  return String.raw`
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
END $fn$;`;
}
