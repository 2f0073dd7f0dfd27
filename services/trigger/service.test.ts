import { describe, expect, it } from 'vitest';
import type { WorkflowFinished } from '../../contracts/events.js';
import type { WorkflowDefinitionInput } from '../../contracts/workflow.js';
import { createSimulation, type Simulation } from '../testing/in-memory.js';
import { readyArrivals, triggerRequestId } from './service.js';

const wf = (id: string, extra: Partial<WorkflowDefinitionInput> = {}): WorkflowDefinitionInput => ({
  workflow_id: id,
  workflow_stages: [{ execution_flag: 'y', execution_type: 'sequential', scripts: [`${id}.sh`] }],
  ...extra,
});

const runsOf = (sim: Simulation, id: string) => sim.store.allRuns().filter((r) => r.workflow_id === id);

/** Requests a run of `id` and lets everything settle (the trigger included). */
async function finish(sim: Simulation, id: string): Promise<void> {
  sim.request({ workflow_id: id });
  await sim.runUntilIdle();
}

/** A WorkflowFinished as the aggregator publishes it. */
function finished(
  id: string,
  exec: string,
  finishedAt: string,
  status: WorkflowFinished['status'] = 'Completed',
): WorkflowFinished {
  return {
    version: 1,
    event_id: `WorkflowFinished:${exec}`,
    occurred_at: finishedAt,
    workflow_id: id,
    workflow_execution_id: exec,
    status,
    counts: {
      total: 1,
      pending: 0,
      queued: 0,
      dispatched: 0,
      running: 0,
      succeeded: 1,
      failed: 0,
      timed_out: 0,
      cancelled: 0,
      skipped: 0,
    },
    started_at: finishedAt,
    finished_at: finishedAt,
    duration_ms: 0,
    failed_stage: null,
    failed_jobs: [],
  } as unknown as WorkflowFinished;
}

describe('trigger: runs that start when others finish (simulation, real services)', () => {
  it('finishing a then b starts one run of the downstream, requested by the trigger', async () => {
    const sim = createSimulation({
      definitions: [wf('a'), wf('b'), wf('down', { trigger: { after: ['a', 'b'] } })],
    });
    await finish(sim, 'a');
    expect(runsOf(sim, 'down')).toEqual([]);
    await finish(sim, 'b');
    const down = runsOf(sim, 'down');
    expect(down).toHaveLength(1);
    expect(down[0]?.execution_status).toBe('Completed');
    expect(sim.problems()).toEqual([]);
  });

  it('finishing a twice and b once starts one run', async () => {
    const sim = createSimulation({
      definitions: [wf('a'), wf('b'), wf('down', { trigger: { after: ['a', 'b'] } })],
    });
    await finish(sim, 'a');
    await finish(sim, 'a');
    await finish(sim, 'b');
    expect(runsOf(sim, 'down')).toHaveLength(1);
    // and a second round needs both again
    await finish(sim, 'b');
    expect(runsOf(sim, 'down')).toHaveLength(1);
    await finish(sim, 'a');
    expect(runsOf(sim, 'down')).toHaveLength(2);
  });

  it('under duplicated and shuffled delivery of everything, still one run per round', async () => {
    for (const seed of [1, 2, 3]) {
      const sim = createSimulation({
        chaos: { duplicate: true, shuffle: true, seed },
        definitions: [wf('a'), wf('b'), wf('down', { trigger: { after: ['a', 'b'] } })],
      });
      await finish(sim, 'a');
      await finish(sim, 'b');
      await finish(sim, 'a');
      expect(runsOf(sim, 'down'), `seed ${seed}`).toHaveLength(1);
      const requests = new Set(
        sim
          .eventsOf('WorkflowRequested')
          .filter((e) => e.requested_by?.startsWith('trigger:'))
          .map((e) => e.event_id),
      );
      expect(requests.size, `seed ${seed}: one distinct request`).toBe(1);
    }
  });

  it('a Failed upstream run does not count', async () => {
    const sim = createSimulation({
      definitions: [wf('a'), wf('b'), wf('down', { trigger: { after: ['a', 'b'] } })],
    });
    sim.script('a.sh', { outcome: 'fail' });
    await finish(sim, 'a');
    expect(runsOf(sim, 'a')[0]?.execution_status).toBe('Failed');
    await finish(sim, 'b');
    expect(runsOf(sim, 'down')).toEqual([]);
  });
});

