import { decodeTime } from 'ulid';
import { describe, expect, it } from 'vitest';
import type { JobCancel } from '../../contracts/jobs.js';
import { validateDefinition } from '../../contracts/workflow.js';
import type { JobRepository } from '../ports.js';
import { BLOG_WORKFLOW, parallel, sequential, workflow } from '../testing/fixtures.js';
import {
  compareUnderChaos,
  createSimulation,
  type Scenario,
  type Simulation,
  type SimulationOptions,
} from '../testing/in-memory.js';
import { deadlineAt, runDeadlineSeconds } from './deadline.js';
import { createStarterService } from './service.js';

async function expectSameUnderChaos(
  opts: SimulationOptions,
  scenario: Scenario,
  execs: string[],
): Promise<Simulation> {
  const { clean, differences } = await compareUnderChaos(opts, scenario, execs);
  expect(differences).toEqual([]);
  return clean;
}

const THREE_STAGES = workflow('wf', [sequential(['a.sh', 'b.sh', 'c.sh']), parallel(['d.sh', 'e.sh'])], {
  parameters: { REGION: 'eu' },
});

describe('starter: starting a run', () => {
  it('writes the run and its jobs, announces it and runs the seed workflow to completion', async () => {
    const sim = createSimulation({ definitions: [BLOG_WORKFLOW] });
    const result = await sim.services.starter.handleRequested(
      { version: 1, workflow_id: 'blog_test_workflow', workflow_execution_id: 'blog-1' },
      'env-1',
    );
    expect(result).toEqual({ outcome: 'started', workflowExecutionId: 'blog-1' });
    expect(sim.jobs('blog-1').map((j) => j.execution_status)).toEqual([
      'Pending',
      'Pending',
      'Pending',
      'Pending',
    ]);
    expect(sim.published.map((p) => p.event.detailType)).toEqual(['WorkflowStarted', 'StageReady']);
    expect(sim.eventsOf('WorkflowStarted')[0]).toMatchObject({
      stage_count: 2,
      job_count: 4,
      restart_of: null,
      stages: [
        { stage: 1, execution_type: 'sequential', job_count: 2, jobs_to_run: 2 },
        { stage: 2, execution_type: 'parallel', job_count: 2, jobs_to_run: 2 },
      ],
    });
    expect(sim.eventsOf('StageReady')[0]).toMatchObject({ stage: 1 });

    await sim.runUntilIdle();
    expect(sim.run('blog-1')).toMatchObject({
      execution_status: 'Completed',
      counts: { total: 4, completed: 4 },
    });
    expect(sim.eventsOf('WorkflowFinished')).toHaveLength(1);
    expect(sim.problems()).toEqual([]);
  });

  it('hands the workflow parameters, overridden by the request, to every job', async () => {
    const sim = createSimulation({ definitions: [THREE_STAGES] });
    sim.request({ workflow_id: 'wf', workflow_execution_id: 'r1', parameters: { DAY: '2024-01-01' } });
    await sim.runUntilIdle();
    expect(sim.agent.sends).toHaveLength(5);
    for (const s of sim.agent.sends)
      expect(s.command.parameters).toEqual({ REGION: 'eu', DAY: '2024-01-01' });
    expect(sim.eventsOf('WorkflowStarted')[0]?.parameter_names).toEqual(['DAY', 'REGION']);
  });

  it('finishes a run with nothing to run at once (every stage disabled)', async () => {
    const wf = workflow('off', [
      sequential(['a.sh'], { enabled: false }),
      parallel(['b.sh'], { enabled: false }),
    ]);
    const clean = await expectSameUnderChaos(
      { definitions: [wf] },
      async (sim) => {
        sim.request({ workflow_id: 'off', workflow_execution_id: 'r1' });
        await sim.runUntilIdle();
      },
      ['r1'],
    );
    expect(clean.run('r1')?.execution_status).toBe('Completed');
    expect(clean.eventsOf('WorkflowFinished')).toMatchObject([
      { status: 'Completed', counts: { total: 2, skipped: 2 } },
    ]);
    expect(clean.timeline).toEqual([]);
  });

  it('refuses an unknown workflow and an invalid stored definition, naming the problem', async () => {
    const sim = createSimulation({
      definitions: [
        {
          workflow_id: 'bad',
          workflow_stages: [{ execution_flag: 'maybe', execution_type: 'sequential', scripts: ['a.sh'] }],
        },
      ],
    });
    const unknown = await sim.services.starter.handleRequested({ version: 1, workflow_id: 'nope' }, 'env-1');
    expect(unknown).toMatchObject({ outcome: 'rejected', rejection: { reason: 'UnknownWorkflow' } });
    const invalid = await sim.services.starter.handleRequested(
      { version: 1, workflow_id: 'bad', workflow_execution_id: 'r1' },
      'env-2',
    );
    expect(invalid).toMatchObject({ outcome: 'rejected', rejection: { reason: 'InvalidDefinition' } });
    expect(invalid.outcome === 'rejected' && invalid.rejection.message).toContain(
      'workflow_stages[0].execution_flag',
    );
    expect(sim.run('r1')).toBeUndefined();
    expect(sim.eventsOf('WorkflowRejected').map((r) => r.event_id)).toEqual([
      'WorkflowRejected:env-1',
      'WorkflowRejected:env-2',
    ]);
  });
});

