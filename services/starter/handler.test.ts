import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { ConflictException, CreateScheduleCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import { SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createDynamoDefinitionRepository } from '../../runtime/aws/dynamo-definitions.js';
import { createDynamoRunRepository } from '../../runtime/aws/dynamo-runs.js';
import {
  busEvent,
  captureLogs,
  lambdaContext,
  stubLambdaEnv,
} from '../../runtime/aws/testing/lambda-harness.js';
import {
  createTestTables,
  dynamoLocal,
  localClients,
  type TestTables,
  waitForDynamo,
} from '../../test/support/dynamodb-local.js';
import { parallel, workflow } from '../testing/fixtures.js';

const ddb = dynamoLocal('services/starter/handler.test.ts');
const eb = mockClient(EventBridgeClient);
const sfn = mockClient(SFNClient);
const scheduler = mockClient(SchedulerClient);
const RUN_CHECK_ROLE = 'arn:aws:iam::123456789012:role/rsqlo-run-checks';

describe('starter handler: configuration', () => {
  it('fails at load, naming every missing variable', async () => {
    vi.resetModules();
    vi.stubEnv('RSQLO_CONFIG_TABLE', '');
    vi.stubEnv('RSQLO_WRAPPER_STATE_MACHINE_ARN', 'not-an-arn');
    await expect(import('./handler.js')).rejects.toThrow(
      /RSQLO_CONFIG_TABLE is not set.*RSQLO_WRAPPER_STATE_MACHINE_ARN: must be a Step Functions state machine ARN/,
    );
    vi.unstubAllEnvs();
  });
});

describe.skipIf(!ddb.endpoint)('starter handler (DynamoDB Local)', () => {
  const endpoint = ddb.endpoint as string;
  let tables: TestTables;
  let clients: ReturnType<typeof localClients>;
  let handler: typeof import('./handler.js').handler;
  let runs: ReturnType<typeof createDynamoRunRepository>;
  const logs = captureLogs();

  beforeAll(async () => {
    await waitForDynamo(endpoint);
    clients = localClients(endpoint);
    tables = await createTestTables(clients.dynamodb);
    await createDynamoDefinitionRepository({ client: clients.documents, tableName: tables.config }).put(
      workflow('wf', [parallel(['a.sh', 'b.sh'])], { max_active_runs: 10 }) as {
        workflow_id: string;
      } & Record<string, unknown>,
    );
    runs = createDynamoRunRepository({
      client: clients.documents,
      tables: { workflowAudit: tables.workflowAudit, jobAudit: tables.jobAudit },
      effects: { apply: async () => {} },
    });
    vi.resetModules();
    stubLambdaEnv(
      {
        configTable: tables.config,
        workflowAuditTable: tables.workflowAudit,
        jobAuditTable: tables.jobAudit,
        eventBus: 'rsqlo-bus',
        wrapperStateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:rsqlo-wrapper',
        ssmDocument: 'rsqlo-submit-job',
        agentInstanceIds: 'i-0123456789abcdef0',
        runWatchGroup: 'rsqlo-runs',
        runWatchTargetArn: 'arn:aws:lambda:us-east-1:123456789012:function:rsqlo-watchdog',
        runWatchRoleArn: RUN_CHECK_ROLE,
        runWatchDeadLetterArn: 'arn:aws:sqs:us-east-1:123456789012:rsqlo-undelivered',
      },
      { dynamodb: endpoint },
    );
    ({ handler } = await import('./handler.js'));
  });
  afterAll(() => {
    logs.restore();
    vi.unstubAllEnvs();
    clients?.dynamodb.destroy();
  });
  beforeEach(() => {
    eb.reset();
    sfn.reset();
    scheduler.reset();
    // Scheduler as AWS answers: the first CreateSchedule of a name makes it, any later one is a
    // ConflictException ("the schedule already exists").
    const made = new Set<string>();
    scheduler.on(CreateScheduleCommand).callsFake((input: { GroupName: string; Name: string }) => {
      const key = `${input.GroupName}/${input.Name}`;
      if (made.has(key))
        throw new ConflictException({
          Message: `Schedule ${input.Name} already exists.`,
          message: `Schedule ${input.Name} already exists.`,
          $metadata: {},
        });
      made.add(key);
      return { ScheduleArn: `arn:aws:scheduler:us-east-1:123456789012:schedule/${key}` };
    });
    eb.on(PutEventsCommand).callsFake((input: { Entries: unknown[] }) => ({
      FailedEntryCount: 0,
      Entries: input.Entries.map(() => ({ EventId: 'x' })),
    }));
    logs.clear();
  });

  const published = () =>
    eb
      .commandCalls(PutEventsCommand)
      .flatMap((c) => (c.args[0].input.Entries ?? []).map((e) => e.DetailType));

  it('starts a run: rows written, WorkflowStarted and StageReady on the bus', async () => {
    const result = await handler(
      busEvent('WorkflowRequested', { workflow_id: 'wf', workflow_execution_id: 'run-1' }),
      lambdaContext() as never,
    );
    expect(result).toEqual({ outcome: 'started', workflowExecutionId: 'run-1' });
    expect((await runs.getRun('run-1'))?.execution_status).toBe('Running');
    expect(published()).toEqual(['WorkflowStarted', 'StageReady']);
    expect(logs.messages()).toContain('INFO: workflow request handled');
    // Its deadline check: one one-time schedule named after the run, invoking the watchdog at the
    // deadline WorkflowStarted announced.
    const started = eb
      .commandCalls(PutEventsCommand)
      .flatMap((c) => c.args[0].input.Entries ?? [])
      .find((e) => e.DetailType === 'WorkflowStarted');
    const deadline = JSON.parse(started?.Detail ?? '{}').deadline_at as string;
    const creates = () => scheduler.commandCalls(CreateScheduleCommand).map((c) => c.args[0].input);
    expect(creates()).toHaveLength(1);
    expect(creates()[0]).toMatchObject({
      Name: 'run-run-1',
      GroupName: 'rsqlo-runs',
      ScheduleExpression: `at(${deadline.slice(0, 19)})`,
      ScheduleExpressionTimezone: 'UTC',
      FlexibleTimeWindow: { Mode: 'OFF' },
      ActionAfterCompletion: 'DELETE',
      Target: { RoleArn: RUN_CHECK_ROLE },
    });
    expect(JSON.parse(creates()[0]?.Target?.Input ?? '{}')).toMatchObject({
      workflow_execution_id: 'run-1',
      deadline_at: deadline,
    });
    // Delivered again: nothing new is written, the start is announced again (same event ids).
    expect(
      await handler(busEvent('WorkflowRequested', { workflow_id: 'wf', workflow_execution_id: 'run-1' })),
    ).toEqual({
      outcome: 'duplicate',
      workflowExecutionId: 'run-1',
    });
    // The redelivery asks for the same schedule; ConflictException means it exists: no second
    // check, and the request is not failed (a retried delivery would only dead-letter).
    expect(creates().map((c) => c.Name)).toEqual(['run-run-1', 'run-run-1']);
  });

  it('refuses a request too large for the run item with WorkflowRejected (RequestTooLarge), writing nothing', async () => {
    // 450 KB of parameters (eight 56 KB values, each under EventBridge's 256 KB entry): the run's
    // workflow audit item cannot hold them (DynamoDB keeps at most 400 KB per item). Before, the
    // starter threw: the bus retried it and dead-lettered it, and nobody was told.
    const parameters = Object.fromEntries(
      Array.from({ length: 8 }, (_, i) => [`BIG_${i}`, 'x'.repeat(56 * 1024)]),
    );
    const result = await handler(
      busEvent('WorkflowRequested', { workflow_id: 'wf', workflow_execution_id: 'run-big', parameters }),
    );
    expect(result).toMatchObject({
      outcome: 'rejected',
      rejection: {
        reason: 'RequestTooLarge',
        workflow_execution_id: 'run-big',
        message: expect.stringMatching(/^the run cannot be stored: .* bytes, over the 307200 bytes/),
      },
    });
    expect(published()).toEqual(['WorkflowRejected']);
    const entry = eb.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries?.[0];
    expect(JSON.parse(entry?.Detail ?? '{}')).toMatchObject({ reason: 'RequestTooLarge' });
    // The message names sizes, never the values.
    expect(entry?.Detail).not.toContain('xxxxxxxx');
    expect(await runs.getRun('run-big')).toBeUndefined();
    expect(logs.lines.filter((l) => l.level === 'ERROR')).toEqual([]);
  });

  it.each([
    ['bad JSON shape', { nope: true }],
    ['another source', { ...busEvent('WorkflowRequested', { workflow_id: 'wf' }), source: 'evil' }],
    [
      'a wrong detail',
      busEvent('WorkflowRequested', { workflow_id: 'bad id!', workflow_execution_id: 'run-x' }),
    ],
    ['an event for another service', busEvent('StageReady', { workflow_id: 'wf' })],
  ])('rejects %s with a log line and changes nothing', async (_what, event) => {
    // (The handler was loaded fresh, so its error classes are not this file's: match by name.)
    await expect(handler(event)).rejects.toMatchObject({ name: 'InvalidInputError' });
    expect(logs.lines.filter((l) => l.level === 'ERROR').map((l) => l.message)).toEqual([
      'rejected malformed event',
    ]);
    expect(published()).toEqual([]);
    expect(await runs.getRun('run-x')).toBeUndefined();
  });

  it('rejects a cancel for an unknown execution with a log line, and cancels a known one', async () => {
    expect(
      await handler(
        busEvent('WorkflowCancelRequested', { workflow_id: 'wf', workflow_execution_id: 'ghost' }),
      ),
    ).toEqual({
      outcome: 'unknown-run',
      workflowExecutionId: 'ghost',
    });
    expect(logs.messages()).toContain('WARN: rejected cancel request: unknown execution');
    expect(await runs.getRun('ghost')).toBeUndefined();

    expect(
      await handler(busEvent('WorkflowRequested', { workflow_id: 'wf', workflow_execution_id: 'run-2' })),
    ).toMatchObject({
      outcome: 'started',
    });
    sfn.on(StopExecutionCommand).resolves({});
    expect(
      await handler(
        busEvent('WorkflowCancelRequested', { workflow_id: 'wf', workflow_execution_id: 'run-2' }),
      ),
    ).toEqual({
      outcome: 'cancel-requested',
      workflowExecutionId: 'run-2',
    });
    // Nothing was in flight: the run ends Cancelled at once.
    expect((await runs.getRun('run-2'))?.execution_status).toBe('Cancelled');
    expect(published()).toContain('WorkflowFinished');
  });
});
