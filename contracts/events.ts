import { z } from 'zod';
import { DefinitionSource, FailedJobSummary, JobCounts } from './audit.js';
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
  OPERATOR_REJECTION_REASONS,
  OperatorAction,
  OperatorReason,
  PoolName,
  PoolSlots,
  PoolSource,
  RequestedBy,
} from './operator.js';

export { OPERATOR_REJECTION_REASONS };

/** EventBridge `source` of every rsqlo event. */
export const EVENT_SOURCE = 'rsqlo';

/** Current schema version of every detail; additive changes keep it, breaking ones get a new detail-type. */
export const EVENT_VERSION = 1;

const version = z.number().int().min(1);
const eventId = z.string().min(1).max(512);

/** Fields every emitted detail carries (ARCHITECTURE.md §1). */
const base = {
  version,
  event_id: eventId,
  occurred_at: Timestamp,
  workflow_id: WorkflowId,
  workflow_execution_id: ExecutionId,
};

/**
 * Please start a workflow. Sent by schedules, the CLI and users' own rules, so almost everything is
 * optional: without an execution id the starter derives one from the request (deterministically, so a
 * redelivered request never starts a second run).
 */
export const WorkflowRequested = z.object({
  version: version.default(EVENT_VERSION),
  event_id: eventId.optional(),
  occurred_at: Timestamp.optional(),
  workflow_id: WorkflowId,
  workflow_execution_id: ExecutionId.optional(),
  restart_of: ExecutionId.optional(),
  parameters: Parameters.optional(),
  /** Set by schedules (`<aws.scheduler.scheduled-time>`): the execution id is derived from it. */
  scheduled_time: z.string().optional(),
  requested_by: z.string().max(256).optional(),
  /** Which definition the requester meant (the CLI says so on restarts); recorded in the run. */
  definition_source: DefinitionSource.optional(),
});
export type WorkflowRequested = z.infer<typeof WorkflowRequested>;

/** Please stop a run: pending jobs never start, running ones are killed, the run ends Cancelled. */
export const WorkflowCancelRequested = z.object({
  version: version.default(EVENT_VERSION),
  event_id: eventId.optional(),
  occurred_at: Timestamp.optional(),
  workflow_id: WorkflowId,
  workflow_execution_id: ExecutionId,
  reason: z.string().max(1024).optional(),
  requested_by: z.string().max(256).optional(),
});
export type WorkflowCancelRequested = z.infer<typeof WorkflowCancelRequested>;

export const REJECTION_REASONS = [
  'UnknownWorkflow',
  'InvalidDefinition',
  'ActiveRunLimit',
  'RestartNotAllowed',
  'ExecutionIdConflict',
  'RequestTooLarge',
] as const;

/** A WorkflowRequested that did not start a run, and why. */
export const WorkflowRejected = z.object({
  version,
  event_id: eventId,
  occurred_at: Timestamp,
  workflow_id: WorkflowId,
  workflow_execution_id: ExecutionId.nullable(),
  reason: z.enum(REJECTION_REASONS),
  message: z.string(),
});
export type WorkflowRejected = z.infer<typeof WorkflowRejected>;

export const StageSummary = z.object({
  stage: PositiveInt,
  execution_type: z.enum(['sequential', 'parallel']),
  enabled: z.boolean(),
  job_count: NonNegativeInt,
  jobs_to_run: NonNegativeInt,
});

export const WorkflowStarted = z.object({
  ...base,
  restart_of: ExecutionId.nullable(),
  stage_count: PositiveInt,
  job_count: NonNegativeInt,
  stages: z.array(StageSummary),
  /** Names only: parameter values stay out of events. */
  parameter_names: z.array(z.string()),
  /**
   * The latest time the run can legitimately still be Running (every attempt of every job at its
   * full timeout, the backoffs and a per-attempt overhead; at most 364 days after the start): a run
   * still Running after it is stuck. The AWS run watchdog waits until then. Always set by the
   * starter; optional because events evolve additively.
   */
  deadline_at: Timestamp.optional(),
});
export type WorkflowStarted = z.infer<typeof WorkflowStarted>;

/** Stage N may have runnable jobs: the planner re-evaluates it (level-triggered). */
export const StageReady = z.object({
  ...base,
  stage: PositiveInt,
});
export type StageReady = z.infer<typeof StageReady>;

const jobIdentity = {
  job_key: JobKey,
  job_name: z.string(),
  stage: PositiveInt,
  attempt: PositiveInt,
};

export const JobStarted = z.object({
  ...base,
  ...jobIdentity,
  started_at: Timestamp,
  instance_id: z.string(),
  ssm_command_id: z.string().nullable(),
  log_location: z.string().nullable(),
});
export type JobStarted = z.infer<typeof JobStarted>;

