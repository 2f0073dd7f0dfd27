import { describe, expect, it } from 'vitest';
import type { StageReady } from '../../contracts/events.js';
import type { RunRepository } from '../ports.js';
import { parallel, scripts, sequential, workflow } from '../testing/fixtures.js';
import {
  compareUnderChaos,
  createSimulation,
  type Scenario,
  type Simulation,
  type SimulationOptions,
} from '../testing/in-memory.js';
import { createPlannerService, MAX_CLAIM } from './service.js';

async function expectSameUnderChaos(
  opts: SimulationOptions,
  scenario: Scenario,
  execs: string[],
): Promise<Simulation> {
  const { clean, differences } = await compareUnderChaos(opts, scenario, execs);
  expect(differences).toEqual([]);
  return clean;
}

const start =
  (workflowId: string, exec = 'r1'): Scenario =>
  async (sim) => {
    sim.request({ workflow_id: workflowId, workflow_execution_id: exec });
    await sim.runUntilIdle();
  };

function stageReady(exec: string, stage: number, cause = 'test'): StageReady {
  return {
    version: 1,
    event_id: `StageReady:${exec}:${stage}:${cause}`,
    occurred_at: '2024-01-01T00:00:00.000Z',
    workflow_id: 'wf',
    workflow_execution_id: exec,
    stage,
  };
}

const inStage = (stage: number) => (t: { stage: number }) => t.stage === stage;

describe('planner: sequential stages', () => {
  const wf = workflow('wf', [sequential(['a.sh', 'b.sh', 'c.sh', 'd.sh'])]);

  it('runs one job at a time, in order, each starting when the previous one ended', async () => {
    const clean = await expectSameUnderChaos(
      { definitions: [wf] },
      async (sim) => {
        sim.script('b.sh', { outcome: 'complete', durationSeconds: 40 });
        sim.script('c.sh', { outcome: 'complete', durationSeconds: 3 });
        await start('wf')(sim);
      },
      ['r1'],
    );
    const iv = clean.intervals('r1');
    expect(iv.map((i) => i.job_key)).toEqual(['1.1', '1.2', '1.3', '1.4']);
    for (let i = 1; i < iv.length; i++) expect(iv[i]?.start).toBe(iv[i - 1]?.end);
    expect(clean.maxConcurrent()).toBe(1);
    expect(clean.run('r1')?.execution_status).toBe('Completed');
  });

  it('queues nothing more on a repeated StageReady while a job is in flight', async () => {
    const sim = createSimulation({ definitions: [wf] });
    await sim.services.starter.handleRequested(
      { version: 1, workflow_id: 'wf', workflow_execution_id: 'r1' },
      'e1',
    );
    const planner = sim.services.planner;
    expect(await planner.handleStageReady(stageReady('r1', 1))).toEqual({ queued: ['1.1'] });
    expect(await planner.handleStageReady(stageReady('r1', 1))).toEqual({
      queued: [],
      reason: 'no free slot',
    });
    expect(sim.jobs('r1').map((j) => j.execution_status)).toEqual([
      'Queued',
      'Pending',
      'Pending',
      'Pending',
    ]);
    expect(sim.run('r1')?.stages[0]).toMatchObject({ cursor: 1, launched: 1 });
  });
});

describe('planner: parallel stages', () => {
  it('starts every job of an unlimited parallel stage at once', async () => {
    const wf = workflow('wf', [parallel(scripts('p', 6))]);
    const clean = await expectSameUnderChaos({ definitions: [wf] }, start('wf'), ['r1']);
    const iv = clean.intervals('r1');
    expect(iv).toHaveLength(6);
    expect(new Set(iv.map((i) => i.start)).size).toBe(1);
    expect(clean.maxConcurrent()).toBe(6);
  });

  it('never exceeds max_concurrency and reaches it', async () => {
    const wf = workflow('wf', [parallel(scripts('p', 9), { maxConcurrency: 3 }), sequential(['z.sh'])]);
    const clean = await expectSameUnderChaos(
      { definitions: [wf] },
      async (sim) => {
        // Uneven durations so slots free up at different times.
        for (let i = 1; i <= 9; i++)
          sim.script(`p${i}.sh`, { outcome: 'complete', durationSeconds: 5 + ((i * 7) % 11) });
        await start('wf')(sim);
      },
      ['r1'],
    );
    expect(clean.maxConcurrent(inStage(1))).toBe(3);
    expect(clean.intervals('r1').filter((i) => i.stage === 1)).toHaveLength(9);
    // Stage 2 starts only when the whole of stage 1 is over.
    const lastEnd = Math.max(
      ...clean
        .intervals('r1')
        .filter((i) => i.stage === 1)
        .map((i) => i.end ?? 0),
    );
    expect(clean.intervals('r1').find((i) => i.stage === 2)?.start).toBe(lastEnd);
  });

  it('passes over jobs skipped from the start without using a slot', async () => {
    const wf = workflow('wf', [parallel(['a.sh', 'b.sh', 'c.sh', 'd.sh'], { maxConcurrency: 2 })]);
    const clean = await expectSameUnderChaos(
      { definitions: [wf] },
      async (sim) => {
        sim.script(
          { job: 'b.sh', workflowExecutionId: 'r1' },
          { outcome: 'fail', exitCode: 1, durationSeconds: 2 },
        );
        await start('wf', 'r1')(sim);
        sim.request({ workflow_id: 'wf', workflow_execution_id: 'r2', restart_of: 'r1' });
        await sim.runUntilIdle();
      },
      ['r1', 'r2'],
    );
    // r1: b failed while a ran; c and d never started. r2 reruns b, c and d; a is skipped.
    expect(clean.jobs('r1').map((j) => j.execution_status)).toEqual([
      'Completed',
      'Failed',
      'Skipped',
      'Skipped',
    ]);
    const r2 = clean.intervals('r2');
    expect(r2.map((i) => i.job_key)).toEqual(['1.2', '1.3', '1.4']);
    expect(r2[0]?.start).toBe(r2[1]?.start);
    expect(clean.maxConcurrent((t) => t.workflow_execution_id === 'r2')).toBe(2);
  });
});

