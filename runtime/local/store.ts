import { randomUUID } from 'node:crypto';
import { closeSync, type Dirent, openSync, readdirSync, readSync, statfsSync, statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import {
  countField,
  type JobAuditRecord,
  parseJobKey,
  type WorkflowAuditRecord,
  type WorkflowRunState,
  withRsqlJobs,
} from '../../contracts/audit.js';
import type { RsqloEvent } from '../../contracts/events.js';
import { type EventEnvelope, toEnvelope } from '../../events/envelope.js';
import { routeEvent } from '../../events/routing.js';
import { isAggregatorChange } from '../../services/aggregator/service.js';
import type {
  CreateRunResult,
  DefinitionRepository,
  Effects,
  JobClaim,
  JobRepository,
  JobTransition,
  RunRepository,
  StageCompletion,
} from '../../services/ports.js';
import { applyStageCompletion, canLaunch, totalCounts } from '../../services/shared/progress.js';

/** Bumped when the schema changes; an engine refuses a home written by a newer one. */
export const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS definitions (
  workflow_id TEXT PRIMARY KEY, body TEXT NOT NULL, script_root TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY, workflow_id TEXT NOT NULL, status TEXT NOT NULL, start_ts TEXT NOT NULL, body TEXT NOT NULL,
  rsql_jobs TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS runs_by_workflow ON runs (workflow_id, start_ts);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status);
CREATE TABLE IF NOT EXISTS jobs (
  exec TEXT NOT NULL, stage INTEGER NOT NULL, job_no INTEGER NOT NULL, status TEXT NOT NULL,
  attempt INTEGER NOT NULL, counted INTEGER NOT NULL, body TEXT NOT NULL,
  PRIMARY KEY (exec, stage, job_no)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (
  id INTEGER PRIMARY KEY, target TEXT NOT NULL, payload TEXT NOT NULL, available_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, copy INTEGER NOT NULL DEFAULT 0, last_error TEXT);
CREATE INDEX IF NOT EXISTS outbox_ready ON outbox (available_at, id);
CREATE TABLE IF NOT EXISTS queue (
  id INTEGER PRIMARY KEY, body TEXT NOT NULL, visible_at INTEGER NOT NULL, receives INTEGER NOT NULL DEFAULT 0,
  copy INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS queue_visible ON queue (visible_at, id);
CREATE TABLE IF NOT EXISTS timers (key TEXT PRIMARY KEY, due_at INTEGER NOT NULL, payload TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS timers_due ON timers (due_at);
CREATE TABLE IF NOT EXISTS job_runs (
  name TEXT PRIMARY KEY, exec TEXT NOT NULL, job_key TEXT NOT NULL, attempt INTEGER NOT NULL,
  status TEXT NOT NULL, input TEXT NOT NULL, command TEXT, pid INTEGER, start_ticks TEXT,
  started_at TEXT, log_file TEXT, exit_file TEXT, ended_at TEXT);
CREATE INDEX IF NOT EXISTS job_runs_active ON job_runs (status);
CREATE TABLE IF NOT EXISTS run_definitions (
  exec TEXT PRIMARY KEY, file TEXT, script_root TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dead_letters (
  id INTEGER PRIMARY KEY, source TEXT NOT NULL, payload TEXT NOT NULL, error TEXT NOT NULL, at TEXT NOT NULL);
`;

/** A row written during a unit that is due at once. */
export type FreshRow = { kind: 'outbox'; row: OutboxRow } | { kind: 'queue'; row: QueueRow };

/** Wrapper execution states (what Step Functions would say about one job run). */
export type JobRunStatus = 'Running' | 'Succeeded' | 'Failed' | 'TimedOut' | 'Aborted';

export interface JobRunRow {
  name: string;
  exec: string;
  job_key: string;
  attempt: number;
  status: JobRunStatus;
  input: string;
  command: string | null;
  pid: number | null;
  start_ticks: string | null;
  started_at: string | null;
  log_file: string | null;
  exit_file: string | null;
  ended_at: string | null;
}

export interface OutboxRow {
  id: number;
  target: string;
  payload: string;
  available_at: number;
  attempts: number;
  copy: number;
}

export interface QueueRow {
  id: number;
  body: string;
  visible_at: number;
  receives: number;
  copy: number;
}

export class StoreVersionError extends Error {
  override name = 'StoreVersionError';
}

/**
 * The state store (or another file of the engine's) could not be used, for a reason outside the
 * engine: another process holds the SQLite write lock (`busy`), the disk is full or failing, or
 * the file is read-only (`io`), or the file is damaged (`damaged`). The message is one line that
 * names the cause and the path.
 */
export class StoreError extends Error {
  override name = 'StoreError';
  constructor(
    readonly kind: 'busy' | 'io' | 'damaged',
    /** The file concerned. */
    readonly file: string,
    /** SQLite's or the system's error code (SQLITE_BUSY, SQLITE_FULL, ENOSPC…). */
    readonly code: string,
    message: string,
    options?: { cause?: unknown; diskFull?: boolean },
  ) {
    super(message, options);
    this.diskFull = options?.diskFull ?? /^(SQLITE_FULL|ENOSPC|EDQUOT)$/.test(code);
  }

  /** No space left (or a quota reached) on the device holding the file. */
  readonly diskFull: boolean;
}

const ERRNO_WORDS: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EIO: 'input/output error',
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
};

/** Below this many free bytes, an I/O error writing a file is put down to a full disk. */
const NEARLY_FULL_BYTES = 256 * 1024;

/**
 * Whether the device holding `file` is (nearly) full: SQLite reports some writes that failed for
 * want of space as plain I/O errors (growing its shared-memory file: SQLITE_IOERR_SHMSIZE).
 */
function deviceFull(file: string): boolean {
  try {
    const s = statfsSync(path.dirname(file));
    return s.bavail * s.bsize < NEARLY_FULL_BYTES;
  } catch {
    return false;
  }
}

/**
 * What an error means for the engine's files: a StoreError for SQLite's busy, I/O and damage
 * errors (about `file`, the database the error came from) and for the system's I/O errors (about
 * the path they name); undefined for anything else (a bug, a constraint violation).
 */
export function storeFailure(err: unknown, file: string): StoreError | undefined {
  if (err instanceof StoreError) return err;
  const e = err as { code?: unknown; message?: unknown; path?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const noSpace = (where: string) =>
    new StoreError('io', where, code, `no space left on the device: cannot write ${where} (${code})`, {
      cause: err,
      diskFull: true,
    });
  if (code.startsWith('SQLITE_')) {
    if (/^SQLITE_(BUSY|LOCKED)/.test(code))
      return new StoreError(
        'busy',
        file,
        code,
        `${file} is locked by another process (${code}): something (a sqlite3 shell, a backup) holds its write lock`,
        { cause: err },
      );
    if (/^SQLITE_(CORRUPT|NOTADB)/.test(code))
      return new StoreError('damaged', file, code, `${file} is damaged: ${message} (${code})`, {
        cause: err,
      });
    if (code === 'SQLITE_FULL') return noSpace(file);
    if (/^SQLITE_IOERR/.test(code) && deviceFull(file)) return noSpace(file);
    if (/^SQLITE_(IOERR|READONLY|CANTOPEN|PERM)/.test(code))
      return new StoreError('io', file, code, `cannot use ${file}: ${message} (${code})`, { cause: err });
    return undefined;
  }
  const words = ERRNO_WORDS[code];
  if (words) {
    const where = typeof e?.path === 'string' ? e.path : file;
    if (code === 'ENOSPC' || code === 'EDQUOT')
      return new StoreError('io', where, code, `${words}: cannot write ${where} (${code})`, { cause: err });
    const verb = code === 'EROFS' ? 'cannot write' : 'cannot use';
    return new StoreError('io', where, code, `${words}: ${verb} ${where} (${code})`, { cause: err });
  }
  return undefined;
}

/** Refuses a state file that is cut short (StoreError 'damaged'), naming how. */
function refuseCutShort(file: string): void {
  const short = cutShort(file);
  if (short)
    throw new StoreError('damaged', file, 'SQLITE_CORRUPT', `${file} is damaged: it is cut short: ${short}`);
}

/**
 * Whether a state file is cut short: its header names more pages than the file holds. Only
 * meaningful without a write-ahead log (with one, pages may live in the log), and only when the
 * header's size is valid (SQLite's rule: change counter = version-valid-for).
 */
function cutShort(file: string): string | undefined {
  let size: number;
  try {
    size = statSync(file).size;
    if (size === 0 || statSync(`${file}-wal`).size > 0) return undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return undefined;
    try {
      size = statSync(file).size;
    } catch {
      return undefined;
    }
    if (size === 0) return undefined;
  }
  const head = Buffer.alloc(100);
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    if (readSync(fd, head, 0, 100, 0) < 100) return `it is ${size} bytes, shorter than a header`;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  if (head.toString('latin1', 0, 16) !== 'SQLite format 3\u0000') return undefined; // SQLite says NOTADB
  const raw = head.readUInt16BE(16);
  const pageSize = raw === 1 ? 65536 : raw;
  const pages = head.readUInt32BE(28);
  if (pages === 0 || head.readUInt32BE(24) !== head.readUInt32BE(92)) return undefined;
  return pages * pageSize > size
    ? `it is ${size} bytes, but its header says ${pages} pages of ${pageSize} bytes`
    : undefined;
}

/**
 * The state file does not know runs that left files in the home: it was emptied, truncated or
 * replaced, or its write-ahead log was deleted after a crash. The engine refuses to go on over
 * that evidence (it would start afresh and the runs would silently vanish) unless told to.
 */
export class LostStateError extends Error {
  override name = 'LostStateError';
  constructor(
    readonly file: string,
    readonly home: string,
    /** Execution ids with logs in the home and no record in the state. */
    readonly lost: string[],
    /** Whether the state file was new or empty when opened. */
    readonly fresh: boolean,
  ) {
    const shown = lost.slice(0, 5).join(', ') + (lost.length > 5 ? ` and ${lost.length - 5} more` : '');
    const why = fresh
      ? `${file} was missing or empty (deleted, truncated or replaced)`
      : `${file} lost its latest changes (its write-ahead log ${path.basename(file)}-wal was deleted after a crash, or the file was replaced by an older copy)`;
    super(
      `the engine state does not know ${lost.length} run(s) whose logs are in ${home}: ${shown}. ${why}. Nothing was changed. To recover, put back ${path.basename(file)} (and ${path.basename(file)}-wal) from a backup, then try again; to go on without those runs, add --forget-lost (their logs are moved to ${path.join(home, 'lost')}/)`,
    );
  }
}

/** Folders under `<home>/logs` and `<home>/runs` named like runs: the evidence of runs there. */
export function runFolders(home: string): string[] {
  const ids = new Set<string>();
  for (const dir of ['logs', 'runs']) {
    let entries: Dirent[] = [];
    try {
      entries = readdirSync(path.join(home, dir), { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) if (e.isDirectory() && !e.name.startsWith('.')) ids.add(e.name);
  }
  return [...ids].sort();
}

/** Hears when the store starts waiting for another process's write lock, and when it got it. */
export interface StoreWaiter {
  waiting(err: StoreError): void;
  over(waitedMs: number): void;
}

/**
 * The embedded engine's state in one SQLite file (WAL). Every state change and the events, queue
 * messages and change-feed records it causes are written in one transaction (the outbox), and
 * delivered afterwards at least once. Implements the services' repository ports.
 */
export class LocalStore {
  readonly db: Database.Database;
  /** Rows written (inserted, updated, deleted) since open: what the bench reports per job. */
  writes = 0;
  /**
   * Earliest time (ms) anything in the outbox, queue or timers may be due, as far as this process
   * knows: lowered on every insert, recomputed from the database by `refreshDue`. Lets the engine
   * skip queries that would find nothing. Other processes' writes are found by polling.
   */
  readonly due = { outbox: 0, queue: 0, timer: 0 };
  /** Future times this process wrote (delayed rows, hidden messages, timers): what `due` falls back to. */
  private readonly later = { outbox: new MinHeap(), queue: new MinHeap(), timer: new MinHeap() };
  private depth = 0;
  private committed: EventEnvelope[] = [];
  private observers: Array<(e: EventEnvelope) => void> = [];
  private readonly now: () => number;
  private readonly st: ReturnType<LocalStore['prepare']>;
  /** The database file (for messages). */
  readonly file: string;
  /** Hears waits for another process's write lock (the engine says them on stderr). */
  waiter: StoreWaiter | undefined;
  /** When the current wait for the write lock began (a BEGIN found it busy), if one is going on. */
  private busySince: number | undefined;
  private readonly busyTimeoutMs: number;
  /** The file was missing or empty when opened: a new state. */
  readonly isNew: boolean = false;
  /** A store failure met inside the current transaction: it fails the transaction, whoever caught it. */
  private txFailure: StoreError | undefined;

  /**
   * Opens (or creates) the state file. `busyTimeoutMs` (default 250) is how long one attempt waits
   * for another process's write lock: top-level transactions then try again (and say so through
   * `waiter`) until they get it; units of work give up with a StoreError for the engine to retry.
   */
  constructor(file: string, opts: { now?: () => number; busyTimeoutMs?: number; waiter?: StoreWaiter } = {}) {
    this.file = file;
    this.waiter = opts.waiter;
    this.busyTimeoutMs = opts.busyTimeoutMs ?? 250;
    this.now = opts.now ?? Date.now;
    if (file !== ':memory:') {
      refuseCutShort(file);
      try {
        this.isNew = statSync(file).size === 0;
      } catch {
        this.isNew = true;
      }
    }
    try {
      this.db = new Database(file, { timeout: this.busyTimeoutMs });
    } catch (err) {
      throw storeFailure(err, file) ?? err;
    }
    try {
      this.waitFor(() => this.db.pragma('journal_mode = WAL'));
      this.db.pragma('synchronous = NORMAL');
      const v = this.waitFor(() => {
        this.db.exec(SCHEMA);
        return this.db.prepare('SELECT value FROM meta WHERE key = ?').get('schema_version') as
          | { value: string }
          | undefined;
      });
      if (!v)
        this.waitFor(() =>
          this.db
            .prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)')
            .run('schema_version', String(SCHEMA_VERSION)),
        );
      else if (Number(v.value) > SCHEMA_VERSION) {
        throw new StoreVersionError(
          `${file} was written by a newer rsqlo (schema ${v.value}); upgrade rsqlo`,
        );
      }
      this.st = this.prepare();
    } catch (err) {
      this.db.close();
      throw storeFailure(err, file) ?? err;
    }
  }

  /**
   * Which of `ids` the state file at `file` has a record of, read without writing anything (a
   * read-only connection): what the engine checks before it opens a state that may have lost runs.
   */
  static knownRuns(file: string, ids: readonly string[]): Set<string> {
    const known = new Set<string>();
    refuseCutShort(file);
    let db: Database.Database | undefined;
    try {
      db = new Database(file, { readonly: true, timeout: 5000 });
      const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'").get();
      if (!table) return known;
      const has = db.prepare('SELECT 1 FROM runs WHERE id = ?');
      for (const id of ids) if (has.get(id) !== undefined) known.add(id);
      return known;
    } catch (err) {
      throw storeFailure(err, file) ?? err;
    } finally {
      db?.close();
    }
  }

  /** Runs a statement outside a transaction, trying again while another process holds the lock. */
  private waitFor<T>(fn: () => T): T {
    for (;;) {
      try {
        const r = fn();
        this.lockFree();
        return r;
      } catch (err) {
        const f = storeFailure(err, this.file);
        if (f?.kind !== 'busy') throw err;
        this.noteBusy(f);
      }
    }
  }

  /** Notes that another process holds the database (said once through `waiter`, until a write goes through). */
  noteBusy(f: StoreError): void {
    if (this.busySince === undefined) {
      // The attempt that failed had waited the busy timeout already.
      this.busySince = Date.now() - this.busyTimeoutMs;
      this.waiter?.waiting(f);
    }
  }

  private lockFree(): void {
    if (this.busySince === undefined) return;
    const waited = Date.now() - this.busySince;
    this.busySince = undefined;
    this.waiter?.over(waited);
  }

  /** Whether a write found another process holding the lock, and none has succeeded since. */
  get waitingForLock(): boolean {
    return this.busySince !== undefined;
  }

  private prepare() {
    const d = this.db;
    return {
      begin: d.prepare('BEGIN IMMEDIATE'),
      commit: d.prepare('COMMIT'),
      rollback: d.prepare('ROLLBACK'),
      getDef: d.prepare('SELECT body, script_root FROM definitions WHERE workflow_id = ?'),
      putDef: d.prepare(
        'INSERT INTO definitions (workflow_id, body, script_root, updated_at) VALUES (?, ?, ?, ?) ' +
          'ON CONFLICT (workflow_id) DO UPDATE SET body = excluded.body, script_root = excluded.script_root, updated_at = excluded.updated_at',
      ),
      getRunDef: d.prepare('SELECT body, script_root, file FROM run_definitions WHERE exec = ?'),
      putRunDef: d.prepare(
        'INSERT OR REPLACE INTO run_definitions (exec, file, script_root, body) VALUES (?, ?, ?, ?)',
      ),
      getRun: d.prepare('SELECT body FROM runs WHERE id = ?'),
      getRunJobs: d.prepare('SELECT rsql_jobs FROM runs WHERE id = ?'),
      insertRun: d.prepare(
        'INSERT INTO runs (id, workflow_id, status, start_ts, body, rsql_jobs) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      updateRun: d.prepare('UPDATE runs SET status = ?, body = ? WHERE id = ?'),
      activeRuns: d.prepare(
        "SELECT id FROM runs WHERE workflow_id = ? AND status = 'Running' ORDER BY start_ts",
      ),
      allActiveRuns: d.prepare("SELECT body FROM runs WHERE status = 'Running' ORDER BY start_ts"),
      listRuns: d.prepare(
        'SELECT body, rsql_jobs FROM runs WHERE workflow_id = ? ORDER BY start_ts DESC, id DESC LIMIT ?',
      ),
      getJob: d.prepare('SELECT body FROM jobs WHERE exec = ? AND stage = ? AND job_no = ?'),
      insertJob: d.prepare(
        'INSERT INTO jobs (exec, stage, job_no, status, attempt, counted, body) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      updateJob: d.prepare(
        'UPDATE jobs SET status = ?, attempt = ?, counted = ?, body = ? WHERE exec = ? AND stage = ? AND job_no = ?',
      ),
      stageJobs: d.prepare(
        'SELECT body FROM jobs WHERE exec = ? AND stage = ? AND job_no > ? ORDER BY job_no LIMIT ?',
      ),
      allJobs: d.prepare('SELECT body FROM jobs WHERE exec = ? ORDER BY stage, job_no'),
      pendingFrom: d.prepare(
        "SELECT body FROM jobs WHERE exec = ? AND status = 'Pending' AND ((stage = ? AND job_no > ?) OR stage > ?) ORDER BY stage, job_no",
      ),
      insertOutbox: d.prepare('INSERT INTO outbox (target, payload, available_at, copy) VALUES (?, ?, ?, ?)'),
      readyOutbox: d.prepare(
        'SELECT * FROM outbox WHERE available_at <= ? ORDER BY available_at, id LIMIT ?',
      ),
      deleteOutbox: d.prepare('DELETE FROM outbox WHERE id = ?'),
      retryOutbox: d.prepare(
        'UPDATE outbox SET attempts = attempts + 1, available_at = ?, last_error = ? WHERE id = ?',
      ),
      nextOutbox: d.prepare('SELECT MIN(available_at) AS t FROM outbox'),
      countOutbox: d.prepare('SELECT COUNT(*) AS n FROM outbox'),
      sendQueue: d.prepare('INSERT INTO queue (body, visible_at, copy) VALUES (?, ?, ?)'),
      visibleQueue: d.prepare('SELECT * FROM queue WHERE visible_at <= ? ORDER BY visible_at, id LIMIT ?'),
      hideQueue: d.prepare('UPDATE queue SET visible_at = ?, receives = receives + 1 WHERE id = ?'),
      deleteQueue: d.prepare('DELETE FROM queue WHERE id = ?'),
      nextQueue: d.prepare('SELECT MIN(visible_at) AS t FROM queue'),
      countQueue: d.prepare('SELECT COUNT(*) AS n FROM queue'),
      showAllQueue: d.prepare('UPDATE queue SET visible_at = ? WHERE visible_at > ?'),
      setTimer: d.prepare(
        'INSERT INTO timers (key, due_at, payload) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET due_at = excluded.due_at, payload = excluded.payload',
      ),
      deleteTimer: d.prepare('DELETE FROM timers WHERE key = ?'),
      dueTimers: d.prepare(
        'SELECT key, due_at, payload FROM timers WHERE due_at <= ? ORDER BY due_at LIMIT ?',
      ),
      nextTimer: d.prepare('SELECT MIN(due_at) AS t FROM timers'),
      insertJobRun: d.prepare(
        "INSERT OR IGNORE INTO job_runs (name, exec, job_key, attempt, status, input) VALUES (?, ?, ?, ?, 'Running', ?)",
      ),
      getJobRun: d.prepare('SELECT * FROM job_runs WHERE name = ?'),
      activeJobRuns: d.prepare("SELECT * FROM job_runs WHERE status = 'Running' ORDER BY rowid"),
      activeJobRunsOf: d.prepare("SELECT COUNT(*) AS n FROM job_runs WHERE status = 'Running' AND exec = ?"),
      deadLetter: d.prepare('INSERT INTO dead_letters (source, payload, error, at) VALUES (?, ?, ?, ?)'),
      countDead: d.prepare('SELECT COUNT(*) AS n FROM dead_letters'),
      listDead: d.prepare('SELECT * FROM dead_letters ORDER BY id DESC LIMIT ?'),
    };
  }

  close(): void {
    this.db.close();
  }

  /** Called after a transaction commits, once per event it published (in order). */
  onCommittedEvent(fn: (e: EventEnvelope) => void): () => void {
    this.observers.push(fn);
    return () => {
      this.observers = this.observers.filter((o) => o !== fn);
    };
  }

  /**
   * Runs fn in a transaction; nested calls join the outer one (all or nothing). Observers hear of
   * the events it published, and `afterCommit` work runs, once it commits. While another process
   * holds the write lock, a top-level call waits for it (`wait: false`: throws a busy StoreError
   * instead). Whatever fails — BEGIN, a statement, COMMIT — the transaction is rolled back and the
   * store is left outside any transaction; a failure of the store itself is thrown as a StoreError.
   */
  tx<T>(fn: () => T, opts: { wait?: boolean } = {}): T {
    if (this.depth > 0) {
      this.depth++;
      try {
        return fn();
      } finally {
        this.depth--;
      }
    }
    this.begin(opts.wait !== false);
    let result: T;
    try {
      result = fn();
      if (this.txFailure) throw this.txFailure;
    } catch (err) {
      throw this.abort(err);
    }
    this.commit();
    return result;
  }

  /**
   * One delivery as one transaction: the handler's writes, and the removal of what it consumed,
   * commit together or not at all. The handler must not wait for anything outside this process's
   * microtasks (every local port method is synchronous underneath): a transaction that stayed open
   * across an event-loop turn could take in writes of unrelated callbacks, so that is refused.
   * A unit never waits for another process's write lock: it throws a busy StoreError at once (after
   * the busy timeout), for the engine to try again later without blocking its event loop.
   */
  async unit<T>(fn: () => Promise<T>): Promise<T> {
    if (this.depth > 0) throw new Error('a unit of work cannot nest in a transaction');
    this.begin(false);
    let turned = false;
    const guard = setImmediate(() => {
      turned = true;
    });
    let result: T;
    try {
      result = await fn();
      if (turned) throw new UnitSpannedTurnError();
      if (this.txFailure) throw this.txFailure;
    } catch (err) {
      clearImmediate(guard);
      throw this.abort(err);
    }
    clearImmediate(guard);
    this.commit();
    return result;
  }

  /**
   * Rows written (and due at once) during the current unit, when the caller asked to collect them:
   * the engine delivers what a delivery caused in the same transaction (see LocalEngine).
   */
  fresh: FreshRow[] | undefined;

  /** Runs fn once the current transaction commits (at once outside one); dropped on rollback. */
  afterCommit(fn: () => void): void {
    if (this.depth === 0) fn();
    else this.pendingAfter.push(fn);
  }

  private pendingAfter: Array<() => void> = [];
  /**
   * Rows read or written in the current transaction, by key (null: known absent). Nothing else
   * writes while a transaction is open, so within one the parsed row is the row; dropped at its
   * end. Rows are treated as immutable by everyone (they are replaced, never changed in place).
   */
  private readonly runCache = new Map<string, WorkflowRunState | null>();
  private readonly jobCache = new Map<string, JobAuditRecord | null>();

  /** Opens a write transaction; depth is 1 only once BEGIN succeeded. */
  private begin(wait: boolean): void {
    this.runCache.clear();
    this.jobCache.clear();
    this.txFailure = undefined;
    for (;;) {
      try {
        this.st.begin.run();
        break;
      } catch (err) {
        const f = storeFailure(err, this.file);
        if (!f) throw err;
        if (f.kind === 'busy') this.noteBusy(f);
        if (f.kind !== 'busy' || !wait) throw f;
      }
    }
    this.lockFree();
    this.depth = 1;
  }

  /** Rolls back after `err`; returns what to throw (the store's own failure, if there was one). */
  private abort(err: unknown): unknown {
    const failure = this.txFailure ?? storeFailure(err, this.file);
    this.rollback();
    return failure ?? err;
  }

  private rollback(): void {
    this.runCache.clear();
    this.jobCache.clear();
    this.depth = 0;
    this.txFailure = undefined;
    this.committed = [];
    this.pendingAfter = [];
    // SQLite may have rolled back already (it does on some I/O errors): only roll back what is open.
    if (this.db.inTransaction) {
      try {
        this.st.rollback.run();
      } catch {
        // the connection is failing; what was not committed is not in the file either
      }
    }
  }

  /** Transactions committed since open. */
  commits = 0;

  /** Hears errors thrown by observers and afterCommit work (the commit itself stands). */
  onAfterCommitError: ((err: unknown) => void) | undefined;

  private commit(): void {
    try {
      this.st.commit.run();
    } catch (err) {
      // COMMIT failed (a full disk, an I/O error): nothing of the transaction counts.
      throw this.abort(err);
    }
    this.runCache.clear();
    this.jobCache.clear();
    this.commits++;
    this.depth = 0;
    const events = this.committed;
    const after = this.pendingAfter;
    this.committed = [];
    this.pendingAfter = [];
    for (const e of events) for (const o of this.observers) this.safely(() => o(e));
    for (const f of after) this.safely(f);
  }

  /** Runs post-commit work; its failure is reported, never mistaken for a failed commit. */
  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      if (this.onAfterCommitError) this.onAfterCommitError(err);
      else throw err;
    }
  }

  private readonly cache = new Map<string, Database.Statement>();

  /** A prepared statement for SQL built at run time, prepared once. */
  private stmt(sql: string): Database.Statement {
    let s = this.cache.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.cache.set(sql, s);
    }
    return s;
  }

  private run(stmt: Database.Statement, ...args: unknown[]): Database.RunResult {
    if (this.txFailure) throw this.txFailure;
    let r: Database.RunResult;
    try {
      // SQLite may have rolled the transaction back after an I/O error that someone caught: a
      // write now would commit on its own, outside the unit it belongs to.
      if (this.depth > 0 && !this.db.inTransaction)
        throw new StoreError(
          'io',
          this.file,
          'SQLITE_ABORT',
          `${this.file}: the transaction was rolled back`,
        );
      r = stmt.run(...args);
    } catch (err) {
      const f = storeFailure(err, this.file);
      if (!f) throw err;
      if (this.depth > 0) this.txFailure ??= f;
      throw f;
    }
    this.writes += r.changes;
    return r;
  }

  // ---- effects -----------------------------------------------------------------------------

  /** Publishes events: one outbox row per routed service, in the current transaction. */
  publish(events: readonly RsqloEvent[]): void {
    if (events.length === 0) return;
    this.tx(() => {
      const now = this.now();
      for (const event of events) {
        const env = toEnvelope(event, { id: randomUUID(), time: new Date(now).toISOString() });
        const payload = JSON.stringify(env);
        for (const target of routeEvent(env)) {
          const r = this.run(this.st.insertOutbox, target, payload, now, 0);
          this.fresh?.push({
            kind: 'outbox',
            row: { id: Number(r.lastInsertRowid), target, payload, available_at: now, attempts: 0, copy: 0 },
          });
        }
        this.lower('outbox', now);
        this.committed.push(env);
      }
    });
  }

  applyEffects(effects: Effects | undefined): void {
    if (!effects) return;
    if (effects.events) this.publish(effects.events);
    if (effects.messages) {
      const now = this.now();
      for (const m of effects.messages) {
        this.sendQueue(JSON.stringify(m.body), now + Math.max(0, m.delaySeconds ?? 0) * 1000, 0);
      }
    }
  }

  // ---- outbox ------------------------------------------------------------------------------

  enqueueOutbox(target: string, payload: string, availableAt = this.now(), copy = 0): void {
    const r = this.run(this.st.insertOutbox, target, payload, availableAt, copy);
    if (availableAt <= this.now()) {
      this.fresh?.push({
        kind: 'outbox',
        row: { id: Number(r.lastInsertRowid), target, payload, available_at: availableAt, attempts: 0, copy },
      });
    }
    this.lower('outbox', availableAt);
  }

  readyOutbox(limit: number): OutboxRow[] {
    return this.st.readyOutbox.all(this.now(), limit) as OutboxRow[];
  }

  deleteOutbox(id: number): void {
    this.run(this.st.deleteOutbox, id);
  }

  retryOutbox(id: number, availableAt: number, error: string): void {
    this.run(this.st.retryOutbox, availableAt, error, id);
    this.lower('outbox', availableAt);
  }

  outboxSize(): number {
    return (this.st.countOutbox.get() as { n: number }).n;
  }

  // ---- queue -------------------------------------------------------------------------------

  sendQueue(body: string, visibleAt: number, copy = 0): void {
    const r = this.run(this.st.sendQueue, body, visibleAt, copy);
    if (visibleAt <= this.now()) {
      this.fresh?.push({
        kind: 'queue',
        row: { id: Number(r.lastInsertRowid), body, visible_at: visibleAt, receives: 0, copy },
      });
    }
    this.lower('queue', visibleAt);
  }

  /**
   * Visible messages, oldest first. The engine is the queue's only consumer and handles each
   * message in one transaction that also deletes (or re-hides) it, so nothing needs hiding while
   * it is handled; after a crash, what was not handled is simply still there.
   */
  visibleQueue(limit: number): QueueRow[] {
    return this.st.visibleQueue.all(this.now(), limit) as QueueRow[];
  }

  /** Counts a failed receive and hides the message until `visibleAt`. */
  failQueue(id: number, visibleAt: number): void {
    this.run(this.st.hideQueue, visibleAt, id);
    this.lower('queue', visibleAt);
  }

  deleteQueue(id: number): void {
    this.run(this.st.deleteQueue, id);
  }

  changeVisibility(id: number, visibleAt: number): void {
    this.run(this.stmt('UPDATE queue SET visible_at = ? WHERE id = ?'), visibleAt, id);
    this.lower('queue', visibleAt);
  }

  /** After a crash nobody holds a message any more: make every one visible now. */
  showAllQueue(): void {
    const now = this.now();
    this.run(this.st.showAllQueue, now, now);
    this.due.queue = 0;
  }

  queueSize(): number {
    return (this.st.countQueue.get() as { n: number }).n;
  }

  // ---- timers ------------------------------------------------------------------------------

  setTimer(key: string, dueAt: number, payload: unknown): void {
    this.run(this.st.setTimer, key, dueAt, JSON.stringify(payload));
    this.lower('timer', dueAt);
  }

  deleteTimer(key: string): void {
    this.run(this.st.deleteTimer, key);
  }

  dueTimers(limit: number): Array<{ key: string; due_at: number; payload: string }> {
    return this.st.dueTimers.all(this.now(), limit) as Array<{
      key: string;
      due_at: number;
      payload: string;
    }>;
  }

  private lower(kind: 'outbox' | 'queue' | 'timer', at: number): void {
    if (at < this.due[kind]) this.due[kind] = at;
    if (at > this.now()) this.later[kind].push(at);
  }

  /**
   * After the engine took every row of a kind that was due: the next time is the earliest future
   * time this process wrote (rows written meanwhile lowered `due` already). Never later than the
   * truth for this process's writes, so nothing waits too long; other processes' writes are found
   * by polling.
   */
  drained(kind: 'outbox' | 'queue' | 'timer', now: number): void {
    const heap = this.later[kind];
    while (heap.size > 0 && (heap.peek() as number) <= now) heap.pop();
    const next = heap.size > 0 ? (heap.peek() as number) : Number.POSITIVE_INFINITY;
    if (next < this.due[kind]) this.due[kind] = next;
  }

  /** Recomputes one `due` hint from the database (Infinity when nothing is waiting). */
  refreshDue(kind: 'outbox' | 'queue' | 'timer'): void {
    const stmt =
      kind === 'outbox' ? this.st.nextOutbox : kind === 'queue' ? this.st.nextQueue : this.st.nextTimer;
    const t = (stmt.get() as { t: number | null }).t;
    this.due[kind] = t ?? Number.POSITIVE_INFINITY;
  }

  /** Forgets the hints, so the next pass looks at the database (to see other processes' writes). */
  resetDue(): void {
    this.due.outbox = 0;
    this.due.queue = 0;
    this.due.timer = 0;
  }

  /** Earliest moment something becomes due, per the hints. */
  nextDue(): number {
    return Math.min(this.due.outbox, this.due.queue, this.due.timer);
  }

  // ---- job runs (the local single-job wrapper's executions) ---------------------------------

  insertJobRun(name: string, exec: string, jobKey: string, attempt: number, input: unknown): boolean {
    return this.run(this.st.insertJobRun, name, exec, jobKey, attempt, JSON.stringify(input)).changes > 0;
  }

  getJobRun(name: string): JobRunRow | undefined {
    return this.st.getJobRun.get(name) as JobRunRow | undefined;
  }

  updateJobRun(name: string, set: Partial<Omit<JobRunRow, 'name'>>): void {
    const keys = Object.keys(set);
    if (keys.length === 0) return;
    const sql = `UPDATE job_runs SET ${keys.map((k) => `${k} = ?`).join(', ')} WHERE name = ?`;
    this.run(this.stmt(sql), ...keys.map((k) => (set as Record<string, unknown>)[k]), name);
  }

  /** Ends a job run if it is still Running; false when it had already ended. */
  endJobRun(name: string, status: Exclude<JobRunStatus, 'Running'>): boolean {
    const r = this.run(
      this.stmt("UPDATE job_runs SET status = ?, ended_at = ? WHERE name = ? AND status = 'Running'"),
      status,
      new Date(this.now()).toISOString(),
      name,
    );
    return r.changes > 0;
  }

  activeJobRuns(): JobRunRow[] {
    return this.st.activeJobRuns.all() as JobRunRow[];
  }

  activeJobRunCount(exec: string): number {
    return (this.st.activeJobRunsOf.get(exec) as { n: number }).n;
  }

  // ---- dead letters ------------------------------------------------------------------------

  deadLetter(source: string, payload: string, error: string): void {
    this.run(this.st.deadLetter, source, payload, error, new Date(this.now()).toISOString());
  }

  deadLetterCount(): number {
    return (this.st.countDead.get() as { n: number }).n;
  }

  deadLetters(limit = 20): Array<{ id: number; source: string; payload: string; error: string; at: string }> {
    return this.st.listDead.all(limit) as Array<{
      id: number;
      source: string;
      payload: string;
      error: string;
      at: string;
    }>;
  }

  // ---- definitions -------------------------------------------------------------------------

  putDefinition(workflowId: string, body: unknown, scriptRoot: string): void {
    this.tx(() =>
      this.run(
        this.st.putDef,
        workflowId,
        JSON.stringify(body),
        scriptRoot,
        new Date(this.now()).toISOString(),
      ),
    );
  }

  getDefinition(workflowId: string): { body: unknown; scriptRoot: string } | undefined {
    const r = this.st.getDef.get(workflowId) as { body: string; script_root: string } | undefined;
    return r ? { body: JSON.parse(r.body), scriptRoot: r.script_root } : undefined;
  }

  /**
   * Keeps the definition a run is requested with (and the file it came from), so a restart can say
   * what changed since, or run it again as it was (`rsqlo restart --same-definition`).
   */
  putRunDefinition(exec: string, body: unknown, scriptRoot: string, file: string | null): void {
    this.tx(() => this.run(this.st.putRunDef, exec, file, scriptRoot, JSON.stringify(body)));
  }

  /** The definition a run was requested with, when the engine kept it (runs since issue 12). */
  getRunDefinition(exec: string): { body: unknown; scriptRoot: string; file: string | null } | undefined {
    const r = this.st.getRunDef.get(exec) as
      | { body: string; script_root: string; file: string | null }
      | undefined;
    return r ? { body: JSON.parse(r.body), scriptRoot: r.script_root, file: r.file } : undefined;
  }

  definitions(): DefinitionRepository {
    return { get: async (id) => this.getDefinition(id)?.body };
  }

  // ---- runs --------------------------------------------------------------------------------

  /** The run as services read it (without the rsql_jobs list). */
  getRunSync(exec: string): WorkflowRunState | undefined {
    if (this.depth > 0) {
      const cached = this.runCache.get(exec);
      if (cached !== undefined) return cached ?? undefined;
    }
    const r = this.st.getRun.get(exec) as { body: string } | undefined;
    const run = r ? (JSON.parse(r.body) as WorkflowRunState) : undefined;
    if (this.depth > 0) this.runCache.set(exec, run ?? null);
    return run;
  }

  /** The full workflow audit record, as people read it. */
  getRunRecord(exec: string): WorkflowAuditRecord | undefined {
    const run = this.getRunSync(exec);
    if (!run) return undefined;
    const r = this.st.getRunJobs.get(exec) as { rsql_jobs: string };
    return withJobs(run, r.rsql_jobs);
  }

  private writeRun(run: WorkflowRunState): void {
    this.run(this.st.updateRun, run.execution_status, JSON.stringify(run), run.workflow_execution_id);
    this.runCache.set(run.workflow_execution_id, run);
  }

  activeRuns(): WorkflowRunState[] {
    return (this.st.allActiveRuns.all() as Array<{ body: string }>).map(
      (r) => JSON.parse(r.body) as WorkflowRunState,
    );
  }

  listRunsSync(workflowId: string, limit: number): WorkflowAuditRecord[] {
    return (this.st.listRuns.all(workflowId, limit) as Array<{ body: string; rsql_jobs: string }>).map((r) =>
      withJobs(JSON.parse(r.body) as WorkflowRunState, r.rsql_jobs),
    );
  }

  runs(): RunRepository {
    return {
      getRun: async (exec) => this.getRunSync(exec),
      createRun: async (run, jobs, opts, effects) =>
        this.createRun(run, jobs, opts.maxActiveRuns, effects, opts.restartOf),
      claimJobs: async (claim, effects) => this.claimJobs(claim, effects),
      countJob: async (c, derive) => this.countJob(c, derive),
      completeStage: async (c, effects) => this.completeStage(c, effects),
      requestCancel: async (exec) =>
        this.tx(() => {
          const run = this.getRunSync(exec);
          if (run?.execution_status !== 'Running' || run.cancel_requested) return run;
          const next = { ...run, cancel_requested: true };
          this.writeRun(next);
          return next;
        }),
      listRuns: async (workflowId, limit) => this.listRunsSync(workflowId, limit),
    };
  }

  private createRun(
    run: WorkflowAuditRecord,
    jobs: JobAuditRecord[],
    maxActive: number,
    effects: Effects,
    restartOf?: string,
  ): CreateRunResult {
    return this.tx(() => {
      const existing = this.getRunSync(run.workflow_execution_id);
      if (existing) return { outcome: 'exists', run: existing };
      const prev = restartOf !== undefined ? this.getRunSync(restartOf) : undefined;
      if (prev?.restarted_as) return { outcome: 'restarted', by: prev.restarted_as };
      if (run.execution_status === 'Running') {
        const active = (this.st.activeRuns.all(run.workflow_id) as Array<{ id: string }>).map((r) => r.id);
        if (active.length >= maxActive) return { outcome: 'limit', active };
      }
      if (prev) this.writeRun({ ...prev, restarted_as: run.workflow_execution_id });
      const { rsql_jobs, ...state } = run;
      this.run(
        this.st.insertRun,
        run.workflow_execution_id,
        run.workflow_id,
        run.execution_status,
        run.execution_start_ts,
        JSON.stringify(state),
        JSON.stringify(rsql_jobs),
      );
      this.runCache.set(run.workflow_execution_id, state);
      for (const j of jobs) {
        this.jobCache.delete(`${j.workflow_execution_id}\u0000${j.job_key}`);
        this.run(
          this.st.insertJob,
          j.workflow_execution_id,
          j.stage,
          j.job_no,
          j.execution_status,
          j.attempt,
          j.counted ? 1 : 0,
          JSON.stringify(j),
        );
      }
      this.applyEffects(effects);
      return { outcome: 'created' };
    });
  }

  private claimJobs(claim: JobClaim, effects: Effects): 'claimed' | 'conflict' {
    try {
      return this.tx(() => {
        const run = this.getRunSync(claim.workflowExecutionId);
        const st = run?.stages[claim.stage - 1];
        if (!run || !st || st.cursor !== claim.expectedCursor || st.status !== 'Running') return 'conflict';
        // A claim never races a failure or a cancel: once the stage may not launch, nothing is queued.
        if (!canLaunch(st, run.cancel_requested)) return 'conflict';
        for (const c of claim.jobs) {
          const job = this.getJobSync(claim.workflowExecutionId, c.jobKey);
          if (!job || job.attempt !== c.attempt || job.execution_status !== 'Pending')
            throw new ClaimConflict();
          this.writeJob({ ...job, execution_status: 'Queued' });
        }
        const stages = run.stages.slice();
        stages[claim.stage - 1] = {
          ...st,
          cursor: claim.newCursor,
          launched: st.launched + claim.jobs.length,
        };
        this.writeRun({ ...run, stages });
        this.applyEffects(effects);
        return 'claimed' as const;
      });
    } catch (err) {
      if (err instanceof ClaimConflict) return 'conflict';
      throw err;
    }
  }

  private countJob(
    c: Parameters<RunRepository['countJob']>[0],
    derive: Parameters<RunRepository['countJob']>[1],
  ): { counted: boolean; run: WorkflowRunState | undefined } {
    return this.tx(() => {
      const run = this.getRunSync(c.workflowExecutionId);
      const job = this.getJobSync(c.workflowExecutionId, c.jobKey);
      if (!run || !job || job.counted || job.attempt !== c.attempt || job.execution_status !== c.status) {
        return { counted: false, run };
      }
      this.writeJob({ ...job, counted: true });
      const field = countField(c.status);
      const stages = run.stages.slice();
      const st = stages[c.stage - 1];
      if (!st) return { counted: false, run };
      stages[c.stage - 1] = { ...st, finished: st.finished + 1, [field]: st[field] + 1 };
      const failed_jobs =
        c.failure && run.failed_jobs.length < 10 ? [...run.failed_jobs, c.failure] : run.failed_jobs;
      const next: WorkflowRunState = { ...run, stages, counts: totalCounts(stages), failed_jobs };
      this.writeRun(next);
      this.applyEffects(derive(next));
      return { counted: true, run: next };
    });
  }

  private completeStage(c: StageCompletion, effects: Effects): boolean {
    return this.tx(() => {
      const run = this.getRunSync(c.workflowExecutionId);
      const st = run?.stages[c.stage - 1];
      if (!run || !st || st.status !== 'Running' || run.execution_status !== 'Running') return false;
      this.writeRun(applyStageCompletion(run, c));
      this.applyEffects(effects);
      return true;
    });
  }

  // ---- jobs --------------------------------------------------------------------------------

  getJobSync(exec: string, key: string): JobAuditRecord | undefined {
    const ck = `${exec}\u0000${key}`;
    if (this.depth > 0) {
      const cached = this.jobCache.get(ck);
      if (cached !== undefined) return cached ?? undefined;
    }
    const { stage, jobNo } = parseJobKey(key);
    const r = this.st.getJob.get(exec, stage, jobNo) as { body: string } | undefined;
    const job = r ? (JSON.parse(r.body) as JobAuditRecord) : undefined;
    if (this.depth > 0) this.jobCache.set(ck, job ?? null);
    return job;
  }

  listJobsSync(exec: string): JobAuditRecord[] {
    return (this.st.allJobs.all(exec) as Array<{ body: string }>).map(
      (r) => JSON.parse(r.body) as JobAuditRecord,
    );
  }

  private writeJob(job: JobAuditRecord): void {
    this.jobCache.set(`${job.workflow_execution_id}\u0000${job.job_key}`, job);
    this.run(
      this.st.updateJob,
      job.execution_status,
      job.attempt,
      job.counted ? 1 : 0,
      JSON.stringify(job),
      job.workflow_execution_id,
      job.stage,
      job.job_no,
    );
    // The change feed (a DynamoDB stream with its filter, on AWS).
    if (isAggregatorChange(job)) this.enqueueOutbox('aggregator', JSON.stringify(job));
  }

  jobs(): JobRepository {
    return {
      getJob: async (exec, key) => this.getJobSync(exec, key),
      listStageJobs: async (exec, stage, after, limit) =>
        (this.st.stageJobs.all(exec, stage, after, limit) as Array<{ body: string }>).map(
          (r) => JSON.parse(r.body) as JobAuditRecord,
        ),
      listJobs: async (exec) => this.listJobsSync(exec),
      transition: async (t, effects) => this.transitionSync(t, effects),
      skipPending: async (exec, stage, after, reason) =>
        this.tx(() => {
          const rows = (this.st.pendingFrom.all(exec, stage, after, stage) as Array<{ body: string }>).map(
            (r) => JSON.parse(r.body) as JobAuditRecord,
          );
          const at = new Date(this.now()).toISOString();
          for (const job of rows) {
            this.writeJob({
              ...job,
              execution_status: 'Skipped',
              skip_reason: reason(job),
              execution_end_ts: at,
              counted: true,
            });
          }
          return rows.length;
        }),
    };
  }

  transitionSync(t: JobTransition, effects?: Effects): JobAuditRecord | undefined {
    return this.tx(() => {
      const job = this.getJobSync(t.workflowExecutionId, t.jobKey);
      if (
        !job ||
        job.attempt !== t.expect.attempt ||
        !t.expect.statuses.includes(job.execution_status) ||
        (t.expect.instanceId !== undefined && job.instance_id !== t.expect.instanceId)
      )
        return undefined;
      const next = { ...job, ...t.set } as JobAuditRecord;
      this.writeJob(next);
      this.applyEffects(effects);
      return next;
    });
  }
}

/** Puts the stored rsql_jobs list (JSON text) back in its place. */
function withJobs(run: WorkflowRunState, rsqlJobs: string): WorkflowAuditRecord {
  return withRsqlJobs(run, JSON.parse(rsqlJobs) as string[]);
}

/** A binary min-heap of numbers (times). */
class MinHeap {
  private readonly a: number[] = [];
  get size(): number {
    return this.a.length;
  }
  peek(): number | undefined {
    return this.a[0];
  }
  push(x: number): void {
    const a = this.a;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if ((a[p] as number) <= x) break;
      a[i] = a[p] as number;
      i = p;
    }
    a[i] = x;
  }
  pop(): number | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        let mv = last;
        if (l < a.length && (a[l] as number) < mv) {
          m = l;
          mv = a[l] as number;
        }
        if (r < a.length && (a[r] as number) < mv) {
          m = r;
          mv = a[r] as number;
        }
        if (m === i) break;
        a[i] = mv;
        i = m;
      }
      a[i] = last;
    }
    return top;
  }
}

/** A unit of work stayed open across an event-loop turn: a handler waited on real I/O (a bug). */
export class UnitSpannedTurnError extends Error {
  override name = 'UnitSpannedTurnError';
  constructor() {
    super('a delivery waited on I/O inside its transaction; its writes were rolled back');
  }
}

class ClaimConflict extends Error {
  override name = 'ClaimConflict';
}
