import {
  emptyCounts,
  type JobCounts,
  type StageProgress,
  type WorkflowRunState,
} from '../../contracts/audit.js';
import { EVENT_VERSION, eventIds, type RsqloEvent } from '../../contracts/events.js';
import type { StageCompletion } from '../ports.js';

export type StageOutcome =
  | { done: false; canLaunch: boolean }
  | { done: true; status: 'Completed' | 'Failed' | 'Cancelled' };

/** Jobs of a stage that occupy a slot: launched and not yet finally counted (includes retry waits). */
export function inFlight(st: StageProgress): number {
  return st.launched - st.finished;
}

/** Whether a stage is over and how it ended, from its counters alone (O(1)). */
export function stageOutcome(st: StageProgress, cancelRequested: boolean): StageOutcome {
  const failures = st.failed + st.timed_out + st.cancelled;
  const busy = inFlight(st) > 0;
  if (cancelRequested) return busy ? { done: false, canLaunch: false } : { done: true, status: 'Cancelled' };
  if (failures > 0) return busy ? { done: false, canLaunch: false } : { done: true, status: 'Failed' };
  if (st.finished + st.pre_skipped >= st.total) return { done: true, status: 'Completed' };
  return { done: false, canLaunch: st.cursor < st.total };
}

/** Whether the planner may still queue jobs in this stage (not done, not failed, not cancelled). */
export function canLaunch(st: StageProgress, cancelRequested: boolean): boolean {
  const o = stageOutcome(st, cancelRequested);
  return !o.done && o.canLaunch;
}

/** Sum of the stages' counters. */
export function totalCounts(stages: readonly StageProgress[]): JobCounts {
  const c: JobCounts = { total: 0, completed: 0, failed: 0, timed_out: 0, cancelled: 0, skipped: 0 };
  for (const s of stages) {
    c.total += s.total;
    c.completed += s.completed;
    c.failed += s.failed;
    c.timed_out += s.timed_out;
    c.cancelled += s.cancelled;
    c.skipped += s.skipped;
  }
  return c;
}

function stageCounts(s: StageProgress): JobCounts {
  return {
    total: s.total,
    completed: s.completed,
    failed: s.failed,
    timed_out: s.timed_out,
    cancelled: s.cancelled,
    skipped: s.skipped,
  };
}

/** Base fields of an event about a run. */
export function eventBase(
  run: Pick<WorkflowRunState, 'workflow_id' | 'workflow_execution_id'>,
  id: string,
  at: string,
) {
  return {
    version: EVENT_VERSION,
    event_id: id,
    occurred_at: at,
    workflow_id: run.workflow_id,
    workflow_execution_id: run.workflow_execution_id,
  };
}

export function stageReadyEvent(run: WorkflowRunState, stage: number, cause: string, at: string): RsqloEvent {
  return {
    detailType: 'StageReady',
    detail: { ...eventBase(run, eventIds.stageReady(run.workflow_execution_id, stage, cause), at), stage },
  };
}

/**
 * Decides how a finished stage moves the run on: the next stage with work, or the end of the run.
 * When the stage failed or the run was cancelled, every job that never started counts as Skipped.
 */
export function planStageCompletion(
  run: WorkflowRunState,
  stage: number,
  status: 'Completed' | 'Failed' | 'Cancelled',
  at: string,
): StageCompletion {
  const skippedByStage: Record<number, number> = {};
  const endedStages: StageCompletion['endedStages'] = [];
  let nextStage: number | null = null;
  let runStatus: StageCompletion['runStatus'] = null;
  if (status === 'Completed') {
    const next = run.stages.find((s) => s.stage > stage && s.status === 'Pending');
    if (next) nextStage = next.stage;
    // The last stage to run ended well. In an ordinary run every other stage Completed (or was
    // Skipped); a reopened run (a rerun in an earlier stage of a run that Failed later) still has
    // its Failed stage, and the run ends as its stages say: Failed.
    else runStatus = otherStageFailed(run, stage) ? 'Failed' : 'Completed';
  } else {
    runStatus = status;
    const st = run.stages[stage - 1];
    if (st) {
      const never = st.total - st.pre_skipped - st.launched;
      if (never > 0) skippedByStage[stage] = never;
    }
    for (const s of run.stages) {
      if (s.stage > stage && s.status === 'Pending') {
        skippedByStage[s.stage] = s.total - s.pre_skipped;
        endedStages.push({ stage: s.stage, status: 'Skipped' });
      }
    }
  }
  return {
    workflowExecutionId: run.workflow_execution_id,
    stage,
    status,
    at,
    nextStage,
    runStatus,
    skippedByStage,
    endedStages,
  };
}

function otherStageFailed(run: WorkflowRunState, stage: number): boolean {
  return run.stages.some((s) => s.stage !== stage && s.status === 'Failed');
}

