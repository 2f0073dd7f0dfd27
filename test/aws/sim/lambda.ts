/**
 * Lambda as the harness runs it: a function is a set of containers, each a separate load of the
 * handler module (its own module-scope composition: SDK clients, Powertools batch processor), each
 * handling one invocation at a time, as Lambda does. Invocations wait for a free container.
 *
 * The two event-source mappings of the stack (infra/rsqlo-stack.ts):
 * - SQS (the job queue → dispatcher): ReceiveMessage batches of up to 10 (long polling), invoked
 *   with the SQS event shape; the messages the handler did not report as failed are deleted, failed
 *   ones are left to come back after the visibility timeout (and reach the DLQ after
 *   maxReceiveCount). A message's DelaySeconds is the queue's business (fauxqs honours it).
 * - DynamoDB stream (job audit → aggregator): DescribeStream / GetShardIterator / GetRecords from
 *   TRIM_HORIZON, each record filtered with AGGREGATOR_STREAM_FILTERS (matched against the record as
 *   Lambda's filter sees it, eventSourceARN included), batches of up to 100 in stream order; a
 *   partial batch response is honoured as Lambda does (processing resumes at the lowest failed
 *   sequence number), a thrown error bisects the batch, 10 retries, then the on-failure destination.
 *
 * `duplicate` hands every batch to the function twice (at-least-once delivery).
 */
import { randomUUID } from 'node:crypto';
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type {
  DynamoDBBatchResponse,
  DynamoDBRecord,
  SQSBatchResponse,
  SQSEvent,
  SQSRecord,
} from 'aws-lambda';
import { lambdaContext } from '../../../runtime/aws/testing/lambda-harness.js';
import { passesAggregatorFilter } from '../../support/dynamodb-local.js';
import { caller } from './aws-requests.js';

// biome-ignore lint/suspicious/noExplicitAny: handlers of every shape
type Handler = (event: any, context?: any) => Promise<unknown>;

/**
 * A fault the harness injects into a function's invocations: after the handler ran (its effects
 * happened), the invocation fails with `errorType`, as Lambda reports a service exception whose
 * work was done (Step Functions sees the error name, e.g. `Lambda.ServiceException`).
 */
export interface InjectedFault {
  /** Which invocations (by event); the first `times` that match fail. */
  match: (event: unknown) => boolean;
  errorType: string;
  times: number;
  /**
   * The failure is reported only once this settles (the handler's work is done; Lambda has not
   * answered yet): the task stays open meanwhile, so a test chooses what happens before it fails.
   */
  reportAfter?: Promise<unknown>;
}

/** One function: its containers and the invocations waiting for one. */
export class LambdaFunction {
  private readonly free: Handler[];
  private readonly waiting: Array<(h: Handler) => void> = [];
  invocations = 0;
  /** Handler time of every invocation, in ms rounded up (what Lambda bills, at 1 ms granularity). */
  billedMs = 0;
  private active = 0;
  private readonly faults: InjectedFault[] = [];
  private readonly holds: Array<{
    match: (event: unknown) => boolean;
    gate: Promise<void>;
    hit: () => void;
  }> = [];

  constructor(
    readonly name: string,
    containers: Handler[],
  ) {
    if (containers.length === 0) throw new Error(`${name}: no containers`);
    this.free = [...containers];
  }

  /** Invocations running or waiting. */
  pending(): number {
    return this.active + this.waiting.length;
  }

  /** Makes matching invocations fail after their handler ran (see {@link InjectedFault}). */
  failAfter(fault: InjectedFault): void {
    this.faults.push({ ...fault });
  }

  /**
   * Holds matching invocations before their handler runs, until released (forcing an
   * interleaving). `reached` resolves when one is waiting.
   */
  hold(match: (event: unknown) => boolean): { reached: Promise<void>; release(): void } {
    let release!: () => void;
    let hit!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const reached = new Promise<void>((r) => {
      hit = r;
    });
    const entry = { match, gate, hit };
    this.holds.push(entry);
    return {
      reached,
      release: () => {
        this.holds.splice(this.holds.indexOf(entry), 1);
        release();
      },
    };
  }

