import { z } from 'zod';
import { JobCounts, JobStatus, StageProgress, WorkflowStatus } from './audit.js';
import { ExecutionId, JobKey, Parameters, PositiveInt, Timestamp, WorkflowId } from './common.js';
import { HoldState, OperatorActionRecord, PoolName, PoolSlots } from './operator.js';

/**
 * What the web run view (web/) receives, whichever runtime serves it: the local engine reads its
 * SQLite store (runtime/local/run-view-source.ts), AWS reads the audit tables. Both produce these
 * shapes, so one browser client shows either. Field names follow the audit records
 * (contracts/audit.ts) where they mean the same thing; times are ISO-8601 UTC.
 */

/** One run as the runs list and a workflow's history show it. */
export const RunSummary = z.object({
  workflow_execution_id: ExecutionId,
  workflow_id: WorkflowId,
  workflow_description: z.string().nullable(),
  execution_status: WorkflowStatus,
  execution_start_ts: Timestamp,
  execution_end_ts: Timestamp.nullable(),
  restart_of: ExecutionId.nullable(),
  /** Somebody asked to kill it; it is still stopping its jobs. */
  cancel_requested: z.boolean(),
  current_stage: PositiveInt.nullable(),
  counts: JobCounts,
  /** Held (issue 14): no new job starts until freed; the run is still Running underneath. */
  held: z.boolean().optional(),
  hold_state: HoldState.nullable().optional(),
});
export type RunSummary = z.infer<typeof RunSummary>;

/** Most runs one list request returns; the default is {@link DEFAULT_RUN_LIST_LIMIT}. */
export const MAX_RUN_LIST_LIMIT = 500;
export const DEFAULT_RUN_LIST_LIMIT = 50;

/** Filters of the runs list (query string of `/api/runs`). `before` is the `next` of a previous page. */
export const RunListQuery = z.strictObject({
  workflow_id: WorkflowId.optional(),
  status: WorkflowStatus.optional(),
  limit: z.coerce.number().int().min(1).max(MAX_RUN_LIST_LIMIT).default(DEFAULT_RUN_LIST_LIMIT),
  before: z.string().min(1).max(200).optional(),
});
export type RunListQuery = z.infer<typeof RunListQuery>;
export type RunListQueryInput = z.input<typeof RunListQuery>;

/** A page of runs, newest first. `next` continues the list (null: no more). */
export const RunList = z.object({
  runs: z.array(RunSummary),
  next: z.string().nullable(),
});
export type RunList = z.infer<typeof RunList>;

/** One attempt of a job: what a bar of the timeline is. */
export const JobAttemptView = z.object({
  attempt: PositiveInt,
  execution_status: JobStatus,
  execution_start_ts: Timestamp.nullable(),
  execution_end_ts: Timestamp.nullable(),
  exit_code: z.number().int().nullable(),
  error_message: z.string().nullable(),
  instance_id: z.string().nullable(),
  /** Whether a log exists (or will, once the attempt starts) for the log stream to read. */
  has_log: z.boolean(),
});
export type JobAttemptView = z.infer<typeof JobAttemptView>;

export const JobView = z.object({
  job_key: JobKey,
  job_name: z.string(),
  stage: PositiveInt,
  job_no: PositiveInt,
  /** The job's status: its latest attempt's. */
  execution_status: JobStatus,
  attempt: PositiveInt,
  max_attempts: PositiveInt,
  skip_reason: z.string().nullable(),
  args: z.array(z.string()),
  timeout_seconds: PositiveInt,
  /** A retry waiting for its backoff starts no earlier than this. */
  not_before: Timestamp.nullable(),
  /** Every attempt, oldest first; the last is the current one. */
  attempts: z.array(JobAttemptView).min(1),
  /** Why a Queued job has not started: `pool:<NAME>` (no free slot) or `hold`. */
  waiting_for: z.string().nullable().optional(),
  /** Set OK, rerun, bypass done on this job: who, when, why. */
  operator_actions: z.array(OperatorActionRecord).optional(),
  /** The job actions the run page offers (filled by the view's server, not the read model). */
  actions: z.array(z.lazy(() => ActionState)).optional(),
});
export type JobView = z.infer<typeof JobView>;

/** A stage as the view shows it: the audit record's stage fields, with counts instead of cursors. */
export const StageView = StageProgress.pick({
  stage: true,
  stage_description: true,
  execution_type: true,
  enabled: true,
  max_concurrency: true,
  status: true,
  started_at: true,
  finished_at: true,
}).extend({ counts: JobCounts });
export type StageView = z.infer<typeof StageView>;

/** One run with its stages, its jobs and every attempt. */
export const RunDetail = z.object({
  run: RunSummary,
  /** Values handed to every job as environment variables (never secrets, by contract). */
  parameters: Parameters,
  stages: z.array(StageView),
  jobs: z.array(JobView),
  /** Runs that restarted this one (normally at most one). */
  restarted_as: z.array(ExecutionId),
});
export type RunDetail = z.infer<typeof RunDetail>;

/** A workflow known to the runtime: defined, or seen in a run. */
export const WorkflowSummary = z.object({
  workflow_id: WorkflowId,
  workflow_description: z.string().nullable(),
  last_run: RunSummary.nullable(),
});
export type WorkflowSummary = z.infer<typeof WorkflowSummary>;

