import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isSameProcessAlive } from '../../platform/processes.js';
import {
  ensureEmbeddedPostgres,
  type PgConnectionInfo,
  pgEnvironment,
  stopEmbeddedPostgres,
} from '../../rsql/embedded-postgres.js';
import { ensureRedshiftFunctions } from '../../rsql/redshift/install.js';
import { parseConnectionUri } from '../../rsql/session.js';
import { packageRoot } from '../package-root.js';

/** Where jobs' SQL goes: the embedded PostgreSQL under the engine home, a URL, or nothing. */
export type DatabaseTarget =
  | { kind: 'embedded'; dataDir: string }
  | { kind: 'url'; url: string }
  | { kind: 'none' };

/** A database jobs can reach, and how to let go of it. */
export interface Database {
  /** The environment variables that point jobs (and `rsql`) at it. Contains the password. */
  env: Record<string, string>;
  /** Where it is, for messages (never the password). */
  describe: string;
  /** Stops the embedded server if this process started it; otherwise does nothing. */
  release(): Promise<void>;
}

export class DatabaseError extends Error {
  override name = 'DatabaseError';
}

/**
 * The connection as environment variables: libpq's names (PG*) for `rsql`/`psql`, and the names the
 * seed's wrapper scripts use (`rsql -h $HOST -U $USER -d $DB`, password in RSPASSWORD).
 */
export function connectionEnv(c: Omit<PgConnectionInfo, 'url'>): Record<string, string> {
  return {
    ...pgEnvironment(c),
    HOST: c.host,
    USER: c.user,
    DB: c.database,
    RSPASSWORD: c.password,
  };
}

/** Opens the database target: starts (or reuses) the embedded server, or reads a URL. */
export async function openDatabase(
  target: DatabaseTarget,
  log?: (line: string) => void,
): Promise<Database | undefined> {
  if (target.kind === 'none') return undefined;
  if (target.kind === 'url') {
    let p: ReturnType<typeof parseConnectionUri>;
    try {
      p = parseConnectionUri(target.url);
    } catch (err) {
      throw new DatabaseError(`--database-url: ${err instanceof Error ? err.message : String(err)}`);
    }
    const c = {
      host: p.host ?? 'localhost',
      port: p.port ?? 5432,
      user: p.user ?? process.env.USER ?? 'postgres',
      database: p.database ?? p.user ?? 'postgres',
      password: p.password ?? process.env.PGPASSWORD ?? '',
    };
    return {
      env: connectionEnv(c),
      describe: `${c.user}@${c.host}:${c.port}/${c.database}`,
      release: async () => {},
    };
  }
  const pg = await ensureEmbeddedPostgres({ dataDir: target.dataDir, log });
  const c = pg.connection;
  await ensureRedshiftFunctions(target.dataDir, c, log).catch(async (err: unknown) => {
    if (pg.startedHere) await pg.stop();
    throw err;
  });
  // The server belongs to whoever started it. A server left running by an engine that was killed
  // is taken over, so that it is stopped once, by us, instead of running forever.
  const ownerFile = path.join(target.dataDir, 'owner.pid');
  const owned = pg.startedHere || !isAlive(readOwner(ownerFile));
  if (owned) writeFileSync(ownerFile, `${process.pid}\n`);
  return {
    env: connectionEnv(c),
    describe: `embedded PostgreSQL ${c.user}@${c.host}:${c.port}/${c.database} (${target.dataDir})`,
    release: async () => {
      if (owned && readOwner(ownerFile) === process.pid) await pg.stop();
    },
  };
}

/**
 * Stops the embedded server of a home when the process that owned it is gone (an engine killed
 * while it ran): called when an engine closes, so a server left behind by a crash is stopped by
 * the next engine on the home even when that one ran no job. A server whose owner lives (another
 * `rsqlo sql`, say) is left alone.
 */
export async function stopOrphanDatabase(
  target: DatabaseTarget,
  log?: (line: string) => void,
): Promise<void> {
  if (target.kind !== 'embedded') return;
  if (isAlive(readOwner(path.join(target.dataDir, 'owner.pid')))) return;
  await stopEmbeddedPostgres(target.dataDir, log);
}

function readOwner(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number | undefined): boolean {
  return pid !== undefined && isSameProcessAlive(pid, undefined);
}

/**
 * A folder holding an `rsql` command that runs this package's runner, to put first on the jobs'
 * PATH: wrapper scripts calling `rsql` get it, with the node that runs rsqlo.
 */
export function rsqlShimDir(home: string): string {
  const dir = path.join(home, 'bin');
  mkdirSync(dir, { recursive: true });
  const runner = path.join(packageRoot(), 'bin', 'rsql.cjs');
  const shim = path.join(dir, 'rsql');
  writeFileSync(
    shim,
    `#!/bin/sh\n# Written by rsqlo: the RSQL-compatible runner.\nexec '${process.execPath}' '${runner}' "$@"\n`,
  );
  chmodSync(shim, 0o755);
  return dir;
}

/** The command `.sql` scripts run with: this package's runner. */
export function rsqlCommand(): string[] {
  return [process.execPath, path.join(packageRoot(), 'bin', 'rsql.cjs')];
}
