/**
 * The embedded engine's deliveries: each pass fires the due timers, delivers the ready outbox rows
 * to the services the routing table chose, and hands the visible queue messages to the dispatcher,
 * each delivery in one unit of work together with what it causes at once. A delivery that fails is
 * retried with a doubling pause and dead-lettered after MAX_DELIVERY_ATTEMPTS (at once when it can
 * never succeed); a failure of the store itself is thrown for the engine to wait or halt. The
 * chaos switch duplicates and shuffles everything (outcomes must not change).
 */
import type { JobAuditRecord } from '../../contracts/audit.js';
import { ContractError, parseContract } from '../../contracts/common.js';
import { OPERATOR_REQUEST_TYPES } from '../../contracts/events.js';
import { JobMessage } from '../../contracts/jobs.js';
import { type EventEnvelope, type ParsedEnvelope, parseEnvelope } from '../../events/envelope.js';
import type { AggregatorService } from '../../services/aggregator/service.js';
import type { DispatcherService } from '../../services/dispatcher/service.js';
import { NonRetriableError } from '../../services/errors.js';
import type { Clock, Logger } from '../../services/ports.js';
import { type BusServices, deliverEvent } from '../../services/shared/dispatch.js';
import { MAX_DELIVERY_ATTEMPTS, redeliveryDelayMs } from '../../services/shared/redelivery.js';
import { seededRandom } from '../../services/shared/seeded-random.js';
import type { ChaosOptions } from './engine-options.js';
import { type FreshRow, type LocalStore, type OutboxRow, type QueueRow, storeFailure } from './store.js';

/**
 * Detail-types other processes write into the outbox (the CLI, the web view, a second engine):
 * parsed in full, so a bad one is refused with a ContractError that names the field (and
 * dead-lettered at once) instead of reaching a service.
 */
const FROM_OTHER_PROCESSES: ReadonlySet<string> = new Set([
  'WorkflowRequested',
  'WorkflowCancelRequested',
  ...OPERATOR_REQUEST_TYPES,
]);

/** Most rows of a kind one pass takes; a full batch means the next pass looks again at once. */
const BATCH = 64;
/** Most deliveries one transaction carries (a delivery and what it causes at once). */
const CASCADE_LIMIT = 32;

/**
 * The services deliveries reach: those the routing table delivers events to (BusServices: a new
 * one is added there, once), the dispatcher (queue messages) and the aggregator (the change feed).
 */
export type LocalServices = BusServices & { dispatcher: DispatcherService; aggregator: AggregatorService };

/** What deliveries need: the store, the services, the clock, the chaos switch, the wrapper's timeout. */
export interface DeliveryDeps {
  store: LocalStore;
  services: LocalServices;
  clock: Clock;
  log: Logger;
  /** The test switch (see ChaosOptions); default: none. */
  chaos: ChaosOptions | undefined;
  /** A job run's timeout fired (the local wrapper's). */
  onTimeout: (name: string) => Promise<void>;
  /** An SLA line's timer fired (runtime/local/sla-timers.ts). */
  onSlaTimer?: (key: string, payload: string) => Promise<unknown>;
}

/** The engine's deliveries (see the module's comment). Callers run one pass at a time. */
export class Deliveries {
  private readonly random: () => number;

  constructor(private readonly deps: DeliveryDeps) {
    // The chaos switch's shuffles and delays: the same for the same seed (shared with the simulation).
    this.random = seededRandom(deps.chaos?.seed ?? 1);
  }

  /** One pass: due timers, outbox deliveries, queue messages. Returns how many things it did. */
  async step(): Promise<number> {
    const due = this.deps.store.due;
    const now = this.deps.clock.now().getTime();
    const passes = [
      ['timer', () => this.fireTimers()],
      ['outbox', () => this.deliverOutbox()],
      ['queue', () => this.receiveQueue()],
    ] as const;
    let n = 0;
    // Each kind in turn: assume this pass takes everything due; what handlers write meanwhile
    // lowers `due` again; a full batch means there may be more.
    for (const [kind, take] of passes) {
      if (due[kind] > now) continue;
      due[kind] = Number.POSITIVE_INFINITY;
      const taken = await take();
      if (taken >= BATCH) due[kind] = 0;
      else this.deps.store.drained(kind, now);
      n += taken;
    }
    return n;
  }

