import { z } from 'zod';
import { JobKey, NonNegativeInt, PositiveInt, Timestamp } from './common.js';

/**
 * Operator actions (issue 14): the records kept on job and run audit rows, the hold state and the
 * ordering of requests. Pure: the starter (enforces), the CLI (pre-checks) and the web view
 * (buttons) share these shapes so every place says the same thing.
 */

/** The five actions a person can take on a run or a job. */
export const OPERATOR_ACTIONS = ['set_ok', 'rerun', 'bypass', 'hold', 'free'] as const;
export const OperatorAction = z.enum(OPERATOR_ACTIONS);
export type OperatorAction = z.infer<typeof OperatorAction>;

/** Who asked: `user:<os user>`, `web:<os user>`, `iam:<arn>` (ARCHITECTURE.md §1). */
export const RequestedBy = z
  .string({ error: 'must be a string naming who asked' })
  .min(1, { error: 'must not be empty' })
  .max(256, { error: 'must be at most 256 characters' });

/** Why: the operator's `--reason` text. */
export const OperatorReason = z
  .string({ error: 'must be a string' })
  .min(1, { error: 'must not be empty' })
  .max(1024, { error: 'must be at most 1024 characters' });

/** A pool's name (`"pool": "wlm"`): the same charset as a calendar's, so it fits DynamoDB keys and file names. */
export const PoolName = z
  .string({ error: 'must be a string naming a pool' })
  .min(1, { error: 'must not be empty' })
  .max(64, { error: 'must be at most 64 characters' })
  .regex(/^[A-Za-z0-9_-]+$/, { error: 'may only contain letters, digits, "_" and "-"' });
export type PoolName = z.infer<typeof PoolName>;

/** Most slots a pool may have; 0 drains it (running jobs finish, nothing new starts). */
export const MAX_POOL_SLOTS = 1000;
export const PoolSlots = z
  .number({ error: 'must be a number of slots' })
  .int({ error: 'must be a whole number' })
  .min(0, { error: 'must be at least 0 (0 drains the pool)' })
  .max(MAX_POOL_SLOTS, { error: `must be at most ${MAX_POOL_SLOTS}` });

/** Who made a pool: its workflow's definition (`pools`), the default of 1 slot, or an operator. */
export const POOL_SOURCES = ['definition', 'default', 'operator'] as const;
export const PoolSource = z.enum(POOL_SOURCES);
export type PoolSource = z.infer<typeof PoolSource>;

/** Most operator actions kept on one job row / one run row (the oldest are dropped first). */
export const MAX_JOB_OPERATOR_ACTIONS = 20;
export const MAX_RUN_OPERATOR_ACTIONS = 50;

/**
 * One applied operator action, written into the job row and the run row in the same atomic write
 * as the action: who (`requested_by`), when (`requested_at` = the request's time, `applied_at` =
 * the service's clock) and why (`reason`). `action_id` is the request's id: a duplicate finds it.
 */
export const OperatorActionRecord = z.object({
  action_id: z.string().min(1).max(512),
  action: OperatorAction,
  job_key: JobKey.nullable(),
  attempt: PositiveInt.nullable(),
  /** The job's status before the action (set_ok: Failed | TimedOut); null for run actions. */
  previous_status: z.string().nullable(),
  reason: z.string().max(1024).nullable(),
  requested_by: RequestedBy,
  requested_at: Timestamp,
  applied_at: Timestamp,
  /**
   * A job action's effect on the run when it was applied: its generation after it, and whether it
   * reopened the run. Kept so that a duplicate of the request re-derives the very outcome event
   * the first delivery sent, even after later actions moved the run on. Absent on run actions
   * (hold, free) and on records written before these fields.
   */
  run_generation: NonNegativeInt.optional(),
  run_reopened: z.boolean().optional(),
});
export type OperatorActionRecord = z.infer<typeof OperatorActionRecord>;

/**
 * Whether a run (scope `run`) or every new run of a workflow (scope `workflow`) is held. A held run
 * stays `Running` and starts no new job; `held: false` is kept (not deleted) so a reordered older
 * request is recognised as stale.
 */
export const HoldState = z.object({
  held: z.boolean(),
  scope: z.enum(['run', 'workflow']),
  reason: z.string().max(1024).nullable(),
  requested_by: RequestedBy,
  requested_at: Timestamp,
  request_id: z.string().min(1).max(512),
});
export type HoldState = z.infer<typeof HoldState>;

/** A pool created on a run's behalf, kept on the run so the CLI can say so once. */
export const PoolCreatedRecord = z.object({ pool: PoolName, slots: PoolSlots, source: PoolSource });
export type PoolCreatedRecord = z.infer<typeof PoolCreatedRecord>;

/**
 * Whether request `a` is newer than `b`: by `requested_at`, then by `request_id` (so two requests
 * of the same millisecond still have one order everywhere). Equal requests are not newer: a
 * duplicate is "same", not "newer".
 */
export function newerRequest(
  a: { requested_at: string; request_id: string },
  b: { requested_at: string; request_id: string },
): boolean {
  const ta = Date.parse(a.requested_at);
  const tb = Date.parse(b.requested_at);
  if (ta !== tb) return ta > tb;
  return a.request_id > b.request_id;
}

