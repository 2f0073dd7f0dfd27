import { describe, expect, it } from 'vitest';
import type { JobAuditRecord, JobStatus, StageProgress, WorkflowRunState } from '../../contracts/audit.js';
import {
  applyStageCompletion,
  completionEvents,
  planStageCompletion,
  totalCounts,
} from '../shared/progress.js';
import { parallel, scripts, sequential, workflow } from '../testing/fixtures.js';
import {
  compareUnderChaos,
  createSimulation,
  type Scenario,
  type Simulation,
  type SimulationOptions,
} from '../testing/in-memory.js';
import {
  isAggregatorChange,
  MAX_RETRY_BACKOFF_SECONDS,
  replayCompletion,
  retryDelaySeconds,
} from './service.js';

async function expectSameUnderChaos(
  opts: SimulationOptions,
  scenario: Scenario,
  execs: string[],
): Promise<Simulation> {
  const { clean, differences } = await compareUnderChaos(opts, scenario, execs);
  expect(differences).toEqual([]);
  return clean;
}

const startRun =
  (workflowId: string, exec = 'r1'): Scenario =>
  async (sim) => {
    sim.request({ workflow_id: workflowId, workflow_execution_id: exec });
    await sim.runUntilIdle();
  };

const statuses = (sim: Simulation, exec = 'r1') => sim.jobs(exec).map((j) => [j.job_key, j.execution_status]);

describe('isAggregatorChange', () => {
  const row = (execution_status: JobStatus, attempt = 1, counted = false) => ({
    execution_status,
    attempt,
    counted,
  });

  it('selects uncounted final outcomes and retries, nothing else', () => {
    for (const s of ['Completed', 'Failed', 'TimedOut', 'Cancelled'] as const) {
      expect(isAggregatorChange(row(s)), s).toBe(true);
      expect(isAggregatorChange(row(s, 1, true)), `${s} counted`).toBe(false);
    }
    for (const s of ['Pending', 'Queued', 'Dispatched', 'Running', 'Skipped'] as const) {
      expect(isAggregatorChange(row(s)), s).toBe(false);
    }
    expect(isAggregatorChange(row('Pending', 2))).toBe(true);
    expect(isAggregatorChange(row('Queued', 2))).toBe(false);
  });
});

describe('retryDelaySeconds', () => {
  it('grows by the backoff rate per attempt and is capped', () => {
    const job = { retry_backoff_seconds: 30, retry_backoff_rate: 2 };
    expect([1, 2, 3].map((a) => retryDelaySeconds(job, a))).toEqual([30, 60, 120]);
    expect(retryDelaySeconds(job, 10)).toBe(MAX_RETRY_BACKOFF_SECONDS);
    expect(retryDelaySeconds({ retry_backoff_seconds: 10, retry_backoff_rate: 1.5 }, 2)).toBe(15);
  });
});

