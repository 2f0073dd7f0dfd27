import { z } from 'zod';
import {
  ExecutionId,
  JobKey,
  NonNegativeInt,
  Parameters,
  PositiveInt,
  Timestamp,
  WorkflowId,
} from './common.js';
import {
  HoldState,
  MAX_JOB_OPERATOR_ACTIONS,
  MAX_RUN_OPERATOR_ACTIONS,
  OperatorActionRecord,
  PoolCreatedRecord,
  PoolName,
  PoolSlots,
} from './operator.js';

/** Job lifecycle words (ARCHITECTURE.md §1). Order matters: it is the forward order of a single attempt. */
export const JOB_STATUSES = [
  'Pending',
  'Queued',
  'Dispatched',
  'Running',
  'Completed',
  'Failed',
  'TimedOut',
  'Cancelled',
  'Skipped',
] as const;
export const JobStatus = z.enum(JOB_STATUSES);
export type JobStatus = z.infer<typeof JobStatus>;

/** Statuses that end an attempt. */
export const TERMINAL_JOB_STATUSES = ['Completed', 'Failed', 'TimedOut', 'Cancelled', 'Skipped'] as const;
export type TerminalJobStatus = (typeof TERMINAL_JOB_STATUSES)[number];
/** Statuses a job is in while it occupies a concurrency slot. */
export const IN_FLIGHT_JOB_STATUSES = ['Queued', 'Dispatched', 'Running'] as const;

export function isTerminalJobStatus(s: JobStatus): s is TerminalJobStatus {
  return (TERMINAL_JOB_STATUSES as readonly string[]).includes(s);
}

const RANK: Record<JobStatus, number> = {
  Pending: 0,
  Queued: 1,
  Dispatched: 2,
  Running: 3,
  Completed: 4,
  Failed: 4,
  TimedOut: 4,
  Cancelled: 4,
  Skipped: 4,
};

/** Final statuses a retry may leave (ARCHITECTURE.md §1): Completed, Cancelled and Skipped are for good. */
export const RETRYABLE_JOB_STATUSES = ['Failed', 'TimedOut'] as const;

/**
 * Whether moving a job from (attempt, status) to (attempt', status') goes forward. Transitions
 * only move forward: within an attempt by lifecycle rank (never out of a final status), and a
 * retry is a later attempt that only a Failed or TimedOut attempt may lead to. A write that is not
 * forward is a no-op, which is what makes duplicated and reordered deliveries harmless.
 */
export function isForwardTransition(
  from: { attempt: number; status: JobStatus },
  to: { attempt: number; status: JobStatus },
): boolean {
  if (to.attempt !== from.attempt) {
    return to.attempt > from.attempt && (RETRYABLE_JOB_STATUSES as readonly string[]).includes(from.status);
  }
  return RANK[to.status] > RANK[from.status];
}

export const WORKFLOW_STATUSES = ['Running', 'Completed', 'Failed', 'Cancelled'] as const;
export const WorkflowStatus = z.enum(WORKFLOW_STATUSES);
export type WorkflowStatus = z.infer<typeof WorkflowStatus>;

export const STAGE_STATUSES = ['Pending', 'Running', 'Completed', 'Failed', 'Cancelled', 'Skipped'] as const;
export const StageStatus = z.enum(STAGE_STATUSES);
export type StageStatus = z.infer<typeof StageStatus>;

/** A job that did not complete, as kept on the run (at most 10) and reported in WorkflowFinished. */
export const FailedJobSummary = z.object({
  job_key: JobKey,
  job_name: z.string(),
  status: z.enum(['Completed', 'Failed', 'TimedOut', 'Cancelled']),
  exit_code: z.number().int().nullable(),
  error_message: z.string().nullable(),
  log_location: z.string().nullable(),
});
export type FailedJobSummary = z.infer<typeof FailedJobSummary>;

/** Per-outcome job counts, as reported in StageCompleted / WorkflowFinished and kept per stage. */
export const JobCounts = z.object({
  total: NonNegativeInt,
  completed: NonNegativeInt,
  failed: NonNegativeInt,
  timed_out: NonNegativeInt,
  cancelled: NonNegativeInt,
  skipped: NonNegativeInt,
});
export type JobCounts = z.infer<typeof JobCounts>;

/**
 * A stage's progress inside the workflow audit record. The counters make every decision O(1):
 * `cursor` is the highest job number the planner has passed, `launched` how many jobs it queued,
 * `finished` how many launched jobs reached a final state, `pre_skipped` how many were Skipped
 * when the run was created (disabled stage, or completed in the run being restarted).
 */