/** The run as it is after a completion is applied (what the adapters write, computed once here). */
export function applyStageCompletion(run: WorkflowRunState, c: StageCompletion): WorkflowRunState {
  const stages = run.stages.map((s) => ({ ...s }));
  const st = stages[c.stage - 1];
  if (st) {
    st.status = c.status;
    st.finished_at = c.at;
    if (runGeneration(run) > 0) st.ended_generation = runGeneration(run);
  }
  for (const [k, n] of Object.entries(c.skippedByStage)) {
    const s = stages[Number(k) - 1];
    if (s) s.skipped += n;
  }
  for (const e of c.endedStages) {
    const s = stages[e.stage - 1];
    if (s) {
      s.status = e.status;
      s.finished_at = c.at;
    }
  }
  let current = run.current_stage;
  if (c.nextStage !== null) {
    const n = stages[c.nextStage - 1];
    if (n) {
      n.status = 'Running';
      n.started_at = c.at;
    }
    current = c.nextStage;
  }
  return {
    ...run,
    stages,
    current_stage: current,
    counts: totalCounts(stages),
    execution_status: c.runStatus ?? run.execution_status,
    execution_end_ts: c.runStatus ? c.at : run.execution_end_ts,
  };
}

/** The events a completion emits: StageCompleted, then StageReady for the next stage or WorkflowFinished. */
export function completionEvents(before: WorkflowRunState, c: StageCompletion): RsqloEvent[] {
  const after = applyStageCompletion(before, c);
  const st = after.stages[c.stage - 1];
  const events: RsqloEvent[] = [];
  if (st) events.push(stageCompletedEvent(after, c.stage, c.status, c.at));
  if (c.nextStage !== null) events.push(stageReadyEvent(after, c.nextStage, 'start', c.at));
  if (c.runStatus) events.push(workflowFinishedEvent(after, c.runStatus === 'Completed' ? null : c.stage));
  return events;
}

/** How often the run was reopened (set-ok, rerun); absent = 0. */
export function runGeneration(run: Pick<WorkflowRunState, 'generation'>): number {
  return run.generation ?? 0;
}

/**
 * The generation `stage`'s ending belongs to: the one it ended in when it has ended (a reopen
 * since does not change what that ending was), else the run's.
 */
export function stageGeneration(run: WorkflowRunState, stage: number): number {
  const st = run.stages[stage - 1];
  const ended = st && (st.status === 'Completed' || st.status === 'Failed' || st.status === 'Cancelled');
  return ended ? (st.ended_generation ?? 0) : runGeneration(run);
}

/**
 * StageCompleted of `stage` with the counters the run has now. A reopened run's endings (generation
 * n > 0) get their own id (`:g<n>`) and carry `generation`, so consumers that dedupe on event_id
 * see the second ending; for n = 0 the event is exactly what it always was. Used by
 * completionEvents and by the aggregator's replay alike, so a redelivery re-emits the same id.
 */
export function stageCompletedEvent(
  run: WorkflowRunState,
  stage: number,
  status: 'Completed' | 'Failed' | 'Cancelled',
  at: string,
): RsqloEvent {
  const st = run.stages[stage - 1];
  const gen = stageGeneration(run, stage);
  return {
    detailType: 'StageCompleted',
    detail: {
      ...eventBase(run, eventIds.stageCompleted(run.workflow_execution_id, stage, gen), at),
      stage,
      status,
      counts: st ? stageCounts(st) : emptyCounts(),
      ...(gen > 0 ? { generation: gen } : {}),
    },
  };
}

/**
 * WorkflowFinished of the run as it is now. `failedStage` is the stage the run ended in (null when
 * Completed); when that stage itself Completed but the run Failed (a reopened run whose earlier
 * Failed stage still stands) the event names the first Failed stage instead. Generation as in
 * stageCompletedEvent.
 */
export function workflowFinishedEvent(
  run: WorkflowRunState,
  failedStage: number | null,
  gen = runGeneration(run),
): RsqloEvent {
  const end = run.execution_end_ts ?? run.execution_start_ts;
  const status = run.execution_status === 'Running' ? 'Completed' : run.execution_status;
  return {
    detailType: 'WorkflowFinished',
    detail: {
      ...eventBase(run, eventIds.workflowFinished(run.workflow_execution_id, gen), end),
      status,
      counts: run.counts,
      started_at: run.execution_start_ts,
      finished_at: end,
      duration_ms: Math.max(0, Date.parse(end) - Date.parse(run.execution_start_ts)),
      failed_stage: endedIn(run, status, failedStage),
      failed_jobs: run.failed_jobs.slice(0, 10),
      ...(gen > 0 ? { generation: gen } : {}),
    },
  };
}

function endedIn(run: WorkflowRunState, status: string, failedStage: number | null): number | null {
  if (status !== 'Failed' || failedStage === null) return failedStage;
  if (run.stages[failedStage - 1]?.status !== 'Completed') return failedStage;
  return run.stages.find((s) => s.status === 'Failed')?.stage ?? failedStage;
}