export const JOB_FINAL_STATUSES = ['Completed', 'Failed', 'TimedOut', 'Cancelled'] as const;

/**
 * An attempt ended. The agent reports it; the wrapper does on timeout or dispatch failure; the
 * engine does on cancel. All of them give the same event_id for the same attempt, so the first
 * report wins and the others are harmless. It repeats what JobStarted said, so the audit record is
 * the same whichever of the two arrives first.
 */
export const JobFinished = z.object({
  ...base,
  ...jobIdentity,
  status: z.enum(JOB_FINAL_STATUSES),
  exit_code: z.number().int().nullable(),
  error_message: z.string().nullable(),
  started_at: Timestamp.nullable(),
  finished_at: Timestamp,
  duration_ms: NonNegativeInt.nullable(),
  instance_id: z.string().nullable(),
  ssm_command_id: z.string().nullable(),
  log_location: z.string().nullable(),
  reported_by: z.enum(['agent', 'wrapper', 'engine']),
});
export type JobFinished = z.infer<typeof JobFinished>;

export const StageCompleted = z.object({
  ...base,
  stage: PositiveInt,
  status: z.enum(['Completed', 'Failed', 'Cancelled']),
  counts: JobCounts,
  /** How often the run was reopened (set-ok, rerun) before this ending; absent = 0. */
  generation: NonNegativeInt.optional(),
});
export type StageCompleted = z.infer<typeof StageCompleted>;

export const WorkflowFinished = z.object({
  ...base,
  status: z.enum(['Completed', 'Failed', 'Cancelled']),
  counts: JobCounts,
  started_at: Timestamp,
  finished_at: Timestamp,
  duration_ms: NonNegativeInt,
  /** The stage that failed or was running when cancelled; null when Completed. */
  failed_stage: PositiveInt.nullable(),
  /** Up to 10 jobs that did not complete, for alerts. */
  failed_jobs: z.array(FailedJobSummary),
  /** How often the run was reopened (set-ok, rerun) before this ending; absent = 0. */
  generation: NonNegativeInt.optional(),
});
export type WorkflowFinished = z.infer<typeof WorkflowFinished>;

/**
 * A run crossed one of its definition's service-level lines (contracts/sla.ts) while still active:
 * `finish_by` / `max_duration` (a run still Running at the line), `start_by` (a scheduled run had
 * not started by then; the execution id is the one the schedule's request would have made). Once
 * per run and kind (services/sla).
 */
export const SlaMissed = z.object({
  ...base,
  kind: z.enum(['finish_by', 'start_by', 'max_duration']),
  /** The instant of the line that was crossed (UTC). */
  line_at: Timestamp,
  /** The line as the definition says it: `06:00 Europe/Berlin`, `3600 s`. */
  line: z.string(),
  /** When the run started; null for start_by (no run started). */
  started_at: Timestamp.nullable(),
});
export type SlaMissed = z.infer<typeof SlaMissed>;

/**
 * A run is still active past 1.5 × the 90th percentile of the durations of its workflow's last 20
 * Completed runs (no configuration; not before 20 such runs exist). Once per run (services/sla).
 */
export const RunLongerThanUsual = z.object({
  ...base,
  started_at: Timestamp,
  /** started_at + threshold_seconds: when the check found the run still active. */
  line_at: Timestamp,
  /** The 90th percentile of the history's durations, in seconds. */
  p90_seconds: z.number().nonnegative(),
  threshold_seconds: z.number().nonnegative(),
  /** How many Completed runs the percentile was taken over (20). */
  history_runs: PositiveInt,
});
export type RunLongerThanUsual = z.infer<typeof RunLongerThanUsual>;

/* ---- Operator actions and pools (issue 14): requests, answered by outcome events. ---- */

/** What every operator request carries: who asked (required) and, when told, why. */
const operatorRequest = {
  version: version.default(EVENT_VERSION),
  event_id: eventId.optional(),
  occurred_at: Timestamp.optional(),
  requested_by: RequestedBy,
};

const jobRequest = {
  ...operatorRequest,
  workflow_id: WorkflowId,
  workflow_execution_id: ExecutionId,
  job_key: JobKey,
  /** The attempt the action is about: the dedupe key (a duplicate never acts twice). */
  attempt: PositiveInt,
};

/** Please mark a Failed or TimedOut job Completed ("set OK"); a Failed run goes on from there. */
export const JobSetOkRequested = z.object({ ...jobRequest, reason: OperatorReason });
export type JobSetOkRequested = z.infer<typeof JobSetOkRequested>;

/** Please run one finished job of a finished run again, as a new attempt in the same run. */
export const JobRerunRequested = z.object({ ...jobRequest, reason: OperatorReason.optional() });
export type JobRerunRequested = z.infer<typeof JobRerunRequested>;

