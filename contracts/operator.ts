import { z } from 'zod';
import { JobKey, PositiveInt, Timestamp } from './common.js';

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