/** A stored workflow definition, as the runtime keeps it (already validated when it was stored). */
export const WorkflowDefinitionView = z.object({
  workflow_id: WorkflowId,
  /** The definition JSON as stored. */
  definition: z.record(z.string(), z.unknown()),
  /** Where its scripts are found (the local engine's script folder; null where not meaningful). */
  script_root: z.string().nullable(),
  updated_at: Timestamp.nullable(),
});
export type WorkflowDefinitionView = z.infer<typeof WorkflowDefinitionView>;

/** Most runs a workflow's history shows. */
export const MAX_HISTORY_LIMIT = 200;

/**
 * Operator actions on a run. Adding one: its name here, its rule and wording in web/actions.ts,
 * and its implementation in the actions port the composition root wires (web/ports.ts).
 */
export const ACTION_NAMES = ['restart', 'kill', 'hold', 'free', 'set_ok', 'rerun', 'bypass'] as const;
export const ActionName = z.enum(ACTION_NAMES);
export type ActionName = z.infer<typeof ActionName>;

/** An action as the run page offers it. */
export const ActionState = z.object({
  name: ActionName,
  label: z.string(),
  /** Whether it may be used now; when not, `reason` says why. */
  available: z.boolean(),
  reason: z.string().nullable(),
  /** The question the confirmation asks. */
  confirm: z.string(),
  /** Whether it acts on the run or on one job (the job panel's buttons). */
  scope: z.enum(['run', 'job']),
  /** Whether the confirmation asks for a reason (kept in the audit): set OK, bypass. */
  needs_reason: z.boolean(),
});
export type ActionState = z.infer<typeof ActionState>;

/** The body of an action's POST: the job it is about (job actions) and why. */
export const ActionRequest = z.strictObject({
  job_key: JobKey.optional(),
  reason: z.string().min(1).max(1024).optional(),
});
export type ActionRequest = z.infer<typeof ActionRequest>;

/** The body of `POST /api/pools/<name>/slots`. */
export const PoolSlotsRequest = z.strictObject({
  slots: PoolSlots,
  reason: z.string().min(1).max(1024).optional(),
});
export type PoolSlotsRequest = z.infer<typeof PoolSlotsRequest>;

/** What an action did. `execution_id`: the run it started (restart). */
export const ActionResult = z.object({
  ok: z.boolean(),
  message: z.string(),
  execution_id: ExecutionId.nullable(),
});
export type ActionResult = z.infer<typeof ActionResult>;

/** The run page's data: the run, what may be done with it, and the server's clock. */
export const RunPage = RunDetail.extend({
  actions: z.array(ActionState),
  /** The server's time, so running bars grow from the right origin whatever the browser's clock. */
  now: Timestamp,
});
export type RunPage = z.infer<typeof RunPage>;

export const RunListPage = RunList.extend({
  workflows: z.array(WorkflowId),
  now: Timestamp,
});
export type RunListPage = z.infer<typeof RunListPage>;

export const WorkflowPage = z.object({
  workflow_id: WorkflowId,
  workflow_description: z.string().nullable(),
  /** Newest first. */
  history: z.array(RunSummary),
  definition: WorkflowDefinitionView.nullable(),
  now: Timestamp,
});
export type WorkflowPage = z.infer<typeof WorkflowPage>;

/** A resource pool as `rsqlo pool list` and the web view's pools panel show it. */
export const PoolView = z.object({
  pool: PoolName,
  slots: PoolSlots,
  /** Job attempts holding a slot now (may exceed `slots` just after a shrink). */
  in_use: z.number().int().nonnegative(),
  /** Jobs waiting for a slot, across every workflow. */
  waiting: z.number().int().nonnegative(),
  created_by: z.string(),
});
export type PoolView = z.infer<typeof PoolView>;

/** Which job attempt's log. */
export const AttemptRef = z.object({
  workflow_execution_id: ExecutionId,
  job_key: JobKey,
  attempt: PositiveInt,
});
export type AttemptRef = z.infer<typeof AttemptRef>;

/** Most lines of a log's end one request may ask for. */
export const MAX_LOG_TAIL_LINES = 10_000;
export const DEFAULT_LOG_TAIL_LINES = 200;

/**
 * Why a log stream ended: the attempt finished and everything was read (`finished`); it never had
 * a log and never will (`missing`); it has not started yet (`not_started`, without follow); the
 * current end was reached while the attempt still writes (`eof`, without follow).
 */
export const LOG_END_REASONS = ['finished', 'missing', 'not_started', 'eof'] as const;

/**
 * What a log stream sends (as server-sent events: `event:` is the kind, `id:` the cursor):
 * - `lines`: complete lines, in order; `cursor` resumes the stream right after them;
 * - `notice`: something the reader should know (earlier output not shown, the log was truncated);
 * - `end`: no more output, and why.
 */
export const LogEvent = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('lines'), lines: z.array(z.string()), cursor: z.string() }),
  z.object({ kind: z.literal('notice'), message: z.string() }),
  z.object({ kind: z.literal('end'), reason: z.enum(LOG_END_REASONS), cursor: z.string().nullable() }),
]);
export type LogEvent = z.infer<typeof LogEvent>;
