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

import { HELPER_SCHEMA } from './names.js';
import { aggregateSql } from './sql-aggregates.js';
import { dateArithmeticSql, dateBasicsSql, datePartFunction } from './sql-dates.js';
import { jsonSql } from './sql-json.js';
import { conditionalSql, stringSql } from './sql-strings.js';
import { systemViewsSql } from './sql-system-views.js';

export { DATE_PARTS } from './sql-dates.js';
export { HELPER_SCHEMA };

/** Marker put in the comment of every object installed in pg_catalog (how an upgrade finds stale ones). */
export const OBJECT_MARKER = 'rsqlo: Redshift compatibility';

const S = HELPER_SCHEMA;

/**
 * The whole installation script. `version` is recorded in pg_catalog.rsqlo_redshift_compat_version()
 * (install.ts compares it before installing).
 */
export function redshiftCompatSql(version: string): string {
  return `
CREATE SCHEMA IF NOT EXISTS ${S};
COMMENT ON SCHEMA ${S} IS 'rsqlo: helpers of the Redshift compatibility functions (see pg_catalog.rsqlo_redshift_compat_version())';
GRANT USAGE ON SCHEMA ${S} TO PUBLIC;

${datePartFunction()}

CREATE OR REPLACE FUNCTION ${S}.fail(message text) RETURNS void
LANGUAGE plpgsql AS $fn$ BEGIN RAISE EXCEPTION '%', message USING ERRCODE = '22023'; END $fn$;
${dateBasicsSql()}
${conditionalSql()}
${dateArithmeticSql()}
${stringSql()}
${jsonSql()}
${aggregateSql()}
${systemViewsSql()}

------------------------------------------------------------------------------------------------------
-- Version marker (last, so a half-run script is never taken for an installed one)
------------------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION pg_catalog.rsqlo_redshift_compat_version() RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$ SELECT '${version}'::text $fn$;
`;
}
