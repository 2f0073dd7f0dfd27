/**
 * In-memory fakes of every service port, with the same semantics as the SQLite store
 * (runtime/local/store.ts), and a deterministic simulation harness that wires the five real
 * services over them with a fake clock, a scripted agent fleet and a fake single-job wrapper.
 *
 * Why: the services are pure logic over ports, so their behaviour under at-least-once delivery,
 * reordering, retries, timeouts and cancellation can be tested exhaustively and quickly, without
 * SQLite, processes or wall-clock time. Every delivery can be duplicated and shuffled (seeded), and
 * every job start and finish is recorded with its fake time, so tests can assert ordering and
 * concurrency exactly.
 */
import {
  countField,
  isForwardTransition,
  JobAuditRecord,
  parseJobKey,
  WorkflowAuditRecord,
  type WorkflowRunState,
  withRsqlJobs,
} from '../../contracts/audit.js';
import { ContractError, parseContract } from '../../contracts/common.js';
import {
  type DetailOf,
  type DetailType,
  EVENT_SCHEMAS,
  EVENT_VERSION,
  eventIds,
  type RsqloEvent,
  type WorkflowCancelRequested,
  type WorkflowRequested,
} from '../../contracts/events.js';
import { type JobCommand, JobMessage, type JobRunInput, type TaskRequest } from '../../contracts/jobs.js';
import type { WorkflowDefinitionInput } from '../../contracts/workflow.js';
import { type EventEnvelope, type ParsedEnvelope, parseEnvelope, toEnvelope } from '../../events/envelope.js';
import { type BusService, routeEvent } from '../../events/routing.js';
import {
  type AggregatorService,
  createAggregatorService,
  isAggregatorChange,
} from '../aggregator/service.js';
import { createDispatcherService, type DispatcherService } from '../dispatcher/service.js';
import { NoAgentAvailableError, NonRetriableError, StaleTaskError } from '../errors.js';
import { createPlannerService, type PlannerService } from '../planner/service.js';
import type {
  AgentFleet,
  AgentRef,
  Clock,
  CreateRunResult,
  DefinitionRepository,
  Effects,
  EventPublisher,
  JobClaim,
  JobRepository,
  JobRunOrchestrator,
  JobTransition,
  Logger,
  OutgoingMessage,
  RunRepository,
  StageCompletion,
} from '../ports.js';
import { createRecorderService, type RecorderService } from '../recorder/service.js';
import { deliverEvent } from '../shared/dispatch.js';
import { applyStageCompletion, canLaunch, totalCounts } from '../shared/progress.js';
import { createStarterService, type StarterService } from '../starter/service.js';

// ---- clock, logger, randomness ----------------------------------------------------------------

/** Where fake time starts unless told otherwise: a fixed instant, so runs are reproducible. */
export const DEFAULT_SIMULATION_START = '2024-01-01T00:00:00.000Z';

/** A clock that only moves when told to. */
export class FakeClock implements Clock {
  private ms: number;

  constructor(start: Date | string | number = DEFAULT_SIMULATION_START) {
    this.ms = new Date(start).getTime();
  }

  now(): Date {
    return new Date(this.ms);
  }

  /** Milliseconds since the epoch. */
  get millis(): number {
    return this.ms;
  }

  /** Moves to an instant; time never goes backwards. */
  set(ms: number): void {
    if (ms < this.ms) throw new Error(`FakeClock cannot go back from ${this.ms} to ${ms}`);
    this.ms = ms;
  }

  advance(ms: number): void {
    this.set(this.ms + ms);
  }
}

/** One line a service logged. */
export interface LogEntry {
  level: 'info' | 'warn' | 'error';
  message: string;
  fields: Record<string, unknown> | undefined;
}

/** A logger that keeps what it is told, for tests to read. */
export class MemoryLogger implements Logger {
  readonly entries: LogEntry[] = [];

  info(message: string, fields?: Record<string, unknown>): void {
    this.entries.push({ level: 'info', message, fields });
  }

  warn(message: string, fields?: Record<string, unknown>): void {
    this.entries.push({ level: 'warn', message, fields });
  }

  error(message: string, fields?: Record<string, unknown>): void {
    this.entries.push({ level: 'error', message, fields });
  }
}

/** A small seeded PRNG (mulberry32): the same seed gives the same shuffles and delays. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---- the store ---------------------------------------------------------------------------------

/** One thing a committed state change causes, in commit order. */
export type OutboxRecord =
  | { kind: 'event'; event: RsqloEvent }
  /** A queue message; `visibleAt` (fake ms) is when its delay ends. */
  | { kind: 'message'; message: OutgoingMessage; visibleAt: number }
  /** The change feed: a job row as written, when `isAggregatorChange` selects it. */
  | { kind: 'change'; job: JobAuditRecord };

/** Store methods a fault can be injected into. */
export type StoreMethod =
  | 'createRun'
  | 'claimJobs'
  | 'countJob'
  | 'completeStage'
  | 'requestCancel'
  | 'transition'
  | 'skipPending';

/** A planned failure: `before` throws without changing anything, `after` commits and then throws. */
export interface StoreFault {
  method: StoreMethod;
  when: 'before' | 'after';
  /** How many calls fail (default 1). */
  times?: number;
}

/** Thrown by an injected fault (a retriable error, like a lost connection). */
export class InjectedFaultError extends Error {
  override name = 'InjectedFaultError';
}

const clone = <T>(v: T): T => structuredClone(v);

