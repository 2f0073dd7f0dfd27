/**
 * The deterministic simulation: the five real services over the in-memory store, a fake clock,
 * the scripted agent fleet and the fake wrapper, with a delivery loop that can duplicate and
 * shuffle every delivery (seeded).
 */
import { JobAuditRecord, parseJobKey, type WorkflowAuditRecord } from '../../contracts/audit.js';
import { ContractError, parseContract } from '../../contracts/common.js';
import {
  type DetailOf,
  type DetailType,
  EVENT_SCHEMAS,
  EVENT_VERSION,
  type RsqloEvent,
  type WorkflowCancelRequested,
  type WorkflowRequested,
} from '../../contracts/events.js';
import { JobMessage } from '../../contracts/jobs.js';
import type { WorkflowDefinitionInput } from '../../contracts/workflow.js';
import { type EventEnvelope, type ParsedEnvelope, parseEnvelope, toEnvelope } from '../../events/envelope.js';
import { type BusService, routeEvent } from '../../events/routing.js';
import { type AggregatorService, createAggregatorService } from '../aggregator/service.js';
import { createDispatcherService, type DispatcherService } from '../dispatcher/service.js';
import { NonRetriableError } from '../errors.js';
import { createPlannerService, type PlannerService } from '../planner/service.js';
import type { EventPublisher } from '../ports.js';
import { createRecorderService, type RecorderService } from '../recorder/service.js';
import { deliverEvent } from '../shared/dispatch.js';
import { MAX_DELIVERY_ATTEMPTS, redeliveryDelayMs } from '../shared/redelivery.js';
import { seededRandom } from '../shared/seeded-random.js';
import { createStarterService, type StarterService } from '../starter/service.js';
import { createTrigger, type TriggerService } from '../trigger/service.js';
import { FakeClock, MemoryLogger } from './fake-clock.js';
import { FakeWrapper } from './fake-wrapper.js';
import { InMemoryStore, type OutboxRecord } from './in-memory-store.js';
import { type AgentExecution, ScriptedAgentFleet } from './scripted-agent-fleet.js';
import type {
  AgentMatch,
  AgentOutcome,
  ChaosOptions,
  DeadLetter,
  JobInterval,
  PublishedEvent,
  SimulationItem,
  SimulationOptions,
  TimelineEntry,
} from './simulation-types.js';

const clone = <T>(v: T): T => structuredClone(v);

/** A delivery or timer waiting in the simulation's queue, with its due time and retry state. */
interface Scheduled {
  seq: number;
  dueAt: number;
  copy: boolean;
  attempts: number;
  item: SimulationItem;
}

/** The five services as the simulation wired them. */
export interface SimulationServices {
  starter: StarterService;
  planner: PlannerService;
  dispatcher: DispatcherService;
  recorder: RecorderService;
  aggregator: AggregatorService;
  trigger: TriggerService;
}

/**
 * The five real services over the in-memory store, a fake clock, the scripted agent fleet and the
 * fake wrapper, plus a delivery loop: bus events go to the services the routing table names, queue
 * messages to the dispatcher (honouring delays against the fake clock), change-feed records to the
 * aggregator, wrapper tasks to the dispatcher. Build one with `createSimulation`.
 */
export class Simulation {
  readonly clock: FakeClock;
  readonly log = new MemoryLogger();
  readonly store: InMemoryStore;
  readonly wrapper: FakeWrapper;
  readonly agent: ScriptedAgentFleet;
  readonly services: SimulationServices;
  /** Every event published on the bus, in order (routed or not). */
  readonly published: PublishedEvent[] = [];
  /** Every `ensurePublished` call's events (re-derived on redelivery). */
  readonly ensured: PublishedEvent[] = [];
  /** Every job start and finish on an agent, with its fake time, in the order they happened. */
  readonly timeline: TimelineEntry[] = [];
  readonly deadLetters: DeadLetter[] = [];
  /** Problems the bus saw: invalid events, re-derived events that differ from what was published. */
  readonly busViolations: string[] = [];
  /** Deliveries made so far. */
  deliveries = 0;
  readonly maxTaskAttempts: number;

  private readonly chaos: Required<ChaosOptions>;
  private readonly random: () => number;
  private readonly maxSteps: number;
  private readonly queue: Scheduled[] = [];
  private seq = 0;
  private envelopeSeq = 0;
  private readonly byEventId = new Map<string, RsqloEvent>();

