import { Aws, Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { EVENT_SOURCE } from '../../contracts/events.js';
import { placeholder } from './job-wrapper.js';

/** Error name of a watchdog execution that found its run still Running past the deadline. */
export const RUN_OVERDUE_ERROR = 'RunOverdue';

/** The event that starts a watchdog execution (its rule matches source rsqlo and this detail-type). */
export const WATCHDOG_TRIGGER_DETAIL_TYPE = 'WorkflowStarted';

/** The watchdog execution's input: each field from this path of the triggering event. */
export const WATCHDOG_INPUT_PATHS = {
  workflow_id: '$.detail.workflow_id',
  workflow_execution_id: '$.detail.workflow_execution_id',
  started_at: '$.detail.occurred_at',
  deadline_at: '$.detail.deadline_at',
} as const;

/**
 * The rule's event pattern: WorkflowStarted events that carry a deadline (the starter always sets
 * one; `deadline_at` is optional in the contract, and an event without it would fail the Wait
 * state, which the overdue-runs alarm would report as a stuck run).
 */
export const WATCHDOG_EVENT_PATTERN = {
  source: [EVENT_SOURCE],
  'detail-type': [WATCHDOG_TRIGGER_DETAIL_TYPE],
  detail: { deadline_at: [{ exists: true }] },
} as const;

/**
 * The watchdog's definition. Input: `{ workflow_id, workflow_execution_id, started_at, deadline_at }`
 * (from WorkflowStarted). It waits until the run's deadline (`deadline_at`, which the starter
 * computed from the run's definition: services/starter/deadline.ts), reads the run's
 * `execution_status` from the workflow audit table and fails with `RunOverdue` when the run is
 * still Running. A run that is gone or finished ends it quietly.
 *
 * Four states entered per run, each a billed state transition ("Step Functions counts a state
 * transition each time a step of your workflow is executed", aws.amazon.com/step-functions/pricing):
 * WaitForDeadline, ReadRun, IsStillRunning and RunEnded or RunOverdue. The Wait's TimestampPath
 * counts from the run's start, not from when the event was delivered, so a delivery EventBridge
 * retried late does not move the deadline; a deadline already past does not wait at all.
 */
export function watchdogDefinition(opts: {
  workflowAuditTable: string;
  /** The AWS partition of the service integration's ARN (a placeholder when deployed). */
  partition: string;
}) {
  return {
    Comment:
      'rsqlo run watchdog: a run still Running after the longest time its definition allows is overdue (stuck)',
    StartAt: 'WaitForDeadline',
    States: {
      WaitForDeadline: { Type: 'Wait', TimestampPath: '$.deadline_at', Next: 'ReadRun' },
      ReadRun: {
        Type: 'Task',
        Resource: `arn:${opts.partition}:states:::dynamodb:getItem`,
        Parameters: {
          TableName: opts.workflowAuditTable,
          Key: { workflow_execution_id: { 'S.$': '$.workflow_execution_id' } },
          ProjectionExpression: 'execution_status',
          ConsistentRead: true,
        },
        ResultPath: '$.run',
        Retry: [{ ErrorEquals: ['States.ALL'], IntervalSeconds: 5, MaxAttempts: 5, BackoffRate: 2 }],
        Next: 'IsStillRunning',
      },
      IsStillRunning: {
        Type: 'Choice',
        Choices: [
          {
            And: [
              { Variable: '$.run.Item.execution_status.S', IsPresent: true },
              { Variable: '$.run.Item.execution_status.S', StringEquals: 'Running' },
            ],
            Next: 'RunOverdue',
          },
        ],
        Default: 'RunEnded',
      },
      RunEnded: { Type: 'Succeed' },
      RunOverdue: {
        Type: 'Fail',
        Error: RUN_OVERDUE_ERROR,
        Cause:
          'the run is still Running after the longest time its definition allows (see the execution input)',
      },
    },
  };
}

export interface RunWatchdogProps {
  /** The bus WorkflowStarted is on. */
  bus: events.IEventBus;
  /** Where the watchdog reads the run's status (GetItem only). */
  workflowAuditTable: dynamodb.ITable;
  /** State machine name. */
  stateMachineName: string;
  /** Name of the WorkflowStarted rule. */
  ruleName: string;
  /** Where WorkflowStarted events go that could not start a watchdog. */
  deliveryDeadLetterQueue: sqs.IQueue;
  /** Default three months. */
  logRetention?: logs.RetentionDays;
}

/**
 * Detects runs older than their longest possible duration: every WorkflowStarted starts a
 * watchdog execution (Standard, cheap: four state transitions per run) that waits until the run's
 * deadline (`deadline_at`, set by the starter) and fails with RunOverdue if the run is still Running. The `ExecutionsFailed` metric of
 * the watchdog is the "overdue runs" alarm's metric; the failed execution's input names the run.
 */
export class RunWatchdog extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: RunWatchdogProps) {
    super(scope, id);
    const logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: `/aws/vendedlogs/states/${props.stateMachineName}`,
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('states.amazonaws.com'),
      description: 'rsqlo run watchdog: read run status',
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadRunStatus',
        actions: ['dynamodb:GetItem'],
        resources: [props.workflowAuditTable.tableArn],
      }),
    );
    const definition = watchdogDefinition({
      workflowAuditTable: placeholder('WorkflowAuditTable'),
      partition: placeholder('Partition'),
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: props.stateMachineName,
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromString(JSON.stringify(definition)),
      definitionSubstitutions: {
        WorkflowAuditTable: props.workflowAuditTable.tableName,
        Partition: Aws.PARTITION,
      },
      role,
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
      tracingEnabled: true,
    });
    this.rule = new events.Rule(this, 'Rule', {
      eventBus: props.bus,
      ruleName: props.ruleName,
      description: 'WorkflowStarted starts the run watchdog',
      eventPattern: {
        source: [...WATCHDOG_EVENT_PATTERN.source],
        detailType: [...WATCHDOG_EVENT_PATTERN['detail-type']],
        detail: WATCHDOG_EVENT_PATTERN.detail,
      },
    });
    this.rule.addTarget(
      new targets.SfnStateMachine(this.stateMachine, {
        input: events.RuleTargetInput.fromObject(
          Object.fromEntries(
            Object.entries(WATCHDOG_INPUT_PATHS).map(([k, p]) => [k, events.EventField.fromPath(p)]),
          ),
        ),
        deadLetterQueue: props.deliveryDeadLetterQueue,
        retryAttempts: 10,
        maxEventAge: Duration.hours(24),
      }),
    );
  }
}
