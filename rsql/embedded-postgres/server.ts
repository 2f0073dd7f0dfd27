/**
 * Making a cluster and starting its server: initdb into `pgdata.init/` renamed into place once complete,
 * our settings (`rsqlo.conf`, also given on the server's command line so no config file can move the
 * server to PostgreSQL's default port or socket directory), and the start that waits for the pid file to
 * say "ready".
 */
import { spawn } from 'node:child_process';
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
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { HOST } from './connection.js';
import { EmbeddedPostgresError } from './errors.js';
import type { Binaries, RunAs } from './os-user.js';
import { readPidFile, removeStalePidFile, START_TIMEOUT_MS, sleep } from './processes.js';
import type { StoredState } from './state.js';

/** Longest unix socket path (sun_path is 108 bytes on Linux, minus the NUL). */
const MAX_SOCKET_PATH = 107;

/** Marks a cluster whose initdb and settings completed (clusters made before `pgdata.init/` existed). */
const INCLUDE_LINE = "include_if_exists = 'rsqlo.conf'";

/** Whether postgresql.conf includes our settings: true/false, undefined when there is no postgresql.conf. */
function hasInclude(pgdata: string): boolean | undefined {
  try {
    return readFileSync(join(pgdata, 'postgresql.conf'), 'utf8').includes(INCLUDE_LINE);
  } catch {
    return undefined;
  }
}

/** A cluster is complete when initdb finished and our settings were added (the last step). */
export function clusterComplete(pgdata: string): boolean {
  return existsSync(join(pgdata, 'PG_VERSION')) && hasInclude(pgdata) === true;
}

/**
 * Makes the cluster in `<pgdata>.init` and renames it into place once initdb and our settings are
 * complete: a crash at any moment leaves either no cluster or a whole one.
 */
export async function initCluster(
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

/** The server could not bind its port (someone took it meanwhile): the start is retried on a new port. */
export class PortInUseError extends EmbeddedPostgresError {
  override name = 'PortInUseError';
}

/**
 * Starts the server detached (it outlives us until stopped) and waits until its pid file says ready; a
 * port taken meanwhile is a {@link PortInUseError}.
 */
export async function startServer(
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
