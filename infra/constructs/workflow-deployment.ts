import { Duration, RemovalPolicy, Stack, TimeZone } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { EVENT_SOURCE, EVENT_VERSION } from '../../contracts/events.js';
import { definitionRemoval, definitionUpdate } from '../../runtime/aws/definition-update.js';
import type { DeployedWorkflow } from '../workflows.js';

// The UpdateItem that stores a definition (and its removal) is shared with `rsqlo definitions push
// --aws`, so it lives with the AWS adapters.
export {
  type AttributeValue,
  DEFINITION_ATTRIBUTES,
  definitionRemoval,
  definitionUpdate,
  toAttributeValue,
} from '../../runtime/aws/definition-update.js';
/** The WorkflowRequested detail a schedule puts on the bus (`scheduled_time` filled by the Scheduler). */
export function scheduledRequestDetail(workflowId: string, scheduleName: string) {
  return {
    version: EVENT_VERSION,
    workflow_id: workflowId,
    scheduled_time: scheduler.ContextAttribute.scheduledTime,
    requested_by: `schedule:${scheduleName}`,
  };
}

export interface WorkflowDeploymentProps {
  /** The definitions to deploy (infra/workflows.ts loadWorkflowFolder). */
  workflows: readonly DeployedWorkflow[];
  /** Where the definitions are written. */
  configTable: dynamodb.ITable;
  /** Where the schedules put WorkflowRequested. */
  bus: events.IEventBus;
  /** Schedule group name (one per stack, so names never collide with other stacks'). */
  scheduleGroupName: string;
  /** Where schedule invocations go that could not put their event. */
  deadLetterQueue: sqs.IQueue;
  /** Retention of the loader's log group. Default three months. */
  logRetention?: logs.RetentionDays;
}

/**
 * Deploys the workflow definitions of a folder: each one is written to the config table at deploy
 * (an UpdateItem on create and update that keeps the active-run slots; its attributes removed when
 * the definition leaves the folder) by an AwsCustomResource whose role may only update items of the
 * config table; each one with a
 * `schedule` gets an EventBridge Scheduler schedule in the stack's group — time-zone aware (the
 * definition's `timezone`, UTC otherwise), enabled unless `enabled: false` — that puts
 * WorkflowRequested on the bus with `scheduled_time` set to the schedule's own time, so a retried
 * invocation derives the same execution id. Failed invocations go to the dead-letter queue.
 */
export class WorkflowDeployment extends Construct {
  readonly group: scheduler.ScheduleGroup | undefined;
  readonly schedules: scheduler.Schedule[] = [];
  readonly loaders: cr.AwsCustomResource[] = [];

  constructor(scope: Construct, id: string, props: WorkflowDeploymentProps) {
    super(scope, id);
    if (props.workflows.length === 0) return;

    const logGroup = new logs.LogGroup(this, 'LoaderLogs', {
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const role = new iam.Role(this, 'LoaderRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'rsqlo: writes the deployed workflow definitions into the config table',
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'WriteOwnLogs',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'WriteDefinitions',
        actions: ['dynamodb:UpdateItem'],
        resources: [props.configTable.tableArn],
      }),
    );
    for (const wf of props.workflows) {
      const workflowId = wf.definition.workflow_id;
      const write: cr.AwsSdkCall = {
        service: 'DynamoDB',
        action: 'updateItem',
        parameters: definitionUpdate(props.configTable.tableName, wf.raw),
        physicalResourceId: cr.PhysicalResourceId.of(workflowId),
      };
      this.loaders.push(
        new cr.AwsCustomResource(this, `Definition-${workflowId}`, {
          resourceType: 'Custom::RsqloWorkflowDefinition',
          onCreate: write,
          onUpdate: write,
          onDelete: {
            service: 'DynamoDB',
            action: 'updateItem',
            parameters: definitionRemoval(props.configTable.tableName, workflowId),
          },
          role,
          logGroup,
          installLatestAwsSdk: false,
          timeout: Duration.minutes(2),
        }),
      );
    }

    const scheduled = props.workflows.filter((w) => w.definition.schedule !== undefined);
    if (scheduled.length === 0) return;
    this.group = new scheduler.ScheduleGroup(this, 'Group', {
      scheduleGroupName: props.scheduleGroupName,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const stack = Stack.of(this);
    const schedulerRole = new iam.Role(this, 'SchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
      description: 'rsqlo schedules: put WorkflowRequested on the bus',
    });
    for (const wf of scheduled) {
      const s = wf.definition.schedule;
      if (s === undefined) continue;
      const expression = typeof s === 'string' ? s : s.expression;
      const timezone = typeof s === 'string' ? undefined : s.timezone;
      const enabled = typeof s === 'string' ? true : (s.enabled ?? true);
      const name = wf.definition.workflow_id;
      this.schedules.push(
        new scheduler.Schedule(this, `Schedule-${name}`, {
          scheduleName: name,
          scheduleGroup: this.group,
          description: `rsqlo: start ${name} (${expression}${timezone ? ` ${timezone}` : ' UTC'})`.slice(
            0,
            512,
          ),
          schedule: scheduler.ScheduleExpression.expression(expression, TimeZone.of(timezone ?? 'Etc/UTC')),
          enabled,
          target: new schedulerTargets.EventBridgePutEvents(
            {
              eventBus: props.bus,
              source: EVENT_SOURCE,
              detailType: 'WorkflowRequested',
              detail: scheduler.ScheduleTargetInput.fromObject(
                scheduledRequestDetail(name, `${props.scheduleGroupName}/${name}`),
              ),
            },
            {
              role: schedulerRole,
              deadLetterQueue: props.deadLetterQueue,
              retryAttempts: 10,
              maxEventAge: Duration.hours(24),
            },
          ),
        }),
      );
    }
  }
}
