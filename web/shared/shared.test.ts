import { describe, expect, it } from 'vitest';
import type { JobAttemptView, JobView, RunDetail, RunSummary } from '../../contracts/run-view.js';
import { isLongerThanUsual, usualDuration } from './durations.js';
import { elapsed, formatDuration, stripAnsi } from './format.js';
import { ganttLayout, MIN_BAR_PERCENT } from './gantt.js';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();

function run(
  id: string,
  status: RunSummary['execution_status'],
  start: number,
  end: number | null,
): RunSummary {
  return {
    workflow_execution_id: id,
    workflow_id: 'wf',
    workflow_description: null,
    execution_status: status,
    execution_start_ts: at(start),
    execution_end_ts: end === null ? null : at(end),
    restart_of: null,
    cancel_requested: false,
    current_stage: null,
    counts: { total: 1, completed: 0, failed: 0, timed_out: 0, cancelled: 0, skipped: 0 },
  };
}

function attempt(
  n: number,
  status: JobAttemptView['execution_status'],
  start: number | null,
  end: number | null,
): JobAttemptView {
  return {
    attempt: n,
    execution_status: status,
    execution_start_ts: start === null ? null : at(start),
    execution_end_ts: end === null ? null : at(end),
    exit_code: null,
    error_message: null,
    instance_id: null,
    has_log: start !== null,
  };
}

function job(key: string, attempts: JobAttemptView[]): JobView {
  const [stage, no] = key.split('.').map(Number) as [number, number];
  const last = attempts[attempts.length - 1] as JobAttemptView;
  return {
    job_key: key,
    job_name: `${key}.sh`,
    stage,
    job_no: no,
    execution_status: last.execution_status,
    attempt: last.attempt,
    max_attempts: 3,
    skip_reason: null,
    args: [],
    timeout_seconds: 60,
    not_before: null,
    attempts,
  };
}

describe('format', () => {
  it('formats durations as people read them', () => {
    expect(formatDuration(850)).toBe('850 ms');
    expect(formatDuration(1234)).toBe('1.2 s');
    expect(formatDuration(42_000)).toBe('42 s');
    expect(formatDuration(245_000)).toBe('4 m 05 s');
    expect(formatDuration(2 * 3600_000 + 3 * 60_000)).toBe('2 h 03 m');
    expect(formatDuration(76 * 3600_000)).toBe('3 d 04 h');
    expect(formatDuration(-1)).toBe('–');
  });
  it('measures elapsed time, open-ended against now', () => {
    expect(elapsed(at(0), at(5), 0)).toBe(5000);
    expect(elapsed(at(0), null, T0 + 7000)).toBe(7000);
    expect(elapsed(null, null, 0)).toBeNull();
  });
  it('strips terminal colour codes', () => {
    expect(stripAnsi('\u001b[1;31mERROR\u001b[0m: x')).toBe('ERROR: x');
  });
});

describe('usual duration', () => {
  it('is the median of recent completed runs; failed and running ones do not count', () => {
    const h = [
      run('r6', 'Running', 100, null),
      run('r5', 'Failed', 90, 91),
      run('r4', 'Completed', 80, 90),
      run('r3', 'Completed', 60, 72),
      run('r2', 'Completed', 40, 50),
      run('r1', 'Completed', 0, 30),
    ];
    const u = usualDuration(h);
    expect(u).toEqual({ median: 11_000, threshold: 16_500, samples: 4 });
    expect(isLongerThanUsual(h[5] as RunSummary, u, 0)).toBe(true);
    expect(isLongerThanUsual(h[2] as RunSummary, u, 0)).toBe(false);
    // A running run becomes "longer than usual" while it runs.
    expect(isLongerThanUsual(h[0] as RunSummary, u, T0 + 110_000)).toBe(false);
    expect(isLongerThanUsual(h[0] as RunSummary, u, T0 + 117_000)).toBe(true);
  });
  it('needs three completed runs before calling anything long', () => {
    const u = usualDuration([run('a', 'Completed', 0, 10), run('b', 'Completed', 0, 100)]);
    expect(u.median).toBeNull();
    expect(isLongerThanUsual(run('c', 'Completed', 0, 1000), u, 0)).toBe(false);
  });
});

describe('gantt layout', () => {
  const detail = (jobs: JobView[], end: number | null): RunDetail => ({
    run: run('x', end === null ? 'Running' : 'Completed', 0, end),
    parameters: {},
    stages: [
      {
        stage: 1,
        stage_description: null,
        execution_type: 'parallel',
        enabled: true,
        max_concurrency: null,
        status: 'Running',
        started_at: at(0),
        finished_at: null,
        counts: { total: 2, completed: 0, failed: 0, timed_out: 0, cancelled: 0, skipped: 0 },
      },
    ],
    jobs,
    restarted_as: [],
  });

  it('places every attempt by its start and end; a retry is a second bar in the same row', () => {
    const d = detail(
      [
        job('1.1', [attempt(1, 'Failed', 0, 10), attempt(2, 'Completed', 20, 60)]),
        job('1.2', [attempt(1, 'Completed', 50, 100)]),
      ],
      100,
    );
    const g = ganttLayout(d, T0 + 500_000);
    expect(g.rows.map((r) => r.kind)).toEqual(['stage', 'job', 'job']);
    const j1 = g.rows[1] as Extract<(typeof g.rows)[number], { kind: 'job' }>;
    expect(j1.bars.map((b) => [b.attempt, b.status, b.leftPct, b.widthPct, b.running])).toEqual([
      [1, 'Failed', 0, 10, false],
      [2, 'Completed', 20, 40, false],
    ]);
    const j2 = g.rows[2] as Extract<(typeof g.rows)[number], { kind: 'job' }>;
    expect(j2.bars[0]).toMatchObject({ leftPct: 50, widthPct: 50 });
    expect(g.ticks.map((t) => t.offset)).toEqual([0, 30_000, 60_000, 90_000]);
  });

  it('grows running bars with now, keeps tiny ones visible, and gives waiting jobs no bar', () => {
    const d = detail(
      [
        job('1.1', [attempt(1, 'Running', 10, null)]),
        job('1.2', [attempt(1, 'Completed', 0, 0.01)]),
        job('1.3', [attempt(1, 'Pending', null, null)]),
      ],
      null,
    );
    const early = ganttLayout(d, T0 + 20_000);
    const later = ganttLayout(d, T0 + 40_000);
    const bar = (g: typeof early, i: number) =>
      (g.rows[i] as Extract<(typeof g.rows)[number], { kind: 'job' }>).bars[0];
    expect(bar(early, 1)).toMatchObject({ running: true, leftPct: 50, widthPct: 50 });
    expect(bar(later, 1)).toMatchObject({ running: true, leftPct: 25, widthPct: 75 });
    expect(bar(later, 2)?.widthPct).toBe(MIN_BAR_PERCENT);
    expect((later.rows[3] as Extract<(typeof later.rows)[number], { kind: 'job' }>).bars).toEqual([]);
  });
});
