import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import type { RsqloEvent } from '../../contracts/events.js';
import {
  createEventBridgePublisher,
  EventPublishError,
  EventRejectedError,
  MAX_PUT_EVENTS_BYTES,
  packEntries,
  putEventsEntrySize,
} from './eventbridge-publisher.js';

const eb = mockClient(EventBridgeClient);
afterEach(() => eb.reset());

const noWait = { sleep: async () => {} };

function stageReady(n: number, pad = ''): RsqloEvent {
  return {
    detailType: 'StageReady',
    detail: {
      version: 1,
      event_id: `StageReady:r1:1:${n}${pad}`,
      occurred_at: '2024-01-01T00:00:00.000Z',
      workflow_id: 'wf',
      workflow_execution_id: 'r1',
      stage: 1,
    },
  };
}

function publisher() {
  return createEventBridgePublisher({
    client: new EventBridgeClient({ region: 'us-east-1' }),
    eventBusName: 'bus',
    retry: noWait,
  });
}

const sent = () => eb.commandCalls(PutEventsCommand).map((c) => c.args[0].input.Entries ?? []);
const ids = (entries: PutEventsRequestEntry[]) => entries.map((e) => JSON.parse(e.Detail ?? '{}').event_id);

describe('EventBridge publisher', () => {
  it('puts each event as source rsqlo, its detail-type and JSON detail, on the bus', async () => {
    eb.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: '1' }] });
    const e = stageReady(1);
    await publisher().publish([e]);
    expect(sent()).toEqual([
      [{ EventBusName: 'bus', Source: 'rsqlo', DetailType: 'StageReady', Detail: JSON.stringify(e.detail) }],
    ]);
  });

  it('sends at most 10 entries per request, in order', async () => {
    eb.on(PutEventsCommand).callsFake((input: { Entries: unknown[] }) => ({
      FailedEntryCount: 0,
      Entries: input.Entries.map((_, i) => ({ EventId: String(i) })),
    }));
    const events = Array.from({ length: 23 }, (_, i) => stageReady(i));
    await publisher().publish(events);
    expect(sent().map((b) => b.length)).toEqual([10, 10, 3]);
    expect(sent().flatMap(ids)).toEqual(events.map((e) => e.detail.event_id));
  });

  it('keeps every request under 256 KB as EventBridge measures entries', async () => {
    eb.on(PutEventsCommand).callsFake((input: { Entries: unknown[] }) => ({
      FailedEntryCount: 0,
      Entries: input.Entries.map(() => ({ EventId: 'x' })),
    }));
    // Each event ~100 KB: two fit under 256 KB, a third does not.
    const events = Array.from({ length: 5 }, (_, i) => stageReady(i, 'x'.repeat(100_000)));
    await publisher().publish(events);
    const batches = sent();
    expect(batches.map((b) => b.length)).toEqual([2, 2, 1]);
    for (const b of batches)
      expect(b.reduce((n, e) => n + putEventsEntrySize(e), 0)).toBeLessThan(MAX_PUT_EVENTS_BYTES);
    await expect(
      publisher().publish([stageReady(9, 'x'.repeat(MAX_PUT_EVENTS_BYTES))]),
    ).rejects.toBeInstanceOf(EventRejectedError);
  });

  it('measures an entry as EventBridge documents it', () => {
    expect(
      putEventsEntrySize({
        Source: 'rsqlo',
        DetailType: 'StageReady',
        Detail: '{"a":"é"}',
        Resources: ['ab'],
      }),
    ).toBe(5 + 10 + 10 + 2);
    expect(putEventsEntrySize({ Source: 'a', DetailType: 'b', Time: new Date() })).toBe(16);
    expect(packEntries([])).toEqual([]);
  });

  it('sends again only the entries that failed, until they are accepted', async () => {
    eb.on(PutEventsCommand)
      .resolvesOnce({
        FailedEntryCount: 2,
        Entries: [
          { EventId: 'a' },
          { ErrorCode: 'ThrottlingException', ErrorMessage: 'slow down' },
          { EventId: 'c' },
          { ErrorCode: 'InternalFailure', ErrorMessage: 'oops' },
        ],
      })
      .resolvesOnce({ FailedEntryCount: 1, Entries: [{ EventId: 'b' }, { ErrorCode: 'InternalFailure' }] })
      .resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'd' }] });
    await publisher().publish([0, 1, 2, 3].map((i) => stageReady(i)));
    expect(sent().map(ids)).toEqual([
      ['StageReady:r1:1:0', 'StageReady:r1:1:1', 'StageReady:r1:1:2', 'StageReady:r1:1:3'],
      ['StageReady:r1:1:1', 'StageReady:r1:1:3'],
      ['StageReady:r1:1:3'],
    ]);
  });

  it('retries a throttled request, and gives up after the bounded attempts', async () => {
    eb.on(PutEventsCommand)
      .rejectsOnce(Object.assign(new Error('rate'), { name: 'ThrottlingException' }))
      .resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'a' }] });
    await publisher().publish([stageReady(1)]);
    expect(sent()).toHaveLength(2);
    eb.reset();
    eb.on(PutEventsCommand).resolves({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure' }] });
    const p = createEventBridgePublisher({
      client: new EventBridgeClient({ region: 'us-east-1' }),
      eventBusName: 'bus',
      retry: { ...noWait, maxAttempts: 3 },
    });
    await expect(p.ensurePublished([stageReady(1)])).rejects.toBeInstanceOf(EventPublishError);
    expect(sent()).toHaveLength(3);
  });

  it('does not retry an entry EventBridge refuses for good, nor a request error', async () => {
    eb.on(PutEventsCommand).resolves({
      FailedEntryCount: 1,
      Entries: [{ ErrorCode: 'MalformedDetail', ErrorMessage: 'bad' }],
    });
    await expect(publisher().publish([stageReady(1)])).rejects.toThrow(/MalformedDetail: bad/);
    expect(sent()).toHaveLength(1);
    eb.reset();
    eb.on(PutEventsCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));
    await expect(publisher().publish([stageReady(1)])).rejects.toThrow('denied');
    expect(sent()).toHaveLength(1);
  });

  it('publishes nothing for no events; ensurePublished really publishes', async () => {
    eb.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'a' }] });
    await publisher().publish([]);
    expect(sent()).toHaveLength(0);
    await publisher().ensurePublished([stageReady(1)]);
    expect(sent()).toHaveLength(1);
  });
});
