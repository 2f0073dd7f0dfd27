/**
 * Heartbeats of the EC2 agent's running jobs: SendTaskHeartbeat with each job's token every
 * `heartbeatEverySeconds` (default a third of the job's `heartbeat_seconds`), so the wrapper keeps
 * waiting. The answer is also how the agent learns the orchestrator gave up on a job (timeout,
 * heartbeat lost, cancelled): a refused token goes to agent/attempt-tokens.ts, which tells a
 * replaced token (a retried Dispatch) from an attempt that is over; a heartbeat refused for good
 * (InvalidToken) means nobody can ever receive this job's result, and the job is killed.
 */
import {
  errorText as describeError,
  TaskCallbackRejectedError,
  type TaskCallbackResult,
} from '../runtime/aws/task-callbacks.js';
import type { AgentContext } from './agent-context.js';
import type { AttemptTokens } from './attempt-tokens.js';
import type { JobEnding } from './job-ending.js';
import type { Job } from './job-state.js';

export interface Heartbeats {
  /** Sends one heartbeat for the job now; the next is due one interval after it settles. */
  heartbeat(job: Job): void;
}

export function createHeartbeats(
  ctx: AgentContext,
  deps: { tokens: Pick<AttemptTokens, 'tokenRefused'>; ending: Pick<JobEnding, 'gaveUp'> },
): Heartbeats {
  const { log, tasks, now } = ctx;

  function heartbeat(job: Job): void {
    job.heartbeating = true;
    const token = job.cmd.task_token;
    void ctx
      .track(
        tasks.heartbeat(token).then(
          (r: TaskCallbackResult) => {
            if (r.outcome === 'gave-up') deps.tokens.tokenRefused(job, r.reason, token);
          },
          (err: unknown) => {
            // Refused for good: final only for the token the job still holds (see tokenRefused).
            if (err instanceof TaskCallbackRejectedError && token === job.cmd.task_token)
              deps.ending.gaveUp(job, 'rejected');
            log.warn('heartbeat failed', { job_run_name: job.state.name, error: describeError(err, token) });
          },
        ),
      )
      .finally(() => {
        job.heartbeating = false;
        job.nextHeartbeat = now() + ctx.heartbeatEveryMs(job.cmd);
      });
  }

  return { heartbeat };
}
