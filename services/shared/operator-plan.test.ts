import { describe, expect, it } from 'vitest';
import {
  emptyCounts,
  type JobAuditRecord,
  type StageProgress,
  type WorkflowRunState,
} from '../../contracts/audit.js';
import type { JobActionPlan } from '../ports.js';
import {
  applyJobAction,
  applyJobActionToJob,
  JobActionRefused,
  type JobActionRequest,
  JobNotCountedYet,
  planBypass,
  planRerun,
  planSetOk,
} from './operator-plan.js';
import {
  applyStageCompletion,
  completionEvents,
  planStageCompletion,
  stageOutcome,
  totalCounts,
} from './progress.js';

const EXEC = 'wf-1';
const T0 = '2024-05-01T10:00:00.000Z';
const AT = '2024-05-01T11:00:00.500Z';

function stage(n: number, over: Partial<StageProgress>): StageProgress {
  return {
    stage: n,
    stage_description: null,
    execution_type: 'sequential',
    enabled: true,
    max_concurrency: null,
    status: 'Pending',
    started_at: null,
    finished_at: null,
    cursor: 0,
    launched: 0,
    finished: 0,
    pre_skipped: 0,
    ...emptyCounts(0),
    ...over,
  };
}

function run(stages: StageProgress[], over: Partial<WorkflowRunState> = {}): WorkflowRunState {
  return {
    workflow_execution_id: EXEC,
    workflow_id: 'wf',
    execution_start_ts: T0,
    execution_end_ts: null,
    execution_status: 'Running',
    workflow_description: null,
    restart_of: null,
    current_stage: 1,
    cancel_requested: false,
    parameters: {},
    stages,
    counts: totalCounts(stages),
    failed_jobs: [],
    ...over,
  };
}

function job(key: string, over: Partial<JobAuditRecord> = {}): JobAuditRecord {
  const [s, j] = key.split('.').map(Number) as [number, number];
  return {
    job_name: `s${key}.sh`,
    workflow_execution_id: EXEC,
    workflow_id: 'wf',
    execution_start_ts: null,
    execution_end_ts: null,
    execution_status: 'Pending',
    instance_id: null,
    ssm_command_id: null,
    job_key: key,
    stage: s,
    job_no: j,
    attempt: 1,
    max_attempts: 1,
    exit_code: null,
    error_message: null,
    log_location: null,
    skip_reason: null,
    args: [],
    timeout_seconds: 60,
    heartbeat_seconds: 30,
    retry_backoff_seconds: 30,
    retry_backoff_rate: 2,
    not_before: null,
    counted: false,
    previous_attempts: [],
    ...over,
  };
}

const req = (over: Partial<JobActionRequest> = {}): JobActionRequest => ({
  action_id: 'req-1',
  attempt: 1,
  reason: 'fixed by hand',
  requested_by: 'user:oncall',
  requested_at: '2024-05-01T11:00:00.000Z',
  ...over,
});

const failure = (key: string) => ({
  job_key: key,
  job_name: `s${key}.sh`,
  status: 'Failed' as const,
  exit_code: 1,
  error_message: 'boom',
  log_location: null,
});

/**
 * A run of 3 stages that Failed in stage 2: stage 1 (1 job) Completed; stage 2 sequential with 3
 * jobs, 2.1 Failed (counted), 2.2 and 2.3 never launched so Skipped "not started: stage 2 failed";
 * stage 3 (2 jobs) Skipped the same way — as the aggregator's planStageCompletion leaves it.
 */
