/**
 * JobRunOrchestrator on Step Functions: one execution of the single-job wrapper
 * (wrapper-definition.ts) per job attempt, named after it (`<execution>--<stage>-<job>--a<attempt>`).
 * The name makes starting idempotent: StartExecution with the name of an open execution and the
 * same input succeeds again, and ExecutionAlreadyExists (same name, other input, or an execution
 * that already ended) means it was started before — either way nothing runs twice.
 *
 * Sources: AWS Step Functions API reference, StartExecution (name rules, idempotency) and
 * StopExecution (error ≤ 256 and cause ≤ 32,768 characters; ExecutionDoesNotExist). Stopping an
 * execution that does not exist or has ended is not an error here: cancel only needs it not running.
 */
import {
  DescribeExecutionCommand,
  type SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import type { JobRunInput } from '../../contracts/jobs.js';
import type { JobRunOrchestrator } from '../../services/ports.js';
import { isServerError, isThrottling, type RetryOptions, withRetries } from './retry.js';

/** Error name the wrapper execution is stopped with on cancel. */
export const CANCELLED_ERROR = 'Cancelled';
/** Longest `cause` StopExecution accepts. */
export const MAX_STOP_CAUSE = 32_768;

export interface StepFunctionsOrchestratorDeps {
  client: SFNClient;
  /** ARN of the wrapper state machine. */
  stateMachineArn: string;
  /** Retries of throttled calls (default: 8 attempts, 25 ms … 2 s full jitter). */
  retry?: RetryOptions;
}

/** The ARN of a state machine's execution with this name (what StopExecution needs). */
export function executionArn(stateMachineArn: string, name: string): string {
  const parts = stateMachineArn.split(':');
  // arn:partition:states:region:account:stateMachine:name → …:execution:name:executionName
  if (parts.length < 7 || parts[5] !== 'stateMachine') {
    throw new Error(`not a state machine ARN: ${stateMachineArn}`);
  }
  return [...parts.slice(0, 5), 'execution', parts[6], name].join(':');
}

const retryable = (err: unknown) => isThrottling(err) || isServerError(err);

/** Starts and stops wrapper executions of one state machine (default retries: 8 attempts on throttling). */
export function createStepFunctionsOrchestrator(deps: StepFunctionsOrchestratorDeps): JobRunOrchestrator {
  const { client, stateMachineArn, retry } = deps;
  return {
    async start(input: JobRunInput) {
      return withRetries(
        `start wrapper ${input.job_run_name}`,
        async () => {
          try {
            await client.send(
              new StartExecutionCommand({
                stateMachineArn,
                name: input.job_run_name,
                input: JSON.stringify(input),
              }),
            );
            return 'started' as const;
          } catch (err) {
            if (err instanceof Error && err.name === 'ExecutionAlreadyExists') return 'exists' as const;
            throw err;
          }
        },
        retryable,
        retry,
      );
    },

    async stop(jobRunName: string, reason: string) {
      await withRetries(
        `stop wrapper ${jobRunName}`,
        async () => {
          try {
            await client.send(
              new StopExecutionCommand({
                executionArn: executionArn(stateMachineArn, jobRunName),
                error: CANCELLED_ERROR,
                cause: reason.slice(0, MAX_STOP_CAUSE),
              }),
            );
          } catch (err) {
            // Never started (cancelled while queued): nothing to stop.
            if (err instanceof Error && err.name === 'ExecutionDoesNotExist') return;
            if (retryable(err)) throw err;
            // Anything else: fine if the execution has ended already (finished or stopped before).
            const run = await client.send(
              new DescribeExecutionCommand({ executionArn: executionArn(stateMachineArn, jobRunName) }),
            );
            if (run.status !== 'RUNNING') return;
            throw err;
          }
        },
        retryable,
        retry,
      );
    },
  };
}
