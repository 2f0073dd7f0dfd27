/**
 * The unit of work over the engine's state file: opening it (WAL, the schema, the version check),
 * transactions whose nested calls join the outer one, units of work (one delivery as one
 * transaction that must not span an event-loop turn), work and observers that run only once a
 * transaction committed, and what happens while another process holds the write lock or the disk
 * fails (a StoreError, the transaction rolled back whole). Knows no table but `meta`: the delivery
 * tables and the repositories build on it (delivery-tables.ts, store.ts).
 */
import { statSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { EventEnvelope } from '../../events/envelope.js';
import { SCHEMA, SCHEMA_VERSION } from './schema.js';
import { refuseCutShort } from './state-file.js';
import { StoreError, StoreVersionError, storeFailure } from './store-errors.js';

/** Hears when the store starts waiting for another process's write lock, and when it got it. */
export interface StoreWaiter {
  waiting(err: StoreError): void;
  over(waitedMs: number): void;
}

/** A unit of work stayed open across an event-loop turn: a handler waited on real I/O (a bug). */
export class UnitSpannedTurnError extends Error {
  override name = 'UnitSpannedTurnError';
  constructor() {
    super('a delivery waited on I/O inside its transaction; its writes were rolled back');
  }
}

/** Options of a store: the clock, how long one try waits for the write lock, who hears the waits. */
export interface StoreOptions {
  /** The clock (ms); default Date.now. */
  now?: () => number;
  /** How long one attempt waits for another process's write lock (default 250 ms). */
  busyTimeoutMs?: number;
  /** Hears waits for another process's write lock. */
  waiter?: StoreWaiter;
}

/**
 * Transactions over the state file (see the module's comment). Subclasses write only through
 * {@link UnitOfWork.run}, so a failure of the store inside a transaction fails the whole of it,
 * whoever caught the error.
 */
export class UnitOfWork {
  readonly db: Database.Database;
  /** Rows written (inserted, updated, deleted) since open: what the bench reports per job. */
  writes = 0;
  private depth = 0;
  /** Events published in the current transaction: the observers hear them once it commits. */
  private committed: EventEnvelope[] = [];
  private observers: Array<(e: EventEnvelope) => void> = [];
  protected readonly now: () => number;
  private readonly tst: {
    begin: Database.Statement;
    commit: Database.Statement;
    rollback: Database.Statement;
  };
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
  constructor(file: string, opts: StoreOptions = {}) {
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
      } else if (Number(v.value) < SCHEMA_VERSION) {
        // An older home: SCHEMA above created the tables it lacked (every change so far only adds
        // tables). Recording the version makes an older engine refuse it from now on. Conditional,
        // so two engines opening the same old home at once both end at this version.
        this.waitFor(() =>
          this.db
            .prepare("UPDATE meta SET value = ? WHERE key = 'schema_version' AND CAST(value AS INTEGER) < ?")
            .run(String(SCHEMA_VERSION), SCHEMA_VERSION),
        );
      }
      this.tst = {
        begin: this.db.prepare('BEGIN IMMEDIATE'),
        commit: this.db.prepare('COMMIT'),
        rollback: this.db.prepare('ROLLBACK'),
      };
    } catch (err) {
      this.db.close();
      throw storeFailure(err, file) ?? err;
    }
  }

  /**
   * Prepares a layer's statements once the file is open; on failure the file is closed and the
   * error thrown as a StoreError where it is one (as a failure while opening).
   */
  protected prepared<T>(make: (db: Database.Database) => T): T {
    try {
      return make(this.db);
    } catch (err) {
      this.db.close();
      throw storeFailure(err, this.file) ?? err;
    }
  }

  /** Whether a transaction is open (a nested `tx` joins it). */
  protected get inTransaction(): boolean {
    return this.depth > 0;
  }

  /** Keeps an event published in the current transaction, for the observers once it commits. */
  protected published(env: EventEnvelope): void {
    this.committed.push(env);
  }

  /** Runs a statement outside a transaction, trying again while another process holds the lock. */
  protected waitFor<T>(fn: () => T): T {
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

  /** Runs fn once the current transaction commits (at once outside one); dropped on rollback. */
  afterCommit(fn: () => void): void {
    if (this.depth === 0) fn();
    else this.pendingAfter.push(fn);
  }

  private pendingAfter: Array<() => void> = [];
  /** Maps made by {@link txScoped}: emptied whenever a transaction begins or ends. */
  private readonly scoped: Array<Map<string, unknown>> = [];

  /**
   * A map that lives for one transaction (a cache of rows read or written in it): emptied when a
   * transaction begins, commits or rolls back.
   */
  protected txScoped<V>(): Map<string, V> {
    const m = new Map<string, V>();
    this.scoped.push(m as Map<string, unknown>);
    return m;
  }

  private clearScoped(): void {
    for (const m of this.scoped) m.clear();
  }

  /** Opens a write transaction; depth is 1 only once BEGIN succeeded. */
  private begin(wait: boolean): void {
    this.clearScoped();
    this.txFailure = undefined;
    for (;;) {
      try {
        this.tst.begin.run();
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
    this.clearScoped();
    this.depth = 0;
    this.txFailure = undefined;
    this.committed = [];
    this.pendingAfter = [];
    // SQLite may have rolled back already (it does on some I/O errors): only roll back what is open.
    if (this.db.inTransaction) {
      try {
        this.tst.rollback.run();
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
      this.tst.commit.run();
    } catch (err) {
      // COMMIT failed (a full disk, an I/O error): nothing of the transaction counts.
      throw this.abort(err);
    }
    this.clearScoped();
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
  protected stmt(sql: string): Database.Statement {
    let s = this.cache.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.cache.set(sql, s);
    }
    return s;
  }

  protected run(stmt: Database.Statement, ...args: unknown[]): Database.RunResult {
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
}
