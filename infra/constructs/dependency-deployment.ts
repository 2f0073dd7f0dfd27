import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { dependencyItemUpdate } from '../../runtime/aws/definition-update.js';
import { AFTER_KEY_PREFIX, CALENDAR_KEY_PREFIX, dependencyItems } from '../../runtime/aws/dynamo-trigger.js';
import type { DeployedCalendar, DeployedWorkflow } from '../workflows.js';

export interface DependencyDeploymentProps {
  workflows: readonly DeployedWorkflow[];
  calendars: readonly DeployedCalendar[];
  /** Where the items are written (the config table). */
  configTable: dynamodb.ITable;
  /** Retention of the loader's log group. Default three months. */
  logRetention?: logs.RetentionDays;
}

export { dependencyItemUpdate };

/**
 * Deploys what the trigger service and the starter read besides the definitions
 * (runtime/aws/dynamo-trigger.ts): the reverse index `after:<upstream>` → the workflows waiting
 * for it, computed from the whole folder, and each calendar as `calendar:<name>`. Each item is an
 * AwsCustomResource (UpdateItem on create and update, DeleteItem when it leaves the folder) whose
 * role may write only items with those key prefixes of the config table. The `trigger:` state
 * items are the service's own and are never touched here.
 */
export class DependencyDeployment extends Construct {
  readonly loaders: cr.AwsCustomResource[] = [];

  constructor(scope: Construct, id: string, props: DependencyDeploymentProps) {
    super(scope, id);
    const items = dependencyItems(
      props.workflows.map((w) => w.definition),
      props.calendars.map((c) => ({ name: c.name, raw: c.raw })),
    );
    if (items.length === 0) return;
    const logGroup = new logs.LogGroup(this, 'LoaderLogs', {
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const role = new iam.Role(this, 'LoaderRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'rsqlo: writes the trigger index and the calendars into the config table',
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
        sid: 'WriteDependencyItems',
        actions: ['dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
        resources: [props.configTable.tableArn],
        conditions: {
          'ForAllValues:StringLike': {
            'dynamodb:LeadingKeys': [`${AFTER_KEY_PREFIX}*`, `${CALENDAR_KEY_PREFIX}*`],
          },
        },
      }),
    );
    for (const item of items) {
      const write: cr.AwsSdkCall = {
        service: 'DynamoDB',
        action: 'updateItem',
        parameters: dependencyItemUpdate(props.configTable.tableName, item),
        physicalResourceId: cr.PhysicalResourceId.of(item.workflow_id),
      };
      this.loaders.push(
        new cr.AwsCustomResource(this, `Item-${item.workflow_id.replace(/[^A-Za-z0-9]/g, '-')}`, {
          resourceType: 'Custom::RsqloDependencyItem',
          onCreate: write,
          onUpdate: write,
          onDelete: {
            service: 'DynamoDB',
            action: 'deleteItem',
            parameters: {
              TableName: props.configTable.tableName,
              Key: { workflow_id: { S: item.workflow_id } },
            },
          },
          role,
          logGroup,
          installLatestAwsSdk: false,
          timeout: Duration.minutes(2),
        }),
      );
    }
  }
}
