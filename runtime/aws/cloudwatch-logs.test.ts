import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  CloudWatchLogsClient,
  CreateLogStreamCommand,
  PutLogEventsCommand,
  type PutLogEventsCommandInput,
  ResourceAlreadyExistsException,
  ResourceNotFoundException,
} from '@aws-sdk/client-cloudwatch-logs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createCloudWatchLogShipper,
  DEFAULT_LOG_GROUP,
  type LogEvent,
  LogShippingError,
  logStreamName,
  maxMessageBytes,
  PUT_LOG_EVENTS_LIMITS,
  planBatches,
  splitMessage,
} from './cloudwatch-logs.js';

const L = PUT_LOG_EVENTS_LIMITS;
const cwl = mockClient(CloudWatchLogsClient);

function batchBytes(events: ReadonlyArray<{ message?: string }>): number {
  return events.reduce((n, e) => n + Buffer.byteLength(e.message ?? '') + 26, 0);
}

function puts(): PutLogEventsCommandInput[] {
  return cwl.commandCalls(PutLogEventsCommand).map((c) => c.args[0].input);
}

/** Every batch sent obeys the PutLogEvents limits. */
function expectWithinLimits(inputs: PutLogEventsCommandInput[]): void {
  for (const input of inputs) {
    const events = input.logEvents ?? [];
    expect(events.length).toBeGreaterThan(0);
    expect(events.length).toBeLessThanOrEqual(L.maxBatchEvents);
    expect(batchBytes(events)).toBeLessThanOrEqual(L.maxBatchBytes);
    for (const e of events) {
      expect(Buffer.byteLength(e.message ?? '') + 26).toBeLessThanOrEqual(L.maxEventBytes);
      expect((e.message ?? '').length).toBeGreaterThan(0);
    }
    const times = events.map((e) => e.timestamp ?? 0);
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect((times.at(-1) ?? 0) - (times[0] ?? 0)).toBeLessThanOrEqual(L.maxBatchSpanMs);
  }
}

describe('logStreamName', () => {
  it('is the job run name when that is valid', () => {
    expect(logStreamName('blog-01HX--2-1--a1')).toBe('blog-01HX--2-1--a1');
  });
  it('replaces the characters CloudWatch refuses', () => {
    expect(logStreamName('a:b*c')).toBe('a_b_c');
  });
  it('cuts long names to 512 characters, keeping them distinct', () => {
    const a = logStreamName(`${'x'.repeat(600)}a`);
    const b = logStreamName(`${'x'.repeat(600)}b`);
    expect(a.length).toBe(512);
    expect(b.length).toBe(512);
    expect(a).not.toBe(b);
    expect(a).not.toMatch(/[:*]/);
  });
});

describe('splitMessage', () => {
  it('keeps short messages whole', () => {
    expect(splitMessage('hello', 10)).toEqual(['hello']);
  });
  it('splits on character boundaries, each piece within the byte limit', () => {
    const text = `${'é'.repeat(7)}😀😀abc${'ü'.repeat(5)}`;
    const pieces = splitMessage(text, 5);
    expect(pieces.join('')).toBe(text);
    for (const p of pieces) {
      expect(Buffer.byteLength(p)).toBeLessThanOrEqual(5);
      expect(p).not.toContain('\uFFFD');
    }
  });
  it('defaults to the 256 KB event limit less the 26-byte overhead', () => {
    const pieces = splitMessage('z'.repeat(600_000));
    expect(pieces.map((p) => p.length)).toEqual([262_118, 262_118, 75_764]);
    expect(maxMessageBytes()).toBe(262_118);
  });
});