  private shuffle<T>(rows: T[]): T[] {
    if (!this.deps.chaos?.reorder) return rows;
    for (let i = rows.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [rows[i], rows[j]] = [rows[j] as T, rows[i] as T];
    }
    return rows;
  }

  private async fireTimers(): Promise<number> {
    const due = this.deps.store.dueTimers(BATCH);
    for (const t of this.shuffle(due)) {
      const onSla = this.deps.onSlaTimer;
      if (t.key.startsWith('sla:') && onSla) {
        await this.deps.store.unit(() => onSla(t.key, t.payload));
        if (this.deps.chaos?.duplicate) await this.deps.store.unit(() => onSla(t.key, t.payload));
        continue;
      }
      const { name } = JSON.parse(t.payload) as { name: string };
      if (t.key.startsWith('timeout:')) {
        await this.deps.store.unit(() => this.deps.onTimeout(name));
        if (this.deps.chaos?.duplicate) await this.deps.store.unit(() => this.deps.onTimeout(name));
      }
    }
    return due.length;
  }

  private async deliverOutbox(): Promise<number> {
    const rows = this.shuffle(this.deps.store.readyOutbox(BATCH));
    for (const row of rows) await this.process({ kind: 'outbox', row });
    return rows.length;
  }

  /**
   * Handles one outbox row or queue message in one transaction, together with what it causes at
   * once (the events, change records and messages its handler wrote), depth-first, up to
   * CASCADE_LIMIT deliveries: a job's completion, counting, planning and the next dispatch commit
   * once instead of once per hop. If anything in the cascade fails, it is all rolled back and the
   * row is handled alone, so a failure is charged to the delivery that failed. Under the chaos
   * switch every delivery goes alone through the shuffled, duplicated path.
   */
  private async process(first: FreshRow): Promise<void> {
    if (!this.deps.chaos) {
      let failed: unknown;
      try {
        await this.cascade([first]);
        return;
      } catch (err) {
        // Fall back to handling the row alone (below), which charges the failure correctly.
        failed = err;
      }
      // The store failed (busy, full): not the delivery's fault; the caller waits or stops.
      if (storeFailure(failed, this.deps.store.file)) throw failed;
    }
    try {
      await this.deps.store.unit(() => this.handleOne(first));
    } catch (err) {
      if (storeFailure(err, this.deps.store.file)) throw err;
      if (first.kind === 'outbox') this.failDelivery(first.row, err);
      else this.failQueueRow(first.row, err);
    }
  }

  /**
   * In one unit of work: `before` (a job's report), then the rows in `pending` and what they and it
   * cause at once, depth-first, up to CASCADE_LIMIT deliveries. Throws whatever failed, with all
   * of it rolled back.
   */
  async cascade(pending: FreshRow[], before?: () => void): Promise<void> {
    try {
      await this.deps.store.unit(async () => {
        this.deps.store.fresh = pending;
        before?.();
        for (let n = 0; n < CASCADE_LIMIT && pending.length > 0; n++) {
          await this.handleOne(pending.shift() as FreshRow);
        }
      });
    } finally {
      this.deps.store.fresh = undefined;
    }
  }

