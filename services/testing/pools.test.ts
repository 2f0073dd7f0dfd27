/**
 * Resource pools in the simulation (issue 14 acceptance, the in-memory runtime): every service over
 * the in-memory store, deliveries clean and under chaos (duplicated, shuffled). Concurrency and
 * start order come from the scripted agent's timeline (what really ran), never from wall time.
 */
import { describe, expect, it } from 'vitest';
import { EVENT_VERSION } from '../../contracts/events.js';
import { parallel, workflow } from './fixtures.js';
import { compareUnderChaos, createSimulation, type Scenario, type Simulation } from './in-memory.js';

/** A workflow of one parallel stage of 4 one-second jobs in pool `pool`. */
function pooled(id: string, pool = 'wlm', pools: Record<string, number> | undefined = { wlm: 2 }) {
  return workflow(
    id,
    [{ ...parallel([`${id}_1.sh`, `${id}_2.sh`, `${id}_3.sh`, `${id}_4.sh`]), pool }],
    pools ? { pools } : {},
  );
}

const OPTS = {
  definitions: [pooled('wf_a'), pooled('wf_b')],
  defaultDurationSeconds: 1,
};

/** `rsqlo pool set NAME N` as the CLI publishes it. */
function poolSet(sim: Simulation, pool: string, slots: number): void {
  sim.publish([
    {
      detailType: 'PoolResizeRequested',
      detail: {
        version: EVENT_VERSION,
        event_id: `PoolResizeRequested:test-${slots}-${sim.clock.millis}`,
        occurred_at: sim.clock.now().toISOString(),
        requested_by: 'user:oncall',
        pool,
        slots,
        reason: `set to ${slots}`,
      },
    },
  ]);
}

const starts = (sim: Simulation) =>
  sim.timeline.filter((t) => t.type === 'start').map((t) => `${t.workflow_execution_id}/${t.job_key}`);

const statuses = (sim: Simulation, exec: string) => sim.jobs(exec).map((j) => j.execution_status);

async function pool(sim: Simulation, name: string) {
  return sim.store.pools().get(name);
}

const bothAtOnce: Scenario = async (sim) => {
  sim.request({ workflow_id: 'wf_a', workflow_execution_id: 'ra' });
  sim.request({ workflow_id: 'wf_b', workflow_execution_id: 'rb' });
  await sim.runUntilIdle();
};

const drainAndResume: Scenario = async (sim) => {
  sim.request({ workflow_id: 'wf_a', workflow_execution_id: 'ra' });
  await sim.advance(0);
  sim.request({ workflow_id: 'wf_b', workflow_execution_id: 'rb' });
  // Until the first two jobs run (they take 1 s), then drain.
  await sim.advance(0.5);
  poolSet(sim, 'wlm', 0);
  await sim.runUntilIdle();
  poolSet(sim, 'wlm', 2);
  await sim.runUntilIdle();
};

