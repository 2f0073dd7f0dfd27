/**
 * The starter's operator actions (issue 14) over the in-memory store: each action, each refusal
 * with its reason, duplicates, reordered hold/free, a reopen refused by max_active_runs, and a
 * workflow hold that lands while a run is being created. The end-to-end scenarios (every action
 * duplicated under chaos) are services/testing/operator-actions.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type {
  FreeRequested,
  HoldRequested,
  JobBypassRequested,
  JobRerunRequested,
  JobSetOkRequested,
} from '../../contracts/events.js';
import type { HoldState } from '../../contracts/operator.js';
import { createPlannerService } from '../planner/service.js';
import type { PoolRepository, RunRepository } from '../ports.js';
import { JobNotCountedYet } from '../shared/operator-plan.js';
import { sequential, workflow } from '../testing/fixtures.js';
import { createSimulation, type Simulation } from '../testing/in-memory.js';
import { createStarterService } from './service.js';

const wf = workflow('ops', [sequential(['a.sh', 'b.sh']), sequential(['c.sh'])]);
/** One parallel stage of three, two at a time. */
const WIDE = workflow('ops', [
  { execution_flag: 'y', execution_type: 'parallel', max_concurrency: 2, scripts: ['p.sh', 'q.sh', 'r.sh'] },
]);
const WHO = 'user:alice';

let seq = 0;
const nextId = () => `req-${++seq}`;

function jobReq(
  sim: Simulation,
  exec: string,
  key: string,
  over: Partial<JobSetOkRequested> = {},
): JobSetOkRequested & JobRerunRequested & JobBypassRequested {
  return {
    version: 1,
    event_id: nextId(),
    occurred_at: sim.clock.now().toISOString(),
    workflow_id: 'ops',
    workflow_execution_id: exec,
    job_key: key,
    attempt: 1,
    reason: 'fixed by hand',
    requested_by: WHO,
    ...over,
  };
}

function holdReq(sim: Simulation, over: Partial<HoldRequested> = {}): HoldRequested & FreeRequested {
  return {
    version: 1,
    event_id: nextId(),
    occurred_at: sim.clock.now().toISOString(),
    workflow_id: 'ops',
    requested_by: WHO,
    ...over,
  };
}

/** A run of `ops` whose a.sh failed: Failed in stage 1, b.sh and c.sh skipped. */
async function failedRun(sim: Simulation, exec = 'r1'): Promise<void> {
  sim.script(
    { job: 'a.sh', attempt: 1, workflowExecutionId: exec },
    { outcome: 'fail', message: 'bad data' },
  );
  sim.request({ workflow_id: 'ops', workflow_execution_id: exec });
  await sim.runUntilIdle();
  expect(sim.run(exec)?.execution_status).toBe('Failed');
}

const ran = (sim: Simulation, exec: string) => sim.intervals(exec).map((i) => `${i.job_key}.a${i.attempt}`);

const rejections = (sim: Simulation) =>
  sim.eventsOf('OperatorActionRejected').map((r) => ({ action: r.action, reason: r.reason, job: r.job_key }));

