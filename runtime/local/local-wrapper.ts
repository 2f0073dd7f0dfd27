/**
 * The local single-job wrapper: what the Step Functions wrapper does on AWS, over the store's
 * `job_runs` table. It records a job run and its timeout, hands the dispatcher a task token (the
 * job run's name) in the same transaction, ends the run on a stop, and on a timeout reports
 * TimedOut (as the wrapper's Catch does) and has the process tree killed once that committed.
 */
import { EVENT_VERSION, eventIds, type RsqloEvent } from '../../contracts/events.js';
import type { JobRunInput, TaskRequest } from '../../contracts/jobs.js';
import type { KillReason } from '../../host/job-runner.js';
import { StaleTaskError } from '../../services/errors.js';
import type { Clock, JobRunOrchestrator, Logger } from '../../services/ports.js';
import type { LocalStore } from './store.js';

/** What the wrapper needs: the store, the clock, the dispatcher's task handler, a kill of a job run. */
export interface LocalWrapperDeps {
  store: LocalStore;
  clock: Clock;
  log: Logger;
  /** The dispatcher's `handleTask` (the wrapper's Dispatch state). */
  handleTask: (req: TaskRequest) => Promise<unknown>;
  /** Kills a job run's process tree, without waiting for it (the agent's kill). */
  kill: (name: string, reason: KillReason) => void;
}

/** The local wrapper (see the module's comment); the services' JobRunOrchestrator locally. */
export class LocalWrapper implements JobRunOrchestrator {
  constructor(private readonly deps: LocalWrapperDeps) {}

  /**
   * The local wrapper: records the job run and its timeout, then does what the Step Functions
   * wrapper's Dispatch state does, in the same transaction: hands the dispatcher a task token (the
   * job run's name). Any failure rolls all of it back and the queue message comes again.
   */
  async start(input: JobRunInput): Promise<'started' | 'exists'> {
    const store = this.deps.store;
    const created = store.tx(() => {
      if (
        !store.insertJobRun(
          input.job_run_name,
          input.workflow_execution_id,
          input.job_key,
          input.attempt,
          input,
        )
      ) {
        return false;
      }
      store.setTimer(
        `timeout:${input.job_run_name}`,
        this.deps.clock.now().getTime() + input.timeout_seconds * 1000,
        {
          name: input.job_run_name,
        },
      );
      return true;
    });
    if (!created) return 'exists';
    await this.runTask({ task_token: input.job_run_name, job: input });
    return 'started';
  }

  /** The wrapper's Dispatch state: a StaleTaskError ends the job run without a second event. */
  private async runTask(req: TaskRequest): Promise<void> {
    try {
      await this.deps.handleTask(req);
    } catch (err) {
      if (!(err instanceof StaleTaskError)) throw err;
      this.deps.store.tx(() => {
        this.deps.store.endJobRun(req.job.job_run_name, 'Failed');
        this.deps.store.deleteTimer(`timeout:${req.job.job_run_name}`);
      });
      this.deps.log.info('stale task dropped', { job_run_name: req.job.job_run_name, reason: err.message });
    }
  }

  async stop(name: string, reason: string): Promise<void> {
    const stopped = this.deps.store.tx(() => {
      const ok = this.deps.store.endJobRun(name, 'Aborted');
      this.deps.store.deleteTimer(`timeout:${name}`);
      return ok;
    });
    if (stopped) {
      this.deps.log.info('job run stopped', { job_run_name: name, reason });
      // Killing takes up to the grace period: do it after the commit, without waiting for it.
      this.deps.store.afterCommit(() => this.deps.kill(name, 'cancel'));
    }
  }

  /** A job run's timeout: report TimedOut (as the wrapper's Catch does) and kill the process tree. */
  async onTimeout(name: string): Promise<void> {
    const row = this.deps.store.getJobRun(name);
    if (row?.status !== 'Running') {
      this.deps.store.tx(() => this.deps.store.deleteTimer(`timeout:${name}`));
      return;
    }
    const input = JSON.parse(row.input) as JobRunInput;
    const now = this.deps.clock.now();
    const ended = this.deps.store.tx(() => {
      this.deps.store.deleteTimer(`timeout:${name}`);
      if (!this.deps.store.endJobRun(name, 'TimedOut')) return false;
      const startedAt = row.started_at ? new Date(row.started_at) : null;
      const ev: RsqloEvent = {
        detailType: 'JobFinished',
        detail: {
          version: EVENT_VERSION,
          event_id: eventIds.jobFinished(input.workflow_execution_id, input.job_key, input.attempt),
          occurred_at: now.toISOString(),
          workflow_id: input.workflow_id,
          workflow_execution_id: input.workflow_execution_id,
          job_key: input.job_key,
          job_name: input.job_name,
          stage: input.stage,
          attempt: input.attempt,
          status: 'TimedOut',
          exit_code: null,
          error_message: `timed out after ${input.timeout_seconds} s (timeout_seconds); the process tree was killed`,
          started_at: startedAt ? startedAt.toISOString() : null,
          finished_at: now.toISOString(),
          duration_ms: startedAt ? Math.max(0, now.getTime() - startedAt.getTime()) : null,
          instance_id: row.pid !== null ? 'local' : null,
          ssm_command_id: null,
          log_location: row.log_file,
          reported_by: 'wrapper',
        },
      };
      this.deps.store.publish([ev]);
      return true;
    });
    if (ended) this.deps.store.afterCommit(() => this.deps.kill(name, 'timeout'));
  }
}
