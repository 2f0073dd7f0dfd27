import { Stack } from 'aws-cdk-lib';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { AlertRoute } from '../../events/routing.js';
import { ENV } from '../../runtime/aws/settings.js';
import { EventBridgeToLambda } from './eventbridge-to-lambda.js';
import type { RsqloFunction } from './rsqlo-function.js';

export interface AlertsToSnsProps {
  /** The bus the alert rules watch. */
  bus: events.IEventBus;
  /** The alert routes (events/routing.ts ALERT_ROUTES). */
  routes: readonly AlertRoute[];
  /** `<stack>-` prefix of the rule names. */
  ruleNamePrefix: string;
  /** Email address subscribed to the topic. Default: no subscription. */
  email?: string;
  /** The notifier function (services/notifier/handler.ts): every alert rule's target. */
  notifier: RsqloFunction;
  /** Where events go that EventBridge could not deliver to the notifier. */
  deliveryDeadLetterQueue: sqs.IQueue;
  /** Where events go that the notifier kept failing on (after Lambda's retries). */
  failureDeadLetterQueue: sqs.IQueue;
}

/**
 * Alerts: an SNS topic encrypted with a customer managed KMS key (rotated yearly; its policy lets
 * CloudWatch alarms publish), TLS-only publishing, an optional email subscription, and one bus rule
 * per alert route invoking the notifier, which formats the readable message in code and publishes it
 * once per event id (an input transformer could do neither: it inserts values unescaped and cannot
 * dedupe). Undeliverable and unprocessable alert events go to dead-letter queues (alarmed).
 *
 * The notifier gets the topic's ARN in its environment and, to publish to an encrypted topic, the
 * key's kms:GenerateDataKey* and kms:Decrypt (SNS developer guide, "Encryption at rest": publishers
 * need both on the topic's key). Its sns:Publish is granted with its code's other calls
 * (infra/permissions.ts).
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
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowcloudwatchToPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    );
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

    props.notifier.function.addEnvironment(ENV.alertTopicArn, this.topic.topicArn);
    props.notifier.grant(
      'PublishToEncryptedTopic',
      ['kms:GenerateDataKey*', 'kms:Decrypt'],
      [this.key.keyArn],
    );
    this.rules = new EventBridgeToLambda(this, 'Rules', {
      bus: props.bus,
      fn: props.notifier,
      rules: props.routes.map((r) => ({
        id: r.id,
        ruleName: `${props.ruleNamePrefix}${r.id}`,
        description: r.description,
        pattern: r.pattern,
      })),
      deliveryDeadLetterQueue: props.deliveryDeadLetterQueue,
      failureDeadLetterQueue: props.failureDeadLetterQueue,
      // The rules keep the logical ids they had when they targeted the topic.
      ruleScope: this,
    }).rules;
  }
}