describe('aggregator: failure stops the workflow', () => {
  it('sequential: the later jobs of the stage and the later stages never start', async () => {
    const wf = workflow('wf', [sequential(['a.sh', 'b.sh', 'c.sh']), parallel(['d.sh', 'e.sh'])]);
    const clean = await expectSameUnderChaos(
      { definitions: [wf] },
      async (sim) => {
        sim.script('b.sh', { outcome: 'fail', exitCode: 3, message: 'ERROR: relation "x" does not exist' });
        await startRun('wf')(sim);
      },
      ['r1'],
    );
    expect(clean.intervals('r1').map((i) => [i.job_key, i.status])).toEqual([
      ['1.1', 'Completed'],
      ['1.2', 'Failed'],
    ]);
    expect(clean.jobs('r1').map((j) => [j.job_key, j.execution_status, j.skip_reason])).toEqual([
      ['1.1', 'Completed', null],
      ['1.2', 'Failed', null],
      ['1.3', 'Skipped', 'not started: stage 1 failed'],
      ['2.1', 'Skipped', 'not started: stage 1 failed'],
      ['2.2', 'Skipped', 'not started: stage 1 failed'],
    ]);
    expect(clean.eventsOf('StageCompleted')).toMatchObject([
      { stage: 1, status: 'Failed', counts: { total: 3, completed: 1, failed: 1, skipped: 1 } },
    ]);
    expect(clean.eventsOf('StageReady').map((e) => e.stage)).not.toContain(2);
    const [finished] = clean.eventsOf('WorkflowFinished');
    expect(finished).toMatchObject({
      status: 'Failed',
      failed_stage: 1,
      counts: { total: 5, completed: 1, failed: 1, timed_out: 0, cancelled: 0, skipped: 3 },
      failed_jobs: [
        {
          job_key: '1.2',
          job_name: 'b.sh',
          status: 'Failed',
          exit_code: 3,
          error_message: 'ERROR: relation "x" does not exist',
          log_location: '/ops/rsql-logs/r1/1.2.a1',
        },
      ],
    });
    expect(finished?.duration_ms).toBe(20_000);
    expect(clean.run('r1')).toMatchObject({ execution_status: 'Failed', current_stage: 1 });
    expect(clean.run('r1')?.stages.map((s) => s.status)).toEqual(['Failed', 'Skipped']);
  });

  it('parallel: jobs in flight finish, pending ones never start, later stages never start', async () => {
    const wf = workflow('wf', [
      parallel(['a.sh', 'b.sh', 'c.sh', 'd.sh', 'e.sh'], { maxConcurrency: 3 }),
      sequential(['f.sh']),
    ]);
    const clean = await expectSameUnderChaos(
      { definitions: [wf] },
      async (sim) => {
        sim.script('a.sh', { outcome: 'fail', exitCode: 1, durationSeconds: 2 });
        sim.script('b.sh', { outcome: 'complete', durationSeconds: 30 });
        sim.script('c.sh', { outcome: 'fail', exitCode: 2, durationSeconds: 20 });
        await startRun('wf')(sim);
      },
      ['r1'],
    );
    expect(
      clean
        .intervals('r1')
        .map((i) => [i.job_key, i.start - (clean.intervals('r1')[0]?.start ?? 0), i.status]),
    ).toEqual([
      ['1.1', 0, 'Failed'],
      ['1.2', 0, 'Completed'],
      ['1.3', 0, 'Failed'],
    ]);
    expect(clean.jobs('r1').map((j) => [j.job_key, j.execution_status, j.skip_reason])).toEqual([
      ['1.1', 'Failed', null],
      ['1.2', 'Completed', null],
      ['1.3', 'Failed', null],
      ['1.4', 'Skipped', 'not started: stage 1 failed'],
      ['1.5', 'Skipped', 'not started: stage 1 failed'],
      ['2.1', 'Skipped', 'not started: stage 1 failed'],
    ]);
    const [finished] = clean.eventsOf('WorkflowFinished');
    expect(finished).toMatchObject({
      status: 'Failed',
      failed_stage: 1,
      counts: { total: 6, completed: 1, failed: 2, skipped: 3 },
    });
    expect(finished?.failed_jobs.map((f) => [f.job_key, f.exit_code])).toEqual([
      ['1.1', 1],
      ['1.3', 2],
    ]);
    // The run ends when the last job in flight (b.sh, 30 s) ended.
    expect(finished?.duration_ms).toBe(30_000);
  });
});

