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
  stageCompleted: (exec: string, stage: number) => `StageCompleted:${exec}:${stage}`,
  workflowFinished: (exec: string) => `WorkflowFinished:${exec}`,
  workflowRejected: (requestId: string) => `WorkflowRejected:${requestId}`,
  slaMissed: (exec: string, kind: string) => `SlaMissed:${exec}:${kind}`,
  runLongerThanUsual: (exec: string) => `RunLongerThanUsual:${exec}`,
} as const;
