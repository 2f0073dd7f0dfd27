import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ArnFormat, CfnOutput, Duration, Stack, type StackProps, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct, IConstruct } from 'constructs';
import {
  ALERT_ROUTES,
  BUS_SERVICES,
  type BusService,
  checkRoutingTable,
  SERVICE_ROUTES,
} from '../events/routing.js';
import { ENV, type SettingName } from '../runtime/aws/settings.js';
import { AGGREGATOR_STREAM_FILTERS } from '../runtime/aws/tables.js';
import { acknowledge } from './acknowledge.js';
import { AgentHostAccess, SSM_CORE_POLICY } from './constructs/agent-host-access.js';
import { AgentInstall } from './constructs/agent-install.js';
import { AlertsToSns } from './constructs/alerts-to-sns.js';
import { DependencyDeployment } from './constructs/dependency-deployment.js';
import { DynamoDBStreamToLambda } from './constructs/dynamodb-stream-to-lambda.js';
import { EventBridgeToLambda } from './constructs/eventbridge-to-lambda.js';
import { JobWrapper } from './constructs/job-wrapper.js';
import { Monitoring } from './constructs/monitoring.js';
import { deadLetterQueue } from './constructs/queues.js';
import { RsqloEventBus } from './constructs/rsqlo-event-bus.js';
import { RsqloFunction } from './constructs/rsqlo-function.js';
import { RsqloTables } from './constructs/rsqlo-tables.js';
import { RunWatchdog } from './constructs/run-watchdog.js';
import { ScriptAssets } from './constructs/script-assets.js';
import { SqsToLambda } from './constructs/sqs-to-lambda.js';
import { WorkflowDeployment } from './constructs/workflow-deployment.js';
import type { RsqloContext } from './context.js';
import { type PermissionSource, type PermissionTargets, sourceStatements } from './permissions.js';
import type { DeployedCalendar, DeployedWorkflow, ScriptBundle } from './workflows.js';

/** The repository root (handlers, lock file, tsconfig). */
export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The Lambda functions: one per service handler export. */
export const FUNCTION_IDS = [
  'starter',
  'planner',
  'recorder',
  'dispatcher',
  'dispatcherTask',
  'aggregator',
  'notifier',
  'watchdog',
  'trigger',
] as const;
export type FunctionId = (typeof FUNCTION_IDS)[number];

export interface FunctionSpec {
  /** Handler file, relative to the repository root. */
  entry: string;
  /** The handler's export. */
  handlerExport: string;
  description: string;
  /** Settings (runtime/aws/settings.ts) the handler reads: they go into its environment. */
  settings: readonly SettingName[];
  /** What its code calls AWS through (compose.ts adapters, the idempotency store): its permissions. */
  sources: readonly PermissionSource[];
  /**
   * False for a function that reads the config table for pool items only: its run repository
   * never creates or ends a run, so it gets no access to the active-run slots (permissions.ts).
   */
  runSlots?: false;
  timeout: Duration;
}

/**
 * What each function runs, the settings its handler reads (its `readSettings` call) and what its
 * code calls AWS through. infra/iam-exact.test.ts derives both from the code and compares.
 */
