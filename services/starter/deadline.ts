/**
 * A run's deadline: the latest time it can legitimately still be Running. The starter puts it in
 * WorkflowStarted (`deadline_at`); on AWS the run watchdog waits until then (a Wait state with
 * TimestampPath) and reports the run overdue if it is still Running. Computing it here, from the
 * definition the run was planned from, keeps the watchdog one path for every workflow (no per-workflow
 * Choice in the state machine, fewer billed transitions) and gives runs of workflows added after the
 * deploy their own deadline instead of a stack-wide default. It is derived from the run's stored
 * state (its stages and job rows), so a redelivered request re-announces the same deadline.
 */
import type { JobAuditRecord, WorkflowRunState } from '../../contracts/audit.js';
import type { WorkflowDefinition } from '../../contracts/workflow.js';
import { retryDelaySeconds } from '../aggregator/service.js';
import { jobPolicy } from './plan.js';

/**
 * Seconds added to every attempt for what happens outside the script's own timeout: the queue, the
 * wrapper's dispatch retries while no agent is online (2+4+…+64 s), the SSM round trip, reporting.
 */
export const ATTEMPT_OVERHEAD_SECONDS = 300;

/**
 * Longest deadline (364 days): a Standard Step Functions execution lasts at most one year, so the
 * watchdog cannot wait longer; a day is kept as margin.
 */
export const MAX_RUN_DEADLINE_SECONDS = 364 * 86_400;

/** What a deadline depends on, per job: its policy (the same fields as its job row). */
export type DeadlineJob = Pick<
  JobAuditRecord,
  'max_attempts' | 'timeout_seconds' | 'retry_backoff_seconds' | 'retry_backoff_rate'
>;
/** What a deadline depends on, per stage (the same fields as the run's stage progress). */
export interface DeadlineStage {
  enabled: boolean;
  execution_type: 'sequential' | 'parallel';
  max_concurrency: number | null;
  jobs: DeadlineJob[];
}

/**
 * The longest the stages can legitimately take, in seconds: the bound the run watchdog waits
 * before it checks whether the run is still Running (an older run is stuck: an event was lost or a
 * service keeps failing). Per job: every attempt at its full timeout plus the overhead, plus the
 * retry backoffs between attempts (the aggregator's `retryDelaySeconds`, so the bound follows the
 * same rules as the run). Per stage: sequential stages add their jobs; parallel ones take their
 * longest job when every job has a slot, else Graham's list-scheduling bound ((sum - longest) /
 * slots + longest, at most the sum). Disabled stages add nothing. Stages add up.
 */
export function stagesDeadlineSeconds(stages: readonly DeadlineStage[]): number {
  let total = 0;
  for (const stage of stages) {
    if (!stage.enabled || stage.jobs.length === 0) continue;
    const jobs = stage.jobs.map((p) => {
      let t = 0;
      for (let attempt = 1; attempt <= p.max_attempts; attempt++) {
        t += p.timeout_seconds + ATTEMPT_OVERHEAD_SECONDS;
        if (attempt < p.max_attempts) t += retryDelaySeconds(p, attempt);
      }
      return t;
    });
    const sum = jobs.reduce((a, b) => a + b, 0);
    if (stage.execution_type === 'sequential') total += sum;
    else {
      const slots = stage.max_concurrency ?? jobs.length;
      const longest = Math.max(...jobs);
      total += slots >= jobs.length ? longest : Math.min(sum, Math.ceil((sum - longest) / slots) + longest);
    }
  }
  return total;
}

/** {@link stagesDeadlineSeconds} of a definition's stages, each job with the policy the starter gives it. */
export function runDeadlineSeconds(def: WorkflowDefinition): number {
  return stagesDeadlineSeconds(
    def.workflow_stages.map((stage, si) => ({
      enabled: stage.execution_flag === 'y',
      execution_type: stage.execution_type,
      max_concurrency: stage.max_concurrency ?? null,
      jobs: stage.scripts.map((_, ji) => jobPolicy(def, si, ji)),
    })),
  );
}

/**
 * A run's deadline from what is stored of it: the run's stages and every job row (in any state:
 * only the policy fields count, and those never change), so the deadline re-derived when a
 * request is redelivered is the one first announced, whatever happened to the definition since.
 * Equal to `deadlineAt(start, runDeadlineSeconds(definition))` for the definition it was planned from.
 */
export function runDeadlineAt(
  run: Pick<WorkflowRunState, 'execution_start_ts' | 'stages'>,
  jobs: ReadonlyArray<DeadlineJob & Pick<JobAuditRecord, 'stage'>>,
): string {
  const byStage = new Map<number, DeadlineJob[]>();
  for (const j of jobs) byStage.set(j.stage, [...(byStage.get(j.stage) ?? []), j]);
  const seconds = stagesDeadlineSeconds(
    run.stages.map((s) => ({
      enabled: s.enabled,
      execution_type: s.execution_type,
      max_concurrency: s.max_concurrency,
      jobs: byStage.get(s.stage) ?? [],
    })),
  );
  return deadlineAt(run.execution_start_ts, seconds);
}

/**
 * `startedAt` plus `seconds` (at most MAX_RUN_DEADLINE_SECONDS), rounded up to a whole second and
 * written without fractional seconds (`2024-05-01T10:00:00Z`): the form of the Step Functions
 * guide's example for a Wait state's Timestamp ("2024-08-18T17:33:00Z"; "Step Functions considers
 * the time value up to seconds and truncates milliseconds", so rounding up never wakes it early).
 * Throws on an invalid start.
 */
export function deadlineAt(startedAt: string, seconds: number): string {
  const start = Date.parse(startedAt);
  if (Number.isNaN(start)) throw new RangeError(`run start ${JSON.stringify(startedAt)} is not a timestamp`);
  const ms = start + Math.min(MAX_RUN_DEADLINE_SECONDS, Math.max(0, seconds)) * 1000;
  return new Date(Math.ceil(ms / 1000) * 1000).toISOString().replace(/\.000Z$/, 'Z');
}