  constructor(opts: SimulationOptions = {}) {
    this.clock = new FakeClock(opts.start);
    this.chaos = {
      duplicate: opts.chaos?.duplicate ?? false,
      shuffle: opts.chaos?.shuffle ?? false,
      seed: opts.chaos?.seed ?? 1,
      maxDuplicateDelayMs: opts.chaos?.maxDuplicateDelayMs ?? 2000,
    };
    this.random = seededRandom(this.chaos.seed);
    this.maxSteps = opts.maxSteps ?? 200_000;
    this.maxTaskAttempts = opts.maxTaskAttempts ?? 3;
    this.store = new InMemoryStore(this.clock);
    this.store.onCommit((records) => this.onCommit(records));
    this.wrapper = new FakeWrapper(this);
    this.agent = new ScriptedAgentFleet(
      this,
      opts.instances ?? ['i-sim-1'],
      opts.script,
      opts.defaultDurationSeconds ?? 10,
    );
    for (const d of opts.definitions ?? []) this.define(d);

    const events: EventPublisher = {
      publish: async (evs) => this.publish(evs),
      ensurePublished: async (evs) => this.ensure(evs),
    };
    const runs = this.store.runs();
    const jobs = this.store.jobs();
    // pools/operator (issue 14): the services that need them take them from here.
    const common = {
      runs,
      jobs,
      pools: this.store.pools(),
      operator: this.store.operator(),
      clock: this.clock,
      log: this.log,
    };
    this.services = {
      starter: createStarterService({
        ...common,
        definitions: this.store.definitions(),
        events,
        orchestrator: this.wrapper,
        ...(opts.scriptVersion ? { scriptVersion: opts.scriptVersion } : {}),
      }),
      planner: createPlannerService(common),
      dispatcher: createDispatcherService({ ...common, orchestrator: this.wrapper, agents: this.agent }),
      recorder: createRecorderService({ jobs, log: this.log }),
      aggregator: createAggregatorService({ ...common, events }),
      trigger: createTrigger({
        definitions: this.store.definitions(),
        triggers: this.store.triggers(),
        events,
        clock: this.clock,
        log: this.log,
      }),
    };
  }

  // ---- what tests do ------------------------------------------------------------------------

  /** Stores (or replaces) a definition, raw: the starter validates it. */
  define(def: WorkflowDefinitionInput | Record<string, unknown>): this {
    const id = (def as { workflow_id?: unknown }).workflow_id;
    if (typeof id !== 'string') throw new Error('define: the definition needs a workflow_id');
    this.store.putDefinition(id, def);
    return this;
  }

  /** Scripts attempts (see ScriptedAgentFleet.when); returns the simulation for chaining. */
  script(match: AgentMatch | string, outcome: AgentOutcome): this {
    this.agent.when(typeof match === 'string' ? { job: match } : match, outcome);
    return this;
  }

  /** Publishes a WorkflowRequested on the bus (as the CLI, a schedule or a user's rule would); returns its envelope id. */
  request(detail: Omit<WorkflowRequested, 'version'> & { version?: number }): string {
    return this.publishEnvelope({
      detailType: 'WorkflowRequested',
      detail: { version: EVENT_VERSION, ...detail },
    });
  }

  /**
   * Starts run `exec` of `workflowId` (the starter) and plans its first stage (the planner), calling
   * the services directly and delivering nothing else: the stage's jobs are claimed (Queued), their
   * messages wait in the queue. What the service tests of a single step start from.
   */
  async startAndPlan(
    workflowId: string,
    exec: string,
  ): Promise<Awaited<ReturnType<PlannerService['handleStageReady']>>> {
    await this.services.starter.handleRequested(
      { version: EVENT_VERSION, workflow_id: workflowId, workflow_execution_id: exec },
      'e1',
    );
    return this.services.planner.handleStageReady({
      version: EVENT_VERSION,
      event_id: `StageReady:${exec}:1:start`,
      occurred_at: '2024-01-01T00:00:00.000Z',
      workflow_id: workflowId,
      workflow_execution_id: exec,
      stage: 1,
    });
  }

  /** Publishes a WorkflowCancelRequested on the bus; returns its envelope id. */
  cancel(detail: Omit<WorkflowCancelRequested, 'version'> & { version?: number }): string {
    return this.publishEnvelope({
      detailType: 'WorkflowCancelRequested',
      detail: { version: EVENT_VERSION, ...detail },
    });
  }

