import { existsSync, linkSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { isSameProcessAlive, processStart } from '../platform/processes.js';

/** Another engine holds the home. */
export class EngineLockedError extends Error {
  override name = 'EngineLockedError';
  constructor(
    readonly home: string,
    /** The owner's pid, when it could be read (it is written a moment after the lock is taken). */
    readonly pid: number | undefined,
  ) {
    super(
      `another rsqlo engine ${pid !== undefined ? `(pid ${pid}) ` : ''}is using ${home}; wait for it to finish, stop it, or use another --home`,
    );
  }
}

/** What an owner holds; `release` gives the home up (also done by the OS when the process ends). */
export interface HomeLock {
  release(): void;
}

/** The file whose operating-system lock is the ownership of a home. */
export const LOCK_DB = 'engine.lock.db';
/** The owner's pid (text), for messages; engines before the OS lock used it as the lock itself. */
export const PID_FILE = 'engine.lock';

/**
 * One engine owns a home at a time (and one EC2 agent daemon its spool, with the same lock).
 *
 * Ownership is an exclusive lock the operating system holds for the owner on `engine.lock.db`
 * (SQLite's file lock, taken with `BEGIN EXCLUSIVE` and never committed). The kernel grants it to
 * one process only, and drops it when that process ends, however it ends: a crashed owner's home
 * is free at once, and two processes taking over after a crash cannot both get it. (A lock kept in
 * a pid file cannot do that: two processes that both find a dead pid both "take it over".)
 * `engine.lock` then names the owner's pid, for the message others get (EngineLockedError).
 *
 * Where better-sqlite3 cannot load (the EC2 agent is installed without native builds), the pid
 * file itself is the lock, as before: atomic to create, and taken over from a dead owner by
 * moving exactly that file aside; not airtight when three processes race a takeover.
 */
export function acquireLock(home: string): HomeLock {
  const Database = sqlite();
  return Database ? osLock(home, Database) : pidFileLock(home);
}

type DatabaseCtor = typeof BetterSqlite3;
let loaded: DatabaseCtor | null | undefined;

/** better-sqlite3, if its native module loads here (undefined otherwise). */
function sqlite(): DatabaseCtor | undefined {
  if (loaded === undefined) {
    try {
      const D = createRequire(import.meta.url)('better-sqlite3') as DatabaseCtor;
      new D(':memory:').close();
      loaded = D;
    } catch {
      loaded = null;
    }
  }
  return loaded ?? undefined;
}

/**
 * How long a contender waits for the lock before it is refused: 500 ms. Not 0: several processes
 * taking a free home at the same moment can each see the others' transient SQLite locks (a SHARED
 * lock while one reads the file, a PENDING one while another escalates) and, without a wait, all
 * be refused — "in use" with no owner. Trying in short slices, one of them wins.
 */
export const LOCK_WAIT_MS = 500;
/** One try's busy wait within {@link LOCK_WAIT_MS}. */
const LOCK_SLICE_MS = 20;

function osLock(home: string, Database: DatabaseCtor): HomeLock {
  const file = path.join(home, LOCK_DB);
  const pidFile = path.join(home, PID_FILE);
  // Whoever engine.lock named when we began: a crashed owner's pid, or the live owner's.
  const before = readOwner(pidFile)?.pid;
  const db = new Database(file, { timeout: LOCK_SLICE_MS });
  const end = Date.now() + LOCK_WAIT_MS;
  try {
    for (;;) {
      try {
        // No journal file: nothing is ever written; the lock is the point.
        db.pragma('journal_mode = MEMORY');
        db.exec('BEGIN EXCLUSIVE');
        break;
      } catch (err) {
        if (!String((err as { code?: unknown }).code).startsWith('SQLITE_BUSY')) throw err;
        // Refused at once when the owner is known to live: engine.lock names the very process (its
        // start token matches: not a crashed owner's pid reused), or a pid written since we began
        // (it won a takeover race). Otherwise tried again until the wait is over: a pid alone that
        // was already there may be a crashed owner's, reused by an unrelated process.
        const now = readOwner(pidFile);
        const live =
          now !== undefined &&
          now.pid !== process.pid &&
          (now.start !== undefined || now.pid !== before) &&
          isSameProcessAlive(now.pid, now.start);
        if (live || Date.now() >= end) throw new EngineLockedError(home, holderPid(home));
      }
    }
  } catch (err) {
    db.close();
    throw err;
  }
  writePid(home);
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      removePid(home);
      try {
        db.close(); // ends the transaction and lets go of the lock
      } catch {
        // the process is ending anyway; the OS releases the lock with it
      }
    },
  };
}

