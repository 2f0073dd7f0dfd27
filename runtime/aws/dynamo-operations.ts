/**
 * The DynamoDB calls the repositories are built from, each with the retry and error handling its
 * semantics need: conditional single-item writes (a failed condition is an answer, not an error),
 * TransactWriteItems (cancellation reasons per item), paginated queries, bounded fan-out.
 */
import { randomUUID } from 'node:crypto';
import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  QueryCommand,
  type QueryCommandInput,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { backoffDelay, isServerError, isThrottling, type RetryOptions, withRetries } from './retry.js';

/** Most actions in one TransactWriteItems request (DynamoDB quota since 2022; was 25). */
export const MAX_TRANSACT_ITEMS = 100;

/** Cancellation reason codes DynamoDB reports per transaction item. */
export type CancellationCode =
  | 'None'
  | 'ConditionalCheckFailed'
  | 'TransactionConflict'
  | 'ThrottlingError'
  | 'ProvisionedThroughputExceeded'
  | 'RequestLimitExceeded'
  | 'ItemCollectionSizeLimitExceeded'
  | 'ValidationError'
  | (string & {});

/** Reasons that mean "try again", not "your condition failed" or "your request is wrong". */
const RETRYABLE_REASONS: readonly string[] = [
  'None',
  'TransactionConflict',
  'ThrottlingError',
  'ProvisionedThroughputExceeded',
  'RequestLimitExceeded',
];

/** Per-item reason codes of a TransactionCanceledException (empty for any other error). */
export function cancellationReasons(err: unknown): CancellationCode[] {
  if (!(err instanceof Error) || err.name !== 'TransactionCanceledException') return [];
  const reasons = (err as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons ?? [];
  return reasons.map((r) => r.Code ?? 'None');
}

/**
 * Whether a DynamoDB error is worth another attempt: throttling and capacity, a conflict with
 * another transaction (on a transaction or on a single item), the service failing, or a
 * transaction cancelled only for such reasons.
 */
export function isRetryableDynamoError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (isThrottling(err) || isServerError(err)) return true;
  if (
    err.name === 'TransactionConflictException' ||
    err.name === 'TransactionInProgressException' ||
    err.name === 'InternalServerError'
  ) {
    return true;
  }
  const reasons = cancellationReasons(err);
  return reasons.length > 0 && reasons.every((r) => RETRYABLE_REASONS.includes(r));
}

/** Outcome of a transaction: committed, or cancelled because some item's condition failed. */
export type TransactResult = { ok: true } | { ok: false; reasons: CancellationCode[] };

/**
 * Runs one TransactWriteItems. A cancellation in which some condition failed is returned with the
 * per-item reasons (in request order); conflicts and throttling are retried (bounded, jittered),
 * each attempt with a fresh ClientRequestToken so a lost response of a committed attempt is
 * answered by DynamoDB as a success when the SDK re-sends that same request.
 */
export async function transactWrite(
  client: DynamoDBDocumentClient,
  items: NonNullable<TransactWriteCommandInput['TransactItems']>,
  what: string,
  retry?: RetryOptions,
): Promise<TransactResult> {
  if (items.length === 0) return { ok: true };
  if (items.length > MAX_TRANSACT_ITEMS) {
    throw new Error(
      `${what}: ${items.length} actions in one transaction; DynamoDB allows ${MAX_TRANSACT_ITEMS}`,
    );
  }
  return withRetries(
    what,
    async (): Promise<TransactResult> => {
      try {
        await client.send(
          new TransactWriteCommand({ TransactItems: items, ClientRequestToken: randomUUID() }),
        );
        return { ok: true };
      } catch (err) {
        const reasons = cancellationReasons(err);
        if (reasons.includes('ConditionalCheckFailed')) return { ok: false, reasons };
        throw err;
      }
    },
    isRetryableDynamoError,
    retry,
  );
}

/**
 * One conditional UpdateItem returning the item afterwards (ALL_NEW), or undefined when the
 * condition failed. Conflicts and throttling are retried.
 */
export async function conditionalUpdate(
  client: DynamoDBDocumentClient,
  input: UpdateCommandInput,
  what: string,
  retry?: RetryOptions,
): Promise<Record<string, unknown> | undefined> {
  return withRetries(
    what,
    async () => {
      try {
        const out = await client.send(new UpdateCommand({ ReturnValues: 'ALL_NEW', ...input }));
        return out.Attributes ?? {};
      } catch (err) {
        if (err instanceof Error && err.name === 'ConditionalCheckFailedException') return undefined;
        throw err;
      }
    },
    isRetryableDynamoError,
    retry,
  );
}

