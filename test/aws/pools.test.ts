/**
 * Resource pools on the AWS path (issue 14): two workflows, each a parallel stage of 4 jobs in pool
 * `wlm` of 2 slots, started at once. The slots are conditional counters on the config table's
 * `pool:wlm` item (DynamoDB Local); a job that finds no slot waits Queued ("waiting for pool wlm")
 * without a wrapper (so no timeout runs), and a freed slot wakes the oldest waiter through the
 * choreography (PoolSlotFreed → planner), never a polling loop.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { dynamoLocal } from '../support/dynamodb-local.js';
import { stages, workspace } from '../support/workspace.js';
import { GATED, openGate, readLedger } from './fixtures.js';
import { type AwsHarness, createAwsHarness } from './harness.js';

const ddb = dynamoLocal('test/aws/pools.test.ts');

describe.skipIf(!ddb.endpoint)('AWS path: a pool across workflows', () => {
  let h: AwsHarness | undefined;
  afterEach(async () => {
    await h?.dispose();
    h = undefined;
  });

  async function scenario(duplicate: boolean) {
    const ws = workspace('rsqlo-aws-pools-');
    for (const n of [1, 2, 3, 4]) ws.script(`p${n}.sh`, GATED);
    const definition = (id: string) => ({
      workflow_id: id,
      workflow_description: 'four jobs in pool wlm',
      pools: { wlm: 2 },
      workflow_stages: stages(['parallel', ['p1.sh', 'p2.sh', 'p3.sh', 'p4.sh'], { pool: 'wlm' }]),
    });
    h = await createAwsHarness({
      endpoint: ddb.endpoint as string,
      scriptRoot: ws.scripts,
      ssmMode: 'in-process',
      hosts: 2,
      duplicate,
    });
    await h.putDefinition(definition('pool_a'));
    await h.putDefinition(definition('pool_b'));
    h.request({ workflow_id: 'pool_a', workflow_execution_id: 'pa-1' });
    h.request({ workflow_id: 'pool_b', workflow_execution_id: 'pb-1' });

    // Two start, six wait (Queued, waiting for the pool, no wrapper started).
    await h.until(async () => readLedger(ws.scripts).started.length === 2, 'two jobs started');
    // (No settle here: the two running jobs wait on their gates, so the harness never goes quiet.
    // Six waiters and two holders on the pool item is the proof that nothing else runs.)
    await h.until(async () => (await h?.pool('wlm'))?.waiting === 6, 'six waiting');
    expect(readLedger(ws.scripts).started).toHaveLength(2);
    expect(await h.pool('wlm')).toEqual({ slots: 2, inUse: 2, waiting: 6 });
    const all = [...(await h.jobs('pa-1')), ...(await h.jobs('pb-1'))];
    const waiting = all.filter((j) => j.waiting_for === 'pool:wlm');
    expect(waiting).toHaveLength(6);
    for (const j of waiting) expect(j.execution_status).toBe('Queued');

    // Drain: 0 slots, the two running finish, none starts.
    h.operator('PoolResizeRequested', { pool: 'wlm', slots: 0, reason: 'WLM queue maintenance' });
    await h.until(async () => (await h?.pool('wlm'))?.slots === 0, 'pool drained to 0');
    for (const line of readLedger(ws.scripts).started) openGate(ws.scripts, line.split('/')[1] as string);
    await h.until(async () => (await h?.pool('wlm'))?.inUse === 0, 'running jobs finished');
    await h.settle();
    const drained = readLedger(ws.scripts);
    expect(drained.started).toHaveLength(2);
    expect(drained.lines.filter((l) => l.startsWith('-'))).toHaveLength(2);
    expect(await h.pool('wlm')).toEqual({ slots: 0, inUse: 0, waiting: 6 });

    // Resume with 2 slots: everything completes, never more than 2 at once.
    openGate(ws.scripts, 'all');
    h.operator('PoolResizeRequested', { pool: 'wlm', slots: 2 });
    const a = await h.finished('pa-1');
    const b = await h.finished('pb-1');
    return { ws, a, b };
  }

  for (const duplicate of [false, true]) {
    it(`never more than 2 of the 8 jobs run at once; 0 slots drains, 2 resumes${duplicate ? ' (every hop duplicated)' : ''}`, async () => {
      const { ws, a, b } = await scenario(duplicate);
      const hh = h as AwsHarness;
      expect([a.run.execution_status, b.run.execution_status]).toEqual(['Completed', 'Completed']);
      const ledger = readLedger(ws.scripts);
      expect(ledger.started).toHaveLength(8);
      expect(ledger.peak).toBeLessThanOrEqual(2);
      for (const j of [...a.jobs, ...b.jobs]) {
        expect(j.execution_status).toBe('Completed');
        expect(j.waiting_for ?? null).toBeNull();
        expect(j.pool).toBe('wlm');
      }
      // One slot freed per attempt, whatever was duplicated; the pool ends empty.
      const freed = hh.bus.events('PoolSlotFreed').map((e) => (e.detail as { event_id: string }).event_id);
      expect(new Set(freed).size).toBe(8);
      expect(await hh.pool('wlm')).toEqual({ slots: 2, inUse: 0, waiting: 0 });
      // The pool was created once, from the definition, and one of the two runs says so.
      const created = hh.bus
        .events('PoolCreated')
        .map((e) => e.detail as { pool: string; slots: number; source: string });
      expect(new Set(created.map((c) => JSON.stringify([c.pool, c.slots, c.source])))).toEqual(
        new Set([JSON.stringify(['wlm', 2, 'definition'])]),
      );
      expect([...(a.run.pools_created ?? []), ...(b.run.pools_created ?? [])]).toEqual([
        { pool: 'wlm', slots: 2, source: 'definition' },
      ]);
      expect(await hh.problems()).toEqual([]);
    });
  }
});
