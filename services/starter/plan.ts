import {
  emptyCounts,
  type JobAuditRecord,
  jobKey,
  type StageProgress,
  type WorkflowAuditRecord,
  type WorkflowRunState,
} from '../../contracts/audit.js';
import type { Parameters } from '../../contracts/common.js';
import { effectiveHeartbeatSeconds } from '../../contracts/limits.js';
import {
  DEFAULT_HEARTBEAT_SECONDS,
  DEFAULT_RETRIES,
  DEFAULT_RETRY_BACKOFF_RATE,
  DEFAULT_RETRY_BACKOFF_SECONDS,
  DEFAULT_TIMEOUT_SECONDS,
  scriptName,
  type WorkflowDefinition,
} from '../../contracts/workflow.js';

/** A job's effective policy: its own settings over the workflow defaults over rsqlo's defaults. */
export interface JobPolicy {
  args: string[];
  timeout_seconds: number;
  heartbeat_seconds: number;
  max_attempts: number;
  retry_backoff_seconds: number;
  retry_backoff_rate: number;
  /** The pool the job takes a slot of while it runs: the script's own, else its stage's; null: none. */
  pool: string | null;
  /**
   * The size the pool is created with if it does not exist when the job needs it: the workflow's
   * `pools[NAME]`, else 1; null when the job has no pool.
   */
  pool_slots_default: number | null;
}

/** Slots of a pool the definition does not size (issue 14: "else 1 slot"). */
export const DEFAULT_POOL_SLOTS = 1;

export function jobPolicy(def: WorkflowDefinition, stageIndex: number, jobIndex: number): JobPolicy {
  const ref = def.workflow_stages[stageIndex]?.scripts[jobIndex];
  const own = typeof ref === 'object' ? ref : undefined;
  const d = def.defaults ?? {};
  const timeout = own?.timeout_seconds ?? d.timeout_seconds ?? DEFAULT_TIMEOUT_SECONDS;
  const pool = own?.pool ?? def.workflow_stages[stageIndex]?.pool ?? null;
  return {
    args: own?.args ?? [],
    timeout_seconds: timeout,
    // Strictly below the timeout, as Step Functions requires (contracts/limits.ts says why clamped).
    heartbeat_seconds: effectiveHeartbeatSeconds(
      timeout,
      own?.heartbeat_seconds ?? d.heartbeat_seconds,
      DEFAULT_HEARTBEAT_SECONDS,
    ),
    max_attempts: (own?.retries ?? d.retries ?? DEFAULT_RETRIES) + 1,
    retry_backoff_seconds: d.retry_backoff_seconds ?? DEFAULT_RETRY_BACKOFF_SECONDS,
    retry_backoff_rate: d.retry_backoff_rate ?? DEFAULT_RETRY_BACKOFF_RATE,
    pool,
    pool_slots_default: pool === null ? null : poolSlotsDefault(def, pool),
  };
}

/** The definition's size for `pool`, else 1; own keys only (a pool may be named "constructor"). */
function poolSlotsDefault(def: WorkflowDefinition, pool: string): number {
  const pools = def.pools;
  return pools && Object.hasOwn(pools, pool) ? (pools[pool] ?? DEFAULT_POOL_SLOTS) : DEFAULT_POOL_SLOTS;
}

export interface PlanInput {
  definition: WorkflowDefinition;
  workflowExecutionId: string;
  now: Date;
  parameters: Parameters;
  /** The run being restarted and its jobs: jobs that completed there are Skipped here. */
  restart?: { run: WorkflowRunState; jobs: JobAuditRecord[] };
}

export interface Plan {
  run: WorkflowAuditRecord;
  jobs: JobAuditRecord[];
  /** First stage with a job to run, or null when nothing needs to run. */
  firstStage: number | null;
}

/** Where a job completed: the run that ran it (following chains of restarts). */
function completedIn(job: JobAuditRecord | undefined, runId: string): string | undefined {
  if (!job) return undefined;
  if (job.execution_status === 'Completed') return runId;
  if (job.execution_status === 'Skipped' && job.skip_reason) {
    const m = /^completed in run (\S+)/.exec(job.skip_reason);
    if (m) return m[1];
  }
  return undefined;
}