  /** One delivery: the handler, then the removal (or re-hiding) of what it consumed. */
  private async handleOne(item: FreshRow): Promise<void> {
    const now = () => this.deps.clock.now().getTime();
    const duplicate = this.deps.chaos?.duplicate === true;
    if (item.kind === 'outbox') {
      const row = item.row;
      // A held target's row (a plain run's trigger deliveries) stays pending for `rsqlo serve`.
      if (this.deps.store.isHeld(row)) return;
      await this.deliver(row);
      this.deps.store.deleteOutbox(row.id);
      if (duplicate && row.copy === 0) {
        this.deps.store.enqueueOutbox(row.target, row.payload, now() + Math.floor(this.random() * 15), 1);
      }
      return;
    }
    const row = item.row;
    const msg = parseContract(JobMessage, JSON.parse(row.body), 'job message');
    const result = await this.deps.services.dispatcher.handleMessage(msg);
    if (result.ack) {
      this.deps.store.deleteQueue(row.id);
      if (duplicate && row.copy === 0)
        this.deps.store.sendQueue(row.body, now() + Math.floor(this.random() * 15), 1);
    } else {
      this.deps.store.changeVisibility(row.id, now() + result.retryAfterSeconds * 1000);
    }
  }

  private failDelivery(row: OutboxRow, err: unknown): void {
    const { message, final } = failureOf(err, row.attempts);
    this.deps.store.tx(() => {
      if (final) {
        this.deps.store.deadLetter(row.target, row.payload, message);
        this.deps.store.deleteOutbox(row.id);
      } else {
        const backoff = redeliveryDelayMs(row.attempts);
        this.deps.store.retryOutbox(row.id, this.deps.clock.now().getTime() + backoff, message);
      }
    });
    (final ? this.deps.log.error : this.deps.log.warn)(
      final ? 'delivery dead-lettered' : 'delivery failed; will retry',
      {
        target: row.target,
        error: message,
      },
    );
  }

  private async deliver(row: OutboxRow): Promise<void> {
    const s = this.deps.services;
    const payload: unknown = JSON.parse(row.payload);
    switch (row.target) {
      case 'aggregator':
        // The change feed is written by this store from rows it validated when they were created.
        await s.aggregator.handleJobChange(payload as JobAuditRecord);
        return;
      default: {
        // Requests may come from other processes (rsqlo kill, the operator's set-ok, hold, pool
        // set…): check them in full. Everything else in the outbox was written by this engine's
        // services from typed, validated values. The row's target is the service the routing
        // table chose for this copy (the dispatch map).
        const type = (payload as EventEnvelope)['detail-type'];
        const env = FROM_OTHER_PROCESSES.has(type)
          ? parseEnvelope(payload)
          : (trusted(payload as EventEnvelope) as ParsedEnvelope);
        await deliverEvent(s, row.target, env);
      }
    }
  }

  private async receiveQueue(): Promise<number> {
    const rows = this.shuffle(this.deps.store.visibleQueue(BATCH));
    for (const row of rows) await this.process({ kind: 'queue', row });
    return rows.length;
  }

  private failQueueRow(row: QueueRow, err: unknown): void {
    const now = this.deps.clock.now().getTime();
    const { message, final } = failureOf(err, row.receives);
    this.deps.store.tx(() => {
      if (final) {
        this.deps.store.deadLetter('queue', row.body, message);
        this.deps.store.deleteQueue(row.id);
      } else {
        this.deps.store.failQueue(row.id, now + redeliveryDelayMs(row.receives));
      }
    });
    this.deps.log.warn('queue message failed', { error: message, final });
  }
}

/** An envelope this engine's services wrote, typed without re-validation. */
function trusted(e: EventEnvelope): { id: string; time: string; detailType: string; detail: unknown } {
  return { id: e.id, time: e.time, detailType: e['detail-type'], detail: e.detail };
}

/**
 * A failed delivery's error in words, and whether it is final (dead-lettered now): it can never
 * succeed (a NonRetriableError, a ContractError), or this was try MAX_DELIVERY_ATTEMPTS.
 */
function failureOf(err: unknown, triesBefore: number): { message: string; final: boolean } {
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  const final =
    err instanceof NonRetriableError ||
    err instanceof ContractError ||
    triesBefore + 1 >= MAX_DELIVERY_ATTEMPTS;
  return { message, final };
}
