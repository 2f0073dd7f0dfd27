/**
 * STL_LOAD_ERRORS on PostgreSQL (https://docs.aws.amazon.com/redshift/latest/dg/r_STL_LOAD_ERRORS.html):
 * a table `rsqlo_redshift.stl_load_errors` with Redshift's columns and types, and — when the user may
 * (superuser) — a view `pg_catalog.stl_load_errors` over it, so `select … from stl_load_errors` works
 * whatever the search_path, as on Redshift. Without the view the runner qualifies the name itself.
 * Like Redshift's STL tables it is not transactional: rows are written on a connection of their own, so a
 * COPY that fails (and rolls back) still leaves its rejected rows for the error branch to read.
 *
 * Also PG_LAST_COPY_ID / PG_LAST_COPY_COUNT / PG_LAST_UNLOAD_ID / PG_LAST_UNLOAD_COUNT
 * (https://docs.aws.amazon.com/redshift/latest/dg/PG_LAST_COPY_ID.html …): per session, so the runner
 * knows them; a call is rewritten to `rsqlo_redshift.pg_last_copy_id(<value>)`, a function returning its
 * argument under Redshift's column name.
 */
import { firstKeyword, type SqlToken, tokenizeSql } from '../compat.js';
import { HELPER_SCHEMA } from '../redshift/names.js';
import type { Session } from '../session.js';

export { HELPER_SCHEMA };

/** Advisory lock serialising installers (the same key as rsql/redshift/install.ts: "rsql"). */
const LOCK_KEY = 0x72_73_71_6c;

/** Redshift's columns (r_STL_LOAD_ERRORS.html; is_partial and start_offset from its sample query). */
export const STL_LOAD_ERRORS_COLUMNS = `
  userid integer,
  slice integer,
  tbl integer,
  starttime timestamp without time zone,
  session integer,
  query integer,
  filename character(256),
  line_number bigint,
  colname character(127),
  type character(10),
  col_length character(10),
  position integer,
  raw_line character(1024),
  raw_field_value character(1024),
  err_code integer,
  err_reason character(100),
  is_partial integer,
  start_offset bigint`;

/** The table, sequence and functions (re-runnable); the pg_catalog view is added separately. */
export const LOAD_ERRORS_SQL = `
CREATE SCHEMA IF NOT EXISTS ${HELPER_SCHEMA};
GRANT USAGE ON SCHEMA ${HELPER_SCHEMA} TO PUBLIC;
CREATE TABLE IF NOT EXISTS ${HELPER_SCHEMA}.stl_load_errors (${STL_LOAD_ERRORS_COLUMNS});
GRANT SELECT, INSERT ON ${HELPER_SCHEMA}.stl_load_errors TO PUBLIC;
CREATE SEQUENCE IF NOT EXISTS ${HELPER_SCHEMA}.query_seq;
GRANT USAGE ON SEQUENCE ${HELPER_SCHEMA}.query_seq TO PUBLIC;
CREATE OR REPLACE FUNCTION ${HELPER_SCHEMA}.pg_last_copy_id(v integer) RETURNS integer
  LANGUAGE sql IMMUTABLE AS 'SELECT v';
CREATE OR REPLACE FUNCTION ${HELPER_SCHEMA}.pg_last_copy_count(v bigint) RETURNS bigint
  LANGUAGE sql IMMUTABLE AS 'SELECT v';
CREATE OR REPLACE FUNCTION ${HELPER_SCHEMA}.pg_last_unload_id(v integer) RETURNS integer
  LANGUAGE sql IMMUTABLE AS 'SELECT v';
CREATE OR REPLACE FUNCTION ${HELPER_SCHEMA}.pg_last_unload_count(v bigint) RETURNS bigint
  LANGUAGE sql IMMUTABLE AS 'SELECT v';
`;

/** The view itself (inside a transaction that has set allow_system_table_mods). */
export const LOAD_ERRORS_VIEW = `
CREATE OR REPLACE VIEW pg_catalog.stl_load_errors AS SELECT * FROM ${HELPER_SCHEMA}.stl_load_errors;
GRANT SELECT ON pg_catalog.stl_load_errors TO PUBLIC;
`;

