/**
 * The dispatcher's part of resource pools and holds (issue 14, plan §4.2 and §7): a slot is taken
 * before the wrapper starts, a job without one waits (marked, then queued, message acked), the
 * lost-wake race is closed by the enqueuer, a slot taken for a job that a cancel beat is given
 * back, and a held run's Queued jobs are parked. Services are driven by hand over the in-memory
 * store, so each interleaving is exact.
 */
import { describe, expect, it } from 'vitest';
import type { WorkflowRunState } from '../../contracts/audit.js';
import type { JobMessage } from '../../contracts/jobs.js';
import type { PoolRepository, RunRepository } from '../ports.js';
import { parallel, workflow } from '../testing/fixtures.js';
import { createSimulation, type Simulation } from '../testing/in-memory.js';
import { createDispatcherService, type DispatcherDeps } from './service.js';

const WF = workflow('wf', [{ ...parallel(['a.sh', 'b.sh', 'c.sh']), pool: 'wlm' }], { pools: { wlm: 1 } });
const PLAIN = workflow('plain', [parallel(['p.sh', 'q.sh'])]);

function message(jobKey: string, exec = 'r1', workflowId = 'wf'): JobMessage {
  return { version: 1, workflow_id: workflowId, workflow_execution_id: exec, job_key: jobKey, attempt: 1 };
}

/** Run r1 of WF started and all three jobs claimed (Queued); nothing delivered yet. */
async function queued(defs = [WF], workflowId = 'wf'): Promise<Simulation> {
  const sim = createSimulation({ definitions: defs });
  await sim.startAndPlan(workflowId, 'r1');
  return sim;
}

/** A dispatcher over the simulation's store with some ports replaced. */
function dispatcher(sim: Simulation, over: Partial<DispatcherDeps> = {}) {
  return createDispatcherService({
    runs: sim.store.runs(),
    jobs: sim.store.jobs(),
    pools: sim.store.pools(),
    orchestrator: sim.wrapper,
    agents: sim.agent,
    clock: sim.clock,
    log: sim.log,
    ...over,
  });
}

const pool = (sim: Simulation) => sim.store.pools().get('wlm');

/** Messages committed to the job queue for `jobKey` (the outbox). */
const messagesFor = (sim: Simulation, jobKey: string) =>
  sim.store.outbox.filter((r) => r.kind === 'message' && r.message.body.job_key === jobKey).length;

