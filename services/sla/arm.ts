/**
 * Arming a run's lines when the starter creates it (services/starter): the lines of its
 * definition's `sla` and its "longer than usual" line, each handed to the runtime's SlaLineWatch
 * (a local engine timer, an AWS one-time schedule). Asked before the run is written, in the same
 * delivery: a crash between the two re-arms on the redelivery (the watch is idempotent per run and
 * kind), and a request refused after arming leaves timers that find no run and end quietly.
 */
import type { WorkflowDefinition } from '../../contracts/workflow.js';
import type { RunRepository } from '../ports.js';
import { runLines, type SlaLineWatch, startByLine } from './lines.js';

/** Runs read to find the last 20 Completed ones (failed and cancelled runs in between are skipped). */
export const HISTORY_READ_LIMIT = 60;

export interface SlaArming {
  watch: SlaLineWatch;
  /**
   * Which runs get a "longer than usual" line (it costs a read of the workflow's recent runs):
   * `every-run` (the local engine, where the read is free) or `sla-runs` (AWS: only runs of
   * workflows whose definition has an `sla` block, so a run without one adds no request).
   */
  usual: 'every-run' | 'sla-runs';
}

/** Arms the lines of a run about to start; returns how many it armed. */
export async function armRunLines(
  arming: SlaArming,
  runs: Pick<RunRepository, 'listRuns'>,
  definition: WorkflowDefinition,
  run: { workflow_id: string; workflow_execution_id: string; started_at: string },
): Promise<number> {
  const wantUsual = arming.usual === 'every-run' || definition.sla !== undefined;
  if (!definition.sla && !wantUsual) return 0;
  const history = wantUsual ? await runs.listRuns(run.workflow_id, HISTORY_READ_LIMIT) : undefined;
  const lines = runLines(run, definition.sla, history);
  for (const line of lines) await arming.watch.watchLine(line);
  return lines.length;
}

/**
 * Arms a scheduled firing's start_by line (issue 15): asked by the starter for a request with a
 * `scheduled_time` whose definition's sla has `start_by`, before the run is written or refused
 * (max_active_runs), so a refused or lost firing is still caught. `exec` is the firing's
 * deterministic execution id (services/starter/execution-id.ts): at the line, the check looks
 * for that run. The watch is idempotent per execution id and kind, so a redelivered firing arms
 * nothing more; a workflow without start_by (or a request without a scheduled time) costs nothing.
 * Returns whether a line was asked for.
 */
export async function armStartByLine(
  arming: SlaArming,
  definition: WorkflowDefinition,
  exec: string,
  scheduledTime: string | undefined,
): Promise<boolean> {
  const sla = definition.sla;
  if (!sla?.start_by || scheduledTime === undefined) return false;
  const scheduledMs = Date.parse(scheduledTime);
  if (Number.isNaN(scheduledMs)) return false;
  const line = startByLine(definition.workflow_id, exec, { ...sla, start_by: sla.start_by }, scheduledMs);
  await arming.watch.watchLine(line);
  return true;
}
