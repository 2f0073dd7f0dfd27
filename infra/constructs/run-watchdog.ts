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

/**
 * The watchdog's definition. Input: `{ workflow_id, workflow_execution_id }` (from WorkflowStarted).
 * It picks the run's deadline (by workflow id; `defaultSeconds` for workflows the stack did not
 * deploy), waits that long, reads the run's `execution_status` from the workflow audit table and
 * fails with `RunOverdue` when the run is still Running. A run that is gone or finished ends it
 * quietly.
 */
export function watchdogDefinition(opts: {
  deadlines: ReadonlyMap<string, number>;
  defaultSeconds: number;
  workflowAuditTable: string;
  /** The AWS partition of the service integration's ARN (a placeholder when deployed). */
  partition: string;
}) {
  // One Pass state per distinct deadline; a Choice routes each workflow id to its deadline.
  const byDeadline = new Map<number, string[]>();
  for (const [id, s] of opts.deadlines) byDeadline.set(s, [...(byDeadline.get(s) ?? []), id]);
  const states: Record<string, unknown> = {};
  const choices: unknown[] = [];
  [...byDeadline.entries()]
    .sort(([a], [b]) => a - b)
    .forEach(([seconds, ids], i) => {
      const name = `Deadline${i + 1}`;
      const rules = ids.sort().map((id) => ({ Variable: '$.workflow_id', StringEquals: id }));
      choices.push(rules.length === 1 ? { ...rules[0], Next: name } : { Or: rules, Next: name });
      states[name] = {
        Type: 'Pass',
        Result: seconds,
        ResultPath: '$.deadline_seconds',
        Next: 'WaitForDeadline',
      };
    });
  return {
    Comment:
      'rsqlo run watchdog: a run still Running after the longest time its definition allows is overdue (stuck)',
    StartAt: choices.length ? 'ChooseDeadline' : 'DefaultDeadline',
    States: {
      ...(choices.length
        ? { ChooseDeadline: { Type: 'Choice', Choices: choices, Default: 'DefaultDeadline' } }
        : {}),
      ...states,
      DefaultDeadline: {
        Type: 'Pass',
        Result: opts.defaultSeconds,
        ResultPath: '$.deadline_seconds',
        Next: 'WaitForDeadline',
      },
      WaitForDeadline: { Type: 'Wait', SecondsPath: '$.deadline_seconds', Next: 'ReadRun' },
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
  /** Deadline in seconds per workflow id (infra/workflows.ts runDeadlineSeconds). */
  deadlines: ReadonlyMap<string, number>;
  /** Deadline of runs of workflows the stack did not deploy. Default 2 days. */
  defaultDeadline?: Duration;
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
 * watchdog execution (Standard, cheap: five state transitions per run) that waits the run's
 * deadline and fails with RunOverdue if the run is still Running. The `ExecutionsFailed` metric of
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
      deadlines: props.deadlines,
      defaultSeconds: (props.defaultDeadline ?? Duration.days(2)).toSeconds(),
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
      eventPattern: { source: [EVENT_SOURCE], detailType: ['WorkflowStarted'] },
    });
    this.rule.addTarget(
      new targets.SfnStateMachine(this.stateMachine, {
        input: events.RuleTargetInput.fromObject({
          workflow_id: events.EventField.fromPath('$.detail.workflow_id'),
          workflow_execution_id: events.EventField.fromPath('$.detail.workflow_execution_id'),
          started_at: events.EventField.fromPath('$.detail.occurred_at'),
        }),
        deadLetterQueue: props.deliveryDeadLetterQueue,
        retryAttempts: 10,
        maxEventAge: Duration.hours(24),
      }),
    );
  }
}
