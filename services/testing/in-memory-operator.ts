/**
 * The in-memory OperatorRepository (issue 14, plan §3): set-ok, rerun and bypass written exactly as
 * `services/shared/operator-plan.ts` computes them, the revive of a failure's skipped jobs, run and
 * workflow holds ordered by `newerRequest`. Each method is one synchronous step of the store
 * (`InMemoryStore.mutate`), so its effects are committed with its write and faults can be injected
 * into it, as for every other store method. Same semantics as the SQLite store
 * (runtime/local/operator-store.ts); the port contract suite (operator-ports-contract.ts) checks both.
 */
import type { JobAuditRecord, WorkflowRunState } from '../../contracts/audit.js';
import { type HoldState, MAX_RUN_OPERATOR_ACTIONS, newerRequest } from '../../contracts/operator.js';
import type { Effects, JobActionPlan, OperatorRepository } from '../ports.js';
import { applyJobAction, applyJobActionToJob, workflowHeldRunIds } from '../shared/operator-plan.js';

/** Store methods of this port (fault injection names them like the store's own). */
export type OperatorStoreMethod = 'applyJobAction' | 'reviveSkipped' | 'setRunHold' | 'setWorkflowHold';

/**
 * What the operator port needs of the store's private state: the rows (live, not copies: callers
 * only read them and write through `writeRun`/`writeJob`), one-step mutations and the effects of
 * the step. Kept small so the store's tables stay private to it.
 */
export interface OperatorStoreInternals {
  mutate<T>(method: OperatorStoreMethod, fn: () => T): Promise<T>;
  count(method: string): void;
  run(exec: string): WorkflowRunState | undefined;
  allRuns(): Iterable<WorkflowRunState>;
  job(exec: string, key: string): JobAuditRecord | undefined;
  /** Job keys of a run in (stage, job) order. */
  jobKeys(exec: string): readonly string[];
  /** The stored definition of a workflow (its `max_active_runs`), as-is. */
  definition(workflowId: string): unknown;
  writeRun(run: WorkflowRunState): void;
  /**
   * Writes a job row an operator action changed. `operatorMove`: the write legitimately moves the
   * row out of a final status (set-ok, rerun, revive), which the store's "transitions only move
   * forward" check must not report.
   */
  writeJob(job: JobAuditRecord, operatorMove: boolean): void;
  applyEffects(effects: Effects | undefined): void;
  /** Workflow holds by workflow id (createRun reads them too). */
  readonly workflowHolds: Map<string, HoldState>;
}

const clone = <T>(v: T): T => structuredClone(v);

/** The operator port over the in-memory store's rows. */
export function inMemoryOperator(s: OperatorStoreInternals): OperatorRepository {
  return {
    applyJobAction: (plan, effects) => s.mutate('applyJobAction', () => applyPlan(s, plan, effects)),

    reviveSkipped: (exec, fromStage, reason) =>
      s.mutate('reviveSkipped', () => {
        let n = 0;
        for (const key of s.jobKeys(exec)) {
          const job = s.job(exec, key);
          if (job?.execution_status !== 'Skipped' || job.stage < fromStage) continue;
          if (job.skip_reason !== reason) continue;
          s.writeJob(
            {
              ...clone(job),
              execution_status: 'Pending',
              skip_reason: null,
              execution_end_ts: null,
              counted: false,
            },
            true,
          );
          n++;
        }
        return n;
      }),

    setRunHold: (exec, next, action, effects) =>
      s.mutate('setRunHold', () => {
        const run = s.run(exec);
        if (!run) return 'not-running';
        const cur = run.hold_state ?? null;
        // The same request again (a duplicate): the caller re-runs its follow-ups, whatever the
        // run did meanwhile.
        if (cur && cur.request_id === next.request_id) return 'same';
        if (run.execution_status !== 'Running') return 'not-running';
        if (cur && !newerRequest(next, cur)) return 'stale';
        s.writeRun({
          ...clone(run),
          hold_state: clone(next),
          operator_actions: [...(run.operator_actions ?? []), clone(action)].slice(-MAX_RUN_OPERATOR_ACTIONS),
          operator_action_count: (run.operator_action_count ?? run.operator_actions?.length ?? 0) + 1,
        });
        s.applyEffects(effects);
        return 'applied';
      }),

    getWorkflowHold: async (workflowId) => {
      s.count('operator.getWorkflowHold');
      const h = s.workflowHolds.get(workflowId);
      return h ? clone(h) : undefined;
    },

    setWorkflowHold: (workflowId, next, effects) =>
      s.mutate('setWorkflowHold', () => {
        const cur = s.workflowHolds.get(workflowId);
        if (cur && cur.request_id === next.request_id) return 'same';
        if (cur && !newerRequest(next, cur)) return 'stale';
        s.workflowHolds.set(workflowId, clone(next));
        s.applyEffects(effects);
        return 'applied';
      }),

    heldRuns: async (workflowId) => {
      s.count('operator.heldRuns');
      return workflowHeldRunIds([...s.allRuns()].filter((r) => r.workflow_id === workflowId));
    },
  };
}

/** One set-ok/rerun/bypass write: all of it or nothing (every condition checked before writing). */
function applyPlan(
  s: OperatorStoreInternals,
  plan: JobActionPlan,
  effects: Effects,
): 'applied' | 'conflict' | 'limit' {
  const run = s.run(plan.workflowExecutionId);
  const job = s.job(plan.workflowExecutionId, plan.jobKey);
  if (!run || !job) return 'conflict';
  if (run.execution_status !== plan.expectRun.status || (run.generation ?? 0) !== plan.expectRun.generation)
    return 'conflict';
  const e = plan.job.expect;
  if (
    job.attempt !== e.attempt ||
    !e.statuses.includes(job.execution_status) ||
    job.counted !== e.counted ||
    (e.instanceId !== undefined && job.instance_id !== e.instanceId)
  )
    return 'conflict';
  // This very action is written already (a plan that leaves the run as read, e.g. a bypass of a
  // job a failure skipped, would otherwise match its own conditions again and count twice).
  if (job.operator_actions?.some((x) => x.action_id === plan.record.action_id)) return 'conflict';
  if (plan.run.reopens && run.execution_status !== 'Running') {
    // The reopened run takes an active-run slot again, under the workflow's max_active_runs.
    const max = maxActiveRuns(s.definition(run.workflow_id));
    let active = 0;
    for (const r of s.allRuns())
      if (r.workflow_id === run.workflow_id && r.execution_status === 'Running') active++;
    if (active >= max) return 'limit';
  }
  s.writeJob(applyJobActionToJob(clone(job), plan), plan.action !== 'bypass');
  s.writeRun(applyJobAction(clone(run), plan));
  s.applyEffects(effects);
  return 'applied';
}

function maxActiveRuns(definition: unknown): number {
  const m = (definition as { max_active_runs?: unknown } | undefined)?.max_active_runs;
  return typeof m === 'number' && Number.isInteger(m) && m > 0 ? m : 1;
}
