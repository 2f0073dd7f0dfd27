import {
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SendMessageBatchCommandInput,
  type SendMessageBatchCommandOutput,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { type FauxqsServer, startFauxqs } from 'fauxqs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { JobMessage } from '../../contracts/jobs.js';
import {
  createSqsJobQueue,
  MAX_SEND_BATCH_BYTES,
  MessageRejectedError,
  MessageSendError,
  packMessages,
  sqsDelaySeconds,
} from './sqs-job-queue.js';

const noWait = { sleep: async () => {} };

let server: FauxqsServer;
let sqs: SQSClient;
let queueUrl: string;
let n = 0;

beforeAll(async () => {
  server = await startFauxqs({ port: 0, logger: false });
  sqs = new SQSClient({
    endpoint: server.address,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
});
afterAll(async () => {
  sqs?.destroy();
  await server?.stop();
});
beforeEach(() => {
  queueUrl = server.createQueue(`jobs-${++n}`).queueUrl;
});

function message(i: number): JobMessage {
  return { version: 1, workflow_id: 'wf', workflow_execution_id: 'r1', job_key: `1.${i}`, attempt: 1 };
}

/** The real client (fauxqs behind it), recording each SendMessageBatch and optionally failing entries first. */
function recording(
  fail?: (
    input: SendMessageBatchCommandInput,
    call: number,
  ) => Array<{ Id: string; SenderFault: boolean; Code: string }>,
) {
  const requests: SendMessageBatchCommandInput[] = [];
  const client = {
    async send(command: SendMessageBatchCommand): Promise<SendMessageBatchCommandOutput> {
      const input = command.input;
      requests.push(input);
      const failed = fail?.(input, requests.length) ?? [];
      const ids = new Set(failed.map((f) => f.Id));
      const rest = (input.Entries ?? []).filter((e) => !ids.has(e.Id ?? ''));
      const out: SendMessageBatchCommandOutput = rest.length
        ? await sqs.send(new SendMessageBatchCommand({ ...input, Entries: rest }))
        : { $metadata: {}, Successful: [], Failed: [] };
      return { ...out, Successful: out.Successful ?? [], Failed: [...(out.Failed ?? []), ...failed] };
    },
  } as unknown as SQSClient;
  return { client, requests };
}

async function receiveAll(): Promise<JobMessage[]> {
  const out: JobMessage[] = [];
  for (;;) {
    const r = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 300 }),
    );
    if (!r.Messages?.length) return out;
    for (const m of r.Messages) out.push(JSON.parse(m.Body ?? '{}'));
  }
}

describe('SQS job queue (fauxqs)', () => {
  it('sends every message once, in batches of at most 10', async () => {
    const { client, requests } = recording();
    const q = createSqsJobQueue({ client, queueUrl, retry: noWait });
    const messages = Array.from({ length: 23 }, (_, i) => ({ body: message(i + 1) }));
    await q.send(messages);
    expect(requests.map((r) => r.Entries?.length)).toEqual([10, 10, 3]);
    expect(requests[0]?.Entries?.[0]).toEqual({
      Id: 'm0',
      MessageBody: JSON.stringify(message(1)),
      DelaySeconds: 0,
    });
    const got = await receiveAll();
    expect(got.map((m) => m.job_key).sort()).toEqual(messages.map((m) => m.body.job_key).sort());
  });

  it('delays messages, at most 900 s (the dispatcher waits out the rest)', async () => {
    const { client, requests } = recording();
    const q = createSqsJobQueue({ client, queueUrl, retry: noWait });
    await q.ensureSent([
      { body: message(1), delaySeconds: 0 },
      { body: message(2), delaySeconds: 30.2 },
      { body: message(3), delaySeconds: 3600 },
    ]);
    expect(requests[0]?.Entries?.map((e) => e.DelaySeconds)).toEqual([0, 31, 900]);
    expect((await receiveAll()).map((m) => m.job_key)).toEqual(['1.1']);
    const attrs = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ['ApproximateNumberOfMessagesDelayed'],
      }),
    );
    expect(attrs.Attributes?.ApproximateNumberOfMessagesDelayed).toBe('2');
  });

  it('sends again only the entries that failed, until SQS takes them', async () => {
    const { client, requests } = recording((input, call) =>
      call <= 2
        ? (input.Entries ?? [])
            .filter((e) => e.Id === 'm1' || (call === 1 && e.Id === 'm3'))
            .map((e) => ({ Id: e.Id ?? '', SenderFault: false, Code: 'InternalError' }))
        : [],
    );
    const q = createSqsJobQueue({ client, queueUrl, retry: noWait });
    await q.send([1, 2, 3, 4].map((i) => ({ body: message(i) })));
    expect(requests.map((r) => r.Entries?.map((e) => e.Id))).toEqual([
      ['m0', 'm1', 'm2', 'm3'],
      ['m1', 'm3'],
      ['m1'],
    ]);
    expect((await receiveAll()).map((m) => m.job_key).sort()).toEqual(['1.1', '1.2', '1.3', '1.4']);
  });

  it('gives up after the bounded attempts, and never retries what SQS blames on the sender', async () => {
    const always = recording((input) =>
      (input.Entries ?? [])
        .slice(0, 1)
        .map((e) => ({ Id: e.Id ?? '', SenderFault: false, Code: 'InternalError' })),
    );
    const q = createSqsJobQueue({ client: always.client, queueUrl, retry: { ...noWait, maxAttempts: 3 } });
    await expect(q.send([{ body: message(1) }])).rejects.toBeInstanceOf(MessageSendError);
    expect(always.requests).toHaveLength(3);
    const refused = recording((input) =>
      (input.Entries ?? [])
        .slice(0, 1)
        .map((e) => ({ Id: e.Id ?? '', SenderFault: true, Code: 'InvalidMessageContents' })),
    );
    const bad = createSqsJobQueue({ client: refused.client, queueUrl, retry: noWait });
    await expect(bad.send([{ body: message(1) }])).rejects.toBeInstanceOf(MessageRejectedError);
    expect(refused.requests).toHaveLength(1);
  });

  it('keeps each request’s bodies within 256 KiB', () => {
    const big = (i: number) => ({ Id: `m${i}`, MessageBody: 'x'.repeat(60_000) });
    const batches = packMessages(Array.from({ length: 10 }, (_, i) => big(i)));
    expect(batches.map((b) => b.length)).toEqual([4, 4, 2]);
    for (const b of batches)
      expect(b.reduce((s, e) => s + (e.MessageBody?.length ?? 0), 0)).toBeLessThanOrEqual(
        MAX_SEND_BATCH_BYTES,
      );
    expect(() => packMessages([{ Id: 'm0', MessageBody: 'x'.repeat(MAX_SEND_BATCH_BYTES + 1) }])).toThrow(
      MessageRejectedError,
    );
    expect([
      sqsDelaySeconds(undefined),
      sqsDelaySeconds(-3),
      sqsDelaySeconds(901),
      sqsDelaySeconds(Number.NaN),
    ]).toEqual([0, 0, 900, 0]);
  });
});