/**
 * The run and job tables, the outbox and the change feed, in memory, with the SQLite store's
 * semantics: every mutating call checks its condition, changes state and records its effects (and
 * the change-feed records of the job rows it wrote) in one synchronous step, so no other handler
 * can observe a half-done change. Reads return copies. Writes are checked against the contracts and
 * against "transitions only move forward"; breaches are kept in `violations`.
 */
export class InMemoryStore {
  /** Everything committed, in order; never drained (tests read it). */
  readonly outbox: OutboxRecord[] = [];
  /** Contract or invariant breaches seen on writes; a healthy run leaves this empty. */
  readonly violations: string[] = [];
  /** Every successful claim, in order (what the planner queued at once). */
  readonly claims: JobClaim[] = [];
  /** How often each port method was called (reads included). */
  readonly calls = new Map<string, number>();
  /** Rows written (run and job rows), like LocalStore.writes. */
  writes = 0;

  /** Runs as services read them; `rsql_jobs` (read by people only) is kept apart, as in SQLite. */
  private readonly runRows = new Map<string, WorkflowRunState>();
  private readonly runJobNames = new Map<string, string[]>();
  private readonly jobRows = new Map<string, JobAuditRecord>();
  /** Job keys per run in (stage, job) order. */
  private readonly jobOrder = new Map<string, string[]>();
  private readonly definitionRows = new Map<string, unknown>();
  private readonly listeners: Array<(records: OutboxRecord[]) => void> = [];
  private readonly faults: Array<Required<StoreFault>> = [];
  private pending: OutboxRecord[] | null = null;

  constructor(private readonly clock: Clock) {}

  /** Hears each commit's records right after the commit (the simulation delivers them). */
  onCommit(fn: (records: OutboxRecord[]) => void): void {
    this.listeners.push(fn);
  }

  /** The next `times` calls of `method` fail (before or after committing). */
  injectFault(fault: StoreFault): void {
    this.faults.push({ times: 1, ...fault });
  }

  // ---- definitions ------------------------------------------------------------------------

  /** Stores a definition as-is (the starter validates it, so invalid ones can be stored too). */
  putDefinition(workflowId: string, body: unknown): void {
    this.definitionRows.set(workflowId, clone(body));
  }

  definitions(): DefinitionRepository {
    return {
      get: async (id) => {
        this.count('definitions.get');
        const d = this.definitionRows.get(id);
        return d === undefined ? undefined : clone(d);
      },
    };
  }

  // ---- synchronous reads (for tests) ------------------------------------------------------

  /** The run as services read it (without `rsql_jobs`). */
  getRunSync(exec: string): WorkflowRunState | undefined {
    const r = this.runRows.get(exec);
    return r ? clone(r) : undefined;
  }

  /** The full workflow audit record, as people read it. */
  getRunRecord(exec: string): WorkflowAuditRecord | undefined {
    const r = this.runRows.get(exec);
    return r ? this.withJobNames(r) : undefined;
  }

  getJobSync(exec: string, key: string): JobAuditRecord | undefined {
    const j = this.jobRows.get(rowKey(exec, key));
    return j ? clone(j) : undefined;
  }

  listJobsSync(exec: string): JobAuditRecord[] {
    return (this.jobOrder.get(exec) ?? []).map((k) =>
      clone(this.jobRows.get(rowKey(exec, k)) as JobAuditRecord),
    );
  }

  /** Every run's full audit record, in creation order. */
  allRuns(): WorkflowAuditRecord[] {
    return [...this.runRows.values()].map((r) => this.withJobNames(r));
  }

  // ---- ports --------------------------------------------------------------------------------

  runs(): RunRepository {
    return {
      getRun: async (exec) => {
        this.count('getRun');
        return this.getRunSync(exec);
      },
      createRun: async (run, jobs, opts, effects) =>
        this.createRun(run, jobs, opts.maxActiveRuns, effects, opts.restartOf),
      claimJobs: async (claim, effects) => this.claimJobs(claim, effects),
      countJob: async (c, derive) => this.countJob(c, derive),
      completeStage: async (c, effects) => this.completeStage(c, effects),
      requestCancel: async (exec) =>
        this.mutate('requestCancel', () => {
          const run = this.runRows.get(exec);
          if (run?.execution_status !== 'Running' || run.cancel_requested)
            return run ? clone(run) : undefined;
          const next = { ...clone(run), cancel_requested: true };
          this.writeRun(next);
          return clone(next);
        }),
      listRuns: async (workflowId, limit) => {
        this.count('listRuns');
        return [...this.runRows.values()]
          .filter((r) => r.workflow_id === workflowId)
          .sort(
            (a, b) =>
              b.execution_start_ts.localeCompare(a.execution_start_ts) ||
              b.workflow_execution_id.localeCompare(a.workflow_execution_id),
          )
          .slice(0, limit)
          .map(clone);
      },
    };
  }

