/**
 * Which task token a job's reports go with. A retried Dispatch (its Lambda failed after sending the
 * SSM command) gets a new token from Step Functions, and the same job comes again with it (a
 * second command, spooled under `tokens/`). The live token is the one Step Functions accepts a
 * heartbeat with: the job adopts it, and a refusal only counts for the token the job holds. While
 * a token is refused but the wrapper execution still runs, the job is "stale": no heartbeat and no
 * task result until the live token arrives or the execution ends (then the attempt is over).
 *
 * SSM may deliver the commands in either order; `dispatch` (the wrapper's retry count) makes an
 * earlier try's token never replace a later one, whatever order the checks come back in.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { JobCommand } from '../contracts/jobs.js';
import {
  errorText as describeError,
  redactToken,
  TaskCallbackRejectedError,
} from '../runtime/aws/task-callbacks.js';
import type { AgentContext } from './agent-context.js';
import type { JobEnding } from './job-ending.js';
import { backoff, type Job, safeReadJson } from './job-state.js';
import { commandFile, listSpoolFiles, removeFile, SpooledCommand, writeFileAtomic } from './spool.js';

/**
 * How often a job whose token was refused asks again whether its wrapper execution still runs (the
 * new token of a retried Dispatch comes within the wrapper's retry backoff, seconds; an execution
 * that timed out ends within a second, in its Catch states).
 */
const STALE_RECHECK_MS = 1000;

/**
 * Whether `held`'s token is from a later try of Dispatch than `other`'s (`dispatch`, the wrapper's
 * $$.State.RetryCount). Step Functions starts a retry only once the previous try's task closed,
 * so an earlier try's token is dead whatever a heartbeat said about it a moment ago: a check of
 * it answered "live" just before its task closed must never replace a later token. Unknown (a
 * command from a dispatcher that does not say) compares as nothing.
 */
export function supersedes(held: JobCommand, other: JobCommand): boolean {
  return held.dispatch !== undefined && other.dispatch !== undefined && held.dispatch > other.dispatch;
}

export interface AttemptTokens {
  /** Looks at the token updates in the spool (`tokens/`): checks each, adopts the live ones. */
  scanTokens(): void;
  /**
   * Step Functions refused `token` (a call made for `job`). If the wrapper execution still runs,
   * the token was replaced (a retried Dispatch) and the live one is on its way: wait for it,
   * leaving the job alone. If the execution ended (timed out, heartbeat lost, stopped), the attempt
   * is over: the job is killed and nothing more is reported. Without an execution ARN (an older
   * dispatcher) or a way to ask, a refused token is final.
   */
  tokenRefused(job: Job, reason: string, token: string): void;
  /** A stale job asks (at most every second) whether its wrapper execution still runs. */
  checkStale(job: Job): void;
}