describe('trigger: duplicated, reordered and stale WorkflowFinished (handler called directly)', () => {
  const defs = [wf('a'), wf('b'), wf('down', { trigger: { after: ['a', 'b'], within_hours: 24 } })];

  it('a duplicated WorkflowFinished requests no second run; it re-publishes the same request', async () => {
    const sim = createSimulation({ definitions: defs });
    const t = sim.services.trigger;
    expect(await t.handleFinished(finished('a', 'a-1', '2026-03-01T01:00:00.000Z'))).toEqual({
      down: 'collected',
    });
    expect(await t.handleFinished(finished('a', 'a-1', '2026-03-01T01:00:00.000Z'))).toEqual({
      down: 'duplicate',
    });
    expect(await t.handleFinished(finished('b', 'b-1', '2026-03-01T02:00:00.000Z'))).toEqual({
      down: 'requested',
    });
    expect(await t.handleFinished(finished('b', 'b-1', '2026-03-01T02:00:00.000Z'))).toEqual({
      down: 'republished',
    });
    expect(await t.handleFinished(finished('a', 'a-1', '2026-03-01T01:00:00.000Z'))).toEqual({
      down: 'republished',
    });
    const published = sim.published.filter((p) => p.event.detailType === 'WorkflowRequested');
    expect(published).toHaveLength(1);
    // Re-published events are byte-for-byte the request first made (the simulation checks that).
    expect(sim.ensured.map((e) => JSON.stringify(e.event))).toEqual([
      JSON.stringify(published[0]?.event),
      JSON.stringify(published[0]?.event),
    ]);
    expect(published[0]?.event.detail).toMatchObject({
      workflow_id: 'down',
      event_id: triggerRequestId('down', {
        a: { workflow_execution_id: 'a-1', finished_at: '2026-03-01T01:00:00.000Z' },
        b: { workflow_execution_id: 'b-1', finished_at: '2026-03-01T02:00:00.000Z' },
      }),
      occurred_at: '2026-03-01T02:00:00.000Z',
    });
    await sim.runUntilIdle();
    expect(runsOf(sim, 'down')).toHaveLength(1);
    expect(sim.busViolations).toEqual([]);
  });

  it('reordered: an older run of a arriving after a newer one is stale, and never counts again once used', async () => {
    const sim = createSimulation({ definitions: defs });
    const t = sim.services.trigger;
    expect(await t.handleFinished(finished('a', 'a-2', '2026-03-01T03:00:00.000Z'))).toEqual({
      down: 'collected',
    });
    expect(await t.handleFinished(finished('a', 'a-1', '2026-03-01T01:00:00.000Z'))).toEqual({
      down: 'stale',
    });
    expect(await t.handleFinished(finished('b', 'b-1', '2026-03-01T04:00:00.000Z'))).toEqual({
      down: 'requested',
    });
    // a-1 was never used and is older than what was: it cannot start a second run
    expect(await t.handleFinished(finished('a', 'a-1', '2026-03-01T01:00:00.000Z'))).toEqual({
      down: 'stale',
    });
    expect(sim.published.filter((p) => p.event.detailType === 'WorkflowRequested')).toHaveLength(1);
  });

  it('a Failed or Cancelled run does not count; a workflow nobody waits for touches nothing', async () => {
    const sim = createSimulation({ definitions: defs });
    const t = sim.services.trigger;
    expect(await t.handleFinished(finished('a', 'a-1', '2026-03-01T01:00:00.000Z', 'Failed'))).toEqual({
      down: 'not-completed',
    });
    expect(await t.handleFinished(finished('a', 'a-2', '2026-03-01T01:00:00.000Z', 'Cancelled'))).toEqual({
      down: 'not-completed',
    });
    expect(await t.handleFinished(finished('b', 'b-1', '2026-03-01T02:00:00.000Z'))).toEqual({
      down: 'collected',
    });
    expect(await t.handleFinished(finished('down', 'd-1', '2026-03-01T02:00:00.000Z'))).toEqual({});
    expect(sim.published.filter((p) => p.event.detailType === 'WorkflowRequested')).toHaveLength(0);
  });

  it('within_hours excludes a stale arrival until a fresh one comes', async () => {
    const sim = createSimulation({ definitions: defs });
    const t = sim.services.trigger;
    await t.handleFinished(finished('a', 'a-1', '2026-03-01T00:00:00.000Z'));
    // 25 h later: a-1 is more than 24 h older than b-1
    expect(await t.handleFinished(finished('b', 'b-1', '2026-03-02T01:00:00.000Z'))).toEqual({
      down: 'collected',
    });
    expect(sim.published.filter((p) => p.event.detailType === 'WorkflowRequested')).toHaveLength(0);
    expect(await t.handleFinished(finished('a', 'a-2', '2026-03-02T02:00:00.000Z'))).toEqual({
      down: 'requested',
    });
  });

  it('an arrival from before the downstream last started does not count', async () => {
    const sim = createSimulation({ definitions: defs, start: '2026-03-01T00:00:00.000Z' });
    const t = sim.services.trigger;
    await t.handleFinished(finished('a', 'a-1', '2026-03-01T00:00:00.000Z'));
    await sim.advance(3600);
    sim.request({ workflow_id: 'down' }); // a manual run at 01:00
    await sim.runUntilIdle();
    expect(runsOf(sim, 'down')).toHaveLength(1);
    expect(await t.handleFinished(finished('b', 'b-1', '2026-03-01T02:00:00.000Z'))).toEqual({
      down: 'collected',
    });
    expect(await t.handleFinished(finished('a', 'a-0', '2026-02-28T23:00:00.000Z'))).toEqual({
      down: 'stale',
    });
    expect(
      sim.published.filter(
        (p) =>
          p.event.detailType === 'WorkflowRequested' && p.event.detail.requested_by?.startsWith('trigger'),
      ),
    ).toHaveLength(0);
  });

  it('an index entry the definition no longer backs is ignored', async () => {
    const sim = createSimulation({ definitions: [wf('a'), wf('down', { trigger: { after: ['a'] } })] });
    sim.define(wf('down'));
    expect(
      await sim.services.trigger.handleFinished(finished('a', 'a-1', '2026-03-01T00:00:00.000Z')),
    ).toEqual({});
  });
});

describe('readyArrivals', () => {
  const at = (h: number) => ({
    workflow_execution_id: `x${h}`,
    finished_at: new Date(Date.UTC(2026, 0, 1, h)).toISOString(),
  });
  it('needs every upstream, each within the bound of the latest', () => {
    expect(readyArrivals({ after: ['a', 'b'] }, { a: at(0) })).toBeUndefined();
    expect(readyArrivals({ after: ['a', 'b'] }, { a: at(0), b: at(23) })).toBeDefined();
    expect(readyArrivals({ after: ['a', 'b'], within_hours: 24 }, { a: at(0), b: at(24) })).toBeDefined();
    expect(readyArrivals({ after: ['a', 'b'], within_hours: 24 }, { a: at(0), b: at(25) })).toBeUndefined();
  });
});
