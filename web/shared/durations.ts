import type { RunSummary } from '../../contracts/run-view.js';
import { elapsed } from './format.js';

/** How many completed runs "usual" is computed from (the most recent ones). */
export const USUAL_SAMPLE = 20;
/** Completed runs needed before anything is called longer than usual. */
export const USUAL_MIN_SAMPLES = 3;
/** A run longer than this many times the usual duration is "longer than usual". */
export const LONGER_FACTOR = 1.5;

export interface UsualDuration {
  /** Median duration (ms) of the recent completed runs; null without enough of them. */
  median: number | null;
  /** Above this (ms), a run is longer than usual; null without enough samples. */
  threshold: number | null;
  samples: number;
}

/**
 * The usual duration of a workflow: the median of its last {@link USUAL_SAMPLE} completed runs
 * (failed and cancelled runs end early or late for reasons of their own, so they do not count).
 * `history` is newest first, as the read model returns it.
 */
export function usualDuration(history: readonly RunSummary[]): UsualDuration {
  const durations: number[] = [];
  for (const r of history) {
    if (durations.length >= USUAL_SAMPLE) break;
    if (r.execution_status !== 'Completed') continue;
    const d = elapsed(r.execution_start_ts, r.execution_end_ts, 0);
    if (d !== null && r.execution_end_ts) durations.push(d);
  }
  if (durations.length < USUAL_MIN_SAMPLES)
    return { median: null, threshold: null, samples: durations.length };
  durations.sort((a, b) => a - b);
  const mid = durations.length >> 1;
  const median =
    durations.length % 2 === 1
      ? (durations[mid] as number)
      : ((durations[mid - 1] as number) + (durations[mid] as number)) / 2;
  return { median, threshold: median * LONGER_FACTOR, samples: durations.length };
}

/** Whether a run took (or, still running, has already taken) longer than usual. */
export function isLongerThanUsual(run: RunSummary, usual: UsualDuration, now: number): boolean {
  if (usual.threshold === null) return false;
  const d = elapsed(run.execution_start_ts, run.execution_end_ts, now);
  return d !== null && d > usual.threshold;
}
