/**
 * The job queue on SQS. SendMessageBatch takes at most 10 entries, and its payload (the sum of the
 * message bodies; we send no attributes) must fit 256 KiB — SQS raised the limit to 1 MiB in 2025,
 * but a queue whose MaximumMessageSize is still 256 KiB refuses more, so the lower bound is used
 * (a JobMessage is ~200 bytes). DelaySeconds is at most 900 per message: a longer backoff is sent
 * with 900 and the dispatcher, which checks the job's `not_before`, hides it again for the rest.
 * Entries SQS reports as failed are sent again, alone, with a jittered backoff, a bounded number of
 * times, unless SQS says the sender is at fault (the same entry would fail again).
 *
 * Sources: Amazon SQS API reference, SendMessageBatch (10 entries; "the maximum total payload size
 * (the sum of the individual lengths of all of the batched messages)"), SendMessage (DelaySeconds
 * 0–900), SendMessageBatchResultEntry / BatchResultErrorEntry (SenderFault).
 */

import {
  SendMessageBatchCommand,
  type SendMessageBatchCommandOutput,
  type SendMessageBatchRequestEntry,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { JobMessage } from '../../contracts/jobs.js';
import { NonRetriableError } from '../../services/errors.js';
import type { MessageQueue, OutgoingMessage } from '../../services/ports.js';
import { packBySize } from './batches.js';
import { backoffDelay, describeError, isServerError, isThrottling, type RetryOptions } from './retry.js';

/** Most entries in one SendMessageBatch request. */
export const MAX_SEND_BATCH_ENTRIES = 10;
/** Largest total payload of one SendMessageBatch request used here (256 KiB). */
export const MAX_SEND_BATCH_BYTES = 256 * 1024;
/** Longest delivery delay SQS accepts (15 minutes). */
export const MAX_DELAY_SECONDS = 900;

export interface SqsJobQueueDeps {
  client: SQSClient;
  queueUrl: string;
  /** Retries of failed entries and throttled requests (default: 8 attempts, 25 ms … 2 s full jitter). */
  retry?: RetryOptions;
}

/** The job queue: `send` for first sends, `ensureSent` (the same) for repairs. */
export interface SqsJobQueue extends MessageQueue {
  send(messages: OutgoingMessage[]): Promise<void>;
}

/** SQS refused a message for good (sender fault), or a body is over the batch limit alone. */
export class MessageRejectedError extends NonRetriableError {
  override name = 'MessageRejectedError';
}

/** Some entries still failed after every retry. */
export class MessageSendError extends Error {
  override name = 'MessageSendError';
}

/** DelaySeconds SQS accepts for a wanted delay: whole seconds in 0…900. */
export function sqsDelaySeconds(wanted: number | undefined): number {
  if (wanted === undefined || !Number.isFinite(wanted) || wanted <= 0) return 0;
  return Math.min(MAX_DELAY_SECONDS, Math.ceil(wanted));
}

/** Packs entries, in order, into requests of at most 10 entries and 256 KiB of bodies. */
export function packMessages(
  entries: readonly SendMessageBatchRequestEntry[],
): SendMessageBatchRequestEntry[][] {
  return packBySize(entries, {
    maxEntries: MAX_SEND_BATCH_ENTRIES,
    maxBytes: MAX_SEND_BATCH_BYTES,
    sizeOf: (e) => Buffer.byteLength(e.MessageBody ?? '', 'utf8'),
    tooLarge: (_e, size) =>
      new MessageRejectedError(`a queue message of ${size} bytes is over ${MAX_SEND_BATCH_BYTES}`),
  });
}

/** The job queue over one SQS queue URL (default retries: 8 attempts, 25 ms … 2 s full jitter). */
export function createSqsJobQueue(deps: SqsJobQueueDeps): SqsJobQueue {
  const { client, queueUrl } = deps;
  const retry = deps.retry ?? {};
  const maxAttempts = retry.maxAttempts ?? 8;
  const sleep = retry.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));

  async function sendBatch(batch: SendMessageBatchRequestEntry[]): Promise<void> {
    let pending = batch;
    let lastProblem = '';
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      if (attempt > 1) await sleep(backoffDelay(attempt - 1, retry));
      let out: SendMessageBatchCommandOutput;
      try {
        out = await client.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: pending }));
      } catch (err) {
        if (!isThrottling(err) && !isServerError(err)) throw err;
        lastProblem = describeError(err);
        continue;
      }
      const failed = out.Failed ?? [];
      if (failed.length === 0) return;
      const permanent = failed.find((f) => f.SenderFault);
      if (permanent) {
        throw new MessageRejectedError(
          `SQS refused a job message: ${permanent.Code}: ${permanent.Message ?? ''}`,
        );
      }
      const ids = new Set(failed.map((f) => f.Id));
      pending = pending.filter((e) => ids.has(e.Id));
      lastProblem = failed.map((f) => f.Code).join(', ');
    }
    throw new MessageSendError(
      `${pending.length} job message(s) not accepted by SQS after ${maxAttempts} attempts (${lastProblem})`,
    );
  }

  async function send(messages: OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const entries = messages.map(
      (m, i): SendMessageBatchRequestEntry => ({
        // Unique within a request (alphanumerics, - and _, at most 80).
        Id: `m${i}`,
        MessageBody: JSON.stringify(m.body satisfies JobMessage),
        DelaySeconds: sqsDelaySeconds(m.delaySeconds),
      }),
    );
    for (const batch of packMessages(entries)) await sendBatch(batch);
  }

  return { send, ensureSent: send };
}