  /**
   * Delivers everything due, advancing the fake clock to the next delivery, scripted job end or
   * expected timeout, until nothing is left but jobs that hang (their timeouts do not pull the
   * clock forward). Throws when it makes more than `maxSteps` deliveries (a livelock).
   */
  async runUntilIdle(): Promise<void> {
    let steps = 0;
    for (;;) {
      const next = this.takeReady();
      if (next) {
        if (++steps > this.maxSteps) throw new Error(`runUntilIdle: more than ${this.maxSteps} deliveries`);
        await this.deliver(next);
        continue;
      }
      if (!this.queue.some((s) => this.drivesClock(s))) return;
      this.clock.set(Math.min(...this.queue.map((s) => s.dueAt)));
    }
  }

  /**
   * Moves the fake clock forward by exactly `seconds`, making every delivery and firing every timer
   * that falls due on the way (hanging jobs' timeouts included), and stops there. `advance(0)`
   * delivers what is due now without moving the clock.
   */
  async advance(seconds: number): Promise<void> {
    const target = this.clock.millis + seconds * 1000;
    let steps = 0;
    for (;;) {
      const next = this.takeReady();
      if (next) {
        if (++steps > this.maxSteps) throw new Error(`advance: more than ${this.maxSteps} deliveries`);
        await this.deliver(next);
        continue;
      }
      const due = this.queue.length ? Math.min(...this.queue.map((s) => s.dueAt)) : Number.POSITIVE_INFINITY;
      if (due > target) break;
      this.clock.set(due);
    }
    this.clock.set(target);
  }

  /**
   * Ends a running (typically hanging) attempt now, as its script would. `match` selects by job
   * name or key (and attempt / run). Returns false when no running attempt matched.
   */
  finishJob(
    match: AgentMatch | string,
    result: { outcome: 'complete' } | { outcome: 'fail'; exitCode?: number; message?: string },
  ): boolean {
    const m = typeof match === 'string' ? { job: match } : match;
    for (const e of this.agent.executions.values()) {
      const c = e.command;
      if (e.endedAt !== null) continue;
      if (m.job !== c.job_name && m.job !== c.job_key) continue;
      if (m.attempt !== undefined && m.attempt !== c.attempt) continue;
      if (m.workflowExecutionId !== undefined && m.workflowExecutionId !== c.workflow_execution_id) continue;
      return this.agent.finish(
        e.name,
        result.outcome === 'complete'
          ? { ok: true }
          : { ok: false, exitCode: result.exitCode ?? 1, message: result.message ?? null },
      );
    }
    return false;
  }

  // ---- what tests read ----------------------------------------------------------------------

  /** The run's full audit record. */
  run(exec: string): WorkflowAuditRecord | undefined {
    return this.store.getRunRecord(exec);
  }

  jobs(exec: string): JobAuditRecord[] {
    return this.store.listJobsSync(exec);
  }

  job(exec: string, key: string): JobAuditRecord | undefined {
    return this.store.getJobSync(exec, key);
  }

  /** Published events of one detail-type (of one run, when given), in publication order. */
  eventsOf<T extends DetailType>(detailType: T, exec?: string): Array<DetailOf<T>> {
    const out: Array<DetailOf<T>> = [];
    for (const p of this.published) {
      if (p.event.detailType !== detailType) continue;
      const d = p.event.detail as DetailOf<T>;
      if (exec !== undefined && (d as { workflow_execution_id?: unknown }).workflow_execution_id !== exec)
        continue;
      out.push(d);
    }
    return out;
  }

  /** Each attempt's run on an agent (start to end), in start order; ties by run, job and attempt. */
  intervals(exec?: string): JobInterval[] {
    const open = new Map<string, JobInterval>();
    const out: JobInterval[] = [];
    for (const t of this.timeline) {
      if (exec !== undefined && t.workflow_execution_id !== exec) continue;
      const k = `${t.workflow_execution_id}/${t.job_key}/${t.attempt}`;
      if (t.type === 'start') {
        const iv: JobInterval = {
          workflow_execution_id: t.workflow_execution_id,
          job_key: t.job_key,
          job_name: t.job_name,
          stage: t.stage,
          attempt: t.attempt,
          start: t.at,
          end: null,
          status: null,
        };
        open.set(k, iv);
        out.push(iv);
      } else {
        const iv = open.get(k);
        if (iv) {
          iv.end = t.at;
          iv.status = t.status ?? null;
          open.delete(k);
        }
      }
    }
    return out.sort(
      (a, b) =>
        a.start - b.start ||
        a.workflow_execution_id.localeCompare(b.workflow_execution_id) ||
        a.stage - b.stage ||
        parseJobKey(a.job_key).jobNo - parseJobKey(b.job_key).jobNo ||
        a.attempt - b.attempt,
    );
  }

