/**
 * The notifier's AlertPublisher on Amazon SNS: one Publish to the alert topic per alert, the
 * subject and the multi-line message as the formatter wrote them (services/notifier/format.ts).
 *
 * Publish's limits (SNS API reference, Publish), checked before sending so that a request SNS would
 * refuse is never sent and the error names the problem:
 * - `Subject`: "Subjects must be UTF-8 text with no line breaks or control characters, and less
 *   than 100 characters long" (earlier editions: "ASCII text that begins with a letter, number, or
 *   punctuation mark"); an empty subject is refused (InvalidParameter). Held to the strictest
 *   form: 1–99 printable ASCII characters, the first not a space.
 * - `Message`: "messages must be UTF-8 encoded strings. By default, a message can be at most 256 KiB
 *   in size (262,144 bytes, not 262,144 characters)", and not empty.
 *
 * Throttling and server errors are retried (bounded, jittered) above the SDK's own attempts. SNS
 * Publish has no idempotency key on a standard topic: a request that timed out after SNS took it
 * may, when retried, send the alert twice — the dedupe (one alert per event id) is above this, in
 * the service; this adapter only sends.
 */
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { NonRetriableError } from '../../services/errors.js';
import type { AlertPublisher } from '../../services/notifier/service.js';
import { isServerError, isThrottling, type RetryOptions, withRetries } from './retry.js';

/** Publish's message limit: 256 KiB, counted in UTF-8 bytes. */
export const MAX_SNS_MESSAGE_BYTES = 262_144;
/** Publish's subject limit: "less than 100 characters". */
export const MAX_SNS_SUBJECT_CHARS = 99;

/** Half of a UTF-16 surrogate pair alone: no UTF-8 encoding exists for it. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** The alert breaks a Publish limit: sending it again will not help. */
export class AlertRejectedError extends NonRetriableError {
  override name = 'AlertRejectedError';
}

/** What is wrong with a Publish of this subject and message (empty when SNS takes it). */
export function snsPublishProblems(subject: string, message: string): string[] {
  const out: string[] = [];
  if (subject.length === 0) out.push('the subject is empty');
  else if (subject.length > MAX_SNS_SUBJECT_CHARS)
    out.push(`the subject has ${subject.length} characters (SNS takes fewer than 100)`);
  if (/[^\x20-\x7e]/.test(subject))
    out.push('the subject holds a line break, control or non-ASCII character');
  if (subject.startsWith(' ')) out.push('the subject starts with a space');
  const bytes = Buffer.byteLength(message, 'utf8');
  if (message.length === 0) out.push('the message is empty');
  if (bytes > MAX_SNS_MESSAGE_BYTES)
    out.push(`the message has ${bytes} bytes (SNS takes at most ${MAX_SNS_MESSAGE_BYTES})`);
  if (LONE_SURROGATE.test(message)) out.push('the message is not valid UTF-8 text (a lone surrogate)');
  return out;
}

export interface SnsAlertPublisherDeps {
  client: SNSClient;
  /** The alert topic. */
  topicArn: string;
  /** Retries of throttled or failed requests (default: 8 attempts, 25 ms … 2 s full jitter). */
  retry?: RetryOptions;
}

export function createSnsAlertPublisher(deps: SnsAlertPublisherDeps): AlertPublisher {
  return {
    async publish(alert) {
      const problems = snsPublishProblems(alert.subject, alert.message);
      if (problems.length)
        throw new AlertRejectedError(`SNS would refuse this alert: ${problems.join('; ')}`);
      await withRetries(
        'SNS Publish of an alert',
        () =>
          deps.client.send(
            new PublishCommand({ TopicArn: deps.topicArn, Subject: alert.subject, Message: alert.message }),
          ),
        (err) => isThrottling(err) || isServerError(err),
        deps.retry,
      );
    },
  };
}