describe('planBatches', () => {
  it('keeps each batch within 1,048,576 bytes counting 26 bytes per event', () => {
    const events = Array.from({ length: 11 }, (_, i) => ({
      timestamp: 1000 + i,
      message: 'm'.repeat(100_000),
    }));
    const batches = planBatches(events);
    expect(batches.map((b) => b.length)).toEqual([10, 1]);
    expect(batchBytes(batches[0] ?? [])).toBe(1_000_260);
    // 10 × (100,000 + 26) fits; one more event would make 1,100,286 > 1,048,576
  });

  it('fills a batch exactly up to the byte limit', () => {
    const big = L.maxBatchBytes - 26 - (10 + 26);
    const batches = planBatches([
      { timestamp: 1, message: 'a'.repeat(10) },
      { timestamp: 2, message: 'b'.repeat(Math.min(big, maxMessageBytes())) },
    ]);
    expect(batches).toHaveLength(1);
    const over = planBatches(
      Array.from({ length: 5 }, (_, i) => ({ timestamp: i, message: 'c'.repeat(maxMessageBytes()) })),
    );
    for (const b of over) expect(batchBytes(b)).toBeLessThanOrEqual(L.maxBatchBytes);
    expect(over.map((b) => b.length)).toEqual([4, 1]);
  });

  it('puts at most 10,000 events in a batch', () => {
    const events = Array.from({ length: 25_000 }, (_, i) => ({ timestamp: i, message: 'x' }));
    expect(planBatches(events).map((b) => b.length)).toEqual([10_000, 10_000, 5_000]);
  });

  it('orders events chronologically, stable for equal timestamps', () => {
    const events: LogEvent[] = [
      { timestamp: 30, message: 'c' },
      { timestamp: 10, message: 'a1' },
      { timestamp: 20, message: 'b' },
      { timestamp: 10, message: 'a2' },
    ];
    expect(
      planBatches(events)
        .flat()
        .map((e) => e.message),
    ).toEqual(['a1', 'a2', 'b', 'c']);
  });

  it('never lets a batch span more than 24 hours', () => {
    const h = 3600_000;
    const events = [0, 23 * h, 24 * h, 24 * h + 1, 30 * h].map((t) => ({ timestamp: t, message: String(t) }));
    const batches = planBatches(events);
    expect(batches.map((b) => b.map((e) => e.timestamp))).toEqual([
      [0, 23 * h, 24 * h],
      [24 * h + 1, 30 * h],
    ]);
  });

  it('refuses an event over the per-event limit', () => {
    expect(() => planBatches([{ timestamp: 0, message: 'x'.repeat(maxMessageBytes() + 1) }])).toThrow(
      RangeError,
    );
  });
});

