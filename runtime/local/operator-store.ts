/**
 * Resource pools and operator actions in the embedded engine's state file (issue 14, plan §3):
 * the `PoolRepository` and `OperatorRepository` over `pools`, `pool_holders`, `pool_waiters`,
 * `workflow_holds` and the run and job rows. Every method is one transaction, and its effects go
 * into the outbox in it, so a state change and what it causes commit together or not at all —
 * also against other processes on the same file (each transaction holds SQLite's write lock).
 * Kept apart from store.ts, which hands it the few row operations it needs (`StoreAccess`).
 *
 * The semantics are stated executably by services/testing/operator-ports-contract.ts.
 */
import type { JobAuditRecord, WorkflowRunState } from '../../contracts/audit.js';
import {
  type HoldState,
  MAX_RUN_OPERATOR_ACTIONS,
  newerRequest,
  type OperatorActionRecord,
} from '../../contracts/operator.js';
import type {
  Effects,
  JobActionPlan,
  JobTransition,
  OperatorRepository,
  PoolHolder,
  PoolRepository,
  PoolState,
} from '../../services/ports.js';
import { applyJobAction } from '../../services/shared/operator-plan.js';

/** What the repositories below need of the store: transactions, statements and the row caches. */
export interface StoreAccess {
  /** One write transaction (nested calls join the outer one). */
  tx<T>(fn: () => T): T;
  /** Reads that must see one snapshot (a read transaction unless one is open already). */
  read<T>(fn: () => T): T;
  /** A writing statement (counted; a store failure fails the transaction); returns rows changed. */
  write(sql: string, ...args: unknown[]): number;
  get<T>(sql: string, ...args: unknown[]): T | undefined;
  all<T>(sql: string, ...args: unknown[]): T[];
  getRun(exec: string): WorkflowRunState | undefined;
  writeRun(run: WorkflowRunState): void;
  getJob(exec: string, jobKey: string): JobAuditRecord | undefined;
  /** Writes a job row (and its change-feed record, when the aggregator must see it). */
  writeJob(job: JobAuditRecord): void;
  applyEffects(effects: Effects | undefined): void;
  /** The workflow's stored definition, as stored (undefined: none). */
  definition(workflowId: string): unknown;
  now(): number;
}

interface PoolRow {
  name: string;
  slots: number;
  created_by: string;
  last_change: string | null;
}

interface WaiterRow {
  holder: string;
  exec: string;
  job_key: string;
  attempt: number;
  since: string;
}

