/**
 * The starter's pools (issue 14, plan §4.1 and §4.7): a run's pools exist before the run, created
 * once with the definition's size (else 1) and listed on the run that created them; `pool set`
 * resizes in request order, and a duplicate is recognised.
 */
import { describe, expect, it } from 'vitest';
import { parallel, workflow } from '../testing/fixtures.js';
import { createSimulation } from '../testing/in-memory.js';

const POOLED = workflow('wf', [{ ...parallel(['a.sh', { script: 'b.sh', pool: 'etl' }]), pool: 'wlm' }], {
  pools: { wlm: 3 },
});
const PLAIN = workflow('plain', [parallel(['p.sh'])]);

describe('starter: pools', () => {
  it('creates the pools a run names before writing it, and lists them on the run', async () => {
    const sim = createSimulation({ definitions: [POOLED] });
    await sim.services.starter.handleRequested(
      { version: 1, workflow_id: 'wf', workflow_execution_id: 'r1' },
      'e1',
    );
    expect(sim.run('r1')?.pools_created).toEqual([
      { pool: 'etl', slots: 1, source: 'default' },
      { pool: 'wlm', slots: 3, source: 'definition' },
    ]);
    expect((await sim.store.pools().list()).map((p) => [p.name, p.slots, p.created_by])).toEqual([
      ['etl', 1, 'workflow:wf'],
      ['wlm', 3, 'workflow:wf'],
    ]);
    expect(sim.jobs('r1').map((j) => [j.pool, j.pool_slots_default])).toEqual([
      ['wlm', 3],
      ['etl', 1],
    ]);
    // The next run finds them: nothing created, nothing announced again.
    await sim.services.starter.handleRequested(
      { version: 1, workflow_id: 'wf', workflow_execution_id: 'r2' },
      'e2',
    );
    expect(sim.run('r2')?.pools_created).toBeUndefined();
    expect(
      sim.store.outbox.filter((r) => r.kind === 'event' && r.event.detailType === 'PoolCreated'),
    ).toHaveLength(2);
  });

  it('makes no pool call for a run without pools', async () => {
    const sim = createSimulation({ definitions: [PLAIN] });
    await sim.services.starter.handleRequested(
      { version: 1, workflow_id: 'plain', workflow_execution_id: 'r1' },
      'e1',
    );
    expect([...sim.store.calls.keys()].filter((k) => /pool/i.test(k))).toEqual([]);
    expect(sim.run('r1')).not.toHaveProperty('pools_created');
  });

  it('pool set creates a missing pool (operator), resizes in request order, recognises a duplicate', async () => {
    const sim = createSimulation();
    const set = (slots: number, id: string, at: string) =>
      sim.services.starter.handlePoolResizeRequested(
        {
          version: 1,
          event_id: id,
          occurred_at: at,
          requested_by: 'user:alice',
          pool: 'wlm',
          slots,
          reason: 'r',
        },
        `env-${id}`,
      );
    expect(await set(4, 'p1', '2024-01-01T00:00:01.000Z')).toEqual({
      outcome: 'applied',
      pool: 'wlm',
      slots: 4,
      previous_slots: null,
    });
    expect(await sim.store.pools().get('wlm')).toMatchObject({ slots: 4, created_by: 'operator:user:alice' });
    expect(await set(0, 'p2', '2024-01-01T00:00:03.000Z')).toMatchObject({
      outcome: 'applied',
      previous_slots: 4,
    });
    expect(await set(9, 'p0', '2024-01-01T00:00:02.000Z')).toMatchObject({ outcome: 'stale' });
    expect(await set(0, 'p2', '2024-01-01T00:00:03.000Z')).toMatchObject({ outcome: 'same' });
    expect((await sim.store.pools().get('wlm'))?.slots).toBe(0);
    const events = sim.store.outbox.flatMap((r) => (r.kind === 'event' ? [r.event] : []));
    expect(events.map((e) => `${e.detailType} ${e.detail.event_id}`)).toEqual([
      'PoolCreated PoolCreated:wlm',
      'PoolResized PoolResized:wlm:p1',
      'PoolResized PoolResized:wlm:p2',
    ]);
    expect(events[2]?.detail).toMatchObject({
      slots: 0,
      previous_slots: 4,
      reason: 'r',
      requested_by: 'user:alice',
      requested_at: '2024-01-01T00:00:03.000Z',
    });
  });
});
