import type { JobAuditRecord, WorkflowRunState } from '../../contracts/audit.js';
import { validateCalendar } from '../../contracts/calendar.js';
import {
  EVENT_VERSION,
  eventIds,
  type RsqloEvent,
  type WorkflowCancelRequested,
  type WorkflowRejected,
  type WorkflowRequested,
} from '../../contracts/events.js';
import { jobRunName } from '../../contracts/jobs.js';
import type { HoldState } from '../../contracts/operator.js';
import { validateDefinition, type WorkflowDefinition } from '../../contracts/workflow.js';
import { RecordTooLargeError } from '../errors.js';
import type {
  AgentFleet,
  CalendarRepository,
  Clock,
  DefinitionRepository,
  EventPublisher,
  JobRepository,
  JobRunOrchestrator,
  Logger,
  PoolRepository,
  RunDeadlineWatch,
  RunRepository,
} from '../ports.js';
import { firesOnCalendarDay } from '../scheduler/calendar.js';
import {
  completionEvents,
  eventBase,
  planStageCompletion,
  stageOutcome,
  stageReadyEvent,
} from '../shared/progress.js';
import { armRunLines, armStartByLine, type SlaArming } from '../sla/arm.js';
import { runDeadlineAt } from './deadline.js';
import { deriveExecutionId } from './execution-id.js';
import { createOperatorActions, type OperatorActionDeps } from './operator.js';
import { planRun } from './plan.js';
import { createStarterPools } from './pools.js';

/** The operator actions' deps (operator, pools) come with OperatorActionDeps (./operator.ts). */
export interface StarterDeps extends OperatorActionDeps {
  definitions: DefinitionRepository;
  runs: RunRepository;
  jobs: JobRepository;
  events: EventPublisher;
  orchestrator: JobRunOrchestrator;
  /** Resource pools (issue 14): a run's pools are made before it starts; `pool set` resizes. */
  pools: PoolRepository;
  /**
   * Where cancels of jobs already on an agent go (AWS: an SSM command to the host the dispatcher
   * recorded). Without it (or without `cancel`), running jobs are stopped through the orchestrator
   * and reported Cancelled at once.
   */
  agents?: Pick<AgentFleet, 'cancel'>;
  /**
   * Checks each run once its deadline has passed (AWS: a one-time Scheduler schedule per run).
   * Asked for every run that starts Running, and again on every redelivery of its request (the
   * watch is idempotent per run), so a crash between writing the run and watching it is repaired
   * by the redelivery. Without it, runs are not watched (the local engine has no deadline check).
   */
  watch?: RunDeadlineWatch;
  /** Arms each new run's SLA and "longer than usual" lines (services/sla). Without it, none. */
  sla?: SlaArming;
  /**
   * The version of the scripts the stack ships for a workflow (infra/constructs/script-assets.ts),
   * recorded on each new run so every job of it runs that version; undefined (the default, and for
   * workflows the stack did not ship): the hosts' own `rsql_script_path`.
   */
  scriptVersion?: (workflowId: string) => string | undefined;
  /**
   * The deployed calendars (AWS). With it, a scheduled request (one with `scheduled_time`) of a
   * workflow with a `calendar` for a day that is not a calendar day (in the schedule's time zone)
   * is skipped: no run, no event, no alert. Without it (the local engine, whose scheduler never
   * fires on such a day), calendars are not checked here.
   */
  calendars?: CalendarRepository;
  clock: Clock;
  log: Logger;
}

export type StartResult =
  | { outcome: 'started'; workflowExecutionId: string }
  | { outcome: 'duplicate'; workflowExecutionId: string }
  | { outcome: 'rejected'; rejection: WorkflowRejected }
  /** A scheduled request for a day its workflow's calendar excludes: nothing was written. */
  | { outcome: 'skipped'; reason: string };

/** How often a request re-reads its workflow's hold when a hold or free lands during createRun. */
const MAX_HOLD_LOOKS = 5;

/** Restarts are allowed from runs that ended without completing. */
const RESTARTABLE = ['Failed', 'Cancelled'] as const;

/**
 * The starter owns a run's beginning and its cancellation: on WorkflowRequested it validates the
 * definition, refuses overlaps per max_active_runs, writes the run and all job rows (once, however
 * often the request is delivered) and emits WorkflowStarted + StageReady for the first stage with
 * work; on WorkflowCancelRequested it stops the run's jobs.
 */
