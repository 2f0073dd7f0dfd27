/**
 * Where SLA lines fall: finish_by across midnight and on the real DST dates of Europe/Berlin in
 * 2026 (spring forward Sunday 29 March, 02:00 CET → 03:00 CEST at 01:00 UTC; fall back Sunday
 * 25 October, 03:00 CEST → 02:00 CET at 01:00 UTC — EU summer time, Directive 2000/84/EC: "at
 * 1.00 a.m. Greenwich Mean Time on the last Sunday in March / October"), max_duration, start_by,
 * and the "longer than usual" percentile.
 */
import { describe, expect, it } from 'vitest';
import { validateDefinition } from '../../contracts/workflow.js';
import {
  type HistoryRun,
  nextWallClock,
  percentile90,
  runLines,
  startByLine,
  usualThreshold,
} from './lines.js';

const BERLIN = 'Europe/Berlin';
const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();

describe('finish_by: the next time the zone clock reaches HH:MM after the start', () => {
  it('across midnight: a run started 23:10 Berlin must finish by 06:00 the next morning', () => {
    // 23:10 CET on 5 Dec 2026 = 22:10 UTC; 06:00 CET on 6 Dec = 05:00 UTC.
    expect(iso(nextWallClock(at('2026-12-05T22:10:00Z'), '06:00', BERLIN))).toBe('2026-12-06T05:00:00.000Z');
  });

  it('the same morning when started before it; the next day when started exactly at it', () => {
    expect(iso(nextWallClock(at('2026-12-06T04:59:00Z'), '06:00', BERLIN))).toBe('2026-12-06T05:00:00.000Z');
    expect(iso(nextWallClock(at('2026-12-06T05:00:00Z'), '06:00', BERLIN))).toBe('2026-12-07T05:00:00.000Z');
  });

  it('is read in the zone, not UTC: 00:30 Berlin in summer is 22:30 UTC the day before', () => {
    expect(iso(nextWallClock(at('2026-07-01T20:00:00Z'), '00:30', BERLIN))).toBe('2026-07-01T22:30:00.000Z');
  });

  it('29 Mar 2026 (spring forward): 02:30 never happens; the line is the jump, 03:00 CEST = 01:00 UTC', () => {
    // Started 23:00 CET on 28 Mar (22:00 UTC).
    expect(iso(nextWallClock(at('2026-03-28T22:00:00Z'), '02:30', BERLIN))).toBe('2026-03-29T01:00:00.000Z');
    // A time after the jump on that day is ordinary: 06:00 CEST = 04:00 UTC.
    expect(iso(nextWallClock(at('2026-03-28T22:00:00Z'), '06:00', BERLIN))).toBe('2026-03-29T04:00:00.000Z');
    // The day before and after: 02:30 CET (01:30 UTC) and 02:30 CEST (00:30 UTC).
    expect(iso(nextWallClock(at('2026-03-27T22:00:00Z'), '02:30', BERLIN))).toBe('2026-03-28T01:30:00.000Z');
    expect(iso(nextWallClock(at('2026-03-29T22:00:00Z'), '02:30', BERLIN))).toBe('2026-03-30T00:30:00.000Z');
  });

  it('25 Oct 2026 (fall back): 02:30 happens twice; the line is the first, 02:30 CEST = 00:30 UTC', () => {
    expect(iso(nextWallClock(at('2026-10-24T22:00:00Z'), '02:30', BERLIN))).toBe('2026-10-25T00:30:00.000Z');
    // Started between the two (02:45 CEST = 00:45 UTC): that day's line was reached before the
    // start, so the next is 26 Oct 02:30 CET = 01:30 UTC.
    expect(iso(nextWallClock(at('2026-10-25T00:45:00Z'), '02:30', BERLIN))).toBe('2026-10-26T01:30:00.000Z');
    // 06:00 on the 25-hour day is 06:00 CET = 05:00 UTC: 7 hours after a 23:00 CEST start.
    expect(iso(nextWallClock(at('2026-10-24T21:00:00Z'), '06:00', BERLIN))).toBe('2026-10-25T05:00:00.000Z');
  });

  it('runLines puts finish_by and max_duration of the definition on the run', () => {
    const lines = runLines(
      { workflow_id: 'wf', workflow_execution_id: 'e1', started_at: '2026-03-28T22:00:00.000Z' },
      { finish_by: '02:30', timezone: BERLIN, max_duration_seconds: 3600 },
    );
    expect(lines.map((l) => [l.kind, l.line_at, l.line])).toEqual([
      ['finish_by', '2026-03-29T01:00:00Z', '02:30 Europe/Berlin'],
      ['max_duration', '2026-03-28T23:00:00Z', '3600 s'],
    ]);
  });

  it('UTC when the definition names no zone', () => {
    const [line] = runLines(
      { workflow_id: 'wf', workflow_execution_id: 'e1', started_at: '2026-12-05T22:10:00.000Z' },
      { finish_by: '06:00' },
    );
    expect(line?.line_at).toBe('2026-12-06T06:00:00Z');
  });
});

