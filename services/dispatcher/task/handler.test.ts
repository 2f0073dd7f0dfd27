import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DescribeInstanceInformationCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { JobRunInput } from '../../../contracts/jobs.js';
import { jobRunName } from '../../../contracts/jobs.js';
import { NO_AGENT_FILTER_PATTERN } from '../../../infra/constructs/monitoring.js';
import { matchesJsonFilter } from '../../../infra/log-filter.js';
import type { createDynamoJobRepository } from '../../../runtime/aws/dynamo-jobs.js';
import { captureLogs, lambdaContext, stubLambdaEnv } from '../../../runtime/aws/testing/lambda-harness.js';
import { planned } from '../../../runtime/aws/testing/port-scenario.js';
import {
  createTestTables,
  dynamoLocal,
  localClients,
  testRepositories,
  waitForDynamo,
} from '../../../test/support/dynamodb-local.js';
import { parallel, workflow } from '../../testing/fixtures.js';

const ddb = dynamoLocal('services/dispatcher/task/handler.test.ts');
const sfn = mockClient(SFNClient);
const ssm = mockClient(SSMClient);

describe('dispatcher task handler: configuration', () => {
  it('fails at load without agent hosts, naming both ways to configure them', async () => {
    vi.resetModules();
    vi.stubEnv('RSQLO_WORKFLOW_AUDIT_TABLE', 'a');
    vi.stubEnv('RSQLO_JOB_AUDIT_TABLE', 'b');
    vi.stubEnv('RSQLO_SSM_DOCUMENT', 'doc');
    vi.stubEnv('RSQLO_IDEMPOTENCY_TABLE', 'idem');
    vi.stubEnv('AWS_REGION', 'us-east-1');
    await expect(import('./handler.js')).rejects.toThrow(/set RSQLO_AGENT_INSTANCE_IDS or RSQLO_AGENT_TAG/);
    vi.unstubAllEnvs();
  });

  it('fails at load, naming the missing variables; needs no queue or wrapper ARN (the queue entry has those)', async () => {
    vi.resetModules();
    vi.stubEnv('RSQLO_AGENT_INSTANCE_IDS', 'i-0aaaaaaaaaaaaaaa1');
    vi.stubEnv('AWS_REGION', 'us-east-1');
    const err = await import('./handler.js').then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(
      /RSQLO_WORKFLOW_AUDIT_TABLE is not set.*RSQLO_JOB_AUDIT_TABLE is not set.*RSQLO_SSM_DOCUMENT is not set.*RSQLO_IDEMPOTENCY_TABLE is not set/,
    );
    expect(err?.message).not.toMatch(/RSQLO_JOB_QUEUE_URL|RSQLO_WRAPPER_STATE_MACHINE_ARN/);
    vi.unstubAllEnvs();
  });
});

