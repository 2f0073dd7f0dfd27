/**
 * The SLA check on its own (its runtimes: test/e2e/sla-local.test.ts, test/aws/sla.test.ts): what
 * each answer of the run's mark leads to, the crash between mark and publish, and an early timer.
 */
import { describe, expect, it } from 'vitest';
import type { RsqloEvent } from '../../contracts/events.js';
import type { EventPublisher } from '../ports.js';
import { FakeClock, MemoryLogger } from '../testing/fake-clock.js';
import type { SlaLine } from './lines.js';
import { createSlaService, type SlaMarks } from './service.js';

const LINE: SlaLine = {
  workflow_id: 'nightly',
  workflow_execution_id: 'n-1',
  kind: 'finish_by',
  line_at: '2026-03-29T01:00:00Z',
  line: '02:30 Europe/Berlin',
  started_at: '2026-03-28T22:00:00.000Z',
};

/** Marks kept in a map, with the mark's conditions; `crashAfterMark` fails the publish once. */
function setup(status: 'Running' | 'Completed' | undefined) {
  const marks = new Map<string, { at: string; sent: boolean }>();
  const published: Array<{ how: 'publish' | 'ensure'; event: RsqloEvent }> = [];
  let failNextPublish = false;
  const port: SlaMarks = {
    async claim(exec, kind, at) {
      if (status === undefined) return 'unknown';
      const m = marks.get(`${exec}:${kind}`);
      if (m) return m.sent ? 'sent' : 'unsent';
      if (status !== 'Running') return 'ended';
      marks.set(`${exec}:${kind}`, { at, sent: false });
      return 'claimed';
    },
    async sent(exec, kind) {
      const m = marks.get(`${exec}:${kind}`);
      if (m) m.sent = true;
    },
  };
  const events: EventPublisher = {
    async publish(evs) {
      if (failNextPublish) {
        failNextPublish = false;
        throw new Error('PutEvents failed');
      }
      for (const event of evs) published.push({ how: 'publish', event });
    },
    async ensurePublished(evs) {
      for (const event of evs) published.push({ how: 'ensure', event });
    },
  };
  const clock = new FakeClock('2026-03-29T01:00:30Z');
  const log = new MemoryLogger();
  const sla = createSlaService({ marks: port, events, clock, log });
  return { sla, published, clock, log, failPublish: () => (failNextPublish = true) };
}

describe('the SLA check', () => {
  it('a Running run past its line: one SlaMissed, then nothing however often the line fires', async () => {
    const { sla, published } = setup('Running');
    expect(await sla.check(LINE)).toMatchObject({ outcome: 'missed', event_id: 'SlaMissed:n-1:finish_by' });
    expect(await sla.check(LINE)).toMatchObject({ outcome: 'already' });
    expect(await sla.check(LINE)).toMatchObject({ outcome: 'already' });
    expect(published).toHaveLength(1);
    expect(published[0]?.event).toEqual({
      detailType: 'SlaMissed',
      detail: {
        version: 1,
        event_id: 'SlaMissed:n-1:finish_by',
        occurred_at: '2026-03-29T01:00:30.000Z',
        workflow_id: 'nightly',
        workflow_execution_id: 'n-1',
        kind: 'finish_by',
        line_at: '2026-03-29T01:00:00Z',
        line: '02:30 Europe/Berlin',
        started_at: '2026-03-28T22:00:00.000Z',
      },
    });
  });

  it('a crash between the mark and the publish: the retry publishes it (same id), then never again', async () => {
    const { sla, published, failPublish } = setup('Running');
    failPublish();
    await expect(sla.check(LINE)).rejects.toThrow('PutEvents failed');
    expect(published).toEqual([]);
    expect(await sla.check(LINE)).toMatchObject({ outcome: 'missed' });
    expect(published.map((p) => [p.how, p.event.detail.event_id])).toEqual([
      ['ensure', 'SlaMissed:n-1:finish_by'],
    ]);
    expect(await sla.check(LINE)).toMatchObject({ outcome: 'already' });
    expect(published).toHaveLength(1);
  });

  it('an ended run, an unknown run: quiet', async () => {
    expect(await setup('Completed').sla.check(LINE)).toMatchObject({ outcome: 'ended' });
    expect(await setup(undefined).sla.check(LINE)).toMatchObject({ outcome: 'unknown-run' });
  });

  it('a timer that fires before its line (a hand-made schedule): nothing, not even a mark', async () => {
    const { sla, published, clock } = setup('Running');
    const early = { ...LINE, line_at: '2026-03-29T02:00:00Z' };
    expect(await sla.check(early)).toMatchObject({ outcome: 'early' });
    clock.set(Date.parse('2026-03-29T02:00:00Z'));
    expect(await sla.check(early)).toMatchObject({ outcome: 'missed' });
    expect(published).toHaveLength(1);
  });

  it('longer than usual: RunLongerThanUsual with the percentile and its 1.5 x threshold', async () => {
    const { sla, published } = setup('Running');
    await sla.check({ ...LINE, kind: 'longer_than_usual', line: '1.5 x p90', p90_seconds: 1200 });
    expect(published[0]?.event).toMatchObject({
      detailType: 'RunLongerThanUsual',
      detail: {
        event_id: 'RunLongerThanUsual:n-1',
        p90_seconds: 1200,
        threshold_seconds: 1800,
        history_runs: 20,
      },
    });
  });
});
