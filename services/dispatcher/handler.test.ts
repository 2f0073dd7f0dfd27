import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { createDynamoJobRepository } from '../../runtime/aws/dynamo-jobs.js';
import { captureLogs, lambdaContext, stubLambdaEnv } from '../../runtime/aws/testing/lambda-harness.js';
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

const ddb = dynamoLocal('services/dispatcher/handler.test.ts');
const sfn = mockClient(SFNClient);
const ssm = mockClient(SSMClient);

describe('dispatcher queue handler: configuration', () => {
  it('fails at load, naming the missing variables', async () => {
    vi.resetModules();
    vi.stubEnv('RSQLO_WORKFLOW_AUDIT_TABLE', 'a');
    vi.stubEnv('AWS_REGION', 'us-east-1');
    await expect(import('./handler.js')).rejects.toThrow(
      /RSQLO_JOB_AUDIT_TABLE is not set.*RSQLO_JOB_QUEUE_URL is not set.*RSQLO_WRAPPER_STATE_MACHINE_ARN is not set/,
    );
    vi.unstubAllEnvs();
  });

  it('needs no agent hosts, SSM document or idempotency table (the task entry has those)', async () => {
    vi.resetModules();
    vi.stubEnv('RSQLO_CONFIG_TABLE', 'c');
    vi.stubEnv('RSQLO_EVENT_BUS', 'rsqlo');
    vi.stubEnv('RSQLO_WORKFLOW_AUDIT_TABLE', 'a');
    vi.stubEnv('RSQLO_JOB_AUDIT_TABLE', 'b');
    vi.stubEnv('RSQLO_JOB_QUEUE_URL', 'https://sqs.us-east-1.amazonaws.com/1/q');
    vi.stubEnv('RSQLO_WRAPPER_STATE_MACHINE_ARN', 'arn:aws:states:us-east-1:1:stateMachine:w');
    vi.stubEnv('AWS_REGION', 'us-east-1');
    const mod = await import('./handler.js');
    expect(typeof mod.handler).toBe('function');
    expect('taskHandler' in mod).toBe(false);
    vi.unstubAllEnvs();
  });
});

describe.skipIf(!ddb.endpoint)('dispatcher queue handler (DynamoDB Local, fauxqs)', () => {
  const endpoint = ddb.endpoint as string;
  const WF = workflow('wf', [parallel(['a.sh', 'b.sh', 'c.sh', 'd.sh'])]);
  let local: LocalSqs | undefined;
  let sqs: SQSClient;
  let queueUrl: string;
  let clients: ReturnType<typeof localClients>;
  let mod: typeof import('./handler.js');
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
    const runs = repos.runs;
    jobs = repos.jobs;
    const p = planned(WF, 'r1');
    await runs.createRun(p.run, p.jobs, { maxActiveRuns: 1 }, {});
    await runs.claimJobs(
      {
        workflowExecutionId: 'r1',
        stage: 1,
        expectedCursor: 0,
        newCursor: 4,
        jobs: ['1.1', '1.2', '1.3', '1.4'].map((jobKey) => ({ jobKey, attempt: 1 })),
        at: '',
      },
      {},
    );
    // 1.2 waits out a retry backoff for another hour.
    await jobs.transition({
      workflowExecutionId: 'r1',
      jobKey: '1.2',
      expect: { attempt: 1, statuses: ['Queued'] },
      set: { not_before: new Date(Date.now() + 3_600_000).toISOString() },
    });
    vi.resetModules();
    stubLambdaEnv(
      {
        configTable: tables.config,
        eventBus: 'rsqlo',
        workflowAuditTable: tables.workflowAudit,
        jobAuditTable: tables.jobAudit,
        jobQueueUrl: queueUrl,
        wrapperStateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:rsqlo-wrapper',
      },
      { dynamodb: endpoint, sqs: local.endpoint },
    );
    mod = await import('./handler.js');
  });
  afterAll(async () => {
    logs.restore();
    vi.unstubAllEnvs();
    clients?.dynamodb.destroy();
    await local?.stop();
  });
  beforeEach(() => {
    logs.clear();
    sfn.reset();
    ssm.reset();
    sfn.on(StartExecutionCommand).resolves({ executionArn: 'x', startDate: new Date() });
  });

  const record = (messageId: string, body: unknown): SQSRecord =>
    ({
      messageId,
      receiptHandle: `rh-${messageId}`,
      body: typeof body === 'string' ? body : JSON.stringify(body),
      attributes: {},
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:jobs',
      awsRegion: 'us-east-1',
    }) as SQSRecord;
  const message = (jobKey: string, exec = 'r1') => ({
    version: 1,
    workflow_id: 'wf',
    workflow_execution_id: exec,
    job_key: jobKey,
    attempt: 1,
  });
  it('queue: dispatches, re-delays a job that must wait, acks stale ones, and rejects malformed records alone', async () => {
    const event: SQSEvent = {
      Records: [
        record('ok', message('1.1')),
        record('not-json', '{"version":1,'),
        record('wrong-shape', { ...message('1.1'), attempt: 'first' }),
        record('unknown', message('1.1', 'ghost')),
        record('waiting', message('1.2')),
      ],
    };
    const response = await mod.handler(event, lambdaContext() as never);
    expect(response.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual([
      'not-json',
      'wrong-shape',
    ]);
    expect(sfn.commandCalls(StartExecutionCommand).map((c) => c.args[0].input.name)).toEqual(['r1--1-1--a1']);
    expect((await jobs.getJob('r1', '1.1'))?.execution_status).toBe('Dispatched');
    // The waiting job went back on the queue, hidden for SQS's longest delay (the rest is waited next time).
    const attrs = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ['ApproximateNumberOfMessagesDelayed'],
      }),
    );
    expect(attrs.Attributes?.ApproximateNumberOfMessagesDelayed).toBe('1');
    expect((await jobs.getJob('r1', '1.2'))?.execution_status).toBe('Queued');
    expect(
      logs.lines.filter((l) => l.message === 'rejected malformed queue message').map((l) => l.message_id),
    ).toEqual(['not-json', 'wrong-shape']);
    expect(
      logs.lines.find((l) => l.message === 'job message handled' && l.message_id === 'unknown')?.note,
    ).toBe('unknown job');
    // The queue entry never talks to agents: that is the task entry's (its own function and role).
    expect(ssm.calls()).toHaveLength(0);
  });
});
