/**
 * Moving a run on from the state of one stage: "is the stage done? then complete it (its
 * StageCompleted, the next stage's StageReady or WorkflowFinished go out with the write) : it may
 * launch more, so StageReady". The aggregator does it after counting a job; the starter's operator
 * actions (set-ok, rerun, bypass: services/starter/operator.ts) do it after their write, so an
 * action that finishes a stage moves the run on exactly as a job's end would. Idempotent: a call
 * that finds the step done already re-derives what it emitted (`ensurePublished`).
 */
import type { WorkflowRunState } from '../../contracts/audit.js';
import type { RsqloEvent } from '../../contracts/events.js';
import type { Clock, EventPublisher, JobRepository, RunRepository } from '../ports.js';
import {
  canLaunch,
  completionEvents,
  planStageCompletion,
  stageCompletedEvent,
  stageGeneration,
  stageOutcome,
  stageReadyEvent,
  workflowFinishedEvent,
} from './progress.js';

/** What moving a run on needs. */
export interface AdvanceDeps {
  runs: RunRepository;
  jobs: JobRepository;
  events: EventPublisher;
  clock: Clock;
}

/**
 * `completed`: this call ended the stage; `ended`: it had ended already (what that emitted was
 * re-derived); `busy`: jobs of the stage are still to finish or start; `gone`: no such stage.
 */
export type AdvanceResult = 'completed' | 'ended' | 'busy' | 'gone';

/** The skip reason of the jobs a run that ended in `stage` will never start. */
function skipReason(run: WorkflowRunState, stage: number): () => string {
  const reason = run.cancel_requested
    ? 'not started: the run was cancelled'
    : `not started: stage ${stage} failed`;
  return () => reason;
}

/**
 * What finishing `stage` emitted, re-derived from the run as it is now: StageCompleted, then the
 * StageReady of the next stage it started, or WorkflowFinished when the run ended with it.
 */
export function replayCompletion(run: WorkflowRunState, stage: number): RsqloEvent[] {
  const st = run.stages[stage - 1];
  if (!st || (st.status !== 'Completed' && st.status !== 'Failed' && st.status !== 'Cancelled')) return [];
  const at = st.finished_at ?? run.execution_end_ts ?? run.execution_start_ts;
  // The same builder as completionEvents: a reopened run's ending keeps its `:g<n>` id on replay,
  // the generation it ended in (stageGeneration), however often the run was reopened since.
  const out: RsqloEvent[] = [stageCompletedEvent(run, stage, st.status, at)];
  const next = run.stages.find((s) => s.stage > stage && s.started_at !== null);
  if (next) out.push(stageReadyEvent(run, next.stage, 'start', at));
  else if (run.execution_status !== 'Running' && (run.current_stage ?? stage) === stage) {
    // The run ended with this stage's ending: the same generation.
    out.push(
      workflowFinishedEvent(
        run,
        run.execution_status === 'Completed' ? null : stage,
        stageGeneration(run, stage),
      ),
    );
  }
  return out;
}

/**
 * Completes `stage` if its counters say it is done (planStageCompletion, completeStage with the
 * completion events); when it had ended already, re-derives what that emitted and marks the jobs a
 * failed run will never start. The aggregator's step after counting a job (its StageReady for
 * more work goes out with the count itself).
 */
export async function completeIfDone(
  deps: AdvanceDeps,
  run: WorkflowRunState,
  stage: number,
): Promise<AdvanceResult> {
  const { runs, jobs, events, clock } = deps;
  const at = clock.now().toISOString();
  const st = run.stages[stage - 1];
  if (!st) return 'gone';
  if (run.execution_status !== 'Running' || st.status !== 'Running') {
    // Already moved on (a redelivery): make sure what that step emitted went out, and that
    // the jobs a failed run will never start are marked.
    if (st.status === 'Completed' || st.status === 'Failed' || st.status === 'Cancelled') {
      await events.ensurePublished(replayCompletion(run, stage));
      if (run.execution_status !== 'Running' && run.execution_status !== 'Completed') {
        const last = run.current_stage ?? stage;
        const lastSt = run.stages[last - 1] ?? st;
        await jobs.skipPending(run.workflow_execution_id, last, lastSt.cursor, skipReason(run, last));
      }
      return 'ended';
    }
    return 'busy';
  }
  const outcome = stageOutcome(st, run.cancel_requested);
  if (!outcome.done) return 'busy';
  const completion = planStageCompletion(run, stage, outcome.status, at);
  const applied = await runs.completeStage(completion, { events: completionEvents(run, completion) });
  if (!applied) {
    const fresh = await runs.getRun(run.workflow_execution_id);
    if (fresh) return completeIfDone(deps, fresh, stage);
    return 'gone';
  }
  if (completion.runStatus && completion.runStatus !== 'Completed') {
    await jobs.skipPending(run.workflow_execution_id, stage, st.cursor, skipReason(run, stage));
  }
  return 'completed';
}

/**
 * Moves the run on from `stage`: completes it when done (completeIfDone), else, when the stage may
 * still launch jobs, publishes StageReady(stage, cause) so the planner looks again (level-triggered:
 * a duplicate is harmless). `cause` names what changed (e.g. `setok-1.2-a1`), so the event id is
 * the same however often the caller's request is delivered.
 */
export async function advance(
  deps: AdvanceDeps,
  run: WorkflowRunState,
  stage: number,
  cause: string,
): Promise<AdvanceResult> {
  const result = await completeIfDone(deps, run, stage);
  if (result !== 'busy') return result;
  const st = run.stages[stage - 1];
  if (run.execution_status === 'Running' && st?.status === 'Running' && canLaunch(st, run.cancel_requested)) {
    await deps.events.publish([stageReadyEvent(run, stage, cause, deps.clock.now().toISOString())]);
  }
  return result;
}
