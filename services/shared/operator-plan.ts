/**
 * The counter arithmetic of the operator's job actions (issue 14): set-ok, rerun and bypass. Pure,
 * like planStageCompletion/applyStageCompletion: `plan…` reads the run and the job as they are and
 * says what one atomic write must change (`JobActionPlan`); `applyJobAction` is the run that write
 * leaves, so SQLite, the in-memory store and DynamoDB all write exactly what is computed here.
 *
 * A request names the attempt it is about and carries its request id (`action_id`): a duplicate
 * finds its own record on the job and plans nothing ('already-applied'); a request the job's state
 * does not allow throws `JobActionRefused` with the reason the rejection event carries.
 */
import {
  type AttemptRecord,
  countField,
  isTerminalJobStatus,
  type JobAuditRecord,
  type WorkflowRunState,
} from '../../contracts/audit.js';
import {
  bypassRefusal,
  MAX_JOB_OPERATOR_ACTIONS,
  MAX_RUN_OPERATOR_ACTIONS,
  type OperatorActionRecord,
  type OperatorRejectionReason,
  type Refusal,
  rerunRefusal,
  setOkRefusal,
} from '../../contracts/operator.js';
import type { JobActionPlan, StageChange, StageCounter } from '../ports.js';
import { totalCounts } from './progress.js';

