/**
 * The AWS-path harness: the REAL Lambda handlers (services/*\/handler.ts, imported with the
 * environment the CDK app gives them, one module load per simulated container), the REAL agent
 * daemon and `submit`, and the REAL AWS SDK adapters, wired to:
 *
 * - DynamoDB Local, tables created exactly from runtime/aws/tables.ts (job audit stream on), the
 *   stream read with DescribeStream / GetShardIterator / GetRecords, filtered with
 *   AGGREGATOR_STREAM_FILTERS and fed to the aggregator (sim/lambda.ts StreamEventSource);
 * - fauxqs for the job queue (with its dead-letter queue), fed to the dispatcher queue entry
 *   (sim/lambda.ts SqsEventSource);
 * - an in-process EventBridge bus routing through the routing table (sim/event-bus.ts);
 * - the single-job wrapper, simulated from the deployed definition (sim/step-functions.ts);
 * - EventBridge Scheduler (sim/scheduler.ts): the one-time schedule the starter creates per run,
 *   checked against the API's limits, invoking the run watchdog function at the run's deadline, or
 *   when a test lets the deadlines pass ({@link AwsHarness.elapseRunDeadlines});
 * - SSM Run Command running the deployed document's step on the agent hosts (sim/ssm.ts);
 * - CloudWatch Logs and Secrets Manager (sim/agent-services.ts), the secret pointing jobs at the
 *   test PostgreSQL;
 * - SNS Publish to the alert topic, checked against Publish's limits (sim/sns.ts), fed by the
 *   notifier that the alert rules invoke;
 * - agent hosts with their daemons, in process or as processes (sim/agents.ts).
 *
 * The mocked SDK clients (aws-sdk-client-mock) answer through the simulators; DynamoDB and SQS are
 * the emulators themselves. One harness is active per test file at a time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  CloudWatchLogsClient,
  CreateLogStreamCommand,
  GetLogEventsCommand,
  PutLogEventsCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { CreateScheduleCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  DescribeExecutionCommand,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { DescribeInstanceInformationCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { type FauxqsServer, interceptLocalhostDns, startFauxqs } from 'fauxqs';
import { vi } from 'vitest';
import type { JobAuditRecord, WorkflowAuditRecord } from '../../contracts/audit.js';
import type { OPERATOR_REQUEST_TYPES, WorkflowRequested } from '../../contracts/events.js';
import type { WorkflowDefinition, WorkflowDefinitionInput } from '../../contracts/workflow.js';
import { substitutedWrapperDefinition } from '../../infra/constructs/job-wrapper.js';
import type { PgConnectionInfo } from '../../rsql/embedded-postgres.js';
import { DEFAULT_LOG_GROUP } from '../../runtime/aws/cloudwatch-logs.js';
import { dependencyItems } from '../../runtime/aws/dynamo-trigger.js';
import { ssmDocumentContent } from '../../runtime/aws/ssm-document.js';
import { captureLogs, stubLambdaEnv } from '../../runtime/aws/testing/lambda-harness.js';
import {
  createTestTables,
  localClients,
  testRepositories,
  waitForDynamo,
} from '../support/dynamodb-local.js';
import { type AwsCallSeen, CallHolds } from './harness/call-holds.js';
import { DeliveryHolds } from './harness/delivery-holds.js';
import { killLeftoverJobs, writeAgentShim } from './harness/host-files.js';
import { commandsFor, everythingVisible, queueAndLogProblems } from './harness/inspect.js';
import { tallyRequests } from './harness/request-usage.js';
import { commandRouter } from './harness/sdk-mocks.js';
import { describeMotion, pollUntil, settle, waitForRunEnd } from './harness/settling.js';
import {
  cancelEntry,
  createJobQueues,
  databaseSecrets,
  operatorEntry,
  requestEntry,
  startAgentHosts,
} from './harness/wiring.js';
import { LogsSimulator, SecretsSimulator } from './sim/agent-services.js';
import type { AgentHost, AgentLogLine } from './sim/agents.js';
import { AwsRequestCounter } from './sim/aws-requests.js';
import { streamReader } from './sim/dynamodb-stream.js';
import { EventBusSimulator } from './sim/event-bus.js';
import { LambdaFunction, SqsEventSource, StreamEventSource } from './sim/lambda.js';
import { type FiredSchedule, SchedulerSimulator } from './sim/scheduler.js';
import { SnsSimulator } from './sim/sns.js';
import { SsmSimulator } from './sim/ssm.js';
import { WrapperSimulator } from './sim/step-functions.js';

const ACCOUNT = '123456789012';
const REGION = 'us-east-1';
const BUS = 'rsqlo';
const STATE_MACHINE = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:rsqlo-job-wrapper`;
const WATCHDOG_FUNCTION_ARN = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:rsqlo-watchdog`;
const RUN_CHECK_GROUP = 'rsqlo-runs';
const RUN_CHECK_ROLE = `arn:aws:iam::${ACCOUNT}:role/rsqlo-run-checks`;
const RUN_CHECK_DLQ = `arn:aws:sqs:${REGION}:${ACCOUNT}:rsqlo-undelivered-events`;
const DISPATCHER_TASK_ARN = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:rsqlo-dispatcherTask`;
const DOCUMENT = 'rsqlo-submit-job';
const ALERT_TOPIC = `arn:aws:sns:${REGION}:${ACCOUNT}:rsqlo-alerts`;
const SECRET_ID = 'rsqlo/redshift';

/** The functions of the stack (infra/rsqlo-stack.ts FUNCTION_IDS). */
export type FunctionName =
  | 'starter'
  | 'planner'
  | 'recorder'
  | 'aggregator'
  | 'dispatcher'
  | 'dispatcherTask'
  | 'notifier'
  | 'watchdog'
  | 'trigger';

