import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Calendar } from '../../contracts/calendar.js';
import type { WorkflowDefinition } from '../../contracts/workflow.js';
import { fakeTime } from '../../test/support/fake-time.js';
import { LocalScheduler } from './scheduler.js';

const business: Calendar = { weekdays: ['mon', 'tue', 'wed', 'thu', 'fri'], exclude: ['2026-03-27'] };
const calendars = new Map([['business', business]]);

const def = (catchup = false): WorkflowDefinition =>
  ({
    workflow_id: 'daily',
    workflow_stages: [{ execution_flag: 'y', execution_type: 'sequential', scripts: ['a.sh'] }],
    schedule: { expression: 'cron(0 6 ? * * *)', timezone: 'Europe/Berlin', catchup },
    calendar: 'business',
  }) as WorkflowDefinition;

describe('local scheduler with a calendar (injected clock)', () => {
  let dir: string;
  let fired: string[];
  let lines: string[];
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'rsqlo-sched-cal-'));
    fired = [];
    lines = [];
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const scheduler = (t: ReturnType<typeof fakeTime>) =>
    new LocalScheduler({
      clock: t.clock,
      timers: t.timers,
      stateFile: path.join(dir, 'schedules.json'),
      fire: (_s, at) => fired.push(at.toISOString()),
      notify: (l) => lines.push(l),
    });

  it('does not fire on an excluded date nor outside its weekdays, across the Berlin spring DST change', () => {
    const t = fakeTime('2026-03-26T00:00:00Z');
    const s = scheduler(t);
    s.load([def()], calendars);
    t.advanceTo('2026-03-31T00:00:00Z');
    expect(fired).toEqual([
      '2026-03-26T05:00:00.000Z', // Thursday, CET
      // Friday 27 excluded; the weekend is no calendar day; clocks go forward on Sunday 29
      '2026-03-30T04:00:00.000Z', // Monday, CEST
    ]);
    expect(s.upcoming()).toEqual([{ workflow_id: 'daily', next: new Date('2026-03-31T04:00:00.000Z') }]);
    s.stop();
  });

  it('a restarted server with catchup does not run a firing of a non-calendar day late', () => {
    const t = fakeTime('2026-03-26T00:00:00Z');
    const first = scheduler(t);
    first.load([def(true)], calendars);
    t.advanceTo('2026-03-26T06:00:00Z');
    first.stop();
    expect(fired).toEqual(['2026-03-26T05:00:00.000Z']);
    // Down from Thursday to Sunday noon: only Friday (excluded) and the weekend were missed.
    t.advanceTo('2026-03-29T12:00:00Z');
    const second = scheduler(t);
    second.load([def(true)], calendars);
    expect(fired).toEqual(['2026-03-26T05:00:00.000Z']);
    expect(lines.filter((l) => l.startsWith('missed'))).toEqual([]);
    second.stop();
  });

  it('without the calendar loaded the same schedule fires every day (the calendar is what skips)', () => {
    const t = fakeTime('2026-03-26T00:00:00Z');
    const s = scheduler(t);
    s.load([def()]);
    t.advanceTo('2026-03-29T00:00:00Z');
    expect(fired).toEqual([
      '2026-03-26T05:00:00.000Z',
      '2026-03-27T05:00:00.000Z',
      '2026-03-28T05:00:00.000Z',
    ]);
    s.stop();
  });
});