export const FUNCTIONS: Record<FunctionId, FunctionSpec> = {
  starter: {
    entry: 'services/starter/handler.ts',
    handlerExport: 'handler',
    description: 'WorkflowRequested / WorkflowCancelRequested: start (or cancel) a run',
    // agents: a cancel sends the host running a job a kill (SSM command, the rsqlo document).
    settings: [
      'configTable',
      'workflowAuditTable',
      'jobAuditTable',
      'eventBus',
      'wrapperStateMachineArn',
      'ssmDocument',
      'agentInstanceIds',
      'agentTag',
      'runWatchGroup',
      'runWatchTargetArn',
      'runWatchRoleArn',
      'runWatchDeadLetterArn',
      'scriptVersion',
      'scriptWorkflows',
    ],
    // runWatch: each run's deadline check, a one-time EventBridge Scheduler schedule.
    // calendars: a scheduled request on a day its workflow's calendar excludes is skipped.
    // pools: a run's pools are ensured before it starts, `pool set` resizes one; operator:
    // set-ok, rerun, bypass, hold and free (issue 14).
    sources: [
      'definitions',
      'runs',
      'jobs',
      'events',
      'orchestrator',
      'agents',
      'runWatch',
      'slaWatch',
      'calendars',
      'pools',
      'operator',
    ],
    timeout: Duration.seconds(60),
  },
  // pools: a freed slot or a resize wakes the oldest waiting jobs (PoolSlotFreed, PoolResized).
  planner: {
    entry: 'services/planner/handler.ts',
    handlerExport: 'handler',
    description: 'StageReady: queue the runnable jobs of a stage; wake jobs waiting for a pool',
    settings: ['configTable', 'workflowAuditTable', 'jobAuditTable', 'eventBus', 'jobQueueUrl'],
    sources: ['runs', 'jobs', 'events', 'queue', 'pools'],
    runSlots: false,
    timeout: Duration.seconds(30),
  },
  recorder: {
    entry: 'services/recorder/handler.ts',
    handlerExport: 'handler',
    description: 'JobStarted / JobFinished: record the transition on the job audit row',
    settings: ['jobAuditTable'],
    sources: ['jobs'],
    timeout: Duration.seconds(30),
  },
  // The two dispatcher entries are separate modules, so each role holds only its own calls: the
  // queue entry starts wrappers and re-queues waiting jobs; the task entry sends SSM commands.
  dispatcher: {
    entry: 'services/dispatcher/handler.ts',
    handlerExport: 'handler',
    description: 'Job queue: start the single-job wrapper of each job attempt',
    // pools: a job of a pool takes a slot before its wrapper starts, or waits for one.
    // The pool writes' events (PoolCreated, PoolSlotFreed) go to the bus.
    settings: [
      'configTable',
      'eventBus',
      'workflowAuditTable',
      'jobAuditTable',
      'jobQueueUrl',
      'wrapperStateMachineArn',
    ],
    sources: ['runs', 'jobs', 'orchestrator', 'queue', 'pools', 'events'],
    runSlots: false,
    timeout: Duration.seconds(30),
  },
  dispatcherTask: {
    entry: 'services/dispatcher/task/handler.ts',
    handlerExport: 'taskHandler',
    description: 'Wrapper task: send the job with its task token to one online agent',
    settings: [
      'workflowAuditTable',
      'jobAuditTable',
      'ssmDocument',
      'idempotencyTable',
      'agentInstanceIds',
      'agentTag',
    ],
    sources: ['runs', 'jobs', 'agents', 'idempotency'],
    timeout: Duration.seconds(30),
  },
  aggregator: {
    entry: 'services/aggregator/handler.ts',
    handlerExport: 'handler',
    description: 'Job audit stream: count outcomes, advance stages, finish runs',
    settings: ['configTable', 'workflowAuditTable', 'jobAuditTable', 'eventBus', 'jobQueueUrl'],
    // pools: a job's final outcome gives its slot back (once per attempt).
    sources: ['runs', 'jobs', 'events', 'queue', 'pools'],
    timeout: Duration.seconds(60),
  },
  // The target of every alert rule. Its timeout stays below the dedupe lease (45 s,
  // services/notifier/service.ts ALERT_LEASE_SECONDS), so a live holder is never overtaken.
  notifier: {
    entry: 'services/notifier/handler.ts',
    handlerExport: 'handler',
    description: 'Alert rules: publish one readable alert per event id to the alert topic',
    settings: ['alertTopicArn', 'idempotencyTable', 'workflowAuditTable', 'jobAuditTable', 'logGroup'],
    sources: ['alerts', 'alertDedupe'],
    timeout: Duration.seconds(30),
  },
  // The target of each run's one-time schedule (constructs/run-watchdog.ts): one read, one line.
  watchdog: {
    entry: 'services/watchdog/handler.ts',
    handlerExport: 'handler',
    description: 'Run deadline and SLA line checks: RunOverdue, SlaMissed, RunLongerThanUsual',
    settings: ['workflowAuditTable', 'eventBus', 'idempotencyTable'],
    sources: ['runStatus', 'slaMarks', 'events'],
    timeout: Duration.seconds(30),
  },
  // services/trigger/: runs that start when others finish (trigger.after).
  trigger: {
    entry: 'services/trigger/handler.ts',
    handlerExport: 'handler',
    description:
      'WorkflowFinished: collect the arrival for workflows waiting on it; request a run when all arrived',
    settings: ['configTable', 'workflowAuditTable', 'eventBus'],
    sources: ['definitions', 'triggers', 'events'],
    timeout: Duration.seconds(30),
  },
};