// The handler modules, loaded once per container (vi.resetModules in between: a fresh module scope).
// biome-ignore lint/suspicious/noExplicitAny: handlers of every shape
type AnyHandler = (event: any, context?: any) => Promise<unknown>;
const LOADERS: Record<FunctionName, () => Promise<AnyHandler>> = {
  starter: async () => (await import('../../services/starter/handler.js')).handler,
  planner: async () => (await import('../../services/planner/handler.js')).handler,
  recorder: async () => (await import('../../services/recorder/handler.js')).handler,
  aggregator: async () => (await import('../../services/aggregator/handler.js')).handler,
  dispatcher: async () => (await import('../../services/dispatcher/handler.js')).handler,
  dispatcherTask: async () => (await import('../../services/dispatcher/task/handler.js')).taskHandler,
  notifier: async () => (await import('../../services/notifier/handler.js')).handler,
  watchdog: async () => (await import('../../services/watchdog/handler.js')).handler,
  trigger: async () => (await import('../../services/trigger/handler.js')).handler,
};

/**
 * Containers per function. The aggregator has one: the stream has one shard and the mapping's
 * parallelization factor is 1, so its batches are handled one at a time, in order. The dispatcher's
 * SQS mapping polls with as many as it has (the stack caps it at 5).
 */
const DEFAULT_CONTAINERS: Record<FunctionName, number> = {
  starter: 2,
  planner: 3,
  recorder: 4,
  aggregator: 1,
  dispatcher: 3,
  dispatcherTask: 4,
  notifier: 2,
  watchdog: 1,
  trigger: 2,
};

const eventBridge = mockClient(EventBridgeClient);
const stepFunctions = mockClient(SFNClient);
const ssm = mockClient(SSMClient);
const cloudWatchLogs = mockClient(CloudWatchLogsClient);
const secretsManager = mockClient(SecretsManagerClient);
const snsClient = mockClient(SNSClient);
const schedulerClient = mockClient(SchedulerClient);

