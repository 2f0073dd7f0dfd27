/**
 * Where a run's service-level lines fall in time (issue 15), as pure functions of the definition,
 * the run's start and its workflow's history, so both runtimes arm the same instants.
 *
 * **finish_by `HH:MM`** is the first instant after the run's start at which the zone's wall clock
 * reaches `HH:MM` on some day: normally exactly `HH:MM` (a run started 23:10 with finish_by 06:00
 * must finish by 06:00 the next morning; one started 05:59 by 06:00 the same morning; one started
 * 06:00 exactly by 06:00 the next day). Daylight saving time, read in the IANA zone:
 * - a time the clock skips (02:30 in Europe/Berlin on 29 Mar 2026, when 02:00 CET becomes 03:00
 *   CEST) is reached when the clock jumps over it: 03:00 CEST, 01:00 UTC;
 * - a time the clock shows twice (02:30 on 25 Oct 2026, first CEST then CET) is reached the first
 *   time: 02:30 CEST, 00:30 UTC. A run started between the two occurrences has reached that day's
 *   line already, so its line is the next day's 02:30 (CET, 01:30 UTC on 26 Oct).
 *
 * **max_duration_seconds** is the run's start plus that many seconds.
 *
 * **start_by `HH:MM`** is the first instant at or after the schedule was due (its scheduled time)
 * at which the zone's clock reaches `HH:MM`, by the same rules.
 *
 * **Longer than usual** is the start plus 1.5 × the 90th percentile (nearest rank) of the durations
 * of the workflow's last 20 Completed runs, and never sooner than USUAL_MIN_SECONDS after the start;
 * none while fewer than 20 exist.
 */
import type { Sla, SlaKind } from '../../contracts/sla.js';
import { wallTime } from '../scheduler/expression.js';

/** The zone wall-clock times are read in when the definition names none. */
export const DEFAULT_SLA_TIMEZONE = 'UTC';
/** Completed runs the "longer than usual" percentile is taken over (none before that many exist). */
export const USUAL_HISTORY_RUNS = 20;
/** The percentile and the factor of "longer than usual". */
export const USUAL_PERCENTILE = 0.9;
export const USUAL_FACTOR = 1.5;
/**
 * The earliest "longer than usual" line, in seconds after the start (default 60). Workflows whose
 * runs take a few seconds (or round to 0) would otherwise alert on every run that meets any delay;
 * a minute is less than anyone pages for and more than scheduling jitter.
 */
export const USUAL_MIN_SECONDS = 60;

/** What a line check is: the kinds of SlaMissed, and the run's "longer than usual" line. */
export type LineKind = SlaKind | 'longer_than_usual';

/**
 * One armed line of one run: what the timer (a local timer, an AWS one-time schedule) carries and
 * hands the check when it fires.
 */
export interface SlaLine {
  workflow_id: string;
  workflow_execution_id: string;
  kind: LineKind;
  /** The instant of the line (UTC ISO, whole seconds). */
  line_at: string;
  /** The line as the definition says it (`06:00 Europe/Berlin`, `3600 s`, `1.5 x p90 (1800 s)`). */
  line: string;
  /** When the run started (null for start_by: no run started). */
  started_at: string | null;
  /** longer_than_usual only: the percentile it was computed from, in seconds. */
  p90_seconds?: number;
}

/** Arms a line: a timer that hands it to the check at `line_at`. Idempotent per run and kind. */
export interface SlaLineWatch {
  watchLine(line: SlaLine): Promise<'created' | 'exists'>;
}

/** The zone's wall clock at `utcMs`, as if it were UTC (ms since the epoch). */
function wallMs(zone: string, utcMs: number): number {
  const w = wallTime(utcMs, zone);
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
}

/** The zone's offset from UTC at `utcMs` (ms, whole seconds). */
function offsetMs(zone: string, utcMs: number): number {
  const t = Math.floor(utcMs / 1000) * 1000;
  return wallMs(zone, t) - t;
}

/**
 * The first instant at which the zone's wall clock reaches `wall` (a wall time as if UTC): the
 * instant itself on ordinary days, the first of two on a repeated hour, the jump on a skipped one.
 * Assumes at most one offset change within a day of it (true of every IANA zone).
 */