describe('dispatcher: pool slots', () => {
  it('takes a free slot before it starts the wrapper', async () => {
    const sim = await queued();
    expect(await sim.services.dispatcher.handleMessage(message('1.1'))).toEqual({
      ack: true,
      note: 'dispatched',
    });
    expect(await pool(sim)).toMatchObject({ holders: ['r1--1-1--a1'], waiters: [] });
    expect(sim.wrapper.runs.has('r1--1-1--a1')).toBe(true);
    expect(sim.job('r1', '1.1')).toMatchObject({ execution_status: 'Dispatched', waiting_for: null });
  });

  it('without a free slot: marks the job waiting, queues it, acks; no wrapper, no timer', async () => {
    const sim = await queued();
    await sim.services.dispatcher.handleMessage(message('1.1'));
    expect(await sim.services.dispatcher.handleMessage(message('1.2'))).toEqual({
      ack: true,
      note: 'waiting for pool wlm',
    });
    expect(sim.job('r1', '1.2')).toMatchObject({ execution_status: 'Queued', waiting_for: 'pool:wlm' });
    expect(sim.wrapper.runs.has('r1--1-2--a1')).toBe(false);
    expect((await pool(sim))?.waiters.map((w) => w.holder)).toEqual(['r1--1-2--a1']);
    // A repeated message for the waiting job is acked; it keeps its one place in the queue.
    expect(await sim.services.dispatcher.handleMessage(message('1.2'))).toEqual({
      ack: true,
      note: 'waiting for pool wlm',
    });
    expect((await pool(sim))?.waiters).toHaveLength(1);
  });

  it('no queue jumping: a newcomer waits behind the waiters even when a slot is free', async () => {
    const sim = await queued();
    await sim.services.dispatcher.handleMessage(message('1.1'));
    await sim.services.dispatcher.handleMessage(message('1.2'));
    // 1.1's slot comes back without a wake (its PoolSlotFreed not delivered yet).
    await sim.store.pools().release('wlm', 'r1--1-1--a1', {});
    // 1.3 must not take it before 1.2: it queues, and, finding a free slot and waiters, wakes the
    // pool itself, which grants the slot to the oldest waiter, 1.2.
    expect(await sim.services.dispatcher.handleMessage(message('1.3'))).toEqual({
      ack: true,
      note: 'waiting for pool wlm',
    });
    expect(await pool(sim)).toMatchObject({ holders: ['r1--1-2--a1'] });
    expect((await pool(sim))?.waiters.map((w) => w.jobKey)).toEqual(['1.3']);
    expect(sim.job('r1', '1.2')?.waiting_for).toBeNull();
    expect(messagesFor(sim, '1.2')).toBe(2);
  });

  it('closes the lost-wake race: a slot freed between `full` and the enqueue is granted', async () => {
    const sim = await queued();
    await sim.services.dispatcher.handleMessage(message('1.1'));
    const real = sim.store.pools();
    // 1.1 ends (and its wake finds nobody waiting) right after 1.2 was told `full`.
    const racing: PoolRepository = {
      ...real,
      acquire: async (name, holder) => {
        const got = await real.acquire(name, holder);
        if (got === 'full') {
          await real.release(name, 'r1--1-1--a1', {});
          expect(await sim.services.planner.handlePoolWake('wlm')).toMatchObject({ granted: [] });
        }
        return got;
      },
    };
    await dispatcher(sim, { pools: racing }).handleMessage(message('1.2'));
    expect(await pool(sim)).toMatchObject({ holders: ['r1--1-2--a1'], waiters: [] });
    expect(sim.job('r1', '1.2')).toMatchObject({ execution_status: 'Queued', waiting_for: null });
    expect(messagesFor(sim, '1.2')).toBe(2);
    // Its new message starts it.
    expect(await sim.services.dispatcher.handleMessage(message('1.2'))).toMatchObject({ note: 'dispatched' });
  });

  it('repairs a crash between marking the job waiting and queueing it', async () => {
    const sim = await queued();
    await sim.services.dispatcher.handleMessage(message('1.1'));
    sim.store.injectFault({ method: 'enqueuePool', when: 'before' });
    await expect(sim.services.dispatcher.handleMessage(message('1.2'))).rejects.toThrow(/injected fault/);
    expect(sim.job('r1', '1.2')?.waiting_for).toBe('pool:wlm');
    expect((await pool(sim))?.waiters).toEqual([]);
    // The redelivery finds it marked and queues it.
    await sim.services.dispatcher.handleMessage(message('1.2'));
    expect((await pool(sim))?.waiters.map((w) => w.jobKey)).toEqual(['1.2']);
  });

  it('gives the slot back when a cancel beat its Queued → Dispatched write (no leaked slot)', async () => {
    const sim = await queued();
    // The run is cancelled while the wrapper starts: the starter settles the Queued job Cancelled.
    const cancelling = {
      start: async (input: Parameters<typeof sim.wrapper.start>[0]) => {
        await sim.store.jobs().transition({
          workflowExecutionId: 'r1',
          jobKey: input.job_key,
          expect: { attempt: 1, statuses: ['Queued'] },
          set: { execution_status: 'Cancelled', error_message: 'cancelled by request' },
        });
        return 'started' as const;
      },
      stop: async () => {},
    };
    await dispatcher(sim, { orchestrator: cancelling }).handleMessage(message('1.1'));
    expect(sim.job('r1', '1.1')?.execution_status).toBe('Cancelled');
    expect(await pool(sim)).toMatchObject({ holders: [], waiters: [] });
    expect(
      sim.store.outbox.filter((r) => r.kind === 'event' && r.event.detailType === 'PoolSlotFreed'),
    ).toHaveLength(1);
    // The aggregator's record of the Cancelled job then frees nothing a second time.
    await sim.services.aggregator.handleJobChange(sim.job('r1', '1.1') as never);
    expect(
      sim.store.outbox.filter((r) => r.kind === 'event' && r.event.detailType === 'PoolSlotFreed'),
    ).toHaveLength(1);
    expect(await pool(sim)).toMatchObject({ holders: [] });
  });

  it("a full waiting list (a store's cap): the job asks again a minute later, not at once", async () => {
    const sim = await queued();
    await sim.services.dispatcher.handleMessage(message('1.1'));
    // A store whose list of waiters is full (DynamoDB keeps them on one item: MAX_POOL_WAITERS).
    const real = sim.store.pools();
    const capped: PoolRepository = {
      ...real,
      enqueue: async (name) => {
        const p = await real.get(name);
        return { queued: false, free: 0, waiting: p?.waiters.length ?? 0 };
      },
    };
    const before = sim.store.outbox.length;
    expect(await dispatcher(sim, { pools: capped }).handleMessage(message('1.2'))).toEqual({
      ack: true,
      note: 'not waiting for pool wlm: asks again in 60 s',
    });
    const sent = sim.store.outbox.slice(before).flatMap((r) => (r.kind === 'message' ? [r.message] : []));
    expect(sent).toEqual([{ body: message('1.2'), delaySeconds: 60 }]);
    expect(sim.job('r1', '1.2')).toMatchObject({ execution_status: 'Queued', waiting_for: null });
    expect(sim.wrapper.runs.has('r1--1-2--a1')).toBe(false);
  });

  it('makes no pool call for a job without a pool', async () => {
    const sim = await queued([PLAIN], 'plain');
    await sim.services.dispatcher.handleMessage(message('1.1', 'r1', 'plain'));
    const poolCalls = [...sim.store.calls.keys()].filter((k) => /pool/i.test(k));
    expect(poolCalls).toEqual([]);
    expect(sim.job('r1', '1.1')?.execution_status).toBe('Dispatched');
    expect(sim.job('r1', '1.1')).not.toHaveProperty('waiting_for');
  });
});

