import type { JobAttemptView, RunDetail } from '../../contracts/run-view.js';

/** Narrowest bar (percent of the track), so a job of a few milliseconds can still be seen and focused. */
export const MIN_BAR_PERCENT = 0.6;

/** One job attempt on the timeline. */
export interface GanttBar {
  attempt: number;
  status: JobAttemptView['execution_status'];
  /** ms since the epoch */
  start: number;
  end: number;
  /** Still going: its end is `now` and grows. */
  running: boolean;
  leftPct: number;
  widthPct: number;
}

export interface GanttJobRow {
  kind: 'job';
  jobKey: string;
  jobName: string;
  stage: number;
  status: string;
  bars: GanttBar[];
}

export interface GanttStageRow {
  kind: 'stage';
  stage: number;
  description: string | null;
  executionType: 'sequential' | 'parallel';
  status: string;
  /** The stage's span, when it started. */
  bar: { leftPct: number; widthPct: number } | null;
}

export type GanttRow = GanttStageRow | GanttJobRow;

export interface GanttTick {
  at: number;
  leftPct: number;
  /** ms since the run started */
  offset: number;
}

export interface GanttLayout {
  origin: number;
  end: number;
  rows: GanttRow[];
  ticks: GanttTick[];
}

const STEPS = [
  1e3,
  2e3,
  5e3,
  10e3,
  15e3,
  30e3,
  60e3,
  120e3,
  300e3,
  600e3,
  900e3,
  1800e3,
  3600e3,
  7200e3,
  4 * 3600e3,
  6 * 3600e3,
  12 * 3600e3,
  24 * 3600e3,
];

function pct(x: number, origin: number, span: number): number {
  return Math.min(100, Math.max(0, ((x - origin) / span) * 100));
}

function attemptIsOver(a: JobAttemptView): boolean {
  return ['Completed', 'Failed', 'TimedOut', 'Cancelled', 'Skipped'].includes(a.execution_status);
}

/**
 * Places every job attempt of a run on one time axis: from the run's start to its end (or `now`
 * while it runs). An attempt still going ends at `now`, so re-laying out with a later `now` makes it
 * grow. Attempts that never started (waiting, skipped) have no bar.
 */
export function ganttLayout(detail: RunDetail, now: number): GanttLayout {
  const origin = Date.parse(detail.run.execution_start_ts);
  let end = detail.run.execution_end_ts ? Date.parse(detail.run.execution_end_ts) : now;
  const spans: Array<{ job: string; a: JobAttemptView; start: number; end: number; running: boolean }> = [];
  for (const j of detail.jobs) {
    for (const a of j.attempts) {
      if (!a.execution_start_ts) continue;
      const start = Date.parse(a.execution_start_ts);
      const running = !a.execution_end_ts && !attemptIsOver(a);
      const stop = a.execution_end_ts
        ? Date.parse(a.execution_end_ts)
        : running
          ? Math.max(now, start)
          : start;
      spans.push({ job: j.job_key, a, start, end: stop, running });
      end = Math.max(end, stop);
    }
  }
  const span = Math.max(end - origin, 1000);
  const rows: GanttRow[] = [];
  for (const st of detail.stages) {
    const sStart = st.started_at ? Date.parse(st.started_at) : null;
    const sEnd = st.finished_at ? Date.parse(st.finished_at) : now;
    rows.push({
      kind: 'stage',
      stage: st.stage,
      description: st.stage_description,
      executionType: st.execution_type,
      status: st.status,
      bar:
        sStart === null
          ? null
          : {
              leftPct: pct(sStart, origin, span),
              widthPct: Math.max(MIN_BAR_PERCENT, pct(sEnd, origin, span) - pct(sStart, origin, span)),
            },
    });
    for (const j of detail.jobs) {
      if (j.stage !== st.stage) continue;
      const bars: GanttBar[] = spans
        .filter((s) => s.job === j.job_key)
        .map((s) => {
          const leftPct = pct(s.start, origin, span);
          const widthPct = Math.min(
            Math.max(MIN_BAR_PERCENT, pct(s.end, origin, span) - leftPct),
            100 - Math.min(leftPct, 100 - MIN_BAR_PERCENT),
          );
          return {
            attempt: s.a.attempt,
            status: s.a.execution_status,
            start: s.start,
            end: s.end,
            running: s.running,
            leftPct: Math.min(leftPct, 100 - MIN_BAR_PERCENT),
            widthPct,
          };
        });
      rows.push({
        kind: 'job',
        jobKey: j.job_key,
        jobName: j.job_name,
        stage: j.stage,
        status: j.execution_status,
        bars,
      });
    }
  }
  const step = STEPS.find((s) => span / s <= 6) ?? (STEPS[STEPS.length - 1] as number);
  const ticks: GanttTick[] = [];
  for (let off = 0; off <= span; off += step)
    ticks.push({ at: origin + off, offset: off, leftPct: (off / span) * 100 });
  return { origin, end: origin + span, rows, ticks };
}