export interface HarnessOptions {
  /** The DynamoDB Local endpoint (test/support/dynamodb-local.ts). */
  endpoint: string;
  /** Every host's script root (the deployed `rsql_script_path`). */
  scriptRoot: string;
  /** Agent hosts; default 2. */
  hosts?: number;
  /** Default `in-process`. */
  agentMode?: 'in-process' | 'process';
  /** Per-host job limit; default 4. */
  agentMaxConcurrency?: number;
  /** Default: a third of each job's heartbeat_seconds. */
  heartbeatEverySeconds?: number;
  /** Default `shell` (a real bash + rsqlo-agent process per command). */
  ssmMode?: 'shell' | 'in-process';
  /** SSM's delivery latency; default 0. */
  ssmDeliveryDelayMs?: number;
  /** Deliver everything twice at every hop. */
  duplicate?: boolean;
  /** The database the secret points jobs at. */
  database?: PgConnectionInfo;
  containers?: Partial<Record<FunctionName, number>>;
  /** Log level of the handlers; default INFO. `deployed`: as deployed (no level set: WARN + summaries). */
  logLevel?: 'INFO' | 'WARN' | 'deployed';
}

/** One AWS call as a {@link AwsHarness.holdCall} predicate sees it (`command` without `Command`). */
export type { AwsCallSeen } from './harness/call-holds.js';

let active: AwsHarness | undefined;

/** The harness; create with {@link createAwsHarness}, end with {@link AwsHarness.dispose}. */
export class AwsHarness {
  readonly root: string;
  readonly busName = BUS;
  bus!: EventBusSimulator;
  wrapper!: WrapperSimulator;
  /** EventBridge Scheduler: each run's one-time deadline check (the starter creates them). */
  scheduler!: SchedulerSimulator;
  ssm!: SsmSimulator;
  logs!: LogsSimulator;
  secrets!: SecretsSimulator;
  /** The alert topic: what the notifier published. */
  sns!: SnsSimulator;
  readonly hosts: AgentHost[] = [];
  readonly functions = new Map<FunctionName, LambdaFunction>();
  readonly handlerLogs = captureLogs();
  private sqs!: SQSClient;
  private server!: FauxqsServer;
  private restoreDns!: () => void;
  private queues!: { jobs: { queueUrl: string; queueArn: string }; dlq: { queueUrl: string } };
  /** The job queue's event source mapping (dispatcher). */
  sqsSource!: SqsEventSource;
  /** The job audit stream's event source mapping (aggregator). */
  stream!: StreamEventSource;
  private clients!: ReturnType<typeof localClients>;
  private tables!: Awaited<ReturnType<typeof createTestTables>>;
  private repos!: ReturnType<typeof testRepositories>;
  /** AWS requests no simulator handles. */
  readonly unexpected: string[] = [];
  /** DynamoDB and SQS requests of the functions and the poller (counts, capacity units, holds). */
  readonly requests = new AwsRequestCounter();
  private readonly deliveryHolds = new DeliveryHolds();

  constructor(readonly opts: HarnessOptions) {
    this.root = mkdtempSync(path.join(tmpdir(), 'rsqlo-aws-'));
  }

  /** Step Functions API calls by command (StartExecution, SendTask*, DescribeExecution…). */
  readonly stepFunctionsApi: Record<string, number> = {};

  private readonly callHolds = new CallHolds();

  /**
   * Holds matching AWS calls the simulators answer (an agent's SendTaskHeartbeat, a PutEvents…)
   * until released: `request` (default) holds the call before the simulator sees it (it is answered
   * as things stand at release), `response` lets the simulator answer now and holds the answer (the
   * caller learns it late). The way tests force "the reply to an old request arrives after X".
   */
  holdCall(
    match: (c: AwsCallSeen) => boolean,
    when: 'request' | 'response' = 'request',
  ): { reached: Promise<AwsCallSeen>; release(): void } {
    return this.callHolds.hold(match, when);
  }

  /** Answers one AWS request (from a mocked client here, or from an agent process over IPC). */
  async awsCall(service: string, command: string, input: unknown): Promise<unknown> {
    const seen: AwsCallSeen = { service, command, input: input as Record<string, unknown> };
    return this.callHolds.through(seen, () => this.answerCall(service, command, input));
  }