describe('pools: two workflows share pool wlm of 2 slots', () => {
  it('never runs more than 2 of the 8 jobs at once, and all 8 complete', async () => {
    const sim = createSimulation(OPTS);
    await bothAtOnce(sim);
    expect(sim.problems()).toEqual([]);
    expect(starts(sim)).toHaveLength(8);
    expect(sim.maxConcurrent()).toBe(2);
    expect(statuses(sim, 'ra')).toEqual(['Completed', 'Completed', 'Completed', 'Completed']);
    expect(statuses(sim, 'rb')).toEqual(['Completed', 'Completed', 'Completed', 'Completed']);
    expect(sim.run('ra')?.execution_status).toBe('Completed');
    expect(sim.run('rb')?.execution_status).toBe('Completed');
    // Every slot given back, nobody left waiting; no job row left parked.
    expect(await pool(sim, 'wlm')).toMatchObject({ slots: 2, holders: [], waiters: [] });
    expect([...sim.jobs('ra'), ...sim.jobs('rb')].every((j) => !j.waiting_for)).toBe(true);
    // One slot freed per attempt.
    expect(sim.eventsOf('PoolSlotFreed')).toHaveLength(8);
    expect(sim.eventsOf('PoolCreated')).toEqual([
      expect.objectContaining({ pool: 'wlm', slots: 2, source: 'definition' }),
    ]);
  });

  it('starts waiting jobs in request order across workflows, not by name', async () => {
    const sim = createSimulation(OPTS);
    // rb asks first: its 1.1 and 1.2 take the slots, its 1.3 and 1.4 wait; ra asks half a second
    // later and waits behind them, although "ra" sorts before "rb".
    sim.request({ workflow_id: 'wf_b', workflow_execution_id: 'rb' });
    await sim.advance(0.5);
    sim.request({ workflow_id: 'wf_a', workflow_execution_id: 'ra' });
    await sim.runUntilIdle();
    expect(sim.problems()).toEqual([]);
    expect(starts(sim)).toEqual([
      'rb/1.1',
      'rb/1.2',
      'rb/1.3',
      'rb/1.4',
      'ra/1.1',
      'ra/1.2',
      'ra/1.3',
      'ra/1.4',
    ]);
    expect(sim.maxConcurrent()).toBe(2);
  });

  it('waiting is not counted against the timeout: the wrapper starts only with the slot', async () => {
    const sim = createSimulation({
      definitions: [
        workflow('wf_t', [
          {
            ...parallel([
              { script: 't1.sh', timeout_seconds: 5 },
              { script: 't2.sh', timeout_seconds: 5 },
            ]),
            pool: 'one',
          },
        ]),
      ],
      defaultDurationSeconds: 4,
    });
    sim.request({ workflow_id: 'wf_t', workflow_execution_id: 'rt' });
    await sim.runUntilIdle();
    expect(sim.problems()).toEqual([]);
    // 2 waited 4 s for the slot, then ran 4 s: 8 s after the request, within its 5 s timeout.
    expect(statuses(sim, 'rt')).toEqual(['Completed', 'Completed']);
    expect(sim.maxConcurrent()).toBe(1);
    const runs = [...sim.wrapper.runs.values()].sort((a, b) => a.startedAt - b.startedAt);
    expect(runs.map((r) => r.startedAt - (runs[0]?.startedAt ?? 0))).toEqual([0, 4000]);
  });

  it('pool set 0 drains (running finish, none starts), pool set 2 resumes', async () => {
    const sim = createSimulation(OPTS);
    sim.request({ workflow_id: 'wf_a', workflow_execution_id: 'ra' });
    sim.request({ workflow_id: 'wf_b', workflow_execution_id: 'rb' });
    await sim.advance(0.5);
    expect(starts(sim)).toHaveLength(2);
    poolSet(sim, 'wlm', 0);
    await sim.runUntilIdle();
    expect(sim.problems()).toEqual([]);
    // The two that ran finished; nothing else started, nothing polls (runUntilIdle returned).
    expect(starts(sim)).toHaveLength(2);
    expect(sim.timeline.filter((t) => t.type === 'finish' && t.status === 'Completed')).toHaveLength(2);
    const waiting = [...sim.jobs('ra'), ...sim.jobs('rb')].filter((j) => j.waiting_for === 'pool:wlm');
    expect(waiting).toHaveLength(6);
    expect(waiting.every((j) => j.execution_status === 'Queued')).toBe(true);
    expect(await pool(sim, 'wlm')).toMatchObject({ slots: 0, holders: [] });
    expect((await pool(sim, 'wlm'))?.waiters).toHaveLength(6);
    expect(sim.run('ra')?.execution_status).toBe('Running');
    expect(sim.eventsOf('PoolResized')).toEqual([
      expect.objectContaining({ pool: 'wlm', slots: 0, previous_slots: 2, requested_by: 'user:oncall' }),
    ]);

    poolSet(sim, 'wlm', 2);
    await sim.runUntilIdle();
    expect(sim.problems()).toEqual([]);
    expect(starts(sim)).toHaveLength(8);
    expect(sim.maxConcurrent()).toBe(2);
    expect(sim.run('ra')?.execution_status).toBe('Completed');
    expect(sim.run('rb')?.execution_status).toBe('Completed');
    expect(await pool(sim, 'wlm')).toMatchObject({ slots: 2, holders: [], waiters: [] });
  });

  it('a reordered older pool set never undoes a newer one', async () => {
    const sim = createSimulation(OPTS);
    sim.request({ workflow_id: 'wf_a', workflow_execution_id: 'ra' });
    await sim.runUntilIdle();
    const at = (ms: number) => new Date(sim.clock.millis + ms).toISOString();
    const set = (slots: number, id: string, occurredAt: string) =>
      sim.services.starter.handlePoolResizeRequested(
        {
          version: 1,
          event_id: id,
          occurred_at: occurredAt,
          requested_by: 'user:oncall',
          pool: 'wlm',
          slots,
        },
        `env-${id}`,
      );
    expect(await set(5, 'newer', at(2000))).toMatchObject({ outcome: 'applied', previous_slots: 2 });
    expect(await set(0, 'older', at(1000))).toMatchObject({ outcome: 'stale' });
    expect(await set(5, 'newer', at(2000))).toMatchObject({ outcome: 'same' });
    expect((await pool(sim, 'wlm'))?.slots).toBe(5);
  });
});

