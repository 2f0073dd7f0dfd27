/**
 * How clients reach the embedded server: the connection values (the password travels only in them and
 * in env vars), libpq's environment variables, and the jobs' database created on first start.
 */
import pg from 'pg';
import { EmbeddedPostgresError, errText } from './errors.js';
import type { StoredState } from './state.js';

/** The only address the server listens on (and clients use): never reachable from another machine. */
export const HOST = '127.0.0.1';

/** How to reach a server: plain values, the password travels only in this object and env vars. */
export interface PgConnectionInfo {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  /** `postgres://user:password@host:port/database` (contains the password: never log it). */
  url: string;
}

/** libpq's environment variables for a connection (what `rsql`, `psql` and `pg` read). */
export function pgEnvironment(c: Omit<PgConnectionInfo, 'url'>): Record<string, string> {
  return {
    PGHOST: c.host,
    PGPORT: String(c.port),
    PGUSER: c.user,
    PGDATABASE: c.database,
    PGPASSWORD: c.password,
  };
}

/** The connection values of a data dir's recorded state (always 127.0.0.1). */
export function connectionOf(state: StoredState): PgConnectionInfo {
  const url = `postgres://${encodeURIComponent(state.user)}:${encodeURIComponent(state.password)}@${HOST}:${state.port}/${encodeURIComponent(state.database)}`;
  return {
    host: HOST,
    port: state.port,
    user: state.user,
    password: state.password,
    database: state.database,
    url,
  };
}

/** Creates the jobs' database (`rsqlo`) when it does not exist yet; connects to `postgres` to do so. */
export async function createDatabase(c: PgConnectionInfo): Promise<void> {
  const client = new pg.Client({
    host: c.host,
    port: c.port,
    user: c.user,
    password: c.password,
    database: 'postgres',
  });
  client.on('error', () => {});
  try {
    await client.connect();
    const r = await client.query('select 1 from pg_database where datname = $1', [c.database]);
    if (r.rowCount === 0) await client.query(`create database "${c.database.replaceAll('"', '""')}"`);
  } catch (e) {
    throw new EmbeddedPostgresError(`cannot create database ${c.database}: ${errText(e)}`);
  } finally {
    await client.end().catch(() => {});
  }
}