function failedRun(): { run: WorkflowRunState; failed: JobAuditRecord } {
  const r = run(
    [
      stage(1, {
        status: 'Completed',
        cursor: 1,
        launched: 1,
        finished: 1,
        total: 1,
        completed: 1,
        finished_at: T0,
      }),
      stage(2, {
        status: 'Failed',
        cursor: 1,
        launched: 1,
        finished: 1,
        total: 3,
        failed: 1,
        skipped: 2,
        finished_at: T0,
      }),
      stage(3, { status: 'Skipped', total: 2, skipped: 2, finished_at: T0 }),
    ],
    { execution_status: 'Failed', execution_end_ts: T0, current_stage: 2, failed_jobs: [failure('2.1')] },
  );
  const failed = job('2.1', {
    execution_status: 'Failed',
    exit_code: 1,
    error_message: 'boom',
    execution_start_ts: T0,
    execution_end_ts: T0,
    instance_id: 'i-1',
    counted: true,
  });
  return { run: r, failed };
}

function plan(p: ReturnType<typeof planSetOk>): JobActionPlan {
  if (p === 'already-applied') throw new Error('expected a plan');
  return p;
}

/** Every counter of a run agrees with its stages (what readers rely on). */
function expectConsistent(r: WorkflowRunState): void {
  expect(r.counts).toEqual(totalCounts(r.stages));
  for (const s of r.stages) {
    for (const k of [
      'cursor',
      'launched',
      'finished',
      'pre_skipped',
      'completed',
      'failed',
      'skipped',
    ] as const) {
      expect(s[k], `stage ${s.stage} ${k}`).toBeGreaterThanOrEqual(0);
    }
    expect(
      s.completed + s.failed + s.timed_out + s.cancelled + s.skipped,
      `stage ${s.stage}`,
    ).toBeLessThanOrEqual(s.total);
  }
}

