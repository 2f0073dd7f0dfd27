/**
 * The delivery tables of the state file: the outbox (events and change-feed records, one row per
 * routed service, written in the transaction of the state change that caused them), the queue
 * with its visibility timeout (the dispatcher's job messages), the timers (job timeouts) and the
 * dead letters. Keeps hints of when anything is next due, so the engine skips queries that would
 * find nothing. Built on the unit of work; the repositories build on it (store.ts).
 */
import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { RsqloEvent } from '../../contracts/events.js';
import { toEnvelope } from '../../events/envelope.js';
import { routeEvent } from '../../events/routing.js';
import type { Effects } from '../../services/ports.js';
import { MinHeap } from './min-heap.js';
import { type StoreOptions, UnitOfWork } from './unit-of-work.js';

/** A row written during a unit that is due at once. */
export type FreshRow = { kind: 'outbox'; row: OutboxRow } | { kind: 'queue'; row: QueueRow };

/** One outbox row: a payload for one target (a service, or the aggregator's change feed). */
export interface OutboxRow {
  id: number;
  target: string;
  payload: string;
  available_at: number;
  attempts: number;
  copy: number;
}

/** One queue message (a job message for the dispatcher). */
export interface QueueRow {
  id: number;
  body: string;
  visible_at: number;
  receives: number;
  copy: number;
}

/**
 * An outbox row held back while `holdTriggers` is set (the one parameter, 1 or 0): a delivery to
 * the trigger service of a workflow that some other workflow waits for (trigger_after).
 */
const HELD = `(? AND outbox.target = 'trigger' AND EXISTS (SELECT 1 FROM trigger_after t WHERE t.upstream = json_extract(outbox.payload, '$.detail.workflow_id')))`;

function prepareDelivery(d: Database.Database) {
  return {
    insertOutbox: d.prepare('INSERT INTO outbox (target, payload, available_at, copy) VALUES (?, ?, ?, ?)'),
    readyOutbox: d.prepare(
      `SELECT * FROM outbox WHERE available_at <= ? AND NOT ${HELD} ORDER BY available_at, id LIMIT ?`,
    ),
    isHeld: d.prepare(
      "SELECT 1 FROM trigger_after WHERE upstream = json_extract(?, '$.detail.workflow_id') LIMIT 1",
    ),
    deleteOutbox: d.prepare('DELETE FROM outbox WHERE id = ?'),
    retryOutbox: d.prepare(
      'UPDATE outbox SET attempts = attempts + 1, available_at = ?, last_error = ? WHERE id = ?',
    ),
    nextOutbox: d.prepare(`SELECT MIN(available_at) AS t FROM outbox WHERE NOT ${HELD}`),
    countOutbox: d.prepare(`SELECT COUNT(*) AS n FROM outbox WHERE NOT ${HELD}`),
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
    dueTimers: d.prepare('SELECT key, due_at, payload FROM timers WHERE due_at <= ? ORDER BY due_at LIMIT ?'),
    nextTimer: d.prepare('SELECT MIN(due_at) AS t FROM timers'),
    deadLetter: d.prepare('INSERT INTO dead_letters (source, payload, error, at) VALUES (?, ?, ?, ?)'),
    countDead: d.prepare('SELECT COUNT(*) AS n FROM dead_letters'),
    listDead: d.prepare('SELECT * FROM dead_letters ORDER BY id DESC LIMIT ?'),
  };
}

/** The outbox, queue, timers and dead letters over a unit of work (see the module's comment). */
export class DeliveryTables extends UnitOfWork {
  /**
   * Earliest time (ms) anything in the outbox, queue or timers may be due, as far as this process
   * knows: lowered on every insert, recomputed from the database by `refreshDue`. Lets the engine
   * skip queries that would find nothing. Other processes' writes are found by polling.
   */
  readonly due = { outbox: 0, queue: 0, timer: 0 };
  /**
   * Whether deliveries to the trigger service of workflows another one waits for (trigger_after)
   * stay pending: not taken, counted or waited for by this process. A plain `rsqlo run` sets it,
   * so the next `rsqlo serve` of the home delivers them; a finished workflow nobody waits for is
   * delivered (a no-op) so that nothing piles up. Default false: everything is delivered.
   */
  holdTriggers = false;
  /** Future times this process wrote (delayed rows, hidden messages, timers): what `due` falls back to. */
  private readonly later = { outbox: new MinHeap(), queue: new MinHeap(), timer: new MinHeap() };
  private readonly dst: ReturnType<typeof prepareDelivery>;

