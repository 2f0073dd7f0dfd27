/**
 * The embedded engine's state store: the repositories the services use (definitions, runs, jobs)
 * and the local wrapper's job runs, over the delivery tables and the unit of work they build on
 * (delivery-tables.ts, unit-of-work.ts). Everything about the state file is importable from here,
 * as it was when this was one file.
 */
import type Database from 'better-sqlite3';
import {
  countField,
  type JobAuditRecord,
  parseJobKey,
  type WorkflowAuditRecord,
  type WorkflowRunState,
  withRsqlJobs,
} from '../../contracts/audit.js';
import { isAggregatorChange } from '../../services/aggregator/service.js';
import type {
  CreateRunResult,
  DefinitionRepository,
  Effects,
  JobClaim,
  JobRepository,
  JobTransition,
  OperatorRepository,
  PoolRepository,
  RunRepository,
  StageCompletion,
  TriggerRepository,
  TriggerState,
} from '../../services/ports.js';
import { applyStageCompletion, canLaunch, totalCounts } from '../../services/shared/progress.js';
import { DeliveryTables } from './delivery-tables.js';
import { localOperator, localPools, type StoreAccess, workflowHold } from './operator-store.js';
import { knownRuns } from './state-file.js';
import type { StoreOptions } from './unit-of-work.js';

export type { FreshRow, OutboxRow, QueueRow } from './delivery-tables.js';
export { SCHEMA_VERSION } from './schema.js';
export { LostStateError, runFolders } from './state-file.js';
export { StoreError, StoreVersionError, storeFailure } from './store-errors.js';
export { type StoreOptions, type StoreWaiter, UnitSpannedTurnError } from './unit-of-work.js';

/** Wrapper execution states (what Step Functions would say about one job run). */
export type JobRunStatus = 'Running' | 'Succeeded' | 'Failed' | 'TimedOut' | 'Aborted';

/** One row of `job_runs`: one execution of the local wrapper (a job attempt's Step Functions run). */
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

function prepareRepositories(d: Database.Database) {
  return {
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
    insertJobRun: d.prepare(
      "INSERT OR IGNORE INTO job_runs (name, exec, job_key, attempt, status, input) VALUES (?, ?, ?, ?, 'Running', ?)",
    ),
    getJobRun: d.prepare('SELECT * FROM job_runs WHERE name = ?'),
    activeJobRuns: d.prepare("SELECT * FROM job_runs WHERE status = 'Running' ORDER BY rowid"),
    activeJobRunsOf: d.prepare("SELECT COUNT(*) AS n FROM job_runs WHERE status = 'Running' AND exec = ?"),
  };
}

/**
 * The embedded engine's state in one SQLite file (WAL). Every state change and the events, queue
 * messages and change-feed records it causes are written in one transaction (the outbox), and
 * delivered afterwards at least once. Implements the services' repository ports.
 */
export class LocalStore extends DeliveryTables {
  private readonly rst: ReturnType<typeof prepareRepositories>;
  /**
   * Rows read or written in the current transaction, by key (null: known absent). Nothing else
   * writes while a transaction is open, so within one the parsed row is the row; dropped at its
   * end. Rows are treated as immutable by everyone (they are replaced, never changed in place).
   */
  private readonly runCache = this.txScoped<WorkflowRunState | null>();
  private readonly jobCache = this.txScoped<JobAuditRecord | null>();

  /**
   * Opens (or creates) the state file. `busyTimeoutMs` (default 250) is how long one attempt waits
   * for another process's write lock: top-level transactions then try again (and say so through
   * `waiter`) until they get it; units of work give up with a StoreError for the engine to retry.
   */
  constructor(file: string, opts: StoreOptions = {}) {
    super(file, opts);
    this.rst = this.prepared(prepareRepositories);
  }

  /**
   * Which of `ids` the state file at `file` has a record of, read without writing anything (a
   * read-only connection): what the engine checks before it opens a state that may have lost runs.
   */
  static knownRuns(file: string, ids: readonly string[]): Set<string> {
    return knownRuns(file, ids);
  }

  // ---- job runs (the local single-job wrapper's executions) ---------------------------------

  insertJobRun(name: string, exec: string, jobKey: string, attempt: number, input: unknown): boolean {
    return this.run(this.rst.insertJobRun, name, exec, jobKey, attempt, JSON.stringify(input)).changes > 0;
  }

  getJobRun(name: string): JobRunRow | undefined {
    return this.rst.getJobRun.get(name) as JobRunRow | undefined;
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
    return this.rst.activeJobRuns.all() as JobRunRow[];
  }

  activeJobRunCount(exec: string): number {
    return (this.rst.activeJobRunsOf.get(exec) as { n: number }).n;
  }