  jobs(): JobRepository {
    return {
      getJob: async (exec, key) => {
        this.count('getJob');
        return this.getJobSync(exec, key);
      },
      listStageJobs: async (exec, stage, after, limit) => {
        this.count('listStageJobs');
        const out: JobAuditRecord[] = [];
        for (const key of this.jobOrder.get(exec) ?? []) {
          if (out.length >= limit) break;
          const job = this.jobRows.get(rowKey(exec, key));
          if (job && job.stage === stage && job.job_no > after) out.push(clone(job));
        }
        return out;
      },
      listJobs: async (exec) => {
        this.count('listJobs');
        return this.listJobsSync(exec);
      },
      transition: async (t, effects) => this.transition(t, effects),
      skipPending: async (exec, stage, after, reason) =>
        this.mutate('skipPending', () => {
          const at = this.clock.now().toISOString();
          let n = 0;
          for (const key of this.jobOrder.get(exec) ?? []) {
            const job = this.jobRows.get(rowKey(exec, key));
            if (job?.execution_status !== 'Pending') continue;
            if (!((job.stage === stage && job.job_no > after) || job.stage > stage)) continue;
            this.writeJob({
              ...clone(job),
              execution_status: 'Skipped',
              skip_reason: reason(job),
              execution_end_ts: at,
              counted: true,
            });
            n++;
          }
          return n;
        }),
    };
  }

  // ---- mutations (each one synchronous step) --------------------------------------------------

  private createRun(
    run: WorkflowAuditRecord,
    jobs: JobAuditRecord[],
    maxActive: number,
    effects: Effects,
    restartOf?: string,
  ): Promise<CreateRunResult> {
    return this.mutate('createRun', (): CreateRunResult => {
      const existing = this.runRows.get(run.workflow_execution_id);
      if (existing) return { outcome: 'exists', run: clone(existing) };
      const prev = restartOf !== undefined ? this.runRows.get(restartOf) : undefined;
      if (prev?.restarted_as) return { outcome: 'restarted', by: prev.restarted_as };
      if (run.execution_status === 'Running') {
        const active = [...this.runRows.values()]
          .filter((r) => r.workflow_id === run.workflow_id && r.execution_status === 'Running')
          .sort((a, b) => a.execution_start_ts.localeCompare(b.execution_start_ts))
          .map((r) => r.workflow_execution_id);
        if (active.length >= maxActive) return { outcome: 'limit', active };
      }
      if (prev) this.writeRun({ ...clone(prev), restarted_as: run.workflow_execution_id });
      const { rsql_jobs: names, ...state } = run;
      this.runJobNames.set(run.workflow_execution_id, [...names]);
      this.writeRun(state);
      const sorted = [...jobs].sort((a, b) => a.stage - b.stage || a.job_no - b.job_no);
      for (const j of sorted) {
        this.checkJob(j);
        // Inserted rows do not feed the aggregator (like the SQLite insert): only updates do.
        this.jobRows.set(rowKey(j.workflow_execution_id, j.job_key), clone(j));
        this.writes++;
      }
      this.jobOrder.set(
        run.workflow_execution_id,
        sorted.map((j) => j.job_key),
      );
      this.applyEffects(effects);
      return { outcome: 'created' };
    });
  }

  private claimJobs(claim: JobClaim, effects: Effects): Promise<'claimed' | 'conflict'> {
    return this.mutate('claimJobs', () => {
      const run = this.runRows.get(claim.workflowExecutionId);
      const st = run?.stages[claim.stage - 1];
      if (!run || !st || st.cursor !== claim.expectedCursor || st.status !== 'Running') return 'conflict';
      // A claim never races a failure or a cancel: once the stage may not launch, nothing is queued.
      if (!canLaunch(st, run.cancel_requested)) return 'conflict';
      // All or nothing: check every job before writing any (the SQLite transaction rolls back).
      const rows: JobAuditRecord[] = [];
      for (const c of claim.jobs) {
        const job = this.jobRows.get(rowKey(claim.workflowExecutionId, c.jobKey));
        if (!job || job.attempt !== c.attempt || job.execution_status !== 'Pending') return 'conflict';
        rows.push(job);
      }
      for (const job of rows) this.writeJob({ ...clone(job), execution_status: 'Queued' });
      const stages = clone(run.stages);
      stages[claim.stage - 1] = { ...st, cursor: claim.newCursor, launched: st.launched + claim.jobs.length };
      this.writeRun({ ...clone(run), stages });
      this.claims.push(clone(claim));
      this.applyEffects(effects);
      return 'claimed';
    });
  }

  private countJob(
    c: Parameters<RunRepository['countJob']>[0],
    derive: Parameters<RunRepository['countJob']>[1],
  ): Promise<{ counted: boolean; run: WorkflowRunState | undefined }> {
    return this.mutate('countJob', () => {
      const run = this.runRows.get(c.workflowExecutionId);
      const job = this.jobRows.get(rowKey(c.workflowExecutionId, c.jobKey));
      if (!run || !job || job.counted || job.attempt !== c.attempt || job.execution_status !== c.status) {
        return { counted: false, run: run ? clone(run) : undefined };
      }
      const stages = clone(run.stages);
      const st = stages[c.stage - 1];
      if (!st) return { counted: false, run: clone(run) };
      this.writeJob({ ...clone(job), counted: true });
      const field = countField(c.status);
      stages[c.stage - 1] = { ...st, finished: st.finished + 1, [field]: st[field] + 1 };
      const failedJobs =
        c.failure && run.failed_jobs.length < 10
          ? [...clone(run.failed_jobs), clone(c.failure)]
          : clone(run.failed_jobs);
      const next: WorkflowRunState = {
        ...clone(run),
        stages,
        counts: totalCounts(stages),
        failed_jobs: failedJobs,
      };
      this.writeRun(next);
      this.applyEffects(derive(clone(next)));
      return { counted: true, run: clone(next) };
    });
  }