describe('pools: created when first needed', () => {
  it('a pool named by nobody’s `pools` is created with 1 slot, announced once, listed on the run', async () => {
    const sim = createSimulation({
      definitions: [pooled('wf_c', 'etl', undefined), pooled('wf_d', 'etl', undefined)],
      defaultDurationSeconds: 1,
    });
    sim.request({ workflow_id: 'wf_c', workflow_execution_id: 'rc' });
    sim.request({ workflow_id: 'wf_d', workflow_execution_id: 'rd' });
    await sim.runUntilIdle();
    expect(sim.problems()).toEqual([]);
    expect(sim.eventsOf('PoolCreated')).toEqual([
      expect.objectContaining({ pool: 'etl', slots: 1, source: 'default', workflow_execution_id: 'rc' }),
    ]);
    expect(sim.run('rc')?.pools_created).toEqual([{ pool: 'etl', slots: 1, source: 'default' }]);
    expect(sim.run('rd')?.pools_created).toBeUndefined();
    expect(sim.maxConcurrent()).toBe(1);
    expect([...statuses(sim, 'rc'), ...statuses(sim, 'rd')].every((s) => s === 'Completed')).toBe(true);
  });

  it('an existing pool keeps its size whatever a later definition says', async () => {
    const sim = createSimulation({
      definitions: [pooled('wf_a', 'wlm', { wlm: 2 }), pooled('wf_e', 'wlm', { wlm: 4 })],
      defaultDurationSeconds: 1,
    });
    sim.request({ workflow_id: 'wf_a', workflow_execution_id: 'ra' });
    await sim.advance(0);
    sim.request({ workflow_id: 'wf_e', workflow_execution_id: 're' });
    await sim.runUntilIdle();
    expect(sim.problems()).toEqual([]);
    expect((await pool(sim, 'wlm'))?.slots).toBe(2);
    expect(sim.maxConcurrent()).toBe(2);
    expect(sim.run('re')?.pools_created).toBeUndefined();
  });
});

/** A hanging job holds pool `solo`'s one slot; then run rx's two jobs wait for it and rx is cancelled. */
const CANCEL_OPTS = {
  definitions: [
    workflow('wf_h', [{ ...parallel(['h1.sh']), pool: 'solo' }], { pools: { solo: 1 } }),
    workflow('wf_x', [{ ...parallel(['x1.sh', 'x2.sh']), pool: 'solo' }]),
    workflow('wf_y', [{ ...parallel(['y1.sh']), pool: 'solo' }]),
  ],
  defaultDurationSeconds: 1,
};

const cancelWhileWaiting: Scenario = async (sim) => {
  sim.script('h1.sh', { outcome: 'hang' });
  sim.request({ workflow_id: 'wf_h', workflow_execution_id: 'rh' });
  await sim.runUntilIdle();
  sim.request({ workflow_id: 'wf_x', workflow_execution_id: 'rx' });
  await sim.runUntilIdle();
  sim.cancel({ workflow_id: 'wf_x', workflow_execution_id: 'rx' });
  await sim.runUntilIdle();
  // The holder ends: its slot goes back, and nobody is left to wake.
  if (!sim.finishJob('h1.sh', { outcome: 'complete' })) throw new Error('h1 was not running');
  await sim.runUntilIdle();
  sim.request({ workflow_id: 'wf_y', workflow_execution_id: 'ry' });
  await sim.runUntilIdle();
  const p = await sim.store.pools().get('solo');
  if (p?.holders.length || p?.waiters.length) throw new Error(`pool solo leaked: ${JSON.stringify(p)}`);
};

describe('pools: a cancelled waiting job', () => {
  it('leaves the queue and leaks no slot', async () => {
    const sim = createSimulation(CANCEL_OPTS);
    sim.script('h1.sh', { outcome: 'hang' });
    sim.request({ workflow_id: 'wf_h', workflow_execution_id: 'rh' });
    await sim.runUntilIdle();
    sim.request({ workflow_id: 'wf_x', workflow_execution_id: 'rx' });
    await sim.runUntilIdle();
    expect(sim.jobs('rx').map((j) => [j.execution_status, j.waiting_for ?? null])).toEqual([
      ['Queued', 'pool:solo'],
      ['Queued', 'pool:solo'],
    ]);
    expect((await pool(sim, 'solo'))?.waiters.map((w) => w.jobKey)).toEqual(['1.1', '1.2']);
    sim.cancel({ workflow_id: 'wf_x', workflow_execution_id: 'rx' });
    await sim.runUntilIdle();
    expect(sim.problems()).toEqual([]);
    expect(statuses(sim, 'rx')).toEqual(['Cancelled', 'Cancelled']);
    expect(sim.run('rx')?.execution_status).toBe('Cancelled');
    expect(await pool(sim, 'solo')).toMatchObject({
      holders: [expect.stringContaining('rh--')],
      waiters: [],
    });
    expect(sim.finishJob('h1.sh', { outcome: 'complete' })).toBe(true);
    await sim.runUntilIdle();
    expect(await pool(sim, 'solo')).toMatchObject({ slots: 1, holders: [], waiters: [] });
    // The slot is free for the next workflow: y1 runs.
    sim.request({ workflow_id: 'wf_y', workflow_execution_id: 'ry' });
    await sim.runUntilIdle();
    expect(sim.problems()).toEqual([]);
    expect(statuses(sim, 'ry')).toEqual(['Completed']);
    // Freed once per attempt that held a slot; the cancelled waiters never held one.
    expect(sim.eventsOf('PoolSlotFreed').map((e) => e.workflow_execution_id)).toEqual(['rh', 'ry']);
  });
});