describe('createCloudWatchLogShipper', () => {
  let dir: string;
  let file: string;
  let clock: number;
  beforeEach(() => {
    cwl.reset();
    dir = mkdtempSync(path.join(tmpdir(), 'rsqlo-cwl-'));
    file = path.join(dir, 'job.log');
    clock = 1_700_000_000_000;
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const make = (extra: Partial<Parameters<typeof createCloudWatchLogShipper>[0]> = {}) =>
    createCloudWatchLogShipper({
      client: new CloudWatchLogsClient({ region: 'us-east-1' }),
      now: () => clock,
      retry: { sleep: async () => {}, random: () => 0 },
      ...extra,
    });

  it('creates the stream once and ships complete lines; the last line only when final', async () => {
    cwl.on(CreateLogStreamCommand).resolves({});
    cwl.on(PutLogEventsCommand).resolves({});
    writeFileSync(file, 'line one\r\n\nline two\npartial');
    const shipper = make();
    const offset = await shipper.ship({ stream: 's1', file, offset: 0 });
    expect(offset).toBe(Buffer.byteLength('line one\r\n\nline two\n'));
    expect(cwl.commandCalls(CreateLogStreamCommand).map((c) => c.args[0].input)).toEqual([
      { logGroupName: DEFAULT_LOG_GROUP, logStreamName: 's1' },
    ]);
    expect(puts()).toEqual([
      {
        logGroupName: '/ops/rsql-logs/',
        logStreamName: 's1',
        logEvents: [
          { timestamp: clock, message: 'line one' },
          { timestamp: clock, message: 'line two' },
        ],
      },
    ]);
    appendFileSync(file, ' and the end');
    clock += 5000;
    const end = await shipper.ship({ stream: 's1', file, offset, final: true });
    expect(end).toBe(Buffer.byteLength('line one\r\n\nline two\npartial and the end'));
    expect(puts()[1]?.logEvents).toEqual([{ timestamp: clock, message: 'partial and the end' }]);
    expect(cwl.commandCalls(CreateLogStreamCommand)).toHaveLength(1);
  });

  it('resumes from a saved offset (a restarted daemon), and ResourceAlreadyExists is fine', async () => {
    cwl
      .on(CreateLogStreamCommand)
      .rejects(new ResourceAlreadyExistsException({ message: 'exists', $metadata: {} }));
    cwl.on(PutLogEventsCommand).resolves({});
    writeFileSync(file, 'old 1\nold 2\nnew 1\n');
    const offset = Buffer.byteLength('old 1\nold 2\n');
    const end = await make().ship({ stream: 's', file, offset, final: true });
    expect(end).toBe(Buffer.byteLength('old 1\nold 2\nnew 1\n'));
    expect(puts().flatMap((p) => p.logEvents?.map((e) => e.message))).toEqual(['new 1']);
  });

  it('splits lines longer than an event and batches a large log within every limit, in order', async () => {
    cwl.on(CreateLogStreamCommand).resolves({});
    cwl.on(PutLogEventsCommand).resolves({});
    const lines: string[] = [];
    for (let i = 0; i < 30_000; i++) lines.push(`row ${i} ${'é'.repeat(i % 50)}`);
    lines.push('L'.repeat(700_000)); // one line of 700,000 bytes
    lines.push('after the long line');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const end = await make({ readChunkBytes: 256 * 1024 }).ship({
      stream: 's',
      file,
      offset: 0,
      final: true,
    });
    expect(end).toBe(Buffer.byteLength(`${lines.join('\n')}\n`));
    const sent = puts();
    expectWithinLimits(sent);
    const messages = sent.flatMap((p) => p.logEvents?.map((e) => e.message ?? '') ?? []);
    expect(messages.slice(0, 30_000)).toEqual(lines.slice(0, 30_000));
    expect(messages.slice(30_000, -1).map((m) => m.length)).toEqual([262_118, 262_118, 175_764]);
    expect(messages.at(-1)).toBe('after the long line');
  });

  it('ships a growing line longer than an event before its newline arrives', async () => {
    cwl.on(CreateLogStreamCommand).resolves({});
    cwl.on(PutLogEventsCommand).resolves({});
    writeFileSync(file, 'q'.repeat(300_000));
    const offset = await make().ship({ stream: 's', file, offset: 0 });
    expect(offset).toBe(262_118);
    expect(puts().flatMap((p) => p.logEvents?.map((e) => e.message?.length))).toEqual([262_118]);
  });

  it('retries only the batch that failed, and reports the offset reached when it gives up', async () => {
    cwl.on(CreateLogStreamCommand).resolves({});
    const throttled = Object.assign(new Error('Rate exceeded'), {
      name: 'ThrottlingException',
      $fault: 'client',
      $metadata: { httpStatusCode: 400 },
    });
    // batch 1 ok, batch 2 throttled once then ok, batch 3 fails for good (after retries)
    cwl
      .on(PutLogEventsCommand)
      .resolvesOnce({})
      .rejectsOnce(throttled)
      .resolvesOnce({})
      .rejects(
        Object.assign(new Error('down'), {
          name: 'ServiceUnavailableException',
          $fault: 'server',
          $metadata: { httpStatusCode: 503 },
        }),
      );
    const lines = Array.from({ length: 25_000 }, (_, i) => `l${i}`);
    writeFileSync(file, `${lines.join('\n')}\n`);
    const shipper = make();
    const err = await shipper.ship({ stream: 's', file, offset: 0, final: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LogShippingError);
    const sent = puts();
    // b1, b2 (throttled), b2 again, then b3 × 5 attempts
    expect(sent.map((p) => p.logEvents?.[0]?.message)).toEqual([
      'l0',
      'l10000',
      'l10000',
      'l20000',
      'l20000',
      'l20000',
      'l20000',
      'l20000',
    ]);
    const reached = (err as LogShippingError).offset;
    expect(reached).toBe(Buffer.byteLength(`${lines.slice(0, 20_000).join('\n')}\n`));
    // Back up: the next call sends only what is left.
    cwl.on(PutLogEventsCommand).resolves({});
    cwl.resetHistory();
    await make().ship({ stream: 's', file, offset: reached, final: true });
    expect(puts().flatMap((p) => p.logEvents?.map((e) => e.message))).toEqual(lines.slice(20_000));
  });

  it('recreates a deleted stream', async () => {
    cwl.on(CreateLogStreamCommand).resolves({});
    cwl
      .on(PutLogEventsCommand)
      .rejectsOnce(
        new ResourceNotFoundException({ message: 'The specified log stream does not exist.', $metadata: {} }),
      )
      .resolves({});
    writeFileSync(file, 'x\n');
    await make().ship({ stream: 's', file, offset: 0 });
    expect(cwl.commandCalls(CreateLogStreamCommand)).toHaveLength(2);
    expect(puts()).toHaveLength(2);
  });

  it('blanks what the redactor says, and returns the offset unchanged for a missing file', async () => {
    cwl.on(CreateLogStreamCommand).resolves({});
    cwl.on(PutLogEventsCommand).resolves({});
    writeFileSync(file, 'password is hunter22\n');
    await make({ redact: (m) => m.replaceAll('hunter22', '********') }).ship({
      stream: 's',
      file,
      offset: 0,
    });
    expect(puts()[0]?.logEvents?.[0]?.message).toBe('password is ********');
    expect(await make().ship({ stream: 's', file: path.join(dir, 'none.log'), offset: 0, final: true })).toBe(
      0,
    );
  });
});
