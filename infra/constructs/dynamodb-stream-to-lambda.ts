import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { deadLetterQueue } from './queues.js';
import type { RsqloFunction } from './rsqlo-function.js';

/** An on-failure destination that only names the queue; the construct grants SendMessage itself. */
class QueueArnEventSourceDlq implements lambda.IEventSourceDlq {
  constructor(private readonly queue: sqs.IQueue) {}
  bind(): lambda.DlqDestinationConfig {
    return { destination: this.queue.queueArn };
  }
}

export interface DynamoDBStreamToLambdaProps {
  /** A table with a stream. */
  table: dynamodb.ITable;
  /** The consumer; its role gets the poller's and the dead-letter queue's permissions. */
  fn: RsqloFunction;
  /** Lambda event filter patterns (records that match none never invoke the function). */
  filters: readonly Record<string, unknown>[];
  /** Default 100. */
  batchSize?: number;
  /** Split a failing batch in two and retry each half, to isolate a poison record. Default true. */
  bisectBatchOnError?: boolean;
  /** Records older than this are sent to the on-failure destination. Default 1 day. */
  maxRecordAge?: Duration;
  /** Retries of a failing batch. Default 10. */
  retryAttempts?: number;
  /** Default 1: changes of one key are processed in order. */
  parallelizationFactor?: number;
}

/**
 * A DynamoDB stream feeding a function: filter criteria so only the changes it acts on invoke it,
 * partial batch responses, bisect-on-error, bounded retries and record age, and an on-failure
 * destination (an encrypted SQS dead-letter queue receiving the failed batch's stream
 * coordinates). The role gets what Lambda's poller needs on the stream and SendMessage on the
 * dead-letter queue.
 */
export class DynamoDBStreamToLambda extends Construct {
  readonly deadLetterQueue: sqs.Queue;
  readonly mapping: lambda.EventSourceMapping;

  constructor(scope: Construct, id: string, props: DynamoDBStreamToLambdaProps) {
    super(scope, id);
    const streamArn = props.table.tableStreamArn;
    if (!streamArn) throw new Error(`${id}: the table has no stream`);
    this.deadLetterQueue = deadLetterQueue(this, 'DeadLetterQueue');
    this.mapping = new lambda.EventSourceMapping(this, 'Mapping', {
      target: props.fn.function,
      eventSourceArn: streamArn,
      startingPosition: lambda.StartingPosition.TRIM_HORIZON,
      batchSize: props.batchSize ?? 100,
      bisectBatchOnError: props.bisectBatchOnError ?? true,
      maxRecordAge: props.maxRecordAge ?? Duration.days(1),
      retryAttempts: props.retryAttempts ?? 10,
      parallelizationFactor: props.parallelizationFactor ?? 1,
      reportBatchItemFailures: true,
      onFailure: new QueueArnEventSourceDlq(this.deadLetterQueue),
      filters: props.filters.map((f) => lambda.FilterCriteria.filter(f)),
    });
    props.fn.grant(
      'ReadJobAuditStream',
      ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'],
      [streamArn],
    );
    props.fn.grant('ListStreams', ['dynamodb:ListStreams'], ['*']);
    props.fn.grant('StreamFailuresToDeadLetterQueue', ['sqs:SendMessage'], [this.deadLetterQueue.queueArn]);
  }
}
