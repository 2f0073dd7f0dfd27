import { describe, expect, it } from 'vitest';
import type { JobAuditRecord } from '../../contracts/audit.js';
import { validateDefinition } from '../../contracts/workflow.js';
import type { OutgoingMessage } from '../ports.js';
import { planRun } from '../starter/plan.js';
import { parallel, workflow } from '../testing/fixtures.js';
import { FakeClock, InMemoryStore, MemoryLogger } from '../testing/in-memory.js';
import { createAggregatorService } from './service.js';

/**
 * On AWS the job audit stream carries every Pending → Queued change to the aggregator: the claim
 * (and a retry's queueing) is written before its message is sent, so the aggregator makes sure the
 * message went out. Locally (no queue port) those rows never reach it and it ignores them.
 */
async function setup(withQueue: boolean) {
  const clock = new FakeClock('2024-01-01T00:00:00.000Z');
  const store = new InMemoryStore(clock);
  const r = validateDefinition(workflow('wf', [parallel(['a.sh', 'b.sh'])]));
  if (!r.ok) throw new Error('bad definition');
  const plan = planRun({
    definition: r.definition,
    workflowExecutionId: 'r1',
    now: clock.now(),
    parameters: {},
  });
  await store.runs().createRun(plan.run, plan.jobs, { maxActiveRuns: 1 }, {});
  const sent: OutgoingMessage[][] = [];
  const aggregator = createAggregatorService({
    runs: store.runs(),
    jobs: store.jobs(),
    events: { publish: async () => {}, ensurePublished: async () => {} },
    pools: store.pools(),
    clock,
    log: new MemoryLogger(),
    ...(withQueue ? { queue: { ensureSent: async (m: OutgoingMessage[]) => void sent.push(m) } } : {}),
  });
  const queue = async (jobKey: string, set: Partial<JobAuditRecord> = {}, attempt = 1) =>
    store.jobs().transition({
      workflowExecutionId: 'r1',
      jobKey,
      expect: { attempt, statuses: ['Pending'] },
      set: { execution_status: 'Queued', ...set },
    });
  return { store, clock, aggregator, sent, queue };
}

describe('aggregator: a job just Queued (the AWS stream)', () => {
  it('sends its message again while the row is still Queued at that attempt', async () => {
    const { aggregator, sent, queue } = await setup(true);
    const row = await queue('1.1');
    if (!row) throw new Error('not queued');
    await aggregator.handleJobChange(row);
    expect(sent).toEqual([
      [
        {
          body: { version: 1, workflow_id: 'wf', workflow_execution_id: 'r1', job_key: '1.1', attempt: 1 },
          delaySeconds: 0,
        },
      ],
    ]);
  });

  it('keeps a retry’s backoff: the message is hidden until not_before', async () => {
    const { aggregator, sent, queue, clock } = await setup(true);
    const row = await queue('1.2', { not_before: '2024-01-01T00:00:45.000Z' });
    if (!row) throw new Error('not queued');
    clock.advance(5000);
    await aggregator.handleJobChange(row);
    expect(sent[0]?.[0]?.delaySeconds).toBe(40);
  });

  it('sends nothing once the dispatcher took the job or it moved on', async () => {
    const { aggregator, sent, queue, store } = await setup(true);
    const row = await queue('1.1');
    if (!row) throw new Error('not queued');
    await store.jobs().transition({
      workflowExecutionId: 'r1',
      jobKey: '1.1',
      expect: { attempt: 1, statuses: ['Queued'] },
      set: { execution_status: 'Dispatched' },
    });
    await aggregator.handleJobChange(row);
    await aggregator.handleJobChange({ ...row, job_key: '9.9' });
    expect(sent).toEqual([]);
  });

  it('sends nothing for a parked job (waiting for a pool slot or a free): the wake sends it', async () => {
    const { aggregator, sent, queue, store } = await setup(true);
    const waiting = await queue('1.1', { waiting_for: 'pool:wlm' });
    const held = await queue('1.2', { waiting_for: 'hold' });
    if (!waiting || !held) throw new Error('not queued');
    await aggregator.handleJobChange(waiting);
    await aggregator.handleJobChange(held);
    expect(sent).toEqual([]);
    // Woken (waiting_for cleared, AWS stream filter 4): the repair sends its message.
    const woken = await store.jobs().transition({
      workflowExecutionId: 'r1',
      jobKey: '1.1',
      expect: { attempt: 1, statuses: ['Queued'] },
      set: { waiting_for: null },
    });
    if (!woken) throw new Error('not woken');
    await aggregator.handleJobChange(woken);
    expect(sent.map((m) => m[0]?.body.job_key)).toEqual(['1.1']);
  });

  it('ignores Queued rows without a queue port (the local runtime), changing nothing', async () => {
    const { aggregator, queue, store } = await setup(false);
    const row = await queue('1.1');
    if (!row) throw new Error('not queued');
    const before = store.outbox.length;
    await aggregator.handleJobChange(row);
    expect(store.outbox.length).toBe(before);
    expect(store.getRunSync('r1')?.stages[0]?.finished).toBe(0);
  });
});