/** The pools of the home (see the module's comment). */
export function localPools(s: StoreAccess): PoolRepository {
  const row = (name: string) =>
    s.get<PoolRow>('SELECT name, slots, created_by, last_change FROM pools WHERE name = ?', name);
  const holderCount = (name: string) =>
    (s.get<{ n: number }>('SELECT COUNT(*) AS n FROM pool_holders WHERE pool = ?', name) as { n: number }).n;
  const waiterCount = (name: string) =>
    (s.get<{ n: number }>('SELECT COUNT(*) AS n FROM pool_waiters WHERE pool = ?', name) as { n: number }).n;
  const isHolder = (name: string, holder: string) =>
    s.get('SELECT 1 FROM pool_holders WHERE pool = ? AND holder = ?', name, holder) !== undefined;
  const isWaiter = (name: string, holder: string) =>
    s.get('SELECT 1 FROM pool_waiters WHERE pool = ? AND holder = ?', name, holder) !== undefined;
  const addHolder = (name: string, h: PoolHolder) =>
    s.write(
      'INSERT INTO pool_holders (pool, holder, exec, job_key, attempt, since) VALUES (?, ?, ?, ?, ?, ?)',
      name,
      h.holder,
      h.workflowExecutionId,
      h.jobKey,
      h.attempt,
      h.since,
    );
  const state = (r: PoolRow): PoolState => ({
    name: r.name,
    slots: r.slots,
    holders: s
      .all<{ holder: string }>('SELECT holder FROM pool_holders WHERE pool = ? ORDER BY holder', r.name)
      .map((h) => h.holder),
    waiters: s
      .all<WaiterRow>(
        'SELECT holder, exec, job_key, attempt, since FROM pool_waiters WHERE pool = ? ORDER BY since_ms, holder',
        r.name,
      )
      .map((w) => ({
        holder: w.holder,
        workflowExecutionId: w.exec,
        jobKey: w.job_key,
        attempt: w.attempt,
        since: w.since,
      })),
    created_by: r.created_by,
    last_change: r.last_change
      ? (JSON.parse(r.last_change) as { requested_at: string; request_id: string })
      : null,
  });
  const iso = () => new Date(s.now()).toISOString();

  return {
    get: async (name) =>
      s.read(() => {
        const r = row(name);
        return r ? state(r) : undefined;
      }),
    list: async () =>
      s.read(() =>
        s
          .all<PoolRow>('SELECT name, slots, created_by, last_change FROM pools ORDER BY name')
          .map((r) => state(r)),
      ),
    ensure: async (name, slots, origin, effects) =>
      s.tx(() => {
        const t = iso();
        const n = s.write(
          'INSERT INTO pools (name, slots, created_by, created_at, updated_at, last_change) VALUES (?, ?, ?, ?, ?, NULL) ' +
            'ON CONFLICT (name) DO NOTHING',
          name,
          slots,
          origin.created_by,
          t,
          t,
        );
        if (n === 0) return 'exists' as const;
        s.applyEffects(effects);
        return 'created' as const;
      }),
    resize: async (name, slots, change, effects) =>
      s.tx(() => {
        const r = row(name);
        const t = iso();
        const last = { requested_at: change.requested_at, request_id: change.request_id };
        if (!r) {
          s.write(
            'INSERT INTO pools (name, slots, created_by, created_at, updated_at, last_change) VALUES (?, ?, ?, ?, ?, ?)',
            name,
            slots,
            change.created_by,
            t,
            t,
            JSON.stringify(last),
          );
        } else {
          const prev = r.last_change
            ? (JSON.parse(r.last_change) as { requested_at: string; request_id: string })
            : null;
          if (prev && prev.request_id === last.request_id) return 'same' as const;
          if (prev && !newerRequest(last, prev)) return 'stale' as const;
          s.write(
            'UPDATE pools SET slots = ?, updated_at = ?, last_change = ? WHERE name = ?',
            slots,
            t,
            JSON.stringify(last),
            name,
          );
        }
        s.applyEffects(effects);
        return 'applied' as const;
      }),
    acquire: async (name, h) =>
      s.tx(() => {
        const r = row(name);
        if (!r) return 'missing' as const;
        if (isHolder(name, h.holder)) return 'acquired' as const;
        // A free slot with someone waiting is the waiter's (served by the wake pass): no queue jumping.
        if (holderCount(name) >= r.slots || waiterCount(name) > 0) return 'full' as const;
        addHolder(name, h);
        return 'acquired' as const;
      }),
    enqueue: async (name, h) =>
      s.tx(() => {
        const r = row(name);
        if (!r) return { queued: false, free: 0, waiting: 0 };
        const held = isHolder(name, h.holder);
        if (!held) {
          s.write(
            'INSERT INTO pool_waiters (pool, holder, exec, job_key, attempt, since, since_ms) VALUES (?, ?, ?, ?, ?, ?, ?) ' +
              'ON CONFLICT (pool, holder) DO NOTHING',
            name,
            h.holder,
            h.workflowExecutionId,
            h.jobKey,
            h.attempt,
            h.since,
            Date.parse(h.since),
          );
        }
        return {
          queued: !held,
          free: Math.max(0, r.slots - holderCount(name)),
          waiting: waiterCount(name),
        };
      }),
    grant: async (name, h, job, effects) =>
      s.tx(() => {
        const r = row(name);
        if (!r || !isWaiter(name, h.holder)) return 'gone' as const;
        const current = s.getJob(job.workflowExecutionId, job.jobKey);
        if (!current || !matches(current, job) || current.waiting_for !== `pool:${name}`)
          return 'gone' as const;
        if (holderCount(name) >= r.slots) return 'no-slot' as const;
        s.write('DELETE FROM pool_waiters WHERE pool = ? AND holder = ?', name, h.holder);
        addHolder(name, h);
        s.writeJob({ ...current, ...job.set } as JobAuditRecord);
        s.applyEffects(effects);
        return 'granted' as const;
      }),
    release: async (name, holder, effects) =>
      s.tx(() => {
        const n = s.write('DELETE FROM pool_holders WHERE pool = ? AND holder = ?', name, holder);
        if (n === 0) return 'not-held' as const;
        s.applyEffects(effects);
        return 'released' as const;
      }),
    dequeue: async (name, holder) =>
      s.tx(() => s.write('DELETE FROM pool_waiters WHERE pool = ? AND holder = ?', name, holder) > 0),
  };
}

/** Whether a job row is as a transition expects it (attempt, status, host). */
function matches(job: JobAuditRecord, t: JobTransition): boolean {
  return (
    job.attempt === t.expect.attempt &&
    t.expect.statuses.includes(job.execution_status) &&
    (t.expect.instanceId === undefined || job.instance_id === t.expect.instanceId)
  );
}