describe('starter: set OK', () => {
  it('marks the failed job Completed, recorded with who and why, and the Failed run goes on to Completed', async () => {
    const sim = createSimulation({ definitions: [wf] });
    await failedRun(sim);
    expect(sim.job('r1', '1.2')?.skip_reason).toBe('not started: stage 1 failed');
    const req = jobReq(sim, 'r1', '1.1');
    const r = await sim.services.starter.handleSetOkRequested(req, 'env-1');
    expect(r).toEqual({ outcome: 'applied', action: 'set_ok', workflowExecutionId: 'r1' });
    await sim.runUntilIdle();
    const run = sim.run('r1');
    expect(run?.execution_status).toBe('Completed');
    expect(run?.generation).toBe(1);
    expect(run?.failed_jobs).toEqual([]);
    expect(run?.counts).toMatchObject({ total: 3, completed: 3, failed: 0, skipped: 0 });
    const a = sim.job('r1', '1.1');
    expect(a?.execution_status).toBe('Completed');
    expect(a?.error_message).toBe('bad data');
    expect(a?.operator_actions).toEqual([
      expect.objectContaining({
        action_id: req.event_id,
        action: 'set_ok',
        attempt: 1,
        previous_status: 'Failed',
        reason: 'fixed by hand',
        requested_by: WHO,
        requested_at: req.occurred_at,
      }),
    ]);
    expect(run?.operator_actions?.map((x) => x.action_id)).toEqual([req.event_id]);
    // Only the jobs the failure skipped ran: a.sh is not run again.
    expect(ran(sim, 'r1')).toEqual(['1.1.a1', '1.2.a1', '2.1.a1']);
    expect(sim.eventsOf('JobSetOk', 'r1')).toEqual([
      expect.objectContaining({
        event_id: 'JobSetOk:r1:1.1:a1',
        previous_status: 'Failed',
        run_continues: true,
        requested_by: WHO,
      }),
    ]);
    expect(sim.eventsOf('WorkflowFinished', 'r1').map((e) => [e.event_id, e.status])).toEqual([
      ['WorkflowFinished:r1', 'Failed'],
      ['WorkflowFinished:r1:g1', 'Completed'],
    ]);
    expect(sim.problems()).toEqual([]);
  });

  it('refuses with the rule reason: not failed, unknown run or job, another attempt, restarted run', async () => {
    const sim = createSimulation({ definitions: [wf] });
    await failedRun(sim);
    const s = sim.services.starter;
    expect((await s.handleSetOkRequested(jobReq(sim, 'r1', '1.2'), 'e')).outcome).toBe('rejected');
    expect((await s.handleSetOkRequested(jobReq(sim, 'nope', '1.1'), 'e')).outcome).toBe('rejected');
    expect((await s.handleSetOkRequested(jobReq(sim, 'r1', '9.9'), 'e')).outcome).toBe('rejected');
    expect((await s.handleSetOkRequested(jobReq(sim, 'r1', '1.1', { attempt: 2 }), 'e')).outcome).toBe(
      'rejected',
    );
    sim.request({ workflow_id: 'ops', workflow_execution_id: 'r2', restart_of: 'r1' });
    await sim.runUntilIdle();
    expect((await s.handleSetOkRequested(jobReq(sim, 'r1', '1.1'), 'e')).outcome).toBe('rejected');
    await sim.runUntilIdle();
    expect(rejections(sim)).toEqual([
      { action: 'set_ok', reason: 'NotAllowed', job: '1.2' },
      { action: 'set_ok', reason: 'NoSuchRun', job: '1.1' },
      { action: 'set_ok', reason: 'NoSuchJob', job: '9.9' },
      { action: 'set_ok', reason: 'NotAllowed', job: '1.1' },
      { action: 'set_ok', reason: 'RestartedAlready', job: '1.1' },
    ]);
    const messages = sim.eventsOf('OperatorActionRejected').map((r) => r.message);
    expect(messages[0]).toBe('job 1.2 is Skipped: only a Failed or TimedOut job can be set OK');
    expect(messages[4]).toMatch(/^run r1 was restarted as r2/);
    // Nothing was written to the refused run.
    expect(sim.run('r1')?.operator_actions ?? []).toEqual([]);
    expect(sim.job('r1', '1.1')?.execution_status).toBe('Failed');
  });

  it('a job that ended but is not counted yet is a retriable error: the redelivery applies it', async () => {
    const sim = createSimulation({ definitions: [wf] });
    sim.script('a.sh', { outcome: 'hang' });
    sim.request({ workflow_id: 'ops', workflow_execution_id: 'r1' });
    await sim.advance(1);
    expect(sim.job('r1', '1.1')?.execution_status).toBe('Running');
    // The job's end is written; the aggregator has not counted it yet.
    await sim.store.jobs().transition({
      workflowExecutionId: 'r1',
      jobKey: '1.1',
      expect: { attempt: 1, statuses: ['Running'] },
      set: { execution_status: 'Failed', execution_end_ts: sim.clock.now().toISOString(), exit_code: 3 },
    });
    const req = jobReq(sim, 'r1', '1.1');
    await expect(sim.services.starter.handleSetOkRequested(req, 'e')).rejects.toBeInstanceOf(
      JobNotCountedYet,
    );
    sim.unschedule((i) => i.kind === 'timeout' || i.kind === 'agent-finish');
    await sim.runUntilIdle();
    expect(sim.run('r1')?.execution_status).toBe('Failed');
    expect((await sim.services.starter.handleSetOkRequested(req, 'e')).outcome).toBe('applied');
    await sim.runUntilIdle();
    expect(sim.run('r1')?.execution_status).toBe('Completed');
  });

  it('a duplicate writes nothing, re-runs the follow-ups and re-derives the same outcome event', async () => {
    const sim = createSimulation({ definitions: [wf] });
    await failedRun(sim);
    const req = jobReq(sim, 'r1', '1.1');
    await sim.services.starter.handleSetOkRequested(req, 'env-1');
    const writes = sim.store.writes;
    const second = await sim.services.starter.handleSetOkRequested(req, 'env-2');
    expect(second).toEqual({ outcome: 'duplicate', action: 'set_ok', workflowExecutionId: 'r1' });
    expect(sim.store.writes).toBe(writes);
    expect(sim.ensured.map((e) => e.event.detailType)).toContain('JobSetOk');
    expect(sim.eventsOf('JobSetOk')).toHaveLength(1);
    // The follow-up again: the same StageReady id (the planner treats it as "look again").
    const ready = sim.eventsOf('StageReady', 'r1').filter((e) => e.event_id.endsWith('setok-1.1-a1'));
    expect(ready.map((e) => e.event_id)).toEqual([
      'StageReady:r1:1:setok-1.1-a1',
      'StageReady:r1:1:setok-1.1-a1',
    ]);
    await sim.runUntilIdle();
    expect(sim.run('r1')?.operator_action_count).toBe(1);
    expect(ran(sim, 'r1')).toEqual(['1.1.a1', '1.2.a1', '2.1.a1']);
    expect(sim.problems()).toEqual([]);
  });

  it("refuses to reopen a run when the workflow's max_active_runs are taken: ActiveRunLimit, nothing changed", async () => {
    const sim = createSimulation({ definitions: [wf] });
    await failedRun(sim);
    const before = sim.jobs('r1');
    sim.script({ job: 'a.sh', workflowExecutionId: 'r2' }, { outcome: 'hang' });
    sim.request({ workflow_id: 'ops', workflow_execution_id: 'r2' });
    await sim.advance(1);
    expect(sim.run('r2')?.execution_status).toBe('Running');
    const r = await sim.services.starter.handleSetOkRequested(jobReq(sim, 'r1', '1.1'), 'e');
    expect(r.outcome).toBe('rejected');
    await sim.advance(0);
    expect(rejections(sim)).toEqual([{ action: 'set_ok', reason: 'ActiveRunLimit', job: '1.1' }]);
    expect(sim.run('r1')?.execution_status).toBe('Failed');
    // The jobs revived for the reopen are Skipped again, for the same reason.
    const after = sim.jobs('r1');
    expect(after.map((j) => [j.job_key, j.execution_status, j.skip_reason, j.counted])).toEqual(
      before.map((j) => [j.job_key, j.execution_status, j.skip_reason, j.counted]),
    );
  });
});

