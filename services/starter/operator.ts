/**
 * The operator's actions (issue 14, plan §5–§9): set-ok, rerun, bypass, hold and free. Each is a
 * request event handled here with one conditional write (OperatorRepository) whose effects carry
 * the outcome event, and follow-ups that move the run on (`advance`, the planner's RunFreed). The
 * refusal rules are contracts/operator.ts's, shared with the CLI and the web view; a refusal is
 * answered with OperatorActionRejected naming the reason. Duplicates: a request names its attempt
 * and carries its id, so a second delivery finds its own record, writes nothing, re-runs the
 * follow-ups and re-derives the same outcome event (same id).
 *
 * Spread into the object `createStarterService` returns (plan §0: requests go to the starter).
 */
import type { JobAuditRecord, WorkflowRunState } from '../../contracts/audit.js';
import {
  EVENT_VERSION,
  eventIds,
  type FreeRequested,
  type HoldRequested,
  type JobBypassRequested,
  type JobRerunRequested,
  type JobSetOkRequested,
  type OperatorActionRejected,
  type RsqloEvent,
} from '../../contracts/events.js';
import { jobRunName } from '../../contracts/jobs.js';
import {
  type HoldState,
  holdRefusal,
  type OperatorAction,
  type OperatorActionRecord,
  type OperatorRejectionReason,
} from '../../contracts/operator.js';
import type {
  Clock,
  DefinitionRepository,
  EventPublisher,
  JobActionPlan,
  JobRepository,
  Logger,
  OperatorRepository,
  PoolRepository,
  RunRepository,
} from '../ports.js';
import { advance } from '../shared/advance.js';
import {
  type JobActionPlanResult,
  JobActionRefused,
  type JobActionRequest,
  planBypass,
  planRerun,
  planSetOk,
} from '../shared/operator-plan.js';
import { eventBase } from '../shared/progress.js';

/** What the operator actions need (the starter's deps carry all of it). */
export interface OperatorActionDeps {
  runs: RunRepository;
  jobs: JobRepository;
  definitions: DefinitionRepository;
  events: EventPublisher;
  /** The writes of set-ok/rerun/bypass and the holds (plan §3). */
  operator: OperatorRepository;
  /**
   * A bypassed job that waited for (or was granted) a pool slot leaves the queue / gives it back.
   * The starter's own deps require it (pools, services/starter/pools.ts); optional here only so
   * the two issue-14 halves compose in either order.
   */
  pools?: PoolRepository;
  clock: Clock;
  log: Logger;
}

/** How a request ended: what the Lambda entry logs. */
export type OperatorResult =
  | { outcome: 'applied' | 'duplicate'; action: OperatorAction; workflowExecutionId: string | null }
  /** An older hold/free than the one that stands: nothing changed (the newer request wins). */
  | { outcome: 'stale'; action: OperatorAction; workflowExecutionId: string | null }
  | { outcome: 'rejected'; action: OperatorAction; rejection: OperatorActionRejected };

/** Re-reads before giving up when the run or job moved between the read and the write. */
const MAX_CONFLICTS = 5;

/** A write kept failing its condition: retriable, the request is redelivered and decides again. */
export class OperatorActionConflict extends Error {
  override name = 'OperatorActionConflict';
}

type JobRequest = JobSetOkRequested | JobRerunRequested | JobBypassRequested;
type JobVerb = 'set_ok' | 'rerun' | 'bypass';

/** The cause of the StageReady a job action's follow-up publishes (stable across duplicates). */
const CAUSE: Record<JobVerb, string> = { set_ok: 'setok', rerun: 'rerun', bypass: 'bypass' };