function refusal(fn: () => unknown): { reason: string; message: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof JobActionRefused) return { reason: err.reason, message: err.message };
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('planSetOk', () => {
  it('a Failed run continues: the job is Completed, the stage reopens, the skipped jobs come back', () => {
    const { run: r, failed } = failedRun();
    const p = plan(planSetOk(r, failed, req(), AT));
    expect(p.job.expect).toEqual({ attempt: 1, statuses: ['Failed'], counted: true });
    expect(p.job.set.execution_status).toBe('Completed');
    expect(p.job.set).not.toHaveProperty('exit_code'); // exit code and error are kept for the record
    expect(p.expectRun).toEqual({ status: 'Failed', generation: 0 });
    expect(p.revive).toEqual({ fromStage: 2, reason: 'not started: stage 2 failed' });
    expect(p.run).toMatchObject({
      status: 'Running',
      reopens: true,
      generation: 1,
      current_stage: 2,
      failed_jobs: [],
    });

    const after = applyJobAction(r, p);
    expect(after.execution_status).toBe('Running');
    expect(after.execution_end_ts).toBeNull();
    expect(after.generation).toBe(1);
    expect(after.stages[1]).toMatchObject({
      status: 'Running',
      finished_at: null,
      launched: 1,
      finished: 1,
      completed: 1,
      failed: 0,
      skipped: 0,
    });
    expect(after.stages[2]).toMatchObject({ status: 'Pending', finished_at: null, skipped: 0 });
    expect(after.stages[0]).toEqual(r.stages[0]);
    expect(after.counts).toEqual({
      total: 6,
      completed: 2,
      failed: 0,
      timed_out: 0,
      cancelled: 0,
      skipped: 0,
    });
    expect(after.failed_jobs).toEqual([]);
    expect(after.operator_actions).toEqual([
      {
        action_id: 'req-1',
        action: 'set_ok',
        job_key: '2.1',
        attempt: 1,
        previous_status: 'Failed',
        reason: 'fixed by hand',
        requested_by: 'user:oncall',
        requested_at: '2024-05-01T11:00:00.000Z',
        applied_at: AT,
        // What it did to the run, for a duplicate to re-derive the same JobSetOk.
        run_generation: 1,
        run_reopened: true,
      },
    ]);
    expect(after.operator_action_count).toBe(1);
    expectConsistent(after);

    const j = applyJobActionToJob(failed, p);
    expect(j).toMatchObject({
      execution_status: 'Completed',
      exit_code: 1,
      error_message: 'boom',
      counted: true,
    });
    expect(j.operator_actions).toEqual(after.operator_actions);
  });

  it('a duplicate request plans nothing, and applying the same plan twice changes nothing', () => {
    const { run: r, failed } = failedRun();
    const p = plan(planSetOk(r, failed, req(), AT));
    const once = applyJobAction(r, p);
    expect(applyJobAction(once, p)).toBe(once);
    const j = applyJobActionToJob(failed, p);
    expect(applyJobActionToJob(j, p)).toBe(j);
    expect(planSetOk(once, j, req(), '2024-05-01T11:05:00.000Z')).toBe('already-applied');
  });

  it('a TimedOut job moves from timed_out to completed', () => {
    const r = run([
      stage(1, { status: 'Running', cursor: 2, launched: 2, finished: 1, total: 2, timed_out: 1 }),
    ]);
    const t = job('1.1', { execution_status: 'TimedOut', counted: true });
    const after = applyJobAction(r, plan(planSetOk(r, t, req(), AT)));
    expect(after.stages[0]).toMatchObject({ timed_out: 0, completed: 1, finished: 1, status: 'Running' });
    expect(after.execution_status).toBe('Running');
    expect(after.generation).toBe(0);
    expectConsistent(after);
  });

  it('a Running run (a parallel stage doomed by this job) only gets the counters', () => {
    const r = run(
      [
        stage(1, {
          status: 'Running',
          execution_type: 'parallel',
          cursor: 3,
          launched: 3,
          finished: 1,
          total: 3,
          failed: 1,
        }),
      ],
      {
        failed_jobs: [failure('1.2')],
      },
    );
    const p = plan(planSetOk(r, job('1.2', { execution_status: 'Failed', counted: true }), req(), AT));
    expect(p.run).toMatchObject({ status: 'Running', reopens: false, generation: 0 });
    expect(p.revive).toBeNull();
    expect(applyJobAction(r, p).stages[0]).toMatchObject({ failed: 0, completed: 1, status: 'Running' });
  });

  it('a Failed run whose stage has another failure gets the counters but does not reopen', () => {
    const r = run(
      [
        stage(1, {
          status: 'Failed',
          execution_type: 'parallel',
          cursor: 2,
          launched: 2,
          finished: 2,
          total: 2,
          failed: 2,
        }),
      ],
      { execution_status: 'Failed', execution_end_ts: T0, failed_jobs: [failure('1.1'), failure('1.2')] },
    );
    const p = plan(planSetOk(r, job('1.1', { execution_status: 'Failed', counted: true }), req(), AT));
    const after = applyJobAction(r, p);
    expect(after.execution_status).toBe('Failed');
    expect(after.execution_end_ts).toBe(T0);
    expect(after.stages[0]).toMatchObject({ status: 'Failed', failed: 1, completed: 1 });
    expect(after.failed_jobs.map((f) => f.job_key)).toEqual(['1.2']);
    // The second set-ok then continues the run.
    const p2 = plan(
      planSetOk(
        after,
        job('1.2', { execution_status: 'Failed', counted: true }),
        req({ action_id: 'req-2' }),
        AT,
      ),
    );
    const after2 = applyJobAction(after, p2);
    expect(after2).toMatchObject({ execution_status: 'Running', generation: 1 });
    expect(after2.operator_action_count).toBe(2);
    expectConsistent(after2);
  });

  it('refuses, naming the problem: a job that is not Failed/TimedOut, another attempt, a restarted run', () => {
    const { run: r, failed } = failedRun();
    expect(refusal(() => planSetOk(r, { ...failed, execution_status: 'Completed' }, req(), AT))).toEqual({
      reason: 'NotAllowed',
      message: 'job 2.1 is Completed: only a Failed or TimedOut job can be set OK',
    });
    expect(
      refusal(() => planSetOk(r, job('2.2', { execution_status: 'Skipped', counted: true }), req(), AT))
        .reason,
    ).toBe('NotAllowed');
    expect(refusal(() => planSetOk(r, { ...failed, attempt: 2 }, req(), AT)).message).toBe(
      'job 2.1 is at attempt 2, not 1: the request is about an attempt that is over',
    );
    expect(refusal(() => planSetOk({ ...r, restarted_as: 'wf-2' }, failed, req(), AT))).toEqual({
      reason: 'RestartedAlready',
      message: 'run wf-1 was restarted as wf-2: set OK there instead',
    });
    expect(refusal(() => planSetOk(r, { ...failed, workflow_execution_id: 'other' }, req(), AT)).reason).toBe(
      'NoSuchJob',
    );
  });

  it('an outcome the aggregator has not counted yet is a retriable error, not a refusal', () => {
    const { run: r, failed } = failedRun();
    expect(() => planSetOk(r, { ...failed, counted: false }, req(), AT)).toThrow(JobNotCountedYet);
  });
});

