import type { ActionName, ActionState, RunDetail } from '../contracts/run-view.js';
import type { RunActions } from './ports.js';

/** How the run page offers one action: its label, when it applies, and what the confirmation asks. */
export interface ActionSpec {
  label: string;
  /** Why it does not apply to this run now, or undefined when it does. */
  unavailable(detail: RunDetail): string | undefined;
  confirm(detail: RunDetail): string;
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
    unavailable: (d) => {
      if (d.run.execution_status !== 'Running') return `the run is ${d.run.execution_status}`;
      if (d.run.cancel_requested) return 'a kill was already requested; its jobs are stopping';
      return undefined;
    },
    confirm: (d) =>
      `Kill ${d.run.workflow_execution_id}? Its running jobs are stopped (their process groups are killed), jobs not started never start, and the run ends Cancelled.`,
  },
};

/** The actions of a run page: every known action, with whether it may be used now and why not. */
export function actionStates(detail: RunDetail, actions: RunActions): ActionState[] {
  return (Object.keys(ACTION_SPECS) as ActionName[]).map((name) => {
    const spec = ACTION_SPECS[name];
    const reason = actions[name] ? spec.unavailable(detail) : 'not available here';
    return {
      name,
      label: spec.label,
      available: reason === undefined,
      reason: reason ?? null,
      confirm: spec.confirm(detail),
    };
  });
}
