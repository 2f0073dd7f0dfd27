import type { JobAuditRecord, JobStatus, WorkflowRunState } from '../../contracts/audit.js';
import { EVENT_VERSION, eventIds } from '../../contracts/events.js';
import { type JobCommand, type JobMessage, jobRunName, type TaskRequest } from '../../contracts/jobs.js';
import { StaleTaskError } from '../errors.js';
import type {
  AgentFleet,
  Clock,
  JobRepository,
  JobRunOrchestrator,
  Logger,
  PoolRepository,
  RunRepository,
} from '../ports.js';
import { jobMessageOf } from '../shared/job-message.js';
import { poolHolder, poolSlotFreedEvent, poolWait, wakePool } from '../shared/pools.js';

export interface DispatcherDeps {
  runs: RunRepository;
  jobs: JobRepository;
  orchestrator: JobRunOrchestrator;
  agents: AgentFleet;
  /** Resource pools (issue 14): only jobs with a `pool` use them; others make no pool call. */
  pools: PoolRepository;
  clock: Clock;
  log: Logger;
}

/** Final job statuses: the attempt is over and holds nothing any more. */
const FINAL: readonly JobStatus[] = ['Completed', 'Failed', 'TimedOut', 'Cancelled', 'Skipped'];

/** What to do with a queue message: drop it (done or stale), or show it again later (backoff). */
/** How long a job whose pool's waiting list is full waits before it asks again. */
export const POOL_FULL_RETRY_SECONDS = 60;

export type MessageResult = { ack: true; note: string } | { ack: false; retryAfterSeconds: number };

/**
 * The dispatcher: a queue message starts the single-job wrapper for that attempt (named after it,
 * so a second start is harmless) and marks the job Dispatched; the wrapper then hands it a task
 * token, and it sends ONE command carrying the job and the token to ONE online agent.
 */
