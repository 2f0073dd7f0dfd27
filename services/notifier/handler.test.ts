import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { busEvent, captureLogs, stubLambdaEnv } from '../../runtime/aws/testing/lambda-harness.js';
import {
  createTestTables,
  dynamoLocal,
  localClients,
  waitForDynamo,
} from '../../test/support/dynamodb-local.js';

const ddb = dynamoLocal('services/notifier/handler.test.ts');
const TOPIC = 'arn:aws:sns:us-east-1:123456789012:rsqlo-alerts';
const sns = mockClient(SNSClient);

describe('notifier handler: configuration', () => {
  it('fails at load, naming the missing variables', async () => {
    vi.resetModules();
    vi.stubEnv('RSQLO_ALERT_TOPIC_ARN', '');
    vi.stubEnv('RSQLO_IDEMPOTENCY_TABLE', 't');
    vi.stubEnv('RSQLO_WORKFLOW_AUDIT_TABLE', 'w');
    vi.stubEnv('RSQLO_JOB_AUDIT_TABLE', 'j');
    vi.stubEnv('RSQLO_LOG_GROUP', '/ops/rsql-logs/');
    await expect(import('./handler.js')).rejects.toThrow(
      'configuration error: RSQLO_ALERT_TOPIC_ARN is not set',
    );
    vi.stubEnv('RSQLO_ALERT_TOPIC_ARN', 'rsqlo-alerts');
    vi.resetModules();
    await expect(import('./handler.js')).rejects.toThrow(
      'configuration error: RSQLO_ALERT_TOPIC_ARN: must be an SNS topic ARN',
    );
    vi.unstubAllEnvs();
  });
});