export const StageProgress = z.object({
  stage: PositiveInt,
  stage_description: z.string().nullable(),
  execution_type: z.enum(['sequential', 'parallel']),
  enabled: z.boolean(),
  max_concurrency: PositiveInt.nullable(),
  status: StageStatus,
  started_at: Timestamp.nullable(),
  finished_at: Timestamp.nullable(),
  cursor: NonNegativeInt,
  launched: NonNegativeInt,
  finished: NonNegativeInt,
  pre_skipped: NonNegativeInt,
  ...JobCounts.shape,
  /**
   * The run's generation when this stage last ended, when that was a reopened run's ending
   * (generation > 0: set-ok, rerun); absent otherwise. A replay of the stage's completion (a
   * redelivered event after later reopens) re-derives the ids it had (`:g<n>`) from it.
   */
  ended_generation: PositiveInt.optional(),
});
export type StageProgress = z.infer<typeof StageProgress>;

/**
 * Which definition a run used, told to people (the CLI prints it; the audit keeps it): `file` the
 * definition file (`file`) read when the run was requested, `stored` the one stored with the run
 * being restarted (`rsqlo restart --same-definition`). `changes` lists what differed from the
 * restarted run's definition, one line each ("2.1 timeout_seconds 6 → 60"); empty otherwise.
 */
export const DefinitionSource = z.object({
  kind: z.enum(['file', 'stored']),
  file: z.string().max(4096).nullable(),
  changes: z.array(z.string().max(1024)).max(100),
});
export type DefinitionSource = z.infer<typeof DefinitionSource>;

/** A shipped script set's version: the SHA-256 (hex) of its bundle. */
export const ScriptVersion = z.string().regex(/^[0-9a-f]{64}$/, { error: 'must be a SHA-256 in hex' });

/**
 * The workflow audit record. The seed's attribute names come first (workflow_execution_id,
 * workflow_id, execution_start_ts, execution_end_ts, execution_status, rsql_jobs); the rest is
 * per-stage progress and what restart and the planner need.
 */
export const WorkflowAuditRecord = z.object({
  workflow_execution_id: ExecutionId,
  workflow_id: WorkflowId,
  execution_start_ts: Timestamp,
  execution_end_ts: Timestamp.nullable(),
  execution_status: WorkflowStatus,
  rsql_jobs: z.array(z.string()),
  workflow_description: z.string().nullable(),
  restart_of: ExecutionId.nullable(),
  /**
   * The run that restarted this one. A run is restarted at most once: this is set in the same
   * atomic write that creates the restarting run, and a second restart is refused naming it.
   */
  restarted_as: ExecutionId.nullable().optional(),
  /**
   * The version of the scripts the stack shipped (the SHA-256 of the script bundle of its
   * `workflows_path`) that every job of this run uses, recorded when the run started; a restart is
   * a new run and records the version current then. Absent: the run's scripts came from
   * `rsql_script_path` (managed on the hosts by hand), or the run predates shipped scripts.
   */
  script_version: ScriptVersion.optional(),
  /** Which definition the run used (see DefinitionSource); absent when nobody said. */
  definition_source: DefinitionSource.nullable().optional(),
  /**
   * The parameters the request gave (`rsqlo run --param`), over the definition's: a restart reuses
   * them (and takes the definition's own from the definition it runs, so an edit there applies).
   */
  requested_parameters: Parameters.optional(),
  current_stage: PositiveInt.nullable(),
  cancel_requested: z.boolean(),
  /** Values handed to every job as environment variables; never put secrets here. */
  parameters: Parameters,
  stages: z.array(StageProgress),
  counts: JobCounts,
  /** The first jobs (at most 10) that did not complete, for alerts and `rsqlo status`. */
  failed_jobs: z.array(FailedJobSummary),
  /**
   * Whether the run (scope run) or its workflow (scope workflow, when it was created) is held: a
   * held run stays Running and starts no new job. Absent or null: never held.
   */
  hold_state: HoldState.nullable().optional(),
  /** How often set-ok or rerun reopened the finished run; absent = 0 (never). */
  generation: NonNegativeInt.optional(),
  /** The operator actions applied to this run and its jobs, oldest first (the last 50). */
  operator_actions: z.array(OperatorActionRecord).max(MAX_RUN_OPERATOR_ACTIONS).optional(),
  /** How many operator actions were applied in all (operator_actions keeps the last 50). */
  operator_action_count: NonNegativeInt.optional(),
  /** The pools this run's start created (the CLI says so once). */
  pools_created: z.array(PoolCreatedRecord).optional(),
});
export type WorkflowAuditRecord = z.infer<typeof WorkflowAuditRecord>;