export function createDispatcherService(deps: DispatcherDeps) {
  const { runs, jobs, orchestrator, agents, pools, clock, log } = deps;

  /** Whether the run still starts work: Running and not being cancelled. */
  function accepting(run: WorkflowRunState | undefined): run is WorkflowRunState {
    return run?.execution_status === 'Running' && !run.cancel_requested;
  }

  /**
   * Settles an attempt this dispatcher refuses because its run stopped taking work: nothing ran
   * and nothing will, so it ends Cancelled (and is counted, which lets a cancelled run end).
   * Only while it is still Queued/Dispatched at that attempt: anything else was settled by others.
   */
  async function settleRefused(job: JobAuditRecord): Promise<void> {
    const done = await jobs.transition({
      workflowExecutionId: job.workflow_execution_id,
      jobKey: job.job_key,
      expect: { attempt: job.attempt, statuses: ['Queued', 'Dispatched'] },
      set: {
        execution_status: 'Cancelled',
        execution_end_ts: clock.now().toISOString(),
        error_message: 'the run was cancelled before this job started',
      },
    });
    if (done) log.info('job not dispatched: its run was cancelled', { job_key: job.job_key });
  }

  function command(
    job: JobAuditRecord,
    req: TaskRequest,
    parameters: Record<string, string>,
    scriptVersion: string | undefined,
  ): JobCommand {
    return {
      version: EVENT_VERSION,
      task_token: req.task_token,
      job_run_name: req.job.job_run_name,
      workflow_id: job.workflow_id,
      workflow_execution_id: job.workflow_execution_id,
      job_key: job.job_key,
      job_name: job.job_name,
      stage: job.stage,
      attempt: job.attempt,
      script: job.job_name,
      args: job.args,
      timeout_seconds: job.timeout_seconds,
      heartbeat_seconds: Math.min(job.heartbeat_seconds, job.timeout_seconds),
      parameters,
      ...(req.execution_arn ? { execution_arn: req.execution_arn } : {}),
      ...(req.dispatch !== undefined ? { dispatch: req.dispatch } : {}),
      // The run's shipped script version: every job of the run runs the same scripts.
      ...(scriptVersion ? { script_version: scriptVersion } : {}),
    };
  }

  /**
   * An attempt whose host is recorded. A repeated invocation of the same try (at-least-once, same
   * token) sends nothing: the command went out, and neither a second one nor a refusal (the wrapper
   * would end the attempt while its script runs) is right: ONE command per attempt. A later try (a
   * retried Dispatch, a new token) sends the live token to that host, which adopts it.
   */
  async function sendToClaimedHost(
    job: JobAuditRecord,
    instanceId: string,
    req: TaskRequest,
  ): Promise<{ instanceId: string; commandId: string | null }> {
    if ((req.dispatch ?? 0) === 0) return { instanceId, commandId: job.ssm_command_id };
    const run = await runs.getRun(job.workflow_execution_id);
    const agent = { instanceId };
    const { commandId } = await agents.send(
      agent,
      command(job, req, run?.parameters ?? {}, run?.script_version),
    );
    log.info('retried dispatch: the live task token sent to the host that has the job', {
      job_run_name: req.job.job_run_name,
      instance_id: agent.instanceId,
      command_id: commandId,
      dispatch: req.dispatch,
    });
    return { instanceId: agent.instanceId, commandId: job.ssm_command_id ?? commandId };
  }

  /** The wake pass both the planner and this dispatcher run (services/shared/pools.ts). */
  const wake = (pool: string) => wakePool(deps, pool);

  /**
   * Takes a slot of `pool` for this attempt; undefined when it has one. Otherwise the job waits:
   * marked `waiting_for: pool:<NAME>` first and only then queued, so a grant always finds the job
   * marked; the message is acked (no polling: a freed slot wakes it through the choreography).
   */
  async function takeSlot(job: JobAuditRecord, pool: string, now: Date): Promise<MessageResult | undefined> {
    const holder = poolHolder(job, now.toISOString());
    let got = await pools.acquire(pool, holder);
    if (got === 'missing') {
      // Started before its pool existed (or the pool was lost): created with the run's default.
      const slots = job.pool_slots_default ?? 1;
      const source = job.pool_slots_default == null ? 'default' : 'definition';
      const created = await pools.ensure(
        pool,
        slots,
        { source, created_by: `workflow:${job.workflow_id}` },
        {
          events: [
            {
              detailType: 'PoolCreated',
              detail: {
                version: EVENT_VERSION,
                event_id: eventIds.poolCreated(pool),
                occurred_at: now.toISOString(),
                pool,
                slots,
                source,
                workflow_id: job.workflow_id,
                workflow_execution_id: job.workflow_execution_id,
              },
            },
          ],
        },
      );
      if (created === 'created') log.info('pool created', { pool, slots, source });
      got = await pools.acquire(pool, holder);
    }
    if (got === 'acquired') return undefined;
    if (got === 'missing') throw new Error(`pool ${pool} vanished while job ${job.job_key} asked for a slot`);
    const marked = await jobs.transition({
      workflowExecutionId: job.workflow_execution_id,
      jobKey: job.job_key,
      expect: { attempt: job.attempt, statuses: ['Queued'] },
      set: { waiting_for: poolWait(pool) },
    });
    if (!marked) return { ack: true, note: 'job moved on before it could wait for its pool' };
    return enqueue(marked, pool, holder);
  }

  /**
   * Joins the pool's queue (idempotent). Whoever makes "a free slot and a waiter" true wakes the
   * pool: a slot freed between this job's `full` and its enqueue found nobody waiting (the
   * lost-wake race), so this call wakes it.
   */
  async function enqueue(
    job: JobAuditRecord,
    pool: string,
    holder: ReturnType<typeof poolHolder>,
  ): Promise<MessageResult> {
    const q = await pools.enqueue(pool, holder);
    if (!q.queued) {
      // Not waiting: it holds a slot already (granted meanwhile), the pool is gone, or its list of
      // waiters is full (a store's cap: DynamoDB keeps them on one item). Its next message asks
      // again (and acquires, or creates the pool) — at once, except at the cap, where asking again
      // at once would loop: then a minute later, said once per try.
      const state = await pools.get(pool);
      const full = state !== undefined && !state.holders.includes(holder.holder);
      if (full)
        log.warn('pool waiting list is full: the job asks again in 60 s', {
          job_key: job.job_key,
          pool,
          waiting: state.waiters.length,
        });
      await jobs.transition(
        {
          workflowExecutionId: job.workflow_execution_id,
          jobKey: job.job_key,
          expect: { attempt: job.attempt, statuses: ['Queued'] },
          set: { waiting_for: null },
        },
        { messages: [{ body: jobMessage(job), ...(full ? { delaySeconds: POOL_FULL_RETRY_SECONDS } : {}) }] },
      );
      return { ack: true, note: `not waiting for pool ${pool}: asks again${full ? ' in 60 s' : ''}` };
    }
    if (q.free > 0 && q.waiting > 0) await wake(pool);
    log.info('job waits for a pool slot', { job_key: job.job_key, pool, free: q.free, waiting: q.waiting });
    return { ack: true, note: `waiting for pool ${pool}` };
  }

  /**
   * A message for a parked job: acked. A pool waiter is queued again first (idempotent: it keeps
   * its place), which repairs a crash between marking it and queueing it.
   */
  async function stillWaiting(job: JobAuditRecord, waitingFor: string): Promise<MessageResult> {
    if (!waitingFor.startsWith('pool:') || !job.pool) return { ack: true, note: `waiting for ${waitingFor}` };
    return enqueue(job, job.pool, poolHolder(job, clock.now().toISOString()));
  }

  /**
   * Parks a Queued job of a held run: `waiting_for: hold` (a free clears it and sends a new
   * message). A slot it was granted is given back first and its pool woken, so a held run never
   * sits on slots other workflows wait for.
   */
  async function park(job: JobAuditRecord): Promise<MessageResult> {
    if (job.pool) {
      await pools.release(job.pool, jobRunName(job.workflow_execution_id, job.job_key, job.attempt), {});
      await wake(job.pool);
    }
    await jobs.transition({
      workflowExecutionId: job.workflow_execution_id,
      jobKey: job.job_key,
      expect: { attempt: job.attempt, statuses: ['Queued'] },
      set: { waiting_for: 'hold' },
    });
    log.info('job parked: its run is held', { job_key: job.job_key });
    return { ack: true, note: 'run is held' };
  }

  /**
   * After the wrapper started, Queued → Dispatched failed: when the row went final meanwhile (a
   * cancel), nobody else may ever release this attempt's slot, so it is given back here.
   */
  async function giveBackIfEnded(job: JobAuditRecord, pool: string): Promise<void> {
    const now = await jobs.getJob(job.workflow_execution_id, job.job_key);
    if (!now || now.attempt !== job.attempt || !FINAL.includes(now.execution_status)) return;
    const at = clock.now().toISOString();
    const released = await pools.release(
      pool,
      jobRunName(job.workflow_execution_id, job.job_key, job.attempt),
      { events: [poolSlotFreedEvent(job, pool, at)] },
    );
    if (released === 'released')
      log.info('pool slot given back: the job ended before it was dispatched', {
        job_key: job.job_key,
        pool,
      });
    await wake(pool);
  }

  const jobMessage = (job: JobAuditRecord): JobMessage => jobMessageOf(job);

  return {
    async handleMessage(msg: JobMessage): Promise<MessageResult> {
      const job = await jobs.getJob(msg.workflow_execution_id, msg.job_key);
      if (!job) return { ack: true, note: 'unknown job' };
      if (job.attempt !== msg.attempt) return { ack: true, note: `stale: job is at attempt ${job.attempt}` };
      // Dispatched is written only after the wrapper started (below, or by the wrapper's own task),
      // so a message for a Dispatched job is a repeat (the aggregator's repair of a send it could
      // not see, a redelivery): nothing to start, no run to read, no write to lose.
      if (job.execution_status !== 'Queued') {
        return { ack: true, note: `job is ${job.execution_status}` };
      }
      // Parked (issue 14): a grant or a free clears waiting_for and sends a new message.
      if (job.waiting_for) return stillWaiting(job, job.waiting_for);
      const now = clock.now();
      if (job.not_before && Date.parse(job.not_before) > now.getTime()) {
        return {
          ack: false,
          retryAfterSeconds: Math.ceil((Date.parse(job.not_before) - now.getTime()) / 1000),
        };
      }
      const run = await runs.getRun(job.workflow_execution_id);
      if (run?.execution_status !== 'Running' || run.cancel_requested) {
        if (job.execution_status === 'Queued') {
          await jobs.transition({
            workflowExecutionId: job.workflow_execution_id,
            jobKey: job.job_key,
            expect: { attempt: job.attempt, statuses: ['Queued'] },
            set: {
              execution_status: 'Cancelled',
              execution_end_ts: now.toISOString(),
              error_message: 'the run was cancelled before this job started',
            },
          });
        }
        return { ack: true, note: 'run is not accepting work' };
      }
      // A held run starts nothing (issue 14): its Queued jobs are parked until it is freed.
      if (run.hold_state?.held) return park(job);
      const name = jobRunName(job.workflow_execution_id, job.job_key, job.attempt);
      // A pool slot is taken before the wrapper starts, so waiting for one never counts against
      // the job's timeout (the wrapper's timer starts with the wrapper).
      if (job.pool) {
        const waiting = await takeSlot(job, job.pool, now);
        if (waiting) return waiting;
      }
      await orchestrator.start({
        version: EVENT_VERSION,
        job_run_name: name,
        workflow_id: job.workflow_id,
        workflow_execution_id: job.workflow_execution_id,
        job_key: job.job_key,
        job_name: job.job_name,
        stage: job.stage,
        attempt: job.attempt,
        timeout_seconds: job.timeout_seconds,
        heartbeat_seconds: Math.min(job.heartbeat_seconds, job.timeout_seconds),
      });
      const moved = await jobs.transition({
        workflowExecutionId: job.workflow_execution_id,
        jobKey: job.job_key,
        expect: { attempt: job.attempt, statuses: ['Queued'] },
        // A pool job's row says "waits for nothing" once it starts, whether it ever waited or not.
        set: { execution_status: 'Dispatched', ...(job.pool ? { waiting_for: null } : {}) },
      });
      if (!moved && job.pool) await giveBackIfEnded(job, job.pool);
      return { ack: true, note: 'dispatched' };
    },

    /**
     * Called by the wrapper with its task token: pick one online agent and send it one command.
     * A token for an attempt the job has left behind is refused (StaleTaskError), so a late
     * wrapper never runs a script twice.
     *
     * The chosen host is recorded on the job row BEFORE the command goes out, then the run is read
     * (once per dispatch: strongly consistent, after the claim): a cancel that came in between is seen here (nothing is sent, the job is settled
     * Cancelled), and a cancel that comes later finds the host to send its kill to. Every refusal of
     * a live attempt settles it, so no job is left Dispatched with nobody to finish it.
     *
     * A retried Dispatch (the task Lambda sent the command, then its invocation failed, e.g.
     * Lambda.ServiceException) comes with a NEW task token; the agent holds the old one, which Step
     * Functions no longer accepts. The same command with the live token goes to the recorded host
     * (the agent adopts it), so a retried Dispatch never costs the job.
     */
    async handleTask(req: TaskRequest): Promise<{ instanceId: string; commandId: string | null }> {
      const { job: input } = req;
      const job = await jobs.getJob(input.workflow_execution_id, input.job_key);
      if (!job)
        throw new StaleTaskError(`job ${input.job_key} of ${input.workflow_execution_id} does not exist`);
      if (
        job.attempt !== input.attempt ||
        (job.execution_status !== 'Queued' &&
          job.execution_status !== 'Dispatched' &&
          job.execution_status !== 'Running')
      ) {
        throw new StaleTaskError(
          `job ${input.job_key} of ${input.workflow_execution_id} is ${job.execution_status} at attempt ${job.attempt}; not running attempt ${input.attempt}`,
        );
      }
      if (job.instance_id !== null) return sendToClaimedHost(job, job.instance_id, req);
      // The run is read once, after the claim (below): a read before it would only spare a claim
      // on a run that stopped taking work, and that claim is settled Cancelled all the same.
      const agent = await agents.pick(input.job_run_name);
      // Claimed only while no host is recorded: another Dispatch try of this attempt may run beside
      // this one (its invocation's answer was lost, Lambda.SdkClientException, and Step Functions
      // retried) and may have picked another host meanwhile. One host per attempt.
      const claimed = await jobs.transition({
        workflowExecutionId: job.workflow_execution_id,
        jobKey: job.job_key,
        expect: { attempt: job.attempt, statuses: ['Queued', 'Dispatched'], instanceId: null },
        set: {
          execution_status: 'Dispatched',
          instance_id: agent.instanceId,
          ...(job.pool ? { waiting_for: null } : {}),
        },
      });
      if (!claimed) {
        const now = await jobs.getJob(job.workflow_execution_id, job.job_key);
        if (
          now?.attempt === job.attempt &&
          now.instance_id !== null &&
          (now.execution_status === 'Dispatched' || now.execution_status === 'Running')
        )
          return sendToClaimedHost(now, now.instance_id, req);
        throw new StaleTaskError(
          `job ${input.job_key} of ${input.workflow_execution_id} moved on while it was being dispatched`,
        );
      }
      // Read the run again now that the host is recorded (see above): cancel is checked after the
      // claim, the cancel reads the job after setting cancel_requested, so one of them sees the other.
      const now = await runs.getRun(job.workflow_execution_id);
      if (!accepting(now)) {
        await settleRefused(claimed);
        throw new StaleTaskError(
          `run ${job.workflow_execution_id} is not running (cancelled or ended before this job was sent)`,
        );
      }
      // The command id is not written here: the agent reports it in JobStarted (the recorder puts
      // it on the row), nothing reads it from the row before that, and the summary log line of the
      // task entry names it for an attempt whose agent never reported. One write per job less.
      const { commandId } = await agents.send(
        agent,
        command(claimed, req, now.parameters, now.script_version),
      );
      log.info('job sent to agent', {
        job_run_name: input.job_run_name,
        instance_id: agent.instanceId,
        command_id: commandId,
      });
      return { instanceId: agent.instanceId, commandId };
    },
  };
}

export type DispatcherService = ReturnType<typeof createDispatcherService>;
