/**
 * The trigger service (ARCHITECTURE.md §1): on WorkflowFinished it collects, per downstream
 * workflow whose `trigger.after` names the finished one, the upstream runs that Completed, and
 * requests a run of the downstream once every upstream has arrived (AND), each within
 * `within_hours` of the latest when the trigger sets it. Failed and Cancelled runs do not count.
 *
 * State: one conditional item per downstream workflow (TriggerRepository), written only at the
 * version read; a lost race re-reads and tries again. Safe under at-least-once delivery:
 * - a duplicated WorkflowFinished finds its arrival held already (or used by the last request)
 *   and writes nothing;
 * - an arrival older than the one held, older than what the last request used, or older than the
 *   downstream's latest run start never counts (reordering cannot resurrect a used arrival);
 * - the WorkflowRequested has an event id derived from the arrivals it used, and the starter
 *   derives the execution id from it, so a retried handler cannot start a second run; a
 *   redelivery of an arrival the last request used re-publishes that same request (AWS writes
 *   then publishes: this repairs a crash in between; the starter sees a duplicate).
 */
import { createHash } from 'node:crypto';
import { EVENT_VERSION, type WorkflowFinished, type WorkflowRequested } from '../../contracts/events.js';
import { type Trigger, validateDefinition } from '../../contracts/workflow.js';
import type {
  Clock,
  DefinitionRepository,
  EventPublisher,
  Logger,
  TriggerArrival,
  TriggerRepository,
  TriggerState,
} from '../ports.js';

export interface TriggerDeps {
  definitions: DefinitionRepository;
  triggers: TriggerRepository;
  events: EventPublisher;
  clock: Clock;
  log: Logger;
}

/** What one WorkflowFinished did to one downstream workflow. */
export type TriggerOutcome =
  | 'requested'
  | 'collected'
  | 'duplicate'
  | 'stale'
  | 'republished'
  | 'not-completed'
  | 'not-waiting';

/** Conditional writes tried per downstream before giving up (the delivery is retried). */
const MAX_WRITES = 20;

/** Thrown when the state kept changing under every write (the delivery is retried). */
export class TriggerWriteConflictError extends Error {
  override name = 'TriggerWriteConflictError';
}

const EMPTY: TriggerState = { version: 0, arrivals: {}, consumed: {}, last_request: null };

/**
 * The request's event id: derived from the downstream and the arrivals it used, so the same
 * arrivals can only ever request one run (the starter derives the execution id from it).
 */
export function triggerRequestId(downstream: string, arrivals: Record<string, TriggerArrival>): string {
  const used = Object.keys(arrivals)
    .sort()
    .map((u) => `${u}=${arrivals[u]?.workflow_execution_id}`)
    .join('\n');
  const digest = createHash('sha256').update(`${downstream}\n${used}`).digest('hex').slice(0, 32);
  return `WorkflowRequested:trigger:${downstream}:${digest}`;
}

/** The WorkflowRequested a trigger publishes (the same for the same stored request). */
export function triggerRequest(
  downstream: string,
  req: NonNullable<TriggerState['last_request']>,
): WorkflowRequested {
  return {
    version: EVENT_VERSION,
    event_id: req.event_id,
    occurred_at: req.occurred_at,
    workflow_id: downstream,
    requested_by: `trigger:after ${Object.keys(req.arrivals).sort().join(',')}`,
  };
}

/** The arrivals that count now, or undefined while some upstream is still missing. */
export function readyArrivals(
  trigger: Trigger,
  arrivals: Record<string, TriggerArrival>,
): Record<string, TriggerArrival> | undefined {
  const held = trigger.after.map((u) => [u, arrivals[u]] as const);
  if (held.some(([, a]) => a === undefined)) return undefined;
  const times = held.map(([, a]) => Date.parse((a as TriggerArrival).finished_at));
  if (trigger.within_hours !== undefined) {
    const latest = Math.max(...times);
    if (times.some((t) => latest - t > (trigger.within_hours as number) * 3_600_000)) return undefined;
  }
  return Object.fromEntries(held) as Record<string, TriggerArrival>;
}

const newer = (a: TriggerArrival, b: TriggerArrival | undefined) =>
  b === undefined || Date.parse(a.finished_at) > Date.parse(b.finished_at);