export function wallClockToUtc(wall: number, zone: string): number {
  const before = offsetMs(zone, wall - 86_400_000);
  const after = offsetMs(zone, wall + 86_400_000);
  const exact = [wall - before, wall - after].filter((t) => wallMs(zone, t) === wall);
  if (exact.length > 0) return Math.min(...exact);
  // Skipped (the clock jumps forward over it): the instant of the jump, found by bisection
  // between a time still on the old offset and one already on the new.
  let lo = wall - after;
  let hi = wall - before;
  while (hi - lo > 1000) {
    const mid = Math.floor((lo + hi) / 2000) * 1000;
    if (offsetMs(zone, mid) === before) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** `HH:MM` → minutes after midnight. */
function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
}

/**
 * The line of wall-clock time `hhmm` in `zone` for something that began at `fromMs`: the first
 * day's reaching of `hhmm` (see the module comment) that is after `fromMs` (`inclusive`: at or after).
 */
export function nextWallClock(fromMs: number, hhmm: string, zone: string, inclusive = false): number {
  const fromWall = wallMs(zone, fromMs);
  const day0 = Date.UTC(
    new Date(fromWall).getUTCFullYear(),
    new Date(fromWall).getUTCMonth(),
    new Date(fromWall).getUTCDate(),
  );
  const minutes = minutesOf(hhmm);
  for (let d = -1; d <= 2; d++) {
    const t = wallClockToUtc(day0 + d * 86_400_000 + minutes * 60_000, zone);
    if (inclusive ? t >= fromMs : t > fromMs) return t;
  }
  throw new RangeError(`no ${hhmm} in ${zone} within two days of ${new Date(fromMs).toISOString()}`);
}

/** An instant as the lines carry it: UTC ISO, whole seconds rounded up (never early). */
export function lineInstant(ms: number): string {
  return new Date(Math.ceil(ms / 1000) * 1000).toISOString().replace(/\.000Z$/, 'Z');
}

/** The 90th percentile by nearest rank: the ⌈0.9·n⌉-th smallest. Undefined for no values. */
export function percentile90(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.ceil(USUAL_PERCENTILE * sorted.length) - 1];
}

/** A run of the history: what "longer than usual" needs of it. */
export interface HistoryRun {
  workflow_execution_id: string;
  execution_status: string;
  execution_start_ts: string;
  execution_end_ts: string | null;
}

/**
 * "Longer than usual" for a run of a workflow whose runs, newest first, are `history`: the p90 of
 * the last USUAL_HISTORY_RUNS Completed ones (other than the run itself) and 1.5 × it (at least
 * USUAL_MIN_SECONDS), in seconds; undefined while fewer exist.
 */
export function usualThreshold(
  history: readonly HistoryRun[],
  exec: string,
): { p90Seconds: number; thresholdSeconds: number } | undefined {
  const durations: number[] = [];
  for (const r of history) {
    if (durations.length >= USUAL_HISTORY_RUNS) break;
    if (r.workflow_execution_id === exec || r.execution_status !== 'Completed' || !r.execution_end_ts)
      continue;
    const ms = Date.parse(r.execution_end_ts) - Date.parse(r.execution_start_ts);
    if (Number.isFinite(ms) && ms >= 0) durations.push(ms / 1000);
  }
  if (durations.length < USUAL_HISTORY_RUNS) return undefined;
  const p90 = percentile90(durations) as number;
  const threshold = Math.max(USUAL_MIN_SECONDS, p90 * USUAL_FACTOR);
  return { p90Seconds: p90, thresholdSeconds: Math.round(threshold * 1000) / 1000 };
}

/**
 * The lines a run arms when it starts: finish_by and max_duration from the definition's `sla`, and
 * the "longer than usual" line when `history` is given and long enough.
 */
export function runLines(
  run: { workflow_id: string; workflow_execution_id: string; started_at: string },
  sla: Sla | undefined,
  history?: readonly HistoryRun[],
): SlaLine[] {
  const start = Date.parse(run.started_at);
  if (Number.isNaN(start))
    throw new RangeError(`run start ${JSON.stringify(run.started_at)} is not a timestamp`);
  const ids = {
    workflow_id: run.workflow_id,
    workflow_execution_id: run.workflow_execution_id,
    started_at: run.started_at,
  };
  const out: SlaLine[] = [];
  const zone = sla?.timezone ?? DEFAULT_SLA_TIMEZONE;
  if (sla?.finish_by) {
    out.push({
      ...ids,
      kind: 'finish_by',
      line_at: lineInstant(nextWallClock(start, sla.finish_by, zone)),
      line: `${sla.finish_by} ${zone}`,
    });
  }
  if (sla?.max_duration_seconds) {
    out.push({
      ...ids,
      kind: 'max_duration',
      line_at: lineInstant(start + sla.max_duration_seconds * 1000),
      line: `${sla.max_duration_seconds} s`,
    });
  }
  const usual = history ? usualThreshold(history, run.workflow_execution_id) : undefined;
  if (usual) {
    out.push({
      ...ids,
      kind: 'longer_than_usual',
      line_at: lineInstant(start + usual.thresholdSeconds * 1000),
      line: `1.5 x p90 (${usual.p90Seconds} s) = ${usual.thresholdSeconds} s`,
      p90_seconds: usual.p90Seconds,
    });
  }
  return out;
}

/** The start_by line of a schedule due at `scheduledMs` (see the module comment). */
export function startByLine(
  workflowId: string,
  exec: string,
  sla: Sla & { start_by: string },
  scheduledMs: number,
): SlaLine {
  const zone = sla.timezone ?? DEFAULT_SLA_TIMEZONE;
  return {
    workflow_id: workflowId,
    workflow_execution_id: exec,
    kind: 'start_by',
    line_at: lineInstant(nextWallClock(scheduledMs, sla.start_by, zone, true)),
    line: `${sla.start_by} ${zone}`,
    started_at: null,
  };
}
