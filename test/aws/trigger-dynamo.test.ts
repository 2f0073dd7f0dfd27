/**
 * The trigger's DynamoDB adapter against DynamoDB Local: the index item is one GetItem, the state
 * is written only at the version read (a lost race writes nothing and publishes nothing), the
 * request is published only after its write, and a workflow's latest run start comes from the
 * by_workflow index.
 */
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RsqloEvent } from '../../contracts/events.js';
import {
  createDynamoCalendarReader,
  createDynamoTriggerRepository,
  dependencyItems,
} from '../../runtime/aws/dynamo-trigger.js';
import type { TriggerState } from '../../services/ports.js';
import {
  createTestTables,
  dynamoLocal,
  localClients,
  type TestTables,
  waitForDynamo,
} from '../support/dynamodb-local.js';

const ddb = dynamoLocal('test/aws/trigger-dynamo.test.ts');

describe.skipIf(!ddb.endpoint)('DynamoDB trigger repository', () => {
  let clients: ReturnType<typeof localClients>;
  let tables: TestTables;
  const published: RsqloEvent[][] = [];
  const repo = () =>
    createDynamoTriggerRepository({
      client: clients.documents,
      configTable: tables.config,
      workflowAuditTable: tables.workflowAudit,
      effects: { apply: async (e) => void (e?.events?.length && published.push(e.events)) },
    });

  beforeAll(async () => {
    await waitForDynamo(ddb.endpoint as string);
    clients = localClients(ddb.endpoint as string);
    tables = await createTestTables(clients.dynamodb);
    for (const item of dependencyItems(
      [
        { workflow_id: 'down', trigger: { after: ['a', 'b'] } },
        { workflow_id: 'other', trigger: { after: ['a'] } },
      ],
      [{ name: 'business', raw: { weekdays: ['mon'] } }],
    ))
      await clients.documents.send(
        new PutCommand({
          TableName: tables.config,
          Item: { workflow_id: item.workflow_id, ...item.attributes },
        }),
      );
  }, 60_000);

  it('reads who waits for a workflow from its index item; none for one nobody waits for', async () => {
    expect(await repo().dependents('a')).toEqual(['down', 'other']);
    expect(await repo().dependents('b')).toEqual(['down']);
    expect(await repo().dependents('down')).toEqual([]);
  });

  it('writes the state only at the version read; a lost race writes and publishes nothing', async () => {
    const r = repo();
    const s1: TriggerState = {
      version: 1,
      arrivals: { a: { workflow_execution_id: 'a-1', finished_at: '2026-03-01T00:00:00.000Z' } },
      consumed: {},
      last_request: null,
    };
    expect(await r.save('down', 0, s1, {})).toBe(true);
    // A second "first write" (another container read no item too) loses.
    expect(await r.save('down', 0, { ...s1, arrivals: {} }, {})).toBe(false);
    expect(await r.get('down')).toEqual(s1);
    const request: RsqloEvent = {
      detailType: 'WorkflowRequested',
      detail: { version: 1, event_id: 'WorkflowRequested:trigger:down:x', workflow_id: 'down' },
    };
    const s2: TriggerState = { ...s1, version: 2, arrivals: {}, consumed: s1.arrivals };
    // At a stale version: refused, nothing published.
    expect(await r.save('down', 0, s2, { events: [request] })).toBe(false);
    expect(published).toEqual([]);
    expect(await r.save('down', 1, s2, { events: [request] })).toBe(true);
    expect(published).toEqual([[request]]);
    expect(await r.get('down')).toEqual(s2);
    expect(await r.save('down', 1, { ...s2, version: 3 }, { events: [request] })).toBe(false);
    expect(published).toHaveLength(1);
  });

  it("a workflow's latest run start comes from the by_workflow index; none before its first run", async () => {
    expect(await repo().lastRunStart('down')).toBeUndefined();
    for (const [id, ts] of [
      ['down-1', '2026-03-01T00:00:00.000Z'],
      ['down-3', '2026-03-03T00:00:00.000Z'],
      ['down-2', '2026-03-02T00:00:00.000Z'],
    ])
      await clients.documents.send(
        new PutCommand({
          TableName: tables.workflowAudit,
          Item: { workflow_execution_id: id, workflow_id: 'down', execution_start_ts: ts },
        }),
      );
    expect(await repo().lastRunStart('down')).toBe('2026-03-03T00:00:00.000Z');
  });

  it('reads a deployed calendar, and nothing for one never deployed', async () => {
    const cals = createDynamoCalendarReader({ client: clients.documents, configTable: tables.config });
    expect(await cals.get('business')).toEqual({ weekdays: ['mon'] });
    expect(await cals.get('nope')).toBeUndefined();
  });
});