export function createStarterService(deps: StarterDeps) {
  const { definitions, runs, jobs, events, orchestrator, agents, watch, sla, calendars, clock, log } = deps;
  const starterPools = createStarterPools(deps);

  /**
   * The workflow's hold (one consistent read per request): `held` when it is held, so its new runs
   * start held; createRun checks the same state again in its write.
   */
  async function workflowHold(workflowId: string): Promise<{ known: boolean; held?: HoldState }> {
    const h = await deps.operator.getWorkflowHold(workflowId);
    return h?.held ? { known: true, held: h } : { known: true };
  }

  /** `{ script_version }` when the stack ships this workflow's scripts, else nothing. */
  function scriptVersionOf(workflowId: string): { script_version?: string } {
    const v = deps.scriptVersion?.(workflowId);
    return v ? { script_version: v } : {};
  }

  /**
   * The announcement of a run that exists already (a redelivery, or a concurrent delivery created
   * it): its deadline re-derived from its stored rows, so the events (and the watch) are the ones
   * first made.
   */
  async function announceExisting(run: WorkflowRunState): Promise<void> {
    const deadline = runDeadlineAt(run, await jobs.listJobs(run.workflow_execution_id));
    await events.ensurePublished(startEvents(run, run.execution_start_ts, deadline));
    await watchRun(run, deadline);
  }

  /** Asks for the run's deadline check while it is Running (a run that ended needs none). */
  async function watchRun(run: WorkflowRunState, deadline: string): Promise<void> {
    if (!watch || run.execution_status !== 'Running') return;
    await watch.watch({
      workflow_id: run.workflow_id,
      workflow_execution_id: run.workflow_execution_id,
      started_at: run.execution_start_ts,
      deadline_at: deadline,
    });
  }

  function startEvents(run: WorkflowRunState, at: string, deadline: string): RsqloEvent[] {
    const out: RsqloEvent[] = [
      {
        detailType: 'WorkflowStarted',
        detail: {
          ...eventBase(run, eventIds.workflowStarted(run.workflow_execution_id), at),
          restart_of: run.restart_of,
          stage_count: run.stages.length,
          job_count: run.counts.total,
          stages: run.stages.map((s) => ({
            stage: s.stage,
            execution_type: s.execution_type,
            enabled: s.enabled,
            job_count: s.total,
            jobs_to_run: s.total - s.pre_skipped,
          })),
          parameter_names: Object.keys(run.parameters).sort(),
          deadline_at: deadline,
        },
      },
    ];
    if (run.current_stage !== null && run.execution_status === 'Running') {
      out.push(stageReadyEvent(run, run.current_stage, 'start', at));
    } else if (run.execution_status === 'Completed' && run.current_stage === null) {
      // Nothing to run (every stage disabled, or everything completed before): the run is done.
      out.push({
        detailType: 'WorkflowFinished',
        detail: {
          ...eventBase(run, eventIds.workflowFinished(run.workflow_execution_id), at),
          status: 'Completed',
          counts: run.counts,
          started_at: run.execution_start_ts,
          finished_at: run.execution_end_ts ?? at,
          duration_ms: 0,
          failed_stage: null,
          failed_jobs: [],
        },
      });
    }
    return out;
  }

  function cancelledEvent(
    run: WorkflowRunState,
    job: JobAuditRecord,
    reason: string,
    at: string,
  ): RsqloEvent {
    return {
      detailType: 'JobFinished',
      detail: {
        ...eventBase(run, eventIds.jobFinished(run.workflow_execution_id, job.job_key, job.attempt), at),
        job_key: job.job_key,
        job_name: job.job_name,
        stage: job.stage,
        attempt: job.attempt,
        status: 'Cancelled',
        exit_code: null,
        error_message: reason,
        started_at: job.execution_start_ts,
        finished_at: at,
        duration_ms: job.execution_start_ts
          ? Math.max(0, Date.parse(at) - Date.parse(job.execution_start_ts))
          : null,
        instance_id: job.instance_id,
        ssm_command_id: job.ssm_command_id,
        log_location: job.log_location,
        reported_by: 'engine',
      },
    };
  }

  async function reject(
    req: WorkflowRequested,
    requestId: string,
    execId: string | null,
    reason: WorkflowRejected['reason'],
    message: string,
  ): Promise<StartResult> {
    const rejection: WorkflowRejected = {
      version: EVENT_VERSION,
      event_id: eventIds.workflowRejected(requestId),
      occurred_at: clock.now().toISOString(),
      workflow_id: req.workflow_id,
      workflow_execution_id: execId,
      reason,
      message,
    };
    log.warn('workflow request rejected', { workflow_id: req.workflow_id, reason, message });
    await events.publish([{ detailType: 'WorkflowRejected', detail: rejection }]);
    return { outcome: 'rejected', rejection };
  }

  /** A run is restarted once: the refusal names the run that restarted it and its status. */
  async function alreadyRestarted(
    req: WorkflowRequested,
    requestId: string,
    execId: string,
    prev: string,
    by: string,
  ): Promise<StartResult> {
    const status = (await runs.getRun(by))?.execution_status ?? 'unknown';
    return reject(
      req,
      requestId,
      execId,
      'RestartNotAllowed',
      `run ${prev} was already restarted as ${by} (${status}); a run is restarted once: restart the latest run of the chain instead`,
    );
  }

  /**
   * A scheduled request on a non-calendar day is skipped (not an alert: the calendar says so); a
   * calendar that is not deployed or not valid refuses the request (an alert: the deployment is
   * broken). Undefined: the day is a calendar day.
   */
  async function calendarCheck(
    req: WorkflowRequested,
    requestId: string,
    execId: string,
    definition: WorkflowDefinition,
    name: string,
  ): Promise<StartResult | undefined> {
    const raw = await calendars?.get(name);
    const checked = raw === undefined ? undefined : validateCalendar(raw);
    if (!checked?.ok) {
      const why = checked
        ? checked.issues.map((i) => `${i.path}: ${i.message}`).join('; ')
        : 'it is not deployed';
      return reject(req, requestId, execId, 'InvalidDefinition', `calendar "${name}" cannot be used: ${why}`);
    }
    const at = new Date(req.scheduled_time as string);
    if (Number.isNaN(at.getTime())) return undefined;
    const tz = typeof definition.schedule === 'object' ? definition.schedule.timezone : undefined;
    if (firesOnCalendarDay(checked.calendar, at, tz)) return undefined;
    const reason = `${req.scheduled_time} is not a day of calendar "${name}"${tz ? ` (in ${tz})` : ' (UTC)'}: the schedule does not fire then`;
    log.info('scheduled request skipped', {
      workflow_id: req.workflow_id,
      scheduled_time: req.scheduled_time,
      calendar: name,
    });
    return { outcome: 'skipped', reason };
  }

  return {
    // Operator actions (issue 14): set-ok, rerun, bypass, hold, free.
    ...createOperatorActions(deps),
    handlePoolResizeRequested: starterPools.handlePoolResizeRequested,

    /**
     * `requestId` identifies the request when it carries no event_id (the EventBridge envelope id);
     * an execution id missing from the request is derived from it. `requestTime` (the envelope's
     * `time`, the same on every redelivery) dates a derived id when the request carries no time of
     * its own; without any stable time the id is dated at the epoch, so it is still the same on
     * every delivery (it just does not sort by time). Never the clock: a redelivery would get
     * another id and start (or be refused as) a second run.
     */
    async handleRequested(
      req: WorkflowRequested,
      requestId: string,
      requestTime?: string,
    ): Promise<StartResult> {
      const now = clock.now();
      const id = req.event_id ?? requestId;
      const seed = req.scheduled_time ? `schedule:${req.scheduled_time}` : `request:${id}`;
      const stableTime = [req.scheduled_time, req.occurred_at, requestTime].find(
        (t): t is string => t !== undefined && !Number.isNaN(Date.parse(t)),
      );
      const seedTime = stableTime ? new Date(stableTime) : new Date(0);
      const exec = req.workflow_execution_id ?? deriveExecutionId(req.workflow_id, seed, seedTime);

      const existing = await runs.getRun(exec);
      if (existing) {
        if (existing.workflow_id !== req.workflow_id) {
          return reject(
            req,
            id,
            exec,
            'ExecutionIdConflict',
            `execution id ${exec} already belongs to workflow ${existing.workflow_id}`,
          );
        }
        // A redelivery: the run exists, so all its rows exist; make sure its start was announced
        // and its deadline watched.
        await announceExisting(existing);
        return { outcome: 'duplicate', workflowExecutionId: exec };
      }

      const raw = await definitions.get(req.workflow_id);
      if (raw === undefined) {
        return reject(
          req,
          id,
          exec,
          'UnknownWorkflow',
          `no workflow definition with workflow_id "${req.workflow_id}"`,
        );
      }
      const checked = validateDefinition(raw);
      if (!checked.ok) {
        const text = checked.issues.map((i) => `${i.path}: ${i.message}`).join('; ');
        return reject(req, id, exec, 'InvalidDefinition', `the stored definition is invalid: ${text}`);
      }
      const definition = checked.definition;
      if (definition.workflow_id !== req.workflow_id) {
        return reject(
          req,
          id,
          exec,
          'InvalidDefinition',
          `the stored definition's workflow_id is "${definition.workflow_id}"`,
        );
      }

      if (req.scheduled_time && definition.calendar !== undefined && calendars) {
        const outcome = await calendarCheck(req, id, exec, definition, definition.calendar);
        if (outcome) return outcome;
      }
      // sla.start_by of a scheduled firing (a calendar day): armed before anything can refuse the
      // request, so a firing refused by max_active_runs is still reported at its line.
      if (sla) await armStartByLine(sla, definition, exec, req.scheduled_time);

      let restart: { run: WorkflowRunState; jobs: JobAuditRecord[] } | undefined;
      if (req.restart_of) {
        const prev = await runs.getRun(req.restart_of);
        if (!prev) return reject(req, id, exec, 'RestartNotAllowed', `no run ${req.restart_of} to restart`);
        if (prev.workflow_id !== req.workflow_id) {
          return reject(
            req,
            id,
            exec,
            'RestartNotAllowed',
            `run ${req.restart_of} belongs to workflow ${prev.workflow_id}`,
          );
        }
        if (!(RESTARTABLE as readonly string[]).includes(prev.execution_status)) {
          return reject(
            req,
            id,
            exec,
            'RestartNotAllowed',
            `run ${req.restart_of} is ${prev.execution_status}; only Failed or Cancelled runs can be restarted`,
          );
        }
        if (prev.restarted_as) return alreadyRestarted(req, id, exec, req.restart_of, prev.restarted_as);
        restart = { run: prev, jobs: await jobs.listJobs(req.restart_of) };
      }

      // A restart reuses the parameters its run was requested with; the definition's own come from
      // the definition it runs now (so an edit there applies). Runs recorded before
      // requested_parameters existed carry everything over, as they always did.
      const requested = {
        ...(restart ? (restart.run.requested_parameters ?? restart.run.parameters) : {}),
        ...(req.parameters ?? {}),
      };
      const parameters = { ...(definition.parameters ?? {}), ...requested };
      const plan = planRun({ definition, workflowExecutionId: exec, now, parameters, restart });
      const run = {
        ...plan.run,
        requested_parameters: requested,
        ...(req.definition_source ? { definition_source: req.definition_source } : {}),
        ...scriptVersionOf(req.workflow_id),
      };
      const at = now.toISOString();
      const deadline = runDeadlineAt(plan.run, plan.jobs);
      if (sla) await armRunLines(sla, runs, definition, { ...run, started_at: run.execution_start_ts });
      // The pools its jobs name exist before the run does (issue 14): created ones are listed.
      const poolsCreated = await starterPools.ensureRunPools(definition, exec, plan.jobs, at);
      if (poolsCreated.length > 0) run.pools_created = poolsCreated;
      let result: Awaited<ReturnType<RunRepository['createRun']>> = { outcome: 'hold-changed' };
      // A held workflow's new runs are accepted and wait Held (issue 14): the hold read here is
      // checked again by createRun, and read again when a hold or free landed in between.
      for (let look = 0; look < MAX_HOLD_LOOKS && result.outcome === 'hold-changed'; look++) {
        const { known, held: hold } =
          run.execution_status === 'Running' ? await workflowHold(req.workflow_id) : { known: false };
        const created = hold ? { ...run, hold_state: hold } : run;
        try {
          result = await runs.createRun(
            created,
            plan.jobs,
            {
              maxActiveRuns: definition.max_active_runs ?? 1,
              ...(req.restart_of ? { restartOf: req.restart_of } : {}),
              ...(known ? { workflowHeld: hold !== undefined } : {}),
            },
            { events: startEvents(created, at, deadline) },
          );
        } catch (err) {
          // Too large to store (e.g. hundreds of KB of parameters): nothing was written, and retrying
          // cannot help, so the request is refused like any other, with the reason.
          if (err instanceof RecordTooLargeError)
            return reject(req, id, exec, 'RequestTooLarge', `the run cannot be stored: ${err.message}`);
          throw err;
        }
      }
      if (result.outcome === 'hold-changed') {
        // Retriable: the request is redelivered and reads the hold again.
        throw new Error(`workflow ${req.workflow_id}: its hold kept changing while run ${exec} was created`);
      }
      if (result.outcome === 'restarted') {
        return alreadyRestarted(req, id, exec, req.restart_of as string, result.by);
      }
      if (result.outcome === 'limit') {
        const max = definition.max_active_runs ?? 1;
        return reject(
          req,
          id,
          exec,
          'ActiveRunLimit',
          `workflow ${req.workflow_id} already has ${result.active.length} active run(s) (${result.active.join(', ')}); max_active_runs is ${max}`,
        );
      }
      if (result.outcome === 'exists') {
        await announceExisting(result.run);
        return { outcome: 'duplicate', workflowExecutionId: exec };
      }
      await watchRun(run, deadline);
      log.info('workflow started', {
        workflow_id: req.workflow_id,
        workflow_execution_id: exec,
        jobs: plan.jobs.length,
      });
      return { outcome: 'started', workflowExecutionId: exec };
    },

    /**
     * Cancels a run: no new job starts; queued jobs end Cancelled; running ones are killed (their
     * process tree) and reported Cancelled — by their agent once the tree is gone when the runtime
     * has one (`agents.cancel`), else at once by the engine that stopped them. The aggregator ends
     * the run once nothing is in flight; when nothing was, this does it directly.
     */
    async handleCancelRequested(req: WorkflowCancelRequested): Promise<void> {
      const run = await runs.requestCancel(req.workflow_execution_id);
      if (run?.execution_status !== 'Running') return;
      const at = clock.now().toISOString();
      const stage = run.current_stage;
      if (stage === null) return;
      const st = run.stages[stage - 1];
      if (!st) return;
      const reason = req.reason ? `cancelled: ${req.reason}` : 'cancelled by request';
      const stageJobs = await jobs.listStageJobs(run.workflow_execution_id, stage, 0, st.cursor);
      const finished: RsqloEvent[] = [];
      for (const listed of stageJobs) {
        let job: JobAuditRecord | undefined = listed;
        // A job can move while this runs (the dispatcher takes a Queued one): a conditional write
        // that fails means "look again", never "done" — a job left Dispatched with nobody to finish
        // it would keep the run Running for ever.
        for (let look = 0; job && look < 5; look++) {
          const s: JobAuditRecord['execution_status'] = job.execution_status;
          if (s === 'Pending' || s === 'Queued') {
            const cancelled = await jobs.transition({
              workflowExecutionId: job.workflow_execution_id,
              jobKey: job.job_key,
              expect: { attempt: job.attempt, statuses: [s] },
              set: {
                execution_status: 'Cancelled',
                execution_end_ts: at,
                error_message: reason,
                not_before: null,
              },
            });
            if (cancelled) break;
            job = await jobs.getJob(job.workflow_execution_id, job.job_key);
            continue;
          }
          if (s === 'Dispatched' || s === 'Running') {
            if (job.instance_id !== null && agents?.cancel) {
              // Sent to an agent: tell that host to kill it now. The agent reports it Cancelled
              // once its process tree is gone; until then it counts as running (a restart waits).
              // The wrapper keeps waiting for that report, so a host that is gone still ends the
              // attempt, by its heartbeat timeout.
              await agents.cancel(
                { instanceId: job.instance_id },
                {
                  version: EVENT_VERSION,
                  kind: 'cancel',
                  job_run_name: jobRunName(job.workflow_execution_id, job.job_key, job.attempt),
                  workflow_id: job.workflow_id,
                  workflow_execution_id: job.workflow_execution_id,
                  job_key: job.job_key,
                  job_name: job.job_name,
                  stage: job.stage,
                  attempt: job.attempt,
                  reason,
                  requested_at: at,
                },
              );
            } else {
              // Not on an agent yet (the dispatcher, reading the run after recording a host, will
              // not send it), or a runtime that stops jobs through the orchestrator.
              await orchestrator.stop(
                jobRunName(job.workflow_execution_id, job.job_key, job.attempt),
                reason,
              );
              finished.push(cancelledEvent(run, job, reason, at));
            }
          }
          break;
        }
      }
      if (finished.length > 0) await events.publish(finished);
      // Nothing in flight: no job change will reach the aggregator, so end the run here.
      const outcome = stageOutcome(st, true);
      if (outcome.done) {
        const completion = planStageCompletion(run, stage, outcome.status, at);
        const applied = await runs.completeStage(completion, { events: completionEvents(run, completion) });
        if (applied) await jobs.skipPending(run.workflow_execution_id, stage, st.cursor, () => reason);
      }
    },
  };
}

export type StarterService = ReturnType<typeof createStarterService>;