  private completeStage(c: StageCompletion, effects: Effects): Promise<boolean> {
    return this.mutate('completeStage', () => {
      const run = this.runRows.get(c.workflowExecutionId);
      const st = run?.stages[c.stage - 1];
      if (!run || !st || st.status !== 'Running' || run.execution_status !== 'Running') return false;
      this.writeRun(applyStageCompletion(clone(run), c));
      this.applyEffects(effects);
      return true;
    });
  }

  private transition(t: JobTransition, effects?: Effects): Promise<JobAuditRecord | undefined> {
    return this.mutate('transition', () => {
      const job = this.jobRows.get(rowKey(t.workflowExecutionId, t.jobKey));
      if (
        !job ||
        job.attempt !== t.expect.attempt ||
        !t.expect.statuses.includes(job.execution_status) ||
        (t.expect.instanceId !== undefined && job.instance_id !== t.expect.instanceId)
      )
        return undefined;
      const next = { ...clone(job), ...clone(t.set) } as JobAuditRecord;
      this.writeJob(next);
      this.applyEffects(effects);
      return clone(next);
    });
  }

  // ---- internals ------------------------------------------------------------------------------

  private count(method: string): void {
    this.calls.set(method, (this.calls.get(method) ?? 0) + 1);
  }

  /**
   * Runs one mutation as a single synchronous step: effects and change records are collected and
   * committed with it (or dropped when it throws), then handed to the listeners.
   */
  private async mutate<T>(method: StoreMethod, fn: () => T): Promise<T> {
    this.count(method);
    const fault = this.takeFault(method);
    if (fault === 'before') throw new InjectedFaultError(`injected fault before ${method}`);
    if (this.pending) throw new Error(`nested store mutation in ${method}`);
    this.pending = [];
    let result: T;
    try {
      result = fn();
    } catch (err) {
      this.pending = null;
      throw err;
    }
    const records = this.pending;
    this.pending = null;
    if (records.length > 0) {
      this.outbox.push(...records);
      for (const l of this.listeners) l(records);
    }
    if (fault === 'after') throw new InjectedFaultError(`injected fault after ${method}`);
    return result;
  }

  private takeFault(method: StoreMethod): 'before' | 'after' | undefined {
    const i = this.faults.findIndex((f) => f.method === method);
    if (i < 0) return undefined;
    const f = this.faults[i] as Required<StoreFault>;
    f.times--;
    if (f.times <= 0) this.faults.splice(i, 1);
    return f.when;
  }

  private record(r: OutboxRecord): void {
    if (!this.pending) throw new Error('effects recorded outside a mutation');
    this.pending.push(r);
  }

  private applyEffects(effects: Effects | undefined): void {
    if (!effects) return;
    for (const event of effects.events ?? []) this.record({ kind: 'event', event: clone(event) });
    const now = this.clock.now().getTime();
    for (const message of effects.messages ?? []) {
      const visibleAt = now + Math.max(0, message.delaySeconds ?? 0) * 1000;
      this.record({ kind: 'message', message: clone(message), visibleAt });
    }
  }

  private writeRun(run: WorkflowRunState): void {
    // A service may hand back a record it spread from the full one: store the state only.
    const { rsql_jobs: _ignored, ...state } = run as WorkflowRunState & { rsql_jobs?: unknown };
    this.checkRun(state);
    this.runRows.set(run.workflow_execution_id, clone(state));
    this.writes++;
  }

  private withJobNames(run: WorkflowRunState): WorkflowAuditRecord {
    return withRsqlJobs(clone(run), [...(this.runJobNames.get(run.workflow_execution_id) ?? [])]);
  }

  private writeJob(job: JobAuditRecord): void {
    const key = rowKey(job.workflow_execution_id, job.job_key);
    const prev = this.jobRows.get(key);
    if (
      prev &&
      (prev.attempt !== job.attempt || prev.execution_status !== job.execution_status) &&
      !isForwardTransition(
        { attempt: prev.attempt, status: prev.execution_status },
        { attempt: job.attempt, status: job.execution_status },
      )
    ) {
      this.violations.push(
        `job ${job.workflow_execution_id}/${job.job_key} moved backwards: ${prev.execution_status}@${prev.attempt} → ${job.execution_status}@${job.attempt}`,
      );
    }
    if (prev?.counted && !job.counted) {
      this.violations.push(`job ${job.workflow_execution_id}/${job.job_key} lost its counted flag`);
    }
    this.checkJob(job);
    this.jobRows.set(key, clone(job));
    this.writes++;
    // The change feed (a DynamoDB stream with its filter, on AWS).
    if (isAggregatorChange(job)) this.record({ kind: 'change', job: clone(job) });
  }

  private checkRun(run: WorkflowRunState): void {
    const names = this.runJobNames.get(run.workflow_execution_id) ?? [];
    const r = WorkflowAuditRecord.safeParse({ ...run, rsql_jobs: names });
    if (!r.success) this.violations.push(`invalid run row ${run.workflow_execution_id}: ${r.error.message}`);
    const c = run.counts;
    if (c.completed + c.failed + c.timed_out + c.cancelled + c.skipped > c.total) {
      this.violations.push(
        `run ${run.workflow_execution_id} counts more outcomes than jobs: ${JSON.stringify(c)}`,
      );
    }
  }

  private checkJob(job: JobAuditRecord): void {
    const r = JobAuditRecord.safeParse(job);
    if (!r.success)
      this.violations.push(`invalid job row ${job.workflow_execution_id}/${job.job_key}: ${r.error.message}`);
  }
}