  private async answerCall(service: string, command: string, input: unknown): Promise<unknown> {
    // biome-ignore lint/suspicious/noExplicitAny: inputs are the SDK's, checked by the simulators
    const i = input as any;
    if (service === 'sfn') this.stepFunctionsApi[command] = (this.stepFunctionsApi[command] ?? 0) + 1;
    switch (`${service}:${command}`) {
      case 'events:PutEvents':
        return this.bus.putEvents(i, 'sdk');
      case 'sfn:StartExecution':
        return this.wrapper.startExecution(i);
      case 'sfn:StopExecution':
        return this.wrapper.stopExecution(i);
      case 'sfn:DescribeExecution':
        return this.wrapper.describeExecution(i);
      case 'sfn:SendTaskSuccess':
        return this.wrapper.sendTaskSuccess(i);
      case 'sfn:SendTaskFailure':
        return this.wrapper.sendTaskFailure(i);
      case 'sfn:SendTaskHeartbeat':
        return this.wrapper.sendTaskHeartbeat(i);
      case 'ssm:DescribeInstanceInformation':
        return this.ssm.describeInstanceInformation(i);
      case 'ssm:SendCommand':
        return this.ssm.sendCommand(i);
      case 'logs:CreateLogStream':
        return this.logs.createLogStream(i);
      case 'logs:PutLogEvents':
        return this.logs.putLogEvents(i);
      case 'logs:GetLogEvents':
        return this.logs.getLogEvents(i);
      case 'secrets:GetSecretValue':
        return this.secrets.getSecretValue(i);
      case 'sns:Publish':
        return this.sns.publish(i);
      case 'scheduler:CreateSchedule':
        return this.scheduler.createSchedule(i);
      default:
        this.unexpected.push(`${service}:${command}`);
        throw new Error(`${service}:${command} is not simulated`);
    }
  }

  private mockSdk() {
    const call = (service: string, command: string) => (input: unknown) =>
      this.awsCall(service, command, input);
    const unexpected = (service: string) => (input: unknown) => {
      this.unexpected.push(`${service}: ${JSON.stringify(input).slice(0, 200)}`);
      return Promise.reject(new Error(`${service}: command not simulated`));
    };
    const route = commandRouter(call, unexpected);
    route(eventBridge, 'events', { PutEvents: PutEventsCommand });
    route(stepFunctions, 'sfn', {
      StartExecution: StartExecutionCommand,
      StopExecution: StopExecutionCommand,
      DescribeExecution: DescribeExecutionCommand,
      SendTaskSuccess: SendTaskSuccessCommand,
      SendTaskFailure: SendTaskFailureCommand,
      SendTaskHeartbeat: SendTaskHeartbeatCommand,
    });
    route(ssm, 'ssm', {
      DescribeInstanceInformation: DescribeInstanceInformationCommand,
      SendCommand: SendCommandCommand,
    });
    route(cloudWatchLogs, 'logs', {
      CreateLogStream: CreateLogStreamCommand,
      PutLogEvents: PutLogEventsCommand,
      GetLogEvents: GetLogEventsCommand,
    });
    route(secretsManager, 'secrets', { GetSecretValue: GetSecretValueCommand });
    snsClient.reset();
    snsClient
      .onAnyCommand()
      .callsFake(unexpected('sns'))
      .on(PublishCommand)
      .callsFake(call('sns', 'Publish'));
    schedulerClient.reset();
    schedulerClient
      .onAnyCommand()
      .callsFake(unexpected('scheduler'))
      .on(CreateScheduleCommand)
      .callsFake(call('scheduler', 'CreateSchedule'));
  }

