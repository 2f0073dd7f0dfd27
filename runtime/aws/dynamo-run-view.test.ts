/**
 * The operator's list of every run on DynamoDB Local: newest first across workflows (each
 * workflow's runs from its index query, merged), paged with a cursor, filtered by status and
 * workflow, reading pages of keys rather than the whole history.
 */
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestTables,
  dynamoLocal,
  localClients,
  waitForDynamo,
} from '../../test/support/dynamodb-local.js';
import { createDynamoRunView, type RunPosition } from './dynamo-run-view.js';

const ddb = dynamoLocal('runtime/aws/dynamo-run-view.test.ts');

describe.skipIf(!ddb.endpoint)('every run of a stack, newest first', () => {
  let clients: ReturnType<typeof localClients>;
  let view: ReturnType<typeof createDynamoRunView>;
  const runs: Array<RunPosition & { workflow_id: string; execution_status: string }> = [];

  beforeAll(async () => {
    await waitForDynamo(ddb.endpoint as string);
    clients = localClients(ddb.endpoint as string);
    const tables = await createTestTables(clients.dynamodb);
    view = createDynamoRunView({ client: clients.documents, tables });
    // Three workflows with interleaved runs (over 100 each: more than one index page); two pairs
    // start at the same instant.
    const base = Date.parse('2026-03-01T00:00:00.000Z');
    for (let i = 0; i < 330; i++) {
      const workflow_id = ['wf_a', 'wf_b', 'wf_c'][i % 3] as string;
      const ms = i === 7 || i === 8 ? 7 : i === 150 || i === 151 ? 150 : i;
      runs.push({
        workflow_id,
        workflow_execution_id: `${workflow_id}-${String(i).padStart(3, '0')}`,
        execution_start_ts: new Date(base + ms * 1000).toISOString(),
        execution_status: i % 4 === 0 ? 'Failed' : 'Completed',
      });
    }
    // One workflow's item holds only slots and its id (its definition removed by a deploy).
    for (const w of ['wf_a', 'wf_b'])
      await clients.documents.send(
        new PutCommand({ TableName: tables.config, Item: { workflow_id: w, workflow_stages: [] } }),
      );
    await clients.documents.send(new PutCommand({ TableName: tables.config, Item: { workflow_id: 'wf_c' } }));
    for (const r of runs)
      await clients.documents.send(
        new PutCommand({ TableName: tables.workflowAudit, Item: { ...r, stages: [] } }),
      );
  });
  afterAll(() => clients?.dynamodb.destroy());

  const expected = (f: (r: (typeof runs)[number]) => boolean = () => true) =>
    runs
      .filter(f)
      .sort(
        (a, b) =>
          b.execution_start_ts.localeCompare(a.execution_start_ts) ||
          b.workflow_execution_id.localeCompare(a.workflow_execution_id),
      )
      .map((r) => r.workflow_execution_id);

  async function all(q: { workflow_id?: string; status?: 'Failed'; limit: number }): Promise<string[]> {
    const out: string[] = [];
    let before: RunPosition | undefined;
    for (let pages = 0; pages < 500; pages++) {
      const page = await view.listRuns({ ...q, ...(before ? { before } : {}) });
      out.push(...page.runs.map((r) => r.workflow_execution_id));
      const last = page.runs[page.runs.length - 1];
      if (!page.more || !last) return out;
      before = {
        execution_start_ts: last.execution_start_ts,
        workflow_execution_id: last.workflow_execution_id,
      };
    }
    throw new Error('no end');
  }

  it('pages through every run newest first, across workflows and among runs that started at the same instant', async () => {
    const first = await view.listRuns({ limit: 5 });
    expect(first.runs.map((r) => r.workflow_execution_id)).toEqual(expected().slice(0, 5));
    expect(first.more).toBe(true);
    expect(await all({ limit: 7 })).toEqual(expected());
    expect(await all({ limit: 500 })).toEqual(expected());
  });

  it('filters by status and by workflow, with the same order and paging', async () => {
    expect(await all({ status: 'Failed', limit: 9 })).toEqual(
      expected((r) => r.execution_status === 'Failed'),
    );
    expect(await all({ workflow_id: 'wf_b', limit: 11 })).toEqual(expected((r) => r.workflow_id === 'wf_b'));
    const none = await view.listRuns({ workflow_id: 'wf_none', limit: 5 });
    expect(none).toEqual({ runs: [], more: false });
  });

  it('lists the workflows of the config table, and only definitions as definitions', async () => {
    expect(await view.workflowIds()).toEqual(['wf_a', 'wf_b', 'wf_c']);
    expect((await view.listDefinitions()).map((d) => d.workflow_id)).toEqual(['wf_a', 'wf_b']);
  });
});