function rowKey(exec: string, key: string): string {
  const { stage, jobNo } = parseJobKey(key);
  return `${exec}\u0000${stage}.${jobNo}`;
}

// ---- the simulation ------------------------------------------------------------------------------

/** What the scripted agent does with one attempt. */
export type AgentOutcome =
  /** The script exits 0 after `durationSeconds` (default: the simulation's default duration). */
  | { outcome: 'complete'; durationSeconds?: number }
  /** The script exits with `exitCode` (default 1) and `message` on stderr. */
  | { outcome: 'fail'; exitCode?: number; message?: string; durationSeconds?: number }
  /** The script runs until the wrapper's timeout fires; `runUntilIdle` advances the clock to it. */
  | { outcome: 'timeout' }
  /** The script runs until the test ends it (`finishJob`) or the clock passes its timeout. */
  | { outcome: 'hang' };

/** Which attempts a scripted outcome applies to. */
export interface AgentMatch {
  /** The job_name (script) or the job_key (`2.1`). */
  job: string;
  /** Only this attempt (default: every attempt). */
  attempt?: number;
  /** Only this run (default: every run). */
  workflowExecutionId?: string;
}

/** A job attempt starting or ending on an agent, at a fake instant. */
export interface TimelineEntry {
  type: 'start' | 'finish';
  /** Fake time in ms since the epoch. */
  at: number;
  workflow_execution_id: string;
  job_key: string;
  job_name: string;
  stage: number;
  attempt: number;
  instance_id: string;
  /** How the process ended (finish only): its own result, or killed by the wrapper/cancel. */
  status?: 'Completed' | 'Failed' | 'TimedOut' | 'Cancelled';
}

/** One attempt's run on an agent, start to end. */
export interface JobInterval {
  workflow_execution_id: string;
  job_key: string;
  job_name: string;
  stage: number;
  attempt: number;
  start: number;
  end: number | null;
  status: TimelineEntry['status'] | null;
}

/** A published event with the fake time it was published at. */
export interface PublishedEvent {
  at: number;
  envelopeId: string;
  event: RsqloEvent;
}

/** Duplicate and shuffle every delivery (events, queue messages, change records, wrapper tasks). */
export interface ChaosOptions {
  /** Deliver everything a second time, a little later (at-least-once). Default false. */
  duplicate?: boolean;
  /** Deliver whatever is due in a random order. Default false. */
  shuffle?: boolean;
  /** PRNG seed (default 1). */
  seed?: number;
  /** A duplicate arrives up to this many fake ms after the original (default 2000). */
  maxDuplicateDelayMs?: number;
}

/** How to build a simulation; every field is optional. */
export interface SimulationOptions {
  /** Definitions to store up front (raw: the starter validates them). */
  definitions?: Array<WorkflowDefinitionInput | Record<string, unknown>>;
  /** Where the fake clock starts (default DEFAULT_SIMULATION_START). */
  start?: Date | string | number;
  chaos?: ChaosOptions;
  /** How long an attempt runs unless scripted otherwise (default 10 s). */
  defaultDurationSeconds?: number;
  /** Agent instance ids (default one, `i-sim-1`); each job run goes to one chosen by its name. */
  instances?: string[];
  /** Fallback script for attempts no rule matches (default: complete). */
  script?: (cmd: JobCommand) => AgentOutcome | undefined;
  /** Times the wrapper retries a failing dispatcher call before its Catch fails the attempt (default 3). */
  maxTaskAttempts?: number;
  /** Safety net against livelock: most deliveries one `runUntilIdle` makes (default 200 000). */
  maxSteps?: number;
}

/** A delivery the simulation will make, or a timer it will fire. */
export type SimulationItem =
  | { kind: 'bus'; target: BusService; envelope: EventEnvelope }
  | { kind: 'queue'; body: JobMessage; receives: number }
  | { kind: 'change'; job: JobAuditRecord }
  | { kind: 'task'; request: TaskRequest; attempt: number }
  | { kind: 'agent-finish'; name: string }
  | { kind: 'timeout'; name: string };

interface Scheduled {
  seq: number;
  dueAt: number;
  copy: boolean;
  attempts: number;
  item: SimulationItem;
}

/** Deliveries retried this many times before they go to the dead letters (like the engine). */
const MAX_DELIVERY_ATTEMPTS = 8;

/** A dead-lettered delivery: what it was and why it was given up. */
export interface DeadLetter {
  kind: SimulationItem['kind'];
  target?: string;
  error: string;
  at: number;
}

/** One single-job wrapper execution (what Step Functions would show for it). */
export interface WrapperRun {
  name: string;
  input: JobRunInput;
  status: 'Running' | 'Succeeded' | 'Failed' | 'TimedOut' | 'Aborted';
  startedAt: number;
  endedAt: number | null;
  timeoutAt: number;
}

/**
 * The single-job wrapper (Step Functions' role): `start` records the job run, arms its timeout and
 * invokes the dispatcher with a task token; `stop` aborts it; its timeout reports TimedOut and kills
 * the process; when the dispatcher cannot hand the job to an agent its Catch reports Failed.
 */
export class FakeWrapper implements JobRunOrchestrator {
  readonly runs = new Map<string, WrapperRun>();
  /** Every start call, including repeated ones (`exists`). */
  readonly starts: Array<{ name: string; at: number; result: 'started' | 'exists' }> = [];
  readonly stops: Array<{ name: string; reason: string; at: number }> = [];

  constructor(private readonly sim: Simulation) {}