/** Please skip a job that has not started; the run continues as if it had completed. */
export const JobBypassRequested = z.object({ ...jobRequest, reason: OperatorReason });
export type JobBypassRequested = z.infer<typeof JobBypassRequested>;

/**
 * Please hold (or free) a run, or, without an execution id, every new run of a workflow. Holds and
 * frees are ordered by (occurred_at, event_id), so occurred_at is required: a reordered older
 * request never undoes a newer one.
 */
const holdRequest = {
  ...operatorRequest,
  occurred_at: Timestamp,
  workflow_id: WorkflowId,
  workflow_execution_id: ExecutionId.optional(),
  reason: OperatorReason.optional(),
};
export const HoldRequested = z.object(holdRequest);
export type HoldRequested = z.infer<typeof HoldRequested>;
export const FreeRequested = z.object(holdRequest);
export type FreeRequested = z.infer<typeof FreeRequested>;

/** Please give pool NAME this many slots (created if absent; 0 drains). Ordered by occurred_at. */
export const PoolResizeRequested = z.object({
  ...operatorRequest,
  occurred_at: Timestamp,
  pool: PoolName,
  slots: PoolSlots,
  reason: OperatorReason.optional(),
});
export type PoolResizeRequested = z.infer<typeof PoolResizeRequested>;

/** The detail-types a person sends; they come from other processes, so they are parsed in full. */
export const OPERATOR_REQUEST_TYPES = [
  'JobSetOkRequested',
  'JobRerunRequested',
  'JobBypassRequested',
  'HoldRequested',
  'FreeRequested',
  'PoolResizeRequested',
] as const;

const who = {
  requested_by: RequestedBy,
  requested_at: Timestamp,
};

/** A Failed or TimedOut job was set OK (Completed) by a person. */
export const JobSetOk = z.object({
  ...base,
  ...jobIdentity,
  previous_status: z.enum(['Failed', 'TimedOut']),
  reason: z.string().max(1024),
  ...who,
  /** Whether the run, Failed because of this job, goes on from there. */
  run_continues: z.boolean(),
});
export type JobSetOk = z.infer<typeof JobSetOk>;

/** One job of a finished run runs again as attempt `attempt` (the run reopens: `generation`). */
export const JobRerunStarted = z.object({
  ...base,
  ...jobIdentity,
  previous_status: z.enum(JOB_FINAL_STATUSES),
  reason: z.string().max(1024).nullable(),
  ...who,
  generation: PositiveInt,
});
export type JobRerunStarted = z.infer<typeof JobRerunStarted>;

/** A job that had not started was bypassed: Skipped with skip_reason "bypassed: <reason>". */
export const JobBypassed = z.object({
  ...base,
  ...jobIdentity,
  reason: z.string().max(1024),
  ...who,
});
export type JobBypassed = z.infer<typeof JobBypassed>;

const holdOutcome = {
  version,
  event_id: eventId,
  occurred_at: Timestamp,
  workflow_id: WorkflowId,
  /** Null when the whole workflow (its new runs) is held or freed. */
  workflow_execution_id: ExecutionId.nullable(),
  scope: z.enum(['run', 'workflow']),
  reason: z.string().max(1024).nullable(),
  ...who,
};
/** A run (or a workflow's new runs) is held: no new job starts until freed. */
export const RunHeld = z.object(holdOutcome);
export type RunHeld = z.infer<typeof RunHeld>;
/** A hold ended: the run's next jobs may start. */
export const RunFreed = z.object(holdOutcome);
export type RunFreed = z.infer<typeof RunFreed>;

/** A pool's size changed (an operator's `pool set`). */
export const PoolResized = z.object({
  version,
  event_id: eventId,
  occurred_at: Timestamp,
  pool: PoolName,
  slots: PoolSlots,
  previous_slots: PoolSlots.nullable(),
  reason: z.string().max(1024).nullable(),
  ...who,
});
export type PoolResized = z.infer<typeof PoolResized>;

/** A pool came into being: from a definition's `pools`, the default of 1 slot, or an operator. */
export const PoolCreated = z.object({
  version,
  event_id: eventId,
  occurred_at: Timestamp,
  pool: PoolName,
  slots: PoolSlots,
  source: PoolSource,
  workflow_id: WorkflowId.nullable(),
  workflow_execution_id: ExecutionId.nullable(),
});
export type PoolCreated = z.infer<typeof PoolCreated>;

/** A job attempt gave its pool slot back (exactly once per attempt): one waiting job may start. */
export const PoolSlotFreed = z.object({
  ...base,
  pool: PoolName,
  job_key: JobKey,
  attempt: PositiveInt,
});
export type PoolSlotFreed = z.infer<typeof PoolSlotFreed>;

