import { Duration } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { deadLetterQueue, safeQueue } from './queues.js';
import type { RsqloFunction } from './rsqlo-function.js';

export interface SqsToLambdaProps {
  /** The consumer; its role gets the poller's permissions on the queue. */
  fn: RsqloFunction;
  /** Receives before a message moves to the dead-letter queue. Default 5. */
  maxReceiveCount?: number;
  /** Messages per invocation. Default 10. */
  batchSize?: number;
  /** Concurrent invocations the queue may drive (2–1000). Default 5. */
  maxConcurrency?: number;
  /**
   * Visibility timeout. Default six times the function's timeout (AWS's advice, so a message is not
   * redelivered while a slow batch is still being processed).
   */
  visibilityTimeout?: Duration;
}

/**
 * A queue feeding a function: encrypted, TLS-only, with a dead-letter queue (redrive after
 * `maxReceiveCount` receives), partial batch responses (one bad message does not fail the batch)
 * and a concurrency cap. The function's role gets exactly what Lambda's poller needs on the queue
 * (ReceiveMessage, DeleteMessage, GetQueueAttributes).
 */
export class SqsToLambda extends Construct {
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly mapping: lambda.EventSourceMapping;

  constructor(scope: Construct, id: string, props: SqsToLambdaProps) {
    super(scope, id);
    const fnTimeout = props.fn.function.timeout ?? Duration.seconds(3);
    this.deadLetterQueue = deadLetterQueue(this, 'DeadLetterQueue');
    this.queue = safeQueue(this, 'Queue', {
      visibilityTimeout: props.visibilityTimeout ?? Duration.seconds(fnTimeout.toSeconds() * 6),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount ?? 5 },
    });
    this.mapping = new lambda.EventSourceMapping(this, 'Mapping', {
      target: props.fn.function,
      eventSourceArn: this.queue.queueArn,
      batchSize: props.batchSize ?? 10,
      maxConcurrency: props.maxConcurrency ?? 5,
      reportBatchItemFailures: true,
    });
    props.fn.grant(
      'PollJobQueue',
      ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
      [this.queue.queueArn],
    );
  }
}