/** The request refused: `reason` is what OperatorActionRejected carries, the message says why. */
export class JobActionRefused extends Error {
  override name = 'JobActionRefused';
  constructor(
    readonly reason: OperatorRejectionReason,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The job's final outcome is not counted yet (the aggregator has not seen it): acting now would
 * count it twice. Retriable: the request is redelivered and finds it counted.
 */
export class JobNotCountedYet extends Error {
  override name = 'JobNotCountedYet';
  constructor(jobKey: string, attempt: number) {
    super(`job ${jobKey} attempt ${attempt} has ended but is not counted yet; try again`);
  }
}

/** One operator request about one job attempt. */
export interface JobActionRequest {
  /** The request's id (`event_id ?? envelope id`): a duplicate has the same one. */
  action_id: string;
  /** The attempt the request is about. */
  attempt: number;
  reason: string | null;
  requested_by: string;
  requested_at: string;
}

/** A plan, or nothing to do because this very request was applied already. */
export type JobActionPlanResult = JobActionPlan | 'already-applied';

/** One attempt as kept in previous_attempts when the job runs again (retry or rerun). */
export function attemptRecord(job: JobAuditRecord): AttemptRecord {
  return {
    attempt: job.attempt,
    execution_status: job.execution_status,
    execution_start_ts: job.execution_start_ts,
    execution_end_ts: job.execution_end_ts,
    exit_code: job.exit_code,
    error_message: job.error_message,
    instance_id: job.instance_id,
    ssm_command_id: job.ssm_command_id,
    log_location: job.log_location,
  };
}

/** The skip reason of the jobs a failed stage left never started (services/aggregator). */
export function failedStageSkipReason(stage: number): string {
  return `not started: stage ${stage} failed`;
}

/**
 * Set OK: a Failed or TimedOut (counted) attempt becomes Completed. If the run Failed in this
 * job's stage and the stage has no other failure, the run reopens (Running, generation + 1) and
 * the jobs the failure skipped go back to Pending (`revive`).
 */
export function planSetOk(
  run: WorkflowRunState,
  job: JobAuditRecord,
  req: JobActionRequest,
  at: string,
): JobActionPlanResult {
  if (applied(job, req)) return 'already-applied';
  sameRun(run, job);
  refuse(setOkRefusal(run, job, req.attempt));
  const status = job.execution_status;
  if (status !== 'Failed' && status !== 'TimedOut') throw new Error('unreachable: setOkRefusal allowed it');
  if (!job.counted) throw new JobNotCountedYet(job.job_key, job.attempt);
  const own: StageChange = { stage: job.stage, delta: { [countField(status)]: -1, completed: 1 } };
  const reopen = reopening(run, job.stage, own);
  const r = record('set_ok', job, req, at, {
    generation: generation(run) + (reopen ? 1 : 0),
    reopened: !!reopen,
  });
  return {
    action: 'set_ok',
    workflowExecutionId: run.workflow_execution_id,
    jobKey: job.job_key,
    stage: job.stage,
    job: {
      expect: { attempt: job.attempt, statuses: [status], counted: true },
      set: {
        execution_status: 'Completed',
        operator_actions: jobActions(job, r),
      },
    },
    expectRun: expectRun(run),
    stages: reopen ? reopen.stages : [own],
    run: {
      status: reopen ? 'Running' : run.execution_status,
      reopens: reopen !== null,
      generation: generation(run) + (reopen ? 1 : 0),
      current_stage: run.current_stage,
      failed_jobs: run.failed_jobs.filter((f) => f.job_key !== job.job_key),
    },
    revive: reopen ? { fromStage: job.stage, reason: failedStageSkipReason(job.stage) } : null,
    record: r,
  };
}

/**
 * Rerun: one finished (not Skipped) job of a Completed or Failed run runs again as attempt n + 1
 * in the same run. Its old outcome leaves the counters (the stage has one job in flight again),
 * the run reopens (Running, generation + 1, current_stage = the job's stage).
 */
export function planRerun(
  run: WorkflowRunState,
  job: JobAuditRecord,
  req: JobActionRequest,
  at: string,
): JobActionPlanResult {
  if (applied(job, req)) return 'already-applied';
  sameRun(run, job);
  refuse(rerunRefusal(run, job, req.attempt));
  const status = job.execution_status;
  if (status === 'Skipped' || !isTerminalJobStatus(status))
    throw new Error('unreachable: rerunRefusal allowed it');
  if (!job.counted) throw new JobNotCountedYet(job.job_key, job.attempt);
  const own: StageChange = {
    stage: job.stage,
    delta: { finished: -1, [countField(status)]: -1 },
    status: 'Running',
    reopen: true,
  };
  const reopen = run.execution_status === 'Failed' ? reopening(run, job.stage, own) : null;
  const r = record('rerun', job, req, at, { generation: generation(run) + 1, reopened: true });
  return {
    action: 'rerun',
    workflowExecutionId: run.workflow_execution_id,
    jobKey: job.job_key,
    stage: job.stage,
    job: {
      expect: { attempt: job.attempt, statuses: [status], counted: true },
      set: {
        execution_status: 'Pending',
        attempt: job.attempt + 1,
        previous_attempts: [...job.previous_attempts, attemptRecord(job)],
        not_before: null,
        execution_start_ts: null,
        execution_end_ts: null,
        exit_code: null,
        error_message: null,
        instance_id: null,
        ssm_command_id: null,
        log_location: null,
        counted: false,
        waiting_for: null,
        operator_actions: jobActions(job, r),
      },
    },
    expectRun: expectRun(run),
    stages: reopen ? reopen.stages : [own],
    run: {
      status: 'Running',
      reopens: true,
      generation: generation(run) + 1,
      current_stage: job.stage,
      failed_jobs: run.failed_jobs.filter((f) => f.job_key !== job.job_key),
    },
    revive: reopen ? { fromStage: job.stage, reason: failedStageSkipReason(job.stage) } : null,
    record: r,
  };
}

/**
 * Bypass: a job that has not started is Skipped ("bypassed: TEXT") and counts as done. Three
 * cases: not launched yet (Pending, past the stage cursor: it joins pre_skipped), launched but not
 * started (Queued, or Pending for a retry: it is finished and skipped), or left never started by a
 * Failed run (already Skipped: it moves into pre_skipped, so a later set-ok's revive leaves it out).
 */
export function planBypass(
  run: WorkflowRunState,
  job: JobAuditRecord,
  req: JobActionRequest,
  at: string,
): JobActionPlanResult {
  if (applied(job, req)) return 'already-applied';
  sameRun(run, job);
  refuse(bypassRefusal(run, job, req.attempt, req.reason));
  const st = run.stages[job.stage - 1];
  if (!st)
    throw new JobActionRefused('NoSuchJob', `run ${run.workflow_execution_id} has no stage ${job.stage}`);
  const status = job.execution_status;
  const r = record('bypass', job, req, at, { generation: generation(run), reopened: false });
  const set: JobActionPlan['job']['set'] = {
    execution_status: 'Skipped',
    skip_reason: `bypassed: ${req.reason}`,
    counted: true,
    waiting_for: null,
    operator_actions: jobActions(job, r),
  };
  let change: StageChange;
  let expect: JobActionPlan['job']['expect'];
  if (status === 'Skipped') {
    // A job a Failed run left never started (bypassRefusal allows no other Skipped one).
    change = { stage: job.stage, delta: { pre_skipped: 1 } };
    expect = { attempt: job.attempt, statuses: ['Skipped'], counted: true };
  } else if (status === 'Pending' || status === 'Queued') {
    const launched = status === 'Queued' || job.attempt > 1 || job.job_no <= st.cursor;
    change = launched
      ? { stage: job.stage, delta: { finished: 1, skipped: 1 } }
      : { stage: job.stage, delta: { pre_skipped: 1, skipped: 1 } };
    if (!launched && st.status === 'Pending' && st.pre_skipped + 1 >= st.total) change.status = 'Skipped';
    expect = { attempt: job.attempt, statuses: [status], counted: false, instanceId: null };
  } else {
    throw new Error('unreachable: bypassRefusal allowed a job that has started');
  }
  return {
    action: 'bypass',
    workflowExecutionId: run.workflow_execution_id,
    jobKey: job.job_key,
    stage: job.stage,
    job: { expect, set },
    expectRun: expectRun(run),
    stages: [change],
    run: {
      status: run.execution_status,
      reopens: false,
      generation: generation(run),
      current_stage: run.current_stage,
      failed_jobs: run.failed_jobs,
    },
    revive: null,
    record: r,
  };
}

/**
 * OperatorRepository.heldRuns over rows a store read: the Running runs held by their workflow's
 * hold (scope `workflow`), oldest start first, ties by execution id — the order a free releases
 * them in (SQLite says the same in SQL: ORDER BY start_ts, id).
 */
export function workflowHeldRunIds(runs: Iterable<WorkflowRunState>): string[] {
  return [...runs]
    .filter(
      (r) =>
        r.execution_status === 'Running' && r.hold_state?.held === true && r.hold_state.scope === 'workflow',
    )
    .sort(
      (a, b) =>
        a.execution_start_ts.localeCompare(b.execution_start_ts) ||
        a.workflow_execution_id.localeCompare(b.workflow_execution_id),
    )
    .map((r) => r.workflow_execution_id);
}

/**
 * The run as the plan's write leaves it. Applying a plan whose record the run already carries
 * changes nothing (a duplicate write is a no-op).
 */
export function applyJobAction(run: WorkflowRunState, plan: JobActionPlan): WorkflowRunState {
  if (run.operator_actions?.some((a) => a.action_id === plan.record.action_id)) return run;
  const stages = run.stages.map((s) => ({ ...s }));
  for (const c of plan.stages) {
    const s = stages[c.stage - 1];
    if (!s) continue;
    for (const [k, d] of Object.entries(c.delta) as Array<[StageCounter, number]>) s[k] += d;
    if (c.status) s.status = c.status;
    if (c.reopen) s.finished_at = null;
  }
  return {
    ...run,
    stages,
    counts: totalCounts(stages),
    execution_status: plan.run.status,
    execution_end_ts: plan.run.reopens ? null : run.execution_end_ts,
    generation: plan.run.generation,
    current_stage: plan.run.current_stage,
    failed_jobs: plan.run.failed_jobs,
    operator_actions: [...(run.operator_actions ?? []), plan.record].slice(-MAX_RUN_OPERATOR_ACTIONS),
    operator_action_count: (run.operator_action_count ?? run.operator_actions?.length ?? 0) + 1,
  };
}

/** The job row as the plan's write leaves it; a duplicate changes nothing. */
export function applyJobActionToJob(job: JobAuditRecord, plan: JobActionPlan): JobAuditRecord {
  if (job.operator_actions?.some((a) => a.action_id === plan.record.action_id)) return job;
  return { ...job, ...plan.job.set };
}

function applied(job: JobAuditRecord, req: JobActionRequest): boolean {
  return job.operator_actions?.some((a) => a.action_id === req.action_id) ?? false;
}

function sameRun(run: WorkflowRunState, job: JobAuditRecord): void {
  if (job.workflow_execution_id !== run.workflow_execution_id) {
    throw new JobActionRefused(
      'NoSuchJob',
      `job ${job.job_key} is not a job of run ${run.workflow_execution_id}`,
    );
  }
}

/** The shared rule's refusal (contracts/operator.ts), thrown. */
function refuse(r: Refusal | null): void {
  if (r) throw new JobActionRefused(r.reason, r.message);
}

function generation(run: WorkflowRunState): number {
  return run.generation ?? 0;
}

function expectRun(run: WorkflowRunState): JobActionPlan['expectRun'] {
  return { status: run.execution_status, generation: generation(run) };
}

function record(
  action: 'set_ok' | 'rerun' | 'bypass',
  job: JobAuditRecord,
  req: JobActionRequest,
  at: string,
  effect: { generation: number; reopened: boolean },
): OperatorActionRecord {
  return {
    action_id: req.action_id,
    action,
    job_key: job.job_key,
    attempt: job.attempt,
    previous_status: job.execution_status,
    reason: req.reason,
    requested_by: req.requested_by,
    requested_at: req.requested_at,
    applied_at: at,
    run_generation: effect.generation,
    run_reopened: effect.reopened,
  };
}

function jobActions(job: JobAuditRecord, r: OperatorActionRecord): OperatorActionRecord[] {
  return [...(job.operator_actions ?? []), r].slice(-MAX_JOB_OPERATOR_ACTIONS);
}

/**
 * Whether the action reopens a run that Failed in `stage`: only when the run is Failed there, was
 * not cancelled, and `own` leaves the stage without a failure. Then the stage runs again (its jobs
 * the failure skipped are no longer skipped) and every later stage the failure skipped is Pending,
 * up to a later stage that is itself Failed (planStageCompletion then ends the run Failed there).
 */
function reopening(run: WorkflowRunState, stage: number, own: StageChange): { stages: StageChange[] } | null {
  if (run.execution_status !== 'Failed' || run.cancel_requested || run.current_stage !== stage) return null;
  const st = run.stages[stage - 1];
  if (!st) return null;
  const after = (k: StageCounter) => st[k] + (own.delta[k] ?? 0);
  if (after('failed') > 0 || after('timed_out') > 0 || after('cancelled') > 0) return null;
  const never = st.total - st.pre_skipped - st.launched;
  const stages: StageChange[] = [
    {
      stage,
      delta: { ...own.delta, ...(never > 0 ? { skipped: (own.delta.skipped ?? 0) - never } : {}) },
      status: 'Running',
      reopen: true,
    },
  ];
  for (const s of run.stages) {
    if (s.stage <= stage) continue;
    // A later stage that still stands Failed (it failed in an earlier generation; a rerun here
    // then failed too) is where the run stops again: nothing after it comes back.
    if (s.status === 'Failed' || s.status === 'Cancelled') break;
    if (s.status === 'Skipped' && s.total > s.pre_skipped) {
      stages.push({
        stage: s.stage,
        delta: { skipped: -(s.total - s.pre_skipped) },
        status: 'Pending',
        reopen: true,
      });
    }
  }
  return { stages };
}