/** Token adoption over the daemon's shared state; the attempt being over ends jobs through `ending`. */
export function createAttemptTokens(ctx: AgentContext, ending: JobEnding): AttemptTokens {
  const { log, tasks, now } = ctx;
  /** Token files being checked with Step Functions right now. */
  const checkingTokens = new Set<string>();
  /** Token files that could not be checked (Step Functions unreachable): when to try again. */
  const tokenRetryAt = new Map<string, number>();

  function scanTokens(): void {
    const { paths } = ctx;
    for (const f of listSpoolFiles(paths.tokens)) {
      const file = path.join(paths.tokens, f);
      if (checkingTokens.has(file) || (tokenRetryAt.get(file) ?? 0) > now()) continue;
      const m = /^(.+)\.[0-9a-f]{16}\.json$/.exec(f);
      const r = m ? SpooledCommand.safeParse(safeReadJson(file)) : undefined;
      if (!m || !r?.success || r.data.command.job_run_name !== m[1]) {
        log.error('dropping an unreadable token update from the spool', { file });
        removeFile(file);
        continue;
      }
      const name = m[1] as string;
      const update = r.data.command;
      const job = ctx.jobs.get(name);
      if (job) {
        if (update.task_token === job.cmd.task_token || supersedes(job.cmd, update)) removeFile(file);
        else checkToken(file, update.task_token, (live) => live && adoptToken(job, update));
        continue;
      }
      const tomb = ctx.readState(name);
      if (tomb?.cancelled_before_start) {
        // Cancelled before it ran here: end its wrapper now rather than at its heartbeat timeout.
        checkToken(file, update.task_token, () => {}, 'the job was cancelled before it started');
      } else if (!tomb && existsSync(commandFile(paths, name))) {
        // Its job is not taken yet: next pass.
      } else {
        removeFile(file);
      }
    }
  }

  /**
   * Asks Step Functions about `token` (a heartbeat, or the failure `failCause` for an attempt that
   * must not run) and removes the file once it has an answer; `then(live)` gets whether the token
   * is live. Unreachable: the file stays and is tried again later.
   */
  function checkToken(file: string, token: string, then: (live: boolean) => void, failCause?: string): void {
    checkingTokens.add(file);
    const ask = failCause ? tasks.failure(token, failCause) : tasks.heartbeat(token);
    void ctx
      .track(ask)
      .then(
        (r) => {
          tokenRetryAt.delete(file);
          removeFile(file);
          if (!ctx.closed) then(r.outcome === 'delivered');
        },
        (err: unknown) => {
          if (err instanceof TaskCallbackRejectedError) {
            removeFile(file);
            return;
          }
          tokenRetryAt.set(file, now() + backoff(2, ctx.retryBase, ctx.retryMax));
          log.warn('could not check a task token; will retry', { file, error: describeError(err, token) });
        },
      )
      .finally(() => {
        checkingTokens.delete(file);
      });
  }

  function adoptToken(job: Job, update: JobCommand): void {
    const { state } = job;
    if (ctx.closed || !ctx.jobs.has(state.name) || update.task_token === job.cmd.task_token) return;
    if (supersedes(job.cmd, update)) {
      log.info('kept the task token of a later dispatch over an earlier one', {
        job_run_name: state.name,
        dispatch: job.cmd.dispatch,
        earlier: update.dispatch,
      });
      return;
    }
    job.cmd = {
      ...job.cmd,
      task_token: update.task_token,
      ...(update.execution_arn ? { execution_arn: update.execution_arn } : {}),
      ...(update.dispatch !== undefined ? { dispatch: update.dispatch } : {}),
    };
    job.entry = { ...job.entry, command: job.cmd };
    // The command file holds the token (never the state file): a restarted daemon uses the live one.
    writeFileAtomic(commandFile(ctx.paths, state.name), JSON.stringify(job.entry));
    job.stale = undefined;
    job.nextHeartbeat = now() + ctx.heartbeatEveryMs(job.cmd);
    job.retries.delete('task');
    log.info('adopted the live task token of a retried dispatch', {
      job_run_name: state.name,
      task_token: redactToken(update.task_token),
    });
    ctx.scheduleTick();
  }

  function tokenRefused(job: Job, reason: string, token: string): void {
    if (token !== job.cmd.task_token) {
      // The refused token was replaced while the call was out (a retried Dispatch's token was
      // adopted meanwhile): the refusal says nothing about the live one. Acting on it would wait for
      // a token that already came, withholding heartbeats and the result until the wrapper gives up.
      log.info('a replaced task token was refused; the job goes on with the live one', {
        job_run_name: job.state.name,
        reason,
      });
      return;
    }
    if (!job.cmd.execution_arn || !tasks.executionRunning) {
      attemptOver(job, reason);
      return;
    }
    job.stale ??= { reason, nextCheck: 0, checking: false, announced: false };
    checkStale(job);
  }

  function checkStale(job: Job): void {
    const st = job.stale;
    const arn = job.cmd.execution_arn;
    if (!st || st.checking || ctx.closed || now() < st.nextCheck || !arn || !tasks.executionRunning) return;
    st.checking = true;
    void ctx
      .track(tasks.executionRunning(arn))
      .then(
        (running) => {
          if (job.stale !== st) return; // a live token was adopted meanwhile
          if (running) {
            if (!st.announced)
              log.info('task token refused but the attempt still runs; waiting for its live token', {
                job_run_name: job.state.name,
                reason: st.reason,
              });
            st.announced = true;
            st.nextCheck = now() + STALE_RECHECK_MS;
            return;
          }
          job.stale = undefined;
          attemptOver(job, st.reason);
        },
        (err: unknown) => {
          if (job.stale !== st) return;
          if (err instanceof TaskCallbackRejectedError) {
            // Cannot tell (e.g. no permission to ask): a refused token is final, as before.
            job.stale = undefined;
            attemptOver(job, st.reason);
            return;
          }
          st.nextCheck = now() + backoff(2, ctx.retryBase, ctx.retryMax);
        },
      )
      .finally(() => {
        st.checking = false;
        ctx.scheduleTick();
      });
  }

  /** The attempt is over for the orchestrator: kill a live job, drop a finished one's task result. */
  function attemptOver(job: Job, reason: string): void {
    const { state } = job;
    if (state.outcome) {
      if (state.reports.some((r) => r.id === 'task')) {
        log.info('task result not needed: the orchestrator gave up on this attempt', {
          job_run_name: state.name,
          reason,
        });
        state.reports = state.reports.filter((r) => r.id !== 'task');
        ctx.save(job);
        ctx.scheduleTick();
      }
      return;
    }
    ending.gaveUp(job, reason);
  }

  return { scanTokens, tokenRefused, checkStale };
}