  async start(input: JobRunInput): Promise<'started' | 'exists'> {
    const now = this.sim.clock.millis;
    if (this.runs.has(input.job_run_name)) {
      this.starts.push({ name: input.job_run_name, at: now, result: 'exists' });
      return 'exists';
    }
    const timeoutAt = now + input.timeout_seconds * 1000;
    this.runs.set(input.job_run_name, {
      name: input.job_run_name,
      input: clone(input),
      status: 'Running',
      startedAt: now,
      endedAt: null,
      timeoutAt,
    });
    this.starts.push({ name: input.job_run_name, at: now, result: 'started' });
    this.sim.schedule({ kind: 'timeout', name: input.job_run_name }, timeoutAt);
    this.sim.schedule(
      { kind: 'task', request: { task_token: `token:${input.job_run_name}`, job: clone(input) }, attempt: 1 },
      now,
    );
    return 'started';
  }

  async stop(jobRunName: string, reason: string): Promise<void> {
    this.stops.push({ name: jobRunName, reason, at: this.sim.clock.millis });
    if (this.end(jobRunName, 'Aborted')) this.sim.agent.kill(jobRunName, 'Cancelled');
  }

  /** Ends a run that is still Running; false when it had ended already. */
  end(name: string, status: Exclude<WrapperRun['status'], 'Running'>): boolean {
    const run = this.runs.get(name);
    if (run?.status !== 'Running') return false;
    run.status = status;
    run.endedAt = this.sim.clock.millis;
    // Step Functions drops the timeout of an execution that ended.
    this.sim.unschedule((item) => item.kind === 'timeout' && item.name === name);
    return true;
  }

  /** The agent's SendTaskSuccess / SendTaskFailure; false when the run had ended already. */
  taskResult(name: string, succeeded: boolean): boolean {
    return this.end(name, succeeded ? 'Succeeded' : 'Failed');
  }

  /** The timeout timer fired: report TimedOut (as the wrapper's Catch does) and kill the process. */
  onTimeout(name: string): void {
    const run = this.runs.get(name);
    if (run?.status !== 'Running' || this.sim.clock.millis < run.timeoutAt) return;
    this.end(name, 'TimedOut');
    const exec = this.sim.agent.execution(name);
    const input = run.input;
    const now = this.sim.clock.now();
    const startedAt = exec ? new Date(exec.startedAt) : null;
    this.sim.publish([
      {
        detailType: 'JobFinished',
        detail: {
          ...jobEventBase(
            input,
            eventIds.jobFinished(input.workflow_execution_id, input.job_key, input.attempt),
            now,
          ),
          status: 'TimedOut',
          exit_code: null,
          error_message: `timed out after ${input.timeout_seconds} s (timeout_seconds); the process tree was killed`,
          started_at: startedAt ? startedAt.toISOString() : null,
          finished_at: now.toISOString(),
          duration_ms: startedAt ? now.getTime() - startedAt.getTime() : null,
          instance_id: exec?.instanceId ?? null,
          ssm_command_id: exec?.commandId ?? null,
          log_location: exec?.logLocation ?? null,
          reported_by: 'wrapper',
        },
      },
    ]);
    this.sim.agent.kill(name, 'TimedOut');
  }

  /** The wrapper invokes the dispatcher with its task token (Lambda waitForTaskToken). */
  async deliverTask(item: Extract<SimulationItem, { kind: 'task' }>): Promise<void> {
    const name = item.request.job.job_run_name;
    const run = this.runs.get(name);
    if (run?.status !== 'Running') return;
    try {
      await this.sim.services.dispatcher.handleTask(item.request);
    } catch (err) {
      if (err instanceof StaleTaskError) {
        // The job moved on: the wrapper ends without a second report (like the engine).
        this.end(name, 'Failed');
        return;
      }
      if (item.attempt < this.sim.maxTaskAttempts) {
        this.sim.schedule(
          { ...item, attempt: item.attempt + 1 },
          this.sim.clock.millis + 1000 * 2 ** item.attempt,
        );
        return;
      }
      // The Catch: the attempt failed to dispatch; report it so the job does not wait for its timeout.
      if (!this.end(name, 'Failed')) return;
      const input = run.input;
      const now = this.sim.clock.now();
      const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      this.sim.publish([
        {
          detailType: 'JobFinished',
          detail: {
            ...jobEventBase(
              input,
              eventIds.jobFinished(input.workflow_execution_id, input.job_key, input.attempt),
              now,
            ),
            status: 'Failed',
            exit_code: null,
            error_message: `could not dispatch the job: ${message}`,
            started_at: null,
            finished_at: now.toISOString(),
            duration_ms: null,
            instance_id: null,
            ssm_command_id: null,
            log_location: null,
            reported_by: 'wrapper',
          },
        },
      ]);
    }
  }
}

/** One attempt an agent accepted. */
export interface AgentExecution {
  name: string;
  command: JobCommand;
  instanceId: string;
  commandId: string;
  logLocation: string;
  outcome: AgentOutcome;
  startedAt: number;
  endedAt: number | null;
  status: TimelineEntry['status'] | null;
}

/**
 * The agent fleet, scripted: tests decide per job (name or key) and attempt whether it completes,
 * fails with an exit code and a message, times out, or hangs. An accepted command emits JobStarted
 * at once and JobFinished when the script ends (plus the task result to the wrapper); a command
 * for a job run it already accepted is ignored, like the real agents do.
 */