describe('dispatcher: a held run', () => {
  const held = (real: RunRepository): RunRepository => ({
    ...real,
    getRun: async (exec) => {
      const run = await real.getRun(exec);
      return run
        ? ({
            ...run,
            hold_state: {
              held: true,
              scope: 'run',
              reason: 'patching',
              requested_by: 'user:oncall',
              requested_at: '2024-01-01T00:00:00.000Z',
              request_id: 'h1',
            },
          } satisfies WorkflowRunState)
        : run;
    },
  });

  it('parks its Queued jobs (waiting_for hold) and starts nothing', async () => {
    const sim = await queued([PLAIN], 'plain');
    const d = dispatcher(sim, { runs: held(sim.store.runs()) });
    expect(await d.handleMessage(message('1.1', 'r1', 'plain'))).toEqual({ ack: true, note: 'run is held' });
    expect(sim.job('r1', '1.1')).toMatchObject({ execution_status: 'Queued', waiting_for: 'hold' });
    expect(sim.wrapper.runs.size).toBe(0);
    // A repeated message is acked, nothing more.
    expect(await d.handleMessage(message('1.1', 'r1', 'plain'))).toEqual({
      ack: true,
      note: 'waiting for hold',
    });
  });

  it('gives back a slot the parked job was granted, and wakes the next waiter', async () => {
    const sim = await queued();
    await sim.services.dispatcher.handleMessage(message('1.1'));
    await sim.services.dispatcher.handleMessage(message('1.2'));
    // 1.1 ends; the wake grants its slot to 1.2 (message sent), but the run is held meanwhile.
    await sim.store.pools().release('wlm', 'r1--1-1--a1', {});
    await sim.services.planner.handlePoolWake('wlm');
    expect(await pool(sim)).toMatchObject({ holders: ['r1--1-2--a1'] });
    await sim.services.dispatcher.handleMessage(message('1.3'));
    const d = dispatcher(sim, { runs: held(sim.store.runs()) });
    expect(await d.handleMessage(message('1.2'))).toEqual({ ack: true, note: 'run is held' });
    expect(sim.job('r1', '1.2')).toMatchObject({ execution_status: 'Queued', waiting_for: 'hold' });
    // Its slot went to the next waiter, 1.3 (held too: it will park when its message comes).
    expect(await pool(sim)).toMatchObject({ holders: ['r1--1-3--a1'], waiters: [] });
    expect(sim.wrapper.runs.has('r1--1-2--a1')).toBe(false);
  });
});