  // ---- definitions -------------------------------------------------------------------------

  /**
   * Stores a definition and, in the same transaction, its rows of the trigger index (one per
   * workflow its `trigger.after` names), so "who waits for wf_a" is an index read.
   */
  putDefinition(workflowId: string, body: unknown, scriptRoot: string): void {
    this.tx(() => {
      this.run(
        this.rst.putDef,
        workflowId,
        JSON.stringify(body),
        scriptRoot,
        new Date(this.now()).toISOString(),
      );
      this.run(this.stmt('DELETE FROM trigger_after WHERE downstream = ?'), workflowId);
      const after = (body as { trigger?: { after?: unknown } } | null)?.trigger?.after;
      if (Array.isArray(after))
        for (const up of after)
          if (typeof up === 'string')
            this.run(
              this.stmt('INSERT OR IGNORE INTO trigger_after (upstream, downstream) VALUES (?, ?)'),
              up,
              workflowId,
            );
    });
  }

  /** Resource pools across every workflow of the home (issue 14; runtime/local/operator-store.ts). */
  pools(): PoolRepository {
    return localPools(this.access());
  }

  /** Operator actions: set-ok, rerun, bypass, holds (issue 14; runtime/local/operator-store.ts). */
  operator(): OperatorRepository {
    return localOperator(this.access());
  }

  /** The row operations operator-store.ts builds on, bound to this store. */
  private access(): StoreAccess {
    this.accessor ??= {
      tx: (fn) => this.tx(fn),
      read: (fn) => (this.inTransaction ? fn() : this.db.transaction(fn).deferred()),
      write: (sql, ...args) => this.run(this.stmt(sql), ...args).changes,
      get: (sql, ...args) => this.stmt(sql).get(...args) as never,
      all: (sql, ...args) => this.stmt(sql).all(...args) as never,
      getRun: (exec) => this.getRunSync(exec),
      writeRun: (run) => this.writeRun(run),
      getJob: (exec, key) => this.getJobSync(exec, key),
      writeJob: (job) => this.writeJob(job),
      applyEffects: (effects) => this.applyEffects(effects),
      definition: (wf) => this.getDefinition(wf)?.body,
      now: () => this.now(),
    };
    return this.accessor;
  }

  private accessor: StoreAccess | undefined;

  /** The trigger service's port: the index above and one versioned state row per downstream. */
  triggers(): TriggerRepository {
    return {
      dependents: async (upstream) =>
        (
          this.stmt('SELECT downstream FROM trigger_after WHERE upstream = ? ORDER BY downstream').all(
            upstream,
          ) as Array<{ downstream: string }>
        ).map((r) => r.downstream),
      get: async (downstream) => {
        const r = this.stmt('SELECT body FROM trigger_state WHERE downstream = ?').get(downstream) as
          | { body: string }
          | undefined;
        return r ? (JSON.parse(r.body) as TriggerState) : undefined;
      },
      lastRunStart: async (downstream) =>
        (
          this.stmt('SELECT MAX(start_ts) AS t FROM runs WHERE workflow_id = ?').get(downstream) as {
            t: string | null;
          }
        ).t ?? undefined,
      save: async (downstream, expected, next, effects) =>
        this.tx(() => {
          const body = JSON.stringify(next);
          const r =
            expected === 0
              ? this.run(
                  this.stmt(
                    'INSERT INTO trigger_state (downstream, version, body) VALUES (?, ?, ?) ON CONFLICT (downstream) DO NOTHING',
                  ),
                  downstream,
                  next.version,
                  body,
                )
              : this.run(
                  this.stmt(
                    'UPDATE trigger_state SET version = ?, body = ? WHERE downstream = ? AND version = ?',
                  ),
                  next.version,
                  body,
                  downstream,
                  expected,
                );
          if (r.changes === 0) return false;
          this.applyEffects(effects);
          return true;
        }),
    };
  }

  getDefinition(workflowId: string): { body: unknown; scriptRoot: string } | undefined {
    const r = this.rst.getDef.get(workflowId) as { body: string; script_root: string } | undefined;
    return r ? { body: JSON.parse(r.body), scriptRoot: r.script_root } : undefined;
  }

  /**
   * Keeps the definition a run is requested with (and the file it came from), so a restart can say
   * what changed since, or run it again as it was (`rsqlo restart --same-definition`).
   */
  putRunDefinition(exec: string, body: unknown, scriptRoot: string, file: string | null): void {
    this.tx(() => this.run(this.rst.putRunDef, exec, file, scriptRoot, JSON.stringify(body)));
  }