export class ScriptedAgentFleet implements AgentFleet {
  readonly executions = new Map<string, AgentExecution>();
  /** Every send, including ignored repeats. */
  readonly sends: Array<{ instanceId: string; command: JobCommand; accepted: boolean; at: number }> = [];
  private readonly rules: Array<{ match: AgentMatch; outcome: AgentOutcome }> = [];
  private online = true;

  constructor(
    private readonly sim: Simulation,
    private readonly instances: string[],
    private readonly fallback: ((cmd: JobCommand) => AgentOutcome | undefined) | undefined,
    private readonly defaultDurationSeconds: number,
  ) {}

  /** Scripts the attempts that `match` selects. Rules are checked in the order added; the first match wins. */
  when(match: AgentMatch, outcome: AgentOutcome): this {
    this.rules.push({ match, outcome });
    return this;
  }

  /** Takes every agent off line (pick throws NoAgentAvailableError) or brings them back. */
  setOnline(online: boolean): void {
    this.online = online;
  }

  async pick(jobRunName: string): Promise<AgentRef> {
    if (!this.online || this.instances.length === 0) throw new NoAgentAvailableError('no agent is online');
    let h = 0;
    for (const ch of jobRunName) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
    return { instanceId: this.instances[h % this.instances.length] as string };
  }

  async send(agent: AgentRef, command: JobCommand): Promise<{ commandId: string | null }> {
    const now = this.sim.clock.millis;
    const existing = this.executions.get(command.job_run_name);
    this.sends.push({ instanceId: agent.instanceId, command: clone(command), accepted: !existing, at: now });
    if (existing) return { commandId: existing.commandId };
    const exec: AgentExecution = {
      name: command.job_run_name,
      command: clone(command),
      instanceId: agent.instanceId,
      commandId: `cmd-${command.job_run_name}`,
      logLocation: `/ops/rsql-logs/${command.workflow_execution_id}/${command.job_key}.a${command.attempt}`,
      outcome: this.outcomeFor(command),
      startedAt: now,
      endedAt: null,
      status: null,
    };
    this.executions.set(command.job_run_name, exec);
    this.sim.recordTimeline('start', exec);
    const startedAt = new Date(now).toISOString();
    this.sim.publish([
      {
        detailType: 'JobStarted',
        detail: {
          ...jobEventBase(
            command,
            eventIds.jobStarted(command.workflow_execution_id, command.job_key, command.attempt),
            new Date(now),
          ),
          started_at: startedAt,
          instance_id: exec.instanceId,
          ssm_command_id: exec.commandId,
          log_location: exec.logLocation,
        },
      },
    ]);
    const o = exec.outcome;
    if (o.outcome === 'complete' || o.outcome === 'fail') {
      const secs = o.durationSeconds ?? this.defaultDurationSeconds;
      this.sim.schedule({ kind: 'agent-finish', name: exec.name }, now + secs * 1000);
    }
    return { commandId: exec.commandId };
  }

  /** The execution of a job run, if an agent accepted it. */
  execution(name: string): AgentExecution | undefined {
    return this.executions.get(name);
  }

  /** Whether an attempt is scripted to run into its timeout (then the timeout drives the clock). */
  expectsTimeout(name: string): boolean {
    const e = this.executions.get(name);
    return e !== undefined && e.endedAt === null && e.outcome.outcome === 'timeout';
  }

  /** The script ends by itself: report JobFinished and the task result. */
  finish(
    name: string,
    result: { ok: true } | { ok: false; exitCode: number; message: string | null },
  ): boolean {
    const e = this.executions.get(name);
    if (!e || e.endedAt !== null) return false;
    const now = this.sim.clock.now();
    e.endedAt = now.getTime();
    e.status = result.ok ? 'Completed' : 'Failed';
    this.sim.recordTimeline('finish', e);
    // Like the real agent: the report goes out only if the wrapper still waits for it.
    if (!this.sim.wrapper.taskResult(name, result.ok)) return true;
    const cmd = e.command;
    this.sim.publish([
      {
        detailType: 'JobFinished',
        detail: {
          ...jobEventBase(
            cmd,
            eventIds.jobFinished(cmd.workflow_execution_id, cmd.job_key, cmd.attempt),
            now,
          ),
          status: result.ok ? 'Completed' : 'Failed',
          exit_code: result.ok ? 0 : result.exitCode,
          error_message: result.ok ? null : (result.message ?? `exited with code ${result.exitCode}`),
          started_at: new Date(e.startedAt).toISOString(),
          finished_at: now.toISOString(),
          duration_ms: now.getTime() - e.startedAt,
          instance_id: e.instanceId,
          ssm_command_id: e.commandId,
          log_location: e.logLocation,
          reported_by: 'agent',
        },
      },
    ]);
    return true;
  }

  /** The process is killed (timeout or cancel); the wrapper or the engine reports it. */
  kill(name: string, status: 'TimedOut' | 'Cancelled'): void {
    const e = this.executions.get(name);
    if (!e || e.endedAt !== null) return;
    e.endedAt = this.sim.clock.millis;
    e.status = status;
    this.sim.recordTimeline('finish', e);
  }

  private outcomeFor(cmd: JobCommand): AgentOutcome {
    for (const r of this.rules) {
      const m = r.match;
      if (m.job !== cmd.job_name && m.job !== cmd.job_key) continue;
      if (m.attempt !== undefined && m.attempt !== cmd.attempt) continue;
      if (m.workflowExecutionId !== undefined && m.workflowExecutionId !== cmd.workflow_execution_id)
        continue;
      return r.outcome;
    }
    return this.fallback?.(cmd) ?? { outcome: 'complete' };
  }
}