describe('planRerun', () => {
  const completedRun = () =>
    run(
      [
        stage(1, {
          status: 'Completed',
          cursor: 2,
          launched: 2,
          finished: 2,
          total: 2,
          completed: 2,
          finished_at: T0,
        }),
        stage(2, {
          status: 'Completed',
          cursor: 1,
          launched: 1,
          finished: 1,
          total: 1,
          completed: 1,
          finished_at: T0,
        }),
      ],
      { execution_status: 'Completed', execution_end_ts: T0, current_stage: 2 },
    );
  const done = job('1.2', {
    execution_status: 'Completed',
    counted: true,
    exit_code: 0,
    instance_id: 'i-1',
    execution_start_ts: T0,
    execution_end_ts: T0,
    log_location: '/logs/1.2/a1',
  });

  it('runs one job of a Completed run again as attempt 2; the run reopens in that stage', () => {
    const r = completedRun();
    const p = plan(planRerun(r, done, req({ reason: null }), AT));
    expect(p.job.expect).toEqual({ attempt: 1, statuses: ['Completed'], counted: true });
    expect(p.job.set).toMatchObject({
      execution_status: 'Pending',
      attempt: 2,
      counted: false,
      not_before: null,
      instance_id: null,
      exit_code: null,
      log_location: null,
    });
    expect(p.job.set.previous_attempts).toEqual([
      {
        attempt: 1,
        execution_status: 'Completed',
        execution_start_ts: T0,
        execution_end_ts: T0,
        exit_code: 0,
        error_message: null,
        instance_id: 'i-1',
        ssm_command_id: null,
        log_location: '/logs/1.2/a1',
      },
    ]);
    expect(p.revive).toBeNull();
    const after = applyJobAction(r, p);
    expect(after).toMatchObject({
      execution_status: 'Running',
      execution_end_ts: null,
      generation: 1,
      current_stage: 1,
    });
    expect(after.stages[0]).toMatchObject({
      status: 'Running',
      finished_at: null,
      launched: 2,
      finished: 1,
      completed: 1,
    });
    expect(after.stages[0]!.launched - after.stages[0]!.finished).toBe(1); // one job in flight again
    expect(after.stages[1]).toEqual(r.stages[1]);
    expect(after.operator_actions?.[0]).toMatchObject({
      action: 'rerun',
      attempt: 1,
      previous_status: 'Completed',
      reason: null,
    });
    expectConsistent(after);
  });

  it('a duplicate never reruns twice: the same request plans nothing, an old attempt is refused', () => {
    const r = completedRun();
    const p = plan(planRerun(r, done, req(), AT));
    const after = applyJobAction(r, p);
    const j = applyJobActionToJob(done, p);
    expect(planRerun(after, j, req(), AT)).toBe('already-applied');
    expect(applyJobAction(after, p)).toBe(after);
    // Another request id about attempt 1 (e.g. sent twice by two operators) is refused by attempt.
    expect(refusal(() => planRerun(after, j, req({ action_id: 'req-9' }), AT)).reason).toBe('NotAllowed');
  });

  it('a rerun of the failed job of a Failed run takes the failure away and revives what it skipped', () => {
    const { run: r, failed } = failedRun();
    const p = plan(planRerun(r, failed, req(), AT));
    expect(p.revive).toEqual({ fromStage: 2, reason: 'not started: stage 2 failed' });
    const after = applyJobAction(r, p);
    expect(after.stages[1]).toMatchObject({
      status: 'Running',
      launched: 1,
      finished: 0,
      failed: 0,
      skipped: 0,
    });
    expect(after.stages[2]).toMatchObject({ status: 'Pending', skipped: 0 });
    expect(after).toMatchObject({
      execution_status: 'Running',
      generation: 1,
      current_stage: 2,
      failed_jobs: [],
    });
    expectConsistent(after);
  });

  it('a rerun of an earlier stage of a Failed run keeps the later failure (the run ends Failed again)', () => {
    const { run: r } = failedRun();
    const first = job('1.1', { execution_status: 'Completed', counted: true });
    const after = applyJobAction(r, plan(planRerun(r, first, req(), AT)));
    expect(after.current_stage).toBe(1);
    expect(after.stages[1]).toEqual(r.stages[1]);
    expect(after.stages[2]).toEqual(r.stages[2]);
    expect(after.failed_jobs).toEqual(r.failed_jobs);
  });

  it('refuses a Running or Cancelled run, a Skipped or unfinished job, with the reason', () => {
    const r = completedRun();
    expect(refusal(() => planRerun({ ...r, execution_status: 'Running' }, done, req(), AT)).message).toBe(
      'run wf-1 is still Running: rerun a job once the run has ended',
    );
    expect(
      refusal(() => planRerun({ ...r, execution_status: 'Cancelled' }, done, req(), AT)).message,
    ).toMatch(/was Cancelled: restart it/);
    expect(refusal(() => planRerun(r, { ...done, execution_status: 'Skipped' }, req(), AT)).message).toBe(
      'job 1.2 never ran (Skipped): there is nothing to rerun',
    );
    expect(refusal(() => planRerun(r, { ...done, execution_status: 'Running' }, req(), AT)).message).toBe(
      'job 1.2 is Running: only a finished job can be rerun',
    );
    expect(() => planRerun(r, { ...done, counted: false }, req(), AT)).toThrow(JobNotCountedYet);
  });
});

