import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { createDynamoJobRepository } from '../../runtime/aws/dynamo-jobs.js';
import type { createDynamoRunRepository } from '../../runtime/aws/dynamo-runs.js';
import { busEvent, captureLogs, stubLambdaEnv } from '../../runtime/aws/testing/lambda-harness.js';
import { planned } from '../../runtime/aws/testing/port-scenario.js';
import {
  createTestTables,
  dynamoLocal,
  localClients,
  testRepositories,
  waitForDynamo,
} from '../../test/support/dynamodb-local.js';
import { type LocalSqs, startLocalSqs } from '../../test/support/sqs-local.js';
import { parallel, workflow } from '../testing/fixtures.js';

const ddb = dynamoLocal('services/planner/handler.test.ts');
const eb = mockClient(EventBridgeClient);

describe('planner handler: configuration', () => {
  it('fails at load, naming the missing variable', async () => {
    vi.resetModules();
    vi.stubEnv('RSQLO_JOB_QUEUE_URL', 'not a url');
    await expect(import('./handler.js')).rejects.toThrow(
      /RSQLO_WORKFLOW_AUDIT_TABLE is not set.*RSQLO_JOB_QUEUE_URL/,
    );
    vi.unstubAllEnvs();
  });
});

describe.skipIf(!ddb.endpoint)('planner handler (DynamoDB Local, fauxqs)', () => {
  const endpoint = ddb.endpoint as string;
  const WF = workflow('wf', [parallel(['a.sh', 'b.sh', 'c.sh'], { maxConcurrency: 2 })]);
  let local: LocalSqs | undefined;
  let sqs: SQSClient;
  let queueUrl: string;
  let clients: ReturnType<typeof localClients>;
  let handler: typeof import('./handler.js').handler;
  let runs: ReturnType<typeof createDynamoRunRepository>;
  let jobs: ReturnType<typeof createDynamoJobRepository>;
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
    eb.reset();
    eb.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'x' }] });
    logs.clear();
  });

  const stageReady = (exec: string, stage = 1) =>
    busEvent('StageReady', {
      version: 1,
      event_id: `StageReady:${exec}:${stage}:start`,
      occurred_at: '2024-01-01T00:00:00.000Z',
      workflow_id: 'wf',
      workflow_execution_id: exec,
      stage,
    });

  it('queues what may run (max_concurrency 2) and sends their messages', async () => {
    expect(await handler(stageReady('r1'))).toEqual({ queued: ['1.1', '1.2'] });
    expect((await jobs.listJobs('r1')).map((j) => j.execution_status)).toEqual([
      'Queued',
      'Queued',
      'Pending',
    ]);
    const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }));
    expect(got.Messages?.map((m) => JSON.parse(m.Body ?? '{}').job_key).sort()).toEqual(['1.1', '1.2']);
    // Level-triggered: the same event again finds no free slot.
    expect(await handler(stageReady('r1'))).toEqual({ queued: [], reason: 'no free slot' });
    expect(logs.messages()).toContain('INFO: stage planned');
  });

  it('answers a StageReady for an unknown execution with a log line and no change', async () => {
    expect(await handler(stageReady('ghost'))).toEqual({ queued: [], reason: 'unknown run' });
    expect(logs.messages()).toContain('WARN: StageReady for an unknown run');
  });

  it('rejects a malformed event with a log line and no change', async () => {
    const before = await jobs.listJobs('r1');
    await expect(handler({ ...stageReady('r1'), detail: { stage: 'one' } })).rejects.toMatchObject({
      name: 'InvalidInputError',
    });
    await expect(handler('{"not":"an object"}')).rejects.toMatchObject({ name: 'InvalidInputError' });
    expect(logs.lines.filter((l) => l.level === 'ERROR').map((l) => l.message)).toEqual([
      'rejected malformed event',
      'rejected malformed event',
    ]);
    expect(await jobs.listJobs('r1')).toEqual(before);
  });
});