/** The trigger service: see the module comment. */
export function createTrigger(deps: TriggerDeps) {
  const { definitions, triggers, events, log } = deps;

  async function triggerOf(downstream: string, upstream: string): Promise<Trigger | undefined> {
    const raw = await definitions.get(downstream);
    if (raw === undefined) return undefined;
    const checked = validateDefinition(raw);
    if (!checked.ok) {
      log.warn('trigger: the downstream definition is invalid; not triggered', { workflow_id: downstream });
      return undefined;
    }
    const t = checked.definition.trigger;
    // The index may be older than the definition (a definition changed since): trust the definition.
    return t?.after.includes(upstream) ? t : undefined;
  }

  async function collect(
    downstream: string,
    trigger: Trigger,
    upstream: string,
    arrival: TriggerArrival,
  ): Promise<TriggerOutcome> {
    const lastStart = await triggers.lastRunStart(downstream);
    const since = lastStart ? Date.parse(lastStart) : Number.NEGATIVE_INFINITY;
    for (let write = 0; write < MAX_WRITES; write++) {
      const state = (await triggers.get(downstream)) ?? EMPTY;
      const last = state.last_request;
      if (last?.arrivals[upstream]?.workflow_execution_id === arrival.workflow_execution_id) {
        await events.ensurePublished([
          { detailType: 'WorkflowRequested', detail: triggerRequest(downstream, last) },
        ]);
        return 'republished';
      }
      if (state.arrivals[upstream]?.workflow_execution_id === arrival.workflow_execution_id)
        return 'duplicate';
      if (
        !newer(arrival, state.consumed[upstream]) ||
        !newer(arrival, state.arrivals[upstream]) ||
        Date.parse(arrival.finished_at) < since
      )
        return 'stale';
      const arrivals: Record<string, TriggerArrival> = {};
      for (const [u, a] of Object.entries(state.arrivals))
        if (trigger.after.includes(u) && Date.parse(a.finished_at) >= since) arrivals[u] = a;
      arrivals[upstream] = arrival;
      const ready = readyArrivals(trigger, arrivals);
      if (!ready) {
        const next = { ...state, version: state.version + 1, arrivals };
        if (await triggers.save(downstream, state.version, next, {})) return 'collected';
        continue;
      }
      const occurred = Math.max(...Object.values(ready).map((a) => Date.parse(a.finished_at)));
      const request = {
        event_id: triggerRequestId(downstream, ready),
        occurred_at: new Date(occurred).toISOString(),
        arrivals: ready,
      };
      const next: TriggerState = {
        version: state.version + 1,
        arrivals: {},
        consumed: { ...state.consumed, ...ready },
        last_request: request,
      };
      const detail = triggerRequest(downstream, request);
      if (
        await triggers.save(downstream, state.version, next, {
          events: [{ detailType: 'WorkflowRequested', detail }],
        })
      ) {
        log.info('trigger: every upstream arrived; run requested', {
          workflow_id: downstream,
          event_id: request.event_id,
          after: Object.fromEntries(Object.entries(ready).map(([u, a]) => [u, a.workflow_execution_id])),
        });
        return 'requested';
      }
    }
    throw new TriggerWriteConflictError(
      `trigger of ${downstream}: its state kept changing under ${MAX_WRITES} writes; the delivery is retried`,
    );
  }

  return {
    /** One upstream run ended: what it did to each workflow that waits for it, by downstream id. */
    async handleFinished(ev: WorkflowFinished): Promise<Record<string, TriggerOutcome>> {
      const out: Record<string, TriggerOutcome> = {};
      for (const downstream of await triggers.dependents(ev.workflow_id)) {
        const trigger = await triggerOf(downstream, ev.workflow_id);
        if (!trigger) {
          out[downstream] = 'not-waiting';
          continue;
        }
        if (ev.status !== 'Completed') {
          out[downstream] = 'not-completed';
          continue;
        }
        out[downstream] = await collect(downstream, trigger, ev.workflow_id, {
          workflow_execution_id: ev.workflow_execution_id,
          finished_at: ev.finished_at,
        });
      }
      return out;
    },
  };
}

export type TriggerService = ReturnType<typeof createTrigger>;
