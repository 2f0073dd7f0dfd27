/**
 * The planner's pool wake (issue 14, plan §4.4): PoolSlotFreed / PoolResized grant the pool's free
 * slots to its oldest waiters (request order across workflows), each with its job's message; a
 * waiter whose job no longer waits is dropped from the queue and the next one gets the slot.
 */
import { describe, expect, it } from 'vitest';
import { parallel, workflow } from '../testing/fixtures.js';
import { createSimulation, type Simulation } from '../testing/in-memory.js';

const WF = workflow('wf', [{ ...parallel(['a.sh', 'b.sh', 'c.sh', 'd.sh']), pool: 'wlm' }], {
  pools: { wlm: 1 },
});

/** r1 started; 1.1 holds the one slot, 1.2–1.4 wait in that order. Nothing else delivered. */
async function waiting(): Promise<Simulation> {
  const sim = createSimulation({ definitions: [WF] });
  await sim.startAndPlan('wf', 'r1');
  for (const [i, key] of ['1.1', '1.2', '1.3', '1.4'].entries()) {
    sim.clock.set(Date.parse('2024-01-01T00:00:00.000Z') + i * 1000);
    await sim.services.dispatcher.handleMessage({
      version: 1,
      workflow_id: 'wf',
      workflow_execution_id: 'r1',
      job_key: key,
      attempt: 1,
    });
  }
  return sim;
}

const messages = (sim: Simulation) =>
  sim.store.outbox.flatMap((r) => (r.kind === 'message' ? [r.message.body.job_key] : []));

describe('planner: pool wake', () => {
  it('grants nothing while no slot is free, and nothing twice', async () => {
    const sim = await waiting();
    expect(await sim.services.planner.handlePoolWake('wlm')).toEqual({
      pool: 'wlm',
      granted: [],
      dropped: [],
    });
    expect(await sim.services.planner.handlePoolWake('no_such_pool')).toEqual({
      pool: 'no_such_pool',
      granted: [],
      dropped: [],
    });
  });

  it('grants freed slots to the oldest waiters, with their messages', async () => {
    const sim = await waiting();
    const before = messages(sim).length;
    await sim.store.pools().release('wlm', 'r1--1-1--a1', {});
    await sim.store
      .pools()
      .resize(
        'wlm',
        2,
        { requested_at: '2024-01-01T00:00:05.000Z', request_id: 'r', created_by: 'operator:test' },
        {},
      );
    expect(await sim.services.planner.handlePoolWake('wlm')).toEqual({
      pool: 'wlm',
      granted: ['r1--1-2--a1', 'r1--1-3--a1'],
      dropped: [],
    });
    expect(messages(sim).slice(before)).toEqual(['1.2', '1.3']);
    expect(sim.job('r1', '1.2')?.waiting_for).toBeNull();
    expect(sim.job('r1', '1.4')?.waiting_for).toBe('pool:wlm');
    // A duplicate wake finds no free slot.
    expect((await sim.services.planner.handlePoolWake('wlm')).granted).toEqual([]);
  });

  it('drops a waiter whose job was cancelled and gives the slot to the next', async () => {
    const sim = await waiting();
    await sim.store.jobs().transition({
      workflowExecutionId: 'r1',
      jobKey: '1.2',
      expect: { attempt: 1, statuses: ['Queued'] },
      set: { execution_status: 'Cancelled' },
    });
    await sim.store.pools().release('wlm', 'r1--1-1--a1', {});
    expect(await sim.services.planner.handlePoolWake('wlm')).toEqual({
      pool: 'wlm',
      granted: ['r1--1-3--a1'],
      dropped: ['r1--1-2--a1'],
    });
    expect((await sim.store.pools().get('wlm'))?.waiters.map((w) => w.jobKey)).toEqual(['1.4']);
  });
});
