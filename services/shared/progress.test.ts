import { describe, expect, it } from 'vitest';
import type { FailedJobSummary, StageProgress, WorkflowAuditRecord } from '../../contracts/audit.js';
import { EVENT_SCHEMAS } from '../../contracts/events.js';
import {
  applyStageCompletion,
  completionEvents,
  inFlight,
  planStageCompletion,
  stageCompletedEvent,
  stageOutcome,
  stageReadyEvent,
  totalCounts,
  workflowFinishedEvent,
} from './progress.js';

function stage(n: number, over: Partial<StageProgress> = {}): StageProgress {
  return {
    stage: n,
    stage_description: null,
    execution_type: 'parallel',
    enabled: true,
    max_concurrency: null,
    status: 'Pending',
    started_at: null,
    finished_at: null,
    cursor: 0,
    launched: 0,
    finished: 0,
    pre_skipped: 0,
    total: 4,
    completed: 0,
    failed: 0,
    timed_out: 0,
    cancelled: 0,
    skipped: 0,
    ...over,
  };
}

function run(stages: StageProgress[], over: Partial<WorkflowAuditRecord> = {}): WorkflowAuditRecord {
  return {
    workflow_execution_id: 'exec-1',
    workflow_id: 'wf',
    execution_start_ts: '2024-01-01T00:00:00.000Z',
    execution_end_ts: null,
    execution_status: 'Running',
    rsql_jobs: [],
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

const AT = '2024-01-01T00:10:00.000Z';

describe('inFlight', () => {
  it('counts launched jobs not yet finally counted', () => {
    expect(inFlight(stage(1, { launched: 5, finished: 2 }))).toBe(3);
    expect(inFlight(stage(1, { launched: 2, finished: 2 }))).toBe(0);
  });
});

describe('stageOutcome', () => {
  it('can launch while jobs remain after the cursor', () => {
    expect(stageOutcome(stage(1, { cursor: 2, launched: 2, finished: 1, completed: 1 }), false)).toEqual({
      done: false,
      canLaunch: true,
    });
  });

  it('cannot launch once the cursor passed every job, and waits for the ones in flight', () => {
    expect(stageOutcome(stage(1, { cursor: 4, launched: 4, finished: 3, completed: 3 }), false)).toEqual({
      done: false,
      canLaunch: false,
    });
  });

  it('completes when every job finished or was skipped from the start', () => {
    const st = stage(1, { cursor: 4, launched: 3, finished: 3, completed: 3, pre_skipped: 1, skipped: 1 });
    expect(stageOutcome(st, false)).toEqual({ done: true, status: 'Completed' });
  });

  it('stops launching after a failure and fails once nothing is in flight', () => {
    const busy = stage(1, { cursor: 2, launched: 2, finished: 1, failed: 1 });
    expect(stageOutcome(busy, false)).toEqual({ done: false, canLaunch: false });
    const idle = stage(1, { cursor: 2, launched: 2, finished: 2, failed: 1, completed: 1 });
    expect(stageOutcome(idle, false)).toEqual({ done: true, status: 'Failed' });
  });

  it('treats timed-out and cancelled jobs as failures', () => {
    expect(stageOutcome(stage(1, { cursor: 1, launched: 1, finished: 1, timed_out: 1 }), false)).toEqual({
      done: true,
      status: 'Failed',
    });
    expect(stageOutcome(stage(1, { cursor: 1, launched: 1, finished: 1, cancelled: 1 }), false)).toEqual({
      done: true,
      status: 'Failed',
    });
  });

  it('on cancel launches nothing and ends Cancelled once idle, even after a failure', () => {
    expect(stageOutcome(stage(1, { cursor: 1, launched: 1 }), true)).toEqual({
      done: false,
      canLaunch: false,
    });
    expect(stageOutcome(stage(1, { cursor: 1, launched: 1, finished: 1, failed: 1 }), true)).toEqual({
      done: true,
      status: 'Cancelled',
    });
    expect(stageOutcome(stage(1), true)).toEqual({ done: true, status: 'Cancelled' });
  });
});

describe('totalCounts', () => {
  it('sums every stage counter', () => {
    const c = totalCounts([
      stage(1, { total: 2, completed: 1, failed: 1 }),
      stage(2, { total: 3, skipped: 2, timed_out: 1 }),
      stage(3, { total: 1, cancelled: 1 }),
    ]);
    expect(c).toEqual({ total: 6, completed: 1, failed: 1, timed_out: 1, cancelled: 1, skipped: 2 });
  });
});

describe('planStageCompletion', () => {
  it('starts the next stage that has work, passing over stages skipped from the start', () => {
    const r = run([
      stage(1, { status: 'Running', cursor: 4, launched: 4, finished: 4, completed: 4 }),
      stage(2, { status: 'Skipped', pre_skipped: 4, skipped: 4 }),
      stage(3),
    ]);
    const c = planStageCompletion(r, 1, 'Completed', AT);
    expect(c).toMatchObject({
      stage: 1,
      status: 'Completed',
      nextStage: 3,
      runStatus: null,
      skippedByStage: {},
    });
    expect(c.endedStages).toEqual([]);
  });

  it('ends the run Completed after the last stage', () => {
    const r = run([stage(1, { status: 'Completed' }), stage(2, { status: 'Running' })], { current_stage: 2 });
    expect(planStageCompletion(r, 2, 'Completed', AT)).toMatchObject({
      nextStage: null,
      runStatus: 'Completed',
    });
  });

  it('on failure skips the jobs never launched here and every job of the later stages', () => {
    const r = run([
      stage(1, {
        status: 'Running',
        total: 6,
        pre_skipped: 1,
        skipped: 1,
        cursor: 3,
        launched: 2,
        finished: 2,
      }),
      stage(2, { total: 3 }),
      stage(3, { status: 'Skipped', total: 2, pre_skipped: 2, skipped: 2 }),
      stage(4, { total: 5, pre_skipped: 1, skipped: 1 }),
    ]);
    const c = planStageCompletion(r, 1, 'Failed', AT);
    expect(c.runStatus).toBe('Failed');
    expect(c.nextStage).toBeNull();
    expect(c.skippedByStage).toEqual({ 1: 3, 2: 3, 4: 4 });
    expect(c.endedStages).toEqual([
      { stage: 2, status: 'Skipped' },
      { stage: 4, status: 'Skipped' },
    ]);
  });
});

describe('applyStageCompletion', () => {
  it('moves the run to the next stage', () => {
    const r = run([
      stage(1, { status: 'Running', completed: 4, finished: 4, launched: 4, cursor: 4 }),
      stage(2),
    ]);
    const after = applyStageCompletion(r, planStageCompletion(r, 1, 'Completed', AT));
    expect(after.stages.map((s) => s.status)).toEqual(['Completed', 'Running']);
    expect(after.stages[0]?.finished_at).toBe(AT);
    expect(after.stages[1]?.started_at).toBe(AT);
    expect(after.current_stage).toBe(2);
    expect(after.execution_status).toBe('Running');
    expect(after.execution_end_ts).toBeNull();
  });

  it('ends the run on failure with every job accounted for', () => {
    const r = run([
      stage(1, { status: 'Running', cursor: 2, launched: 2, finished: 2, failed: 1, completed: 1 }),
      stage(2, { total: 3 }),
    ]);
    const after = applyStageCompletion(r, planStageCompletion(r, 1, 'Failed', AT));
    expect(after.execution_status).toBe('Failed');
    expect(after.execution_end_ts).toBe(AT);
    expect(after.current_stage).toBe(1);
    expect(after.stages.map((s) => s.status)).toEqual(['Failed', 'Skipped']);
    expect(after.counts).toEqual({
      total: 7,
      completed: 1,
      failed: 1,
      timed_out: 0,
      cancelled: 0,
      skipped: 5,
    });
  });

  it('does not change the run it was given', () => {
    const r = run([stage(1, { status: 'Running' }), stage(2)]);
    const before = structuredClone(r);
    applyStageCompletion(r, planStageCompletion(r, 1, 'Failed', AT));
    expect(r).toEqual(before);
  });
});

describe('completionEvents', () => {
  it('emits StageCompleted and StageReady for the next stage, with deterministic ids', () => {
    const r = run([
      stage(1, { status: 'Running', completed: 4, finished: 4, launched: 4, cursor: 4 }),
      stage(2),
    ]);
    const events = completionEvents(r, planStageCompletion(r, 1, 'Completed', AT));
    expect(events.map((e) => [e.detailType, e.detail.event_id])).toEqual([
      ['StageCompleted', 'StageCompleted:exec-1:1'],
      ['StageReady', 'StageReady:exec-1:2:start'],
    ]);
    expect(events[0]?.detail).toMatchObject({ status: 'Completed', counts: { total: 4, completed: 4 } });
    for (const e of events) expect(EVENT_SCHEMAS[e.detailType].safeParse(e.detail).success).toBe(true);
  });

  it('emits WorkflowFinished naming the failed stage and the failed jobs', () => {
    const failure: FailedJobSummary = {
      job_key: '2.1',
      job_name: 'b.sh',
      status: 'Failed',
      exit_code: 3,
      error_message: 'boom',
      log_location: null,
    };
    const r = run(
      [
        stage(1, { status: 'Completed', completed: 4, finished: 4, launched: 4, cursor: 4 }),
        stage(2, { status: 'Running', cursor: 1, launched: 1, finished: 1, failed: 1 }),
      ],
      { current_stage: 2, failed_jobs: [failure] },
    );
    const events = completionEvents(r, planStageCompletion(r, 2, 'Failed', AT));
    expect(events.map((e) => e.detailType)).toEqual(['StageCompleted', 'WorkflowFinished']);
    const wf = events[1];
    expect(wf?.detailType === 'WorkflowFinished' && wf.detail).toMatchObject({
      event_id: 'WorkflowFinished:exec-1',
      status: 'Failed',
      failed_stage: 2,
      failed_jobs: [failure],
      duration_ms: 600_000,
      counts: { total: 8, completed: 4, failed: 1, skipped: 3 },
    });
    for (const e of events) expect(EVENT_SCHEMAS[e.detailType].safeParse(e.detail).success).toBe(true);
  });
});

describe('workflowFinishedEvent', () => {
  it('reports at most 10 failed jobs and no failed stage for a completed run', () => {
    const failures = Array.from({ length: 12 }, (_, i) => ({
      job_key: `1.${i + 1}`,
      job_name: `s${i}.sh`,
      status: 'Failed' as const,
      exit_code: 1,
      error_message: null,
      log_location: null,
    }));
    const r = run([stage(1, { status: 'Failed' })], {
      execution_status: 'Failed',
      execution_end_ts: '2024-01-01T00:00:05.000Z',
      failed_jobs: failures,
    });
    const e = workflowFinishedEvent(r, 1);
    expect(e.detailType === 'WorkflowFinished' && e.detail.failed_jobs.map((f) => f.job_key)).toEqual(
      failures.slice(0, 10).map((f) => f.job_key),
    );
    expect(e.detail.occurred_at).toBe('2024-01-01T00:00:05.000Z');
    const done = workflowFinishedEvent({ ...r, execution_status: 'Completed', failed_jobs: [] }, null);
    expect(done.detailType === 'WorkflowFinished' && [done.detail.status, done.detail.failed_stage]).toEqual([
      'Completed',
      null,
    ]);
  });
});

describe('stageReadyEvent', () => {
  it('gives the same id to the same cause and different ids to different causes', () => {
    const r = run([stage(1)]);
    const a = stageReadyEvent(r, 1, '1.2.a1', AT);
    const b = stageReadyEvent(r, 1, '1.2.a1', '2024-01-01T01:00:00.000Z');
    const c = stageReadyEvent(r, 1, '1.3.a1', AT);
    expect(a.detail.event_id).toBe(b.detail.event_id);
    expect(a.detail.event_id).not.toBe(c.detail.event_id);
  });
});

describe('a reopened run (generation > 0)', () => {
  const reopened = () =>
    run(
      [
        stage(1, { status: 'Running', total: 2, cursor: 2, launched: 2, finished: 2, completed: 2 }),
        stage(2, { status: 'Failed', total: 2, cursor: 1, launched: 1, finished: 1, failed: 1, skipped: 1 }),
        stage(3, { status: 'Skipped', total: 1, skipped: 1 }),
      ],
      { generation: 2 },
    );

  it('ends Failed when the last stage to run completes while another stage stands Failed', () => {
    const c = planStageCompletion(reopened(), 1, 'Completed', AT);
    expect(c).toMatchObject({ nextStage: null, runStatus: 'Failed', skippedByStage: {}, endedStages: [] });
    // A Skipped or Completed other stage does not fail it.
    const ok = reopened();
    ok.stages[1] = stage(2, {
      status: 'Completed',
      total: 2,
      cursor: 2,
      launched: 2,
      finished: 2,
      completed: 2,
    });
    expect(planStageCompletion(ok, 1, 'Completed', AT).runStatus).toBe('Completed');
  });

  it('gives StageCompleted and WorkflowFinished a :g<n> id and the generation; n = 0 keeps both as before', () => {
    const r = reopened();
    const events = completionEvents(r, planStageCompletion(r, 1, 'Completed', AT));
    expect(events.map((e) => [e.detailType, e.detail.event_id])).toEqual([
      ['StageCompleted', 'StageCompleted:exec-1:1:g2'],
      ['WorkflowFinished', 'WorkflowFinished:exec-1:g2'],
    ]);
    expect(events.map((e) => 'generation' in e.detail && e.detail.generation)).toEqual([2, 2]);
    expect(events[1]?.detail).toMatchObject({ status: 'Failed', failed_stage: 2 });
    for (const e of events) expect(EVENT_SCHEMAS[e.detailType].parse(e.detail)).toEqual(e.detail);

    const zero = { ...r, generation: 0 };
    const plain = completionEvents(zero, planStageCompletion(zero, 1, 'Completed', AT));
    expect(plain.map((e) => e.detail.event_id)).toEqual([
      'StageCompleted:exec-1:1',
      'WorkflowFinished:exec-1',
    ]);
    for (const e of plain) expect(Object.keys(e.detail)).not.toContain('generation');
  });

  it('stageCompletedEvent is what completionEvents emits (the aggregator replays with it)', () => {
    const r = reopened();
    const c = planStageCompletion(r, 1, 'Completed', AT);
    const after = applyStageCompletion(r, c);
    expect(stageCompletedEvent(after, 1, 'Completed', AT)).toEqual(completionEvents(r, c)[0]);
  });

  it('WorkflowFinished names the stage the run ended in when that stage failed', () => {
    const r = reopened();
    r.stages[0] = stage(1, {
      status: 'Failed',
      total: 2,
      cursor: 2,
      launched: 2,
      finished: 2,
      failed: 1,
      completed: 1,
    });
    const e = workflowFinishedEvent({ ...r, execution_status: 'Failed', execution_end_ts: AT }, 1);
    expect(e.detail).toMatchObject({ failed_stage: 1, event_id: 'WorkflowFinished:exec-1:g2' });
  });
});
