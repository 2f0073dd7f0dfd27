/**
 * Redshift's system views as SQL (part of the installation script sql.ts assembles): PG_TABLE_DEF,
 * SVV_TABLE_INFO, STV_INFLIGHT, STL_QUERY, SVL_QLOG and STL_LOAD_ERRORS (whose table rsql/s3 writes).
 */
import { LOAD_ERRORS_SQL, LOAD_ERRORS_VIEW } from '../s3/load-errors.js';
import { HELPER_SCHEMA } from './names.js';

const S = HELPER_SCHEMA;

/** PG_TABLE_DEF, SVV_TABLE_INFO, STV_INFLIGHT, STL_QUERY, SVL_QLOG, STL_LOAD_ERRORS. */
export function systemViewsSql(): string {
  return `
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
${LOAD_ERRORS_VIEW}`;
}
