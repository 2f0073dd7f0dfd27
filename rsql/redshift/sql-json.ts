/**
 * Redshift's JSON functions and the SUPER type as SQL (part of the installation script sql.ts
 * assembles): JSON_EXTRACT_PATH_TEXT on VARCHAR with null_if_invalid, SUPER (as json), JSON_PARSE,
 * JSON_SERIALIZE, IS_VALID_JSON.
 */
import { HELPER_SCHEMA } from './names.js';

const S = HELPER_SCHEMA;

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

/** JSON_EXTRACT_PATH_TEXT, SUPER, JSON_PARSE, JSON_SERIALIZE, IS_VALID_JSON. */
export function jsonSql(): string {
  return `
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
END $fn$;`;
}
