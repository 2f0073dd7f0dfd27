/**
 * EventPublisher on EventBridge. PutEvents takes at most 10 entries per request, and the entries of
 * one request together must stay under 256 KB as EventBridge measures them (the UTF-8 bytes of
 * Source, DetailType, Detail and each Resource, plus 14 for a Time): events are packed into requests
 * within both limits, and entries EventBridge reports as failed (FailedEntryCount, per-entry
 * ErrorCode) are sent again, alone, with a jittered backoff, a bounded number of times.
 *
 * Sources: Amazon EventBridge API reference, PutEvents (Entries: 1–10 items); EventBridge user guide,
 * "Calculating PutEvents event entry size" (the size rules and the 256 KB limit).
 */

import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import { EVENT_SOURCE, type RsqloEvent } from '../../contracts/events.js';
import { NonRetriableError } from '../../services/errors.js';
import type { EventPublisher } from '../../services/ports.js';
import { packBySize } from './batches.js';
import { backoffDelay, describeError, isServerError, isThrottling, type RetryOptions } from './retry.js';

/** Most entries in one PutEvents request. */
export const MAX_PUT_EVENTS_ENTRIES = 10;
/** Upper bound (exclusive) of the total entry size of one PutEvents request: 256 KB. */
export const MAX_PUT_EVENTS_BYTES = 256 * 1024;

/** Per-entry error codes that will not go away by sending again. */
const PERMANENT_ENTRY_ERRORS = [
  'MalformedDetail',
  'InvalidArgument',
  'AccessDeniedException',
  'NotAuthorizedForSourceException',
];

export interface EventBridgePublisherDeps {
  client: EventBridgeClient;
  /** Name or ARN of the bus. */
  eventBusName: string;
  /** Retries of failed entries and throttled requests (default: 8 attempts, 25 ms … 2 s full jitter). */
  retry?: RetryOptions;
}

/** An event cannot be put even alone (over the size limit, or refused as malformed). */
export class EventRejectedError extends NonRetriableError {
  override name = 'EventRejectedError';
}

/** Some entries still failed after every retry. */
export class EventPublishError extends Error {
  override name = 'EventPublishError';
}

/** The size EventBridge counts for an entry (see the file comment). */
export function putEventsEntrySize(entry: PutEventsRequestEntry): number {
  let size = entry.Time ? 14 : 0;
  size += Buffer.byteLength(entry.Source ?? '', 'utf8');
  size += Buffer.byteLength(entry.DetailType ?? '', 'utf8');
  if (entry.Detail) size += Buffer.byteLength(entry.Detail, 'utf8');
  for (const r of entry.Resources ?? []) size += Buffer.byteLength(r, 'utf8');
  return size;
}

/** Packs entries, in order, into requests of at most 10 entries and under 256 KB each. */
export function packEntries(entries: readonly PutEventsRequestEntry[]): PutEventsRequestEntry[][] {
  return packBySize(entries, {
    maxEntries: MAX_PUT_EVENTS_ENTRIES,
    // "Under" 256 KB: the total must stay strictly below the limit.
    maxBytes: MAX_PUT_EVENTS_BYTES - 1,
    sizeOf: putEventsEntrySize,
    tooLarge: (e, size) =>
      new EventRejectedError(
        `${e.DetailType} event is ${size} bytes; EventBridge takes entries under ${MAX_PUT_EVENTS_BYTES}`,
      ),
  });
}

/**
 * `publish` and `ensurePublished` both really publish: on AWS a redelivered handler re-derives
 * events from state because the first delivery may have crashed between its write and its publish.
 * Consumers dedupe on `event_id`.
 */
export function createEventBridgePublisher(deps: EventBridgePublisherDeps): EventPublisher {
  const { client, eventBusName } = deps;
  const retry = deps.retry ?? {};
  const maxAttempts = retry.maxAttempts ?? 8;
  const sleep = retry.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));

  const toEntry = (e: RsqloEvent): PutEventsRequestEntry => ({
    EventBusName: eventBusName,
    Source: EVENT_SOURCE,
    DetailType: e.detailType,
    Detail: JSON.stringify(e.detail),
  });

  async function putBatch(batch: PutEventsRequestEntry[]): Promise<void> {
    let pending = batch;
    let lastProblem = '';
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      if (attempt > 1) await sleep(backoffDelay(attempt - 1, retry));
      let failed: Array<{ entry: PutEventsRequestEntry; code: string; message: string }>;
      try {
        const out = await client.send(new PutEventsCommand({ Entries: pending }));
        if (!out.FailedEntryCount) return;
        // Response entries correspond to request entries by position.
        failed = pending.flatMap((entry, i) => {
          const r = out.Entries?.[i];
          return r?.ErrorCode ? [{ entry, code: r.ErrorCode, message: r.ErrorMessage ?? '' }] : [];
        });
        if (failed.length === 0) return;
      } catch (err) {
        if (!isThrottling(err) && !isServerError(err)) throw err;
        lastProblem = describeError(err);
        continue;
      }
      const permanent = failed.find((f) => PERMANENT_ENTRY_ERRORS.includes(f.code));
      if (permanent) {
        throw new EventRejectedError(
          `EventBridge refused a ${permanent.entry.DetailType} event: ${permanent.code}: ${permanent.message}`,
        );
      }
      pending = failed.map((f) => f.entry);
      lastProblem = failed.map((f) => `${f.entry.DetailType}: ${f.code}`).join(', ');
    }
    throw new EventPublishError(
      `${pending.length} event(s) not accepted by EventBridge after ${maxAttempts} attempts (${lastProblem})`,
    );
  }

  async function publish(events: RsqloEvent[]): Promise<void> {
    if (events.length === 0) return;
    for (const batch of packEntries(events.map(toEntry))) await putBatch(batch);
  }

  return { publish, ensurePublished: publish };
}