export function createOperatorActions(deps: OperatorActionDeps) {
  const { runs, jobs, definitions, events, operator, pools, clock, log } = deps;

  async function reject(
    action: OperatorAction,
    requestId: string,
    req: { workflow_id: string; workflow_execution_id?: string | undefined; requested_by: string },
    jobKey: string | null,
    reason: OperatorRejectionReason,
    message: string,
  ): Promise<OperatorResult> {
    const rejection: OperatorActionRejected = {
      version: EVENT_VERSION,
      event_id: eventIds.operatorActionRejected(requestId),
      occurred_at: clock.now().toISOString(),
      workflow_id: req.workflow_id,
      workflow_execution_id: req.workflow_execution_id ?? null,
      action,
      job_key: jobKey,
      pool: null,
      reason,
      message,
      requested_by: req.requested_by,
    };
    log.warn('operator request rejected', {
      action,
      workflow_id: req.workflow_id,
      workflow_execution_id: req.workflow_execution_id ?? null,
      job_key: jobKey,
      reason,
      message,
    });
    await events.publish([{ detailType: 'OperatorActionRejected', detail: rejection }]);
    return { outcome: 'rejected', action, rejection };
  }

  /** The outcome event of a job action, from its record (so a duplicate re-derives the same one). */
  function jobOutcome(
    verb: JobVerb,
    run: WorkflowRunState,
    job: JobAuditRecord,
    r: OperatorActionRecord,
    extra: { runContinues: boolean; generation: number },
  ): RsqloEvent {
    const exec = run.workflow_execution_id;
    const attempt = r.attempt ?? job.attempt;
    const identity = { job_key: job.job_key, job_name: job.job_name, stage: job.stage };
    const who = { requested_by: r.requested_by, requested_at: r.requested_at };
    switch (verb) {
      case 'set_ok':
        return {
          detailType: 'JobSetOk',
          detail: {
            ...eventBase(run, eventIds.jobSetOk(exec, job.job_key, attempt), r.applied_at),
            ...identity,
            attempt,
            previous_status: r.previous_status === 'TimedOut' ? 'TimedOut' : 'Failed',
            reason: r.reason ?? '',
            ...who,
            run_continues: extra.runContinues,
          },
        };
      case 'rerun':
        return {
          detailType: 'JobRerunStarted',
          detail: {
            ...eventBase(run, eventIds.jobRerunStarted(exec, job.job_key, attempt + 1), r.applied_at),
            ...identity,
            attempt: attempt + 1,
            previous_status: r.previous_status as 'Completed' | 'Failed' | 'TimedOut' | 'Cancelled',
            reason: r.reason,
            ...who,
            generation: Math.max(1, extra.generation),
          },
        };
      case 'bypass':
        return {
          detailType: 'JobBypassed',
          detail: {
            ...eventBase(run, eventIds.jobBypassed(exec, job.job_key, attempt), r.applied_at),
            ...identity,
            attempt,
            reason: r.reason ?? '',
            ...who,
          },
        };
    }
  }

  /**
   * A bypassed job that was launched but never started may wait for a pool slot, or hold one it
   * was granted before the dispatcher took it: it leaves the queue and gives the slot back (once
   * per attempt: the release is a membership test), waking the next waiter through PoolSlotFreed.
   */
  async function leavePool(run: WorkflowRunState, job: JobAuditRecord): Promise<void> {
    if (!job.pool || !pools) return;
    const holder = jobRunName(job.workflow_execution_id, job.job_key, job.attempt);
    await pools.dequeue(job.pool, holder);
    const freed: RsqloEvent = {
      detailType: 'PoolSlotFreed',
      detail: {
        ...eventBase(run, eventIds.poolSlotFreed(job.pool, holder), clock.now().toISOString()),
        pool: job.pool,
        job_key: job.job_key,
        attempt: job.attempt,
      },
    };
    // 'not-held' (it never got a slot, or a duplicate released it already): nothing to free.
    await pools.release(job.pool, holder, { events: [freed] });
  }

  /** Set-ok, rerun and bypass: read, plan, write (re-reading on a conflict), then the follow-ups. */
  async function jobAction(
    verb: JobVerb,
    req: JobRequest,
    requestId: string,
    plan: (
      run: WorkflowRunState,
      job: JobAuditRecord,
      r: JobActionRequest,
      at: string,
    ) => JobActionPlanResult,
  ): Promise<OperatorResult> {
    const exec = req.workflow_execution_id;
    const request: JobActionRequest = {
      action_id: requestId,
      attempt: req.attempt,
      reason: req.reason ?? null,
      requested_by: req.requested_by,
      requested_at: req.occurred_at ?? clock.now().toISOString(),
    };
    for (let round = 0; round < MAX_CONFLICTS; round++) {
      const run = await runs.getRun(exec);
      if (!run || run.workflow_id !== req.workflow_id) {
        return reject(verb, requestId, req, req.job_key, 'NoSuchRun', noSuchRun(req.workflow_id, exec, run));
      }
      const job = await jobs.getJob(exec, req.job_key);
      if (!job) {
        return reject(
          verb,
          requestId,
          req,
          req.job_key,
          'NoSuchJob',
          `run ${exec} has no job ${req.job_key}`,
        );
      }
      let p: JobActionPlanResult;
      try {
        p = plan(run, job, request, clock.now().toISOString());
      } catch (err) {
        // JobNotCountedYet (and anything unexpected) is thrown on: the request is redelivered.
        if (err instanceof JobActionRefused)
          return reject(verb, requestId, req, req.job_key, err.reason, err.message);
        throw err;
      }
      if (p === 'already-applied') {
        await duplicateFollowUps(verb, run, job, requestId);
        return { outcome: 'duplicate', action: verb, workflowExecutionId: exec };
      }
      const outcome = jobOutcome(verb, run, job, p.record, {
        runContinues: p.run.reopens && run.execution_status === 'Failed',
        generation: p.run.generation,
      });
      // Jobs the failure skipped come back first (nobody reads a Failed run's Pending rows); a
      // refused reopen ('limit') puts them back.
      if (p.revive) await operator.reviveSkipped(exec, p.revive.fromStage, p.revive.reason);
      const written = await operator.applyJobAction(p, { events: [outcome] });
      if (written === 'conflict') {
        log.info('run or job moved meanwhile; deciding again', { action: verb, job_key: req.job_key });
        continue;
      }
      if (written === 'limit') {
        if (p.revive) await unrevive(run, p);
        return reject(
          verb,
          requestId,
          req,
          req.job_key,
          'ActiveRunLimit',
          `workflow ${run.workflow_id} already has as many Running runs as its max_active_runs: run ${exec} cannot go on now; try again when one ends`,
        );
      }
      log.info('operator action applied', {
        action: verb,
        workflow_execution_id: exec,
        job_key: req.job_key,
        attempt: req.attempt,
        requested_by: req.requested_by,
        run_reopens: p.run.reopens,
      });
      if (verb === 'bypass') await leavePool(run, job);
      await followUps(verb, exec, job);
      return { outcome: 'applied', action: verb, workflowExecutionId: exec };
    }
    throw new OperatorActionConflict(
      `${verb} of ${exec} job ${req.job_key}: the run kept changing (${MAX_CONFLICTS} tries); the request will be retried`,
    );
  }

  /** Moves the run on from the job's stage, from the run as the action left it. */
  async function followUps(verb: JobVerb, exec: string, job: JobAuditRecord): Promise<void> {
    const after = await runs.getRun(exec);
    if (!after) return;
    await advance(deps, after, job.stage, `${CAUSE[verb]}-${job.job_key}-a${job.attempt}`);
  }

  /**
   * A duplicate of an applied action: re-derive its outcome event from the record the job row
   * keeps (same id) and run the follow-ups again, so a crash after the write is repaired.
   */
  async function duplicateFollowUps(
    verb: JobVerb,
    run: WorkflowRunState,
    job: JobAuditRecord,
    requestId: string,
  ): Promise<void> {
    const r = job.operator_actions?.find((a) => a.action_id === requestId);
    if (!r) return;
    const before: JobAuditRecord = { ...job, attempt: r.attempt ?? job.attempt };
    // What the first delivery said, from its record: whether the run reopened and to which
    // generation (a record older than those fields: the run's state now, the best guess left).
    const generation = r.run_generation ?? run.generation ?? 0;
    const runContinues = verb === 'set_ok' && (r.run_reopened ?? generation > 0);
    await events.ensurePublished([jobOutcome(verb, run, before, r, { runContinues, generation })]);
    if (verb === 'bypass' && job.pool) await leavePool(run, before);
    await followUps(verb, run.workflow_execution_id, before);
  }

  /** Undoes reviveSkipped after a refused reopen: the rows are Skipped for the same reason again. */
  async function unrevive(run: WorkflowRunState, p: JobActionPlan): Promise<void> {
    const revive = p.revive;
    if (!revive) return;
    const st = run.stages[revive.fromStage - 1];
    await jobs.skipPending(run.workflow_execution_id, revive.fromStage, st?.cursor ?? 0, () => revive.reason);
  }

  /** Hold and free: one run (with an execution id) or a workflow's new runs (without). */
  async function holdOrFree(
    action: 'hold' | 'free',
    req: HoldRequested | FreeRequested,
    requestId: string,
  ): Promise<OperatorResult> {
    const exec = req.workflow_execution_id ?? null;
    const held = action === 'hold';
    const next: HoldState = {
      held,
      scope: exec === null ? 'workflow' : 'run',
      reason: req.reason ?? null,
      requested_by: req.requested_by,
      requested_at: req.occurred_at,
      request_id: requestId,
    };
    if (exec === null) {
      if ((await definitions.get(req.workflow_id)) === undefined) {
        return reject(
          action,
          requestId,
          req,
          null,
          'NoSuchRun',
          `no workflow definition with workflow_id "${req.workflow_id}" to ${action}`,
        );
      }
      const event = holdEvent(action, req.workflow_id, null, next, clock.now().toISOString());
      const written = await operator.setWorkflowHold(req.workflow_id, next, { events: [event] });
      if (written === 'stale') return staleHold(action, req, exec);
      if (written === 'same') await events.ensurePublished([event]);
      // Free each run that was held with the workflow, in start order; on a duplicate again, so a
      // crash half-way is finished by the redelivery.
      if (!held) {
        for (const run of await operator.heldRuns(req.workflow_id)) await setRun(action, req, run, next);
      }
      log.info(`workflow ${held ? 'held' : 'freed'}`, { workflow_id: req.workflow_id, written });
      return { outcome: written === 'same' ? 'duplicate' : 'applied', action, workflowExecutionId: null };
    }
    const run = await runs.getRun(exec);
    if (!run || run.workflow_id !== req.workflow_id) {
      return reject(action, requestId, req, null, 'NoSuchRun', noSuchRun(req.workflow_id, exec, run));
    }
    const written = await setRun(action, req, exec, next);
    if (written === 'not-running') {
      const refusal = holdRefusal(run, action);
      return reject(
        action,
        requestId,
        req,
        null,
        refusal?.reason ?? 'NotAllowed',
        refusal?.message ?? `run ${exec} has ended`,
      );
    }
    if (written === 'stale') return staleHold(action, req, exec);
    log.info(`run ${held ? 'held' : 'freed'}`, { workflow_execution_id: exec, written });
    return { outcome: written === 'same' ? 'duplicate' : 'applied', action, workflowExecutionId: exec };
  }

  /** Holds or frees one run; its RunHeld/RunFreed goes out with the write (RunFreed wakes the planner). */
  async function setRun(
    action: 'hold' | 'free',
    req: HoldRequested | FreeRequested,
    exec: string,
    request: HoldState,
  ): ReturnType<OperatorRepository['setRunHold']> {
    const at = clock.now().toISOString();
    const record: OperatorActionRecord = {
      action_id: request.request_id,
      action,
      job_key: null,
      attempt: null,
      previous_status: null,
      reason: request.reason,
      requested_by: request.requested_by,
      requested_at: request.requested_at,
      applied_at: at,
    };
    // A run held with its workflow is freed with it: its hold state keeps the workflow scope.
    const event = holdEvent(action, req.workflow_id, exec, request, at);
    const written = await operator.setRunHold(exec, request, record, { events: [event] });
    if (written === 'same') await events.ensurePublished([event]);
    return written;
  }

  function staleHold(
    action: 'hold' | 'free',
    req: HoldRequested | FreeRequested,
    exec: string | null,
  ): OperatorResult {
    log.info(`${action} request older than the hold state that stands: nothing changed`, {
      workflow_id: req.workflow_id,
      workflow_execution_id: exec,
      requested_at: req.occurred_at,
    });
    return { outcome: 'stale', action, workflowExecutionId: exec };
  }

  return {
    /** JobSetOkRequested: a Failed/TimedOut job becomes Completed; a Failed run goes on (plan §5). */
    handleSetOkRequested(req: JobSetOkRequested, eventId: string): Promise<OperatorResult> {
      return jobAction('set_ok', req, req.event_id ?? eventId, planSetOk);
    },
    /** JobRerunRequested: one finished job of a finished run runs again as attempt n + 1 (plan §6). */
    handleRerunRequested(req: JobRerunRequested, eventId: string): Promise<OperatorResult> {
      return jobAction('rerun', req, req.event_id ?? eventId, planRerun);
    },
    /** JobBypassRequested: a job that has not started is Skipped, as if it had completed (plan §8). */
    handleBypassRequested(req: JobBypassRequested, eventId: string): Promise<OperatorResult> {
      return jobAction('bypass', req, req.event_id ?? eventId, planBypass);
    },
    /** HoldRequested: a run (or a workflow's new runs) starts no new job until freed (plan §7). */
    handleHoldRequested(req: HoldRequested, eventId: string): Promise<OperatorResult> {
      return holdOrFree('hold', req, req.event_id ?? eventId);
    },
    /** FreeRequested: the hold ends; RunFreed makes the planner plan the run again (plan §7). */
    handleFreeRequested(req: FreeRequested, eventId: string): Promise<OperatorResult> {
      return holdOrFree('free', req, req.event_id ?? eventId);
    },
  };
}

/** RunHeld / RunFreed of a run (exec) or of a workflow's new runs (exec null). */
function holdEvent(
  action: 'hold' | 'free',
  workflowId: string,
  exec: string | null,
  h: HoldState,
  at: string,
): RsqloEvent {
  const target = { workflow_id: workflowId, workflow_execution_id: exec };
  const detail = {
    version: EVENT_VERSION,
    event_id:
      action === 'hold' ? eventIds.runHeld(target, h.request_id) : eventIds.runFreed(target, h.request_id),
    occurred_at: at,
    workflow_id: workflowId,
    workflow_execution_id: exec,
    scope: h.scope,
    reason: h.reason,
    requested_by: h.requested_by,
    requested_at: h.requested_at,
  };
  return action === 'hold' ? { detailType: 'RunHeld', detail } : { detailType: 'RunFreed', detail };
}

function noSuchRun(workflowId: string, exec: string, run: WorkflowRunState | undefined): string {
  return run
    ? `run ${exec} belongs to workflow ${run.workflow_id}, not ${workflowId}`
    : `no run ${exec} of workflow ${workflowId}`;
}

export type OperatorActions = ReturnType<typeof createOperatorActions>;