/**
 * The view that makes the table visible as Redshift's (needs a superuser). The compatibility install
 * (rsql/redshift/sql.ts) creates it with the table; the runner creates it itself in a database that was
 * not installed.
 */
export const LOAD_ERRORS_VIEW_SQL = `
SET LOCAL allow_system_table_mods = on;
${LOAD_ERRORS_VIEW}`;

/** One rejected row, as stl_load_errors records it. */
export interface LoadErrorRow {
  tbl: number;
  starttime: string;
  session: number;
  query: number;
  filename: string;
  lineNumber: number;
  colname: string;
  type: string;
  colLength: string;
  position: number;
  rawLine: string;
  rawFieldValue: string;
  errCode: number;
  errReason: string;
}

function lit(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/** Text cut to a char(n) column; "Multibyte characters in the load data are replaced with a period." */
function charN(s: string, n: number, periods: boolean): string {
  let t = periods ? s.replace(/[^\x00-\x7f]/gu, '.') : s;
  t = t.replace(/\u0000/g, '.');
  return t.length > n ? t.slice(0, n) : t;
}

/** Counters of the last COPY and UNLOAD of this session. */
export interface LastCounts {
  copyId: number;
  copyCount: number;
  unloadId: number;
  unloadCount: number;
}

/**
 * The load-error side of a runner: installs the table on first need, hands out query ids, records
 * rejected rows on its own connection, rewrites references for the session.
 */
export class LoadErrorLog {
  private side: Session | undefined;
  private installed: Promise<{ view: boolean }> | undefined;
  private userId: number | undefined;
  /** Session values, as Redshift's functions of the same names return them (-1 / 0 before any). */
  readonly last: LastCounts = { copyId: -1, copyCount: 0, unloadId: -1, unloadCount: 0 };

  constructor(private readonly connectSide: () => Promise<Session>) {}

  private async connection(): Promise<Session> {
    this.side ??= await this.connectSide();
    return this.side;
  }

  /** Creates the table (and the pg_catalog view when allowed) once per run. */
  ensureInstalled(): Promise<{ view: boolean }> {
    this.installed ??= this.install().catch((e) => {
      this.installed = undefined;
      throw e;
    });
    return this.installed;
  }

  private async install(): Promise<{ view: boolean }> {
    const s = await this.connection();
    const run = async (sql: string) => {
      const o = await s.run(sql);
      if (o.error) throw new Error(o.error.message);
      if (o.lost) throw new Error(o.lost);
      return o;
    };
    const present = await run(
      `SELECT to_regclass('${HELPER_SCHEMA}.stl_load_errors') IS NOT NULL AS t,` +
        ` to_regprocedure('${HELPER_SCHEMA}.pg_last_unload_count(bigint)') IS NOT NULL AS f,` +
        ` to_regclass('pg_catalog.stl_load_errors') IS NOT NULL AS v,` +
        ' (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS su',
    );
    const [table, fns, view, su] = (present.rows[0] ?? []).map((x) => x === 't');
    if (table && fns && (view || !su)) return { view: Boolean(view) };
    await run('BEGIN');
    try {
      await run(`SELECT pg_advisory_xact_lock(${LOCK_KEY})`);
      await run(LOAD_ERRORS_SQL);
      if (su) await run(LOAD_ERRORS_VIEW_SQL);
      await run('COMMIT');
    } catch (e) {
      await s.run('ROLLBACK');
      throw e;
    }
    return { view: Boolean(su) };
  }

  /** A new query id (COPY/UNLOAD), from the database so that parallel jobs never share one. */
  async nextQueryId(): Promise<number> {
    await this.ensureInstalled();
    const s = await this.connection();
    const o = await s.run(
      `SELECT nextval('${HELPER_SCHEMA}.query_seq')::integer, (SELECT oid::integer FROM pg_roles WHERE rolname = current_user)`,
    );
    if (o.error) throw new Error(o.error.message);
    this.userId = Number(o.rows[0]?.[1] ?? 0);
    return Number(o.rows[0]?.[0]);
  }

  /** Records rejected rows (one INSERT per batch). */
  async record(rows: LoadErrorRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.ensureInstalled();
    const s = await this.connection();
    const values = rows.map(
      (r) =>
        `(${this.userId ?? 0}, 0, ${r.tbl}, ${lit(r.starttime)}, ${r.session}, ${r.query}, ${lit(charN(r.filename, 256, false))}, ` +
        `${r.lineNumber}, ${lit(charN(r.colname, 127, false))}, ${lit(charN(r.type, 10, false))}, ${lit(charN(r.colLength, 10, false))}, ` +
        `${r.position}, ${lit(charN(r.rawLine, 1024, true))}, ${lit(charN(r.rawFieldValue, 1024, true))}, ${r.errCode}, ` +
        `${lit(charN(r.errReason, 100, false))}, 0, 0)`,
    );
    const o = await s.run(`INSERT INTO ${HELPER_SCHEMA}.stl_load_errors VALUES ${values.join(', ')}`);
    if (o.error) throw new Error(o.error.message);
  }

  /** True when a statement mentions what {@link rewrite} handles (a cheap test before tokenising). */
  static mentions(sql: string): boolean {
    return /stl_load_errors|pg_last_(copy|unload)_(id|count)/i.test(sql);
  }

  /**
   * The statement with `stl_load_errors` qualified (when the pg_catalog view is missing) and the
   * PG_LAST_* calls replaced by this session's values.
   */
  async rewrite(sql: string, standardStrings = true): Promise<string> {
    const { view } = await this.ensureInstalled();
    const toks = tokenizeSql(sql, standardStrings);
    let changed = false;
    const sig = (i: number, dir: 1 | -1): number => {
      for (let j = i + dir; j >= 0 && j < toks.length; j += dir) {
        const t = toks[j] as SqlToken;
        if (t.type !== 'space' && t.type !== 'comment') return j;
      }
      return -1;
    };
    for (let i = 0; i < toks.length; i++) {
      const t = toks[i] as SqlToken;
      if (t.type !== 'word') continue;
      const w = t.text.toLowerCase();
      const prev = sig(i, -1);
      const qualifiedBy =
        prev >= 0 && toks[prev]?.text === '.' ? toks[sig(prev, -1)]?.text.toLowerCase() : undefined;
      if (qualifiedBy !== undefined && qualifiedBy !== 'pg_catalog') continue;
      if (w === 'stl_load_errors' && !view && qualifiedBy === undefined) {
        t.text = `${HELPER_SCHEMA}.stl_load_errors`;
        changed = true;
        continue;
      }
      const fn = /^pg_last_(copy|unload)_(id|count)$/.exec(w);
      if (!fn) continue;
      const open = sig(i, 1);
      const close = open >= 0 && toks[open]?.text === '(' ? sig(open, 1) : -1;
      if (close < 0 || toks[close]?.text !== ')') continue;
      const value =
        fn[1] === 'copy'
          ? fn[2] === 'id'
            ? this.last.copyId
            : this.last.copyCount
          : fn[2] === 'id'
            ? this.last.unloadId
            : this.last.unloadCount;
      if (qualifiedBy === 'pg_catalog') {
        (toks[prev] as SqlToken).text = '';
        (toks[sig(prev, -1)] as SqlToken).text = '';
      }
      t.text = `${HELPER_SCHEMA}.${w}`;
      (toks[open] as SqlToken).text = `(${value}`;
      changed = true;
    }
    return changed ? toks.map((t) => t.text).join('') : sql;
  }

  /** Closes the side connection. */
  async close(): Promise<void> {
    await this.side?.close();
    this.side = undefined;
  }
}

/** True for statements that cannot mention stl_load_errors in a way we must rewrite (fast path). */
export function mayReference(sql: string): boolean {
  return firstKeyword(sql) !== '' && LoadErrorLog.mentions(sql);
}
