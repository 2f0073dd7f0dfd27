import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { jobToItem } from '../../runtime/aws/dynamo-items.js';
import type { createDynamoJobRepository } from '../../runtime/aws/dynamo-jobs.js';
import type { createDynamoRunRepository } from '../../runtime/aws/dynamo-runs.js';
import { captureLogs, lambdaContext, stubLambdaEnv } from '../../runtime/aws/testing/lambda-harness.js';
import { planned } from '../../runtime/aws/testing/port-scenario.js';
import {
  createTestTables,
  dynamoLocal,
  localClients,
  openStream,
  passesAggregatorFilter,
  testRepositories,
  waitForDynamo,
} from '../../test/support/dynamodb-local.js';
import { type LocalSqs, startLocalSqs } from '../../test/support/sqs-local.js';
import { parallel, sequential, workflow } from '../testing/fixtures.js';

const ddb = dynamoLocal('services/aggregator/handler.test.ts');
const eb = mockClient(EventBridgeClient);

describe('aggregator handler: configuration', () => {
  it('fails at load, naming the missing variables', async () => {
    vi.resetModules();
    vi.stubEnv('RSQLO_EVENT_BUS', '');
    await expect(import('./handler.js')).rejects.toThrow(
      /RSQLO_CONFIG_TABLE is not set.*RSQLO_EVENT_BUS is not set/,
    );
    vi.unstubAllEnvs();
  });
});

