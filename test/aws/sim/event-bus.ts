/**
 * An in-process EventBridge bus: what PutEvents accepts becomes EventBridge envelopes, routed by the
 * same routing table the CDK app turns into rules (events/routing.ts, matched with
 * events/pattern.ts), and delivered to the real handlers as asynchronous Lambda invocations.
 *
 * Checked on every PutEvents request (Amazon EventBridge API reference, PutEvents; user guide,
 * "Calculating PutEvents event entry size"): 1–10 entries; the entries' total size under 256 KB as
 * EventBridge counts it; Source, DetailType and a JSON-object Detail on each entry; the right bus.
 * A request that breaks a limit is refused (ValidationException) and recorded as a violation.
 *
 * Delivery follows Lambda's asynchronous invocation: at least once, a failed invocation retried
 * twice (Lambda's default; delays scaled down), then the event goes to the on-failure destination
 * (recorded in `deadLetters`). `duplicate` delivers every event twice (the same envelope: EventBridge
 * redelivers with the same id). `setOutage(true)` makes PutEvents fail like an unreachable endpoint.
 * The alert rules (ALERT_ROUTES) invoke the notifier the same way.
 *
 * `replay` is StartReplay from the bus archive (EventBridge user guide, "Replaying archived
 * events"): the archived events go back through the bus's rules, with a `replay-name` field added
 * to the envelope (the archive's managed rule matches `"replay-name": [{"exists": false}]` to keep
 * replays out of the archive), and "Events aren't necessarily replayed in the same order that they
 * were added to the archive". Whether a replayed event keeps its envelope `id` is not documented:
 * the simulator gives each copy a new one, so nothing may rely on it (consumers dedupe on the
 * detail's `event_id`).
 */