/** Why an operator request was refused (OperatorActionRejected.reason). */
export const OPERATOR_REJECTION_REASONS = [
  'NoSuchRun',
  'NoSuchJob',
  'NotAllowed',
  'ActiveRunLimit',
  'RestartedAlready',
] as const;
export type OperatorRejectionReason = (typeof OPERATOR_REJECTION_REASONS)[number];

/** A refused action: the reason the rejection event carries and the sentence people read. */
export interface Refusal {
  reason: OperatorRejectionReason;
  message: string;
}

/** What the rules read of a run (the audit record, a run view and the web all have these). */
export interface RunFacts {
  workflow_execution_id: string;
  execution_status: 'Running' | 'Completed' | 'Failed' | 'Cancelled';
  restarted_as?: string | null;
}

/** What the rules read of a job. */
export interface JobFacts {
  job_key: string;
  execution_status: string;
  attempt: number;
  skip_reason: string | null;
}

const FAILED_STAGE_SKIP = /^not started: stage \d+ failed$/;

/**
 * The rules of the job actions, in one wording for the starter (which enforces them), the CLI
 * (which pre-checks, exit 3) and the web view (which greys out buttons). `attempt` is the attempt
 * the request is about (absent: the job's current one). Null: allowed.
 */
export function setOkRefusal(run: RunFacts, job: JobFacts, attempt = job.attempt): Refusal | null {
  const common = commonRefusal(run, job, attempt, 'set OK');
  if (common) return common;
  if (job.execution_status !== 'Failed' && job.execution_status !== 'TimedOut') {
    return notAllowed(
      `job ${job.job_key} is ${job.execution_status}: only a Failed or TimedOut job can be set OK`,
    );
  }
  return null;
}

/** Rerun: a finished (not Skipped) job of a Completed or Failed run. */
export function rerunRefusal(run: RunFacts, job: JobFacts, attempt = job.attempt): Refusal | null {
  const common = commonRefusal(run, job, attempt, 'rerun');
  if (common) return common;
  if (run.execution_status === 'Running') {
    return notAllowed(
      `run ${run.workflow_execution_id} is still Running: rerun a job once the run has ended`,
    );
  }
  if (run.execution_status === 'Cancelled') {
    return notAllowed(
      `run ${run.workflow_execution_id} was Cancelled: restart it (rsqlo restart) instead of rerunning one job`,
    );
  }
  if (job.execution_status === 'Skipped') {
    return notAllowed(`job ${job.job_key} never ran (Skipped): there is nothing to rerun`);
  }
  if (!['Completed', 'Failed', 'TimedOut', 'Cancelled'].includes(job.execution_status)) {
    return notAllowed(`job ${job.job_key} is ${job.execution_status}: only a finished job can be rerun`);
  }
  return null;
}

/**
 * Bypass: a job that has not started, of a Running run; or one a Failed run left never started
 * (so a set-ok that continues the run leaves it out). Needs a reason.
 */
export function bypassRefusal(
  run: RunFacts,
  job: JobFacts,
  attempt = job.attempt,
  reason: string | null = 'given',
): Refusal | null {
  const common = commonRefusal(run, job, attempt, 'bypass');
  if (common) return common;
  if (!reason) return notAllowed('a bypass needs a reason (--reason TEXT)');
  const s = job.execution_status;
  if (s === 'Skipped') {
    if (run.execution_status === 'Failed' && FAILED_STAGE_SKIP.test(job.skip_reason ?? '')) return null;
    return notAllowed(`job ${job.job_key} is Skipped already (${job.skip_reason ?? 'no reason'})`);
  }
  if (s === 'Pending' || s === 'Queued') {
    if (run.execution_status === 'Running') return null;
    return notAllowed(
      `run ${run.workflow_execution_id} is ${run.execution_status}: only a job of a Running run (or one a failure skipped) can be bypassed`,
    );
  }
  return notAllowed(`job ${job.job_key} has started (${s}): only a job that has not started can be bypassed`);
}

/** Hold and free act on a Running run (a workflow-scope hold has no run to check). */
export function holdRefusal(run: RunFacts, action: 'hold' | 'free'): Refusal | null {
  if (run.execution_status !== 'Running') {
    return notAllowed(
      `run ${run.workflow_execution_id} is ${run.execution_status}: only a Running run can be ${action === 'hold' ? 'held' : 'freed'}`,
    );
  }
  return null;
}

function commonRefusal(run: RunFacts, job: JobFacts, attempt: number, verb: string): Refusal | null {
  if (run.restarted_as) {
    return {
      reason: 'RestartedAlready',
      message: `run ${run.workflow_execution_id} was restarted as ${run.restarted_as}: ${verb} there instead`,
    };
  }
  if (job.attempt !== attempt) {
    return notAllowed(
      `job ${job.job_key} is at attempt ${job.attempt}, not ${attempt}: the request is about an attempt that is over`,
    );
  }
  return null;
}

function notAllowed(message: string): Refusal {
  return { reason: 'NotAllowed', message };
}
