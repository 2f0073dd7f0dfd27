/**
 * The run watchdog: a run still Running after its deadline (the longest time its definition allows,
 * services/starter/deadline.ts) is stuck — an event was lost or a service keeps failing. On AWS an
 * EventBridge Scheduler one-time schedule, created by the starter when the run starts, invokes this
 * once at the deadline; it reads the run's status and reports an overdue run as an ERROR line with
 * `error_name` RunOverdue, which a metric filter turns into the "runs overdue" alarm
 * (infra/constructs/monitoring.ts). A run that ended, or that does not exist, ends the check quietly.
 * A run an operator holds (issue 14) is waiting on purpose, not stuck: past its deadline it is
 * logged WARN "held past its deadline", not RunOverdue (no alarm for a decision someone made).
 */

import type { WorkflowStatus } from '../../contracts/audit.js';
import type { HoldState } from '../../contracts/operator.js';
import { RUN_OVERDUE_ERROR } from '../../contracts/run-watch.js';
import type { Logger, RunStatusReader, WatchedRun } from '../ports.js';

export type CheckResult =
  | { outcome: 'overdue'; workflow_execution_id: string }
  /** Still Running past its deadline because an operator holds it: a WARN line, no alarm. */
  | { outcome: 'held'; workflow_execution_id: string }
  | { outcome: 'ended'; workflow_execution_id: string; status: string }
  | { outcome: 'unknown-run'; workflow_execution_id: string };

/** A run's status and hold, read together (AWS: the same projected GetItem). */
export interface RunStatusAndHold {
  status: WorkflowStatus;
  hold_state: HoldState | null;
}

export interface WatchdogDeps {
  /**
   * The status read; with `read`, the run's hold comes in the same read (a reader without it
   * knows no holds: every Running run past its deadline is overdue).
   */
  runs: RunStatusReader & { read?(workflowExecutionId: string): Promise<RunStatusAndHold | undefined> };
  log: Logger;
}

export function createWatchdogService(deps: WatchdogDeps) {
  return {
    /** One check of one run (one strongly consistent read). */
    async check(run: WatchedRun): Promise<CheckResult> {
      const exec = run.workflow_execution_id;
      const read = deps.runs.read
        ? await deps.runs.read(exec)
        : await deps.runs.status(exec).then((status) => status && { status, hold_state: null });
      if (read === undefined) return { outcome: 'unknown-run', workflow_execution_id: exec };
      const { status, hold_state: hold } = read;
      if (status !== 'Running') return { outcome: 'ended', workflow_execution_id: exec, status };
      if (hold?.held) {
        deps.log.warn('run held past its deadline: it starts nothing until freed (rsqlo free)', {
          workflow_id: run.workflow_id,
          workflow_execution_id: exec,
          started_at: run.started_at,
          deadline_at: run.deadline_at,
          held_by: hold.requested_by,
          held_at: hold.requested_at,
          hold_scope: hold.scope,
        });
        return { outcome: 'held', workflow_execution_id: exec };
      }
      deps.log.error('run overdue: still Running after the longest time its definition allows', {
        error_name: RUN_OVERDUE_ERROR,
        workflow_id: run.workflow_id,
        workflow_execution_id: exec,
        started_at: run.started_at,
        deadline_at: run.deadline_at,
      });
      return { outcome: 'overdue', workflow_execution_id: exec };
    },
  };
}

export type WatchdogService = ReturnType<typeof createWatchdogService>;
