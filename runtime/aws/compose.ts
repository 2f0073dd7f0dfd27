/**
 * The AWS composition root's shared wiring: SDK clients and the port adapters, built from the
 * settings a Lambda read at module scope (settings.ts). Each handler asks for the adapters its
 * service needs; asking for one whose setting was not read is a SettingsError naming it, at module
 * scope, so a misconfigured function fails at its first cold start with a clear message.
 *
 * Clients are created once per container and reused across invocations. Region and credentials
 * come from the Lambda environment (AWS_REGION, the execution role); endpoints may be overridden by
 * the SDK's standard variables (AWS_ENDPOINT_URL_DYNAMODB, …), which is how tests point them at
 * DynamoDB Local and fauxqs.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AlertDedupe, AlertPublisher } from '../../services/notifier/service.js';
import type {
  AgentFleet,
  CalendarRepository,
  Clock,
  EventPublisher,
  JobRepository,
  JobRunOrchestrator,
  Logger,
  OperatorRepository,
  PoolRepository,
  RunDeadlineWatch,
  TriggerRepository,
} from '../../services/ports.js';
import type { SlaLineWatch } from '../../services/sla/lines.js';
import type { SlaMarks } from '../../services/sla/service.js';
import { createDynamoAlertDedupe } from './dynamo-alert-dedupe.js';
import { createDynamoDefinitionRepository, type DynamoDefinitionRepository } from './dynamo-definitions.js';
import { createDynamoJobRepository } from './dynamo-jobs.js';
import { createDynamoOperatorRepository } from './dynamo-operator.js';
import { createDynamoPoolRepository } from './dynamo-pools.js';
import { createDynamoRunStatusReader, type DynamoRunStatusReader } from './dynamo-run-status.js';
import { createDynamoRunRepository, type DynamoRunRepository } from './dynamo-runs.js';
import { createDynamoSlaMarks } from './dynamo-sla-marks.js';
import { createDynamoCalendarReader, createDynamoTriggerRepository } from './dynamo-trigger.js';
import { createEffectsSink, type EffectsSink } from './effects.js';
import { createEventBridgePublisher } from './eventbridge-publisher.js';
import type { RetryOptions } from './retry.js';
import { createSchedulerRunWatch, createSchedulerSlaWatch } from './scheduler-run-watch.js';
import { ENV, type SettingName, SettingsError } from './settings.js';
import { createSnsAlertPublisher } from './sns-alert-publisher.js';
import { createSqsJobQueue, type SqsJobQueue } from './sqs-job-queue.js';
import { createSsmAgentFleet, parseAgentTag } from './ssm-agent-fleet.js';
import { createStepFunctionsOrchestrator } from './step-functions-orchestrator.js';

/** The SDK clients of one Lambda container. */
export interface AwsClients {
  dynamodb: DynamoDBClient;
  /** lib-dynamodb over `dynamodb`: native JS values, undefined attributes left out. */
  documents: DynamoDBDocumentClient;
  eventBridge: EventBridgeClient;
  sqs: SQSClient;
  sfn: SFNClient;
  /**
   * For SendCommand, which is not idempotent: no SDK retries (maxAttempts 1), so a request that
   * timed out is never sent again blind; the fleet retries throttling itself.
   */
  ssm: SSMClient;
  sns: SNSClient;
  /** EventBridge Scheduler: the starter's one-time run deadline checks. */
  scheduler: SchedulerClient;
}

/**
 * Creates the clients (no network until first use). SDK retries: standard mode, 3 attempts
 * (the SDK default) for everything but SSM (see AwsClients.ssm).
 */
export function createAwsClients(config: { region?: string } = {}): AwsClients {
  const base = config.region ? { region: config.region } : {};
  const dynamodb = new DynamoDBClient(base);
  return {
    dynamodb,
    documents: DynamoDBDocumentClient.from(dynamodb, {
      marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
    }),
    eventBridge: new EventBridgeClient(base),
    sqs: new SQSClient(base),
    sfn: new SFNClient(base),
    ssm: new SSMClient({ ...base, maxAttempts: 1 }),
    sns: new SNSClient(base),
    scheduler: new SchedulerClient(base),
  };
}

/** Settings as read by readSettings (only the ones a handler asked for are present). */
export type AwsSettings = Partial<Record<SettingName, string>>;

/** The adapters of one Lambda, built on first request and reused. */
export interface AwsRuntime {
  clients: AwsClients;
  clock: Clock;
  log: Logger;
  definitions(): DynamoDefinitionRepository;
  /** Runs; createRun and completeStage also need the config table (the active-run slots). */
  runs(): DynamoRunRepository;
  jobs(): JobRepository;
  events(): EventPublisher;
  queue(): SqsJobQueue;
  orchestrator(): JobRunOrchestrator;
  agents(): AgentFleet;
  /** The notifier's publisher: readable alerts to the alert topic. */
  alerts(): AlertPublisher;
  /** The notifier's memory of sent alerts (alert# items in the idempotency table). */
  alertDedupe(): AlertDedupe;
  /** The starter's run deadline checks (one Scheduler schedule per run). */
  runWatch(): RunDeadlineWatch;
  /** The run watchdog's read of a run's status (and hold: `read`). */
  runStatus(): DynamoRunStatusReader;
  /** The starter's SLA line checks (one Scheduler schedule per armed line, same group and target). */
  slaWatch(): SlaLineWatch;
  /** The SLA check's once-per-run-and-kind guard (a conditional write on the run item). */
  slaMarks(): SlaMarks;
  /** The trigger service's index and state (config table items; services/trigger/). */
  triggers(): TriggerRepository;
  /** The deployed calendars (config table items), which the starter checks scheduled requests against. */
  calendars(): CalendarRepository;
  /** Resource pools across the stack (config table `pool:` items; issue 14). */
  pools(): PoolRepository;
  /** Operator actions: set-ok, rerun, bypass, holds (issue 14). */
  operator(): OperatorRepository;
}