describe('aggregator: retries', () => {
  const wf = workflow('wf', [sequential(['a.sh', 'b.sh'])], {
    defaults: { retries: 2, retry_backoff_seconds: 20, retry_backoff_rate: 3 },
  });

  it('retries after the backoff, keeps the earlier attempts, and goes on when an attempt succeeds', async () => {
    const clean = await expectSameUnderChaos(
      { definitions: [wf] },
      async (sim) => {
        sim.script(
          { job: 'a.sh', attempt: 1 },
          { outcome: 'fail', exitCode: 4, message: 'deadlock', durationSeconds: 5 },
        );
        sim.script({ job: 'a.sh', attempt: 2 }, { outcome: 'fail', exitCode: 5, durationSeconds: 5 });
        await startRun('wf')(sim);
      },
      ['r1'],
    );
    const iv = clean.intervals('r1');
    expect(iv.map((i) => [i.job_key, i.attempt, i.status])).toEqual([
      ['1.1', 1, 'Failed'],
      ['1.1', 2, 'Failed'],
      ['1.1', 3, 'Completed'],
      ['1.2', 1, 'Completed'],
    ]);
    // 20 s after attempt 1, then 20 × 3 = 60 s after attempt 2.
    expect((iv[1]?.start ?? 0) - (iv[0]?.end ?? 0)).toBe(20_000);
    expect((iv[2]?.start ?? 0) - (iv[1]?.end ?? 0)).toBe(60_000);
    const a = clean.job('r1', '1.1') as JobAuditRecord;
    expect(a).toMatchObject({ execution_status: 'Completed', attempt: 3, exit_code: 0, error_message: null });
    expect(
      a.previous_attempts.map((p) => [p.attempt, p.execution_status, p.exit_code, p.error_message]),
    ).toEqual([
      [1, 'Failed', 4, 'deadlock'],
      [2, 'Failed', 5, 'exited with code 5'],
    ]);
    expect(a.previous_attempts[0]?.log_location).toBe('/ops/rsql-logs/r1/1.1.a1');
    expect(clean.run('r1')).toMatchObject({
      execution_status: 'Completed',
      counts: { completed: 2, failed: 0 },
    });
  });

  it('fails the run once the retries are exhausted', async () => {
    const clean = await expectSameUnderChaos(
      { definitions: [wf] },
      async (sim) => {
        sim.script('a.sh', { outcome: 'fail', exitCode: 9, durationSeconds: 1 });
        await startRun('wf')(sim);
      },
      ['r1'],
    );
    expect(clean.intervals('r1').map((i) => [i.job_key, i.attempt])).toEqual([
      ['1.1', 1],
      ['1.1', 2],
      ['1.1', 3],
    ]);
    expect(clean.job('r1', '1.1')).toMatchObject({ execution_status: 'Failed', attempt: 3 });
    expect(clean.job('r1', '1.1')?.previous_attempts).toHaveLength(2);
    expect(clean.eventsOf('WorkflowFinished')).toMatchObject([
      {
        status: 'Failed',
        counts: { failed: 1, skipped: 1 },
        failed_jobs: [{ job_key: '1.1', exit_code: 9 }],
      },
    ]);
    // One final count per job, however many attempts.
    expect(clean.run('r1')?.stages[0]).toMatchObject({ launched: 1, finished: 1 });
  });
});

describe('aggregator: timeouts', () => {
  it('ends an attempt TimedOut when the wrapper times out, killing the script', async () => {
    const wf = workflow('wf', [sequential([{ script: 'slow.sh', timeout_seconds: 90 }, 'next.sh'])]);
    const clean = await expectSameUnderChaos(
      { definitions: [wf] },
      async (sim) => {
        sim.script('slow.sh', { outcome: 'timeout' });
        await startRun('wf')(sim);
      },
      ['r1'],
    );
    expect(
      clean.intervals('r1').map((i) => [i.job_key, i.end !== null ? i.end - i.start : null, i.status]),
    ).toEqual([['1.1', 90_000, 'TimedOut']]);
    expect(clean.job('r1', '1.1')).toMatchObject({
      execution_status: 'TimedOut',
      exit_code: null,
      error_message: 'timed out after 90 s (timeout_seconds); the process tree was killed',
    });
    expect(clean.eventsOf('JobFinished', 'r1').map((e) => [e.status, e.reported_by])).toEqual([
      ['TimedOut', 'wrapper'],
    ]);
    expect(clean.wrapper.runs.get('r1--1-1--a1')?.status).toBe('TimedOut');
    expect(clean.eventsOf('WorkflowFinished')).toMatchObject([
      {
        status: 'Failed',
        counts: { timed_out: 1, skipped: 1 },
        failed_jobs: [{ job_key: '1.1', status: 'TimedOut' }],
      },
    ]);
  });

  it('retries a timed-out attempt like a failed one', async () => {
    const wf = workflow('wf', [sequential([{ script: 'slow.sh', timeout_seconds: 30, retries: 1 }])], {
      defaults: { retry_backoff_seconds: 5 },
    });
    const clean = await expectSameUnderChaos(
      { definitions: [wf] },
      async (sim) => {
        sim.script({ job: 'slow.sh', attempt: 1 }, { outcome: 'timeout' });
        await startRun('wf')(sim);
      },
      ['r1'],
    );
    expect(clean.intervals('r1').map((i) => [i.attempt, i.status])).toEqual([
      [1, 'TimedOut'],
      [2, 'Completed'],
    ]);
    expect(clean.job('r1', '1.1')?.previous_attempts.map((p) => p.execution_status)).toEqual(['TimedOut']);
    expect(clean.run('r1')?.execution_status).toBe('Completed');
  });

  it('leaves a hanging job running until the clock reaches its timeout', async () => {
    const wf = workflow('wf', [sequential([{ script: 'stuck.sh', timeout_seconds: 600 }])]);
    const clean = await expectSameUnderChaos(
      { definitions: [wf] },
      async (sim) => {
        sim.script('stuck.sh', { outcome: 'hang' });
        await startRun('wf')(sim);
        const started = sim.intervals('r1')[0]?.start ?? 0;
        expect(sim.job('r1', '1.1')?.execution_status).toBe('Running');
        await sim.advance((started + 599_000 - sim.clock.millis) / 1000);
        expect(sim.job('r1', '1.1')?.execution_status).toBe('Running');
        await sim.advance(1);
        expect(sim.job('r1', '1.1')?.execution_status).toBe('TimedOut');
        await sim.runUntilIdle();
      },
      ['r1'],
    );
    expect(clean.run('r1')?.execution_status).toBe('Failed');
  });
});

