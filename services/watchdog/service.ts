/**
 * The run watchdog: a run still Running after its deadline (the longest time its definition allows,
 * services/starter/deadline.ts) is stuck — an event was lost or a service keeps failing. On AWS an
 * EventBridge Scheduler one-time schedule, created by the starter when the run starts, invokes this
 * once at the deadline; it reads the run's status and reports an overdue run as an ERROR line with
 * `error_name` RunOverdue, which a metric filter turns into the "runs overdue" alarm
 * (infra/constructs/monitoring.ts). A run that ended, or that does not exist, ends the check quietly.
 */
import { RUN_OVERDUE_ERROR } from '../../contracts/run-watch.js';
import type { Logger, RunStatusReader, WatchedRun } from '../ports.js';

export type CheckResult =
  | { outcome: 'overdue'; workflow_execution_id: string }
  | { outcome: 'ended'; workflow_execution_id: string; status: string }
  | { outcome: 'unknown-run'; workflow_execution_id: string };

export interface WatchdogDeps {
  runs: RunStatusReader;
  log: Logger;
}

export function createWatchdogService(deps: WatchdogDeps) {
  return {
    /** One check of one run (one strongly consistent read). */
    async check(run: WatchedRun): Promise<CheckResult> {
      const exec = run.workflow_execution_id;
      const status = await deps.runs.status(exec);
      if (status === undefined) return { outcome: 'unknown-run', workflow_execution_id: exec };
      if (status !== 'Running') return { outcome: 'ended', workflow_execution_id: exec, status };
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