describe('start_by: at or after the time the schedule was due', () => {
  it('a schedule due 01:00 Berlin with start_by 02:30: 02:30 the same night; on 29 Mar the jump', () => {
    const sla = { start_by: '02:30', timezone: BERLIN };
    expect(startByLine('wf', 'wf-x', sla, at('2026-12-06T00:00:00Z')).line_at).toBe('2026-12-06T01:30:00Z');
    expect(startByLine('wf', 'wf-x', sla, at('2026-03-29T00:00:00Z')).line_at).toBe('2026-03-29T01:00:00Z');
    expect(startByLine('wf', 'wf-x', sla, at('2026-12-06T01:30:00Z')).line_at).toBe('2026-12-06T01:30:00Z');
  });
});

describe('longer than usual', () => {
  const history = (n: number, seconds: (i: number) => number, status = 'Completed'): HistoryRun[] =>
    Array.from({ length: n }, (_, i) => ({
      workflow_execution_id: `h-${i}`,
      execution_status: status,
      execution_start_ts: new Date(at('2026-01-01T00:00:00Z') + i * 86_400_000).toISOString(),
      execution_end_ts: new Date(
        at('2026-01-01T00:00:00Z') + i * 86_400_000 + seconds(i) * 1000,
      ).toISOString(),
    }));

  it('p90 by nearest rank', () => {
    expect(percentile90([])).toBeUndefined();
    expect(percentile90(Array.from({ length: 20 }, (_, i) => i + 1))).toBe(18);
    expect(percentile90([5])).toBe(5);
  });

  it('none with 19 Completed runs, 1.5 x p90 with 20; failed runs and the run itself do not count', () => {
    const failed = history(30, () => 10, 'Failed');
    expect(usualThreshold([...history(19, (i) => 100 + i), ...failed], 'x')).toBeUndefined();
    const twenty = history(20, (i) => 100 + i); // 100…119 s: p90 = 117
    expect(usualThreshold([...failed, ...twenty], 'x')).toEqual({ p90Seconds: 117, thresholdSeconds: 175.5 });
    expect(usualThreshold(twenty, 'h-3')).toBeUndefined();
  });

  it('takes the newest 20 Completed runs only', () => {
    const newest = history(20, () => 60);
    const older = history(20, () => 6000);
    expect(usualThreshold([...newest, ...older], 'x')).toEqual({ p90Seconds: 60, thresholdSeconds: 90 });
  });

  it('never sooner than a minute: quick runs (or runs of 0 s) do not alert on every small delay', () => {
    expect(
      usualThreshold(
        history(20, () => 0),
        'x',
      ),
    ).toEqual({ p90Seconds: 0, thresholdSeconds: 60 });
    expect(
      usualThreshold(
        history(20, () => 2),
        'x',
      ),
    ).toEqual({ p90Seconds: 2, thresholdSeconds: 60 });
    expect(
      usualThreshold(
        history(20, () => 40),
        'x',
      ),
    ).toEqual({ p90Seconds: 40, thresholdSeconds: 60 });
    expect(
      usualThreshold(
        history(20, () => 41),
        'x',
      ),
    ).toEqual({ p90Seconds: 41, thresholdSeconds: 61.5 });
  });
});

describe('the sla block of a definition', () => {
  const def = (sla: unknown) => ({
    workflow_id: 'wf',
    workflow_stages: [{ execution_flag: 'y', execution_type: 'sequential', scripts: ['a.sh'] }],
    sla,
  });
  const problems = (sla: unknown) => {
    const r = validateDefinition(def(sla));
    return r.ok ? [] : r.issues.map((i) => `${i.path}: ${i.message}`);
  };

  it('accepts every field, and none', () => {
    expect(
      problems({ finish_by: '06:00', start_by: '02:30', timezone: BERLIN, max_duration_seconds: 3600 }),
    ).toEqual([]);
    expect(problems({})).toEqual([]);
  });

  it.each([
    [{ finish_by: '6:00' }, 'sla.finish_by', '"HH:MM"'],
    [{ finish_by: '24:00' }, 'sla.finish_by', '"24:00"'],
    [{ start_by: '02:60' }, 'sla.start_by', '"02:60"'],
    [{ timezone: 'Mars/Olympus' }, 'sla.timezone', 'unknown time zone "Mars/Olympus"'],
    [{ max_duration_seconds: 0 }, 'sla.max_duration_seconds', 'at least 1'],
    [{ max_duration_seconds: 1.5 }, 'sla.max_duration_seconds', 'whole number'],
    [{ finish_by: '06:00', finsh_by: '07:00' }, 'sla', 'unknown field "finsh_by"'],
    ['06:00', 'sla', 'must be an object'],
  ])('refuses %j, naming %s', (sla, field, text) => {
    const found = problems(sla);
    expect(found.length).toBeGreaterThan(0);
    expect(found.join('\n')).toContain(field);
    expect(found.join('\n')).toContain(text);
  });
});
