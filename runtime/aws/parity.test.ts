import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { describe, expect, it } from 'vitest';
import type { JobAuditRecord } from '../../contracts/audit.js';
import type { Effects } from '../../services/ports.js';
import { diffValues, FakeClock } from '../../services/testing/in-memory.js';
import { useDynamoClients } from '../../test/support/dynamodb-clients.js';
import {
  createTestTables,
  dynamoLocal,
  openStream,
  passesAggregatorFilter,
} from '../../test/support/dynamodb-local.js';
import { LocalStore } from '../local/store.js';
import { createDynamoDefinitionRepository } from './dynamo-definitions.js';
import { jobFromItem } from './dynamo-items.js';
import { createDynamoJobRepository } from './dynamo-jobs.js';
import { createDynamoRunRepository } from './dynamo-runs.js';
import type { EffectsSink } from './effects.js';
import {
  type PortHarness,
  playPortScenario,
  type RecordedEffects,
  SCENARIO_EXECUTIONS,
  SCENARIO_START,
  SCENARIO_WORKFLOW,
} from './testing/port-scenario.js';

const ddb = dynamoLocal('runtime/aws/parity.test.ts');

function sqliteHarness(): PortHarness {
  const clock = new FakeClock(SCENARIO_START);
  const store = new LocalStore(':memory:', { now: () => clock.millis });
  const events: RecordedEffects['events'] = [];
  store.onCommittedEvent((e) => events.push({ detailType: e['detail-type'], detail: e.detail }));
  return {
    runs: store.runs(),
    jobs: store.jobs(),
    clock,
    effects: async () => ({
      events,
      messages: (
        store.db.prepare('SELECT body, visible_at FROM queue ORDER BY id').all() as Array<{
          body: string;
          visible_at: number;
        }>
      ).map((m) => ({ body: JSON.parse(m.body), visibleAt: m.visible_at })),
      changes: store
        .readyOutbox(10_000)
        .filter((r) => r.target === 'aggregator')
        .map((r) => JSON.parse(r.payload) as JobAuditRecord),
    }),
    state: async (execs) => ({
      runs: execs.map((e) => store.getRunSync(e)),
      jobs: execs.map((e) => store.listJobsSync(e)),
    }),
  };
}

describe.skipIf(!ddb.endpoint)('DynamoDB repositories have the SQLite store’s semantics', () => {
  const endpoint = ddb.endpoint as string;
  const dynamo = useDynamoClients(endpoint);

  async function dynamoHarness() {
    const tables = await createTestTables(dynamo().dynamodb);
    const clock = new FakeClock(SCENARIO_START);
    const recorded: Omit<RecordedEffects, 'changes'> = { events: [], messages: [] };
    const effects: EffectsSink = {
      async apply(fx: Effects | undefined) {
        for (const e of fx?.events ?? [])
          recorded.events.push({ detailType: e.detailType, detail: e.detail });
        for (const m of fx?.messages ?? []) {
          recorded.messages.push({
            body: m.body,
            visibleAt: clock.millis + Math.max(0, m.delaySeconds ?? 0) * 1000,
          });
        }
      },
    };
    await createDynamoDefinitionRepository({ client: dynamo().documents, tableName: tables.config }).put(
      SCENARIO_WORKFLOW as { workflow_id: string } & Record<string, unknown>,
    );
    const stream = await openStream(endpoint, dynamo().dynamodb, tables.jobAudit);
    const runs = createDynamoRunRepository({
      client: dynamo().documents,
      tables: { config: tables.config, workflowAudit: tables.workflowAudit, jobAudit: tables.jobAudit },
      effects,
    });
    const jobs = createDynamoJobRepository({
      client: dynamo().documents,
      tableName: tables.jobAudit,
      effects,
      clock,
    });
    const seen: Awaited<ReturnType<typeof stream.next>> = [];
    const harness: PortHarness = {
      runs,
      jobs,
      clock,
      effects: async () => {
        seen.push(...(await stream.next()));
        return {
          ...recorded,
          changes: seen
            .filter(passesAggregatorFilter)
            .map((r) => jobFromItem(unmarshall(r.dynamodb?.NewImage as Record<string, AttributeValue>)))
            // Queued rows go to the aggregator on AWS only (the stream is the claim's outbox).
            .filter((j) => j.execution_status !== 'Queued'),
        };
      },
      state: async (execs) => ({
        runs: await Promise.all(execs.map((e) => runs.getRun(e))),
        jobs: await Promise.all(execs.map((e) => jobs.listJobs(e))),
      }),
    };
    return { harness, seen, stream, tables };
  }

  it('returns the same results, ends in the same rows and causes the same effects', async () => {
    const sqlite = sqliteHarness();
    const { harness: dynamo, seen } = await dynamoHarness();
    const a = await playPortScenario(sqlite);
    const b = await playPortScenario(dynamo);
    expect(diffValues(b, a, 'results', 50)).toEqual([]);
    const state = [await dynamo.state(SCENARIO_EXECUTIONS), await sqlite.state(SCENARIO_EXECUTIONS)] as const;
    expect(diffValues(state[0], state[1], 'state', 50)).toEqual([]);
    const effects = [await dynamo.effects(), await sqlite.effects()] as const;
    expect(diffValues(effects[0], effects[1], 'effects', 50)).toEqual([]);

    // The scenario did exercise each outcome.
    expect(a.slice(0, 6)).toMatchObject([
      { outcome: 'created' },
      { outcome: 'exists' },
      { outcome: 'limit', active: ['r1'] },
      { outcome: 'created' },
      { outcome: 'created' },
      { outcome: 'limit', active: ['r1', 'r2'] },
    ]);
    expect(a.slice(6, 13)).toEqual([
      'conflict',
      'claimed',
      'conflict',
      'conflict',
      'claimed',
      'conflict',
      'conflict',
    ]);
    // The host condition: refused on another host, one claim of an unclaimed job, then applies on it.
    const claimedAt = a.findIndex((r) => (r as { instance_id?: string } | undefined)?.instance_id === 'i-3');
    expect(claimedAt).toBeGreaterThan(0);
    expect([a[claimedAt - 1], a[claimedAt + 1]]).toEqual([undefined, undefined]);
    expect(a[claimedAt + 2]).toMatchObject({ instance_id: 'i-3', ssm_command_id: 'cmd-3' });
    expect(a.slice(-4)).toMatchObject([
      { outcome: 'created' },
      { outcome: 'restarted', by: 'r6' },
      { outcome: 'exists', run: { workflow_execution_id: 'r6' } },
      'r6',
    ]);
    expect(effects[1].changes.map((c) => [c.job_key, c.execution_status, c.attempt])).toEqual([
      ['1.1', 'Completed', 1],
      ['1.2', 'Failed', 1],
      ['1.2', 'Pending', 2],
      ['1.3', 'Failed', 1],
    ]);
    // And on AWS the stream also carried each claimed job to the aggregator (Pending → Queued).
    const queued = seen
      .filter(passesAggregatorFilter)
      .map((r) => unmarshall(r.dynamodb?.NewImage as Record<string, AttributeValue>))
      .filter((j) => j.execution_status === 'Queued')
      .map((j) => `${j.workflow_execution_id}/${j.job_key}`);
    expect(queued).toEqual(['r1/1.1', 'r1/1.2', 'r1/1.3']);
  });
});
