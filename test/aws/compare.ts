/**
 * Audit records as the two runtimes should agree on them: the same workflow with the same execution
 * ids gives the same workflow and job audit records on the local engine and on the AWS path, except
 * for the fields below, which record WHEN and WHERE things happened rather than WHAT happened.
 *
 * Excluded, and why each may differ:
 * - timestamps — `execution_start_ts`, `execution_end_ts` (run, jobs, previous attempts),
 *   `stages[].started_at` / `finished_at`, `not_before`: wall-clock times of two different runs.
 *   Kept: whether each is set (null stays null), so a missing start or end still shows.
 * - `instance_id` (jobs, previous attempts): the EC2 instance SSM ran the job on, vs `local` on the
 *   embedded engine. Kept: whether it is set.
 * - `ssm_command_id` (jobs, previous attempts): the SSM Run Command id exists only on AWS (the local
 *   agent is called in-process; it records null). Dropped entirely.
 * - `log_location` (jobs, previous attempts, `failed_jobs[]`): `cloudwatch:<group>:<stream>` on AWS,
 *   a file under the engine home locally. Kept: whether it is set.
 * - `definition_source` (run): what the requester said about the definition it meant; the CLI
 *   names its local file (a path that differs between any two workspaces), an AWS requester
 *   usually says nothing. Dropped entirely.
 * - operator actions (`operator_actions[]`, `hold_state`): `requested_at` / `applied_at` are
 *   wall-clock times (as above); `requested_by` is the OS user locally (`user:root`) and the IAM
 *   principal on AWS (`iam:arn:…`); `action_id` / `request_id` are the request's event id, a fresh
 *   ULID per CLI call. Kept: whether each is set.
 *
 * Everything else — statuses, exit codes, error messages, attempts, skip reasons, counters, stage
 * progress, failed-job summaries, parameters, `restart_of`, `rsql_jobs` — must be equal.
 */
import type { JobAuditRecord, WorkflowAuditRecord } from '../../contracts/audit.js';

/** The fields left out of the comparison (see the file comment). */
export const RUNTIME_SPECIFIC_FIELDS = {
  timestamps: [
    'execution_start_ts',
    'execution_end_ts',
    'started_at',
    'finished_at',
    'not_before',
    'requested_at',
    'applied_at',
  ],
  presenceOnly: ['instance_id', 'log_location', 'requested_by', 'action_id', 'request_id'],
  dropped: ['ssm_command_id', 'definition_source'],
} as const;

const TIMESTAMPS = new Set<string>(RUNTIME_SPECIFIC_FIELDS.timestamps);
const PRESENCE = new Set<string>(RUNTIME_SPECIFIC_FIELDS.presenceOnly);
const DROPPED = new Set<string>(RUNTIME_SPECIFIC_FIELDS.dropped);

function normalize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalize);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value).sort(([a], [b]) => a.localeCompare(b))) {
    if (DROPPED.has(k)) continue;
    if (TIMESTAMPS.has(k)) out[k] = v === null ? null : '<timestamp>';
    else if (PRESENCE.has(k)) out[k] = v === null ? null : `<${k}>`;
    else out[k] = normalize(v);
  }
  return out;
}

/** A run's audit records without the runtime-specific fields, jobs in key order. */
export function comparable(run: WorkflowAuditRecord, jobs: JobAuditRecord[]) {
  return {
    workflow: normalize(run),
    jobs: [...jobs].sort((a, b) => a.stage - b.stage || a.job_no - b.job_no).map(normalize),
  };
}