  /** The definition a run was requested with, when the engine kept it (runs since issue 12). */
  getRunDefinition(exec: string): { body: unknown; scriptRoot: string; file: string | null } | undefined {
    const r = this.rst.getRunDef.get(exec) as
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
    if (this.inTransaction) {
      const cached = this.runCache.get(exec);
      if (cached !== undefined) return cached ?? undefined;
    }
    const r = this.rst.getRun.get(exec) as { body: string } | undefined;
    const run = r ? (JSON.parse(r.body) as WorkflowRunState) : undefined;
    if (this.inTransaction) this.runCache.set(exec, run ?? null);
    return run;
  }

  /** The full workflow audit record, as people read it. */
  getRunRecord(exec: string): WorkflowAuditRecord | undefined {
    const run = this.getRunSync(exec);
    if (!run) return undefined;
    const r = this.rst.getRunJobs.get(exec) as { rsql_jobs: string };
    return withJobs(run, r.rsql_jobs);
  }

  private writeRun(run: WorkflowRunState): void {
    this.run(this.rst.updateRun, run.execution_status, JSON.stringify(run), run.workflow_execution_id);
    this.runCache.set(run.workflow_execution_id, run);
  }

  activeRuns(): WorkflowRunState[] {
    return (this.rst.allActiveRuns.all() as Array<{ body: string }>).map(
      (r) => JSON.parse(r.body) as WorkflowRunState,
    );
  }

  listRunsSync(workflowId: string, limit: number): WorkflowAuditRecord[] {
    return (this.rst.listRuns.all(workflowId, limit) as Array<{ body: string; rsql_jobs: string }>).map((r) =>
      withJobs(JSON.parse(r.body) as WorkflowRunState, r.rsql_jobs),
    );
  }

  runs(): RunRepository {
    return {
      getRun: async (exec) => this.getRunSync(exec),
      createRun: async (run, jobs, opts, effects) => this.createRun(run, jobs, opts, effects),
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
    opts: Parameters<RunRepository['createRun']>[2],
    effects: Effects,
  ): CreateRunResult {
    const { maxActiveRuns: maxActive, restartOf } = opts;
    return this.tx(() => {
      const existing = this.getRunSync(run.workflow_execution_id);
      if (existing) return { outcome: 'exists', run: existing };
      // The workflow hold the starter read must still stand (a hold or free may have landed since).
      if (
        opts.workflowHeld !== undefined &&
        (workflowHold(this.access(), run.workflow_id)?.held ?? false) !== opts.workflowHeld
      )
        return { outcome: 'hold-changed' };
      const prev = restartOf !== undefined ? this.getRunSync(restartOf) : undefined;
      if (prev?.restarted_as) return { outcome: 'restarted', by: prev.restarted_as };
      if (run.execution_status === 'Running') {
        const active = (this.rst.activeRuns.all(run.workflow_id) as Array<{ id: string }>).map((r) => r.id);
        if (active.length >= maxActive) return { outcome: 'limit', active };
      }
      if (prev) this.writeRun({ ...prev, restarted_as: run.workflow_execution_id });
      const { rsql_jobs, ...state } = run;
      this.run(
        this.rst.insertRun,
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
          this.rst.insertJob,
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
        // Nor a hold: a held run starts no new job (issue 14).
        if (run.hold_state?.held) return 'conflict';
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
    if (this.inTransaction) {
      const cached = this.jobCache.get(ck);
      if (cached !== undefined) return cached ?? undefined;
    }
    const { stage, jobNo } = parseJobKey(key);
    const r = this.rst.getJob.get(exec, stage, jobNo) as { body: string } | undefined;
    const job = r ? (JSON.parse(r.body) as JobAuditRecord) : undefined;
    if (this.inTransaction) this.jobCache.set(ck, job ?? null);
    return job;
  }

  listJobsSync(exec: string): JobAuditRecord[] {
    return (this.rst.allJobs.all(exec) as Array<{ body: string }>).map(
      (r) => JSON.parse(r.body) as JobAuditRecord,
    );
  }

  private writeJob(job: JobAuditRecord): void {
    this.jobCache.set(`${job.workflow_execution_id}\u0000${job.job_key}`, job);
    this.run(
      this.rst.updateJob,
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
        (this.rst.stageJobs.all(exec, stage, after, limit) as Array<{ body: string }>).map(
          (r) => JSON.parse(r.body) as JobAuditRecord,
        ),
      listJobs: async (exec) => this.listJobsSync(exec),
      transition: async (t, effects) => this.transitionSync(t, effects),
      skipPending: async (exec, stage, after, reason) =>
        this.tx(() => {
          const rows = (this.rst.pendingFrom.all(exec, stage, after, stage) as Array<{ body: string }>).map(
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

class ClaimConflict extends Error {
  override name = 'ClaimConflict';
}