  /**
   * Most attempts running at once among those `filter` selects, walking the timeline in the order
   * things happened (a job that ends at the instant another starts does not overlap it).
   */
  maxConcurrent(filter: (t: TimelineEntry) => boolean = () => true): number {
    let now = 0;
    let max = 0;
    for (const t of this.timeline) {
      if (!filter(t)) continue;
      now += t.type === 'start' ? 1 : -1;
      max = Math.max(max, now);
    }
    return max;
  }

  /** Everything that should not happen: store violations, bus violations, dead letters. */
  problems(): string[] {
    return [
      ...this.store.violations,
      ...this.busViolations,
      ...this.deadLetters.map(
        (d) => `dead letter (${d.kind}${d.target ? ` → ${d.target}` : ''}): ${d.error}`,
      ),
    ];
  }

  /** Scheduled deliveries and timers not yet made (hanging jobs leave their timeouts here). */
  get pendingCount(): number {
    return this.queue.length;
  }

  // ---- plumbing (used by the fakes) ---------------------------------------------------------

  /** Puts events on the bus: validated, recorded, routed to the services that react to them. */
  publish(events: readonly RsqloEvent[]): void {
    for (const e of events) this.publishEnvelope(e);
  }

  /** Schedules a delivery or timer at a fake instant. */
  schedule(item: SimulationItem, dueAt: number, copy = false, attempts = 0): void {
    this.queue.push({ seq: this.seq++, dueAt, copy, attempts, item });
  }

  /** Drops scheduled deliveries and timers that `match` selects. */
  unschedule(match: (item: SimulationItem) => boolean): void {
    for (let i = this.queue.length - 1; i >= 0; i--) {
      if (match((this.queue[i] as Scheduled).item)) this.queue.splice(i, 1);
    }
  }

  recordTimeline(type: TimelineEntry['type'], e: AgentExecution): void {
    const c = e.command;
    this.timeline.push({
      type,
      at: this.clock.millis,
      workflow_execution_id: c.workflow_execution_id,
      job_key: c.job_key,
      job_name: c.job_name,
      stage: c.stage,
      attempt: c.attempt,
      instance_id: e.instanceId,
      ...(type === 'finish' && e.status ? { status: e.status } : {}),
    });
  }

  private publishEnvelope(event: RsqloEvent): string {
    const schema = EVENT_SCHEMAS[event.detailType];
    const parsed = schema.safeParse(event.detail);
    if (!parsed.success) this.busViolations.push(`invalid ${event.detailType}: ${parsed.error.message}`);
    const id = `evt-${++this.envelopeSeq}`;
    const envelope = toEnvelope(event, { id, time: this.clock.now().toISOString() });
    this.published.push({ at: this.clock.millis, envelopeId: id, event: clone(event) });
    const eventId = (event.detail as { event_id?: string }).event_id;
    if (eventId !== undefined && !this.byEventId.has(eventId)) this.byEventId.set(eventId, clone(event));
    for (const target of routeEvent(envelope))
      this.schedule({ kind: 'bus', target, envelope }, this.clock.millis);
    return id;
  }

  /**
   * Re-derived events: the in-memory outbox committed the originals with their state change, so
   * (like the local runtime) nothing is sent again. What is checked is that re-deriving gives the
   * same event: same id, same content apart from occurred_at.
   */
  private ensure(events: readonly RsqloEvent[]): void {
    for (const e of events) {
      this.ensured.push({ at: this.clock.millis, envelopeId: '', event: clone(e) });
      const id = (e.detail as { event_id: string }).event_id;
      const first = this.byEventId.get(id);
      if (!first) {
        this.busViolations.push(
          `ensurePublished(${e.detailType} ${id}): no event with this id was published`,
        );
      } else if (JSON.stringify(withoutOccurredAt(first)) !== JSON.stringify(withoutOccurredAt(e))) {
        this.busViolations.push(
          `ensurePublished(${e.detailType} ${id}) differs from the published event: ${JSON.stringify(e.detail)} vs ${JSON.stringify(first.detail)}`,
        );
      }
    }
  }

