import type { JobAuditRecord, TerminalJobStatus, WorkflowRunState } from '../../contracts/audit.js';
import type {
  Clock,
  EventPublisher,
  JobRepository,
  Logger,
  MessageQueue,
  OutgoingMessage,
  PoolRepository,
  RunRepository,
} from '../ports.js';
import { completeIfDone } from '../shared/advance.js';
import { jobMessageOf } from '../shared/job-message.js';
import { attemptRecord } from '../shared/operator-plan.js';
import { releasePoolSlot } from '../shared/pools.js';
import { stageOutcome, stageReadyEvent } from '../shared/progress.js';

export interface AggregatorDeps {
  runs: RunRepository;
  jobs: JobRepository;
  events: EventPublisher;
  /** Resource pools (issue 14): a final job with a `pool` gives its slot back here. */
  pools: PoolRepository;
  clock: Clock;
  log: Logger;
  /**
   * Where a just-Queued job's message is sent again (AWS: the job audit stream is the outbox of the
   * planner's claim and of retries). Unset locally: the local change feed never carries Queued rows,
   * because the SQLite outbox commits the message with the claim.
   */
  queue?: MessageQueue;
}

/** Longest wait between two attempts, whatever the backoff settings (1 h). */
export const MAX_RETRY_BACKOFF_SECONDS = 3600;

/** Seconds to wait before attempt `attempt + 1` after attempt `attempt` failed. */
export function retryDelaySeconds(
  job: Pick<JobAuditRecord, 'retry_backoff_seconds' | 'retry_backoff_rate'>,
  attempt: number,
) {
  const d = job.retry_backoff_seconds * job.retry_backoff_rate ** Math.max(0, attempt - 1);
  return Math.min(MAX_RETRY_BACKOFF_SECONDS, Math.round(d));
}

/** The change-feed filter (DynamoDB stream filter on AWS): final outcomes and retry transitions. */
export function isAggregatorChange(
  job: Pick<JobAuditRecord, 'execution_status' | 'attempt' | 'counted'>,
): boolean {
  const s = job.execution_status;
  if (s === 'Completed' || s === 'Failed' || s === 'TimedOut' || s === 'Cancelled') return !job.counted;
  return s === 'Pending' && job.attempt > 1;
}

/** Re-exported: its home is services/shared/advance.ts, shared with the starter's operator actions. */
export { replayCompletion } from '../shared/advance.js';

/**
 * The aggregator reacts to job audit row changes (DynamoDB stream / local change feed). A job that
 * failed with attempts left goes back to Pending as the next attempt and is queued after its
 * backoff; a final outcome is counted once (the job's `counted` flag and the counters change
 * together) and moves the run on: StageReady for more work, StageCompleted, the next stage, or
 * WorkflowFinished. What it emits is derived from state, so a retried invocation re-emits the same
 * events (same ids) instead of losing them. O(1) per change.
 */