  async invoke(event: unknown): Promise<unknown> {
    this.invocations++;
    for (const h of [...this.holds])
      if (h.match(event)) {
        h.hit();
        await h.gate;
      }
    const handler = this.free.pop() ?? (await new Promise<Handler>((resolve) => this.waiting.push(resolve)));
    this.active++;
    const t0 = performance.now();
    try {
      const out = await caller.run({ caller: this.name }, () => handler(event, lambdaContext()));
      const fault = this.faults.find((f) => f.times > 0 && f.match(event));
      if (fault) {
        fault.times--;
        if (fault.reportAfter) await fault.reportAfter;
        throw Object.assign(new Error(`injected: ${fault.errorType} after the handler ran`), {
          name: fault.errorType,
        });
      }
      return out;
    } finally {
      this.billedMs += Math.ceil(performance.now() - t0);
      this.active--;
      const next = this.waiting.shift();
      if (next) next(handler);
      else this.free.push(handler);
    }
  }
}

// -------------------------------------------------------------------------------------------------
// SQS event source
// -------------------------------------------------------------------------------------------------

export interface SqsSourceOptions {
  client: SQSClient;
  queueUrl: string;
  queueArn: string;
  fn: LambdaFunction;
  /** Concurrent pollers (the mapping's maximum concurrency). */
  pollers: number;
  duplicate?: boolean;
}

export class SqsEventSource {
  private stopped = false;
  private readonly loops: Promise<void>[] = [];
  private busy = 0;
  /** Messages received (with redeliveries), and the batches handed to the function. */
  received = 0;
  batches = 0;
  readonly errors: string[] = [];

  constructor(private readonly opts: SqsSourceOptions) {
    for (let i = 0; i < opts.pollers; i++) this.loops.push(this.loop());
  }

  /** Batches being handled. */
  pending(): number {
    return this.busy;
  }

