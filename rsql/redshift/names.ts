/** Names shared by the installed SQL (sql.ts) and the runner's rewrites (rewrite.ts). */

/** The schema holding helpers and the Redshift functions the runner calls by qualified name. */
export const HELPER_SCHEMA = 'rsqlo_redshift';
