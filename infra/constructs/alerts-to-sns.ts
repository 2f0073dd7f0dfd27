import { Duration, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { AlertRoute } from '../../events/routing.js';
import { toCdkEventPattern } from './eventbridge-to-lambda.js';

const f = (path: string) => events.EventField.fromPath(path);

/** What the reader of an alert needs to find the run: the audit table and the job logs. */
export interface AlertContext {
  workflowAuditTable: string;
  jobAuditTable: string;
  jobLogGroup: string;
}

/**
 * The readable message of each alert route, by route id (the input transformer's template). Every
 * message says which workflow and execution, what happened, the error and where the log is.
 * Unknown routes get the generic message (still readable, naming detail-type and ids).
 */
export function alertMessage(routeId: string, ctx: AlertContext): string {
  const head = [
    `workflow:  ${f('$.detail.workflow_id')}`,
    `execution: ${f('$.detail.workflow_execution_id')}`,
  ];
  const where = [
    `audit:     DynamoDB ${ctx.workflowAuditTable} / ${ctx.jobAuditTable}, workflow_execution_id = ${f('$.detail.workflow_execution_id')}`,
    `time:      ${f('$.time')} (${f('$.region')}, account ${f('$.account')})`,
  ];
  switch (routeId) {
    case 'alert-job-failed':
      return [
        `rsqlo: job ${f('$.detail.job_name')} ${f('$.detail.status')}`,
        ...head,
        `job:       ${f('$.detail.job_key')} ${f('$.detail.job_name')} (stage ${f('$.detail.stage')}, attempt ${f('$.detail.attempt')})`,
        `status:    ${f('$.detail.status')} (exit code ${f('$.detail.exit_code')}, reported by ${f('$.detail.reported_by')})`,
        `error:     ${f('$.detail.error_message')}`,
        `instance:  ${f('$.detail.instance_id')} (SSM command ${f('$.detail.ssm_command_id')})`,
        `log:       ${f('$.detail.log_location')} (CloudWatch Logs group ${ctx.jobLogGroup})`,
        ...where,
      ].join('\n');
    case 'alert-workflow-failed':
      return [
        `rsqlo: workflow ${f('$.detail.workflow_id')} ${f('$.detail.status')}`,
        ...head,
        `status:    ${f('$.detail.status')} at stage ${f('$.detail.failed_stage')} after ${f('$.detail.duration_ms')} ms`,
        `job:       ${f('$.detail.failed_jobs[0].job_key')} ${f('$.detail.failed_jobs[0].job_name')} ${f('$.detail.failed_jobs[0].status')} (exit code ${f('$.detail.failed_jobs[0].exit_code')})`,
        `error:     ${f('$.detail.failed_jobs[0].error_message')}`,
        `log:       ${f('$.detail.failed_jobs[0].log_location')} (CloudWatch Logs group ${ctx.jobLogGroup})`,
        `all failed jobs: ${f('$.detail.failed_jobs')}`,
        `counts:    ${f('$.detail.counts')}`,
        ...where,
      ].join('\n');
    case 'alert-workflow-rejected':
      return [
        `rsqlo: request for workflow ${f('$.detail.workflow_id')} rejected (${f('$.detail.reason')})`,
        ...head,
        `status:    rejected: ${f('$.detail.reason')}`,
        `error:     ${f('$.detail.message')}`,
        `log:       the starter's log group (Lambda) has the request`,
        ...where,
      ].join('\n');
    default:
      return [`rsqlo: ${f('$.detail-type')}`, ...head, `detail:    ${f('$.detail')}`, ...where].join('\n');
  }
}

export interface AlertsToSnsProps {
  /** The bus the alert rules watch. */
  bus: events.IEventBus;
  /** The alert routes (events/routing.ts ALERT_ROUTES). */
  routes: readonly AlertRoute[];
  /** `<stack>-` prefix of the rule names. */
  ruleNamePrefix: string;
  /** Email address subscribed to the topic. Default: no subscription. */
  email?: string;
  /** Where events go that EventBridge could not deliver to the topic. */
  deliveryDeadLetterQueue: sqs.IQueue;
  /** Named in the messages. */
  context: AlertContext;
}

/**
 * Alerts: an SNS topic encrypted with a customer managed KMS key (rotated yearly; its policy lets
 * EventBridge and CloudWatch alarms publish), TLS-only publishing, an optional email subscription,
 * and one bus rule per alert route with an input transformer that turns the event into a readable
 * message. Undeliverable alerts go to a dead-letter queue.
 */
export class AlertsToSns extends Construct {
  readonly topic: sns.Topic;
  readonly key: kms.Key;
  readonly rules: events.Rule[];

  constructor(scope: Construct, id: string, props: AlertsToSnsProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.key = new kms.Key(this, 'Key', {
      description: 'rsqlo alert topic encryption',
      enableKeyRotation: true,
    });
    for (const service of ['events.amazonaws.com', 'cloudwatch.amazonaws.com']) {
      this.key.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: `Allow${service.split('.')[0]}ToPublish`,
          principals: [new iam.ServicePrincipal(service)],
          actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          resources: ['*'],
          conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
        }),
      );
    }
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'rsqlo alerts',
      masterKey: this.key,
      enforceSSL: true,
    });
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarms',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    );
    if (props.email) this.topic.addSubscription(new subscriptions.EmailSubscription(props.email));
    this.rules = props.routes.map((route) => {
      const rule = new events.Rule(this, route.id, {
        eventBus: props.bus,
        ruleName: `${props.ruleNamePrefix}${route.id}`,
        description: route.description,
        eventPattern: toCdkEventPattern(route.pattern),
      });
      rule.addTarget(
        new targets.SnsTopic(this.topic, {
          message: events.RuleTargetInput.fromText(alertMessage(route.id, props.context)),
          deadLetterQueue: props.deliveryDeadLetterQueue,
          retryAttempts: 10,
          maxEventAge: Duration.hours(24),
        }),
      );
      return rule;
    });
  }
}