  /** @internal */
  async init(): Promise<void> {
    const o = this.opts;
    await waitForDynamo(o.endpoint);
    this.clients = localClients(o.endpoint);
    this.tables = await createTestTables(this.clients.dynamodb);
    this.repos = testRepositories(this.clients, this.tables);

    this.server = await startFauxqs({ port: 0, logger: false });
    this.restoreDns = interceptLocalhostDns();
    const { queues, sqsEndpoint, sqs } = createJobQueues(this.server, REGION);
    this.queues = queues;
    this.sqs = sqs;
    const jobs = queues.jobs;

    const hostCount = o.hosts ?? 2;
    const hostIds = Array.from({ length: hostCount }, (_, i) => `i-0a${String(i + 1).padStart(15, '0')}`);
    const agentBin = path.join(this.root, 'bin', 'rsqlo-agent');
    this.scheduler = new SchedulerSimulator({
      account: ACCOUNT,
      region: REGION,
      // The schedule's Lambda target: the run watchdog, invoked with the schedule's Input.
      targets: { [WATCHDOG_FUNCTION_ARN]: (payload) => this.fn('watchdog').invoke(payload) },
    });
    this.bus = new EventBusSimulator({
      busName: BUS,
      account: ACCOUNT,
      region: REGION,
      duplicate: o.duplicate,
      targets: {
        starter: (e) => this.fn('starter').invoke(e),
        planner: (e) => this.fn('planner').invoke(e),
        recorder: (e) => this.fn('recorder').invoke(e),
        trigger: (e) => this.fn('trigger').invoke(e),
        notifier: (e) => this.fn('notifier').invoke(e),
      },
    });
    this.wrapper = new WrapperSimulator({
      definition: substitutedWrapperDefinition({
        dispatcherFunctionArn: DISPATCHER_TASK_ARN,
        eventBusName: BUS,
        partition: 'aws',
      }),
      stateMachineArn: STATE_MACHINE,
      invoke: (name, payload) => {
        if (name !== DISPATCHER_TASK_ARN) return Promise.reject(new Error(`no function ${name}`));
        return this.fn('dispatcherTask').invoke(payload);
      },
      putEvents: async (entries) => this.bus.putEvents({ Entries: entries }, 'states'),
      retryScale: 0.05,
      duplicateInvocations: o.duplicate,
    });
    this.ssm = new SsmSimulator({
      documentName: DOCUMENT,
      document: ssmDocumentContent({ agentBin }),
      agentBin,
      hosts: () => this.hosts,
      mode: o.ssmMode ?? 'shell',
      duplicate: o.duplicate,
      deliveryDelayMs: o.ssmDeliveryDelayMs,
      hold: (c) => this.deliveryHolds.gateFor(c.values.job),
    });
    writeAgentShim(agentBin);
    this.logs = new LogsSimulator(DEFAULT_LOG_GROUP);
    this.sns = new SnsSimulator(ALERT_TOPIC);
    const db = o.database;
    this.secrets = new SecretsSimulator(databaseSecrets(SECRET_ID, db));
    this.mockSdk();
    this.requests.install();

    stubLambdaEnv(
      {
        configTable: this.tables.config,
        workflowAuditTable: this.tables.workflowAudit,
        jobAuditTable: this.tables.jobAudit,
        eventBus: BUS,
        jobQueueUrl: jobs.queueUrl,
        wrapperStateMachineArn: STATE_MACHINE,
        ssmDocument: DOCUMENT,
        agentInstanceIds: hostIds.join(','),
        idempotencyTable: this.tables.idempotency,
        alertTopicArn: ALERT_TOPIC,
        logGroup: DEFAULT_LOG_GROUP,
        runWatchGroup: RUN_CHECK_GROUP,
        runWatchTargetArn: WATCHDOG_FUNCTION_ARN,
        runWatchRoleArn: RUN_CHECK_ROLE,
        runWatchDeadLetterArn: RUN_CHECK_DLQ,
      },
      { dynamodb: o.endpoint, sqs: sqsEndpoint },
    );
    // `deployed`: no level variable at all, so the functions log as deployed (lambda-io.ts default).
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', o.logLevel === 'deployed' ? '' : (o.logLevel ?? 'INFO'));
    for (const name of Object.keys(LOADERS) as FunctionName[]) {
      const n = o.containers?.[name] ?? DEFAULT_CONTAINERS[name];
      const containers: AnyHandler[] = [];
      for (let i = 0; i < n; i++) {
        vi.resetModules();
        containers.push(await LOADERS[name]());
      }
      this.functions.set(name, new LambdaFunction(name, containers));
    }

    const table = await this.clients.dynamodb.send(
      new DescribeTableCommand({ TableName: this.tables.jobAudit }),
    );
    const streamArn = table.Table?.LatestStreamArn;
    if (!streamArn) throw new Error('the job audit table has no stream');
    this.stream = new StreamEventSource({
      next: streamReader(o.endpoint, streamArn).next,
      streamArn,
      fn: this.fn('aggregator'),
      duplicate: o.duplicate,
    });
    this.sqsSource = new SqsEventSource({
      client: this.sqs,
      queueUrl: jobs.queueUrl,
      queueArn: jobs.queueArn,
      fn: this.fn('dispatcher'),
      pollers: o.containers?.dispatcher ?? DEFAULT_CONTAINERS.dispatcher,
      duplicate: o.duplicate,
    });

    await startAgentHosts(hostIds, this.root, this.hosts, {
      scriptRoot: o.scriptRoot,
      busName: BUS,
      logGroup: DEFAULT_LOG_GROUP,
      secretId: db ? SECRET_ID : undefined,
      maxConcurrency: o.agentMaxConcurrency ?? 4,
      heartbeatEverySeconds: o.heartbeatEverySeconds,
      mode: o.agentMode ?? 'in-process',
      awsCall: (s, c, i) => this.awsCall(s, c, i),
    });
  }

