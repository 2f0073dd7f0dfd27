/**
 * Test helpers over the shared embedded PostgreSQL (started once by postgres-global-setup.ts): a fresh
 * database per test file so files running in parallel never see each other's tables.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { type PgConnectionInfo, pgEnvironment } from '../../rsql/embedded-postgres.js';

/** The shared server's connection (its default database). */
export function sharedConnection(): PgConnectionInfo {
  return inject('pgConnection');
}

function withDatabase(c: PgConnectionInfo, database: string): PgConnectionInfo {
  const url = new URL(c.url);
  url.pathname = `/${encodeURIComponent(database)}`;
  return { ...c, database, url: url.toString() };
}

async function admin<T>(c: PgConnectionInfo, f: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({
    host: c.host,
    port: c.port,
    user: c.user,
    password: c.password,
    database: c.database,
  });
  await client.connect();
  try {
    return await f(client);
  } finally {
    await client.end();
  }
}

/**
 * Creates a new, empty database named after `prefix` plus a random suffix and returns its connection;
 * `drop()` removes it (forcing out leftover sessions).
 */
export async function createTestDatabase(
  prefix = 'test',
): Promise<{ connection: PgConnectionInfo; drop: () => Promise<void> }> {
  const shared = sharedConnection();
  const name = `${prefix.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
  await admin(shared, (c) => c.query(`create database "${name}"`));
  return {
    connection: withDatabase(shared, name),
    drop: () =>
      admin(shared, (c) => c.query(`drop database if exists "${name}" with (force)`)).then(() => {}),
  };
}

/** Runs one query on a connection (for test setup and assertions) and returns its rows. */
export async function query<R extends Record<string, unknown> = Record<string, unknown>>(
  c: PgConnectionInfo,
  sql: string,
  params: unknown[] = [],
): Promise<R[]> {
  return admin(c, async (client) => (await client.query(sql, params)).rows as R[]);
}

/** Environment variables pointing a child process (rsql, psql, a wrapper script) at the database. */
export function pgEnv(c: PgConnectionInfo): Record<string, string> {
  return pgEnvironment(c);
}
