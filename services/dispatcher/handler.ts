/**
 * Lambda entries of the dispatcher.
 *
 * - `handler`: the job queue (SQS batch of JobMessage), partial batch response. A message whose job
 *   must wait (retry backoff, `retryAfterSeconds`) is sent again with that delay (at most SQS's 900 s;
 *   the next delivery re-checks the row and waits again if needed) and the original is deleted.
 *   Not ChangeMessageVisibility + batch item failure: every such failure counts as a receive, so a
 *   job waiting out a long backoff would reach the queue's maxReceiveCount and land, healthy, in the
 *   dead-letter queue. A malformed message is logged and reported failed (no state change): after
 *   maxReceiveCount it is in the dead-letter queue, visible.
 * - `taskHandler`: the wrapper's Dispatch state (lambda:invoke.waitForTaskToken, payload
 *   `{ task_token, job }`): picks one online agent and sends it one command. Errors keep their names
 *   (StaleTaskError, NoAgentAvailableError) for the state machine's Catch/Retry. Made idempotent on
 *   the task token (runtime/aws/idempotency.ts says why this one needs it).
 *
 * Composition root at module scope; configuration is read once and a missing variable fails the
 * cold start with a message naming it.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { IdempotencyAlreadyInProgressError, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { TaskRequest } from '../../contracts/jobs.js';
import { composeAws } from '../../runtime/aws/compose.js';
import { createTaskIdempotency } from '../../runtime/aws/idempotency.js';
import {
  createLambdaLogger,
  loggerPort,
  readJobMessage,
  readTaskRequest,
  redactToken,
} from '../../runtime/aws/lambda-io.js';
import { readSettings } from '../../runtime/aws/settings.js';
import { NoAgentAvailableError, StaleTaskError } from '../errors.js';
import { createDispatcherService } from './service.js';

const settings = readSettings(
  [
    'workflowAuditTable',
    'jobAuditTable',
    'jobQueueUrl',
    'wrapperStateMachineArn',
    'ssmDocument',
    'idempotencyTable',
  ],
  ['agentInstanceIds', 'agentTag'],
);
const logger = createLambdaLogger('dispatcher');
const aws = composeAws(settings, { log: loggerPort(logger) });
const dispatcher = createDispatcherService({
  runs: aws.runs(),
  jobs: aws.jobs(),
  orchestrator: aws.orchestrator(),
  agents: aws.agents(),
  clock: aws.clock,
  log: aws.log,
});
const queue = aws.queue();
const idempotency = createTaskIdempotency({
  tableName: settings.idempotencyTable,
  client: aws.clients.dynamodb,
});
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

export async function handler(event: SQSEvent, context?: Context): Promise<SQSBatchResponse> {
  if (context) logger.addContext(context);
  return processPartialResponse(event, handleMessage, processor, {
    ...(context ? { context } : {}),
    throwOnFullBatchFailure: false,
  });
}

const dispatchTask = makeIdempotent((req: TaskRequest) => dispatcher.handleTask(req), idempotency);

export type TaskResult =
  | { instanceId: string; commandId: string | null }
  | { inProgress: true; job_run_name: string };

export async function taskHandler(event: unknown, context?: Context): Promise<TaskResult> {
  if (context) {
    logger.addContext(context);
    idempotency.config.registerLambdaContext(context);
  }
  const req = readTaskRequest(event, logger);
  const fields = { job_run_name: req.job.job_run_name, task_token: redactToken(req.task_token) };
  try {
    const result = await dispatchTask(req);
    logger.info('job dispatched to an agent', { ...fields, ...result });
    return result;
  } catch (err) {
    if (err instanceof IdempotencyAlreadyInProgressError) {
      // The same task is being dispatched by another invocation right now; the wrapper keeps waiting
      // for its token (a failure of that invocation ends as a heartbeat timeout).
      logger.warn('task already being dispatched by another invocation', fields);
      return { inProgress: true, job_run_name: req.job.job_run_name };
    }
    // The name is what the state machine matches: StaleTaskError ends the attempt quietly,
    // NoAgentAvailableError is retried, anything else reports the attempt Failed.
    const error = {
      error_name: err instanceof Error ? err.name : 'Error',
      error_message: String((err as Error)?.message ?? err),
    };
    if (err instanceof StaleTaskError || err instanceof NoAgentAvailableError) {
      logger.warn('task not dispatched', { ...fields, ...error });
    } else {
      logger.error('task dispatch failed', { ...fields, ...error });
    }
    throw err;
  }
}