export interface ComposeOptions {
  log: Logger;
  /** Default: createAwsClients(). */
  clients?: AwsClients;
  /** Default: the system clock. */
  clock?: Clock;
  /** Retries above the SDK's (default: 8 attempts, 25 ms … 2 s full jitter). */
  retry?: RetryOptions;
}

/**
 * The adapters of one Lambda from its settings, each built on first request (so a handler only needs
 * the settings of the adapters it asks for). Defaults: clients from createAwsClients(), the system
 * clock, 8 retry attempts above the SDK's.
 */
export function composeAws(settings: AwsSettings, opts: ComposeOptions): AwsRuntime {
  const clients = opts.clients ?? createAwsClients();
  const clock = opts.clock ?? { now: () => new Date() };
  const { retry, log } = opts;
  const need = (name: SettingName): string => {
    const v = settings[name];
    if (!v) throw new SettingsError(`configuration error: ${ENV[name]} is not set`);
    return v;
  };
  const once = <T>(make: () => T): (() => T) => {
    let made: { v: T } | undefined;
    return () => {
      made ??= { v: make() };
      return made.v;
    };
  };

  const events = once(() =>
    createEventBridgePublisher({ client: clients.eventBridge, eventBusName: need('eventBus'), retry }),
  );
  const queue = once(() => createSqsJobQueue({ client: clients.sqs, queueUrl: need('jobQueueUrl'), retry }));
  // Effects go where this function is configured to send them; a kind it never produces needs no target.
  const effects = once(
    (): EffectsSink =>
      createEffectsSink({
        events: settings.eventBus ? events() : undefined,
        queue: settings.jobQueueUrl ? queue() : undefined,
      }),
  );

  return {
    clients,
    clock,
    log,
    definitions: once(() =>
      createDynamoDefinitionRepository({ client: clients.documents, tableName: need('configTable'), retry }),
    ),
    runs: once(() =>
      createDynamoRunRepository({
        client: clients.documents,
        tables: {
          workflowAudit: need('workflowAuditTable'),
          jobAudit: need('jobAuditTable'),
          config: settings.configTable,
        },
        effects: effects(),
        retry,
      }),
    ),
    jobs: once(() =>
      createDynamoJobRepository({
        client: clients.documents,
        tableName: need('jobAuditTable'),
        effects: effects(),
        clock,
        retry,
      }),
    ),
    events,
    queue,
    orchestrator: once(() =>
      createStepFunctionsOrchestrator({
        client: clients.sfn,
        stateMachineArn: need('wrapperStateMachineArn'),
        retry,
      }),
    ),
    agents: once(() => {
      const ids = settings.agentInstanceIds?.split(',').filter(Boolean) ?? [];
      const tag = settings.agentTag ? parseAgentTag(settings.agentTag) : undefined;
      if (ids.length === 0 && !tag) {
        throw new SettingsError(
          `configuration error: set ${ENV.agentInstanceIds} or ${ENV.agentTag} (which hosts run jobs)`,
        );
      }
      return createSsmAgentFleet({
        client: clients.ssm,
        documentName: need('ssmDocument'),
        instanceIds: ids,
        tag,
        clock,
        retry,
      });
    }),
    alerts: once(() =>
      createSnsAlertPublisher({ client: clients.sns, topicArn: need('alertTopicArn'), retry }),
    ),
    alertDedupe: once(() =>
      createDynamoAlertDedupe({ client: clients.documents, tableName: need('idempotencyTable'), clock }),
    ),
    runWatch: once(() =>
      createSchedulerRunWatch({
        client: clients.scheduler,
        groupName: need('runWatchGroup'),
        targetArn: need('runWatchTargetArn'),
        roleArn: need('runWatchRoleArn'),
        deadLetterArn: need('runWatchDeadLetterArn'),
        clock,
        retry,
      }),
    ),
    runStatus: once(() =>
      createDynamoRunStatusReader({
        client: clients.documents,
        tableName: need('workflowAuditTable'),
        retry,
      }),
    ),
    slaWatch: once(() =>
      createSchedulerSlaWatch({
        client: clients.scheduler,
        groupName: need('runWatchGroup'),
        targetArn: need('runWatchTargetArn'),
        roleArn: need('runWatchRoleArn'),
        deadLetterArn: need('runWatchDeadLetterArn'),
        clock,
        retry,
      }),
    ),
    slaMarks: once(() =>
      createDynamoSlaMarks({
        client: clients.documents,
        tableName: need('workflowAuditTable'),
        marksTable: need('idempotencyTable'),
        retry,
      }),
    ),
    triggers: once(() =>
      createDynamoTriggerRepository({
        client: clients.documents,
        configTable: need('configTable'),
        workflowAuditTable: need('workflowAuditTable'),
        effects: effects(),
        retry,
      }),
    ),
    calendars: once(() =>
      createDynamoCalendarReader({ client: clients.documents, configTable: need('configTable'), retry }),
    ),
    pools: once(() =>
      createDynamoPoolRepository({
        client: clients.documents,
        configTable: need('configTable'),
        jobAuditTable: need('jobAuditTable'),
        effects: effects(),
        clock,
        retry,
      }),
    ),
    operator: once(() =>
      createDynamoOperatorRepository({
        client: clients.documents,
        tables: {
          config: need('configTable'),
          workflowAudit: need('workflowAuditTable'),
          jobAudit: need('jobAuditTable'),
        },
        effects: effects(),
        retry,
      }),
    ),
  };
}
