/**
 * Bounded, jittered retries for what AWS says is worth retrying: throttling, capacity and transaction
 * conflicts. The SDK clients retry transient errors of one request on their own (3 attempts, standard
 * mode); this covers what lies above one request: a transaction cancelled by a conflict, the
 * failed entries of a batch, a burst of throttling longer than the SDK's few attempts.
 */

/** How often and how long to retry. */
export interface RetryOptions {
  /** Attempts in all, the first included (default 8). */
  maxAttempts?: number;
  /** First backoff ceiling in ms (default 25); doubled per attempt. */
  baseDelayMs?: number;
  /** Largest backoff ceiling in ms (default 2000). */
  maxDelayMs?: number;
  /** Waits (default: a real timer); tests pass a recorder. */
  sleep?: (ms: number) => Promise<void>;
  /** Source of jitter in [0, 1) (default Math.random). */
  random?: () => number;
}

export const DEFAULT_RETRY: Required<Omit<RetryOptions, 'sleep' | 'random'>> = {
  maxAttempts: 8,
  baseDelayMs: 25,
  maxDelayMs: 2000,
};

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * "Full jitter" backoff (a random wait between 0 and min(max, base·2^attempt)): retries of many
 * callers that failed together spread out instead of colliding again.
 */
export function backoffDelay(attempt: number, opts: RetryOptions = {}): number {
  const base = opts.baseDelayMs ?? DEFAULT_RETRY.baseDelayMs;
  const max = opts.maxDelayMs ?? DEFAULT_RETRY.maxDelayMs;
  const ceiling = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
  return Math.floor((opts.random ?? Math.random)() * ceiling);
}

/** Thrown when every attempt failed with a retryable error; `cause` is the last one. */
export class RetriesExhaustedError extends Error {
  override name = 'RetriesExhaustedError';
  constructor(
    readonly what: string,
    readonly attempts: number,
    cause: unknown,
  ) {
    super(`${what}: still failing after ${attempts} attempts: ${describeError(cause)}`, { cause });
  }
}

/**
 * Calls `fn` until it succeeds, throws something `retryable` rejects, or attempts run out (then a
 * RetriesExhaustedError). `fn` gets the attempt number (1-based).
 */
export async function withRetries<T>(
  what: string,
  fn: (attempt: number) => Promise<T>,
  retryable: (err: unknown) => boolean,
  opts: RetryOptions = {},
): Promise<T> {
  const max = opts.maxAttempts ?? DEFAULT_RETRY.maxAttempts;
  const sleep = opts.sleep ?? realSleep;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (!retryable(err)) throw err;
      if (attempt >= max) throw new RetriesExhaustedError(what, attempt, err);
      await sleep(backoffDelay(attempt, opts));
    }
  }
}

/** Error names AWS services use for "slow down" (DynamoDB, SQS, EventBridge, SSM, Step Functions). */
export const THROTTLING_ERROR_NAMES = [
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'LimitExceededException',
] as const;

/** Whether an SDK error says the caller was throttled (by name, or the SDK's own classification). */
export function isThrottling(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if ((THROTTLING_ERROR_NAMES as readonly string[]).includes(err.name)) return true;
  const retryable = (err as { $retryable?: { throttling?: boolean } }).$retryable;
  return retryable?.throttling === true;
}

/** The HTTP status of an SDK error, when it has one. */
export function httpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}

/** Whether an SDK error is the service failing (5xx), not the request being wrong. */
export function isServerError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const status = httpStatus(err);
  if (status !== undefined && status >= 500) return true;
  return (err as { $fault?: string }).$fault === 'server';
}

/** A short, secret-free description of an error for messages and logs. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}