describe('aggregator: counting once', () => {
  const wf = workflow('wf', [parallel(['a.sh', 'b.sh']), sequential(['c.sh'])]);

  it('counts a repeated change record once and emits nothing new for it', async () => {
    const sim = createSimulation({ definitions: [wf] });
    const changes: JobAuditRecord[] = [];
    sim.store.onCommit((recs) => {
      for (const r of recs) if (r.kind === 'change') changes.push(r.job);
    });
    await startRun('wf')(sim);
    const before = { run: sim.run('r1'), events: sim.published.length };
    for (const c of changes) await sim.services.aggregator.handleJobChange(c);
    await sim.runUntilIdle();
    expect(sim.run('r1')).toEqual(before.run);
    expect(sim.published.length).toBe(before.events);
    expect(sim.problems()).toEqual([]);
  });

  it('does O(1) work per change: no stage scan, a bounded number of row writes', async () => {
    const wide = workflow('wide', [parallel(scripts('w', 150))]);
    const sim = createSimulation({ definitions: [wide] });
    sim.script('w150.sh', { outcome: 'hang' });
    sim.request({ workflow_id: 'wide', workflow_execution_id: 'r1' });
    // Let everything start, then count the store work of the 149 completions only.
    await sim.advance(0);
    const lists = () => (sim.store.calls.get('listStageJobs') ?? 0) + (sim.store.calls.get('listJobs') ?? 0);
    const listsBefore = lists();
    const writesBefore = sim.store.writes;
    const deliveredBefore = sim.deliveries;
    await sim.runUntilIdle();
    expect(sim.run('r1')?.counts.completed).toBe(149);
    expect(lists()).toBe(listsBefore);
    // Per completion (the starts were recorded already): JobFinished, then the count (job + run).
    expect(sim.store.writes - writesBefore).toBe(149 * 3);
    expect(sim.deliveries).toBeGreaterThan(deliveredBefore);
  });

  it('does not retry a failure once the run is being cancelled', async () => {
    const retrying = workflow('wf', [sequential(['a.sh'])], { defaults: { retries: 3 } });
    const sim = await expectSameUnderChaos(
      { definitions: [retrying] },
      async (s) => {
        s.script('a.sh', { outcome: 'hang' });
        await startRun('wf')(s);
        // The script fails on its own just after the cancel was recorded, before it was stopped.
        await s.store.runs().requestCancel('r1');
        s.finishJob('a.sh', { outcome: 'fail', exitCode: 1 });
        await s.runUntilIdle();
      },
      ['r1'],
    );
    expect(sim.job('r1', '1.1')).toMatchObject({ execution_status: 'Failed', attempt: 1, counted: true });
    expect(sim.run('r1')?.execution_status).toBe('Cancelled');
    expect(sim.intervals('r1')).toHaveLength(1);
  });
});