describe('starter: set OK and rerun in a run still Running, or in the stage a run failed in', () => {
  it('set OK of the job that doomed a parallel stage lets the stage launch again', async () => {
    const sim = createSimulation({ definitions: [WIDE] });
    sim.script('p.sh', { outcome: 'fail', durationSeconds: 1 });
    sim.script('q.sh', { outcome: 'hang' });
    sim.request({ workflow_id: 'ops', workflow_execution_id: 'r1' });
    await sim.advance(5);
    // p failed: nothing new starts in the stage while q runs.
    expect(ran(sim, 'r1')).toEqual(['1.1.a1', '1.2.a1']);
    expect(sim.run('r1')?.stages[0]?.failed).toBe(1);
    const r = await sim.services.starter.handleSetOkRequested(jobReq(sim, 'r1', '1.1'), 'e');
    expect(r.outcome).toBe('applied');
    await sim.advance(20);
    expect(ran(sim, 'r1')).toEqual(['1.1.a1', '1.2.a1', '1.3.a1']);
    sim.finishJob('q.sh', { outcome: 'complete' });
    await sim.runUntilIdle();
    expect(sim.run('r1')).toMatchObject({ execution_status: 'Completed', generation: 0 });
    expect(sim.eventsOf('JobSetOk')[0]?.run_continues).toBe(false);
  });

  it('rerun of the job a run Failed in: the run reopens and goes on when the new attempt completes', async () => {
    const sim = createSimulation({ definitions: [wf] });
    await failedRun(sim);
    const r = await sim.services.starter.handleRerunRequested(jobReq(sim, 'r1', '1.1'), 'e');
    expect(r.outcome).toBe('applied');
    await sim.runUntilIdle();
    expect(ran(sim, 'r1')).toEqual(['1.1.a1', '1.1.a2', '1.2.a1', '2.1.a1']);
    expect(sim.run('r1')).toMatchObject({ execution_status: 'Completed', generation: 1, failed_jobs: [] });
    expect(sim.job('r1', '1.1')).toMatchObject({ attempt: 2, execution_status: 'Completed' });
    expect(sim.problems()).toEqual([]);
  });
});

