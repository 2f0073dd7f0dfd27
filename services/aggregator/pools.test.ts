/**
 * The aggregator gives a job's pool slot back exactly once per attempt (issue 14, plan §4.3):
 * under redelivery, under reordering of an old attempt's record behind a new attempt, and never
 * for a job that did not hold one (a waiter that was cancelled leaves the queue instead).
 */
import { describe, expect, it } from 'vitest';
import type { JobAuditRecord } from '../../contracts/audit.js';
import { parallel, workflow } from '../testing/fixtures.js';
import { createSimulation, type Simulation } from '../testing/in-memory.js';

const WF = workflow('wf', [{ ...parallel([{ script: 'a.sh', retries: 1 }, 'b.sh']), pool: 'wlm' }], {
  pools: { wlm: 1 },
  defaults: { retry_backoff_seconds: 5 },
});

const pool = (sim: Simulation) => sim.store.pools().get('wlm');
const freed = (sim: Simulation) => sim.eventsOf('PoolSlotFreed').map((e) => `${e.job_key}.a${e.attempt}`);

function row(sim: Simulation, key: string): JobAuditRecord {
  const j = sim.job('r1', key);
  if (!j) throw new Error(`no job ${key}`);
  return j;
}

describe('aggregator: pool slots released once per attempt', () => {
  it('a redelivered final record frees nothing twice; the redelivery re-derives the same event', async () => {
    const sim = createSimulation({ definitions: [WF], defaultDurationSeconds: 1 });
    sim.request({ workflow_id: 'wf', workflow_execution_id: 'r1' });
    await sim.runUntilIdle();
    expect(sim.problems()).toEqual([]);
    expect(freed(sim)).toEqual(['1.1.a1', '1.2.a1']);
    const done = row(sim, '1.1');
    // The record as the change feed carried it (before the count), delivered again.
    await sim.services.aggregator.handleJobChange({ ...done, counted: false });
    await sim.runUntilIdle();
    expect(freed(sim)).toEqual(['1.1.a1', '1.2.a1']);
    expect(sim.ensured.map((e) => e.event.detailType)).toContain('PoolSlotFreed');
    // ensurePublished of an event never published, or a different one, is a bus violation.
    expect(sim.problems()).toEqual([]);
    expect(await pool(sim)).toMatchObject({ holders: [], waiters: [] });
  });

  it('a late record of attempt 1 never touches attempt 2’s slot', async () => {
    const sim = createSimulation({ definitions: [WF], defaultDurationSeconds: 1 });
    sim.script({ job: 'a.sh', attempt: 1 }, { outcome: 'fail', message: 'boom' });
    sim.script({ job: 'a.sh', attempt: 2 }, { outcome: 'hang' });
    sim.request({ workflow_id: 'wf', workflow_execution_id: 'r1' });
    await sim.runUntilIdle();
    expect(row(sim, '1.1')).toMatchObject({ attempt: 2, execution_status: 'Running' });
    expect(await pool(sim)).toMatchObject({ holders: ['r1--1-1--a2'] });
    // Attempt 1's Failed record arrives again, after attempt 2 took the slot.
    const a1 = {
      ...row(sim, '1.1'),
      attempt: 1,
      execution_status: 'Failed' as const,
      counted: false,
      previous_attempts: [],
    };
    await sim.services.aggregator.handleJobChange(a1);
    await sim.runUntilIdle();
    expect(await pool(sim)).toMatchObject({ holders: ['r1--1-1--a2'] });
    expect(freed(sim).filter((f) => f.startsWith('1.1'))).toEqual(['1.1.a1']);
    expect(sim.finishJob('a.sh', { outcome: 'complete' })).toBe(true);
    await sim.runUntilIdle();
    expect(freed(sim).filter((f) => f.startsWith('1.1'))).toEqual(['1.1.a1', '1.1.a2']);
    expect(await pool(sim)).toMatchObject({ holders: [], waiters: [] });
    expect(sim.run('r1')?.execution_status).toBe('Completed');
    expect(sim.problems()).toEqual([]);
  });

  it('a job cancelled before it ever asked for a slot frees nothing and publishes nothing', async () => {
    const sim = createSimulation({ definitions: [WF], defaultDurationSeconds: 1 });
    await sim.startAndPlan('wf', 'r1');
    // Cancelled while Queued, before the dispatcher saw its message.
    const cancelled = await sim.store.jobs().transition({
      workflowExecutionId: 'r1',
      jobKey: '1.2',
      expect: { attempt: 1, statuses: ['Queued'] },
      set: { execution_status: 'Cancelled', error_message: 'cancelled by request' },
    });
    if (!cancelled) throw new Error('not cancelled');
    await sim.services.aggregator.handleJobChange(cancelled);
    await sim.services.aggregator.handleJobChange(cancelled);
    expect(sim.eventsOf('PoolSlotFreed')).toEqual([]);
    expect(sim.ensured.filter((e) => e.event.detailType === 'PoolSlotFreed')).toEqual([]);
    expect(sim.busViolations).toEqual([]);
  });

  it('a waiting job that ends (cancelled) leaves the queue instead', async () => {
    const sim = createSimulation({ definitions: [WF], defaultDurationSeconds: 1 });
    sim.script('a.sh', { outcome: 'hang' });
    sim.request({ workflow_id: 'wf', workflow_execution_id: 'r1' });
    await sim.runUntilIdle();
    expect(row(sim, '1.2')).toMatchObject({ execution_status: 'Queued', waiting_for: 'pool:wlm' });
    const cancelled = await sim.store.jobs().transition({
      workflowExecutionId: 'r1',
      jobKey: '1.2',
      expect: { attempt: 1, statuses: ['Queued'] },
      set: { execution_status: 'Cancelled', error_message: 'cancelled by request' },
    });
    if (!cancelled) throw new Error('not cancelled');
    await sim.services.aggregator.handleJobChange(cancelled);
    expect(await pool(sim)).toMatchObject({ holders: ['r1--1-1--a1'], waiters: [] });
    expect(sim.eventsOf('PoolSlotFreed')).toEqual([]);
    expect(sim.busViolations).toEqual([]);
  });
});
