/**
 * Amazon SNS Publish as the harness answers it (SNS has no emulator): every Publish to the alert
 * topic is recorded, and a request the service would refuse is refused with the service's error and
 * recorded as a violation.
 *
 * The rules, from the Amazon SNS API reference, Publish (the same text is in @aws-sdk/client-sns's
 * PublishInput documentation, generated from the service model), checked here independently of
 * the notifier's own checks so that the two cannot agree by construction:
 * - TopicArn: "If you don't specify a value for the TargetArn parameter, you must specify a value
 *   for the PhoneNumber or TopicArn parameters." A topic that does not exist: NotFound
 *   ("Indicates that the requested resource does not exist").
 * - Subject: "Constraints: Subjects must be UTF-8 text with no line breaks or control characters,
 *   and less than 100 characters long." An empty subject is refused (InvalidParameter).
 * - Message: "Constraints: With the exception of SMS, messages must be UTF-8 encoded strings. By
 *   default, a message can be at most 256 KiB in size (262,144 bytes, not 262,144 characters)."
 *   (A topic's MaximumMessageSize can raise it to 1 MiB; the alert topic keeps the default.)
 *   Message is required; an empty one is refused (InvalidParameter).
 * Violations answer InvalidParameter (HTTP 400), as the service does.
 */
import { randomUUID } from 'node:crypto';
import { InvalidParameterException, NotFoundException, type PublishInput } from '@aws-sdk/client-sns';

/** "less than 100 characters". */
const SUBJECT_MAX_CHARS = 99;
/** "262,144 bytes, not 262,144 characters". */
const MESSAGE_MAX_BYTES = 262_144;
/** Line breaks and control characters (C0, DEL, C1; U+2028/2029 are line breaks too). */
const LINE_BREAK_OR_CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export interface Published {
  messageId: string;
  topicArn: string;
  subject: string | undefined;
  message: string;
}

export class SnsSimulator {
  /** Every Publish SNS accepted, in order. */
  readonly published: Published[] = [];
  /** Every Publish SNS refused, with why. */
  readonly violations: string[] = [];

  constructor(private readonly topicArn: string) {}

  publish(input: PublishInput): { MessageId: string } {
    const problems: string[] = [];
    if (input.TopicArn !== this.topicArn) {
      const msg = `Topic does not exist: ${String(input.TopicArn)}`;
      this.violations.push(`Publish: ${msg}`);
      throw new NotFoundException({ message: msg, $metadata: { httpStatusCode: 404 } });
    }
    const subject = input.Subject;
    if (subject !== undefined) {
      // "less than 100 characters": characters as the service counts them (code points).
      const chars = [...subject].length;
      if (chars === 0) problems.push('Subject is empty');
      if (chars > SUBJECT_MAX_CHARS) problems.push(`Subject has ${chars} characters (less than 100 allowed)`);
      if (LINE_BREAK_OR_CONTROL.test(subject)) problems.push('Subject has a line break or control character');
      if (LONE_SURROGATE.test(subject)) problems.push('Subject is not UTF-8 text');
    }
    const message = input.Message;
    if (message === undefined || message === '') problems.push('Empty message');
    else {
      const bytes = Buffer.byteLength(message, 'utf8');
      if (bytes > MESSAGE_MAX_BYTES) problems.push(`Message has ${bytes} bytes (at most 262,144 allowed)`);
      if (LONE_SURROGATE.test(message)) problems.push('Message is not UTF-8 encoded');
    }
    if (problems.length) {
      this.violations.push(`Publish: ${problems.join('; ')}`);
      throw new InvalidParameterException({
        message: `Invalid parameter: ${problems.join('; ')}`,
        $metadata: { httpStatusCode: 400 },
      });
    }
    const messageId = randomUUID();
    this.published.push({ messageId, topicArn: this.topicArn, subject, message: message as string });
    return { MessageId: messageId };
  }
}
