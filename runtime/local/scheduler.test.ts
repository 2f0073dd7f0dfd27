import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WorkflowDefinition } from '../../contracts/workflow.js';
import { fakeTime } from '../../test/support/fake-time.js';
import { LocalScheduler } from './scheduler.js';

function def(id: string, schedule: WorkflowDefinition['schedule']): WorkflowDefinition {
  return {
    workflow_id: id,
    workflow_stages: [{ execution_flag: 'y', execution_type: 'sequential', scripts: ['a.sh'] }],
    schedule,
  } as WorkflowDefinition;
}

describe('local scheduler (injected clock, no real waiting)', () => {
  let dir: string;
  let stateFile: string;
  let fired: Array<{ wf: string; at: string; late: boolean }>;
  let lines: string[];

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'rsqlo-sched-'));
    stateFile = path.join(dir, 'schedules.json');
    fired = [];
    lines = [];
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function scheduler(t: ReturnType<typeof fakeTime>) {
    return new LocalScheduler({
      clock: t.clock,
      timers: t.timers,
      stateFile,
      fire: (s, at, late) => fired.push({ wf: s.workflow_id, at: at.toISOString(), late }),
      notify: (l) => lines.push(l),
    });
  }

  it('fires cron schedules at their times in their time zone, and sleeps at most a minute at a time', () => {
    const t = fakeTime('2026-03-04T00:00:00Z');
    const s = scheduler(t);
    s.load([
      def('nightly', { expression: 'cron(0 2 * * ? *)', timezone: 'Europe/Paris' }),
      def('hourly', 'cron(30 * * * ? *)'),
      def('off', { expression: 'cron(* * * * ? *)', enabled: false }),
      def('none', undefined),
    ]);
    expect(fired).toEqual([]);
    t.advanceTo('2026-03-04T01:59:59Z');
    expect(fired).toEqual([
      { wf: 'hourly', at: '2026-03-04T00:30:00.000Z', late: false },
      // 02:00 in Paris (UTC+1 in March) is 01:00 UTC.
      { wf: 'nightly', at: '2026-03-04T01:00:00.000Z', late: false },
      { wf: 'hourly', at: '2026-03-04T01:30:00.000Z', late: false },
    ]);
    expect(t.pendingCount()).toBe(1);
    s.stop();
    expect(t.pendingCount()).toBe(0);
  });

  it('a new rate schedule fires at once, then every period', () => {
    const t = fakeTime('2026-03-04T10:00:00Z');
    scheduler(t).load([def('r', 'rate(15 minutes)')]);
    t.advanceTo('2026-03-04T10:31:00Z');
    expect(fired.map((f) => f.at)).toEqual([
      '2026-03-04T10:00:00.000Z',
      '2026-03-04T10:15:00.000Z',
      '2026-03-04T10:30:00.000Z',
    ]);
  });

  it('a firing missed while no server ran is not run late without catchup', () => {
    const t = fakeTime('2026-03-04T00:00:00Z');
    scheduler(t).load([def('hourly', 'cron(0 * * * ? *)')]);
    t.advanceTo('2026-03-04T01:00:00Z');
    expect(fired).toHaveLength(1);
    // The server stops at 01:10 and comes back at 04:20: 02:00, 03:00 and 04:00 were missed.
    const later = fakeTime('2026-03-04T04:20:00Z');
    scheduler(later).load([def('hourly', 'cron(0 * * * ? *)')]);
    expect(fired).toHaveLength(1);
    expect(lines.join('\n')).toContain(
      "missed 3 firing(s) of hourly's schedule (cron(0 * * * ? *)) while no server ran, the latest at 2026-03-04T04:00:00.000Z: not run late",
    );
    later.advanceTo('2026-03-04T05:00:00Z');
    expect(fired.map((f) => f.at)).toEqual(['2026-03-04T01:00:00.000Z', '2026-03-04T05:00:00.000Z']);
  });

  it('with "catchup": true the latest missed firing runs once when the server comes back', () => {
    const schedule = { expression: 'cron(0 * * * ? *)', catchup: true };
    const t = fakeTime('2026-03-04T00:00:00Z');
    scheduler(t).load([def('hourly', schedule)]);
    const later = fakeTime('2026-03-04T04:20:00Z');
    const s = scheduler(later);
    s.load([def('hourly', schedule)]);
    expect(fired).toEqual([{ wf: 'hourly', at: '2026-03-04T04:00:00.000Z', late: true }]);
    // Loading again (a third server at once) runs nothing more: the firing is recorded as handled.
    scheduler(fakeTime('2026-03-04T04:21:00Z')).load([def('hourly', schedule)]);
    expect(fired).toHaveLength(1);
    expect(JSON.parse(readFileSync(stateFile, 'utf8')).hourly.handled_until).toBe('2026-03-04T04:21:00.000Z');
    s.stop();
  });

  it('a changed expression starts afresh; a damaged state file is treated as none', () => {
    const t = fakeTime('2026-03-04T00:00:00Z');
    scheduler(t).load([def('w', { expression: 'cron(0 * * * ? *)', catchup: true })]);
    const later = fakeTime('2026-03-04T05:20:00Z');
    scheduler(later).load([def('w', { expression: 'cron(15 * * * ? *)', catchup: true })]);
    expect(fired).toEqual([]);
    writeFileSync(stateFile, '{ not json');
    const third = fakeTime('2026-03-04T06:20:00Z');
    scheduler(third).load([def('w', { expression: 'cron(15 * * * ? *)', catchup: true })]);
    expect(fired).toEqual([]);
    third.advanceTo('2026-03-04T07:15:00Z');
    expect(fired).toEqual([{ wf: 'w', at: '2026-03-04T07:15:00.000Z', late: false }]);
  });

  it('a failing start is reported and does not stop later firings', () => {
    const t = fakeTime('2026-03-04T00:00:00Z');
    let n = 0;
    const s = new LocalScheduler({
      clock: t.clock,
      timers: t.timers,
      stateFile,
      fire: () => {
        if (++n === 1) throw new Error('disk full');
      },
      notify: (l) => lines.push(l),
    });
    s.load([def('w', 'rate(1 hour)')]);
    t.advanceTo('2026-03-04T01:00:00Z');
    expect(n).toBe(2);
    expect(lines[0]).toContain('could not start its run for 2026-03-04T00:00:00.000Z: disk full');
  });
});
