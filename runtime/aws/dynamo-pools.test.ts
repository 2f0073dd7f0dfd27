import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import type { JobAuditRecord } from '../../contracts/audit.js';
import { jobRunName } from '../../contracts/jobs.js';
import type { Effects, JobTransition, PoolHolder } from '../../services/ports.js';
import { parallel, workflow } from '../../services/testing/fixtures.js';
import { FakeClock } from '../../services/testing/in-memory.js';
import { useDynamoClients } from '../../test/support/dynamodb-clients.js';
import {
  createTestTables,
  dynamoLocal,
  openStream,
  passesAggregatorFilter,
} from '../../test/support/dynamodb-local.js';
import { jobToItem } from './dynamo-items.js';
import { createDynamoJobRepository } from './dynamo-jobs.js';
import { createDynamoPoolRepository, MAX_POOL_WAITERS, poolKey } from './dynamo-pools.js';
import type { EffectsSink } from './effects.js';
import { planned } from './testing/port-scenario.js';

const ddb = dynamoLocal('runtime/aws/dynamo-pools.test.ts');

const ORIGIN = { source: 'definition' as const, created_by: 'workflow wf_a' };

function holder(exec: string, key: string, attempt = 1, since = '2024-01-01T00:00:00.000Z'): PoolHolder {
  return { holder: jobRunName(exec, key, attempt), workflowExecutionId: exec, jobKey: key, attempt, since };
}

const ev = (n: string): Effects => ({
  events: [
    {
      detailType: 'PoolSlotFreed',
      detail: { note: n },
    } as unknown as NonNullable<Effects['events']>[number],
  ],
});