  /** The tables' physical names (what a deployed stack's outputs name). */
  get tableNames(): Readonly<Awaited<ReturnType<typeof createTestTables>>> {
    return this.tables;
  }

  /** The job log group the agents ship to (the stack's JobLogGroupName output). */
  get logGroup(): string {
    return DEFAULT_LOG_GROUP;
  }

  fn(name: FunctionName): LambdaFunction {
    const f = this.functions.get(name);
    if (!f) throw new Error(`no function ${name}`);
    return f;
  }

  // -- what tests do -----------------------------------------------------------------------------

  /** Stores a definition in the config table (as the stack's deployment does). */
  async putDefinition(def: WorkflowDefinitionInput | Record<string, unknown>): Promise<void> {
    await this.repos.definitions.put(def as { workflow_id: string } & Record<string, unknown>);
  }

  /**
   * Writes the trigger index and the calendars of these definitions into the config table, exactly
   * the items the stack's DependencyDeployment writes (runtime/aws/dynamo-trigger.ts dependencyItems).
   */
  async putDependencyItems(
    definitions: ReadonlyArray<WorkflowDefinitionInput>,
    calendars: ReadonlyArray<{ name: string; raw: Record<string, unknown> }> = [],
  ): Promise<void> {
    for (const item of dependencyItems(definitions as WorkflowDefinition[], calendars))
      await this.clients.documents.send(
        new PutCommand({
          TableName: this.tables.config,
          Item: { workflow_id: item.workflow_id, ...item.attributes },
        }),
      );
  }

  /**
   * Lets the run deadlines pass: every run's one-time schedule fires now and invokes the run
   * watchdog (RunOverdue logged for a run still Running). Resolves with what fired, once every
   * invocation ended.
   */
  async elapseRunDeadlines(): Promise<FiredSchedule[]> {
    return this.scheduler.elapse();
  }

  /** Puts WorkflowRequested on the bus, as a user, schedule or the CLI would. */
  request(detail: Omit<WorkflowRequested, 'version'> & { version?: number }): void {
    this.bus.putEvents({ Entries: [requestEntry(BUS, detail)] }, 'test');
  }

  /** Puts WorkflowCancelRequested on the bus, as `rsqlo kill` or an operator would. */
  cancel(workflowId: string, exec: string, reason?: string): void {
    this.bus.putEvents({ Entries: [cancelEntry(BUS, workflowId, exec, reason)] }, 'test');
  }

  /**
   * Puts an operator request on the bus (JobSetOkRequested, JobRerunRequested, JobBypassRequested,
   * HoldRequested, FreeRequested, PoolResizeRequested), as `rsqlo <action> --aws` would; returns the
   * entry's event id. `requested_by`, `occurred_at` and `event_id` default like the CLI's.
   */
  operator(detailType: (typeof OPERATOR_REQUEST_TYPES)[number], detail: Record<string, unknown>): string {
    const entry = operatorEntry(BUS, detailType, detail);
    this.bus.putEvents({ Entries: [entry] }, 'test');
    return (JSON.parse(entry.Detail) as { event_id: string }).event_id;
  }

