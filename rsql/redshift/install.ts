/**
 * Installs Redshift's functions, types and system views (sql.ts) into PostgreSQL databases: once per
 * version and database, in one transaction per database, serialised by an advisory lock so parallel
 * installers (two engines, a job and `rsqlo sql --install-compat`) never interleave.
 *
 * The version is a hash of the installation script, so any change to it re-installs on the next start;
 * objects that an older version put into pg_catalog and the new one no longer defines are dropped (unless
 * a user object depends on them, which is reported and left alone).
 */
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { OBJECT_MARKER, redshiftCompatSql } from './sql.js';

/** The installed script's version: a hash of its text (changes whenever the SQL does). */
export const REDSHIFT_COMPAT_VERSION: string = createHash('sha256')
  .update(redshiftCompatSql(''))
  .digest('hex')
  .slice(0, 16);

/** Advisory lock key (arbitrary, fixed) that serialises installers into one database. */
const LOCK_KEY = 0x72_73_71_6c; // "rsql"

/** Where to connect (the password never appears in messages). */
export interface CompatConnection {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

/** The installation could not be done; the message names the database and the cause. */
export class RedshiftCompatInstallError extends Error {
  override name = 'RedshiftCompatInstallError';
}

/** What happened in each database. */
export interface InstallReport {
  /** Databases the script was (re)installed into. */
  installed: string[];
  /** Databases that already had this version. */
  current: string[];
  /** Notes worth showing (e.g. a stale object kept because something depends on it). */
  notes: string[];
}

async function withClient<T>(
  c: CompatConnection,
  database: string,
  f: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = new pg.Client({
    host: c.host,
    port: c.port,
    user: c.user,
    password: c.password,
    database,
    application_name: 'rsqlo-redshift-compat',
  });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    throw new RedshiftCompatInstallError(
      `cannot connect to database "${database}" to install the Redshift functions: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  try {
    return await f(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** The version installed in the connected database, or undefined. */
export async function installedVersion(client: pg.Client): Promise<string | undefined> {
  const exists = await client.query<{ f: string | null }>(
    "select to_regprocedure('pg_catalog.rsqlo_redshift_compat_version()')::text as f",
  );
  if (!exists.rows[0]?.f) return undefined;
  const r = await client.query<{ v: string }>('select pg_catalog.rsqlo_redshift_compat_version() as v');
  return r.rows[0]?.v;
}

/** Drops what an older version put into pg_catalog and this one did not (re)create in this transaction. */
const DROP_STALE_SQL = `
do $do$
declare r record;
begin
  for r in
    select p.oid::regprocedure::text as sig, p.prokind
    from pg_catalog.pg_proc p
    join pg_catalog.pg_description d on d.objoid = p.oid and d.classoid = 'pg_catalog.pg_proc'::regclass
    where p.pronamespace = 'pg_catalog'::regnamespace and d.description = '${OBJECT_MARKER}'
      and p.xmin <> pg_catalog.pg_current_xact_id()::xid
  loop
    begin
      execute format('drop %s %s', case when r.prokind = 'a' then 'aggregate' else 'function' end, r.sig);
    exception when dependent_objects_still_exist then
      raise notice 'rsqlo: kept %, which something still depends on', r.sig;
    end;
  end loop;
  for r in
    select c.oid::regclass::text as name
    from pg_catalog.pg_class c
    join pg_catalog.pg_description d on d.objoid = c.oid and d.classoid = 'pg_catalog.pg_class'::regclass and d.objsubid = 0
    where c.relnamespace = 'pg_catalog'::regnamespace and c.relkind = 'v' and d.description = '${OBJECT_MARKER}'
      and c.xmin <> pg_catalog.pg_current_xact_id()::xid
  loop
    begin
      execute format('drop view pg_catalog.%s', r.name);
    exception when dependent_objects_still_exist then
      raise notice 'rsqlo: kept view %, which something still depends on', r.name;
    end;
  end loop;
  -- mark what this version installed
  for r in
    select p.oid::regprocedure::text as sig, p.prokind
    from pg_catalog.pg_proc p
    where p.pronamespace = 'pg_catalog'::regnamespace and p.xmin = pg_catalog.pg_current_xact_id()::xid
  loop
    execute format('comment on %s %s is %L', case when r.prokind = 'a' then 'aggregate' else 'function' end,
                   r.sig, '${OBJECT_MARKER}');
  end loop;
  for r in
    select c.relname as name
    from pg_catalog.pg_class c
    where c.relnamespace = 'pg_catalog'::regnamespace and c.relkind = 'v'
      and c.xmin = pg_catalog.pg_current_xact_id()::xid
  loop
    execute format('comment on view pg_catalog.%I is %L', r.name, '${OBJECT_MARKER}');
  end loop;
end $do$;`;

/**
 * Installs into one database unless it already has this version. Needs a superuser (the objects go into
 * pg_catalog, where Redshift's built-ins would be); otherwise fails with a message saying so.
 */
export async function installIntoDatabase(
  c: CompatConnection,
  database: string,
  opts: { force?: boolean } = {},
): Promise<{ installed: boolean; notes: string[] }> {
  return withClient(c, database, async (client) => {
    const notes: string[] = [];
    client.on('notice', (m: { message?: string }) => {
      if (m.message?.startsWith('rsqlo: ')) notes.push(`${database}: ${m.message.slice(7)}`);
    });
    if (!opts.force && (await installedVersion(client)) === REDSHIFT_COMPAT_VERSION) {
      return { installed: false, notes };
    }
    const su = await client.query<{ rolsuper: boolean }>(
      'select rolsuper from pg_catalog.pg_roles where rolname = current_user',
    );
    if (!su.rows[0]?.rolsuper) {
      throw new RedshiftCompatInstallError(
        `cannot install the Redshift functions into database "${database}": user "${c.user}" is not a superuser ` +
          '(they go into pg_catalog, where Redshift has its built-ins, so that every schema and function body sees them); ' +
          'connect as a superuser to install them',
      );
    }
    // The lock is taken before the transaction begins: a transaction start is where a backend catches up
    // with catalog changes other sessions committed (an advisory lock does not make it), so the version
    // check below sees what an installer we waited for has just created.
    await client.query('select pg_catalog.pg_advisory_lock($1)', [LOCK_KEY]);
    try {
      await client.query('begin');
      await client.query(
        "set local standard_conforming_strings = on; set local client_min_messages = 'warning'",
      );
      // another installer may have finished while we waited for the lock
      if (!opts.force && (await installedVersion(client)) === REDSHIFT_COMPAT_VERSION) {
        await client.query('rollback');
        return { installed: false, notes };
      }
      await client.query(redshiftCompatSql(REDSHIFT_COMPAT_VERSION));
      await client.query("set local client_min_messages = 'notice'");
      await client.query(DROP_STALE_SQL);
      await client.query('commit');
    } catch (err) {
      await client.query('rollback').catch(() => {});
      const e = err as Error & { position?: string; where?: string };
      throw new RedshiftCompatInstallError(
        `installing the Redshift functions into database "${database}" failed: ${e.message}${e.where ? ` (${e.where.split('\n')[0]})` : ''}`,
      );
    } finally {
      await client.query('select pg_catalog.pg_advisory_unlock($1)', [LOCK_KEY]).catch(() => {});
    }
    return { installed: true, notes };
  });
}

/**
 * Installs into `databases` (default: every database of the server that accepts connections, template1
 * included so databases created later have the functions too).
 */
export async function installRedshiftCompat(
  c: CompatConnection,
  opts: { databases?: string[]; force?: boolean } = {},
): Promise<InstallReport> {
  const databases =
    opts.databases ??
    (await withClient(c, c.database, async (client) => {
      const r = await client.query<{ datname: string }>(
        'select datname from pg_catalog.pg_database where datallowconn order by datname',
      );
      return r.rows.map((x) => x.datname);
    }));
  const report: InstallReport = { installed: [], current: [], notes: [] };
  for (const db of databases) {
    const r = await installIntoDatabase(c, db, opts.force ? { force: true } : {});
    (r.installed ? report.installed : report.current).push(db);
    report.notes.push(...r.notes);
  }
  return report;
}

/** The file, in an embedded cluster's data folder, that records the version installed in all its databases. */
export function markerFile(dataDir: string): string {
  return path.join(dataDir, 'redshift-compat.json');
}

/**
 * For the local engine's embedded PostgreSQL: installs into every database of the cluster once per
 * version. A marker file in the data folder makes later starts free (no connection at all); it is written
 * only after every database succeeded, so a failed or interrupted install is retried next time.
 */
export async function ensureRedshiftCompat(
  dataDir: string,
  c: CompatConnection,
  log?: (line: string) => void,
): Promise<InstallReport | undefined> {
  const marker = markerFile(dataDir);
  try {
    const m = JSON.parse(readFileSync(marker, 'utf8')) as { version?: string };
    if (m.version === REDSHIFT_COMPAT_VERSION) return undefined;
  } catch {
    // no marker yet, or unreadable: install
  }
  const report = await installRedshiftCompat(c);
  for (const note of report.notes) log?.(`redshift compat: ${note}`);
  if (report.installed.length > 0)
    log?.(
      `redshift compat: installed version ${REDSHIFT_COMPAT_VERSION} into ${report.installed.join(', ')}`,
    );
  const tmp = `${marker}.${process.pid}.tmp`;
  writeFileSync(
    tmp,
    `${JSON.stringify({ version: REDSHIFT_COMPAT_VERSION, installedAt: new Date().toISOString() })}\n`,
  );
  renameSync(tmp, marker);
  return report;
}

/**
 * The local engine's hook (runtime/local/database.ts): {@link ensureRedshiftCompat}, with a failure
 * reported as one line naming the cause instead of a bare driver error.
 */
export async function ensureRedshiftFunctions(
  dataDir: string,
  c: CompatConnection,
  log?: (line: string) => void,
): Promise<void> {
  try {
    await ensureRedshiftCompat(dataDir, c, log);
  } catch (err) {
    throw new RedshiftCompatInstallError(
      `the Redshift functions could not be installed into the embedded PostgreSQL (${dataDir}): ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}
