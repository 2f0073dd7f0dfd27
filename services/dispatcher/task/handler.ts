/**
 * Lambda entry of the dispatcher's task (the single-job wrapper's Dispatch state,
 * lambda:invoke.waitForTaskToken, payload `{ task_token, job }`): picks one online agent and sends
 * it one command. Errors keep their names (StaleTaskError, NoAgentAvailableError) for the state
 * machine's Catch/Retry. Made idempotent on the task token (runtime/aws/idempotency.ts says why
 * this one needs it).
 *
 * Its own module (the queue entry is services/dispatcher/handler.ts), so its role holds only what it
 * calls: the job rows, the idempotency records and SSM; it can neither start wrappers nor send
 * queue messages. The file is named handler.ts because handler.ts files are the only Lambda-aware
 * files under services/ (ARCHITECTURE.md §3, test/architecture.test.ts).
 *
 * Composition root at module scope; configuration is read once and a missing variable fails the
 * cold start with a message naming it.
 */
import { IdempotencyAlreadyInProgressError, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import type { Context } from 'aws-lambda';
import type { TaskRequest } from '../../../contracts/jobs.js';
import { composeAws } from '../../../runtime/aws/compose.js';
import { createTaskIdempotency } from '../../../runtime/aws/idempotency.js';
import {
  createLambdaLogger,
  loggerPort,
  logSummary,
  readTaskRequest,
  redactToken,
} from '../../../runtime/aws/lambda-io.js';
import { readSettings } from '../../../runtime/aws/settings.js';
import { NoAgentAvailableError, StaleTaskError } from '../../errors.js';
import type { JobRunOrchestrator, PoolRepository } from '../../ports.js';
import { createDispatcherService } from '../service.js';

const settings = readSettings(
  ['workflowAuditTable', 'jobAuditTable', 'ssmDocument', 'idempotencyTable'],
  ['agentInstanceIds', 'agentTag'],
);
const logger = createLambdaLogger('dispatcher-task');
const aws = composeAws(settings, { log: loggerPort(logger) });

/**
 * The task entry never starts or stops wrappers (the queue entry starts them): an orchestrator that
 * says so if it is ever asked, instead of a Step Functions client this function may not use.
 */
const noWrappers: JobRunOrchestrator = {
  start: () => Promise.reject(new Error('the dispatcher task entry does not start wrappers')),
  stop: () => Promise.reject(new Error('the dispatcher task entry does not stop wrappers')),
};

/** Nor does it take pool slots (the queue entry takes them before the wrapper starts). */
const refusePools = () => Promise.reject(new Error('the dispatcher task entry does not take pool slots'));
const noPools: PoolRepository = {
  get: refusePools,
  list: refusePools,
  ensure: refusePools,
  resize: refusePools,
  acquire: refusePools,
  enqueue: refusePools,
  grant: refusePools,
  release: refusePools,
  dequeue: refusePools,
};

const dispatcher = createDispatcherService({
  runs: aws.runs(),
  jobs: aws.jobs(),
  orchestrator: noWrappers,
  agents: aws.agents(),
  pools: noPools,
  clock: aws.clock,
  log: aws.log,
});
const idempotency = createTaskIdempotency({
  tableName: settings.idempotencyTable,
  client: aws.clients.dynamodb,
});

const idempotentTask = makeIdempotent((req: TaskRequest) => dispatcher.handleTask(req), idempotency);

/**
 * The first try of an attempt (`dispatch` 0) goes straight to the service: its one command is
 * guarded by the job row itself (the host is claimed with a conditional write before the send, and
 * a repeat that finds the host claimed sends nothing), so an idempotency record would cost two more
 * writes per job and guard nothing. A retried Dispatch re-sends to the claimed host with its live
 * token; that send has no row write of its own in front of it, so a repeated invocation of a retry
 * goes through the idempotency record (one command per token).
 */
function dispatchTask(req: TaskRequest) {
  return (req.dispatch ?? 0) === 0 ? dispatcher.handleTask(req) : idempotentTask(req);
}

/** What the task entry returns (the wrapper ignores it: the agent's report ends the wait). */
export type TaskResult =
  | { instanceId: string; commandId: string | null }
  | { inProgress: true; job_run_name: string };

/** The wrapper's Dispatch state: one command carrying the job and its token, to one online agent. */
export async function taskHandler(event: unknown, context?: Context): Promise<TaskResult> {
  if (context) {
    logger.addContext(context);
    idempotency.config.registerLambdaContext(context);
  }
  const req = readTaskRequest(event, logger);
  const fields = { job_run_name: req.job.job_run_name, task_token: redactToken(req.task_token) };
  try {
    const result = await dispatchTask(req);
    logSummary(logger, 'job dispatched to an agent', { ...fields, ...result });
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