/** An operator request that was refused, and why (the CLI prints `message`). */
export const OperatorActionRejected = z.object({
  version,
  event_id: eventId,
  occurred_at: Timestamp,
  workflow_id: WorkflowId.nullable(),
  workflow_execution_id: ExecutionId.nullable(),
  action: z.union([OperatorAction, z.literal('pool_set')]),
  job_key: JobKey.nullable(),
  pool: PoolName.nullable(),
  reason: z.enum(OPERATOR_REJECTION_REASONS),
  message: z.string(),
  requested_by: RequestedBy,
});
export type OperatorActionRejected = z.infer<typeof OperatorActionRejected>;

/** detail-type → detail schema: the one place the set of events is defined. */
export const EVENT_SCHEMAS = {
  WorkflowRequested,
  WorkflowCancelRequested,
  WorkflowRejected,
  WorkflowStarted,
  StageReady,
  JobStarted,
  JobFinished,
  StageCompleted,
  WorkflowFinished,
  SlaMissed,
  RunLongerThanUsual,
  JobSetOkRequested,
  JobRerunRequested,
  JobBypassRequested,
  HoldRequested,
  FreeRequested,
  PoolResizeRequested,
  JobSetOk,
  JobRerunStarted,
  JobBypassed,
  RunHeld,
  RunFreed,
  PoolResized,
  PoolCreated,
  PoolSlotFreed,
  OperatorActionRejected,
} as const;

export type DetailType = keyof typeof EVENT_SCHEMAS;
export const DETAIL_TYPES = Object.keys(EVENT_SCHEMAS) as DetailType[];

export type DetailOf<T extends DetailType> = z.infer<(typeof EVENT_SCHEMAS)[T]>;

/** An event as services produce it: a detail-type and its detail. */
export type RsqloEvent = { [T in DetailType]: { detailType: T; detail: DetailOf<T> } }[DetailType];

export function isDetailType(s: string): s is DetailType {
  return Object.hasOwn(EVENT_SCHEMAS, s);
}

/** Deterministic event ids: the same fact always gets the same id (consumers dedupe on it). */
export const eventIds = {
  workflowStarted: (exec: string) => `WorkflowStarted:${exec}`,
  stageReady: (exec: string, stage: number, cause: string) => `StageReady:${exec}:${stage}:${cause}`,
  jobStarted: (exec: string, jobKey: string, attempt: number) => `JobStarted:${exec}:${jobKey}:a${attempt}`,
  jobFinished: (exec: string, jobKey: string, attempt: number) => `JobFinished:${exec}:${jobKey}:a${attempt}`,
  /** `generation` > 0: a reopened run's later ending (set-ok, rerun) gets its own id (`:g<n>`). */
  stageCompleted: (exec: string, stage: number, generation = 0) =>
    `StageCompleted:${exec}:${stage}${generationSuffix(generation)}`,
  workflowFinished: (exec: string, generation = 0) =>
    `WorkflowFinished:${exec}${generationSuffix(generation)}`,
  workflowRejected: (requestId: string) => `WorkflowRejected:${requestId}`,
  slaMissed: (exec: string, kind: string) => `SlaMissed:${exec}:${kind}`,
  runLongerThanUsual: (exec: string) => `RunLongerThanUsual:${exec}`,
  jobSetOk: (exec: string, jobKey: string, attempt: number) => `JobSetOk:${exec}:${jobKey}:a${attempt}`,
  /** `attempt` is the new attempt (n + 1). */
  jobRerunStarted: (exec: string, jobKey: string, attempt: number) =>
    `JobRerun:${exec}:${jobKey}:a${attempt}`,
  jobBypassed: (exec: string, jobKey: string, attempt: number) => `JobBypassed:${exec}:${jobKey}:a${attempt}`,
  /** `exec` null: a workflow-scope hold (`wf:<workflow_id>`). */
  runHeld: (target: HoldTarget, requestId: string) => `RunHeld:${holdTarget(target)}:${requestId}`,
  runFreed: (target: HoldTarget, requestId: string) => `RunFreed:${holdTarget(target)}:${requestId}`,
  poolResized: (pool: string, requestId: string) => `PoolResized:${pool}:${requestId}`,
  poolCreated: (pool: string) => `PoolCreated:${pool}`,
  /** `holder` is the attempt's jobRunName: one id per attempt, so a slot is freed once per attempt. */
  poolSlotFreed: (pool: string, holder: string) => `PoolSlotFreed:${pool}:${holder}`,
  operatorActionRejected: (requestId: string) => `OperatorActionRejected:${requestId}`,
} as const;

/** What a hold or free is about: one run, or (exec null) a workflow's new runs. */
export type HoldTarget = { workflow_id: string; workflow_execution_id: string | null };

function holdTarget(t: HoldTarget): string {
  return t.workflow_execution_id ?? `wf:${t.workflow_id}`;
}

function generationSuffix(generation: number): string {
  return generation > 0 ? `:g${generation}` : '';
}
