/**
 * What the index projections cost and give, on DynamoDB Local (AWS's emulator, which reports the
 * consumed capacity per table and index with ReturnConsumedCapacity INDEXES): the v2 audit tables
 * (every index KEYS_ONLY, runtime/aws/tables.ts) beside the v1 ones (ALL) that stacks deployed
 * before. An update of an attribute no index holds writes the table alone.
 */
import { PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { useDynamoClients } from '../../test/support/dynamodb-clients.js';
import {
  createPreviousAuditTables,
  createTestTables,
  dynamoLocal,
} from '../../test/support/dynamodb-local.js';
import { JOBS_BY_SEQUENCE_INDEX, TABLES } from './tables.js';

const ddb = dynamoLocal('runtime/aws/tables.test.ts');

describe('the table specs', () => {
  it('project only keys into every index (updates write no index)', () => {
    for (const t of TABLES) {
      for (const g of t.globalSecondaryIndexes)
        expect(g.projection, `${t.id}.${g.indexName}`).toBe('KEYS_ONLY');
      for (const l of t.localSecondaryIndexes)
        expect(l.projection, `${t.id}.${l.indexName}`).toBe('KEYS_ONLY');
    }
  });
});

describe.skipIf(!ddb.endpoint)('index write units on DynamoDB Local', () => {
  const endpoint = ddb.endpoint as string;
  const dynamo = useDynamoClients(endpoint);

  const run = {
    workflow_execution_id: 'r1',
    workflow_id: 'wf',
    execution_start_ts: '2024-01-01T00:00:00.000Z',
  };
  const job = { workflow_execution_id: 'r1', job_key: '1.1', job_seq: 1_000_001, job_name: 'a.sh' };

  /** Write units an UpdateItem consumed: in all, and on the indexes. */
  async function updateUnits(table: string, key: Record<string, unknown>, set: Record<string, unknown>) {
    const names = Object.fromEntries(Object.keys(set).map((k, n) => [`#a${n}`, k]));
    const values = Object.fromEntries(Object.values(set).map((v, n) => [`:v${n}`, v]));
    const r = await dynamo().documents.send(
      new UpdateCommand({
        TableName: table,
        Key: key,
        UpdateExpression: `SET ${Object.keys(set)
          .map((_, n) => `#a${n} = :v${n}`)
          .join(', ')}`,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ReturnConsumedCapacity: 'INDEXES',
      }),
    );
    const c = r.ConsumedCapacity;
    const indexes = [
      ...Object.values(c?.GlobalSecondaryIndexes ?? {}),
      ...Object.values(c?.LocalSecondaryIndexes ?? {}),
    ].reduce((n, i) => n + (i.CapacityUnits ?? 0), 0);
    return { total: c?.CapacityUnits, indexes };
  }

  async function seed(tables: { workflowAudit: string; jobAudit: string }) {
    await dynamo().documents.send(
      new PutCommand({
        TableName: tables.workflowAudit,
        Item: { ...run, execution_status: 'Running', n: 0 },
      }),
    );
    await dynamo().documents.send(
      new PutCommand({
        TableName: tables.jobAudit,
        Item: {
          ...job,
          execution_status: 'Running',
          execution_start_ts: '2024-01-01T00:00:01.000Z',
          counted: false,
        },
      }),
    );
  }

  it('v2 (KEYS_ONLY): a count or status update writes 1 unit, the table alone; v1 (ALL) wrote every index', async () => {
    const prefix = `ix${Date.now().toString(36)}`;
    const v2 = await createTestTables(dynamo().dynamodb, prefix);
    const v1 = await createPreviousAuditTables(dynamo().dynamodb, prefix);
    await seed(v2);
    await seed(v1);
    const runKey = { workflow_execution_id: 'r1' };
    const jobKey = { workflow_execution_id: 'r1', job_key: '1.1' };
    expect(await updateUnits(v2.workflowAudit, runKey, { n: 1 })).toEqual({ total: 1, indexes: 0 });
    expect(await updateUnits(v1.workflowAudit, runKey, { n: 1 })).toEqual({ total: 2, indexes: 1 });
    const done = { execution_status: 'Completed', counted: true };
    expect(await updateUnits(v2.jobAudit, jobKey, done)).toEqual({ total: 1, indexes: 0 });
    expect(await updateUnits(v1.jobAudit, jobKey, done)).toEqual({ total: 3, indexes: 2 });
  });

  it('v2: changing an index key still maintains that index (by_job_name lists started jobs)', async () => {
    const v2 = await createTestTables(dynamo().dynamodb);
    await dynamo().documents.send(
      new PutCommand({
        TableName: v2.jobAudit,
        Item: { ...job, job_key: '1.2', execution_status: 'Queued' },
      }),
    );
    // The job starts: execution_start_ts (by_job_name's sort key) appears, one index write.
    expect(
      await updateUnits(
        v2.jobAudit,
        { workflow_execution_id: 'r1', job_key: '1.2' },
        { execution_status: 'Running', execution_start_ts: '2024-01-01T00:00:02.000Z' },
      ),
    ).toEqual({ total: 2, indexes: 1 });
  });

  it('v2: a by_sequence query returns whole rows with Select ALL_ATTRIBUTES (fetched from the table), keys without', async () => {
    const v2 = await createTestTables(dynamo().dynamodb);
    await seed(v2);
    const q = (select?: 'ALL_ATTRIBUTES') =>
      dynamo().documents.send(
        new QueryCommand({
          TableName: v2.jobAudit,
          IndexName: JOBS_BY_SEQUENCE_INDEX,
          KeyConditionExpression: 'workflow_execution_id = :e',
          ExpressionAttributeValues: { ':e': 'r1' },
          ConsistentRead: true,
          ...(select ? { Select: select } : {}),
        }),
      );
    expect((await q()).Items).toEqual([{ workflow_execution_id: 'r1', job_key: '1.1', job_seq: 1_000_001 }]);
    expect((await q('ALL_ATTRIBUTES')).Items).toEqual([
      { ...job, execution_status: 'Running', execution_start_ts: '2024-01-01T00:00:01.000Z', counted: false },
    ]);
  });
});