describe('pools under chaos (every delivery duplicated and shuffled)', () => {
  const same = async (scenario: Scenario, opts: Parameters<typeof createSimulation>[0], execs: string[]) => {
    const { clean, differences } = await compareUnderChaos(opts ?? {}, scenario, execs);
    expect(differences).toEqual([]);
    return clean;
  };

  // Which of two runs started at the same instant creates the pool (and lists it in its
  // pools_created) depends on delivery order by nature; the scenarios below let ra's request be
  // handled first so the audits are comparable. Everything else is the same under chaos.
  const raFirst: Scenario = async (sim) => {
    sim.request({ workflow_id: 'wf_a', workflow_execution_id: 'ra' });
    await sim.advance(0);
    sim.request({ workflow_id: 'wf_b', workflow_execution_id: 'rb' });
    await sim.runUntilIdle();
  };

  it('two workflows: the same outcome and audit', async () => {
    // Started at the very same instant: everything but the pool's creator is the same.
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const sim = createSimulation({ ...OPTS, chaos: { duplicate: true, shuffle: true, seed } });
      await bothAtOnce(sim);
      expect(sim.problems()).toEqual([]);
      expect(sim.maxConcurrent()).toBeLessThanOrEqual(2);
      expect(starts(sim)).toHaveLength(8);
      expect(sim.eventsOf('PoolSlotFreed')).toHaveLength(8);
      expect(new Set(sim.eventsOf('PoolCreated').map((e) => e.event_id)).size).toBe(1);
      expect([...statuses(sim, 'ra'), ...statuses(sim, 'rb')].every((x) => x === 'Completed')).toBe(true);
    }
    const clean = await same(raFirst, OPTS, ['ra', 'rb']);
    expect(clean.maxConcurrent()).toBe(2);
  });

  it('drain and resume: the same outcome and audit, never more than 2 at once', async () => {
    for (const seed of [1, 2, 3]) {
      const sim = createSimulation({ ...OPTS, chaos: { duplicate: true, shuffle: true, seed } });
      await drainAndResume(sim);
      expect(sim.maxConcurrent()).toBeLessThanOrEqual(2);
      expect(starts(sim)).toHaveLength(8);
    }
    await same(drainAndResume, OPTS, ['ra', 'rb']);
  });

  it('a pool nobody sized: created with 1 slot, PoolCreated once, the same audit', async () => {
    const opts = {
      definitions: [pooled('wf_c', 'etl', undefined), pooled('wf_d', 'etl', undefined)],
      defaultDurationSeconds: 1,
    };
    const scenario: Scenario = async (sim) => {
      sim.request({ workflow_id: 'wf_c', workflow_execution_id: 'rc' });
      await sim.advance(0);
      sim.request({ workflow_id: 'wf_d', workflow_execution_id: 'rd' });
      await sim.runUntilIdle();
      const created = new Set(sim.eventsOf('PoolCreated').map((e) => e.event_id));
      if (created.size !== 1) throw new Error(`PoolCreated ids: ${[...created].join(', ')}`);
      if (sim.maxConcurrent() > 1)
        throw new Error(`${sim.maxConcurrent()} jobs ran at once in a 1-slot pool`);
    };
    const clean = await same(scenario, opts, ['rc', 'rd']);
    expect(clean.run('rc')?.pools_created).toEqual([{ pool: 'etl', slots: 1, source: 'default' }]);
  });

  it('a cancelled waiting job: the same outcome, no slot leaked', async () => {
    const clean = await same(cancelWhileWaiting, CANCEL_OPTS, ['rh', 'rx', 'ry']);
    expect(await pool(clean, 'solo')).toMatchObject({ holders: [], waiters: [] });
  });
});