export function createAggregatorService(deps: AggregatorDeps) {
  const { runs, jobs, events, clock, log } = deps;

  /** The queue message of a job's current attempt, hidden until its retry backoff ends. */
  function jobMessage(job: JobAuditRecord): OutgoingMessage {
    const wait = job.not_before
      ? Math.max(0, Math.ceil((Date.parse(job.not_before) - clock.now().getTime()) / 1000))
      : 0;
    return {
      body: jobMessageOf(job),
      delaySeconds: wait,
    };
  }

  async function queueRetry(job: JobAuditRecord): Promise<void> {
    await jobs.transition(
      {
        workflowExecutionId: job.workflow_execution_id,
        jobKey: job.job_key,
        expect: { attempt: job.attempt, statuses: ['Pending'] },
        set: { execution_status: 'Queued' },
      },
      { messages: [jobMessage(job)] },
    );
  }

  /**
   * A job just moved Pending → Queued (AWS stream): make sure its message went out, in case whoever
   * queued it stopped between the write and the send. Only while the row is still Queued at that
   * attempt; once the dispatcher took it (or it moved on), a message would only be dropped again.
   */
  async function ensureQueued(job: JobAuditRecord, queue: MessageQueue): Promise<void> {
    const current = await jobs.getJob(job.workflow_execution_id, job.job_key);
    if (current?.execution_status !== 'Queued' || current.attempt !== job.attempt) return;
    // Parked (waiting for a pool slot or a free): its message went out and was acked on purpose;
    // the grant or the free that ends the wait sends the next one.
    if (current.waiting_for) return;
    await queue.ensureSent([jobMessage(current)]);
  }

  async function retry(job: JobAuditRecord): Promise<boolean> {
    const now = clock.now();
    const delay = retryDelaySeconds(job, job.attempt);
    const next = await jobs.transition({
      workflowExecutionId: job.workflow_execution_id,
      jobKey: job.job_key,
      expect: { attempt: job.attempt, statuses: [job.execution_status] },
      set: {
        execution_status: 'Pending',
        attempt: job.attempt + 1,
        previous_attempts: [...job.previous_attempts, attemptRecord(job)],
        not_before: new Date(now.getTime() + delay * 1000).toISOString(),
        execution_start_ts: null,
        execution_end_ts: null,
        exit_code: null,
        error_message: null,
        instance_id: null,
        ssm_command_id: null,
        log_location: null,
      },
    });
    if (next)
      log.info('job will be retried', { job_key: job.job_key, attempt: next.attempt, delay_seconds: delay });
    return next !== undefined;
  }

  return {
    async handleJobChange(job: JobAuditRecord): Promise<void> {
      if (job.execution_status === 'Queued') {
        if (deps.queue) await ensureQueued(job, deps.queue);
        return;
      }
      if (!isAggregatorChange(job)) return;
      if (job.execution_status === 'Pending') {
        await queueRetry(job);
        return;
      }
      const status = job.execution_status as Exclude<TerminalJobStatus, 'Skipped'>;
      // Before the retry or the count: the slot is the attempt's, whatever follows.
      if (job.pool) await releasePoolSlot(deps, job, job.pool);
      const run = await runs.getRun(job.workflow_execution_id);
      if (!run) {
        log.warn('job change for an unknown run', { workflow_execution_id: job.workflow_execution_id });
        return;
      }
      const stageState = run.stages[job.stage - 1];
      const stageDoomed = stageState
        ? stageState.failed + stageState.timed_out + stageState.cancelled > 0
        : true;
      if (
        (status === 'Failed' || status === 'TimedOut') &&
        job.attempt < job.max_attempts &&
        run.execution_status === 'Running' &&
        !run.cancel_requested &&
        // Once another job failed the stage, nothing new starts in it, retries included.
        !stageDoomed
      ) {
        if (await retry(job)) return;
        // The row moved on meanwhile (duplicate delivery): the current row tells what follows.
        return;
      }
      const cause = `${job.job_key}.a${job.attempt}`;
      const derive = (post: WorkflowRunState) => {
        const st = post.stages[job.stage - 1];
        if (!st || post.execution_status !== 'Running' || st.status !== 'Running') return {};
        const o = stageOutcome(st, post.cancel_requested);
        return !o.done && o.canLaunch
          ? { events: [stageReadyEvent(post, job.stage, cause, clock.now().toISOString())] }
          : {};
      };
      const { counted, run: after } = await runs.countJob(
        {
          workflowExecutionId: job.workflow_execution_id,
          jobKey: job.job_key,
          stage: job.stage,
          attempt: job.attempt,
          status,
          failure:
            status === 'Completed'
              ? null
              : {
                  job_key: job.job_key,
                  job_name: job.job_name,
                  status,
                  exit_code: job.exit_code,
                  error_message: job.error_message,
                  log_location: job.log_location,
                },
          run,
        },
        derive,
      );
      if (!after) return;
      // Counted before (a redelivery): what the count emitted may not have gone out.
      if (!counted) await events.ensurePublished(derive(after).events ?? []);
      await completeIfDone(deps, after, job.stage);
    },
  };
}

export type AggregatorService = ReturnType<typeof createAggregatorService>;
