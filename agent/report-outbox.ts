/**
 * The EC2 agent's report outbox: each job's undelivered reports (JobStarted, JobFinished, the task
 * result) are kept in its state file and sent until delivered, so nothing is lost while AWS is
 * unreachable or the daemon restarts. A report that fails is tried again with backoff (default
 * 1 s doubling to 5 min, jittered), each report on its own: one that keeps failing never holds
 * back the others. Delivery is at least once (a crash after a delivery and before the state file
 * is written sends it again; events carry deterministic ids and consumers dedupe).
 *
 * A report AWS refuses for good (NonRetriableError, e.g. an invalid token) is logged and dropped.
 * A task result refused because the token is no longer live is kept while a retried Dispatch may
 * bring the live one (agent/attempt-tokens.ts), and goes again with it.
 */
import { errorText as describeError } from '../runtime/aws/task-callbacks.js';
import { NonRetriableError } from '../services/errors.js';
import type { AgentContext } from './agent-context.js';
import type { AttemptTokens } from './attempt-tokens.js';
import { backoff, type Job, type Report } from './job-state.js';

/** What became of one try of a report. */
export type DeliveryResult = 'delivered' | 'retry' | 'stale';

export interface ReportOutbox {
  /**
   * Sends the job's pending reports that are due (all of them with `force`, as on shutdown), those
   * not already in flight; a delivered one leaves the state file, a failed one waits its backoff.
   */
  deliver(job: Job, force?: boolean): void;
}

/** The outbox over the daemon's shared state; refused tokens are handed to `tokens`. */
export function createReportOutbox(
  ctx: AgentContext,
  tokens: Pick<AttemptTokens, 'tokenRefused'>,
): ReportOutbox {
  const { log, tasks, events, now } = ctx;

  async function deliverOne(job: Job, report: Report): Promise<DeliveryResult> {
    const token = job.cmd.task_token;
    try {
      if (report.kind === 'event') {
        await events.publish([report.event]);
      } else {
        const r =
          report.kind === 'task-success'
            ? await tasks.success(token, report.output)
            : await tasks.failure(token, report.cause);
        if (r.outcome === 'gave-up') {
          if (token !== job.cmd.task_token || (job.cmd.execution_arn && tasks.executionRunning)) {
            // Refused: the attempt may have a newer token (a retried Dispatch), or got one while
            // this call was out (then it goes again at once with that one). Keep the result.
            tokens.tokenRefused(job, r.reason, token);
            return 'stale';
          }
          log.info('task result not needed: the orchestrator gave up on this attempt', {
            job_run_name: job.state.name,
            reason: r.reason,
          });
        }
      }
      return 'delivered';
    } catch (err) {
      if (err instanceof NonRetriableError) {
        log.error('a report was refused for good and is dropped', {
          job_run_name: job.state.name,
          report: report.id,
          error: describeError(err, token),
        });
        return 'delivered';
      }
      log.warn('report not delivered; will retry', {
        job_run_name: job.state.name,
        report: report.id,
        error: describeError(err, token),
      });
      return 'retry';
    }
  }

  function deliver(job: Job, force = false): void {
    for (const report of job.state.reports) {
      const key = report.id;
      if (job.delivering.has(key)) continue;
      // A task result waits while the job's token is refused and a live one may come.
      if (report.kind !== 'event' && job.stale) continue;
      const retry = job.retries.get(key);
      if (!force && retry && retry.nextAt > now()) continue;
      job.delivering.add(key);
      void ctx.track(deliverOne(job, report)).then((result) => {
        job.delivering.delete(key);
        if (ctx.closed) return;
        if (result === 'delivered') {
          job.state.reports = job.state.reports.filter((r) => r.id !== key);
          job.retries.delete(key);
          ctx.save(job);
        } else if (result === 'stale') {
          job.retries.delete(key);
        } else {
          const attempts = (retry?.attempts ?? 0) + 1;
          job.retries.set(key, { attempts, nextAt: now() + backoff(attempts, ctx.retryBase, ctx.retryMax) });
        }
        ctx.scheduleTick();
      });
    }
  }

  return { deliver };
}