/**
 * Writes `engine.lock` whole (a reader never sees half of it): the pid on the first line and, where
 * the platform gives one, the process's start token on the second (so a reader can tell the owner
 * from a process that reused a crashed owner's pid). Best effort: it is informational.
 */
function writePid(home: string): void {
  const file = path.join(home, PID_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  const start = processStart(process.pid);
  try {
    writeFileSync(tmp, `${process.pid}\n${start !== undefined ? `${start}\n` : ''}`);
    renameSync(tmp, file);
  } catch {
    try {
      unlinkSync(tmp);
    } catch {
      // never written
    }
  }
}

function removePid(home: string): void {
  const file = path.join(home, PID_FILE);
  try {
    if (readPid(file) === process.pid) unlinkSync(file);
  } catch {
    // already gone
  }
}

function readPid(file: string): number | undefined {
  return readOwner(file)?.pid;
}

/** `engine.lock`'s pid (first line) and start token (second line, when written). */
function readOwner(file: string): { pid: number; start: string | undefined } | undefined {
  try {
    const [first, second] = readFileSync(file, 'utf8').split('\n');
    const n = Number(first?.trim());
    if (!Number.isInteger(n) || n <= 0) return undefined;
    return { pid: n, start: second?.trim() || undefined };
  } catch {
    return undefined;
  }
}

/**
 * The owner's pid, for the message. The owner writes it a moment after taking the lock, so a
 * missing file or a dead pid (the previous owner's) is looked at again for a little while.
 */
function holderPid(home: string): number | undefined {
  const file = path.join(home, PID_FILE);
  const end = Date.now() + 500;
  for (;;) {
    const pid = readPid(file);
    if (pid !== undefined && (pid === process.pid || isSameProcessAlive(pid, undefined))) return pid;
    if (Date.now() > end) return undefined;
    sleepSync(10);
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** The fallback: the pid file is the lock (see {@link acquireLock}). Exported for its tests. */
export function pidFileLock(home: string): HomeLock {
  const file = path.join(home, PID_FILE);
  const mine = `${process.pid}\n`;
  for (let i = 0; i < 5; i++) {
    // Created whole with its content (link), so nobody ever reads an empty lock.
    const tmp = `${file}.${process.pid}.new`;
    writeFileSync(tmp, mine);
    try {
      linkSync(tmp, file);
      unlinkSync(tmp);
      return { release: () => removePid(home) };
    } catch (err) {
      unlinkSync(tmp);
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let seen: string;
    try {
      seen = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const holder = Number(seen.split('\n')[0]?.trim());
    if (
      Number.isInteger(holder) &&
      holder > 0 &&
      holder !== process.pid &&
      isSameProcessAlive(holder, undefined)
    )
      throw new EngineLockedError(home, holder);
    // Stale: move exactly this file aside (only one process can), and put it back if it turns out
    // to be a fresh lock another process made after we looked.
    const grave = `${file}.${process.pid}.stale`;
    try {
      renameSync(file, grave);
    } catch {
      continue;
    }
    try {
      if (readFileSync(grave, 'utf8') !== seen && !existsSync(file)) linkSync(grave, file);
    } catch {
      // someone else's lock stands
    }
    unlinkSync(grave);
  }
  throw new Error(`could not take the engine lock ${file}`);
}