describe('planBypass', () => {
  it('a job not launched yet joins pre_skipped; the stage then completes without it', () => {
    const r = run([stage(1, { status: 'Running', cursor: 1, launched: 1, finished: 0, total: 2 })]);
    const p = plan(planBypass(r, job('1.2'), req({ reason: 'not needed today' }), AT));
    expect(p.job.expect).toEqual({ attempt: 1, statuses: ['Pending'], counted: false, instanceId: null });
    expect(p.job.set).toMatchObject({
      execution_status: 'Skipped',
      skip_reason: 'bypassed: not needed today',
      counted: true,
    });
    const after = applyJobAction(r, p);
    expect(after.stages[0]).toMatchObject({ pre_skipped: 1, skipped: 1, finished: 0, status: 'Running' });
    expect(after.execution_status).toBe('Running');
    expectConsistent(after);
  });

  it('bypassing every job of a Pending stage makes the stage Skipped', () => {
    const r = run([
      stage(1, { status: 'Running', cursor: 1, launched: 1, total: 1 }),
      stage(2, { status: 'Pending', total: 1 }),
    ]);
    const after = applyJobAction(r, plan(planBypass(r, job('2.1'), req(), AT)));
    expect(after.stages[1]).toMatchObject({ status: 'Skipped', pre_skipped: 1, skipped: 1 });
  });

  it('a launched job not started (Queued, e.g. waiting for a pool) counts as finished and skipped', () => {
    const r = run([
      stage(1, { status: 'Running', execution_type: 'parallel', cursor: 2, launched: 2, total: 2 }),
    ]);
    const q = job('1.2', { execution_status: 'Queued', waiting_for: 'pool:wlm' });
    const p = plan(planBypass(r, q, req(), AT));
    expect(p.job.expect).toEqual({ attempt: 1, statuses: ['Queued'], counted: false, instanceId: null });
    expect(p.job.set.waiting_for).toBeNull();
    expect(applyJobAction(r, p).stages[0]).toMatchObject({ finished: 1, skipped: 1, pre_skipped: 0 });
  });

  it('a retry waiting as Pending attempt 2 counts as finished too', () => {
    const r = run([stage(1, { status: 'Running', cursor: 1, launched: 1, total: 1 })]);
    const p = plan(planBypass(r, job('1.1', { attempt: 2 }), req({ attempt: 2 }), AT));
    expect(p.stages).toEqual([{ stage: 1, delta: { finished: 1, skipped: 1 } }]);
  });

  it('a job a Failed run left never started is relabelled and leaves the revive (moves into pre_skipped)', () => {
    const { run: r, failed } = failedRun();
    const skipped = job('2.2', {
      execution_status: 'Skipped',
      skip_reason: 'not started: stage 2 failed',
      counted: true,
    });
    const p = plan(planBypass(r, skipped, req(), AT));
    expect(p.job.expect).toEqual({ attempt: 1, statuses: ['Skipped'], counted: true });
    const bypassed = applyJobAction(r, p);
    expect(bypassed.stages[1]).toMatchObject({ pre_skipped: 1, skipped: 2, status: 'Failed' });
    expect(bypassed.execution_status).toBe('Failed');
    // Then set-ok continues the run and only 2.3 comes back (2.2 stays bypassed).
    const after = applyJobAction(
      bypassed,
      plan(planSetOk(bypassed, failed, req({ action_id: 'req-2' }), AT)),
    );
    expect(after.stages[1]).toMatchObject({
      status: 'Running',
      pre_skipped: 1,
      skipped: 1,
      completed: 1,
      failed: 0,
    });
    expect(after.stages[1]!.total - after.stages[1]!.pre_skipped - after.stages[1]!.launched).toBe(1);
    expectConsistent(after);
  });

  it('applying the same bypass twice changes nothing; a duplicate request plans nothing', () => {
    const r = run([stage(1, { status: 'Running', cursor: 1, launched: 1, total: 2 })]);
    const j = job('1.2');
    const p = plan(planBypass(r, j, req(), AT));
    const once = applyJobAction(r, p);
    expect(applyJobAction(once, p)).toBe(once);
    expect(planBypass(once, applyJobActionToJob(j, p), req(), AT)).toBe('already-applied');
  });

  it('refuses a job that has started or ended, one skipped already, a finished run, no reason', () => {
    const r = run([stage(1, { status: 'Running', cursor: 1, launched: 1, total: 2 })]);
    for (const s of ['Dispatched', 'Running', 'Completed', 'Failed'] as const) {
      expect(refusal(() => planBypass(r, job('1.1', { execution_status: s }), req(), AT)).message).toBe(
        `job 1.1 has started (${s}): only a job that has not started can be bypassed`,
      );
    }
    expect(
      refusal(() =>
        planBypass(r, job('1.2', { execution_status: 'Skipped', skip_reason: 'bypassed: x' }), req(), AT),
      ),
    ).toEqual({ reason: 'NotAllowed', message: 'job 1.2 is Skipped already (bypassed: x)' });
    expect(
      refusal(() => planBypass({ ...r, execution_status: 'Completed' }, job('1.2'), req(), AT)).message,
    ).toMatch(/^run wf-1 is Completed: only a job of a Running run/);
    expect(refusal(() => planBypass(r, job('1.2'), req({ reason: null }), AT)).message).toBe(
      'a bypass needs a reason (--reason TEXT)',
    );
  });
});

