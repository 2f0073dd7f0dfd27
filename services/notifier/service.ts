/**
 * The notifier: turns an alert event into one readable alert per fact. Replays and at-least-once
 * delivery bring the same completion event (same `event_id`) more than once; the alert goes out
 * once per event id.
 *
 * Once, crash-safely, over a dedupe port: `claim(event_id)` takes the event for a lease (a
 * conditional put on AWS); the alert is published; `complete(event_id)` records it as sent for the
 * retention period. A second copy finds it sent (nothing to do) or claimed by a live lease (it
 * throws AlertInProgressError, so its delivery is retried and then finds it sent). A claim whose
 * holder died mid-publish expires and is taken over, so an alert is never lost, only — in that rare
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

export interface NotifierDeps {
  dedupe: AlertDedupe;
  publisher: AlertPublisher;
  context: AlertContext;
  /** How long a claim holds while its alert is published. Default 300 s. */
  leaseSeconds?: number;
  /** How long a sent alert is remembered. Default 30 days (longer than the bus archive replays). */
  retentionSeconds?: number;
}

export function createNotifierService(deps: NotifierDeps) {
  const lease = deps.leaseSeconds ?? 300;
  const retention = deps.retentionSeconds ?? 30 * 86_400;
  return {
    /** Publishes the alert of `event` unless it went out already; says which. */
    async notify(event: unknown): Promise<'published' | 'duplicate'> {
      const e = event as Partial<AlertEnvelope> | null;
      const eventId = e?.detail?.event_id;
      if (!e || typeof e['detail-type'] !== 'string' || typeof eventId !== 'string' || eventId === '')
        throw new NotAnAlertError('an alert event needs detail-type and detail.event_id');
      const claim = await deps.dedupe.claim(eventId, lease);
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