describe('starter: crashes around the write', () => {
  it('a crash right after the set-ok write (outcome committed with it): the redelivery finishes the follow-ups', async () => {
    const sim = createSimulation({ definitions: [wf] });
    await failedRun(sim);
    sim.store.injectFault({ method: 'applyJobAction', when: 'after' });
    const req = jobReq(sim, 'r1', '1.1');
    await expect(sim.services.starter.handleSetOkRequested(req, 'e')).rejects.toThrow('injected fault after');
    // The write and its outcome event are in; the follow-up (StageReady) never went out.
    expect(sim.job('r1', '1.1')?.execution_status).toBe('Completed');
    expect(sim.eventsOf('StageReady', 'r1').some((e) => e.event_id.includes('setok'))).toBe(false);
    expect((await sim.services.starter.handleSetOkRequested(req, 'e')).outcome).toBe('duplicate');
    await sim.runUntilIdle();
    expect(sim.run('r1')?.execution_status).toBe('Completed');
    expect(sim.eventsOf('JobSetOk')).toHaveLength(1);
    expect(sim.problems()).toEqual([]);
  });

  it('a failure before the hold is written leaves nothing: the redelivery applies it once', async () => {
    const sim = createSimulation({ definitions: [wf] });
    sim.script('a.sh', { outcome: 'hang' });
    sim.request({ workflow_id: 'ops', workflow_execution_id: 'r1' });
    await sim.advance(1);
    sim.store.injectFault({ method: 'setRunHold', when: 'before' });
    const hold = holdReq(sim, { workflow_execution_id: 'r1' });
    await expect(sim.services.starter.handleHoldRequested(hold, 'e')).rejects.toThrow(
      'injected fault before',
    );
    expect(sim.run('r1')?.hold_state ?? null).toBeNull();
    expect((await sim.services.starter.handleHoldRequested(hold, 'e')).outcome).toBe('applied');
    expect(sim.run('r1')?.operator_action_count).toBe(1);
  });

  it('a hold landing between the planner reading the run and its claim: the claim is refused', async () => {
    const sim = createSimulation({ definitions: [wf] });
    await sim.services.starter.handleRequested(
      { version: 1, workflow_id: 'ops', workflow_execution_id: 'r1' },
      'e',
    );
    sim.unschedule(() => true);
    // The planner's claim of a.sh: the hold is written just before it (after the planner's read).
    const runs = sim.store.runs();
    const racing: RunRepository = {
      ...runs,
      claimJobs: async (claim, fx) => {
        await sim.services.starter.handleHoldRequested(holdReq(sim, { workflow_execution_id: 'r1' }), 'e');
        return runs.claimJobs(claim, fx);
      },
    };
    // Not a literal: PlannerDeps gains `pools` with issue 14's pool half (h21pools).
    const plannerDeps = {
      runs: racing,
      jobs: sim.store.jobs(),
      pools: sim.store.pools(),
      clock: sim.clock,
      log: sim.log,
    };
    const planner = createPlannerService(plannerDeps);
    const r = await planner.handleStageReady({
      version: 1,
      event_id: 'StageReady:r1:1:test',
      occurred_at: sim.clock.now().toISOString(),
      workflow_id: 'ops',
      workflow_execution_id: 'r1',
      stage: 1,
    });
    expect(r).toEqual({ queued: [], reason: 'run is held' });
    expect(sim.job('r1', '1.1')?.execution_status).toBe('Pending');
    expect(sim.run('r1')?.stages[0]?.cursor).toBe(0);
  });
});

