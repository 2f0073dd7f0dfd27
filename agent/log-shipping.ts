/**
 * Shipping each job's log file to CloudWatch Logs (one stream per attempt, named after the job
 * run) as it grows, every `logShipEverySeconds` (default 5), and to its end once the job finished.
 * The byte offset shipped is kept in the job's state file, so a restarted daemon resumes where the
 * last one stopped (at least once). Secrets are blanked (ctx.redact) in what is shipped. Failures
 * are retried with the report backoff; a partial shipment still moves the offset.
 */
import { type LogShipper, LogShippingError } from '../runtime/aws/cloudwatch-logs.js';
import { errorText as describeError } from '../runtime/aws/task-callbacks.js';
import type { AgentContext } from './agent-context.js';
import { backoff, type Job } from './job-state.js';

export interface LogShipping {
  /** Ships what is new in the job's log (all of it, marked final, once the job finished). */
  ship(job: Job): void;
}

export function createLogShipping(ctx: AgentContext, logs: LogShipper): LogShipping {
  const { config, log, now } = ctx;

  function ship(job: Job): void {
    const { state } = job;
    const final = state.phase === 'finished';
    job.shipping = true;
    void ctx
      .track(
        logs.ship({
          stream: state.stream,
          file: state.log_file,
          offset: state.shipped,
          final,
          redact: ctx.redact,
        }),
      )
      .then(
        (offset) => {
          job.shipFailures = 0;
          if (offset !== state.shipped || final) {
            state.shipped = offset;
            if (final) state.logs_final = true;
            ctx.save(job);
          }
          job.nextShip = now() + config.logShipEverySeconds * 1000;
        },
        (err: unknown) => {
          if (err instanceof LogShippingError && err.offset !== state.shipped) {
            state.shipped = err.offset;
            ctx.save(job);
          }
          job.shipFailures++;
          job.nextShip = now() + backoff(job.shipFailures, ctx.retryBase, ctx.retryMax);
          log.warn('log shipping failed; will retry', {
            job_run_name: state.name,
            error: describeError(err),
          });
        },
      )
      .finally(() => {
        job.shipping = false;
        ctx.scheduleTick();
      });
  }

  return { ship };
}