  /**
   * Rows written (and due at once) during the current unit, when the caller asked to collect them:
   * the engine delivers what a delivery caused in the same transaction (see LocalEngine).
   */
  fresh: FreshRow[] | undefined;

  constructor(file: string, opts: StoreOptions = {}) {
    super(file, opts);
    this.dst = this.prepared(prepareDelivery);
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
          const r = this.run(this.dst.insertOutbox, target, payload, now, 0);
          this.fresh?.push({
            kind: 'outbox',
            row: { id: Number(r.lastInsertRowid), target, payload, available_at: now, attempts: 0, copy: 0 },
          });
        }
        this.lower('outbox', now);
        this.published(env);
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
    const r = this.run(this.dst.insertOutbox, target, payload, availableAt, copy);
    if (availableAt <= this.now()) {
      this.fresh?.push({
        kind: 'outbox',
        row: { id: Number(r.lastInsertRowid), target, payload, available_at: availableAt, attempts: 0, copy },
      });
    }
    this.lower('outbox', availableAt);
  }

  readyOutbox(limit: number): OutboxRow[] {
    return this.dst.readyOutbox.all(this.now(), this.held(), limit) as OutboxRow[];
  }

  /** Whether this row stays pending (see `holdTriggers`). */
  isHeld(row: Pick<OutboxRow, 'target' | 'payload'>): boolean {
    return this.holdTriggers && row.target === 'trigger' && this.dst.isHeld.get(row.payload) !== undefined;
  }

  private held(): number {
    return this.holdTriggers ? 1 : 0;
  }

  deleteOutbox(id: number): void {
    this.run(this.dst.deleteOutbox, id);
  }

  retryOutbox(id: number, availableAt: number, error: string): void {
    this.run(this.dst.retryOutbox, availableAt, error, id);
    this.lower('outbox', availableAt);
  }

  outboxSize(): number {
    return (this.dst.countOutbox.get(this.held()) as { n: number }).n;
  }

  // ---- queue -------------------------------------------------------------------------------

  sendQueue(body: string, visibleAt: number, copy = 0): void {
    const r = this.run(this.dst.sendQueue, body, visibleAt, copy);
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
    return this.dst.visibleQueue.all(this.now(), limit) as QueueRow[];
  }

  /** Counts a failed receive and hides the message until `visibleAt`. */
  failQueue(id: number, visibleAt: number): void {
    this.run(this.dst.hideQueue, visibleAt, id);
    this.lower('queue', visibleAt);
  }

  deleteQueue(id: number): void {
    this.run(this.dst.deleteQueue, id);
  }

  changeVisibility(id: number, visibleAt: number): void {
    this.run(this.stmt('UPDATE queue SET visible_at = ? WHERE id = ?'), visibleAt, id);
    this.lower('queue', visibleAt);
  }

  /** After a crash nobody holds a message any more: make every one visible now. */
  showAllQueue(): void {
    const now = this.now();
    this.run(this.dst.showAllQueue, now, now);
    this.due.queue = 0;
  }

  queueSize(): number {
    return (this.dst.countQueue.get() as { n: number }).n;
  }

  // ---- timers ------------------------------------------------------------------------------

  setTimer(key: string, dueAt: number, payload: unknown): void {
    this.run(this.dst.setTimer, key, dueAt, JSON.stringify(payload));
    this.lower('timer', dueAt);
  }

  deleteTimer(key: string): void {
    this.run(this.dst.deleteTimer, key);
  }

  dueTimers(limit: number): Array<{ key: string; due_at: number; payload: string }> {
    return this.dst.dueTimers.all(this.now(), limit) as Array<{
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
      kind === 'outbox' ? this.dst.nextOutbox : kind === 'queue' ? this.dst.nextQueue : this.dst.nextTimer;
    const t = ((kind === 'outbox' ? stmt.get(this.held()) : stmt.get()) as { t: number | null }).t;
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

  // ---- dead letters ------------------------------------------------------------------------

  deadLetter(source: string, payload: string, error: string): void {
    this.run(this.dst.deadLetter, source, payload, error, new Date(this.now()).toISOString());
  }

  deadLetterCount(): number {
    return (this.dst.countDead.get() as { n: number }).n;
  }

  deadLetters(limit = 20): Array<{ id: number; source: string; payload: string; error: string; at: string }> {
    return this.dst.listDead.all(limit) as Array<{
      id: number;
      source: string;
      payload: string;
      error: string;
      at: string;
    }>;
  }
}