import { randomUUID } from 'node:crypto';
import {
  EventBridgeServiceException,
  InternalException,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import type { EventEnvelope } from '../../../events/envelope.js';
import { matchesPattern } from '../../../events/pattern.js';
import { ALERT_ROUTES, type BusService, SERVICE_ROUTES } from '../../../events/routing.js';
import {
  MAX_PUT_EVENTS_BYTES,
  MAX_PUT_EVENTS_ENTRIES,
  putEventsEntrySize,
} from '../../../runtime/aws/eventbridge-publisher.js';

export interface EventBusOptions {
  busName: string;
  account: string;
  region: string;
  /** The function each bus service's rules target, and the alert rules' target (`notifier`). */
  targets: Record<BusService | 'notifier', (envelope: EventEnvelope) => Promise<unknown>>;
  duplicate?: boolean;
  /** Delay before each asynchronous retry (Lambda waits about a minute, then two). Default 200 ms. */
  retryDelayMs?: number;
}

/** EventBridge time: ISO-8601 to the second. */
function busTime(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}

export class EventBusSimulator {
  /** Every event the bus accepted, in order. */
  readonly envelopes: EventEnvelope[] = [];
  /** Every PutEvents request (accepted or not), with who made it. */
  readonly requests: Array<{ caller: string; entries: number; bytes: number; rejected: boolean }> = [];
  readonly violations: string[] = [];
  readonly deadLetters: Array<{ target: string; envelope: EventEnvelope; error: string }> = [];
  /** Every event replayed from the archive (see `replay`), as delivered. */
  readonly replayed: EventEnvelope[] = [];
  /** Alert rules matched (each invokes the notifier, which publishes to SNS). */
  readonly alerts: Array<{ rule: string; envelope: EventEnvelope }> = [];
  private outage = false;
  private inFlight = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(private readonly opts: EventBusOptions) {}

  /** While on, PutEvents fails as when the endpoint cannot be reached (a 500 from the service). */
  setOutage(on: boolean) {
    this.outage = on;
  }

  /** Deliveries not yet done (including retries waiting). */
  pending(): number {
    return this.inFlight;
  }

  /** Events of one detail-type, as delivered. */
  events(detailType: string): EventEnvelope[] {
    return this.envelopes.filter((e) => e['detail-type'] === detailType);
  }

  /** PutEvents, as the service answers it. */
  putEvents(input: { Entries?: PutEventsRequestEntry[] }, caller = 'unknown') {
    const entries = input.Entries ?? [];
    const bytes = entries.reduce((n, e) => n + putEventsEntrySize(e), 0);
    const problems: string[] = [];
    if (entries.length < 1 || entries.length > MAX_PUT_EVENTS_ENTRIES)
      problems.push(`${entries.length} entries (1–${MAX_PUT_EVENTS_ENTRIES} allowed)`);
    if (bytes >= MAX_PUT_EVENTS_BYTES)
      problems.push(`${bytes} bytes (under ${MAX_PUT_EVENTS_BYTES} allowed)`);
    for (const [i, e] of entries.entries()) {
      if (!e.Source || !e.DetailType || !e.Detail)
        problems.push(`entry ${i}: Source, DetailType and Detail are required`);
      const bus = e.EventBusName ?? 'default';
      if (bus !== this.opts.busName && !bus.endsWith(`:event-bus/${this.opts.busName}`))
        problems.push(`entry ${i}: bus ${bus} is not ${this.opts.busName}`);
      try {
        const d = JSON.parse(e.Detail ?? '');
        if (typeof d !== 'object' || d === null || Array.isArray(d)) throw new Error('not an object');
      } catch {
        problems.push(`entry ${i}: Detail is not a JSON object`);
      }
    }
    const rejected = problems.length > 0 || this.outage;
    this.requests.push({ caller, entries: entries.length, bytes, rejected });
    if (problems.length) {
      this.violations.push(`PutEvents from ${caller}: ${problems.join('; ')}`);
      throw new EventBridgeServiceException({
        name: 'ValidationException',
        $fault: 'client',
        message: problems.join('; '),
        $metadata: { httpStatusCode: 400 },
      });
    }
    if (this.outage)
      throw new InternalException({
        message: 'simulated outage: the events endpoint is unavailable',
        $metadata: { httpStatusCode: 500 },
      });
    const now = new Date();
    const out = entries.map((e) => {
      const envelope: EventEnvelope = {
        version: '0',
        id: randomUUID(),
        'detail-type': e.DetailType as string,
        source: e.Source as string,
        account: this.opts.account,
        time: busTime(e.Time ?? now),
        region: this.opts.region,
        resources: e.Resources ?? [],
        detail: JSON.parse(e.Detail as string),
      };
      this.envelopes.push(envelope);
      this.route(envelope);
      return { EventId: envelope.id };
    });
    return { FailedEntryCount: 0, Entries: out };
  }

  /**
   * Replays archived events (as they were accepted, in the order given: a test reorders them as a
   * replay may) through every rule, each copy with `replay-name` set and a new envelope id.
   */
  replay(replayName: string, envelopes: EventEnvelope[]): void {
    for (const e of envelopes) {
      const copy = { ...structuredClone(e), id: randomUUID(), 'replay-name': replayName } as EventEnvelope;
      this.replayed.push(copy);
      this.route(copy);
    }
  }

  private route(envelope: EventEnvelope) {
    const copies = this.opts.duplicate ? 2 : 1;
    for (const rule of ALERT_ROUTES) {
      if (!matchesPattern(rule.pattern, envelope)) continue;
      this.alerts.push({ rule: rule.id, envelope });
      for (let i = 0; i < copies; i++) this.deliver('notifier', envelope, 0, i * 20);
    }
    for (const route of SERVICE_ROUTES) {
      if (!matchesPattern(route.pattern, envelope)) continue;
      for (let i = 0; i < copies; i++) this.deliver(route.target, envelope, 0, i * 20);
    }
  }

  private deliver(
    target: BusService | 'notifier',
    envelope: EventEnvelope,
    attempt: number,
    delayMs: number,
  ) {
    if (this.closed) return;
    this.inFlight++;
    const t = setTimeout(() => {
      this.timers.delete(t);
      const fn = this.opts.targets[target];
      void fn(structuredClone(envelope)).then(
        () => {
          this.inFlight--;
        },
        (err: unknown) => {
          this.inFlight--;
          if (attempt < 2) {
            this.deliver(target, envelope, attempt + 1, this.opts.retryDelayMs ?? 200);
          } else {
            this.deadLetters.push({ target, envelope, error: String((err as Error)?.message ?? err) });
          }
        },
      );
    }, delayMs);
    this.timers.add(t);
  }

  /** Stops delivering (pending deliveries are dropped). */
  close() {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