/**
 * The run as services read it: the audit record without `rsql_jobs` (the list of every script,
 * which only people read; leaving it out keeps each read O(stages), not O(jobs)).
 */
export type WorkflowRunState = Omit<WorkflowAuditRecord, 'rsql_jobs'>;

/**
 * The full workflow audit record of a run's state and its `rsql_jobs`, placed second after the
 * seed's identifying attributes as in the seed's table (stores keep the list apart from the state).
 */
export function withRsqlJobs(run: WorkflowRunState, rsqlJobs: string[]): WorkflowAuditRecord {
  const {
    workflow_execution_id,
    workflow_id,
    execution_start_ts,
    execution_end_ts,
    execution_status,
    ...rest
  } = run;
  return {
    workflow_execution_id,
    workflow_id,
    execution_start_ts,
    execution_end_ts,
    execution_status,
    rsql_jobs: rsqlJobs,
    ...rest,
  };
}

/** One earlier attempt of a job, kept when the job is retried. */
export const AttemptRecord = z.object({
  attempt: PositiveInt,
  execution_status: JobStatus,
  execution_start_ts: Timestamp.nullable(),
  execution_end_ts: Timestamp.nullable(),
  exit_code: z.number().int().nullable(),
  error_message: z.string().nullable(),
  instance_id: z.string().nullable(),
  ssm_command_id: z.string().nullable(),
  log_location: z.string().nullable(),
});
export type AttemptRecord = z.infer<typeof AttemptRecord>;

/**
 * The job audit record: the seed's attribute names (job_name, workflow_execution_id, workflow_id,
 * execution_start_ts, execution_end_ts, execution_status, instance_id, ssm_command_id) plus the
 * job's identity, attempt, outcome and policy.
 */
export const JobAuditRecord = z.object({
  job_name: z.string(),
  workflow_execution_id: ExecutionId,
  workflow_id: WorkflowId,
  execution_start_ts: Timestamp.nullable(),
  execution_end_ts: Timestamp.nullable(),
  execution_status: JobStatus,
  instance_id: z.string().nullable(),
  ssm_command_id: z.string().nullable(),
  job_key: JobKey,
  stage: PositiveInt,
  job_no: PositiveInt,
  attempt: PositiveInt,
  max_attempts: PositiveInt,
  exit_code: z.number().int().nullable(),
  error_message: z.string().nullable(),
  log_location: z.string().nullable(),
  skip_reason: z.string().nullable(),
  args: z.array(z.string()),
  timeout_seconds: PositiveInt,
  heartbeat_seconds: PositiveInt,
  retry_backoff_seconds: PositiveInt,
  retry_backoff_rate: z.number().min(1),
  /** When a retry may start (backoff); null when the job may start at once. */
  not_before: Timestamp.nullable(),
  /** Set once the aggregator has counted this job's final outcome into the stage counters. */
  counted: z.boolean(),
  previous_attempts: z.array(AttemptRecord),
  /** The resource pool this job takes a slot of while it runs; absent or null: none. */
  pool: PoolName.nullable().optional(),
  /** The size the pool is created with if it does not exist yet (the definition's `pools`, else 1). */
  pool_slots_default: PoolSlots.nullable().optional(),
  /**
   * Why a Queued job has not started: `pool:<NAME>` (no free slot; not counted against its
   * timeout) or `hold` (its run is held). Absent or null: not waiting.
   */
  waiting_for: z
    .string()
    .regex(/^(hold|pool:[A-Za-z0-9_-]{1,64})$/, { error: 'must be "hold" or "pool:<NAME>"' })
    .nullable()
    .optional(),
  /** The operator actions applied to this job (set-ok, rerun, bypass), oldest first (the last 20). */
  operator_actions: z.array(OperatorActionRecord).max(MAX_JOB_OPERATOR_ACTIONS).optional(),
});
export type JobAuditRecord = z.infer<typeof JobAuditRecord>;

export function jobKey(stage: number, jobNo: number): string {
  return `${stage}.${jobNo}`;
}

export function parseJobKey(key: string): { stage: number; jobNo: number } {
  const [s, j] = key.split('.');
  return { stage: Number(s), jobNo: Number(j) };
}

export function emptyCounts(total = 0): JobCounts {
  return { total, completed: 0, failed: 0, timed_out: 0, cancelled: 0, skipped: 0 };
}

/** Which counter a final job status increments. */
export function countField(status: TerminalJobStatus): keyof Omit<JobCounts, 'total'> {
  switch (status) {
    case 'Completed':
      return 'completed';
    case 'Failed':
      return 'failed';
    case 'TimedOut':
      return 'timed_out';
    case 'Cancelled':
      return 'cancelled';
    case 'Skipped':
      return 'skipped';
  }
}