  private onCommit(records: OutboxRecord[]): void {
    const now = this.clock.millis;
    for (const r of records) {
      if (r.kind === 'event') this.publish([r.event]);
      else if (r.kind === 'message') {
        this.schedule({ kind: 'queue', body: r.message.body, receives: 0 }, r.visibleAt);
      } else this.schedule({ kind: 'change', job: r.job }, now);
    }
  }

  private drivesClock(s: Scheduled): boolean {
    if (s.item.kind !== 'timeout') return true;
    return this.agent.expectsTimeout(s.item.name);
  }

  /** The next due item: the oldest, or (shuffle) a random one of those due. */
  private takeReady(): Scheduled | undefined {
    const now = this.clock.millis;
    let pick = -1;
    if (this.chaos.shuffle) {
      const due: number[] = [];
      for (let i = 0; i < this.queue.length; i++) if ((this.queue[i] as Scheduled).dueAt <= now) due.push(i);
      if (due.length > 0) pick = due[Math.floor(this.random() * due.length)] as number;
    } else {
      for (let i = 0; i < this.queue.length; i++) {
        const s = this.queue[i] as Scheduled;
        if (s.dueAt > now) continue;
        const best = pick >= 0 ? (this.queue[pick] as Scheduled) : undefined;
        if (!best || s.dueAt < best.dueAt || (s.dueAt === best.dueAt && s.seq < best.seq)) pick = i;
      }
    }
    if (pick < 0) return undefined;
    const [s] = this.queue.splice(pick, 1);
    return s;
  }

  private async deliver(s: Scheduled): Promise<void> {
    this.deliveries++;
    const item = s.item;
    try {
      switch (item.kind) {
        case 'agent-finish': {
          const e = this.agent.execution(item.name);
          if (!e) return;
          const o = e.outcome;
          this.agent.finish(
            item.name,
            o.outcome === 'fail'
              ? { ok: false, exitCode: o.exitCode ?? 1, message: o.message ?? null }
              : { ok: true },
          );
          return;
        }
        case 'timeout':
          this.wrapper.onTimeout(item.name);
          return;
        case 'task':
          await this.wrapper.deliverTask(item);
          break;
        case 'change':
          await this.services.aggregator.handleJobChange(
            parseContract(JobAuditRecord, clone(item.job), 'job change'),
          );
          break;
        case 'queue': {
          const msg = parseContract(JobMessage, clone(item.body), 'job message');
          const result = await this.services.dispatcher.handleMessage(msg);
          if (!result.ack) {
            this.schedule(
              { ...item, receives: item.receives + 1 },
              this.clock.millis + result.retryAfterSeconds * 1000,
              s.copy,
            );
            return;
          }
          break;
        }
        case 'bus':
          await this.deliverBus(item.target, item.envelope);
          break;
      }
    } catch (err) {
      this.failDelivery(s, err);
      return;
    }
    if (this.chaos.duplicate && !s.copy) {
      const copy = item.kind === 'queue' ? { ...item, receives: 0 } : item;
      this.schedule(
        copy,
        this.clock.millis + Math.floor(this.random() * this.chaos.maxDuplicateDelayMs),
        true,
      );
    }
  }

  private async deliverBus(target: BusService, envelope: EventEnvelope): Promise<void> {
    const env = parseEnvelope(clone(envelope));
    await deliverEvent(this.services, target, { ...env, time: envelope.time } as ParsedEnvelope);
  }

  private failDelivery(s: Scheduled, err: unknown): void {
    const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    const final =
      err instanceof NonRetriableError ||
      err instanceof ContractError ||
      s.attempts + 1 >= MAX_DELIVERY_ATTEMPTS;
    if (final) {
      this.deadLetters.push({
        kind: s.item.kind,
        ...(s.item.kind === 'bus' ? { target: s.item.target } : {}),
        error: message,
        at: this.clock.millis,
      });
      return;
    }
    this.schedule(s.item, this.clock.millis + redeliveryDelayMs(s.attempts), s.copy, s.attempts + 1);
  }
}

function withoutOccurredAt(e: RsqloEvent): unknown {
  const { occurred_at: _ignored, ...rest } = e.detail as { occurred_at?: string };
  return { detailType: e.detailType, detail: rest };
}

/** Wires the five real services over the fakes (see Simulation). */
export function createSimulation(opts: SimulationOptions = {}): Simulation {
  return new Simulation(opts);
}