/**
 * Expands a definition into the run's audit record and one Pending job row per script; disabled
 * stages' jobs and (on restart) jobs completed before are Skipped from the start and counted.
 */
export function planRun(input: PlanInput): Plan {
  const { definition: def, workflowExecutionId: exec, now } = input;
  const ts = now.toISOString();
  const prevJobs = new Map<string, JobAuditRecord>();
  for (const j of input.restart?.jobs ?? []) prevJobs.set(j.job_key, j);
  const prevRunId = input.restart?.run.workflow_execution_id;

  const jobs: JobAuditRecord[] = [];
  const stages: StageProgress[] = [];
  let firstStage: number | null = null;

  def.workflow_stages.forEach((stageDef, si) => {
    const stage = si + 1;
    const enabled = stageDef.execution_flag === 'y';
    let preSkipped = 0;
    stageDef.scripts.forEach((ref, ji) => {
      const jobNo = ji + 1;
      const key = jobKey(stage, jobNo);
      const name = scriptName(ref);
      const policy = jobPolicy(def, si, ji);
      let skipReason: string | null = null;
      if (!enabled) {
        skipReason = `stage ${stage} is disabled (execution_flag "n")`;
      } else if (prevRunId) {
        const prev = prevJobs.get(key);
        const where = prev && prev.job_name === name ? completedIn(prev, prevRunId) : undefined;
        if (where) skipReason = `completed in run ${where}`;
      }
      if (skipReason) preSkipped++;
      jobs.push({
        job_name: name,
        workflow_execution_id: exec,
        workflow_id: def.workflow_id,
        execution_start_ts: null,
        execution_end_ts: skipReason ? ts : null,
        execution_status: skipReason ? 'Skipped' : 'Pending',
        instance_id: null,
        ssm_command_id: null,
        job_key: key,
        stage,
        job_no: jobNo,
        attempt: 1,
        max_attempts: policy.max_attempts,
        exit_code: null,
        error_message: null,
        log_location: null,
        skip_reason: skipReason,
        args: policy.args,
        timeout_seconds: policy.timeout_seconds,
        heartbeat_seconds: policy.heartbeat_seconds,
        retry_backoff_seconds: policy.retry_backoff_seconds,
        retry_backoff_rate: policy.retry_backoff_rate,
        not_before: null,
        counted: skipReason !== null,
        previous_attempts: [],
        // Only jobs with a pool carry the fields, so rows of pool-less workflows stay as they were.
        ...(policy.pool === null ? {} : { pool: policy.pool, pool_slots_default: policy.pool_slots_default }),
      });
    });
    const total = stageDef.scripts.length;
    const hasWork = preSkipped < total;
    if (hasWork && firstStage === null) firstStage = stage;
    stages.push({
      stage,
      stage_description: stageDef.stage_description ?? null,
      execution_type: stageDef.execution_type,
      enabled,
      max_concurrency: stageDef.max_concurrency ?? null,
      status: hasWork ? (firstStage === stage ? 'Running' : 'Pending') : 'Skipped',
      started_at: hasWork && firstStage === stage ? ts : null,
      finished_at: hasWork ? null : ts,
      cursor: 0,
      launched: 0,
      finished: 0,
      pre_skipped: preSkipped,
      ...emptyCounts(total),
      skipped: preSkipped,
    });
  });

  const counts = emptyCounts(jobs.length);
  counts.skipped = jobs.filter((j) => j.execution_status === 'Skipped').length;
  const run: WorkflowAuditRecord = {
    workflow_execution_id: exec,
    workflow_id: def.workflow_id,
    execution_start_ts: ts,
    execution_end_ts: firstStage === null ? ts : null,
    execution_status: firstStage === null ? 'Completed' : 'Running',
    rsql_jobs: jobs.map((j) => j.job_name),
    workflow_description: def.workflow_description ?? null,
    restart_of: prevRunId ?? null,
    current_stage: firstStage,
    cancel_requested: false,
    parameters: input.parameters,
    stages,
    counts,
    failed_jobs: [],
  };
  return { run, jobs, firstStage };
}