describe('starter: rerun', () => {
  it('runs one job of a Completed run again as attempt 2, keeping attempt 1; the run ends Completed again', async () => {
    const sim = createSimulation({ definitions: [wf] });
    sim.request({ workflow_id: 'ops', workflow_execution_id: 'r1' });
    await sim.runUntilIdle();
    expect(sim.run('r1')?.execution_status).toBe('Completed');
    const r = await sim.services.starter.handleRerunRequested(
      jobReq(sim, 'r1', '1.2', { reason: undefined }),
      'e',
    );
    expect(r.outcome).toBe('applied');
    await sim.runUntilIdle();
    expect(ran(sim, 'r1')).toEqual(['1.1.a1', '1.2.a1', '2.1.a1', '1.2.a2']);
    const job = sim.job('r1', '1.2');
    expect(job).toMatchObject({ attempt: 2, execution_status: 'Completed', counted: true });
    expect(job?.previous_attempts).toEqual([
      expect.objectContaining({ attempt: 1, execution_status: 'Completed' }),
    ]);
    expect(sim.run('r1')).toMatchObject({ execution_status: 'Completed', generation: 1 });
    expect(sim.run('r1')?.counts).toMatchObject({ total: 3, completed: 3 });
    expect(sim.eventsOf('JobRerunStarted', 'r1')).toEqual([
      expect.objectContaining({ event_id: 'JobRerun:r1:1.2:a2', attempt: 2, generation: 1, reason: null }),
    ]);
    expect(sim.problems()).toEqual([]);
  });

  it('a duplicate after the run moved on re-derives the very outcome the first delivery sent', async () => {
    // The re-sent event has the first one's id; its detail must be the same too (a consumer that
    // does not dedupe by id would otherwise see two different versions of one action).
    const sim = createSimulation({ definitions: [wf] });
    sim.request({ workflow_id: 'ops', workflow_execution_id: 'r1' });
    await sim.runUntilIdle();
    const first = jobReq(sim, 'r1', '1.2', { reason: undefined });
    await sim.services.starter.handleRerunRequested(first, 'e');
    await sim.runUntilIdle();
    const second = jobReq(sim, 'r1', '2.1', { reason: undefined });
    await sim.services.starter.handleRerunRequested(second, 'e');
    await sim.runUntilIdle();
    expect(sim.run('r1')).toMatchObject({ execution_status: 'Completed', generation: 2 });
    const sent = sim.eventsOf('JobRerunStarted', 'r1');
    expect(sent.map((e) => e.generation)).toEqual([1, 2]);
    // The first rerun again (the run is at generation 2 now): the same JobRerunStarted, generation 1.
    expect((await sim.services.starter.handleRerunRequested(first, 'e2')).outcome).toBe('duplicate');
    const resent = sim.ensured.filter((e) => e.event.detailType === 'JobRerunStarted').at(-1)?.event.detail;
    expect(resent).toEqual(sent[0]);
    expect(sim.problems()).toEqual([]);
  });

  it('refuses a rerun while the run is Running, and of a job that never ran', async () => {
    const sim = createSimulation({ definitions: [wf] });
    sim.script('b.sh', { outcome: 'hang' });
    sim.request({ workflow_id: 'ops', workflow_execution_id: 'r1' });
    await sim.advance(15);
    expect(sim.job('r1', '1.1')?.execution_status).toBe('Completed');
    await sim.services.starter.handleRerunRequested(jobReq(sim, 'r1', '1.1'), 'e');
    const other = createSimulation({ definitions: [wf] });
    await failedRun(other);
    await other.services.starter.handleRerunRequested(jobReq(other, 'r1', '2.1'), 'e');
    await sim.advance(0);
    await other.advance(0);
    expect(rejections(sim)).toEqual([{ action: 'rerun', reason: 'NotAllowed', job: '1.1' }]);
    expect(rejections(other)).toEqual([{ action: 'rerun', reason: 'NotAllowed', job: '2.1' }]);
  });
});