describe.skipIf(!ddb.endpoint)('PoolRepository on DynamoDB Local', () => {
  const dynamo = useDynamoClients(ddb.endpoint as string);

  async function setup() {
    const tables = await createTestTables(dynamo().dynamodb);
    const applied: Effects[] = [];
    const effects: EffectsSink = {
      async apply(fx) {
        if (fx && ((fx.events?.length ?? 0) > 0 || (fx.messages?.length ?? 0) > 0)) applied.push(fx);
      },
    };
    const clock = new FakeClock('2024-01-01T00:00:00.000Z');
    const pools = createDynamoPoolRepository({
      client: dynamo().documents,
      configTable: tables.config,
      jobAuditTable: tables.jobAudit,
      effects,
      clock,
    });
    const jobs = createDynamoJobRepository({
      client: dynamo().documents,
      tableName: tables.jobAudit,
      effects,
    });
    const item = async (name: string) =>
      (
        await dynamo().documents.send(
          new GetCommand({ TableName: tables.config, Key: poolKey(name), ConsistentRead: true }),
        )
      ).Item;
    /** Job rows of a run of four parallel jobs in pool wlm, the ones named Queued waiting for it. */
    async function waitingJobs(exec: string, keys: string[]): Promise<JobAuditRecord[]> {
      const p = planned(workflow('wf_a', [parallel(['a.sh', 'b.sh', 'c.sh', 'd.sh'])]), exec);
      const rows = p.jobs.map((j) =>
        keys.includes(j.job_key)
          ? { ...j, execution_status: 'Queued' as const, pool: 'wlm', waiting_for: 'pool:wlm' }
          : j,
      );
      for (const r of rows) {
        await dynamo().documents.send(new PutCommand({ TableName: tables.jobAudit, Item: jobToItem(r) }));
      }
      return rows;
    }
    return { tables, applied, pools, jobs, item, waitingJobs };
  }

  const wake = (exec: string, key: string, attempt = 1): JobTransition => ({
    workflowExecutionId: exec,
    jobKey: key,
    expect: { attempt, statuses: ['Queued'] },
    set: { waiting_for: null },
  });
  const message = (exec: string, key: string): Effects => ({
    messages: [
      { body: { version: 1, workflow_id: 'wf_a', workflow_execution_id: exec, job_key: key, attempt: 1 } },
    ],
  });

  it('compares a path with a path: size(holders) < slots is accepted by DynamoDB and decides acquire', async () => {
    // The AWS Developer Guide, "Condition and filter expressions, operators, and functions":
    // "condition-expression ::= operand comparator operand | …", "an operand can be … A top-level
    // attribute name … A document path that references a nested attribute", and
    // "function ::= … | size (path)". So `size(holders) < slots` — a function of one attribute
    // compared with another attribute — is a comparison of two operands, no placeholder value
    // needed; DynamoDB Local (AWS's own build) evaluates it below. If it refused, the plan's
    // fallback was a `free` counter kept by the same updates.
    const s = await setup();
    expect(await s.pools.ensure('wlm', 2, ORIGIN, ev('created'))).toBe('created');
    expect(await s.pools.acquire('wlm', holder('r1', '1.1'))).toBe('acquired');
    expect(await s.pools.acquire('wlm', holder('r1', '1.2'))).toBe('acquired');
    expect(await s.pools.acquire('wlm', holder('r1', '1.3'))).toBe('full');
    // The raw condition, on its own, against the stored item: refused at 2 of 2.
    await expect(
      dynamo().documents.send(
        new UpdateCommand({
          TableName: s.tables.config,
          Key: poolKey('wlm'),
          UpdateExpression: 'ADD #h :me',
          ConditionExpression: 'size(#h) < #s',
          ExpressionAttributeNames: { '#h': 'holders', '#s': 'slots' },
          ExpressionAttributeValues: { ':me': new Set(['x']) },
        }),
      ),
    ).rejects.toThrow(/conditional request failed/i);
    expect((await s.item('wlm'))?.holders).toEqual(
      new Set([jobRunName('r1', '1.1', 1), jobRunName('r1', '1.2', 1)]),
    );
  });

  it('ensure creates once (effects only then); acquire of a pool that is not there says missing', async () => {
    const s = await setup();
    expect(await s.pools.acquire('wlm', holder('r1', '1.1'))).toBe('missing');
    expect(await s.pools.ensure('wlm', 3, ORIGIN, ev('first'))).toBe('created');
    expect(await s.pools.ensure('wlm', 7, ORIGIN, ev('second'))).toBe('exists');
    expect(s.applied).toHaveLength(1);
    expect(await s.pools.get('wlm')).toEqual({
      name: 'wlm',
      slots: 3,
      holders: [],
      waiters: [],
      created_by: 'workflow wf_a',
      last_change: null,
    });
    expect(await s.pools.get('nope')).toBeUndefined();
  });

  it('0 slots drains: no acquire, not even into an empty pool (no holder set at all)', async () => {
    const s = await setup();
    await s.pools.ensure('wlm', 0, ORIGIN, {});
    // `attribute_not_exists(holders) OR size(holders) < slots` would let this one in.
    expect(await s.pools.acquire('wlm', holder('r1', '1.1'))).toBe('full');
    expect((await s.item('wlm'))?.holders).toBeUndefined();
  });

  it('acquire is idempotent for a holder and never jumps the queue', async () => {
    const s = await setup();
    await s.pools.ensure('wlm', 1, ORIGIN, {});
    const a = holder('r1', '1.1');
    expect(await s.pools.acquire('wlm', a)).toBe('acquired');
    expect(await s.pools.acquire('wlm', a)).toBe('acquired'); // a duplicate message
    expect(await s.pools.enqueue('wlm', holder('r1', '1.2'))).toEqual({ queued: true, free: 0, waiting: 1 });
    expect(await s.pools.release('wlm', a.holder, ev('freed'))).toBe('released');
    // A slot is free, but 1.2 waits: a newcomer does not take it.
    expect(await s.pools.acquire('wlm', holder('r2', '1.1'))).toBe('full');
    expect((await s.pools.get('wlm'))?.holders).toEqual([]);
  });

  it('enqueue is idempotent, keeps the first since, and says how many are free and waiting', async () => {
    const s = await setup();
    await s.pools.ensure('wlm', 1, ORIGIN, {});
    const a = holder('r1', '1.1');
    expect(await s.pools.acquire('wlm', a)).toBe('acquired');
    // A holder is not queued.
    expect(await s.pools.enqueue('wlm', a)).toEqual({ queued: false, free: 0, waiting: 0 });
    const b = holder('r1', '1.2', 1, '2024-01-01T00:00:05.000Z');
    expect(await s.pools.enqueue('wlm', b)).toEqual({ queued: true, free: 0, waiting: 1 });
    expect(await s.pools.enqueue('wlm', { ...b, since: '2024-01-01T00:09:00.000Z' })).toEqual({
      queued: true,
      free: 0,
      waiting: 1,
    });
    expect((await s.pools.get('wlm'))?.waiters).toEqual([b]);
  });

  it('serves waiters in request order across workflows (since, then holder)', async () => {
    const s = await setup();
    await s.pools.ensure('wlm', 0, ORIGIN, {});
    const late = holder('wfB-run', '1.1', 1, '2024-01-01T00:00:03.000Z');
    const early = holder('wfA-run', '1.4', 1, '2024-01-01T00:00:01.000Z');
    const tieB = holder('wfB-run', '1.2', 1, '2024-01-01T00:00:02.000Z');
    const tieA = holder('wfA-run', '1.2', 1, '2024-01-01T00:00:02.000Z');
    for (const h of [late, tieB, early, tieA]) await s.pools.enqueue('wlm', h);
    expect((await s.pools.get('wlm'))?.waiters.map((w) => w.holder)).toEqual([
      early.holder,
      tieA.holder,
      tieB.holder,
      late.holder,
    ]);
  });

  it(`caps the waiters at ${MAX_POOL_WAITERS} per item: one more is not queued, one already there still is`, async () => {
    const s = await setup();
    await s.pools.ensure('wlm', 0, ORIGIN, {});
    const waiters: Record<string, unknown> = {};
    for (let i = 0; i < MAX_POOL_WAITERS; i++) {
      const h = holder(`run${String(i).padStart(4, '0')}`, '1.1');
      waiters[h.holder] = { since: h.since, exec: h.workflowExecutionId, job_key: h.jobKey, attempt: 1 };
    }
    await dynamo().documents.send(
      new UpdateCommand({
        TableName: s.tables.config,
        Key: poolKey('wlm'),
        UpdateExpression: 'SET #w = :w',
        ExpressionAttributeNames: { '#w': 'waiters' },
        ExpressionAttributeValues: { ':w': waiters },
      }),
    );
    expect(await s.pools.enqueue('wlm', holder('one-more', '1.1'))).toEqual({
      queued: false,
      free: 0,
      waiting: MAX_POOL_WAITERS,
    });
    expect(await s.pools.enqueue('wlm', holder('run0007', '1.1'))).toEqual({
      queued: true,
      free: 0,
      waiting: MAX_POOL_WAITERS,
    });
  });

  it('releases exactly once per attempt under duplicated and concurrent deliveries', async () => {
    const s = await setup();
    await s.pools.ensure('wlm', 1, ORIGIN, {});
    const a1 = holder('r1', '1.1', 1);
    await s.pools.acquire('wlm', a1);
    const outcomes = await Promise.all(
      Array.from({ length: 6 }, (_, i) => s.pools.release('wlm', a1.holder, ev(`release ${i}`))),
    );
    expect(outcomes.filter((o) => o === 'released')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'not-held')).toHaveLength(5);
    expect(s.applied).toHaveLength(1);
    // Attempt 2 holds now; a late release of attempt 1 does not touch it.
    const a2 = holder('r1', '1.1', 2);
    expect(await s.pools.acquire('wlm', a2)).toBe('acquired');
    expect(await s.pools.release('wlm', a1.holder, ev('late'))).toBe('not-held');
    expect((await s.pools.get('wlm'))?.holders).toEqual([a2.holder]);
    expect(await s.pools.release('wlm', 'never-held', {})).toBe('not-held');
    expect(await s.pools.release('nope', a2.holder, {})).toBe('not-held');
  });

  it('grant moves the waiter to the holders and wakes the job (waiting_for removed) atomically, then its message', async () => {
    const s = await setup();
    await s.pools.ensure('wlm', 1, ORIGIN, {});
    await s.waitingJobs('r1', ['1.1']);
    const a = holder('r1', '1.1');
    await s.pools.enqueue('wlm', a);
    expect(await s.pools.grant('wlm', a, wake('r1', '1.1'), message('r1', '1.1'))).toBe('granted');
    const pool = await s.pools.get('wlm');
    expect(pool?.holders).toEqual([a.holder]);
    expect(pool?.waiters).toEqual([]);
    const job = await s.jobs.getJob('r1', '1.1');
    expect(job?.execution_status).toBe('Queued');
    expect(job?.waiting_for).toBeNull();
    expect(s.applied).toEqual([message('r1', '1.1')]);
    // The dispatcher's acquire then finds itself a holder.
    expect(await s.pools.acquire('wlm', a)).toBe('acquired');
  });

  it('two grants for one slot: one wins, the other finds no slot and changes nothing', async () => {
    const s = await setup();
    await s.pools.ensure('wlm', 1, ORIGIN, {});
    await s.waitingJobs('r1', ['1.1', '1.2']);
    const a = holder('r1', '1.1', 1, '2024-01-01T00:00:01.000Z');
    const b = holder('r1', '1.2', 1, '2024-01-01T00:00:02.000Z');
    await s.pools.enqueue('wlm', a);
    await s.pools.enqueue('wlm', b);
    const [ga, gb] = await Promise.all([
      s.pools.grant('wlm', a, wake('r1', '1.1'), message('r1', '1.1')),
      s.pools.grant('wlm', b, wake('r1', '1.2'), message('r1', '1.2')),
    ]);
    expect([ga, gb].sort()).toEqual(['granted', 'no-slot']);
    const pool = await s.pools.get('wlm');
    expect(pool?.holders).toHaveLength(1);
    expect(pool?.waiters).toHaveLength(1);
    const woken = (await s.jobs.listJobs('r1')).filter(
      (j) => j.execution_status === 'Queued' && j.waiting_for === null,
    );
    expect(woken).toHaveLength(1);
    expect(s.applied).toHaveLength(1);
    // The same waiter granted twice (two wakers read the same list): one wins, the other is 'gone'.
    const s2 = await setup();
    await s2.pools.ensure('wlm', 2, ORIGIN, {});
    await s2.waitingJobs('r1', ['1.1']);
    await s2.pools.enqueue('wlm', a);
    const twice = await Promise.all([
      s2.pools.grant('wlm', a, wake('r1', '1.1'), message('r1', '1.1')),
      s2.pools.grant('wlm', a, wake('r1', '1.1'), message('r1', '1.1')),
    ]);
    expect(twice.sort()).toEqual(['gone', 'granted']);
    expect((await s2.pools.get('wlm'))?.holders).toEqual([a.holder]);
  });

  it('grant races dequeue (the job cancelled): exactly one of them takes the waiter', async () => {
    for (let round = 0; round < 3; round++) {
      const s = await setup();
      await s.pools.ensure('wlm', 1, ORIGIN, {});
      await s.waitingJobs('r1', ['1.1']);
      const a = holder('r1', '1.1');
      await s.pools.enqueue('wlm', a);
      const [granted, dequeued] = await Promise.all([
        s.pools.grant('wlm', a, wake('r1', '1.1'), message('r1', '1.1')),
        s.pools.dequeue('wlm', a.holder),
      ]);
      const pool = await s.pools.get('wlm');
      if (granted === 'granted') {
        expect(dequeued).toBe(false);
        expect(pool?.holders).toEqual([a.holder]);
      } else {
        expect(granted).toBe('gone');
        expect(dequeued).toBe(true);
        expect(pool?.holders).toEqual([]);
      }
      expect(pool?.waiters).toEqual([]);
    }
  });

  it("grant to a job that stopped waiting (cancelled, bypassed) is 'gone' and takes no slot", async () => {
    const s = await setup();
    await s.pools.ensure('wlm', 1, ORIGIN, {});
    await s.waitingJobs('r1', ['1.1']);
    const a = holder('r1', '1.1');
    await s.pools.enqueue('wlm', a);
    await s.jobs.transition({
      workflowExecutionId: 'r1',
      jobKey: '1.1',
      expect: { attempt: 1, statuses: ['Queued'] },
      set: { execution_status: 'Cancelled', waiting_for: null },
    });
    expect(await s.pools.grant('wlm', a, wake('r1', '1.1'), message('r1', '1.1'))).toBe('gone');
    expect((await s.pools.get('wlm'))?.holders).toEqual([]);
    expect(await s.pools.dequeue('wlm', a.holder)).toBe(true);
    expect(await s.pools.dequeue('wlm', a.holder)).toBe(false);
    expect(s.applied).toEqual([]);
  });

  it('resize orders requests (applied, same, stale), creates a missing pool, and shrinking keeps holders', async () => {
    const s = await setup();
    const c = (at: string, id: string) => ({
      requested_at: at,
      request_id: id,
      created_by: 'operator:user:ann',
    });
    expect(await s.pools.resize('wlm', 2, c('2024-01-01T00:01:00.000Z', 'r-b'), ev('resized'))).toBe(
      'applied',
    );
    expect(await s.pools.get('wlm')).toMatchObject({
      slots: 2,
      created_by: 'operator:user:ann',
      last_change: { requested_at: '2024-01-01T00:01:00.000Z', request_id: 'r-b' },
    });
    expect(await s.pools.resize('wlm', 2, c('2024-01-01T00:01:00.000Z', 'r-b'), ev('dup'))).toBe('same');
    expect(await s.pools.resize('wlm', 9, c('2024-01-01T00:00:30.000Z', 'r-z'), ev('old'))).toBe('stale');
    // Same millisecond: the request id orders them.
    expect(await s.pools.resize('wlm', 9, c('2024-01-01T00:01:00.000Z', 'r-a'), ev('older id'))).toBe(
      'stale',
    );
    await s.pools.acquire('wlm', holder('r1', '1.1'));
    await s.pools.acquire('wlm', holder('r1', '1.2'));
    expect(await s.pools.resize('wlm', 0, c('2024-01-01T00:02:00.000Z', 'r-c'), ev('drain'))).toBe('applied');
    expect((await s.pools.get('wlm'))?.holders).toHaveLength(2);
    expect(await s.pools.acquire('wlm', holder('r1', '1.3'))).toBe('full');
    expect(s.applied).toHaveLength(2);
    // An ensured pool (no last_change yet) is resized too.
    await s.pools.ensure('etl', 1, ORIGIN, {});
    expect(await s.pools.resize('etl', 4, c('2024-01-01T00:00:00.000Z', 'r-d'), {})).toBe('applied');
    expect((await s.pools.get('etl'))?.slots).toBe(4);
  });

  it('concurrent resizes settle on the newest request', async () => {
    const s = await setup();
    await s.pools.ensure('wlm', 1, ORIGIN, {});
    const reqs = [3, 1, 4, 2, 5].map((n) => ({
      slots: n,
      change: { requested_at: `2024-01-01T00:0${n}:00.000Z`, request_id: `r${n}`, created_by: 'operator' },
    }));
    await Promise.all(reqs.map((r) => s.pools.resize('wlm', r.slots, r.change, {})));
    expect((await s.pools.get('wlm'))?.slots).toBe(5);
  });

  it('lists the pools of the table, and only them', async () => {
    const s = await setup();
    await s.pools.ensure('wlm', 2, ORIGIN, {});
    await s.pools.ensure('etl', 1, ORIGIN, {});
    await dynamo().documents.send(
      new PutCommand({ TableName: s.tables.config, Item: { workflow_id: 'wf_a', workflow_stages: [] } }),
    );
    expect((await s.pools.list()).map((p) => [p.name, p.slots])).toEqual([
      ['etl', 1],
      ['wlm', 2],
    ]);
  });

  it("the aggregator's stream filter passes a woken job (grant) and nothing else of a pool wait", async () => {
    // The Lambda Developer Guide, "Using event filtering with a DynamoDB event source": "With
    // DynamoDB, you can also use the NewImage and OldImage keys to filter for attribute values",
    // and the filter rule syntax's Exists operator (`{"exists": true|false}`, matched on a leaf,
    // a missing attribute being "not exists") — evaluated by events/pattern.ts, the repo's
    // implementation of EventBridge's matching that Lambda filters share.
    const s = await setup();
    const stream = await openStream(ddb.endpoint as string, dynamo().dynamodb, s.tables.jobAudit);
    await s.pools.ensure('wlm', 0, ORIGIN, {});
    const p = planned(workflow('wf_a', [parallel(['a.sh'])]), 'r1');
    const row = p.jobs[0] as JobAuditRecord;
    await dynamo().documents.send(new PutCommand({ TableName: s.tables.jobAudit, Item: jobToItem(row) }));
    const t = (expect_: JobTransition['expect'], set: JobTransition['set']) =>
      s.jobs.transition({ workflowExecutionId: 'r1', jobKey: '1.1', expect: expect_, set });
    await t({ attempt: 1, statuses: ['Pending'] }, { execution_status: 'Queued' }); // the claim (filter 3)
    await stream.next();
    // The dispatcher parks it: Queued → Queued waiting for the pool. Not for the aggregator.
    await t({ attempt: 1, statuses: ['Queued'] }, { waiting_for: 'pool:wlm' });
    // A hold then parks it differently: still waiting, still not for the aggregator.
    await t({ attempt: 1, statuses: ['Queued'] }, { waiting_for: 'hold' });
    await t({ attempt: 1, statuses: ['Queued'] }, { waiting_for: 'pool:wlm' });
    const parked = await stream.next();
    expect(parked).toHaveLength(3);
    expect(parked.filter(passesAggregatorFilter)).toEqual([]);
    // Woken by a grant: Queued, waiting_for null: the aggregator re-sends its message if lost.
    await s.pools.resize(
      'wlm',
      1,
      { requested_at: '2024-01-01T00:00:00.000Z', request_id: 'x', created_by: 'op' },
      {},
    );
    const h = holder('r1', '1.1');
    await s.pools.enqueue('wlm', h);
    expect(await s.pools.grant('wlm', h, wake('r1', '1.1'), message('r1', '1.1'))).toBe('granted');
    const woken = await stream.next();
    expect(woken).toHaveLength(1);
    expect(woken.filter(passesAggregatorFilter)).toHaveLength(1);
    // A later change of the woken job that is not a wake (Queued → Dispatched) does not match filter 4.
    await t({ attempt: 1, statuses: ['Queued'] }, { execution_status: 'Dispatched' });
    expect((await stream.next()).filter(passesAggregatorFilter)).toEqual([]);
  });
});