export interface RsqloStackProps extends StackProps {
  /** The checked context parameters (infra/context.ts). */
  config: RsqloContext;
  /** The deployed workflow definitions (infra/workflows.ts loadWorkflowFolder). */
  workflows: readonly DeployedWorkflow[];
  /** The calendars beside them (infra/workflows.ts loadCalendarFolder). Default none. */
  calendars?: readonly DeployedCalendar[];
  /** The repository root (handlers, lock file, tsconfig). Default PROJECT_ROOT. */
  projectRoot?: string;
  /** The deployed workflows' scripts (infra/workflows.ts bundleScripts); none: nothing shipped. */
  scripts?: ScriptBundle;
}

const DESCRIBE_AGENTS_REASON =
  'ssm:DescribeInstanceInformation (finding the online agent hosts) supports no resource-level permissions.';
/** Why a function's role holds further `*` resources besides X-Ray (by function). */
const SERVICE_WILDCARD_REASONS: Partial<Record<FunctionId, string>> = {
  dispatcherTask: DESCRIBE_AGENTS_REASON,
  starter: DESCRIBE_AGENTS_REASON,
};

/**
 * The AWS runtime of rsqlo (ARCHITECTURE.md §7): bus, tables, queue, the services as Lambda functions wired
 * by the routing table, the single-job wrapper, the agent hosts' document, policy and log group,
 * alerts, schedules and definitions, the run watchdog, alarms and a dashboard.
 */
export class RsqloStack extends Stack {
  readonly functions: Record<FunctionId, RsqloFunction>;
  readonly tables: RsqloTables;
  readonly bus: RsqloEventBus;
  readonly wrapper: JobWrapper;
  readonly agent: AgentHostAccess;
  /** The agent bundle and the associations that install it on the hosts. */
  readonly agentInstall: AgentInstall;
  /** The shipped scripts (a versioned asset), when the workflows folder has any. */
  readonly scripts: ScriptAssets | undefined;
  readonly alerts: AlertsToSns;
  readonly jobQueue: SqsToLambda;
  readonly aggregatorStream: DynamoDBStreamToLambda;
  readonly watchdog: RunWatchdog;
  /** The wrapper's name and ARN (known before it exists). */
  readonly wrapperName: string;
  readonly wrapperArn: string;
  readonly workflows: WorkflowDeployment;
  readonly config: RsqloContext;