describe('starter: bypass', () => {
  it('skips a job that has not started ("bypassed: why") and the run goes on as if it had completed', async () => {
    const sim = createSimulation({ definitions: [wf] });
    sim.script('a.sh', { outcome: 'hang' });
    sim.request({ workflow_id: 'ops', workflow_execution_id: 'r1' });
    await sim.advance(1);
    const r = await sim.services.starter.handleBypassRequested(
      jobReq(sim, 'r1', '1.2', { reason: 'not needed today' }),
      'e',
    );
    expect(r.outcome).toBe('applied');
    expect(sim.job('r1', '1.2')).toMatchObject({
      execution_status: 'Skipped',
      skip_reason: 'bypassed: not needed today',
      counted: true,
    });
    expect(sim.finishJob('a.sh', { outcome: 'complete' })).toBe(true);
    await sim.runUntilIdle();
    expect(ran(sim, 'r1')).toEqual(['1.1.a1', '2.1.a1']);
    expect(sim.run('r1')?.execution_status).toBe('Completed');
    expect(sim.run('r1')?.counts).toMatchObject({ completed: 2, skipped: 1 });
    expect(sim.eventsOf('JobBypassed', 'r1')).toEqual([
      expect.objectContaining({ event_id: 'JobBypassed:r1:1.2:a1', reason: 'not needed today' }),
    ]);
    expect(sim.problems()).toEqual([]);
  });

  it('bypassing the last job of a stage completes the stage at once', async () => {
    const sim = createSimulation({ definitions: [wf] });
    sim.script('c.sh', { outcome: 'hang' });
    sim.script('b.sh', { outcome: 'hang' });
    sim.request({ workflow_id: 'ops', workflow_execution_id: 'r1' });
    await sim.advance(11);
    expect(sim.job('r1', '1.2')?.execution_status).toBe('Running');
    // Stage 2's only job, before stage 2 began: the stage will have nothing to run.
    await sim.services.starter.handleBypassRequested(jobReq(sim, 'r1', '2.1'), 'e');
    sim.finishJob('b.sh', { outcome: 'complete' });
    await sim.runUntilIdle();
    expect(ran(sim, 'r1')).toEqual(['1.1.a1', '1.2.a1']);
    expect(sim.run('r1')?.execution_status).toBe('Completed');
  });

  it('a bypassed job of a pool leaves its waiters and gives back a slot it was granted (PoolSlotFreed)', async () => {
    const pooled = workflow('ops', [{ ...sequential(['a.sh', 'b.sh']), pool: 'wlm' }]);
    const sim = createSimulation({ definitions: [pooled] });
    sim.script('a.sh', { outcome: 'hang' });
    await sim.services.starter.handleRequested(
      { version: 1, workflow_id: 'ops', workflow_execution_id: 'r1' },
      'e',
    );
    await sim.advance(1);
    expect(sim.job('r1', '1.2')).toMatchObject({ execution_status: 'Pending', pool: 'wlm' });
    const calls: unknown[] = [];
    const pools = {
      ...sim.store.pools(),
      dequeue: async (name: string, holder: string) => {
        calls.push(['dequeue', name, holder]);
        return true;
      },
      release: async (name: string, holder: string, fx: { events?: unknown[] }) => {
        calls.push(['release', name, holder, fx.events]);
        return 'released' as const;
      },
    } as unknown as PoolRepository;
    const starter = createStarterService({
      definitions: sim.store.definitions(),
      runs: sim.store.runs(),
      jobs: sim.store.jobs(),
      operator: sim.store.operator(),
      pools,
      events: { publish: async (evs) => sim.publish(evs), ensurePublished: async () => {} },
      orchestrator: sim.wrapper,
      clock: sim.clock,
      log: sim.log,
    });
    expect((await starter.handleBypassRequested(jobReq(sim, 'r1', '1.2'), 'e')).outcome).toBe('applied');
    expect(calls).toEqual([
      ['dequeue', 'wlm', 'r1--1-2--a1'],
      [
        'release',
        'wlm',
        'r1--1-2--a1',
        [
          expect.objectContaining({
            detailType: 'PoolSlotFreed',
            detail: expect.objectContaining({ event_id: 'PoolSlotFreed:wlm:r1--1-2--a1', job_key: '1.2' }),
          }),
        ],
      ],
    ]);
  });

  it('refuses a job that has started', async () => {
    const sim = createSimulation({ definitions: [wf] });
    sim.script('a.sh', { outcome: 'hang' });
    sim.request({ workflow_id: 'ops', workflow_execution_id: 'r1' });
    await sim.advance(1);
    await sim.services.starter.handleBypassRequested(jobReq(sim, 'r1', '1.1'), 'e');
    await sim.advance(0);
    expect(rejections(sim)).toEqual([{ action: 'bypass', reason: 'NotAllowed', job: '1.1' }]);
    expect(sim.eventsOf('OperatorActionRejected')[0]?.message).toBe(
      'job 1.1 has started (Running): only a job that has not started can be bypassed',
    );
  });
});