  /**
   * The pool's config-table item (`pool:<NAME>`, runtime/aws/dynamo-pools.ts), read consistently:
   * its size, how many hold a slot and how many wait. Undefined: no such pool yet.
   */
  async pool(name: string): Promise<{ slots: number; inUse: number; waiting: number } | undefined> {
    const r = await this.clients.documents.send(
      new GetCommand({
        TableName: this.tables.config,
        Key: { workflow_id: `pool:${name}` },
        ConsistentRead: true,
      }),
    );
    const item = r.Item as
      | { slots?: number; holders?: Set<string>; waiters?: Record<string, unknown> }
      | undefined;
    if (!item) return undefined;
    return {
      slots: Number(item.slots),
      inUse: item.holders ? item.holders.size : 0,
      waiting: item.waiters ? Object.keys(item.waiters).length : 0,
    };
  }

  async run(exec: string): Promise<WorkflowAuditRecord | undefined> {
    return this.repos.runs.getRunRecord(exec);
  }

  async jobs(exec: string): Promise<JobAuditRecord[]> {
    return this.repos.jobs.listJobs(exec);
  }

  async job(exec: string, jobKey: string): Promise<JobAuditRecord | undefined> {
    return this.repos.jobs.getJob(exec, jobKey);
  }

  /** Waits until `check` holds (polling every 100 ms, a generous bound). */
  async until<T>(
    check: () => Promise<T | undefined | false | null>,
    what: string,
    timeoutMs = 60_000,
  ): Promise<T> {
    return pollUntil(check, what, timeoutMs, () => this.summary());
  }

  /** Waits for the run to end, then for everything to settle; returns its audit records. */
  async finished(
    exec: string,
    timeoutMs = 120_000,
  ): Promise<{ run: WorkflowAuditRecord; jobs: JobAuditRecord[] }> {
    return waitForRunEnd(this, exec, timeoutMs);
  }

  /**
   * Waits until nothing moves: no delivery, invocation, queue message, stream record, wrapper
   * execution or agent job pending, and no new activity over two more reads of the stream.
   */
  async settle(timeoutMs = 60_000): Promise<void> {
    return settle(this, timeoutMs);
  }

  /** What is still moving (for failure messages). */
  async summary(): Promise<string> {
    return describeMotion(this);
  }

  /**
   * Everything that went wrong outside what the test asserts: limit violations, dead letters,
   * requests no simulator handles, failed SSM commands, messages in the DLQ, handler ERROR logs
   * (except those matching `allowErrors`).
   */
  async problems(allowErrors: RegExp[] = []): Promise<string[]> {
    const out = [
      ...this.bus.violations.map((v) => `bus: ${v}`),
      ...this.bus.deadLetters.map(
        (d) => `bus dead letter (${d.target}): ${d.envelope['detail-type']}: ${d.error}`,
      ),
      ...this.wrapper.violations.map((v) => `wrapper: ${v}`),
      ...this.scheduler.violations.map((v) => `scheduler: ${v}`),
      ...this.scheduler.deadLetters.map((f) => `scheduler dead letter ${f.name}: ${f.error}`),
      ...this.ssm.violations.map((v) => `ssm: ${v}`),
      ...this.ssm.runs
        .filter((r) => r.exitCode !== 0)
        .map((r) => `ssm command ${r.commandId}: exit ${r.exitCode}: ${r.output}`),
      ...this.logs.violations.map((v) => `logs: ${v}`),
      ...this.sns.violations.map((v) => `sns: ${v}`),
      ...this.stream.deadLetters.map((d) => `stream dead letter ${d.sequenceNumber}: ${d.error}`),
      ...this.stream.errors.map((e) => `stream: ${e}`),
      ...this.sqsSource.errors.map((e) => `sqs: ${e}`),
      ...this.unexpected.map((u) => `unexpected AWS call ${u}`),
    ];
    out.push(
      ...(await queueAndLogProblems(
        this.sqs,
        this.queues.dlq.queueUrl,
        this.handlerLogs.lines,
        this.agentLog(),
        allowErrors,
      )),
    );
    return out;
  }

  /**
   * Holds the SSM delivery of every command whose decoded `job` parameter (a JobCommand or a
   * JobCancel) matches, until released: the command was sent and SSM keeps it, as it may for up to
   * its delivery timeout.
   */
  holdDelivery(match: (job: Record<string, unknown>) => boolean): {
    reached: Promise<void>;
    release(): void;
  } {
    return this.deliveryHolds.hold(match);
  }

