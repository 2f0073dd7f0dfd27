import { describe, expect, it } from 'vitest';
import type { RsqloEvent } from '../../contracts/events.js';
import type { OutgoingMessage } from '../../services/ports.js';
import { createEffectsSink, MissingEffectTargetError } from './effects.js';

describe('effects sink', () => {
  const event = { detailType: 'StageReady', detail: {} } as unknown as RsqloEvent;
  const message: OutgoingMessage = {
    body: { version: 1, workflow_id: 'wf', workflow_execution_id: 'r1', job_key: '1.1', attempt: 1 },
  };

  it('publishes events and sends messages', async () => {
    const published: RsqloEvent[][] = [];
    const sent: OutgoingMessage[][] = [];
    const sink = createEffectsSink({
      events: { publish: async (e) => void published.push(e), ensurePublished: async () => {} },
      queue: { ensureSent: async (m) => void sent.push(m) },
    });
    await sink.apply({ events: [event], messages: [message] });
    await sink.apply({});
    await sink.apply(undefined);
    expect([published, sent]).toEqual([[[event]], [[message]]]);
  });

  it('fails loudly when an effect has nowhere to go', async () => {
    const sink = createEffectsSink({});
    await sink.apply({ events: [], messages: [] });
    await expect(sink.apply({ events: [event] })).rejects.toBeInstanceOf(MissingEffectTargetError);
    await expect(sink.apply({ messages: [message] })).rejects.toBeInstanceOf(MissingEffectTargetError);
  });
});
