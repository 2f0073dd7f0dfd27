import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';

export interface SafeQueueProps {
  /** Default 4 days (SQS's default); dead-letter queues get 14 days. */
  retentionPeriod?: Duration;
  /** Default 30 seconds. */
  visibilityTimeout?: Duration;
  /** Where messages go after too many receives. Default none (dead-letter queues themselves). */
  deadLetterQueue?: sqs.DeadLetterQueue;
}

/**
 * A queue with the safe defaults every rsqlo queue shares: SQS-managed server-side encryption
 * (no key policy for senders to get wrong), TLS enforced by the queue policy, and removal with the
 * stack (queues hold transient messages, the tables hold the truth).
 */
export function safeQueue(scope: Construct, id: string, props: SafeQueueProps = {}): sqs.Queue {
  return new sqs.Queue(scope, id, {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: props.retentionPeriod,
    visibilityTimeout: props.visibilityTimeout,
    deadLetterQueue: props.deadLetterQueue,
    removalPolicy: RemovalPolicy.DESTROY,
  });
}

/** A dead-letter queue: like `safeQueue`, keeping messages the longest SQS allows (14 days). */
export function deadLetterQueue(scope: Construct, id: string): sqs.Queue {
  return safeQueue(scope, id, { retentionPeriod: Duration.days(14) });
}
