import {
  bypassRefusal,
  holdRefusal,
  type JobFacts,
  type RunFacts,
  rerunRefusal,
  setOkRefusal,
} from '../contracts/operator.js';
import type { ActionName, ActionState, JobView, RunDetail } from '../contracts/run-view.js';
import type { RunActions } from './ports.js';

/** How the run page offers one action: its label, when it applies, and what the confirmation asks. */
export interface ActionSpec {
  label: string;
  /** Whether it acts on the run, or on one job (a button in the job's panel). */
  scope: 'run' | 'job';
  /** Whether the confirmation asks for a reason (kept in the audit with who asked). */
  needsReason: boolean;
  /**
   * Why it does not apply now, or undefined when it does. Job actions are given the job (run
   * actions are not); `reason` is the one typed, when the check is about a request.
   */
  unavailable(detail: RunDetail, job?: JobView, reason?: string): string | undefined;
  confirm(detail: RunDetail, job?: JobView): string;
}

/** What the shared rules (contracts/operator.ts) read of a run page. */
function runFacts(d: RunDetail): RunFacts {
  return {
    workflow_execution_id: d.run.workflow_execution_id,
    execution_status: d.run.execution_status,
    restarted_as: d.restarted_as[0] ?? null,
  };
}

function jobFacts(j: JobView): JobFacts {
  return {
    job_key: j.job_key,
    execution_status: j.execution_status,
    attempt: j.attempt,
    skip_reason: j.skip_reason,
  };
}

/** A job action's rule, from the shared wording (the starter enforces the same). */
function jobRule(
  rule: (run: RunFacts, job: JobFacts) => { message: string } | null,
): (d: RunDetail, j?: JobView) => string | undefined {
  return (d, j) => {
    if (!j) return 'it acts on one job: choose the job';
    return rule(runFacts(d), jobFacts(j))?.message;
  };
}

function isHeld(d: RunDetail): boolean {
  return d.run.held === true || d.run.hold_state?.held === true;
}

/**
 * Every action the run page knows, in the order its buttons appear. Adding an action: a name in
 * contracts/run-view.ts ACTION_NAMES, an entry here, and its implementation in the RunActions the
 * composition root wires. The rules here are for the buttons only: the implementation enforces
 * them again (a page can be stale).
 */
export const ACTION_SPECS: Record<ActionName, ActionSpec> = {
  restart: {
    label: 'Restart',
    scope: 'run',
    needsReason: false,
    unavailable: (d) => {
      const s = d.run.execution_status;
      if (s === 'Running') return 'the run is still running';
      if (s === 'Completed') return 'the run completed; nothing to restart';
      if (d.restarted_as.length > 0) return `already restarted as ${d.restarted_as.join(', ')}`;
      return undefined;
    },
    confirm: (d) =>
      `Restart ${d.run.workflow_execution_id}? A new run of ${d.run.workflow_id} starts; jobs that completed in this run are skipped, the others run again.`,
  },
  kill: {
    label: 'Kill',
    scope: 'run',
    needsReason: false,
    unavailable: (d) => {
      if (d.run.execution_status !== 'Running') return `the run is ${d.run.execution_status}`;
      if (d.run.cancel_requested) return 'a kill was already requested; its jobs are stopping';
      return undefined;
    },
    confirm: (d) =>
      `Kill ${d.run.workflow_execution_id}? Its running jobs are stopped (their process groups are killed), jobs not started never start, and the run ends Cancelled.`,
  },
  hold: {
    label: 'Hold',
    scope: 'run',
    needsReason: false,
    unavailable: (d) => {
      const r = holdRefusal(runFacts(d), 'hold');
      if (r) return r.message;
      return isHeld(d) ? 'the run is held already' : undefined;
    },
    confirm: (d) =>
      `Hold ${d.run.workflow_execution_id}? No new job starts (running ones finish) until it is freed.`,
  },
  free: {
    label: 'Free',
    scope: 'run',
    needsReason: false,
    unavailable: (d) => {
      const r = holdRefusal(runFacts(d), 'free');
      if (r) return r.message;
      return isHeld(d) ? undefined : 'the run is not held';
    },
    confirm: (d) => `Free ${d.run.workflow_execution_id}? Its next jobs start.`,
  },
  set_ok: {
    label: 'Set OK',
    scope: 'job',
    needsReason: true,
    unavailable: jobRule((run, job) => setOkRefusal(run, job)),
    confirm: (d, j) =>
      `Set job ${j?.job_key ?? ''} of ${d.run.workflow_execution_id} OK? It is recorded Completed (set OK, with your name and the reason); a run Failed because of it goes on from there.`,
  },
  rerun: {
    label: 'Rerun',
    scope: 'job',
    needsReason: false,
    unavailable: jobRule((run, job) => rerunRefusal(run, job)),
    confirm: (d, j) =>
      `Rerun job ${j?.job_key ?? ''} of ${d.run.workflow_execution_id}? It runs again as attempt ${(j?.attempt ?? 0) + 1} in the same run; the run's status is recomputed when it ends.`,
  },
  bypass: {
    label: 'Bypass',
    scope: 'job',
    needsReason: true,
    unavailable: (d, j, reason) => {
      if (!j) return 'it acts on one job: choose the job';
      return bypassRefusal(runFacts(d), jobFacts(j), j.attempt, reason ?? 'given')?.message;
    },
    confirm: (d, j) =>
      `Bypass job ${j?.job_key ?? ''} of ${d.run.workflow_execution_id}? It is Skipped (bypassed, with the reason) and the run goes on as if it had completed.`,
  },
};

function state(name: ActionName, detail: RunDetail, actions: RunActions, job?: JobView): ActionState {
  const spec = ACTION_SPECS[name];
  const reason = actions[name] ? spec.unavailable(detail, job) : 'not available here';
  return {
    name,
    label: spec.label,
    available: reason === undefined,
    reason: reason ?? null,
    confirm: spec.confirm(detail, job),
    scope: spec.scope,
    needs_reason: spec.needsReason,
  };
}

/** The run actions of a run page, with whether each may be used now and why not. */
export function actionStates(detail: RunDetail, actions: RunActions): ActionState[] {
  return (Object.keys(ACTION_SPECS) as ActionName[])
    .filter((name) => ACTION_SPECS[name].scope === 'run')
    .map((name) => state(name, detail, actions));
}

/** The job actions of one job's panel. */
export function jobActionStates(detail: RunDetail, job: JobView, actions: RunActions): ActionState[] {
  return (Object.keys(ACTION_SPECS) as ActionName[])
    .filter((name) => ACTION_SPECS[name].scope === 'job')
    .map((name) => state(name, detail, actions, job));
}
