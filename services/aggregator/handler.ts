/**
 * Lambda entry of the aggregator: a batch of job audit stream records (filtered by
 * AGGREGATOR_STREAM_FILTERS), processed in stream order with partial batch responses. A record
 * that is not a valid job row is logged and reported as failed without changing anything; the
 * others are processed. Composition root at module scope; configuration is read once and a missing
 * variable fails the cold start with a message naming it.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { composeAws } from '../../runtime/aws/compose.js';
import { createLambdaLogger, loggerPort, logSummary, readJobChange } from '../../runtime/aws/lambda-io.js';
import { readSettings } from '../../runtime/aws/settings.js';
import { createAggregatorService } from './service.js';

const settings = readSettings([
  'configTable',
  'workflowAuditTable',
  'jobAuditTable',
  'eventBus',
  'jobQueueUrl',
]);
const logger = createLambdaLogger('aggregator');
const aws = composeAws(settings, { log: loggerPort(logger) });
const aggregator = createAggregatorService({
  runs: aws.runs(),
  jobs: aws.jobs(),
  events: aws.events(),
  // A final job with a pool gives its slot back (config table `pool:<NAME>` items; issue 14).
  pools: aws.pools(),
  // The stream is the outbox of Pending → Queued: the aggregator re-sends those messages.
  queue: aws.queue(),
  clock: aws.clock,
  log: aws.log,
});
const processor = new BatchProcessor(EventType.DynamoDBStreams);

async function handleRecord(record: DynamoDBRecord): Promise<void> {
  const job = readJobChange(record, logger);
  try {
    await aggregator.handleJobChange(job);
  } catch (err) {
    logger.error('job change failed; the stream will deliver it again', {
      sequence_number: record.dynamodb?.SequenceNumber,
      workflow_execution_id: job.workflow_execution_id,
      job_key: job.job_key,
      attempt: job.attempt,
      execution_status: job.execution_status,
      error: err as Error,
    });
    throw err;
  }
}

export async function handler(event: DynamoDBStreamEvent, context?: Context): Promise<DynamoDBBatchResponse> {
  if (context) logger.addContext(context);
  // In order: the changes of one job arrive in the order they were written.
  const response = await processPartialResponse(event, handleRecord, processor, {
    ...(context ? { context } : {}),
    processInParallel: false,
    throwOnFullBatchFailure: false,
  });
  logSummary(logger, 'job changes handled', {
    records: event.Records.length,
    failed: response.batchItemFailures.length,
  });
  return response;
}