describe('starter: the run deadline', () => {
  it("announces the run's deadline in WorkflowStarted, from its start and its definition", async () => {
    const sim = createSimulation({ definitions: [THREE_STAGES] });
    sim.request({ workflow_id: 'wf', workflow_execution_id: 'r1' });
    await sim.runUntilIdle();
    const checked = validateDefinition(THREE_STAGES);
    if (!checked.ok) throw new Error('invalid fixture');
    const started = sim.eventsOf('WorkflowStarted')[0];
    const start = sim.run('r1')?.execution_start_ts ?? '';
    expect(started?.deadline_at).toBe(deadlineAt(start, runDeadlineSeconds(checked.definition)));
    // The deadline is after the start and has no fractional seconds (a Wait state's Timestamp form).
    expect(started?.deadline_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(Date.parse(started?.deadline_at ?? '')).toBeGreaterThan(Date.parse(start));
  });

  it('re-announces the same deadline on a redelivery after its definition changed', async () => {
    const sim = createSimulation({ definitions: [THREE_STAGES] });
    await sim.services.starter.handleRequested(
      { version: 1, workflow_id: 'wf', workflow_execution_id: 'r1' },
      'e1',
    );
    const first = sim.eventsOf('WorkflowStarted')[0]?.deadline_at;
    // Ten times the timeout now: a deadline recomputed from the definition would differ.
    sim.define({ ...THREE_STAGES, defaults: { timeout_seconds: 10 * 86_400 } });
    const again = await sim.services.starter.handleRequested(
      { version: 1, workflow_id: 'wf', workflow_execution_id: 'r1' },
      'e1',
    );
    expect(again.outcome).toBe('duplicate');
    expect(sim.ensured.map((e) => (e.event.detail as { deadline_at?: string }).deadline_at)).toContain(first);
    expect(sim.problems()).toEqual([]);
  });
});

describe('starter: duplicate requests', () => {
  it('never creates a second run for a repeated WorkflowRequested', async () => {
    const clean = await expectSameUnderChaos(
      { definitions: [THREE_STAGES] },
      async (sim) => {
        sim.request({ workflow_id: 'wf', workflow_execution_id: 'r1' });
        sim.request({ workflow_id: 'wf', workflow_execution_id: 'r1' });
        await sim.runUntilIdle();
        sim.request({ workflow_id: 'wf', workflow_execution_id: 'r1' });
        await sim.runUntilIdle();
      },
      ['r1'],
    );
    expect(clean.store.allRuns()).toHaveLength(1);
    expect(clean.eventsOf('WorkflowStarted')).toHaveLength(1);
    expect(clean.eventsOf('WorkflowRejected')).toEqual([]);
    expect(clean.intervals().map((i) => i.job_key)).toEqual(['1.1', '1.2', '1.3', '2.1', '2.2']);
  });

  it('derives the same execution id for the same event id, however late the redelivery', async () => {
    const sim = createSimulation({
      definitions: [workflow('wf', [sequential(['a.sh'])], { max_active_runs: 5 })],
    });
    const starter = sim.services.starter;
    // No event_id and no time in the request: only the envelope id identifies it.
    const first = await starter.handleRequested({ version: 1, workflow_id: 'wf' }, 'env-1');
    sim.clock.advance(5_000);
    const again = await starter.handleRequested({ version: 1, workflow_id: 'wf' }, 'env-1');
    if (first.outcome !== 'started') throw new Error(`expected a start, got ${first.outcome}`);
    expect(again).toEqual({ outcome: 'duplicate', workflowExecutionId: first.workflowExecutionId });
    // The request's own event_id wins over the envelope id (a re-sent request gets a new envelope).
    const req = { version: 1, workflow_id: 'wf', event_id: 'evt-9' };
    const byEventId = await starter.handleRequested(req, 'env-2');
    sim.clock.advance(60_000);
    const byEventIdAgain = await starter.handleRequested(req, 'env-3');
    if (byEventId.outcome !== 'started') throw new Error(`expected a start, got ${byEventId.outcome}`);
    expect(byEventId.workflowExecutionId).not.toBe(first.workflowExecutionId);
    expect(byEventIdAgain).toEqual({
      outcome: 'duplicate',
      workflowExecutionId: byEventId.workflowExecutionId,
    });
    expect(sim.store.allRuns()).toHaveLength(2);
  });

  it('dates a derived id with the request time and derives different ids for different requests', async () => {
    const wf = workflow('wf', [sequential(['a.sh'])], { max_active_runs: 3 });
    const sim = createSimulation({ definitions: [wf] });
    const a = await sim.services.starter.handleRequested(
      { version: 1, workflow_id: 'wf' },
      'env-1',
      '2024-02-02T10:00:00.000Z',
    );
    const b = await sim.services.starter.handleRequested(
      { version: 1, workflow_id: 'wf' },
      'env-2',
      '2024-02-02T10:00:00.000Z',
    );
    if (a.outcome !== 'started' || b.outcome !== 'started') throw new Error('expected two runs');
    expect(a.workflowExecutionId).not.toBe(b.workflowExecutionId);
    expect(decodeTime(a.workflowExecutionId.slice(-26))).toBe(Date.parse('2024-02-02T10:00:00.000Z'));
  });

  it('maps every delivery of one schedule tick to one run', async () => {
    const clean = await expectSameUnderChaos(
      { definitions: [THREE_STAGES] },
      async (sim) => {
        // EventBridge Scheduler may deliver a tick more than once, each time with a new envelope id.
        sim.request({ workflow_id: 'wf', scheduled_time: '2024-01-01T00:00:00Z' });
        sim.request({ workflow_id: 'wf', scheduled_time: '2024-01-01T00:00:00Z' });
        await sim.runUntilIdle();
      },
      [],
    );
    expect(clean.store.allRuns()).toHaveLength(1);
    expect(clean.eventsOf('WorkflowRejected')).toEqual([]);
  });

  it('starts exactly one run for a request without an execution id, even with every delivery repeated', async () => {
    for (let seed = 1; seed <= 6; seed++) {
      const sim = createSimulation({
        definitions: [THREE_STAGES],
        chaos: { duplicate: true, shuffle: true, seed, maxDuplicateDelayMs: 30_000 },
      });
      sim.request({ workflow_id: 'wf' });
      await sim.runUntilIdle();
      expect(sim.store.allRuns().map((r) => r.execution_status)).toEqual(['Completed']);
      expect(sim.eventsOf('WorkflowRejected')).toEqual([]);
      expect(sim.problems()).toEqual([]);
    }
  });
});

describe('starter: max_active_runs', () => {
  const scenario: Scenario = async (sim) => {
    sim.script({ job: 'a.sh', workflowExecutionId: 'r1' }, { outcome: 'hang' });
    sim.request({ workflow_id: 'wf', workflow_execution_id: 'r1' });
    await sim.runUntilIdle();
    sim.request({ workflow_id: 'wf', workflow_execution_id: 'r2' });
    await sim.runUntilIdle();
    sim.finishJob('a.sh', { outcome: 'complete' });
    await sim.runUntilIdle();
    sim.request({ workflow_id: 'wf', workflow_execution_id: 'r3' });
    await sim.runUntilIdle();
  };

  it('refuses a second start while one runs (ActiveRunLimit) and allows it after the first finished', async () => {
    const clean = await expectSameUnderChaos({ definitions: [THREE_STAGES] }, scenario, ['r1', 'r2', 'r3']);
    const rejected = clean.eventsOf('WorkflowRejected');
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatchObject({ reason: 'ActiveRunLimit', workflow_execution_id: 'r2' });
    expect(rejected[0]?.message).toContain('r1');
    expect(clean.run('r2')).toBeUndefined();
    expect(clean.run('r1')?.execution_status).toBe('Completed');
    expect(clean.run('r3')?.execution_status).toBe('Completed');
  });

  it('allows as many runs at once as max_active_runs says', async () => {
    const wf = workflow('wf2', [sequential(['x.sh'])], { max_active_runs: 2 });
    const sim = await expectSameUnderChaos(
      { definitions: [wf] },
      async (s) => {
        s.script('x.sh', { outcome: 'hang' });
        s.request({ workflow_id: 'wf2', workflow_execution_id: 'r1' });
        s.request({ workflow_id: 'wf2', workflow_execution_id: 'r2' });
        await s.runUntilIdle();
        s.request({ workflow_id: 'wf2', workflow_execution_id: 'r3' });
        await s.runUntilIdle();
      },
      ['r1', 'r2', 'r3'],
    );
    expect(sim.store.allRuns().map((r) => r.workflow_execution_id)).toEqual(['r1', 'r2']);
    expect(sim.eventsOf('WorkflowRejected').map((r) => r.workflow_execution_id)).toEqual(['r3']);
    expect(sim.maxConcurrent()).toBe(2);
  });
});

describe('starter: restart', () => {
  const wf = workflow('wf', [sequential(['a.sh', 'b.sh', 'c.sh']), parallel(['d.sh', 'e.sh'])]);
  const chain: Scenario = async (sim) => {
    sim.script(
      { job: 'b.sh', workflowExecutionId: 'r1' },
      { outcome: 'fail', exitCode: 2, message: 'bad row' },
    );
    sim.script({ job: 'e.sh', workflowExecutionId: 'r2' }, { outcome: 'fail', exitCode: 9 });
    sim.request({ workflow_id: 'wf', workflow_execution_id: 'r1', parameters: { DAY: 'mon' } });
    await sim.runUntilIdle();
    sim.request({ workflow_id: 'wf', workflow_execution_id: 'r2', restart_of: 'r1' });
    await sim.runUntilIdle();
    sim.request({ workflow_id: 'wf', workflow_execution_id: 'r3', restart_of: 'r2' });
    await sim.runUntilIdle();
  };

  it('reruns only what did not complete, along a chain of restarts', async () => {
    const clean = await expectSameUnderChaos({ definitions: [wf] }, chain, ['r1', 'r2', 'r3']);
    expect(clean.run('r1')?.execution_status).toBe('Failed');
    expect(clean.jobs('r2').map((j) => [j.job_key, j.execution_status, j.skip_reason])).toEqual([
      ['1.1', 'Skipped', 'completed in run r1'],
      ['1.2', 'Completed', null],
      ['1.3', 'Completed', null],
      ['2.1', 'Completed', null],
      ['2.2', 'Failed', null],
    ]);
    expect(clean.run('r2')).toMatchObject({ execution_status: 'Failed', restart_of: 'r1' });
    expect(clean.jobs('r3').map((j) => [j.job_key, j.execution_status, j.skip_reason])).toEqual([
      ['1.1', 'Skipped', 'completed in run r1'],
      ['1.2', 'Skipped', 'completed in run r2'],
      ['1.3', 'Skipped', 'completed in run r2'],
      ['2.1', 'Skipped', 'completed in run r2'],
      ['2.2', 'Completed', null],
    ]);
    expect(clean.run('r3')).toMatchObject({
      execution_status: 'Completed',
      counts: { total: 5, completed: 1, skipped: 4 },
      current_stage: 2,
    });
    // Completed jobs never run again; the restarted run keeps the parameters of the first.
    expect(clean.intervals('r3').map((i) => i.job_key)).toEqual(['2.2']);
    expect(clean.intervals('r2').map((i) => i.job_key)).toEqual(['1.2', '1.3', '2.1', '2.2']);
    for (const s of clean.agent.sends) expect(s.command.parameters).toEqual({ DAY: 'mon' });
    expect(clean.eventsOf('WorkflowStarted', 'r3')[0]?.stages.map((s) => s.jobs_to_run)).toEqual([0, 1]);
  });

  it("refuses to restart a Completed or Running run, an unknown run or another workflow's run", async () => {
    const other = workflow('other', [sequential(['z.sh'])]);
    const sim = createSimulation({ definitions: [wf, other] });
    sim.script({ job: 'z.sh' }, { outcome: 'hang' });
    sim.request({ workflow_id: 'wf', workflow_execution_id: 'done' });
    sim.request({ workflow_id: 'other', workflow_execution_id: 'busy' });
    await sim.runUntilIdle();
    expect(sim.run('done')?.execution_status).toBe('Completed');
    expect(sim.run('busy')?.execution_status).toBe('Running');
    const starter = sim.services.starter;
    const cases = [
      { workflow_id: 'wf', workflow_execution_id: 'x1', restart_of: 'done' },
      { workflow_id: 'other', workflow_execution_id: 'x2', restart_of: 'busy' },
      { workflow_id: 'wf', workflow_execution_id: 'x3', restart_of: 'ghost' },
      { workflow_id: 'wf', workflow_execution_id: 'x4', restart_of: 'busy' },
    ];
    const reasons = [];
    for (const [i, c] of cases.entries()) {
      const r = await starter.handleRequested({ version: 1, ...c }, `env-${i}`);
      reasons.push(r.outcome === 'rejected' ? [r.rejection.reason, r.rejection.message] : r.outcome);
    }
    expect(reasons).toEqual([
      ['RestartNotAllowed', 'run done is Completed; only Failed or Cancelled runs can be restarted'],
      ['RestartNotAllowed', 'run busy is Running; only Failed or Cancelled runs can be restarted'],
      ['RestartNotAllowed', 'no run ghost to restart'],
      ['RestartNotAllowed', 'run busy belongs to workflow other'],
    ]);
    for (const id of ['x1', 'x2', 'x3', 'x4']) expect(sim.run(id)).toBeUndefined();
  });

  it('restarts a run once: a second restart is refused naming the run that restarted it and its status', async () => {
    const sim = createSimulation({ definitions: [wf] });
    sim.script({ job: 'b.sh', workflowExecutionId: 'r1' }, { outcome: 'fail', exitCode: 2 });
    sim.request({ workflow_id: 'wf', workflow_execution_id: 'r1' });
    await sim.runUntilIdle();
    sim.request({ workflow_id: 'wf', workflow_execution_id: 'r2', restart_of: 'r1' });
    await sim.runUntilIdle();
    expect(sim.run('r1')).toMatchObject({ execution_status: 'Failed', restarted_as: 'r2' });
    expect(sim.run('r2')?.execution_status).toBe('Completed');
    const starter = sim.services.starter;
    // A redelivery of the restart that happened is a duplicate, not a refusal.
    const again = await starter.handleRequested(
      { version: 1, workflow_id: 'wf', workflow_execution_id: 'r2', restart_of: 'r1' },
      'env-again',
    );
    expect(again).toEqual({ outcome: 'duplicate', workflowExecutionId: 'r2' });
    const second = await starter.handleRequested(
      { version: 1, workflow_id: 'wf', workflow_execution_id: 'r3', restart_of: 'r1' },
      'env-second',
    );
    expect(second).toMatchObject({
      outcome: 'rejected',
      rejection: {
        reason: 'RestartNotAllowed',
        workflow_execution_id: 'r3',
        message:
          'run r1 was already restarted as r2 (Completed); a run is restarted once: restart the latest run of the chain instead',
      },
    });
    expect(sim.run('r3')).toBeUndefined();
    expect(sim.jobs('r3')).toEqual([]);
    expect(sim.problems()).toEqual([]);
  });

  it('two restarts of one run at the same time: exactly one starts, the other is refused naming it', async () => {
    const sim = createSimulation({ definitions: [wf] });
    sim.script({ job: 'b.sh', workflowExecutionId: 'r1' }, { outcome: 'fail', exitCode: 2 });
    sim.request({ workflow_id: 'wf', workflow_execution_id: 'r1' });
    await sim.runUntilIdle();
    const starter = sim.services.starter;
    const results = await Promise.all(
      ['ra', 'rb'].map((id) =>
        starter.handleRequested(
          { version: 1, workflow_id: 'wf', workflow_execution_id: id, restart_of: 'r1' },
          id,
        ),
      ),
    );
    const started = results.filter((r) => r.outcome === 'started');
    const refused = results.filter((r) => r.outcome === 'rejected');
    expect(started).toHaveLength(1);
    expect(refused).toHaveLength(1);
    const winner = started[0]?.outcome === 'started' ? started[0].workflowExecutionId : '';
    expect(sim.run('r1')?.restarted_as).toBe(winner);
    expect(refused[0]?.outcome === 'rejected' && refused[0].rejection.message).toMatch(
      new RegExp(`^run r1 was already restarted as ${winner} \\(Running\\)`),
    );
    expect(sim.run(winner === 'ra' ? 'rb' : 'ra')).toBeUndefined();
  });

  it('a restart takes parameters from the definition it runs, keeping those the request gave', async () => {
    const v1 = workflow('wf', [sequential(['a.sh', 'b.sh'])], { parameters: { REGION: 'eu', LIMIT: '5' } });
    const sim = createSimulation({ definitions: [v1] });
    sim.script({ job: 'b.sh', workflowExecutionId: 'r1' }, { outcome: 'fail', exitCode: 2 });
    sim.request({ workflow_id: 'wf', workflow_execution_id: 'r1', parameters: { DAY: 'mon', LIMIT: '7' } });
    await sim.runUntilIdle();
    expect(sim.run('r1')).toMatchObject({
      parameters: { REGION: 'eu', LIMIT: '7', DAY: 'mon' },
      requested_parameters: { DAY: 'mon', LIMIT: '7' },
    });
    sim.define(workflow('wf', [sequential(['a.sh', 'b.sh'])], { parameters: { REGION: 'us', LIMIT: '5' } }));
    sim.request({
      workflow_id: 'wf',
      workflow_execution_id: 'r2',
      restart_of: 'r1',
      definition_source: { kind: 'file', file: '/w/workflow.json', changes: ['parameters.REGION eu → us'] },
    });
    await sim.runUntilIdle();
    expect(sim.run('r2')).toMatchObject({
      execution_status: 'Completed',
      parameters: { REGION: 'us', LIMIT: '7', DAY: 'mon' },
      requested_parameters: { DAY: 'mon', LIMIT: '7' },
      definition_source: { kind: 'file', file: '/w/workflow.json', changes: ['parameters.REGION eu → us'] },
    });
    const last = sim.agent.sends.at(-1);
    expect(last?.command.parameters).toEqual({ REGION: 'us', LIMIT: '7', DAY: 'mon' });
  });

  it('refuses an execution id that belongs to another workflow', async () => {
    const other = workflow('other', [sequential(['z.sh'])]);
    const sim = createSimulation({ definitions: [wf, other] });
    sim.request({ workflow_id: 'wf', workflow_execution_id: 'shared' });
    await sim.runUntilIdle();
    const r = await sim.services.starter.handleRequested(
      { version: 1, workflow_id: 'other', workflow_execution_id: 'shared' },
      'env-x',
    );
    expect(r).toMatchObject({ outcome: 'rejected', rejection: { reason: 'ExecutionIdConflict' } });
  });
});

describe('starter: cancel', () => {
  const wf = workflow(
    'wf',
    [parallel(['a.sh', 'b.sh', 'c.sh'], { maxConcurrency: 2 }), sequential(['d.sh'])],
    { defaults: { retries: 1, retry_backoff_seconds: 60 } },
  );
  const scenario: Scenario = async (sim) => {
    sim.script('a.sh', { outcome: 'hang' });
    sim.script({ job: 'b.sh', attempt: 1 }, { outcome: 'fail', exitCode: 1, durationSeconds: 5 });
    sim.request({ workflow_id: 'wf', workflow_execution_id: 'r1' });
    // a.sh runs, b.sh failed and waits (Queued) 60 s for its retry, c.sh has no slot.
    await sim.advance(10);
    sim.cancel({ workflow_id: 'wf', workflow_execution_id: 'r1', reason: 'operator' });
    await sim.runUntilIdle();
  };

  it('cancels queued jobs, stops running ones, starts nothing more and ends the run Cancelled', async () => {
    const clean = await expectSameUnderChaos({ definitions: [wf] }, scenario, ['r1']);
    expect(clean.jobs('r1').map((j) => [j.job_key, j.execution_status, j.attempt, j.skip_reason])).toEqual([
      ['1.1', 'Cancelled', 1, null],
      ['1.2', 'Cancelled', 2, null],
      ['1.3', 'Skipped', 1, 'not started: the run was cancelled'],
      ['2.1', 'Skipped', 1, 'not started: the run was cancelled'],
    ]);
    expect(clean.job('r1', '1.1')?.error_message).toBe('cancelled: operator');
    expect(clean.wrapper.stops.map((s) => [s.name, s.reason])).toEqual([
      ['r1--1-1--a1', 'cancelled: operator'],
    ]);
    expect(clean.wrapper.runs.get('r1--1-1--a1')?.status).toBe('Aborted');
    expect(clean.intervals('r1').map((i) => [i.job_key, i.attempt, i.status])).toEqual([
      ['1.1', 1, 'Cancelled'],
      ['1.2', 1, 'Failed'],
    ]);
    expect(clean.run('r1')).toMatchObject({
      execution_status: 'Cancelled',
      cancel_requested: true,
      counts: { total: 4, cancelled: 2, skipped: 2 },
    });
    expect(clean.eventsOf('WorkflowFinished')).toMatchObject([{ status: 'Cancelled', failed_stage: 1 }]);
    expect(clean.eventsOf('StageCompleted')).toMatchObject([{ stage: 1, status: 'Cancelled' }]);
  });

  it('ends a run with nothing in flight at once, and a repeated cancel changes nothing', async () => {
    const clean = await expectSameUnderChaos(
      { definitions: [wf] },
      async (sim) => {
        // The run exists, but its first StageReady has not been delivered yet: nothing is in flight.
        const starter = sim.services.starter;
        await starter.handleRequested({ version: 1, workflow_id: 'wf', workflow_execution_id: 'r1' }, 'e1');
        await starter.handleCancelRequested({ version: 1, workflow_id: 'wf', workflow_execution_id: 'r1' });
        expect(sim.run('r1')?.execution_status).toBe('Cancelled');
        sim.cancel({ workflow_id: 'wf', workflow_execution_id: 'r1' });
        await sim.runUntilIdle();
      },
      ['r1'],
    );
    expect(clean.run('r1')?.execution_status).toBe('Cancelled');
    expect(clean.jobs('r1').map((j) => [j.execution_status, j.skip_reason])).toEqual([
      ['Skipped', 'cancelled by request'],
      ['Skipped', 'cancelled by request'],
      ['Skipped', 'cancelled by request'],
      ['Skipped', 'cancelled by request'],
    ]);
    expect(clean.timeline).toEqual([]);
    expect(clean.eventsOf('WorkflowFinished')).toHaveLength(1);
  });

  it('looks again at a job the dispatcher took while the cancel ran, and never leaves it Dispatched', async () => {
    const sim = createSimulation({ definitions: [wf] });
    sim.script('a.sh', { outcome: 'hang' });
    await sim.startAndPlan('wf', 'r1');
    expect(sim.job('r1', '1.1')?.execution_status).toBe('Queued');
    // The interleaving: the cancel read 1.1 as Queued; before its conditional write lands, the
    // dispatcher moves 1.1 to Dispatched (its wrapper started). The write fails.
    const jobs = sim.store.jobs();
    let raced = false;
    const racingJobs: JobRepository = {
      ...jobs,
      transition: async (t, fx) => {
        if (!raced && t.jobKey === '1.1' && t.set.execution_status === 'Cancelled') {
          raced = true;
          // What a dispatcher that read the run before the cancel does next: start the wrapper,
          // then move the job Queued → Dispatched.
          await sim.wrapper.start({
            version: 1,
            job_run_name: 'r1--1-1--a1',
            workflow_id: 'wf',
            workflow_execution_id: 'r1',
            job_key: '1.1',
            job_name: 'a.sh',
            stage: 1,
            attempt: 1,
            timeout_seconds: 86_400,
            heartbeat_seconds: 300,
          });
          await jobs.transition({
            workflowExecutionId: 'r1',
            jobKey: '1.1',
            expect: { attempt: 1, statuses: ['Queued'] },
            set: { execution_status: 'Dispatched' },
          });
        }
        return jobs.transition(t, fx);
      },
    };
    const starter = createStarterService({
      definitions: sim.store.definitions(),
      runs: sim.store.runs(),
      operator: sim.store.operator(),
      jobs: racingJobs,
      events: { publish: async (evs) => sim.publish(evs), ensurePublished: async () => {} },
      orchestrator: sim.wrapper,
      pools: sim.store.pools(),
      clock: sim.clock,
      log: sim.log,
    });
    await starter.handleCancelRequested({ version: 1, workflow_id: 'wf', workflow_execution_id: 'r1' });
    expect(raced).toBe(true);
    // Looked at again as Dispatched (no host yet): its wrapper is stopped and it is reported.
    expect(sim.wrapper.stops.map((x) => x.name)).toEqual(['r1--1-1--a1']);
    expect(sim.eventsOf('JobFinished')).toMatchObject([{ job_key: '1.1', status: 'Cancelled' }]);
    await sim.runUntilIdle();
    expect(sim.job('r1', '1.1')?.execution_status).toBe('Cancelled');
    expect(sim.run('r1')?.execution_status).toBe('Cancelled');
    expect(sim.timeline).toEqual([]);
  });

  it('asks the agent holding a running job to kill it, and leaves reporting it Cancelled to that agent', async () => {
    const sim = createSimulation({ definitions: [wf] });
    sim.script('a.sh', { outcome: 'hang' });
    sim.script('b.sh', { outcome: 'hang' });
    sim.request({ workflow_id: 'wf', workflow_execution_id: 'r1' });
    await sim.advance(5);
    expect(sim.jobs('r1').map((j) => j.execution_status)).toEqual([
      'Running',
      'Running',
      'Pending',
      'Pending',
    ]);
    const cancels: Array<{ instanceId: string; cancel: JobCancel }> = [];
    const starter = createStarterService({
      definitions: sim.store.definitions(),
      runs: sim.store.runs(),
      operator: sim.store.operator(),
      jobs: sim.store.jobs(),
      events: { publish: async (evs) => sim.publish(evs), ensurePublished: async () => {} },
      orchestrator: sim.wrapper,
      pools: sim.store.pools(),
      agents: {
        cancel: async (agent, cancel) => {
          cancels.push({ instanceId: agent.instanceId, cancel });
          return { commandId: 'cmd-cancel' };
        },
      },
      clock: sim.clock,
      log: sim.log,
    });
    const before = sim.published.length;
    await starter.handleCancelRequested({
      version: 1,
      workflow_id: 'wf',
      workflow_execution_id: 'r1',
      reason: 'operator',
    });
    expect(cancels).toEqual([
      {
        instanceId: 'i-sim-1',
        cancel: {
          version: 1,
          kind: 'cancel',
          job_run_name: 'r1--1-1--a1',
          workflow_id: 'wf',
          workflow_execution_id: 'r1',
          job_key: '1.1',
          job_name: 'a.sh',
          stage: 1,
          attempt: 1,
          reason: 'cancelled: operator',
          requested_at: expect.any(String),
        },
      },
      expect.objectContaining({ instanceId: 'i-sim-1', cancel: expect.objectContaining({ job_key: '1.2' }) }),
    ]);
    // Nothing reported, nothing stopped: the jobs count as running until their agent says the
    // process tree is gone (a restart cannot start them beside their previous attempt).
    expect(sim.published.slice(before)).toEqual([]);
    expect(sim.wrapper.stops).toEqual([]);
    expect(sim.jobs('r1').map((j) => j.execution_status)).toEqual([
      'Running',
      'Running',
      'Pending',
      'Pending',
    ]);
    expect(sim.run('r1')).toMatchObject({ execution_status: 'Running', cancel_requested: true });
  });

  it('ignores a cancel for a run that already ended', async () => {
    const sim = createSimulation({ definitions: [wf] });
    sim.request({ workflow_id: 'wf', workflow_execution_id: 'r1' });
    await sim.runUntilIdle();
    const before = sim.run('r1');
    sim.cancel({ workflow_id: 'wf', workflow_execution_id: 'r1' });
    await sim.runUntilIdle();
    expect(sim.run('r1')).toEqual(before);
    expect(before?.execution_status).toBe('Completed');
  });
});

describe('starter: shipped script versions', () => {
  const V1 = '1'.repeat(64);
  const V2 = '2'.repeat(64);

  it('records the deployed version on each new run of a shipped workflow, every job carries it, a restart takes the version current then', async () => {
    let deployed = V1;
    const failOnce = new Set(['r1']);
    const sim = createSimulation({
      definitions: [THREE_STAGES, workflow('own', [sequential(['x.sh'])])],
      scriptVersion: (id) => (id === 'wf' ? deployed : undefined),
      // b.sh fails in r1 only, so r1 can be restarted.
      script: (cmd) =>
        cmd.job_key === '1.2' && failOnce.has(cmd.workflow_execution_id)
          ? { outcome: 'fail', exitCode: 3, message: 'broken' }
          : undefined,
    });
    sim.request({ workflow_id: 'wf', workflow_execution_id: 'r1' });
    await sim.runUntilIdle();
    expect(sim.run('r1')).toMatchObject({ execution_status: 'Failed', script_version: V1 });
    const r1Sends = sim.agent.sends.filter((s) => s.command.workflow_execution_id === 'r1');
    expect(r1Sends.length).toBeGreaterThan(0);
    for (const s of r1Sends) expect(s.command.script_version).toBe(V1);

    deployed = V2; // a deploy
    sim.request({ workflow_id: 'wf', workflow_execution_id: 'r2', restart_of: 'r1' });
    await sim.runUntilIdle();
    expect(sim.run('r2')).toMatchObject({ execution_status: 'Completed', script_version: V2 });
    expect(sim.run('r1')?.script_version).toBe(V1);
    for (const s of sim.agent.sends.filter((x) => x.command.workflow_execution_id === 'r2'))
      expect(s.command.script_version).toBe(V2);

    // A workflow the stack does not ship: no version, its jobs run from rsql_script_path.
    sim.request({ workflow_id: 'own', workflow_execution_id: 'o1' });
    await sim.runUntilIdle();
    expect(sim.run('o1')?.execution_status).toBe('Completed');
    expect(sim.run('o1')).not.toHaveProperty('script_version');
    for (const s of sim.agent.sends.filter((x) => x.command.workflow_execution_id === 'o1'))
      expect(s.command).not.toHaveProperty('script_version');
  });
});
