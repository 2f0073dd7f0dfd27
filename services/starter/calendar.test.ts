import { describe, expect, it } from 'vitest';
import type { RsqloEvent } from '../../contracts/events.js';
import { createSimulation } from '../testing/in-memory.js';
import { createStarterService } from './service.js';

/** A starter over the simulation's store, with calendars (as on AWS) and its events captured. */
function starterWith(calendars: Record<string, unknown>) {
  const sim = createSimulation({
    definitions: [
      {
        workflow_id: 'cal_wf',
        workflow_stages: [{ execution_flag: 'y', execution_type: 'sequential', scripts: ['a.sh'] }],
        schedule: { expression: 'cron(0 6 ? * * *)', timezone: 'Europe/Berlin' },
        calendar: 'business',
      },
    ],
  });
  const published: RsqloEvent[] = [];
  const starter = createStarterService({
    definitions: sim.store.definitions(),
    runs: sim.store.runs(),
    jobs: sim.store.jobs(),
    operator: sim.store.operator(),
    events: { publish: async (e) => void published.push(...e), ensurePublished: async () => {} },
    orchestrator: sim.wrapper,
    pools: sim.store.pools(),
    calendars: { get: async (name) => calendars[name] },
    clock: sim.clock,
    log: sim.log,
  });
  return { sim, starter, published };
}

describe('starter: scheduled requests and calendars', () => {
  const business = { weekdays: ['mon', 'tue', 'wed', 'thu', 'fri'], exclude: ['2026-12-25'] };

  it('skips a scheduled request for an excluded day (in the schedule time zone): nothing written, no event', async () => {
    const { sim, starter, published } = starterWith({ business });
    // 23:30 UTC on 24 Dec is 00:30 on 25 Dec in Berlin.
    const r = await starter.handleRequested(
      { version: 1, workflow_id: 'cal_wf', scheduled_time: '2026-12-24T23:30:00Z' },
      'evt-1',
    );
    expect(r).toEqual({
      outcome: 'skipped',
      reason:
        '2026-12-24T23:30:00Z is not a day of calendar "business" (in Europe/Berlin): the schedule does not fire then',
    });
    expect(published).toEqual([]);
    expect(sim.store.allRuns()).toEqual([]);
  });

  it('starts a scheduled request on a calendar day, and any manual request', async () => {
    const { starter } = starterWith({ business });
    const scheduled = await starter.handleRequested(
      { version: 1, workflow_id: 'cal_wf', scheduled_time: '2026-12-28T05:00:00Z' },
      'evt-2',
    );
    expect(scheduled.outcome).toBe('started');
    // A manual request is never checked against the calendar (a fresh store: max_active_runs is 1).
    const manual = await starterWith({ business }).starter.handleRequested(
      {
        version: 1,
        workflow_id: 'cal_wf',
        workflow_execution_id: 'manual-xmas',
        occurred_at: '2026-12-25T05:00:00.000Z',
      },
      'evt-3',
    );
    expect(manual.outcome).toBe('started');
  });

  it('refuses (an alert) when the calendar is not deployed or not valid', async () => {
    const missing = await starterWith({}).starter.handleRequested(
      { version: 1, workflow_id: 'cal_wf', scheduled_time: '2026-12-28T05:00:00Z' },
      'evt-4',
    );
    expect(missing).toMatchObject({
      outcome: 'rejected',
      rejection: {
        reason: 'InvalidDefinition',
        message: 'calendar "business" cannot be used: it is not deployed',
      },
    });
    const invalid = await starterWith({ business: { weekdays: [] } }).starter.handleRequested(
      { version: 1, workflow_id: 'cal_wf', scheduled_time: '2026-12-28T05:00:00Z' },
      'evt-5',
    );
    expect(invalid).toMatchObject({ outcome: 'rejected', rejection: { reason: 'InvalidDefinition' } });
  });
});
