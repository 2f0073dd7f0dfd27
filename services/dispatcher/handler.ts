/**
 * Lambda entry of the dispatcher's job queue (SQS batch of JobMessage), partial batch response:
 * each message starts the single-job wrapper of its attempt and marks the job Dispatched. A message
 * whose job must wait (retry backoff, `retryAfterSeconds`) is sent again with that delay (at most
 * SQS's 900 s; the next delivery re-checks the row and waits again if needed) and the original is
 * deleted. Not ChangeMessageVisibility + batch item failure: every such failure counts as a receive,
 * so a job waiting out a long backoff would reach the queue's maxReceiveCount and land, healthy, in
 * the dead-letter queue. A malformed message is logged and reported failed (no state change): after
 * maxReceiveCount it is in the dead-letter queue, visible.
 *
 * The wrapper's task entry (one command to one agent) is its own module and function,
 * services/dispatcher/task/handler.ts, so each role holds only what its entry calls: this one
 * starts wrappers and re-queues messages, and can never send an SSM command.
 *
 * Composition root at module scope; configuration is read once and a missing variable fails the
 * cold start with a message naming it.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { composeAws } from '../../runtime/aws/compose.js';
import { createLambdaLogger, loggerPort, logSummary, readJobMessage } from '../../runtime/aws/lambda-io.js';
import { readSettings } from '../../runtime/aws/settings.js';
import type { AgentFleet } from '../ports.js';
import { createDispatcherService } from './service.js';

const settings = readSettings([
  'configTable',
  // PoolCreated / PoolSlotFreed go out with the pool writes (the write's effects).
  'eventBus',
  'workflowAuditTable',
  'jobAuditTable',
  'jobQueueUrl',
  'wrapperStateMachineArn',
]);
const logger = createLambdaLogger('dispatcher');
const aws = composeAws(settings, { log: loggerPort(logger) });

/**
 * The queue entry never talks to agents (the task entry does): a fleet that says so if it is ever
 * asked, instead of an SSM client this function has no permission to use.
 */
const noAgents: AgentFleet = {
  pick: () => Promise.reject(new Error('the dispatcher queue entry does not dispatch to agents')),
  send: () => Promise.reject(new Error('the dispatcher queue entry does not dispatch to agents')),
};

const dispatcher = createDispatcherService({
  runs: aws.runs(),
  jobs: aws.jobs(),
  orchestrator: aws.orchestrator(),
  agents: noAgents,
  // Pool slots (issue 14): config table `pool:<NAME>` items; a job without a pool makes no call.
  pools: aws.pools(),
  clock: aws.clock,
  log: aws.log,
});
const queue = aws.queue();
const processor = new BatchProcessor(EventType.SQS);

async function handleMessage(record: SQSRecord): Promise<void> {
  const msg = readJobMessage(record, logger);
  const fields = {
    message_id: record.messageId,
    workflow_execution_id: msg.workflow_execution_id,
    job_key: msg.job_key,
    attempt: msg.attempt,
  };
  try {
    const result = await dispatcher.handleMessage(msg);
    if (result.ack) {
      logger.info('job message handled', { ...fields, note: result.note });
      return;
    }
    await queue.send([{ body: msg, delaySeconds: result.retryAfterSeconds }]);
    logger.info('job must wait; message sent again with a delay', {
      ...fields,
      retry_after_seconds: result.retryAfterSeconds,
    });
  } catch (err) {
    logger.error('job message failed; SQS will deliver it again', { ...fields, error: err as Error });
    throw err;
  }
}

/** The job queue's batch: each message handled alone, failures reported per message. */
export async function handler(event: SQSEvent, context?: Context): Promise<SQSBatchResponse> {
  if (context) logger.addContext(context);
  const response = await processPartialResponse(event, handleMessage, processor, {
    ...(context ? { context } : {}),
    throwOnFullBatchFailure: false,
  });
  logSummary(logger, 'job messages handled', {
    messages: event.Records.length,
    failed: response.batchItemFailures.length,
  });
  return response;
}
