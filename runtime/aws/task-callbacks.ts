/**
 * The agent's side of the single-job wrapper's task token (ARCHITECTURE.md §4): SendTaskHeartbeat while a
 * job runs, then SendTaskSuccess or SendTaskFailure (error `JobFailed`) once it ended.
 *
 * Step Functions answers `TaskTimedOut` or `TaskDoesNotExist` when the wrapper no longer waits for
 * this token: the attempt timed out, lost its heartbeat, or was stopped (cancel). That is not an
 * error for the agent but a fact it acts on (it kills the job), so it comes back as a typed
 * {@link TaskCallbackResult} `gave-up`. Throttling, 5xx and network failures are retried here with
 * jittered exponential backoff; what is left after that is thrown as
 * {@link TaskCallbackUnavailableError} (the daemon keeps the report on disk and tries again later).
 * A request Step Functions will never accept (`InvalidToken`, `InvalidOutput`, a validation error)
 * is thrown as {@link TaskCallbackRejectedError}, a NonRetriableError.
 *
 * The token is a credential for one execution: it never appears in full in a log line or an error
 * message ({@link redactToken}).
 */
import {
  DescribeExecutionCommand,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import { NonRetriableError } from '../../services/errors.js';
import type { Logger } from '../../services/ports.js';
import {
  httpStatus,
  isServerError,
  isThrottling,
  RetriesExhaustedError,
  type RetryOptions,
  withRetries,
} from './retry.js';
import { JOB_FAILED_ERROR } from './wrapper-definition.js';

// ---------------------------------------------------------------------------------------------
// Retry policy of the agent's AWS calls (task callbacks, CloudWatch Logs, Secrets Manager)
// ---------------------------------------------------------------------------------------------

/**
 * The agent's default retry: 5 attempts, 200 ms doubling to 5 s, full jitter (runtime/aws/retry.ts).
 * Longer than the Lambdas' because an agent host rides out network blips rather than failing fast;
 * what is left after it is the daemon's to retry later (its reports wait in the spool).
 */
export const AGENT_RETRY: RetryOptions = { maxAttempts: 5, baseDelayMs: 200, maxDelayMs: 5000 };

/**
 * Whether an AWS SDK error is worth retrying: throttling, server faults (5xx), and failures with no
 * HTTP response at all (network down, DNS, timeouts, the instance credentials endpoint not
 * answering). A client fault (4xx other than throttling: bad token, bad parameter, access denied) is
 * permanent.
 */
export function isTransientAwsError(err: unknown): boolean {
  if (err instanceof RetriesExhaustedError) return true;
  if (isThrottling(err) || isServerError(err)) return true;
  if (typeof err !== 'object' || err === null) return true;
  const e = err as { $retryable?: unknown; $fault?: string };
  if (e.$retryable) return true;
  const status = httpStatus(err);
  if (status === 429) return true;
  if (e.$fault === 'client') return false;
  return status === undefined || status >= 500;
}

/** Runs `call` with {@link AGENT_RETRY} (or `opts`) while {@link isTransientAwsError} says so. */
export function retryTransient<T>(
  what: string,
  call: () => Promise<T>,
  opts: RetryOptions = AGENT_RETRY,
  retryable: (err: unknown) => boolean = isTransientAwsError,
): Promise<T> {
  return withRetries(what, () => call(), retryable, { ...AGENT_RETRY, ...opts });
}

/** The root cause of a retried failure (the SDK error inside a RetriesExhaustedError). */
export function rootError(err: unknown): unknown {
  return err instanceof RetriesExhaustedError ? err.cause : err;
}

/** An error's name and message for a log line, with `secret` (when given) blanked out. */
export function errorText(err: unknown, secret?: string): string {
  const e = err as { name?: string; message?: string } | null;
  let text = e?.message !== undefined ? `${e.name ?? 'Error'}: ${e.message}` : String(err);
  if (secret) text = text.split(secret).join(redactToken(secret));
  return text;
}

// ---------------------------------------------------------------------------------------------
// Task callbacks
// ---------------------------------------------------------------------------------------------

/**
 * A task token shortened for log lines: its first 6 and last 4 characters and its length. Enough
 * to tell two tokens apart in a log, useless to call Step Functions with.
 */
export function redactToken(token: string): string {
  if (token.length <= 16) return `…(${token.length} chars)`;
  return `${token.slice(0, 6)}…${token.slice(-4)}(${token.length} chars)`;
}

/** Step Functions error names that mean the wrapper no longer waits for this token. */
export const GAVE_UP_ERRORS = ['TaskTimedOut', 'TaskDoesNotExist'] as const;
export type GaveUpReason = (typeof GAVE_UP_ERRORS)[number];

/**
 * What a callback achieved: `delivered`, or `gave-up` when the orchestrator no longer waits for
 * this attempt (timed out, heartbeat lost, stopped). After `gave-up` the agent kills the job.
 */
export type TaskCallbackResult = { outcome: 'delivered' } | { outcome: 'gave-up'; reason: GaveUpReason };

/** Step Functions did not answer (throttled, 5xx, network) even after retries: try again later. */
export class TaskCallbackUnavailableError extends Error {
  override name = 'TaskCallbackUnavailableError';
}

/** Step Functions refused the request for good (bad token or output): retrying cannot help. */
export class TaskCallbackRejectedError extends NonRetriableError {
  override name = 'TaskCallbackRejectedError';
}

/** Step Functions limits: `error` ≤ 256 characters, `cause` ≤ 32,768, `output` ≤ 256 KiB. */
export const TASK_LIMITS = { errorChars: 256, causeChars: 32_768, outputBytes: 262_144 } as const;

/** The port the agent daemon reports through; {@link createTaskCallbacks} implements it on Step Functions. */
export interface TaskCallbacks {
  /** The attempt completed; `output` becomes the wrapper's `$.report` (a JSON object). */
  success(token: string, output: Record<string, unknown>): Promise<TaskCallbackResult>;
  /** The attempt did not complete; error defaults to `JobFailed` (the wrapper ends quietly on it). */
  failure(token: string, cause: string, error?: string): Promise<TaskCallbackResult>;
  /** The job is still running. */
  heartbeat(token: string): Promise<TaskCallbackResult>;
  /**
   * Whether the wrapper execution of an attempt still runs (DescribeExecution). The agent asks after
   * a callback answered TaskTimedOut: a Task state's token is replaced when the state is retried (a
   * retried Dispatch), so a refused token does not by itself mean the attempt is over. Optional: a
   * port without it makes every refused token final (the behaviour before).
   */
  executionRunning?(executionArn: string): Promise<boolean>;
}

export interface TaskCallbackDeps {
  client: SFNClient;
  /** Default {@link AGENT_RETRY}. */
  retry?: RetryOptions;
  log?: Logger;
}

function gaveUpReason(err: unknown): GaveUpReason | undefined {
  const name = (err as { name?: string })?.name;
  return (GAVE_UP_ERRORS as readonly string[]).includes(name ?? '') ? (name as GaveUpReason) : undefined;
}

/** Cuts a string to at most `max` characters, keeping its end (where a script's error is). */
function keepEnd(text: string, max: number): string {
  return text.length <= max ? text : `…${text.slice(-(max - 1))}`;
}

/**
 * Task callbacks over Step Functions (AWS SDK v3). Every call retries transient failures and maps
 * `TaskTimedOut` / `TaskDoesNotExist` to `{ outcome: 'gave-up' }`.
 */
export function createTaskCallbacks(deps: TaskCallbackDeps): TaskCallbacks {
  const { client, retry, log } = deps;

  async function call(
    what: 'SendTaskSuccess' | 'SendTaskFailure' | 'SendTaskHeartbeat',
    token: string,
    send: () => Promise<unknown>,
  ): Promise<TaskCallbackResult> {
    try {
      await retryTransient(
        what,
        send,
        retry,
        (err) => gaveUpReason(err) === undefined && isTransientAwsError(err),
      );
      return { outcome: 'delivered' };
    } catch (caught) {
      const err = rootError(caught);
      const reason = gaveUpReason(err);
      if (reason) {
        log?.info(`${what}: the orchestrator no longer waits for this task`, {
          reason,
          task_token: redactToken(token),
        });
        return { outcome: 'gave-up', reason };
      }
      const message = `${what} for task ${redactToken(token)} failed: ${errorText(err, token)}`;
      if (isTransientAwsError(caught)) throw new TaskCallbackUnavailableError(message, { cause: err });
      throw new TaskCallbackRejectedError(message);
    }
  }

  return {
    success(token, output) {
      let json = JSON.stringify(output);
      if (Buffer.byteLength(json) > TASK_LIMITS.outputBytes) json = JSON.stringify({ truncated: true });
      return call('SendTaskSuccess', token, () =>
        client.send(new SendTaskSuccessCommand({ taskToken: token, output: json })),
      );
    },
    failure(token, cause, error = JOB_FAILED_ERROR) {
      return call('SendTaskFailure', token, () =>
        client.send(
          new SendTaskFailureCommand({
            taskToken: token,
            error: error.slice(0, TASK_LIMITS.errorChars),
            cause: keepEnd(cause, TASK_LIMITS.causeChars),
          }),
        ),
      );
    },
    heartbeat(token) {
      return call('SendTaskHeartbeat', token, () =>
        client.send(new SendTaskHeartbeatCommand({ taskToken: token })),
      );
    },
    async executionRunning(executionArn) {
      try {
        const out = await retryTransient('DescribeExecution', () =>
          client.send(new DescribeExecutionCommand({ executionArn })),
        );
        return out.status === 'RUNNING';
      } catch (caught) {
        const err = rootError(caught);
        // An execution Step Functions does not know (any more) is not running.
        if ((err as { name?: string })?.name === 'ExecutionDoesNotExist') return false;
        const message = `DescribeExecution failed: ${errorText(err)}`;
        if (isTransientAwsError(caught)) throw new TaskCallbackUnavailableError(message, { cause: err });
        throw new TaskCallbackRejectedError(message);
      }
    },
  };
}