describe.skipIf(!ddb.endpoint)('notifier handler (DynamoDB Local, SNS mocked)', () => {
  const endpoint = ddb.endpoint as string;
  let clients: ReturnType<typeof localClients>;
  let handler: typeof import('./handler.js').handler;
  let tables: Awaited<ReturnType<typeof createTestTables>>;
  const logs = captureLogs();

  beforeAll(async () => {
    await waitForDynamo(endpoint);
    clients = localClients(endpoint);
    tables = await createTestTables(clients.dynamodb);
    vi.resetModules();
    stubLambdaEnv(
      {
        alertTopicArn: TOPIC,
        idempotencyTable: tables.idempotency,
        workflowAuditTable: tables.workflowAudit,
        jobAuditTable: tables.jobAudit,
        logGroup: '/ops/rsql-logs/',
      },
      { dynamodb: endpoint },
    );
    ({ handler } = await import('./handler.js'));
  });
  afterAll(() => {
    logs.restore();
    vi.unstubAllEnvs();
    sns.restore();
    clients?.dynamodb.destroy();
  });
  beforeEach(() => {
    logs.clear();
    sns.reset();
  });

  const failed = (exec: string, error: string) =>
    busEvent('JobFinished', {
      version: 1,
      event_id: `JobFinished:${exec}:1.1:a1`,
      occurred_at: '2024-01-01T00:00:09.000Z',
      workflow_id: 'wf',
      workflow_execution_id: exec,
      job_key: '1.1',
      job_name: 'a.sh',
      stage: 1,
      attempt: 1,
      status: 'Failed',
      exit_code: 2,
      error_message: error,
      started_at: '2024-01-01T00:00:05.000Z',
      finished_at: '2024-01-01T00:00:09.000Z',
      duration_ms: 4000,
      instance_id: 'i-0123456789abcdef0',
      ssm_command_id: 'cmd-1',
      log_location: `/ops/rsql-logs/${exec}/1.1.a1`,
      reported_by: 'agent',
    });

  it('publishes one readable alert per event id, however often the event comes', async () => {
    sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
    const e = failed('r1', 'relation "s" does not exist\n\\ at Zürich');
    const outcomes = [];
    for (let i = 0; i < 3; i++) outcomes.push(await handler(structuredClone(e)));
    expect(outcomes).toEqual([{ outcome: 'published' }, { outcome: 'duplicate' }, { outcome: 'duplicate' }]);
    const sent = sns.commandCalls(PublishCommand).map((c) => c.args[0].input);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ TopicArn: TOPIC, Subject: 'rsqlo: job a.sh Failed in wf' });
    expect(sent[0]?.Message).toContain('error:     relation "s" does not exist\n           \\ at Zürich\n');
    expect(logs.messages()).toEqual([
      'INFO: alert published',
      'INFO: alert already sent: not published again',
      'INFO: alert already sent: not published again',
    ]);
  });

  it('publishes an error holding quotes, backslashes, newlines and non-ASCII as readable multi-line text: the exact request', async () => {
    sns.on(PublishCommand).resolves({ MessageId: 'm-3' });
    const error =
      'ERROR:  relation "sales"."daily" does not exist\r\n' +
      'LINE 1: copy "sales"."daily" from \'C:\\temp\\in.csv\' -- Zürich 東京 😀\n' +
      'HINT:  tab\there, bell\u0007 shown';
    await handler(failed('r4', error));
    const sent = sns.commandCalls(PublishCommand).map((c) => c.args[0].input);
    expect(sent).toEqual([
      {
        TopicArn: TOPIC,
        Subject: 'rsqlo: job a.sh Failed in wf',
        Message: [
          'rsqlo: job a.sh Failed in wf',
          '',
          'workflow:  wf',
          'execution: r4',
          'job:       1.1 a.sh (stage 1, attempt 1)',
          'status:    Failed (exit code 2, reported by agent)',
          'error:     ERROR:  relation "sales"."daily" does not exist',
          `           LINE 1: copy "sales"."daily" from 'C:\\temp\\in.csv' -- Zürich 東京 😀`,
          '           HINT:  tab\there, bell\\u0007 shown',
          'instance:  i-0123456789abcdef0 (SSM command cmd-1)',
          'log:       /ops/rsql-logs/r4/1.1.a1 (CloudWatch Logs group /ops/rsql-logs/)',
          `audit:     DynamoDB ${tables.workflowAudit} / ${tables.jobAudit}, workflow_execution_id = r4`,
          'time:      2024-01-01T00:00:00Z (us-east-1, account 123456789012)',
          'event id:  JobFinished:r4:1.1:a1',
        ].join('\n'),
      },
    ]);
    // SNS Publish (API reference): "Subjects must be UTF-8 text with no line breaks or control
    // characters, and less than 100 characters long"; a message "can be at most 256 KiB in size
    // (262,144 bytes, not 262,144 characters)".
    const [{ Subject, Message }] = sent as [{ Subject: string; Message: string }];
    expect(Subject).toMatch(/^[^\u0000-\u001f\u007f]{1,99}$/);
    expect(Buffer.byteLength(Message, 'utf8')).toBeLessThanOrEqual(262_144);
    // Not JSON, not escaped: the quotes and backslashes are the characters themselves.
    expect(Message).not.toContain('\\"');
    expect(Message).toContain(`'C:\\temp\\in.csv'`);
  });

  it('a publish that fails is retried by its delivery and then goes out once', async () => {
    sns
      .on(PublishCommand)
      .rejectsOnce(Object.assign(new Error('Invalid parameter: TopicArn'), { name: 'NotFound' }))
      .resolves({ MessageId: 'm-2' });
    const e = failed('r2', 'boom');
    await expect(handler(structuredClone(e))).rejects.toThrow(/TopicArn/);
    expect(await handler(structuredClone(e))).toEqual({ outcome: 'published' });
    expect(await handler(structuredClone(e))).toEqual({ outcome: 'duplicate' });
    expect(sns.commandCalls(PublishCommand)).toHaveLength(2);
  });

  it('rejects what is not an alert event, publishing nothing', async () => {
    const completed = busEvent('WorkflowStarted', { version: 1, event_id: 'x' });
    for (const bad of [null, { ...failed('r3', 'x'), source: 'other' }, completed])
      await expect(handler(bad)).rejects.toMatchObject({ name: 'InvalidInputError' });
    expect(sns.calls()).toHaveLength(0);
  });
});