describe('starter: hold and free', () => {
  it('a held run starts no new job (running ones finish); free lets it finish', async () => {
    const sim = createSimulation({ definitions: [wf] });
    sim.script('a.sh', { outcome: 'hang' });
    sim.request({ workflow_id: 'ops', workflow_execution_id: 'r1' });
    await sim.advance(1);
    const hold = holdReq(sim, { workflow_execution_id: 'r1', reason: 'redshift patching' });
    expect((await sim.services.starter.handleHoldRequested(hold, 'e')).outcome).toBe('applied');
    expect(sim.run('r1')?.hold_state).toEqual({
      held: true,
      scope: 'run',
      reason: 'redshift patching',
      requested_by: WHO,
      requested_at: hold.occurred_at,
      request_id: hold.event_id,
    });
    sim.finishJob('a.sh', { outcome: 'complete' });
    await sim.runUntilIdle();
    expect(ran(sim, 'r1')).toEqual(['1.1.a1']);
    expect(sim.job('r1', '1.2')?.execution_status).toBe('Pending');
    expect(sim.run('r1')?.execution_status).toBe('Running');
    expect(sim.log.entries.some((e) => e.message === 'run is held: nothing planned')).toBe(true);
    const free = holdReq(sim, { workflow_execution_id: 'r1' });
    expect((await sim.services.starter.handleFreeRequested(free, 'e')).outcome).toBe('applied');
    await sim.runUntilIdle();
    expect(ran(sim, 'r1')).toEqual(['1.1.a1', '1.2.a1', '2.1.a1']);
    expect(sim.run('r1')?.execution_status).toBe('Completed');
    expect(sim.run('r1')?.operator_actions?.map((a) => a.action)).toEqual(['hold', 'free']);
    expect(sim.eventsOf('RunHeld', 'r1').map((e) => e.event_id)).toEqual([`RunHeld:r1:${hold.event_id}`]);
    expect(sim.eventsOf('RunFreed', 'r1').map((e) => e.event_id)).toEqual([`RunFreed:r1:${free.event_id}`]);
    expect(sim.problems()).toEqual([]);
  });

  it('reordered: a free older than the hold that stands is stale; a duplicate hold is the same', async () => {
    const sim = createSimulation({ definitions: [wf] });
    sim.script('a.sh', { outcome: 'hang' });
    sim.request({ workflow_id: 'ops', workflow_execution_id: 'r1' });
    await sim.advance(1);
    const t0 = sim.clock.now().getTime();
    const free = holdReq(sim, { workflow_execution_id: 'r1', occurred_at: new Date(t0).toISOString() });
    const hold = holdReq(sim, {
      workflow_execution_id: 'r1',
      occurred_at: new Date(t0 - 1000).toISOString(),
    });
    // The free was sent after the hold but arrives first, then the hold: the free (newer) wins.
    expect((await sim.services.starter.handleFreeRequested(free, 'e')).outcome).toBe('applied');
    expect((await sim.services.starter.handleHoldRequested(hold, 'e')).outcome).toBe('stale');
    expect(sim.run('r1')?.hold_state?.held).toBe(false);
    const hold2 = holdReq(sim, {
      workflow_execution_id: 'r1',
      occurred_at: new Date(t0 + 1000).toISOString(),
    });
    expect((await sim.services.starter.handleHoldRequested(hold2, 'e')).outcome).toBe('applied');
    expect((await sim.services.starter.handleHoldRequested(hold2, 'e')).outcome).toBe('duplicate');
    expect(sim.run('r1')?.operator_actions?.map((a) => a.action)).toEqual(['free', 'hold']);
    expect(sim.run('r1')?.hold_state?.held).toBe(true);
  });

  it('refuses a hold of a run that has ended, and of an unknown run', async () => {
    const sim = createSimulation({ definitions: [wf] });
    sim.request({ workflow_id: 'ops', workflow_execution_id: 'r1' });
    await sim.runUntilIdle();
    await sim.services.starter.handleHoldRequested(holdReq(sim, { workflow_execution_id: 'r1' }), 'e');
    await sim.services.starter.handleHoldRequested(holdReq(sim, { workflow_execution_id: 'zz' }), 'e');
    await sim.services.starter.handleHoldRequested(holdReq(sim, { workflow_id: 'no_such' }), 'e');
    await sim.advance(0);
    expect(rejections(sim)).toEqual([
      { action: 'hold', reason: 'NotAllowed', job: null },
      { action: 'hold', reason: 'NoSuchRun', job: null },
      { action: 'hold', reason: 'NoSuchRun', job: null },
    ]);
    expect(sim.eventsOf('OperatorActionRejected')[0]?.message).toBe(
      'run r1 is Completed: only a Running run can be held',
    );
  });

  it('a held workflow: a new request is accepted and waits Held (its slot taken); free runs it', async () => {
    const sim = createSimulation({ definitions: [wf] });
    const hold = holdReq(sim, { reason: 'maintenance' });
    expect((await sim.services.starter.handleHoldRequested(hold, 'e')).outcome).toBe('applied');
    sim.request({ workflow_id: 'ops', workflow_execution_id: 'r1' });
    await sim.runUntilIdle();
    expect(sim.run('r1')).toMatchObject({
      execution_status: 'Running',
      hold_state: { held: true, scope: 'workflow', request_id: hold.event_id },
    });
    expect(ran(sim, 'r1')).toEqual([]);
    // max_active_runs (1) still applies: the held run has its slot.
    sim.request({ workflow_id: 'ops', workflow_execution_id: 'r2' });
    await sim.runUntilIdle();
    expect(sim.eventsOf('WorkflowRejected').map((r) => r.reason)).toEqual(['ActiveRunLimit']);
    const free = holdReq(sim);
    expect((await sim.services.starter.handleFreeRequested(free, 'e')).outcome).toBe('applied');
    await sim.runUntilIdle();
    expect(ran(sim, 'r1')).toEqual(['1.1.a1', '1.2.a1', '2.1.a1']);
    expect(sim.run('r1')?.execution_status).toBe('Completed');
    expect(sim.run('r1')?.hold_state).toMatchObject({
      held: false,
      scope: 'workflow',
      request_id: free.event_id,
    });
    // The workflow's free and the run's own, each once; a duplicate free re-derives, frees nothing twice.
    expect((await sim.services.starter.handleFreeRequested(free, 'e')).outcome).toBe('duplicate');
    await sim.runUntilIdle();
    expect(sim.eventsOf('RunFreed').map((e) => e.event_id)).toEqual([
      `RunFreed:wf:ops:${free.event_id}`,
      `RunFreed:r1:${free.event_id}`,
    ]);
    expect(sim.run('r1')?.operator_actions?.map((a) => a.action)).toEqual(['free']);
    expect(sim.problems()).toEqual([]);
  });

  it('a workflow hold landing while a run is created: createRun says hold-changed, the run starts held', async () => {
    const sim = createSimulation({ definitions: [wf] });
    const inner = sim.store.runs();
    const outcomes: string[] = [];
    let raced = false;
    const runs: RunRepository = {
      ...inner,
      createRun: async (run, jobs, opts, fx) => {
        if (!raced) {
          raced = true;
          const h: HoldState = {
            held: true,
            scope: 'workflow',
            reason: null,
            requested_by: WHO,
            requested_at: sim.clock.now().toISOString(),
            request_id: 'hold-race',
          };
          await sim.store.operator().setWorkflowHold('ops', h, {});
        }
        const r = await inner.createRun(run, jobs, opts, fx);
        outcomes.push(`${opts.workflowHeld}:${r.outcome}`);
        return r;
      },
    };
    const starter = createStarterService({
      definitions: sim.store.definitions(),
      runs,
      jobs: sim.store.jobs(),
      operator: sim.store.operator(),
      pools: sim.store.pools(),
      events: { publish: async (evs) => sim.publish(evs), ensurePublished: async () => {} },
      orchestrator: sim.wrapper,
      clock: sim.clock,
      log: sim.log,
    });
    const r = await starter.handleRequested(
      { version: 1, workflow_id: 'ops', workflow_execution_id: 'r1' },
      'e',
    );
    expect(r.outcome).toBe('started');
    expect(outcomes).toEqual(['false:hold-changed', 'true:created']);
    expect(sim.run('r1')?.hold_state).toMatchObject({ held: true, request_id: 'hold-race' });
    await sim.runUntilIdle();
    expect(ran(sim, 'r1')).toEqual([]);
  });
});

