/**
 * The in-memory store: the run and job tables, the outbox and the change feed, with the SQLite
 * store's semantics (runtime/local/store.ts), so services can be tested without SQLite. Faults can
 * be injected before or after a commit.
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
import type { RsqloEvent } from '../../contracts/events.js';
import type { HoldState } from '../../contracts/operator.js';
import { isAggregatorChange } from '../aggregator/service.js';
import type {
  Clock,
  CreateRunResult,
  DefinitionRepository,
  Effects,
  JobClaim,
  JobRepository,
  JobTransition,
  OperatorRepository,
  OutgoingMessage,
  PoolRepository,
  PoolState,
  RunRepository,
  StageCompletion,
  TriggerRepository,
  TriggerState,
} from '../ports.js';
import { applyStageCompletion, canLaunch, totalCounts } from '../shared/progress.js';
import { inMemoryOperator, type OperatorStoreMethod } from './in-memory-operator.js';
import { inMemoryPools, type PoolStoreMethod } from './in-memory-pools.js';

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
  | 'skipPending'
  | 'saveTrigger'
  | OperatorStoreMethod
  | PoolStoreMethod;

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
  /** Trigger state per downstream workflow (services/trigger/). */
  private readonly triggerRows = new Map<string, TriggerState>();
  /** Workflow-scope holds (OperatorRepository.setWorkflowHold), read by createRun. */
  private readonly workflowHolds = new Map<string, HoldState>();
  /** Resource pools by name (PoolRepository, services/testing/in-memory-pools.ts). */
  private readonly poolRows = new Map<string, PoolState>();
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

  /**
   * The trigger port: who waits for whom is read from the stored definitions' `trigger.after`
   * (an in-memory index; the runtimes keep theirs as rows), the state one conditional row each.
   */
  triggers(): TriggerRepository {
    return {
      dependents: async (upstream) => {
        this.count('triggers.dependents');
        const out: string[] = [];
        for (const [id, body] of this.definitionRows) {
          const after = (body as { trigger?: { after?: unknown } }).trigger?.after;
          if (Array.isArray(after) && after.includes(upstream)) out.push(id);
        }
        return out.sort();
      },
      get: async (downstream) => {
        this.count('triggers.get');
        const t = this.triggerRows.get(downstream);
        return t ? clone(t) : undefined;
      },
      lastRunStart: async (downstream) => {
        this.count('triggers.lastRunStart');
        let last: string | undefined;
        for (const r of this.runRows.values())
          if (r.workflow_id === downstream && (last === undefined || r.execution_start_ts > last))
            last = r.execution_start_ts;
        return last;
      },
      save: async (downstream, expected, next, effects) =>
        this.mutate('saveTrigger', () => {
          if ((this.triggerRows.get(downstream)?.version ?? 0) !== expected) return false;
          this.triggerRows.set(downstream, clone(next));
          this.applyEffects(effects);
          return true;
        }),
    };
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
        this.createRun(run, jobs, opts.maxActiveRuns, effects, opts.restartOf, opts.workflowHeld),
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

  /** Resource pools across every workflow (issue 14). */
  pools(): PoolRepository {
    return inMemoryPools({
      mutate: (method, fn) => this.mutate(method, fn),
      count: (method) => this.count(method),
      job: (exec, key) => this.jobRows.get(rowKey(exec, key)),
      writeJob: (job) => this.writeJob(job),
      applyEffects: (effects) => this.applyEffects(effects),
      pools: this.poolRows,
    });
  }

  /** Operator actions: set-ok, rerun, bypass, holds (issue 14). */
  operator(): OperatorRepository {
    return inMemoryOperator({
      mutate: (method, fn) => this.mutate(method, fn),
      count: (method) => this.count(method),
      run: (exec) => this.runRows.get(exec),
      allRuns: () => this.runRows.values(),
      job: (exec, key) => this.jobRows.get(rowKey(exec, key)),
      jobKeys: (exec) => this.jobOrder.get(exec) ?? [],
      definition: (id) => this.definitionRows.get(id),
      writeRun: (run) => this.writeRun(run),
      writeJob: (job, operatorMove) => this.writeJob(job, operatorMove),
      applyEffects: (effects) => this.applyEffects(effects),
      workflowHolds: this.workflowHolds,
    });
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
    workflowHeld?: boolean,
  ): Promise<CreateRunResult> {
    return this.mutate('createRun', (): CreateRunResult => {
      const existing = this.runRows.get(run.workflow_execution_id);
      if (existing) return { outcome: 'exists', run: clone(existing) };
      const prev = restartOf !== undefined ? this.runRows.get(restartOf) : undefined;
      if (prev?.restarted_as) return { outcome: 'restarted', by: prev.restarted_as };
      // The workflow hold the starter read must still stand (a hold or free may have landed since).
      if (
        workflowHeld !== undefined &&
        (this.workflowHolds.get(run.workflow_id)?.held ?? false) !== workflowHeld
      )
        return { outcome: 'hold-changed' };
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
      // A held run starts nothing until freed (issue 14): refused here, atomically with the claim.
      if (run.hold_state?.held) return 'conflict';
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

  /** `operatorMove`: an operator action moves the row out of a final status on purpose (set-ok, rerun). */
  private writeJob(job: JobAuditRecord, operatorMove = false): void {
    const key = rowKey(job.workflow_execution_id, job.job_key);
    const prev = this.jobRows.get(key);
    if (
      prev &&
      !operatorMove &&
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
    if (prev?.counted && !job.counted && !operatorMove) {
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