  /** The SSM commands sent for a job attempt (decoded `job` parameter), in order. */
  commandsFor(jobRunName: string, kind: 'job' | 'cancel' = 'job') {
    return commandsFor(this.ssm, jobRunName, kind);
  }

  /**
   * The billable requests made so far, by service (the raw counts test/bench/aws-cost.ts prices):
   * Lambda invocations and handler time, wrapper state transitions, PutEvents entries, SQS
   * requests, DynamoDB request units, SSM commands, PutLogEvents and bytes, secret reads.
   */
  usage() {
    const lambda: Record<string, { invocations: number; billedMs: number }> = {};
    for (const [name, f] of this.functions)
      lambda[name] = { invocations: f.invocations, billedMs: f.billedMs };
    const accepted = this.bus.requests.filter((r) => !r.rejected && r.caller !== 'test');
    const { sqsRequests, emptyReceives, sqsByOperation, byCaller, byRequest, wru, rru, failedWriteUnits } =
      tallyRequests(this.requests.snapshot());
    return {
      lambda,
      wrapperTransitions: this.wrapper.executions().reduce((n, e) => n + e.transitions, 0),
      /** Run deadline checks: schedules created, and the target invocations Scheduler bills. */
      schedulesCreated: this.scheduler.created,
      schedulerInvocations: this.scheduler.invocations,
      putEvents: {
        requests: accepted.length,
        entries: accepted.reduce((n, r) => n + r.entries, 0),
        // Each 64 KB chunk of an entry is one event (entries here are far smaller).
        billedEvents: accepted.reduce((n, r) => n + Math.max(r.entries, Math.ceil(r.bytes / 65_536)), 0),
      },
      sqs: { requests: sqsRequests, emptyReceives, byOperation: sqsByOperation },
      dynamo: { wru, rru, failedWriteUnits, byCaller, byRequest },
      ssmCommands: this.ssm.commands.length,
      stepFunctionsApi: { ...this.stepFunctionsApi },
      putLogEvents: this.logs.puts,
      logBytes: this.logs.ingestedBytes,
      /** What the functions wrote to their logs (CloudWatch Logs ingests it from Lambda). */
      handlerLogBytes: Buffer.byteLength(this.handlerLogs.raw()),
      secretsCalls: this.secrets.reads.length,
    };
  }

  /** Every agent log line. */
  agentLog(): AgentLogLine[] {
    return this.hosts.flatMap((h) => h.log);
  }

  /**
   * Everything a secret must never appear in: events, audit rows, handler and agent logs, shipped
   * job logs, SSM command parameters, task outputs (as the wrapper simulator received them).
   */
  async everythingVisible(execs: string[]): Promise<string> {
    return everythingVisible(this, execs);
  }

  async dispose(): Promise<void> {
    this.callHolds.openAll();
    for (const h of this.hosts) await h.stop().catch(() => {});
    await this.sqsSource?.stop();
    await this.stream?.stop();
    this.bus?.close();
    this.ssm?.close();
    await this.wrapper?.dispose();
    this.scheduler?.dispose();
    // Jobs still running when the test ended (a failed test): kill them, never leave them behind.
    for (const h of this.hosts) await killLeftoverJobs(h.config.spoolDir);
    this.handlerLogs.restore();
    this.requests.uninstall();
    this.deliveryHolds.clear();
    vi.unstubAllEnvs();
    this.sqs?.destroy();
    this.clients?.dynamodb.destroy();
    this.restoreDns?.();
    await this.server?.stop();
    rmSync(this.root, { recursive: true, force: true });
    active = undefined;
  }
}

/** Starts a harness (one at a time per test file). */
export async function createAwsHarness(opts: HarnessOptions): Promise<AwsHarness> {
  if (active) throw new Error('another AWS harness is still active in this file; dispose it first');
  const h = new AwsHarness(opts);
  active = h;
  try {
    await h.init();
  } catch (err) {
    await h.dispose();
    throw err;
  }
  return h;
}