function jobEventBase(
  j: Pick<
    JobRunInput,
    'workflow_id' | 'workflow_execution_id' | 'job_key' | 'job_name' | 'stage' | 'attempt'
  >,
  id: string,
  at: Date,
) {
  return {
    version: EVENT_VERSION,
    event_id: id,
    occurred_at: at.toISOString(),
    workflow_id: j.workflow_id,
    workflow_execution_id: j.workflow_execution_id,
    job_key: j.job_key,
    job_name: j.job_name,
    stage: j.stage,
    attempt: j.attempt,
  };
}

/** The five services as the simulation wired them. */
export interface SimulationServices {
  starter: StarterService;
  planner: PlannerService;
  dispatcher: DispatcherService;
  recorder: RecorderService;
  aggregator: AggregatorService;
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
    const common = { runs, jobs, clock: this.clock, log: this.log };
    this.services = {
      starter: createStarterService({
        ...common,
        definitions: this.store.definitions(),
        events,
        orchestrator: this.wrapper,
      }),
      planner: createPlannerService(common),
      dispatcher: createDispatcherService({ ...common, orchestrator: this.wrapper, agents: this.agent }),
      recorder: createRecorderService({ jobs, log: this.log }),
      aggregator: createAggregatorService({ ...common, events }),
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
    this.schedule(
      s.item,
      this.clock.millis + Math.min(30_000, 100 * 2 ** s.attempts),
      s.copy,
      s.attempts + 1,
    );
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

// ---- comparing runs ----------------------------------------------------------------------------

const TIMESTAMP_KEYS = new Set([
  'execution_start_ts',
  'execution_end_ts',
  'started_at',
  'finished_at',
  'not_before',
  'occurred_at',
]);

function stripTimestamps(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripTimestamps);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (!TIMESTAMP_KEYS.has(k)) out[k] = stripTimestamps(x);
    return out;
  }
  return v;
}

/**
 * A run's final audit records without timestamps, with the run's `failed_jobs` in job order (two
 * jobs failing at the same instant may be counted in either order): what must be identical
 * whether deliveries were clean or duplicated and shuffled.
 */
export function auditSnapshot(sim: Simulation, exec: string): { run: unknown; jobs: unknown } {
  const run = sim.run(exec);
  if (run) run.failed_jobs.sort((a, b) => a.job_key.localeCompare(b.job_key, 'en', { numeric: true }));
  return { run: stripTimestamps(run), jobs: stripTimestamps(sim.jobs(exec)) };
}

/** A test scenario: drives a simulation (requests, scripts, runUntilIdle…) to its end. */
export type Scenario = (sim: Simulation) => Promise<void>;

/** Builds a simulation with `opts`, plays `scenario` on it and returns it. */
export async function runScenario(opts: SimulationOptions, scenario: Scenario): Promise<Simulation> {
  const sim = createSimulation(opts);
  await scenario(sim);
  return sim;
}

/** Where two JSON-like values differ, as `path: a ≠ b` lines (at most `limit`). */
export function diffValues(a: unknown, b: unknown, path = '', limit = 10): string[] {
  const out: string[] = [];
  const walk = (x: unknown, y: unknown, p: string): void => {
    if (out.length >= limit) return;
    if (x === y) return;
    if (Array.isArray(x) && Array.isArray(y)) {
      if (x.length !== y.length) out.push(`${p || '(root)'}: length ${x.length} ≠ ${y.length}`);
      for (let i = 0; i < Math.min(x.length, y.length); i++) walk(x[i], y[i], `${p}[${i}]`);
      return;
    }
    if (x && y && typeof x === 'object' && typeof y === 'object' && !Array.isArray(x) && !Array.isArray(y)) {
      const keys = new Set([...Object.keys(x), ...Object.keys(y)]);
      for (const k of [...keys].sort()) {
        walk((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k], p ? `${p}.${k}` : k);
      }
      return;
    }
    out.push(`${p || '(root)'}: ${JSON.stringify(x)} ≠ ${JSON.stringify(y)}`);
  };
  walk(a, b, path);
  return out;
}

/**
 * Plays `scenario` once with clean deliveries and once per seed with every delivery duplicated and
 * shuffled, and reports what differs: problems (violations, dead letters) of any run, and the final
 * audit records of `executions` (timestamps ignored) against the clean run. Empty means at-least-once
 * delivery and reordering changed nothing. Returns the clean simulation too, for further checks.
 */
export async function compareUnderChaos(
  opts: SimulationOptions,
  scenario: Scenario,
  executions: string[],
  seeds: readonly number[] = [1, 2, 3, 4, 5, 6],
): Promise<{ clean: Simulation; differences: string[] }> {
  const clean = await runScenario(opts, scenario);
  const differences = clean.problems().map((p) => `clean run: ${p}`);
  for (const seed of seeds) {
    const chaotic = await runScenario(
      { ...opts, chaos: { duplicate: true, shuffle: true, ...opts.chaos, seed } },
      scenario,
    );
    differences.push(...chaotic.problems().map((p) => `seed ${seed}: ${p}`));
    for (const exec of executions) {
      for (const d of diffValues(auditSnapshot(chaotic, exec), auditSnapshot(clean, exec))) {
        differences.push(`seed ${seed}, ${exec}: ${d} (chaos ≠ clean)`);
      }
    }
  }
  return { clean, differences };
}