describe.skipIf(!ddb.endpoint)('aggregator handler (DynamoDB Local stream, fauxqs)', () => {
  const endpoint = ddb.endpoint as string;
  const WF = workflow('wf', [
    parallel(['a.sh', 'b.sh', 'x.sh'], { maxConcurrency: 2 }),
    sequential(['c.sh']),
  ]);
  let local: LocalSqs | undefined;
  let sqs: SQSClient;
  let queueUrl: string;
  let clients: ReturnType<typeof localClients>;
  let handler: typeof import('./handler.js').handler;
  let runs: ReturnType<typeof createDynamoRunRepository>;
  let jobs: ReturnType<typeof createDynamoJobRepository>;
  let stream: Awaited<ReturnType<typeof openStream>>;
  const logs = captureLogs();

  beforeAll(async () => {
    await waitForDynamo(endpoint);
    local = await startLocalSqs();
    ({ sqs, queueUrl } = local);
    clients = localClients(endpoint);
    const tables = await createTestTables(clients.dynamodb);
    const repos = testRepositories(clients, tables);
    await repos.definitions.put(WF as { workflow_id: string } & Record<string, unknown>);
    runs = repos.runs;
    jobs = repos.jobs;
    stream = await openStream(endpoint, clients.dynamodb, tables.jobAudit);
    const p = planned(WF, 'r1');
    await runs.createRun(p.run, p.jobs, { maxActiveRuns: 1 }, {});
    vi.resetModules();
    stubLambdaEnv(
      {
        configTable: tables.config,
        workflowAuditTable: tables.workflowAudit,
        jobAuditTable: tables.jobAudit,
        eventBus: 'rsqlo-bus',
        jobQueueUrl: queueUrl,
      },
      { dynamodb: endpoint, sqs: local.endpoint },
    );
    ({ handler } = await import('./handler.js'));
  });
  afterAll(async () => {
    logs.restore();
    vi.unstubAllEnvs();
    clients?.dynamodb.destroy();
    await local?.stop();
  });
  beforeEach(() => {
    logs.clear();
    eb.reset();
    eb.on(PutEventsCommand).callsFake((input: { Entries: unknown[] }) => ({
      FailedEntryCount: 0,
      Entries: input.Entries.map(() => ({ EventId: 'x' })),
    }));
  });

  /** What Lambda would invoke the aggregator with: the stream since last time, through its filter. */
  async function delivered(): Promise<DynamoDBRecord[]> {
    return (await stream.next()).filter(passesAggregatorFilter);
  }
  const published = () =>
    eb
      .commandCalls(PutEventsCommand)
      .flatMap((c) =>
        (c.args[0].input.Entries ?? []).map((e) => `${e.DetailType}:${JSON.parse(e.Detail ?? '{}').stage}`),
      );
  async function received(): Promise<string[]> {
    const out: string[] = [];
    for (;;) {
      const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }));
      if (!r.Messages?.length) return out;
      for (const m of r.Messages) out.push(JSON.parse(m.Body ?? '{}').job_key);
    }
  }

  it('counts outcomes and re-sends queued jobs’ messages; malformed records fail alone, changing nothing', async () => {
    await runs.claimJobs(
      {
        workflowExecutionId: 'r1',
        stage: 1,
        expectedCursor: 0,
        newCursor: 2,
        jobs: [
          { jobKey: '1.1', attempt: 1 },
          { jobKey: '1.2', attempt: 1 },
        ],
        at: '',
      },
      {},
    );
    await jobs.transition({
      workflowExecutionId: 'r1',
      jobKey: '1.1',
      expect: { attempt: 1, statuses: ['Queued'] },
      set: { execution_status: 'Completed', exit_code: 0 },
    });
    const records = await delivered();
    expect(records.map((r) => r.dynamodb?.NewImage?.execution_status?.S)).toEqual([
      'Queued',
      'Queued',
      'Completed',
    ]);
    const p = planned(WF, 'r1');
    const malformed: DynamoDBRecord = {
      eventID: 'bad-1',
      eventName: 'MODIFY',
      dynamodb: {
        SequenceNumber: '900000000000000000001',
        NewImage: marshall({
          ...jobToItem(p.jobs[2] as never),
          execution_status: 'Completed',
          attempt: 0,
        }) as never,
      },
    };
    const imageless: DynamoDBRecord = {
      eventID: 'bad-2',
      eventName: 'MODIFY',
      dynamodb: { SequenceNumber: '900000000000000000002' },
    };
    const event: DynamoDBStreamEvent = {
      Records: [records[0], malformed, ...records.slice(1), imageless] as DynamoDBRecord[],
    };

    const response = await handler(event, lambdaContext() as never);
    expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual([
      '900000000000000000001',
      '900000000000000000002',
    ]);
    expect(logs.lines.filter((l) => l.level === 'ERROR').map((l) => l.message)).toEqual([
      'rejected malformed job change',
      'rejected malformed job change',
    ]);
    // 1.1 counted once; a slot is free (StageReady); 1.2 is still Queued so its message went out again.
    expect((await runs.getRun('r1'))?.stages[0]).toMatchObject({ finished: 1, completed: 1 });
    expect((await jobs.getJob('r1', '2.1'))?.execution_status).toBe('Pending');
    expect(published()).toEqual(['StageReady:1']);
    expect(await received()).toEqual(['1.2']);

    // Lambda retries the batch from the first failure: nothing is counted twice, and what the count
    // caused is published again (same event id) in case the first delivery stopped before it.
    eb.resetHistory();
    await handler(event, lambdaContext() as never);
    expect((await runs.getRun('r1'))?.stages[0]).toMatchObject({ finished: 1, completed: 1 });
    expect(published()).toEqual(['StageReady:1']);
    expect(
      new Set(
        eb
          .commandCalls(PutEventsCommand)
          .map((c) => JSON.parse(c.args[0].input.Entries?.[0]?.Detail ?? '{}').event_id),
      ),
    ).toEqual(new Set(['StageReady:r1:1:1.1.a1']));
  });

  it('completes the stage and starts the next when the last job of the stage ends', async () => {
    expect(await received()).toEqual(['1.2']); // from the redelivery above
    await runs.claimJobs(
      {
        workflowExecutionId: 'r1',
        stage: 1,
        expectedCursor: 2,
        newCursor: 3,
        jobs: [{ jobKey: '1.3', attempt: 1 }],
        at: '',
      },
      {},
    );
    for (const jobKey of ['1.2', '1.3']) {
      await jobs.transition({
        workflowExecutionId: 'r1',
        jobKey,
        expect: { attempt: 1, statuses: ['Queued'] },
        set: { execution_status: 'Completed', exit_code: 0 },
      });
    }
    const records = await delivered();
    expect(records.map((r) => r.dynamodb?.NewImage?.execution_status?.S)).toEqual([
      'Queued',
      'Completed',
      'Completed',
    ]);
    const response = await handler({ Records: records }, lambdaContext() as never);
    expect(response.batchItemFailures).toEqual([]);
    // 1.3 was Completed by the time its Queued change arrived: no message for it.
    expect(await received()).toEqual([]);
    expect(published()).toEqual(['StageCompleted:1', 'StageReady:2']);
    const run = await runs.getRun('r1');
    expect([run?.current_stage, run?.stages[0]?.status, run?.stages[1]?.status]).toEqual([
      2,
      'Completed',
      'Running',
    ]);
    // The count's own write (counted: true) is filtered out of the stream: nothing more to deliver.
    expect(await delivered()).toEqual([]);
  });
});