  /** Messages in the queue: visible, in flight or delayed. */
  async depth(): Promise<number> {
    const r = await this.opts.client.send(
      new GetQueueAttributesCommand({
        QueueUrl: this.opts.queueUrl,
        AttributeNames: [
          'ApproximateNumberOfMessages',
          'ApproximateNumberOfMessagesNotVisible',
          'ApproximateNumberOfMessagesDelayed',
        ],
      }),
    );
    const a = r.Attributes ?? {};
    return (
      Number(a.ApproximateNumberOfMessages ?? 0) +
      Number(a.ApproximateNumberOfMessagesNotVisible ?? 0) +
      Number(a.ApproximateNumberOfMessagesDelayed ?? 0)
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled(this.loops);
  }

  private async loop(): Promise<void> {
    const { client, queueUrl } = this.opts;
    while (!this.stopped) {
      let messages: Message[] = [];
      try {
        const r = await caller.run({ caller: 'sqs-poller' }, () =>
          client.send(
            new ReceiveMessageCommand({
              QueueUrl: queueUrl,
              MaxNumberOfMessages: 10,
              WaitTimeSeconds: 1,
              MessageSystemAttributeNames: ['All'],
              MessageAttributeNames: ['All'],
            }),
          ),
        );
        messages = r.Messages ?? [];
      } catch (err) {
        if (!this.stopped) this.errors.push(`ReceiveMessage: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      if (messages.length === 0 || this.stopped) continue;
      this.busy++;
      try {
        this.received += messages.length;
        this.batches++;
        const records: SQSRecord[] = messages.map((m) => ({
          messageId: m.MessageId as string,
          receiptHandle: m.ReceiptHandle as string,
          body: m.Body ?? '',
          attributes: (m.Attributes ?? {}) as SQSRecord['attributes'],
          messageAttributes: {},
          md5OfBody: m.MD5OfBody ?? '',
          eventSource: 'aws:sqs',
          eventSourceARN: this.opts.queueArn,
          awsRegion: 'us-east-1',
        }));
        const failed = new Set<string>();
        const times = this.opts.duplicate ? 2 : 1;
        for (let i = 0; i < times; i++) {
          const event: SQSEvent = { Records: records };
          try {
            const out = (await this.opts.fn.invoke(event)) as SQSBatchResponse | undefined;
            for (const f of out?.batchItemFailures ?? []) failed.add(f.itemIdentifier);
          } catch (err) {
            // A function error fails the whole batch: every message comes back.
            this.errors.push(`dispatcher invocation failed: ${(err as Error).message}`);
            for (const r of records) failed.add(r.messageId);
          }
        }
        const done = records.filter((r) => !failed.has(r.messageId));
        if (done.length)
          await caller.run({ caller: 'sqs-poller' }, () =>
            client.send(
              new DeleteMessageBatchCommand({
                QueueUrl: queueUrl,
                Entries: done.map((r, i) => ({ Id: `m${i}`, ReceiptHandle: r.receiptHandle })),
              }),
            ),
          );
      } catch (err) {
        this.errors.push(`SQS source: ${(err as Error).message}`);
      } finally {
        this.busy--;
      }
    }
  }
}

// -------------------------------------------------------------------------------------------------
// DynamoDB stream event source
// -------------------------------------------------------------------------------------------------

export interface StreamSourceOptions {
  /** Reads the records written since the last call (test/support/dynamodb-local.ts openStream). */
  next(): Promise<DynamoDBRecord[]>;
  streamArn: string;
  fn: LambdaFunction;
  duplicate?: boolean;
  batchSize?: number;
  retryAttempts?: number;
  pollMs?: number;
}

export class StreamEventSource {
  private stopped = false;
  private readonly loopDone: Promise<void>;
  private readonly queue: DynamoDBRecord[] = [];
  private busy = false;
  private lastPollEmpty = false;
  /** Completed reads of the stream (a settled harness waits for a few with nothing new). */
  polls = 0;
  /** Records read from the stream, and those the filter let through. */
  read = 0;
  delivered = 0;
  /** Batches handed to the function (each counted once, however often it is delivered). */
  batches = 0;
  readonly deadLetters: Array<{ sequenceNumber: string | undefined; error: string }> = [];
  readonly errors: string[] = [];

  constructor(private readonly opts: StreamSourceOptions) {
    this.loopDone = this.loop();
  }

  /** Nothing read but unprocessed, nothing being processed, and the last read found nothing new. */
  idle(): boolean {
    return this.queue.length === 0 && !this.busy && this.lastPollEmpty;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loopDone;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        const records = await this.opts.next();
        this.polls++;
        this.read += records.length;
        this.lastPollEmpty = records.length === 0;
        for (const r of records) {
          const seen = { ...r, eventSourceARN: this.opts.streamArn };
          if (passesAggregatorFilter(seen)) this.queue.push(seen);
        }
        this.busy = this.queue.length > 0;
        while (this.queue.length > 0 && !this.stopped) {
          const batch = this.queue.splice(0, this.opts.batchSize ?? 100);
          await this.process(batch, 0);
        }
      } catch (err) {
        if (!this.stopped) this.errors.push(`stream source: ${(err as Error).message}`);
      } finally {
        this.busy = false;
      }
      await new Promise((r) => setTimeout(r, this.opts.pollMs ?? 100));
    }
  }

  /** One batch with Lambda's semantics; returns when every record is processed or dead-lettered. */
  private async process(batch: DynamoDBRecord[], retries: number): Promise<void> {
    if (batch.length === 0 || this.stopped) return;
    this.batches++;
    const times = this.opts.duplicate ? 2 : 1;
    let failedAt = -1;
    for (let i = 0; i < times; i++) {
      let out: DynamoDBBatchResponse | undefined;
      try {
        out = (await this.opts.fn.invoke({ Records: batch })) as DynamoDBBatchResponse | undefined;
      } catch (err) {
        // A function error: bisect (each half retried on its own) until a record fails alone.
        this.errors.push(`aggregator invocation failed: ${(err as Error).message}`);
        if (retries >= (this.opts.retryAttempts ?? 10)) return this.deadLetter(batch, err);
        if (batch.length === 1) return this.process(batch, retries + 1);
        const half = Math.ceil(batch.length / 2);
        await this.process(batch.slice(0, half), retries + 1);
        await this.process(batch.slice(half), retries + 1);
        return;
      }
      // Lambda checkpoints before the lowest failed sequence number and retries from there.
      const failed = new Set((out?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
      const at = batch.findIndex((r) => failed.has(r.dynamodb?.SequenceNumber ?? ''));
      if (at >= 0) failedAt = failedAt < 0 ? at : Math.min(failedAt, at);
    }
    this.delivered += failedAt < 0 ? batch.length : failedAt;
    if (failedAt < 0) return;
    const rest = batch.slice(failedAt);
    if (retries >= (this.opts.retryAttempts ?? 10))
      return this.deadLetter(rest, new Error('record kept failing'));
    await new Promise((r) => setTimeout(r, 100));
    await this.process(rest, retries + 1);
  }

  private deadLetter(records: DynamoDBRecord[], err: unknown) {
    for (const r of records)
      this.deadLetters.push({
        sequenceNumber: r.dynamodb?.SequenceNumber,
        error: String((err as Error)?.message ?? err),
      });
  }
}

/** A unique id for a simulated resource. */
export function simId(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}