/** The operator's actions on runs, jobs and workflows (see the module's comment). */
export function localOperator(s: StoreAccess): OperatorRepository {
  const ordered = (stored: HoldState | null | undefined, next: HoldState): 'same' | 'stale' | null => {
    if (!stored) return null;
    if (stored.request_id === next.request_id) return 'same';
    if (!newerRequest(next, stored)) return 'stale';
    return null;
  };

  return {
    applyJobAction: async (plan, effects) => s.tx(() => applyPlan(s, plan, effects)),
    reviveSkipped: async (exec, fromStage, reason) =>
      s.tx(() => {
        const rows = s
          .all<{ body: string }>(
            "SELECT body FROM jobs WHERE exec = ? AND stage >= ? AND status = 'Skipped' ORDER BY stage, job_no",
            exec,
            fromStage,
          )
          .map((r) => JSON.parse(r.body) as JobAuditRecord)
          .filter((j) => j.skip_reason === reason);
        for (const j of rows) {
          s.writeJob({
            ...j,
            execution_status: 'Pending',
            skip_reason: null,
            execution_end_ts: null,
            counted: false,
          });
        }
        return rows.length;
      }),
    setRunHold: async (exec, next, action, effects) =>
      s.tx(() => {
        const run = s.getRun(exec);
        if (!run) return 'not-running' as const;
        const order = ordered(run.hold_state, next);
        if (order === 'same') return order;
        if (run.execution_status !== 'Running') return 'not-running' as const;
        if (order) return order;
        s.writeRun({ ...withAction(run, action), hold_state: next });
        s.applyEffects(effects);
        return 'applied' as const;
      }),
    getWorkflowHold: async (wf) => workflowHold(s, wf),
    setWorkflowHold: async (wf, next, effects) =>
      s.tx(() => {
        const order = ordered(workflowHold(s, wf), next);
        if (order) return order;
        s.write(
          'INSERT INTO workflow_holds (workflow_id, body) VALUES (?, ?) ON CONFLICT (workflow_id) DO UPDATE SET body = excluded.body',
          wf,
          JSON.stringify(next),
        );
        s.applyEffects(effects);
        return 'applied' as const;
      }),
    heldRuns: async (wf) =>
      s
        .all<{ id: string }>(
          "SELECT id FROM runs WHERE workflow_id = ? AND status = 'Running' " +
            "AND json_extract(body, '$.hold_state.held') = 1 AND json_extract(body, '$.hold_state.scope') = 'workflow' " +
            'ORDER BY start_ts, id',
          wf,
        )
        .map((r) => r.id),
  };
}

/** The stored hold of a workflow's new runs (undefined: never held or freed). */
export function workflowHold(s: Pick<StoreAccess, 'get'>, workflowId: string): HoldState | undefined {
  const r = s.get<{ body: string }>('SELECT body FROM workflow_holds WHERE workflow_id = ?', workflowId);
  return r ? (JSON.parse(r.body) as HoldState) : undefined;
}

/** The run with one more operator action on it (the last 50 kept, all counted). */
function withAction(run: WorkflowRunState, action: OperatorActionRecord): WorkflowRunState {
  return {
    ...run,
    operator_actions: [...(run.operator_actions ?? []), action].slice(-MAX_RUN_OPERATOR_ACTIONS),
    operator_action_count: (run.operator_action_count ?? run.operator_actions?.length ?? 0) + 1,
  };
}

/** One set-ok/rerun/bypass write: every condition checked before anything is written. */
function applyPlan(s: StoreAccess, plan: JobActionPlan, effects: Effects): 'applied' | 'conflict' | 'limit' {
  const run = s.getRun(plan.workflowExecutionId);
  const job = s.getJob(plan.workflowExecutionId, plan.jobKey);
  if (!run || !job) return 'conflict';
  if (run.execution_status !== plan.expectRun.status || (run.generation ?? 0) !== plan.expectRun.generation)
    return 'conflict';
  // This very request was applied (a duplicate): the caller re-reads and finds it.
  if (run.operator_actions?.some((a) => a.action_id === plan.record.action_id)) return 'conflict';
  if (job.operator_actions?.some((a) => a.action_id === plan.record.action_id)) return 'conflict';
  const e = plan.job.expect;
  if (
    job.attempt !== e.attempt ||
    !e.statuses.includes(job.execution_status) ||
    job.counted !== e.counted ||
    (e.instanceId !== undefined && (job.instance_id ?? null) !== e.instanceId)
  )
    return 'conflict';
  if (plan.run.reopens && run.execution_status !== 'Running') {
    const active = (
      s.get<{ n: number }>(
        "SELECT COUNT(*) AS n FROM runs WHERE workflow_id = ? AND status = 'Running' AND id <> ?",
        run.workflow_id,
        run.workflow_execution_id,
      ) as { n: number }
    ).n;
    if (active >= maxActiveRuns(s.definition(run.workflow_id))) return 'limit';
  }
  s.writeJob({ ...job, ...plan.job.set } as JobAuditRecord);
  s.writeRun(applyJobAction(run, plan));
  s.applyEffects(effects);
  return 'applied';
}

/** The definition's max_active_runs (default 1, as the starter's). */
function maxActiveRuns(definition: unknown): number {
  const n = (definition as { max_active_runs?: unknown } | undefined)?.max_active_runs;
  return typeof n === 'number' && Number.isInteger(n) && n > 0 ? n : 1;
}