  constructor(scope: Construct, id: string, props: RsqloStackProps) {
    super(scope, id, props);
    checkRoutingTable();
    const c = props.config;
    this.config = c;
    const root = props.projectRoot ?? PROJECT_ROOT;
    const name = (suffix: string) => `${c.stackName}-${suffix}`;
    const retention = c.logRetentionDays as logs.RetentionDays;

    this.tables = new RsqloTables(this, 'Tables', { prefix: c.tablePrefix });
    this.bus = new RsqloEventBus(this, 'Events', {
      busName: c.stackName,
      allowSubscribeAccountIds: c.allowSubscribeAccountIds,
    });
    const bus = this.bus.bus;
    /** Events EventBridge (rules, schedules) could not deliver to their target. */
    const undelivered = deadLetterQueue(this, 'UndeliveredEvents');
    /** Events a function kept failing on (asynchronous invocations after Lambda's retries). */
    const failedEvents = deadLetterQueue(this, 'FailedEvents');

    const fn = (fid: FunctionId, extraEnv: Partial<Record<SettingName, string>> = {}) => {
      const spec = FUNCTIONS[fid];
      const environment: Record<string, string> = {};
      for (const s of spec.settings) {
        const v = extraEnv[s];
        if (v !== undefined && v !== '') environment[ENV[s]] = v;
      }
      return new RsqloFunction(this, fid, {
        entry: path.join(root, spec.entry),
        handlerExport: spec.handlerExport,
        projectRoot: root,
        description: spec.description,
        environment: { ...environment, POWERTOOLS_SERVICE_NAME: `rsqlo-${fid}` },
        timeout: spec.timeout,
        logRetention: retention,
      });
    };

    // Values every function may be handed (each gets only its spec's settings).
    const t = this.tables;
    const agentHostsDocument = name('submit-job');
    const common: Partial<Record<SettingName, string>> = {
      configTable: t.config.tableName,
      workflowAuditTable: t.workflowAudit.tableName,
      jobAuditTable: t.jobAudit.tableName,
      eventBus: bus.eventBusName,
      ssmDocument: agentHostsDocument,
      agentInstanceIds: c.agentInstanceIds.join(','),
      agentTag: c.agentInstanceTag ? `${c.agentInstanceTag.key}=${c.agentInstanceTag.value}` : '',
      logGroup: c.jobLogGroup,
      idempotencyTable: t.idempotency.tableName,
    };

    // The wrapper's ARN is built from its name, not read from the resource: the dispatcher entries
    // (the wrapper invokes one of them) get it in their environment without a circular reference.
    this.wrapperName = name('job-wrapper');
    this.wrapperArn = this.formatArn({
      service: 'states',
      resource: 'stateMachine',
      resourceName: this.wrapperName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    const withWrapper = { ...common, wrapperStateMachineArn: this.wrapperArn };
    const dispatcherTask = fn('dispatcherTask', withWrapper);
    this.wrapper = new JobWrapper(this, 'JobWrapper', {
      stateMachineName: this.wrapperName,
      dispatcherTask: dispatcherTask.function,
      bus,
      logRetention: retention,
    });

    // The job queue is created with its consumer, which re-sends delayed messages to it.
    const dispatcher = fn('dispatcher', withWrapper);
    this.jobQueue = new SqsToLambda(this, 'JobQueue', {
      fn: dispatcher,
      maxReceiveCount: 5,
      maxConcurrency: 5,
    });
    dispatcher.function.addEnvironment(ENV.jobQueueUrl, this.jobQueue.queue.queueUrl);
    const withQueue = { ...withWrapper, jobQueueUrl: this.jobQueue.queue.queueUrl };
    // Each run's deadline check: the starter creates a one-time schedule invoking the watchdog.
    const watchdog = fn('watchdog', common);
    this.watchdog = new RunWatchdog(this, 'RunWatchdog', {
      watchdog: watchdog.function,
      scheduleGroupName: name('runs'),
      deadLetterQueue: undelivered,
    });
    this.scripts = props.scripts?.workflows.length
      ? new ScriptAssets(this, 'Scripts', { namePrefix: c.stackName, bundle: props.scripts })
      : undefined;
    const starter = fn('starter', {
      ...withQueue,
      ...(this.scripts
        ? { scriptVersion: this.scripts.version, scriptWorkflows: this.scripts.workflowIds.join(',') }
        : {}),
      runWatchGroup: name('runs'),
      runWatchTargetArn: watchdog.function.functionArn,
      runWatchRoleArn: this.watchdog.role.roleArn,
      runWatchDeadLetterArn: undelivered.queueArn,
    });
    const planner = fn('planner', withQueue);
    const recorder = fn('recorder', withQueue);
    const trigger = fn('trigger', common);
    const aggregator = fn('aggregator', withQueue);
    // Its topic ARN is added by the alerts construct, which creates the topic.
    const notifier = fn('notifier', common);
    this.functions = {
      starter,
      planner,
      recorder,
      dispatcher,
      dispatcherTask,
      aggregator,
      notifier,
      watchdog,
      trigger,
    };

    // Bus rules: exactly the routing table.
    const busFunctions: Record<BusService, RsqloFunction> = { starter, planner, recorder, trigger };
    for (const service of BUS_SERVICES) {
      const routes = SERVICE_ROUTES.filter((r) => r.target === service);
      if (routes.length === 0) continue;
      new EventBridgeToLambda(this, `Rules-${service}`, {
        bus,
        fn: busFunctions[service],
        rules: routes.map((r) => ({
          id: r.id,
          ruleName: name(r.id),
          description: r.description,
          pattern: r.pattern,
        })),
        deliveryDeadLetterQueue: undelivered,
        failureDeadLetterQueue: failedEvents,
      });
    }
    this.aggregatorStream = new DynamoDBStreamToLambda(this, 'JobAuditStream', {
      table: t.jobAudit,
      fn: aggregator,
      filters: AGGREGATOR_STREAM_FILTERS,
    });

    this.agent = new AgentHostAccess(this, 'AgentHosts', {
      documentName: agentHostsDocument,
      redshiftSecretId: c.redshiftSecretId,
      bus,
      // Its name as given (not the resource's attribute), so the executions ARN is a plain string.
      wrapper: {
        stateMachineArn: this.wrapper.stateMachine.stateMachineArn,
        stateMachineName: this.wrapperName,
      },
      policyName: name('agent-host'),
      logGroupName: c.jobLogGroup,
      logRetention: retention,
    });

    const agentConfig = {
      region: this.region,
      eventBusName: bus.eventBusName,
      logGroup: c.jobLogGroup,
      redshiftSecretId: c.redshiftSecretId,
      scriptRoot: c.rsqlScriptPath,
      logDir: c.rsqlLogPath,
      ...(this.scripts
        ? { shippedScripts: { bucket: this.scripts.bucketName, keyPrefix: this.scripts.keyPrefix } }
        : {}),
    };
    this.agentInstall = new AgentInstall(this, 'AgentInstall', {
      projectRoot: root,
      namePrefix: c.stackName,
      instanceIds: c.agentInstanceIds,
      instanceTag: c.agentInstanceTag,
      agentConfig,
    });
    // The hosts read exactly the agent bundle and the script versions of this stack.
    this.agent.policy.addStatements(
      new iam.PolicyStatement({
        sid: 'ReadShippedFiles',
        actions: ['s3:GetObject'],
        resources: [this.agentInstall.bundle.objectArn, ...(this.scripts ? [this.scripts.versionsArn] : [])],
      }),
    );

    this.alerts = new AlertsToSns(this, 'Alerts', {
      bus,
      routes: ALERT_ROUTES,
      ruleNamePrefix: name(''),
      email: c.alertEmail,
      notifier,
      deliveryDeadLetterQueue: undelivered,
      failureDeadLetterQueue: failedEvents,
    });

    this.grantServices(c);

    this.workflows = new WorkflowDeployment(this, 'Workflows', {
      workflows: props.workflows,
      configTable: t.config,
      bus,
      scheduleGroupName: c.stackName,
      deadLetterQueue: undelivered,
      logRetention: retention,
    });
    // The trigger index and the calendars (config table items the trigger and the starter read).
    new DependencyDeployment(this, 'Dependencies', {
      workflows: props.workflows,
      calendars: props.calendars ?? [],
      configTable: t.config,
      logRetention: retention,
    });

    const failedWorkflowRule =
      this.alerts.rules[ALERT_ROUTES.findIndex((r) => r.id === 'alert-workflow-failed')];
    const failedJobRule = this.alerts.rules[ALERT_ROUTES.findIndex((r) => r.id === 'alert-job-failed')];
    if (!failedWorkflowRule || !failedJobRule)
      throw new Error('routing table: alert routes for failed workflows/jobs are missing');
    new Monitoring(this, 'Monitoring', {
      dashboardName: c.stackName,
      alarmPrefix: name(''),
      topic: this.alerts.topic,
      bus,
      functions: Object.fromEntries(Object.entries(this.functions).map(([k, f]) => [k, f.function])),
      deadLetterQueues: {
        'job-queue': this.jobQueue.deadLetterQueue,
        'job-audit-stream': this.aggregatorStream.deadLetterQueue,
        'undelivered-events': undelivered,
        'failed-events': failedEvents,
      },
      jobQueue: this.jobQueue.queue,
      failedWorkflowRule,
      failedJobRule,
      wrapper: this.wrapper.stateMachine,
      watchdog: { fn: watchdog.function, logGroup: watchdog.logGroup },
      aggregator: aggregator.function,
      dispatcherTask: {
        fn: dispatcherTask.function,
        logGroup: dispatcherTask.logGroup,
        name: 'dispatcherTask',
      },
    });

    this.acknowledgeFindings({ undelivered, failedEvents });

    new CfnOutput(this, 'EventBusName', {
      value: bus.eventBusName,
      description: 'Put WorkflowRequested here',
    });
    new CfnOutput(this, 'ConfigTableName', { value: t.config.tableName });
    new CfnOutput(this, 'WorkflowAuditTableName', { value: t.workflowAudit.tableName });
    new CfnOutput(this, 'JobAuditTableName', { value: t.jobAudit.tableName });
    new CfnOutput(this, 'JobWrapperArn', { value: this.wrapperArn });
    new CfnOutput(this, 'SsmDocumentName', { value: agentHostsDocument });
    new CfnOutput(this, 'JobLogGroupName', { value: c.jobLogGroup });
    new CfnOutput(this, 'AlertTopicArn', { value: this.alerts.topic.topicArn });
    new CfnOutput(this, 'AgentHostPolicyArn', {
      value: this.agent.policy.managedPolicyArn,
      description: `Attach to the agent hosts' instance role, with ${SSM_CORE_POLICY}`,
    });
    new CfnOutput(this, 'AgentConfig', {
      description: 'The agent configuration (/etc/rsqlo/agent.json) for agent/install/install.sh',
      value: this.toJsonString(agentConfig),
    });
    new CfnOutput(this, 'AgentInstallDocumentName', {
      value: this.agentInstall.document.ref,
      description: 'The State Manager document that installs or upgrades the agent on the hosts',
    });
  }

  /**
   * Every function's AWS permissions: the statements of the sources its code calls AWS through
   * (infra/permissions.ts), on this stack's resources. infra/iam-exact.test.ts checks them against
   * the SDK calls in each handler's code: none missing, none extra.
   */
  private grantServices(c: RsqloContext) {
    const t = this.tables;
    const targets: PermissionTargets = {
      configTable: t.config.tableArn,
      workflowAuditTable: t.workflowAudit.tableArn,
      jobAuditTable: t.jobAudit.tableArn,
      idempotencyTable: t.idempotency.tableArn,
      bus: this.bus.bus.eventBusArn,
      jobQueue: this.jobQueue.queue.queueArn,
      wrapper: this.wrapperArn,
      wrapperExecutions: this.formatArn({
        service: 'states',
        resource: 'execution',
        resourceName: `${this.wrapperName}:*`,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      }),
      ssmDocument: this.agent.documentArn,
      agentInstances: c.agentInstanceIds.map((id) =>
        this.formatArn({ service: 'ec2', resource: 'instance', resourceName: id }),
      ),
      anyInstance: this.formatArn({ service: 'ec2', resource: 'instance', resourceName: '*' }),
      agentTag: c.agentInstanceTag,
      alertTopic: this.alerts.topic.topicArn,
      runWatchSchedules: this.watchdog.schedulesArn,
      runWatchRole: this.watchdog.role.roleArn,
    };
    for (const fid of FUNCTION_IDS) {
      const spec = FUNCTIONS[fid];
      const settings = new Set(spec.settings);
      for (const source of spec.sources)
        for (const st of sourceStatements(source, targets, settings, { runSlots: spec.runSlots }))
          this.functions[fid].grant(st.sid, st.actions, st.resources, st.conditions);
    }
  }

  /**
   * cdk-nag findings accepted on purpose, each with its reason (AwsSolutions pack; everything
   * else it reports fails the synth).
   */
  private acknowledgeFindings(queues: { undelivered: IConstruct; failedEvents: IConstruct }) {
    acknowledge(
      queues.undelivered,
      'AwsSolutions-SQS3',
      "This queue is itself a dead-letter queue: the DeadLetterConfig of every bus rule target and schedule target. cdk-nag only recognizes queues named in another queue's RedrivePolicy.",
    );
    acknowledge(
      queues.failedEvents,
      'AwsSolutions-SQS3',
      "This queue is itself a dead-letter queue: the asynchronous-invocation on-failure destination of the bus-driven functions. cdk-nag only recognizes queues named in another queue's RedrivePolicy.",
    );
    acknowledge(
      this.aggregatorStream.deadLetterQueue,
      'AwsSolutions-SQS3',
      "This queue is itself a dead-letter queue: the on-failure destination of the job audit stream's event source mapping. cdk-nag only recognizes queues named in another queue's RedrivePolicy.",
    );
    for (const [fid, f] of Object.entries(this.functions)) {
      const extra =
        fid === 'aggregator'
          ? " dynamodb:ListStreams has no resource-level permissions either (Lambda's stream poller calls it; the AWSLambdaDynamoDBExecutionRole policy grants it on * too)."
          : '';
      const own = SERVICE_WILDCARD_REASONS[fid as FunctionId];
      acknowledge(
        f.role,
        'AwsSolutions-IAM5[Resource::*]',
        `Lambda active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions, so they are granted on *.${extra}${own ? ` ${own}` : ''}`,
      );
    }
    // Resource patterns as cdk-nag prints them (pseudo parameters in angle brackets).
    const region = Token.isUnresolved(this.region) ? '<AWS::Region>' : this.region;
    const nagArn = (service: string, resource: string) =>
      `arn:<AWS::Partition>:${service}:${region}:<AWS::AccountId>:${resource}`;
    for (const fid of FUNCTION_IDS) {
      const sources = FUNCTIONS[fid].sources;
      if (sources.includes('orchestrator'))
        acknowledge(
          this.functions[fid].role,
          `AwsSolutions-IAM5[Resource::${nagArn('states', `execution:${this.wrapperName}:*`)}]`,
          'StopExecution and DescribeExecution act on executions of the job wrapper only; execution names are per job attempt (<execution>--<stage>-<job>--a<attempt>), so the statement names the wrapper and leaves the execution name open.',
        );
      if (sources.includes('agents') && this.config.agentInstanceTag)
        acknowledge(
          this.functions[fid].role,
          `AwsSolutions-IAM5[Resource::${nagArn('ec2', 'instance/*')}]`,
          `SendCommand to instances is limited by the condition ssm:resourceTag/${this.config.agentInstanceTag.key} = ${this.config.agentInstanceTag.value}: only the agent hosts (context agent_instance_tag) can receive the rsqlo document.`,
        );
    }
    acknowledge(
      this.functions.notifier.role,
      'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
      'Publishing to a KMS-encrypted SNS topic needs kms:GenerateDataKey* on its key, the form the SNS developer guide ("Encryption at rest") prescribes for publishers; the statement names the one key of the alert topic.',
    );
    acknowledge(
      this.agent.policy,
      `AwsSolutions-IAM5[Resource::${nagArn('states', `execution:${this.wrapperName}:*`)}]`,
      'DescribeExecution acts on executions of the job wrapper only; execution names are per job attempt (<execution>--<stage>-<job>--a<attempt>), so the statement names the wrapper and leaves the execution name open.',
    );
    if (this.scripts) {
      // The assets bucket's name as cdk-nag prints it: its Fn::Sub text, pseudo parameters in <>.
      const resolved = this.resolve(this.scripts.bucketName) as string | { 'Fn::Sub'?: string };
      const bucket = (typeof resolved === 'string' ? resolved : (resolved['Fn::Sub'] ?? '')).replace(
        /\$\{([^}]+)\}/g,
        '<$1>',
      );
      acknowledge(
        this.agent.policy,
        `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${bucket}/${this.scripts.keyPrefix}*.json]`,
        "s3:GetObject on this stack's shipped script versions only (<stack>-scripts-<sha256>.json in the assets bucket): a run started before a deploy keeps fetching its own version, so every published version stays readable; the key names the stack and leaves the version open.",
      );
    }
    acknowledge(
      this.functions.starter.role,
      `AwsSolutions-IAM5[Resource::${nagArn('scheduler', `schedule/${this.config.stackName}-runs/*`)}]`,
      "CreateSchedule acts on the run checks only: one schedule per run, named run-<execution id>, in the stack's run-check group; the statement names the group and leaves the schedule name open.",
    );
    for (const sm of [this.wrapper.stateMachine])
      acknowledge(
        sm.role,
        'AwsSolutions-IAM5[Resource::*]',
        'Step Functions logging and tracing: the CloudWatch Logs vended-log-delivery actions (logs:CreateLogDelivery, …, logs:DescribeLogGroups) and the X-Ray actions support no resource-level permissions; the CDK grants them on * for exactly that purpose.',
      );
  }
}