/** Any call, retried on throttling, conflicts and server errors. */
export function retried<T>(what: string, fn: () => Promise<T>, retry?: RetryOptions): Promise<T> {
  return withRetries(what, fn, isRetryableDynamoError, retry);
}

/**
 * Items of a query in index order, following LastEvaluatedKey, until the query is exhausted, `max`
 * items were read, or `stop` (asked after each page with everything read so far) says enough.
 * Each page is retried on throttling.
 */
export async function queryAll(
  client: DynamoDBDocumentClient,
  input: QueryCommandInput,
  what: string,
  opts: { max?: number; stop?: (items: Record<string, unknown>[]) => boolean; retry?: RetryOptions } = {},
): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  const max = opts.max ?? Number.POSITIVE_INFINITY;
  let start = input.ExclusiveStartKey;
  do {
    const remaining = max - out.length;
    const limit = Number.isFinite(remaining) ? Math.min(remaining, input.Limit ?? remaining) : input.Limit;
    const page = await retried(
      what,
      () =>
        client.send(
          new QueryCommand({
            ...input,
            ExclusiveStartKey: start,
            ...(limit !== undefined ? { Limit: Math.max(1, limit) } : {}),
          }),
        ),
      opts.retry,
    );
    for (const item of page.Items ?? []) {
      if (out.length >= max) break;
      out.push(item);
    }
    start = page.LastEvaluatedKey;
  } while (start && out.length < max && !opts.stop?.(out));
  return out;
}

/** Most keys in one BatchGetItem request (DynamoDB quota). */
export const MAX_BATCH_GET_KEYS = 100;

/** Thrown when BatchGetItem still leaves keys unprocessed after every retry. */
export class UnprocessedKeysError extends Error {
  override name = 'UnprocessedKeysError';
  constructor(
    readonly what: string,
    readonly unprocessed: number,
  ) {
    super(`${what}: DynamoDB left ${unprocessed} key(s) unprocessed after every retry`);
  }
}

/**
 * The items of `keys` from one table, in the order of `keys` (a key whose item is gone is left
 * out): what a reader of a KEYS_ONLY global secondary index does after its query (runtime/aws/
 * tables.ts). BatchGetItem takes "up to 100 items" per request and "If you request more than 100
 * items, BatchGetItem returns a ValidationException"; it may return some keys as UnprocessedKeys
 * ("If DynamoDB returns any unprocessed items, you should retry the batch operation on those items
 * … we strongly recommend that you use an exponential backoff algorithm"), so each chunk is retried
 * on what is left, with backoff, up to the retry options' attempts.
 */
export async function batchGetAll(
  client: DynamoDBDocumentClient,
  table: string,
  keys: readonly Record<string, unknown>[],
  keyAttributes: readonly string[],
  what: string,
  opts: { consistentRead?: boolean; retry?: RetryOptions } = {},
): Promise<Record<string, unknown>[]> {
  const id = (item: Record<string, unknown>) => JSON.stringify(keyAttributes.map((a) => item[a]));
  const found = new Map<string, Record<string, unknown>>();
  const max = opts.retry?.maxAttempts ?? 8;
  for (const part of chunk(keys, MAX_BATCH_GET_KEYS)) {
    let pending: Record<string, unknown>[] = part.map((k) =>
      Object.fromEntries(keyAttributes.map((a) => [a, k[a]])),
    );
    for (let attempt = 1; pending.length > 0; attempt++) {
      if (attempt > 1) {
        if (attempt > max) throw new UnprocessedKeysError(what, pending.length);
        await (opts.retry?.sleep ?? ((ms) => new Promise<void>((r) => setTimeout(r, ms))))(
          backoffDelay(attempt - 1, opts.retry),
        );
      }
      const page = await retried(
        what,
        () =>
          client.send(
            new BatchGetCommand({
              RequestItems: { [table]: { Keys: pending, ConsistentRead: opts.consistentRead } },
            }),
          ),
        opts.retry,
      );
      for (const item of page.Responses?.[table] ?? []) found.set(id(item), item);
      pending = (page.UnprocessedKeys?.[table]?.Keys ?? []) as Record<string, unknown>[];
    }
  }
  return keys.flatMap((k) => {
    const item = found.get(id(k));
    return item ? [item] : [];
  });
}

/** Maps with at most `limit` calls in flight, keeping order; the first failure rejects and starts no more. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < items.length && !failed) {
      const i = next++;
      try {
        out[i] = await fn(items[i] as T, i);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Splits into chunks of at most `size`. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
