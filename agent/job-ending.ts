/**
 * How a job ends on the EC2 agent: its outcome recorded once and its reports queued in its state
 * file (JobFinished, then SendTaskSuccess / SendTaskFailure), a cancelled job counted only once its
 * process tree is gone, a job killed (timeout, cancel, the orchestrator giving up), and the
 * tombstone left when everything is delivered. Every other part ends jobs through here, so the
 * rules of what is reported (nothing once the orchestrator gave up; no task result for a local
 * timeout) are in one place.
 */
import { type KillReason, killJob, type readExitFile } from '../host/job-runner.js';
import { agentJobFinished, outcomeStatus, taskOutput } from '../host/reports.js';
import type { AgentContext } from './agent-context.js';
import { type Job, logTail, type Outcome } from './job-state.js';
import { commandFile, removeFile } from './spool.js';

export interface JobEnding {
  /** Records the outcome and queues its reports (none when the orchestrator gave up). */
  finish(job: Job, outcome: Outcome): void;
  /**
   * `finish`, but a cancelled job only once its whole process tree is gone: its main process ending
   * is not enough (children it started may still be dying, or have escaped its group). Reporting it
   * Cancelled earlier would let a restart start it again beside its previous attempt.
   */
  finishWhenTreeGone(job: Job, outcome: Outcome): void;
  /** Ends a job from its exit journal line (after a restart), or with the `unknown` outcome message. */
  finishFromJournal(job: Job, e: ReturnType<typeof readExitFile>, unknown: string): void;
  /** Leaves the tombstone, deletes the command file (with the task token) and forgets the job. */
  markDone(job: Job): void;
  /** The orchestrator no longer waits for this job: a queued one is dropped, a running one killed. */
  gaveUp(job: Job, reason: string): void;
  /** Kills the job's process tree (grace: config.killGraceSeconds), noting `why` in its log. */
  kill(job: Job, reason: KillReason, why: string): void;
  /** Acts on a job's cancel: an unstarted job ends Cancelled, a running one is killed. */
  applyCancel(job: Job): void;
}

/** The ending of jobs over the daemon's shared state. */
export function createJobEnding(ctx: AgentContext): JobEnding {
  const { log, now } = ctx;

  function finish(job: Job, outcome: Outcome): void {
    const { state, cmd } = job;
    if (state.outcome || ctx.closed) return;
    if (job.watch) clearInterval(job.watch);
    job.watch = undefined;
    job.adopted = undefined;
    const error =
      outcome.status === 'Cancelled' && state.cancel_reason
        ? ctx.redact(state.cancel_reason)
        : outcome.error === null
          ? null
          : ctx.redact(outcome.error);
    state.outcome = { ...outcome, error };
    state.phase = 'finished';
    if (state.gave_up) {
      log.info('job ended after the orchestrator gave up on it; nothing to report', {
        job_run_name: state.name,
        reason: state.gave_up,
      });
    } else {
      const r = {
        status: outcome.status,
        exitCode: outcome.exit_code,
        error,
        startedAt: outcome.started_at,
        finishedAt: outcome.finished_at,
      };
      state.reports.push({ id: 'finished', kind: 'event', event: agentJobFinished(cmd, r, ctx.place(job)) });
      if (outcome.status === 'Completed') {
        state.reports.push({ id: 'task', kind: 'task-success', output: taskOutput(r, ctx.place(job)) });
      } else if (!(outcome.status === 'TimedOut' && state.killed_for === 'timeout')) {
        // A local timeout needs no task result: the wrapper's own timer ran out first.
        state.reports.push({ id: 'task', kind: 'task-failure', cause: error ?? outcome.status });
      }
    }
    ctx.save(job);
    log.info('job finished', {
      job_run_name: state.name,
      status: outcome.status,
      exit_code: outcome.exit_code,
    });
    ctx.scheduleTick();
  }

  function finishWhenTreeGone(job: Job, outcome: Outcome): void {
    const { state } = job;
    if (state.killed_for !== 'cancel' || state.pid === null || state.gave_up) {
      finish(job, outcome);
      return;
    }
    job.busy = true;
    void ctx
      .track(
        killJob(
          {
            pid: state.pid,
            ...(state.start_ticks ? { startTicks: state.start_ticks } : {}),
            exitKey: state.log_file,
          },
          ctx.graceMs,
        ),
      )
      .catch(() => {})
      .then(() => {
        job.busy = false;
        finish(job, { ...outcome, finished_at: new Date(now()).toISOString() });
      });
  }

  function finishFromJournal(job: Job, e: ReturnType<typeof readExitFile>, unknown: string): void {
    const finishedAt = new Date(now()).toISOString();
    if (!e) {
      finish(job, {
        status: job.state.killed_for === 'timeout' ? 'TimedOut' : 'Failed',
        exit_code: null,
        error: unknown,
        started_at: job.state.started_at,
        finished_at: finishedAt,
      });
      return;
    }
    const exitCode = 'exitCode' in e ? e.exitCode : null;
    const signal = 'signal' in e ? (e.signal as NodeJS.Signals) : null;
    const { status, error } = outcomeStatus({
      exitCode,
      signal,
      killedFor: job.state.killed_for ?? undefined,
      errorTail: exitCode === 0 ? '' : logTail(job.state.log_file),
    });
    finishWhenTreeGone(job, {
      status,
      exit_code: exitCode,
      error,
      started_at: job.state.started_at,
      finished_at: finishedAt,
    });
  }

  function markDone(job: Job): void {
    const { state } = job;
    state.phase = 'done';
    state.done_at = new Date(now()).toISOString();
    state.reports = [];
    ctx.save(job); // the tombstone first: submit checks it after creating a command file
    removeFile(commandFile(ctx.paths, state.name));
    ctx.jobs.delete(state.name);
  }

  function gaveUp(job: Job, reason: string): void {
    const { state } = job;
    if (state.gave_up || state.outcome || ctx.closed) return;
    state.gave_up = reason;
    log.warn('the orchestrator no longer waits for this job; killing it', {
      job_run_name: state.name,
      reason,
    });
    if (state.phase === 'accepted') {
      ctx.save(job);
      if (!job.busy) markDone(job);
      return;
    }
    kill(job, 'cancel', `the orchestrator no longer waits for this attempt (${reason}); killing the job`);
  }

  function kill(job: Job, reason: KillReason, why: string): void {
    const { state } = job;
    state.killed_for ??= reason;
    ctx.save(job);
    ctx.note(job, why);
    if (job.hosted) {
      void job.hosted.kill(reason);
    } else if (job.adopted) {
      const a = job.adopted;
      void ctx.track(killJob({ pid: a.pid, startTicks: a.ticks, exitKey: state.log_file }, ctx.graceMs));
    }
  }

  function applyCancel(job: Job): void {
    const { state } = job;
    if (!state.cancel_reason || state.outcome || state.gave_up) return;
    if (state.phase === 'accepted') {
      if (!job.busy)
        finish(job, {
          status: 'Cancelled',
          exit_code: null,
          error: state.cancel_reason,
          started_at: null,
          finished_at: new Date(now()).toISOString(),
        });
    } else if (state.killed_for === null) {
      kill(job, 'cancel', `the run was cancelled (${state.cancel_reason}); killing the job`);
    }
  }

  return { finish, finishWhenTreeGone, finishFromJournal, markDone, gaveUp, kill, applyCancel };
}