describe('operator action history', () => {
  it('keeps the last 20 actions on a job and the last 50 on a run, counting all of them', () => {
    const old = {
      action_id: 'x',
      action: 'rerun' as const,
      job_key: '1.1',
      attempt: 1,
      previous_status: 'Completed',
      reason: null,
      requested_by: 'u',
      requested_at: T0,
      applied_at: T0,
    };
    const history = Array.from({ length: 50 }, (_, i) => ({ ...old, action_id: `old-${i}` }));
    const r = run([stage(1, { status: 'Running', cursor: 1, launched: 1, total: 2 })], {
      operator_actions: history,
      operator_action_count: 70,
    });
    const j = job('1.2', { operator_actions: history.slice(0, 20) });
    const p = plan(planBypass(r, j, req(), AT));
    expect(p.job.set.operator_actions).toHaveLength(20);
    expect(p.job.set.operator_actions?.at(-1)?.action_id).toBe('req-1');
    const after = applyJobAction(r, p);
    expect(after.operator_actions).toHaveLength(50);
    expect(after.operator_actions?.[0]?.action_id).toBe('old-1');
    expect(after.operator_action_count).toBe(71);
  });
});

/** What the planner and the aggregator do to the counters when one job of `stage` runs and is counted. */
function runOne(
  r: WorkflowRunState,
  stageNo: number,
  outcome: 'completed' | 'failed',
  launch: boolean,
): WorkflowRunState {
  const stages = r.stages.map((s) => ({ ...s }));
  const s = stages[stageNo - 1];
  if (!s) throw new Error(`no stage ${stageNo}`);
  if (launch) {
    s.cursor += 1;
    s.launched += 1;
  }
  s.finished += 1;
  s[outcome] += 1;
  return { ...r, stages, counts: totalCounts(stages) };
}