describe.skipIf(!ddb.endpoint)('dispatcher task handler (DynamoDB Local)', () => {
  const endpoint = ddb.endpoint as string;
  const WF = workflow('wf', [parallel(['a.sh', 'b.sh', 'c.sh', 'd.sh'])]);
  const TOKEN = 'AQCEAAAAKgAAAAMAAAAAAAAAAf8secret-task-token-do-not-log';
  let clients: ReturnType<typeof localClients>;
  let mod: typeof import('./handler.js');
  let jobs: ReturnType<typeof createDynamoJobRepository>;
  const logs = captureLogs();
  let idempotencyTable = '';
  const idempotencyRecords = async () =>
    (await clients.dynamodb.send(new ScanCommand({ TableName: idempotencyTable, Select: 'COUNT' }))).Count;

  beforeAll(async () => {
    await waitForDynamo(endpoint);
    clients = localClients(endpoint);
    const tables = await createTestTables(clients.dynamodb);
    idempotencyTable = tables.idempotency;
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
    vi.resetModules();
    stubLambdaEnv(
      {
        workflowAuditTable: tables.workflowAudit,
        jobAuditTable: tables.jobAudit,
        ssmDocument: 'rsqlo-run-job',
        agentInstanceIds: 'i-0aaaaaaaaaaaaaaa1,i-0aaaaaaaaaaaaaaa2',
        idempotencyTable: tables.idempotency,
      },
      { dynamodb: endpoint },
    );
    mod = await import('./handler.js');
  });
  afterAll(() => {
    logs.restore();
    vi.unstubAllEnvs();
    clients?.dynamodb.destroy();
  });
  beforeEach(() => {
    logs.clear();
    sfn.reset();
    ssm.reset();
  });

  const input = (jobKey: string, attempt = 1): JobRunInput => ({
    version: 1,
    job_run_name: jobRunName('r1', jobKey, attempt),
    workflow_id: 'wf',
    workflow_execution_id: 'r1',
    job_key: jobKey,
    job_name: 'x.sh',
    stage: 1,
    attempt,
    timeout_seconds: 86_400,
    heartbeat_seconds: 300,
  });
  const online = () =>
    ssm.on(DescribeInstanceInformationCommand).resolves({
      InstanceInformationList: [
        { InstanceId: 'i-0aaaaaaaaaaaaaaa1', PingStatus: 'Online' },
        { InstanceId: 'i-0aaaaaaaaaaaaaaa2', PingStatus: 'Online' },
      ],
    });
  it('task: no agent online is a NoAgentAvailableError (the wrapper retries it)', async () => {
    ssm.on(DescribeInstanceInformationCommand).resolves({ InstanceInformationList: [] });
    await expect(
      mod.taskHandler({ task_token: TOKEN, job: input('1.1') }, lambdaContext() as never),
    ).rejects.toMatchObject({
      name: 'NoAgentAvailableError',
    });
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(0);
    // The line the "no agent online" metric filter counts (infra/constructs/monitoring.ts): once.
    const counted = logs
      .raw()
      .split('\n')
      .filter((l) => matchesJsonFilter(NO_AGENT_FILTER_PATTERN, l));
    expect(counted).toHaveLength(1);
  });

  it('task: sends one command to one agent and records it; a repeated invocation sends nothing', async () => {
    online();
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
    const first = await mod.taskHandler({ task_token: TOKEN, job: input('1.1') }, lambdaContext() as never);
    expect(first).toMatchObject({ commandId: 'cmd-1' });
    const sent = ssm.commandCalls(SendCommandCommand);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.args[0].input.InstanceIds).toHaveLength(1);
    // The host is claimed on the row before the send; the command id comes with JobStarted.
    expect(await jobs.getJob('r1', '1.1')).toMatchObject({
      execution_status: 'Dispatched',
      instance_id: sent[0]?.args[0].input.InstanceIds?.[0],
      ssm_command_id: null,
    });
    // A first try is guarded by that claim alone: no idempotency record (two writes per job less).
    expect(await idempotencyRecords()).toBe(0);
    expect(await mod.taskHandler({ task_token: TOKEN, job: input('1.1') }, lambdaContext() as never)).toEqual(
      {
        instanceId: sent[0]?.args[0].input.InstanceIds?.[0],
        commandId: null,
      },
    );
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(1);
    // The task entry never starts or stops wrappers: that is the queue entry's (its own role).
    expect(sfn.calls()).toHaveLength(0);
    expect(logs.raw()).not.toContain(TOKEN);
    expect(logs.messages()).toContain('INFO: job dispatched to an agent');
  });

  it('task: two first tries with the same token at once send one command (the claim)', async () => {
    online();
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    ssm.on(SendCommandCommand).callsFake(async () => {
      await held;
      return { Command: { CommandId: 'cmd-3' } };
    });
    const token = `${TOKEN}-1.3`;
    const calls = [
      mod.taskHandler({ task_token: token, job: input('1.3') }, lambdaContext() as never),
      mod.taskHandler({ task_token: token, job: input('1.3') }, lambdaContext() as never),
    ];
    await Promise.race(calls);
    release();
    const results = await Promise.all(calls);
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(1);
    const host = ssm.commandCalls(SendCommandCommand)[0]?.args[0].input.InstanceIds?.[0];
    expect(results).toEqual(
      expect.arrayContaining([
        { instanceId: host, commandId: 'cmd-3' },
        { instanceId: host, commandId: null },
      ]),
    );
    expect(await idempotencyRecords()).toBe(0);
  });

  it('task: two invocations of a retried Dispatch with the same token at once send one command (idempotency)', async () => {
    online();
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-2' } });
    await mod.taskHandler({ task_token: `${TOKEN}-1.2`, job: input('1.2') }, lambdaContext() as never);
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(1);
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    ssm.on(SendCommandCommand).callsFake(async () => {
      await held;
      return { Command: { CommandId: 'cmd-2b' } };
    });
    const retry = { task_token: `${TOKEN}-1.2-retry`, job: input('1.2'), dispatch: 1 };
    const calls = [
      mod.taskHandler(retry, lambdaContext() as never),
      mod.taskHandler(retry, lambdaContext() as never),
    ];
    await Promise.race(calls);
    release();
    const results = await Promise.all(calls);
    // The first try's command and ONE re-send with the live token.
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(2);
    expect(results).toContainEqual({ inProgress: true, job_run_name: 'r1--1-2--a1' });
    expect(logs.messages()).toContain('WARN: task already being dispatched by another invocation');
    expect(await idempotencyRecords()).toBe(1);
  });

  it('task: a token for an attempt the job left behind is a StaleTaskError (the wrapper ends quietly)', async () => {
    online();
    await expect(
      mod.taskHandler({ task_token: `${TOKEN}-x`, job: input('1.4', 2) }, lambdaContext() as never),
    ).rejects.toMatchObject({
      name: 'StaleTaskError',
    });
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(0);
  });

  it('task: a malformed payload is rejected with a log line that never shows the token', async () => {
    await expect(
      mod.taskHandler({ task_token: TOKEN, job: { ...input('1.4'), attempt: 0 } }, lambdaContext() as never),
    ).rejects.toMatchObject({ name: 'InvalidInputError' });
    expect(logs.messages()).toEqual(['ERROR: rejected malformed task request']);
    expect(logs.raw()).not.toContain(TOKEN);
    expect((await jobs.getJob('r1', '1.4'))?.execution_status).toBe('Queued');
  });
});