describe('aggregator: redelivery after a crash derives the same events', () => {
  const wf = workflow('wf', [sequential(['a.sh', 'b.sh']), parallel(['c.sh'])]);

  it('moves the run on when the count committed but the handler failed before completing the stage', async () => {
    const sim = await expectSameUnderChaos(
      { definitions: [wf] },
      async (s) => {
        s.store.injectFault({ method: 'countJob', when: 'after', times: 2 });
        await startRun('wf')(s);
      },
      ['r1'],
    );
    expect(sim.run('r1')?.execution_status).toBe('Completed');
    expect(sim.eventsOf('StageCompleted').map((e) => e.stage)).toEqual([1, 2]);
    expect(sim.eventsOf('WorkflowFinished')).toHaveLength(1);
    expect(sim.problems()).toEqual([]);
  });

  it('re-derives the WorkflowFinished it emitted when the stage completion is redelivered', async () => {
    const sim = createSimulation({ definitions: [wf] });
    sim.script('b.sh', { outcome: 'fail', exitCode: 1 });
    sim.store.injectFault({ method: 'completeStage', when: 'after' });
    await startRun('wf')(sim);
    expect(sim.run('r1')?.execution_status).toBe('Failed');
    expect(sim.ensured.map((e) => e.event.detailType)).toEqual(['StageCompleted', 'WorkflowFinished']);
    expect(sim.eventsOf('WorkflowFinished')).toHaveLength(1);
    // busViolations would hold any difference between the re-derived and the published event.
    expect(sim.problems()).toEqual([]);
  });

  it('re-derives what the completion of that earlier stage emitted when a stale change of it arrives', async () => {
    const three = workflow('wf3', [sequential(['a.sh']), sequential(['b.sh', 'c.sh']), sequential(['d.sh'])]);
    const sim = createSimulation({ definitions: [three] });
    sim.script('b.sh', { outcome: 'fail', exitCode: 2 });
    let stale: JobAuditRecord | undefined;
    sim.store.onCommit((recs) => {
      for (const r of recs) if (r.kind === 'change' && r.job.job_key === '1.1') stale ??= r.job;
    });
    await startRun('wf3')(sim);
    expect(sim.eventsOf('WorkflowFinished')).toMatchObject([{ status: 'Failed', failed_stage: 2 }]);
    if (!stale) throw new Error('no change record for job 1.1');
    await sim.services.aggregator.handleJobChange(stale);
    expect(
      sim.ensured.map((e) => [e.event.detailType, 'stage' in e.event.detail ? e.event.detail.stage : null]),
    ).toEqual([
      ['StageCompleted', 1],
      ['StageReady', 2],
    ]);
    expect(sim.problems()).toEqual([]);
    expect(statuses(sim)).toEqual([
      ['1.1', 'Completed'],
      ['2.1', 'Failed'],
      ['2.2', 'Skipped'],
      ['3.1', 'Skipped'],
    ]);
  });
});

describe('replayCompletion of a reopened run', () => {
  const st = (n: number, over: Partial<StageProgress>): StageProgress => ({
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
    total: 1,
    completed: 0,
    failed: 0,
    timed_out: 0,
    cancelled: 0,
    skipped: 0,
    ...over,
  });

  it('re-emits exactly what the ending emitted: same :g<n> ids, generation and failed stage', () => {
    // A rerun of 1.1 (generation 1) of a run that Failed in stage 2 has just completed.
    const stages = [
      st(1, {
        status: 'Running',
        started_at: '2024-01-01T00:00:00.000Z',
        cursor: 1,
        launched: 1,
        finished: 1,
        completed: 1,
      }),
      st(2, { status: 'Failed', cursor: 1, launched: 1, finished: 1, failed: 1 }),
    ];
    const before: WorkflowRunState = {
      workflow_execution_id: 'r1',
      workflow_id: 'wf',
      execution_start_ts: '2024-01-01T00:00:00.000Z',
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
      generation: 1,
    };
    const c = planStageCompletion(before, 1, 'Completed', '2024-01-01T01:00:00.000Z');
    const emitted = completionEvents(before, c);
    expect(emitted.map((e) => e.detail.event_id)).toEqual([
      'StageCompleted:r1:1:g1',
      'WorkflowFinished:r1:g1',
    ]);
    expect(replayCompletion(applyStageCompletion(before, c), 1)).toEqual(emitted);
  });
});