/** What advance() does once the stage's counters say it is over: the completion and its events. */
function finishStage(r: WorkflowRunState, stageNo: number, at: string) {
  const st = r.stages[stageNo - 1];
  if (!st) throw new Error(`no stage ${stageNo}`);
  const o = stageOutcome(st, r.cancel_requested);
  if (!o.done) throw new Error(`stage ${stageNo} is not over`);
  const c = planStageCompletion(r, stageNo, o.status, at);
  const events = completionEvents(r, c);
  return { c, after: applyStageCompletion(r, c), events };
}

const LATER = '2024-05-01T11:05:00.000Z';

describe('a reopened run ends again (planStageCompletion over operator-plan)', () => {
  it('set-ok of the failed job: the run goes on and ends Completed, its endings carry :g1', () => {
    const { run: r, failed } = failedRun();
    let cur = applyJobAction(r, plan(planSetOk(r, failed, req(), AT)));
    cur = runOne(runOne(cur, 2, 'completed', true), 2, 'completed', true);
    const two = finishStage(cur, 2, LATER);
    expect(two.c).toMatchObject({ nextStage: 3, runStatus: null });
    expect(two.events.map((e) => e.detail.event_id)).toEqual([
      'StageCompleted:wf-1:2:g1',
      'StageReady:wf-1:3:start',
    ]);
    expect(two.events[0]?.detail).toMatchObject({ generation: 1, status: 'Completed' });
    cur = runOne(runOne(two.after, 3, 'completed', true), 3, 'completed', true);
    const three = finishStage(cur, 3, LATER);
    expect(three.c.runStatus).toBe('Completed');
    expect(three.events.map((e) => e.detail.event_id)).toEqual([
      'StageCompleted:wf-1:3:g1',
      'WorkflowFinished:wf-1:g1',
    ]);
    expect(three.events[1]?.detail).toMatchObject({
      status: 'Completed',
      failed_stage: null,
      failed_jobs: [],
      generation: 1,
      counts: { total: 6, completed: 6, failed: 0, skipped: 0 },
    });
    expect(three.after).toMatchObject({ execution_status: 'Completed', execution_end_ts: LATER });
    expectConsistent(three.after);
  });

  it('a rerun in an earlier stage of a run that Failed later ends Failed, naming the stage that failed', () => {
    const { run: r } = failedRun();
    const first = job('1.1', { execution_status: 'Completed', counted: true });
    const reopened = applyJobAction(r, plan(planRerun(r, first, req(), AT)));
    const done = finishStage(runOne(reopened, 1, 'completed', false), 1, LATER);
    // Stage 1 is the last stage to run (2 Failed, 3 Skipped stay): without the recompute the run
    // would end Completed with a job Failed in it.
    expect(done.c).toMatchObject({
      nextStage: null,
      runStatus: 'Failed',
      skippedByStage: {},
      endedStages: [],
    });
    expect(done.after).toMatchObject({ execution_status: 'Failed', execution_end_ts: LATER, generation: 1 });
    expect(done.after.stages.map((s) => s.status)).toEqual(['Completed', 'Failed', 'Skipped']);
    expect(done.events.map((e) => e.detail.event_id)).toEqual([
      'StageCompleted:wf-1:1:g1',
      'WorkflowFinished:wf-1:g1',
    ]);
    expect(done.events[1]?.detail).toMatchObject({
      status: 'Failed',
      failed_stage: 2,
      failed_jobs: [failure('2.1')],
      generation: 1,
    });
    expectConsistent(done.after);
  });

  it('a rerun of a Completed run that completes ends Completed again under :g1', () => {
    const { run: r } = failedRun();
    const ok = run(
      r.stages.map((s) =>
        s.stage === 1
          ? s
          : {
              ...s,
              status: 'Completed' as const,
              launched: s.total,
              cursor: s.total,
              finished: s.total,
              completed: s.total,
              failed: 0,
              skipped: 0,
            },
      ),
      { execution_status: 'Completed', execution_end_ts: T0, current_stage: 3 },
    );
    const j = job('2.2', { execution_status: 'Completed', counted: true });
    const reopened = applyJobAction(ok, plan(planRerun(ok, j, req(), AT)));
    const done = finishStage(runOne(reopened, 2, 'completed', false), 2, LATER);
    expect(done.c).toMatchObject({ nextStage: null, runStatus: 'Completed' });
    expect(done.events.map((e) => e.detail.event_id)).toEqual([
      'StageCompleted:wf-1:2:g1',
      'WorkflowFinished:wf-1:g1',
    ]);
    expect(done.after.counts).toEqual(ok.counts);
  });

  it('set-ok after a failed rerun in an earlier stage does not revive the stages behind the other failure', () => {
    const { run: r } = failedRun();
    const first = job('1.1', { execution_status: 'Completed', counted: true });
    const rerun = plan(planRerun(r, first, req(), AT));
    // The rerun fails: stage 1 and stage 2 are both Failed, the run Failed in stage 1 (generation 1).
    const failedAgain = finishStage(runOne(applyJobAction(r, rerun), 1, 'failed', false), 1, LATER).after;
    expect(failedAgain.stages.map((s) => s.status)).toEqual(['Failed', 'Failed', 'Skipped']);
    expect(failedAgain).toMatchObject({ execution_status: 'Failed', current_stage: 1, generation: 1 });
    const firstAgain: JobAuditRecord = {
      ...applyJobActionToJob(first, rerun),
      execution_status: 'Failed',
      counted: true,
    };
    expect(firstAgain.attempt).toBe(2);
    const setOk = plan(planSetOk(failedAgain, firstAgain, req({ action_id: 'req-2', attempt: 2 }), LATER));
    const reopened = applyJobAction(failedAgain, setOk);
    // Stage 1 reopens; stage 2 stays Failed and stage 3 stays Skipped (its jobs never ran: stage 2 failed).
    expect(reopened.stages.map((s) => s.status)).toEqual(['Running', 'Failed', 'Skipped']);
    expect(reopened.generation).toBe(2);
    expectConsistent(reopened);
    const done = finishStage(reopened, 1, LATER);
    expect(done.c).toMatchObject({ nextStage: null, runStatus: 'Failed' });
    expect(done.events.map((e) => e.detail.event_id)).toEqual([
      'StageCompleted:wf-1:1:g2',
      'WorkflowFinished:wf-1:g2',
    ]);
    expect(done.events[1]?.detail).toMatchObject({ failed_stage: 2 });
  });
});