describe('planner: wide stages are claimed in steps of MAX_CLAIM', () => {
  it('never queues more than MAX_CLAIM at once and still runs every job at once', async () => {
    const width = MAX_CLAIM * 2 + 17;
    const wf = workflow('wf', [parallel(scripts('w', width))]);
    const clean = await expectSameUnderChaos({ definitions: [wf] }, start('wf'), ['r1']);
    const sizes = clean.store.claims.map((c) => c.jobs.length);
    expect(Math.max(...sizes)).toBe(MAX_CLAIM);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(width);
    expect(clean.run('r1')).toMatchObject({ execution_status: 'Completed', counts: { completed: width } });
    expect(clean.maxConcurrent()).toBe(width);
  });

  it('fills a max_concurrency above MAX_CLAIM, and never exceeds it', async () => {
    const wf = workflow('wf', [parallel(scripts('w', 200), { maxConcurrency: MAX_CLAIM + 20 })]);
    const clean = await expectSameUnderChaos({ definitions: [wf] }, start('wf'), ['r1']);
    expect(Math.max(...clean.store.claims.map((c) => c.jobs.length))).toBeLessThanOrEqual(MAX_CLAIM);
    expect(clean.maxConcurrent()).toBe(MAX_CLAIM + 20);
    expect(clean.run('r1')?.counts.completed).toBe(200);
  });
});

describe('planner: when nothing may start', () => {
  it('queues nothing after the stage failed, for a finished stage, a finished run or an unknown run', async () => {
    const wf = workflow('wf', [
      parallel(['a.sh', 'b.sh', 'c.sh'], { maxConcurrency: 1 }),
      sequential(['d.sh']),
    ]);
    const sim = createSimulation({ definitions: [wf] });
    sim.script('a.sh', { outcome: 'fail', exitCode: 5 });
    await start('wf')(sim);
    const planner = sim.services.planner;
    expect(sim.run('r1')?.execution_status).toBe('Failed');
    expect(await planner.handleStageReady(stageReady('r1', 1))).toEqual({
      queued: [],
      reason: 'run is Failed',
    });
    expect(await planner.handleStageReady(stageReady('nope', 1))).toEqual({
      queued: [],
      reason: 'unknown run',
    });
    expect(sim.timeline.filter((t) => t.type === 'start').map((t) => t.job_key)).toEqual(['1.1']);
  });

  it('queues nothing for a stage that is not running yet', async () => {
    const wf = workflow('wf', [sequential(['a.sh']), sequential(['b.sh'])]);
    const sim = createSimulation({ definitions: [wf] });
    await sim.services.starter.handleRequested(
      { version: 1, workflow_id: 'wf', workflow_execution_id: 'r1' },
      'e1',
    );
    expect(await sim.services.planner.handleStageReady(stageReady('r1', 2))).toEqual({
      queued: [],
      reason: 'stage is Pending',
    });
  });
});

describe('planner: racing planners', () => {
  const wf = workflow('wf', [parallel(['a.sh', 'b.sh', 'c.sh', 'd.sh'], { maxConcurrency: 2 })]);

  it('plans again when another planner moved the stage meanwhile, and never exceeds the limit', async () => {
    const sim = createSimulation({ definitions: [wf] });
    await sim.services.starter.handleRequested(
      { version: 1, workflow_id: 'wf', workflow_execution_id: 'r1' },
      'e1',
    );
    const real = sim.store.runs();
    let raced = false;
    const runs: RunRepository = {
      ...real,
      claimJobs: async (claim, effects) => {
        if (!raced) {
          raced = true;
          // Another planner, reading the same state, claims first.
          await sim.services.planner.handleStageReady(stageReady('r1', 1, 'other'));
        }
        return real.claimJobs(claim, effects);
      },
    };
    const planner = createPlannerService({
      runs,
      jobs: sim.store.jobs(),
      pools: sim.store.pools(),
      clock: sim.clock,
      log: sim.log,
    });
    expect(await planner.handleStageReady(stageReady('r1', 1))).toEqual({
      queued: [],
      reason: 'no free slot',
    });
    expect(sim.store.claims.map((c) => c.jobs.map((j) => j.jobKey))).toEqual([['1.1', '1.2']]);
    expect(sim.jobs('r1').map((j) => j.execution_status)).toEqual(['Queued', 'Queued', 'Pending', 'Pending']);
  });

  it('gives up after maxConflicts conflicts in a row', async () => {
    const sim = createSimulation({ definitions: [wf] });
    await sim.services.starter.handleRequested(
      { version: 1, workflow_id: 'wf', workflow_execution_id: 'r1' },
      'e1',
    );
    let attempts = 0;
    const runs: RunRepository = {
      ...sim.store.runs(),
      claimJobs: async () => {
        attempts++;
        return 'conflict';
      },
    };
    const planner = createPlannerService({
      runs,
      jobs: sim.store.jobs(),
      pools: sim.store.pools(),
      clock: sim.clock,
      log: sim.log,
      maxConflicts: 2,
    });
    expect(await planner.handleStageReady(stageReady('r1', 1))).toEqual({
      queued: [],
      reason: 'gave up after repeated conflicts',
    });
    expect(attempts).toBe(3);
    expect(sim.jobs('r1').every((j) => j.execution_status === 'Pending')).toBe(true);
  });
});
