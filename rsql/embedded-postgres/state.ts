/**
 * The data directory's own files: `connection.json` (port, credentials, where the cluster is; mode 0600,
 * written atomically), the `.lock` held while starting or stopping (taken over from a dead holder), and
 * the free TCP ports the server may listen on.
 */
import { chmodSync, closeSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { HOST } from './connection.js';
import { EmbeddedPostgresError, errText } from './errors.js';
import { pidAlive, START_TIMEOUT_MS, sleep } from './processes.js';

/** `connection.json`: the cluster's port, credentials and location. */
export interface StoredState {
  port: number;
  user: string;
  password: string;
  database: string;
  /** True once the jobs' database exists (set after the first successful start). */
  initialised: boolean;
  /** The cluster directory when it is not `<dataDir>/pgdata` (root with a home the server cannot reach). */
  pgdata?: string;
}

/** `connection.json`, or undefined when there is none; a file that is not valid is an error naming it. */
export function readState(file: string): StoredState | undefined {
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

/** Writes `connection.json` atomically (temporary file, rename), mode 0600: it holds the password. */
export function writeState(file: string, state: StoredState): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

/** Takes the data dir's `.lock` (waiting up to the start timeout; a dead holder's lock is taken over); returns its release. */
export async function acquireLock(file: string): Promise<() => void> {
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

/** A TCP port free on 127.0.0.1 now (the kernel picks it). */
export function freePort(): Promise<number> {
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

/** Whether `port` can be bound on 127.0.0.1 now. */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolveFree) => {
    const srv = createServer();
    srv.once('error', () => resolveFree(false));
    srv.listen(port, HOST, () => srv.close(() => resolveFree(true)));
  });
}
