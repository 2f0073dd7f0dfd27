/**
 * The notifier: turns an alert event into one readable alert per fact. Replays and at-least-once
 * delivery bring the same completion event (same `event_id`) more than once; the alert goes out
 * once per event id.
 *
 * Once, crash-safely, over a dedupe port: `claim(event_id)` takes the event for a lease (a
 * conditional put on AWS); the alert is published; `complete(event_id)` records it as sent for the
 * retention period. A second copy finds it sent (nothing to do) or claimed by a live lease: then it
 * waits a little for the holder (the usual case: two copies delivered together, the first one
 * publishing right now) and returns `duplicate` once it is sent; if the holder is still at it after
 * the wait, the copy throws AlertInProgressError so its delivery is retried. A claim whose holder
 * died mid-publish expires (the lease is longer than the function may run, shorter than Lambda's
 * first asynchronous retry) and is taken over, so an alert is never lost, only — in that rare
 * crash — sent twice. A failed publish releases the claim and throws, so the delivery is retried.
 *
 * The formatter (format.ts) is the local runtime's too: `rsqlo serve --notify-command` can feed it
 * the same envelopes.
 */
import { type AlertContext, type AlertEnvelope, formatAlert } from './format.js';

/** What claiming an event id found. */
export type ClaimResult = 'claimed' | 'sent' | 'in-progress';

/** Remembers which alerts went out (DynamoDB conditional put with a TTL on AWS). */
export interface AlertDedupe {
  /** Takes `eventId` for `leaseSeconds` unless it was sent already or another holder's lease is live. */
  claim(eventId: string, leaseSeconds: number): Promise<ClaimResult>;
  /** Records `eventId` as sent (kept `retentionSeconds`, longer than any replay window). */
  complete(eventId: string, retentionSeconds: number): Promise<void>;
  /** Gives a claim back after a failed publish. */
  release(eventId: string): Promise<void>;
}

/** Sends one alert to the people (SNS on AWS). */
export interface AlertPublisher {
  publish(alert: { subject: string; message: string }): Promise<void>;
}

/** Another delivery of the same event is publishing its alert right now: retry later. */
export class AlertInProgressError extends Error {
  override name = 'AlertInProgressError';
}

/** The event is not an alert event rsqlo can read (no detail-type, detail or event_id). */
export class NotAnAlertError extends Error {
  override name = 'NotAnAlertError';
}

/**
 * How long a claim holds while its alert is published: 45 s. Longer than the notifier function's
 * timeout (30 s, infra/rsqlo-stack.ts), so a live holder is never overtaken; shorter than the
 * minute Lambda waits before retrying a failed asynchronous invocation, so the retry of a holder
 * that died takes its claim over.
 */
export const ALERT_LEASE_SECONDS = 45;

/**
 * How long a sent alert is remembered: 92 days, longer than the bus archive keeps events for
 * replay (90 days, infra/constructs/rsqlo-event-bus.ts), so a replay never alerts twice.
 */
export const ALERT_MEMORY_SECONDS = 92 * 86_400;

export interface NotifierDeps {
  dedupe: AlertDedupe;
  publisher: AlertPublisher;
  context: AlertContext;
  /** Default ALERT_LEASE_SECONDS. */
  leaseSeconds?: number;
  /** Default ALERT_MEMORY_SECONDS. */
  retentionSeconds?: number;
  /** How long a copy waits for another delivery's publish to finish. Default 5 s. */
  inProgressWaitMs?: number;
  /** Between two looks while waiting. Default 200 ms. */
  pollMs?: number;
  /** Default: a real timer. */
  sleep?: (ms: number) => Promise<void>;
}

/** What `notify` did: sent the alert, found it sent already, or (never returned) is retried. */
export type NotifyOutcome = 'published' | 'duplicate';

export function createNotifierService(deps: NotifierDeps) {
  const lease = deps.leaseSeconds ?? ALERT_LEASE_SECONDS;
  const retention = deps.retentionSeconds ?? ALERT_MEMORY_SECONDS;
  const waitMs = deps.inProgressWaitMs ?? 5_000;
  const pollMs = deps.pollMs ?? 200;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  return {
    /** Publishes the alert of `event` unless it went out already; says which. */
    async notify(event: unknown): Promise<NotifyOutcome> {
      const e = event as Partial<AlertEnvelope> | null;
      const eventId = e?.detail?.event_id;
      if (!e || typeof e['detail-type'] !== 'string' || typeof eventId !== 'string' || eventId === '')
        throw new NotAnAlertError('an alert event needs detail-type and detail.event_id');
      let claim = await deps.dedupe.claim(eventId, lease);
      for (let waited = 0; claim === 'in-progress' && waited < waitMs; waited += pollMs) {
        await sleep(pollMs);
        claim = await deps.dedupe.claim(eventId, lease);
      }
      if (claim === 'sent') return 'duplicate';
      if (claim === 'in-progress')
        throw new AlertInProgressError(`the alert of ${eventId} is being published by another delivery`);
      const alert = formatAlert(e as AlertEnvelope, deps.context);
      try {
        await deps.publisher.publish(alert);
      } catch (err) {
        await deps.dedupe.release(eventId);
        throw err;
      }
      await deps.dedupe.complete(eventId, retention);
      return 'published';
    },
  };
}