describe('planner: RunFreed', () => {
  it('wakes the jobs parked while the run was held, with their message, and plans the stage', async () => {
    const sim = createSimulation({ definitions: [WIDE] });
    sim.script('p.sh', { outcome: 'hang' });
    // What the dispatcher does with a held run's Queued job (h21pools): parks it and acks its
    // message. Here the message of 1.2 is taken away as the claim commits, and the job parked below.
    let parked = false;
    sim.store.onCommit((records) => {
      if (!parked && records.some((r) => r.kind === 'message' && r.message.body.job_key === '1.2')) {
        parked = true;
        sim.unschedule((i) => i.kind === 'queue' && i.body.job_key === '1.2');
      }
    });
    sim.request({ workflow_id: 'ops', workflow_execution_id: 'r1' });
    await sim.advance(0);
    await sim.services.starter.handleHoldRequested(holdReq(sim, { workflow_execution_id: 'r1' }), 'e');
    await sim.store.jobs().transition({
      workflowExecutionId: 'r1',
      jobKey: '1.2',
      expect: { attempt: 1, statuses: ['Queued'] },
      set: { waiting_for: 'hold' },
    });
    await sim.advance(1);
    expect(ran(sim, 'r1')).toEqual(['1.1.a1']);
    expect(sim.job('r1', '1.2')).toMatchObject({ execution_status: 'Queued', waiting_for: 'hold' });
    sim.finishJob('p.sh', { outcome: 'complete' });
    await sim.runUntilIdle();
    expect(ran(sim, 'r1')).toEqual(['1.1.a1']);
    await sim.services.starter.handleFreeRequested(holdReq(sim, { workflow_execution_id: 'r1' }), 'e');
    await sim.runUntilIdle();
    expect(ran(sim, 'r1').sort()).toEqual(['1.1.a1', '1.2.a1', '1.3.a1']);
    expect(sim.job('r1', '1.2')?.waiting_for).toBeNull();
    expect(sim.run('r1')?.execution_status).toBe('Completed');
    expect(sim.log.entries.find((e) => e.message === 'parked jobs woken')?.fields).toEqual({
      workflow_execution_id: 'r1',
      jobs: ['1.2'],
    });
  });

  it('a workflow-scope RunFreed (no run) plans nothing', async () => {
    const sim = createSimulation({ definitions: [wf] });
    const r = await sim.services.planner.handleRunFreed({
      version: 1,
      event_id: 'RunFreed:wf:ops:x',
      occurred_at: sim.clock.now().toISOString(),
      workflow_id: 'ops',
      workflow_execution_id: null,
      scope: 'workflow',
      reason: null,
      requested_by: WHO,
      requested_at: sim.clock.now().toISOString(),
    });
    expect(r).toEqual({ queued: [], woken: [], reason: 'workflow scope: its runs are freed one by one' });
  });
});
