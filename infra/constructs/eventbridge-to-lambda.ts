import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { EventPattern } from '../../events/pattern.js';
import type { RsqloFunction } from './rsqlo-function.js';

/** Turns a routing-table pattern (EventBridge JSON) into the CDK's typed pattern, key by key. */
export function toCdkEventPattern(pattern: EventPattern): events.EventPattern {
  const keys: Record<string, keyof events.EventPattern> = {
    version: 'version',
    id: 'id',
    'detail-type': 'detailType',
    source: 'source',
    account: 'account',
    time: 'time',
    region: 'region',
    resources: 'resources',
    detail: 'detail',
  };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(pattern)) {
    const key = keys[k];
    if (!key) throw new Error(`event pattern key "${k}" has no CDK equivalent`);
    out[key] = v;
  }
  return out as events.EventPattern;
}

/**
 * An IDestination that only names the queue: the grant is made by the construct (SendMessage
 * only), instead of the CDK default that also grants GetQueueAttributes and GetQueueUrl.
 */
export class QueueArnDestination implements lambda.IDestination {
  constructor(private readonly queue: sqs.IQueue) {}
  bind(): lambda.DestinationConfig {
    return { destination: this.queue.queueArn };
  }
}

/** One rule: a routing-table entry. */
export interface RuleSpec {
  /** Construct id and physical rule name suffix (the route id). */
  id: string;
  /** Physical rule name (`<stack>-<route id>`). */
  ruleName: string;
  description: string;
  /** EventBridge pattern, exactly as in the routing table. */
  pattern: EventPattern;
}

export interface EventBridgeToLambdaProps {
  /** The bus the rules are on. */
  bus: events.IEventBus;
  /** The rules that invoke the function (at least one). */
  rules: RuleSpec[];
  /** The function the rules invoke; its role gets SendMessage on the failure queue. */
  fn: RsqloFunction;
  /** Where events go that EventBridge could not deliver to the function. */
  deliveryDeadLetterQueue: sqs.IQueue;
  /** Where events go that the function failed on after its async retries. */
  failureDeadLetterQueue: sqs.IQueue;
  /** EventBridge delivery retries. Default 10. */
  deliveryRetryAttempts?: number;
  /** Default 24 hours (EventBridge's maximum). */
  deliveryMaxEventAge?: Duration;
  /** Lambda's retries of a failed asynchronous invocation. Default 2 (Lambda's maximum). */
  invocationRetryAttempts?: number;
  /** Default 6 hours (Lambda's maximum). */
  invocationMaxEventAge?: Duration;
  /**
   * Where the rules are created. Default: this construct. Rules that already exist elsewhere keep
   * their logical ids this way (a renamed logical id of a named rule fails the deploy: the new rule
   * is created before the old one is deleted).
   */
  ruleScope?: Construct;
}

/**
 * Bus rules invoking a function, with nothing lost silently: delivery failures go to a
 * dead-letter queue (the rule target's DLQ), processing failures too (the function's asynchronous
 * on-failure destination) after Lambda's retries. The function's role gets sqs:SendMessage on the
 * failure queue only (Lambda sends as the function).
 */
export class EventBridgeToLambda extends Construct {
  readonly rules: events.Rule[];

  constructor(scope: Construct, id: string, props: EventBridgeToLambdaProps) {
    super(scope, id);
    if (props.rules.length === 0) throw new Error(`${id}: no rule invokes the function`);
    this.rules = props.rules.map((r) => {
      const rule = new events.Rule(props.ruleScope ?? this, r.id, {
        eventBus: props.bus,
        ruleName: r.ruleName,
        description: r.description.slice(0, 512),
        eventPattern: toCdkEventPattern(r.pattern),
      });
      rule.addTarget(
        new targets.LambdaFunction(props.fn.function, {
          deadLetterQueue: props.deliveryDeadLetterQueue,
          retryAttempts: props.deliveryRetryAttempts ?? 10,
          maxEventAge: props.deliveryMaxEventAge ?? Duration.hours(24),
        }),
      );
      return rule;
    });
    props.fn.function.configureAsyncInvoke({
      retryAttempts: props.invocationRetryAttempts ?? 2,
      maxEventAge: props.invocationMaxEventAge ?? Duration.hours(6),
      onFailure: new QueueArnDestination(props.failureDeadLetterQueue),
    });
    props.fn.grant(
      'AsyncFailuresToDeadLetterQueue',
      ['sqs:SendMessage'],
      [props.failureDeadLetterQueue.queueArn],
    );
  }
}
