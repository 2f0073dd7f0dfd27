import {
  InvalidParameterException,
  PublishCommand,
  SNSClient,
  ThrottledException,
} from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { type AlertEnvelope, formatAlert } from '../../services/notifier/format.js';
import { RetriesExhaustedError } from './retry.js';
import {
  AlertRejectedError,
  createSnsAlertPublisher,
  MAX_SNS_MESSAGE_BYTES,
  MAX_SNS_SUBJECT_CHARS,
  snsPublishProblems,
} from './sns-alert-publisher.js';

/*
 * Amazon SNS API reference, Publish:
 * - Subject: "Constraints: Subjects must be UTF-8 text with no line breaks or control characters,
 *   and less than 100 characters long." (earlier editions: "Subjects must be ASCII text that begins
 *   with a letter, number, or punctuation mark; must not include line breaks or control characters;
 *   and must be less than 100 characters long.")
 * - Message: "With the exception of SMS, messages must be UTF-8 encoded strings. By default, a
 *   message can be at most 256 KiB in size (262,144 bytes, not 262,144 characters)."
 * An empty Subject is refused with InvalidParameter ("Invalid parameter: Subject").
 */

const sns = mockClient(SNSClient);
afterEach(() => sns.reset());

const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:rsqlo-alerts';
const noWait = { sleep: async () => {} };
const publisher = (retry = noWait) =>
  createSnsAlertPublisher({ client: new SNSClient({ region: 'eu-west-1' }), topicArn: TOPIC, retry });

const nasty = 'ERROR:  "x" \\ y\nLINE 2: Zürich 東京 😀';
const envelope = (error: string): AlertEnvelope => ({
  'detail-type': 'JobFinished',
  time: '2024-05-01T02:00:00Z',
  region: 'eu-west-1',
  account: '123456789012',
  detail: {
    event_id: 'JobFinished:r1:1.1:a1',
    workflow_id: 'wf_Zürich',
    workflow_execution_id: 'r1',
    job_key: '1.1',
    job_name: 'load "sales".sh',
    status: 'Failed',
    error_message: error,
  },
});
const ctx = { workflowAuditTable: 'w', jobAuditTable: 'j', jobLogGroup: '/ops/rsql-logs/' };

describe('SNS alert publisher', () => {
  it('sends exactly one Publish: the topic, the subject and the multi-line message as formatted', async () => {
    sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
    const alert = formatAlert(envelope(nasty), ctx);
    await publisher().publish(alert);
    const calls = sns.commandCalls(PublishCommand).map((c) => c.args[0].input);
    expect(calls).toEqual([{ TopicArn: TOPIC, Subject: alert.subject, Message: alert.message }]);
    expect(calls[0]?.Subject).toBe('rsqlo: job load "sales".sh Failed in wf_Zurich');
    // The message is text people read, not JSON: every character as written.
    expect(calls[0]?.Message).toContain('error:     ERROR:  "x" \\ y\n           LINE 2: Zürich 東京 😀');
    expect(sns.calls()).toHaveLength(1);
  });

  it('what the formatter writes is always within the Publish limits, however hostile the values', () => {
    const hostile = [
      '',
      '\u0000\u0007\u001b[31m\r\n\t',
      'x'.repeat(400_000),
      '😀'.repeat(100_000),
      '\ud800 lone surrogate \udc00',
      `${'"\\'.repeat(50_000)}`,
    ];
    for (const h of hostile) {
      const a = formatAlert({ ...envelope(h), detail: { ...envelope(h).detail, job_name: h } }, ctx);
      expect(snsPublishProblems(a.subject, a.message), JSON.stringify(h.slice(0, 20))).toEqual([]);
    }
  });

  it('refuses, without sending, a subject or message SNS would refuse, naming the problem', async () => {
    const ok = 'rsqlo: job a.sh Failed';
    const cases: Array<[string, string, RegExp]> = [
      ['', 'm', /the subject is empty/],
      ['x'.repeat(MAX_SNS_SUBJECT_CHARS + 1), 'm', /100 characters/],
      ['two\nlines', 'm', /line break, control or non-ASCII/],
      ['Zürich', 'm', /non-ASCII/],
      [' leading space', 'm', /starts with a space/],
      [ok, '', /the message is empty/],
      [ok, 'x'.repeat(MAX_SNS_MESSAGE_BYTES + 1), /262145 bytes/],
      [ok, 'é'.repeat(MAX_SNS_MESSAGE_BYTES / 2 + 1), /262146 bytes/], // bytes, not characters
      [ok, 'broken \ud800 text', /lone surrogate/],
    ];
    for (const [subject, message, problem] of cases) {
      await expect(publisher().publish({ subject, message })).rejects.toThrow(problem);
      await expect(publisher().publish({ subject, message })).rejects.toBeInstanceOf(AlertRejectedError);
    }
    expect(sns.calls()).toHaveLength(0);
    // The limits themselves: 99 characters and 262,144 bytes are taken.
    expect(snsPublishProblems('x'.repeat(99), 'é'.repeat(MAX_SNS_MESSAGE_BYTES / 2))).toEqual([]);
  });

  it('retries throttling and server errors, then gives up; a refused request is not retried', async () => {
    const throttled = new ThrottledException({ message: 'Rate exceeded', $metadata: {} });
    sns.on(PublishCommand).rejectsOnce(throttled).resolves({ MessageId: 'm-2' });
    await publisher().publish({ subject: 's', message: 'm' });
    expect(sns.commandCalls(PublishCommand)).toHaveLength(2);

    sns.reset();
    sns.on(PublishCommand).rejects(throttled);
    await expect(
      publisher({ ...noWait, maxAttempts: 3 } as typeof noWait).publish({ subject: 's', message: 'm' }),
    ).rejects.toBeInstanceOf(RetriesExhaustedError);
    expect(sns.commandCalls(PublishCommand)).toHaveLength(3);

    sns.reset();
    sns
      .on(PublishCommand)
      .rejects(new InvalidParameterException({ message: 'Invalid parameter: TopicArn', $metadata: {} }));
    await expect(publisher().publish({ subject: 's', message: 'm' })).rejects.toThrow(/TopicArn/);
    expect(sns.commandCalls(PublishCommand)).toHaveLength(1);
  });
});
