/**
 * "Stop this attempt" (its run was cancelled), as `submit` spools it under `cancels/`: a job
 * waiting in the spool never starts, a running one is killed, and either is reported Cancelled
 * (JobFinished + SendTaskFailure) once its process tree is gone (agent/job-ending.ts). A cancel for
 * a job not here yet is reported at once and remembered as a tombstone, so the job never runs if
 * its command still comes; a cancel that cannot be reported (EventBridge down) stays in the spool
 * and is tried again with backoff.
 */
import { hostname } from 'node:os';
import path from 'node:path';
import type { JobCancel } from '../contracts/jobs.js';
import { agentJobFinished } from '../host/reports.js';
import { logStreamName } from '../runtime/aws/cloudwatch-logs.js';
import { errorText as describeError } from '../runtime/aws/task-callbacks.js';
import type { AgentContext } from './agent-context.js';
import type { JobEnding } from './job-ending.js';
import { backoff, type Job, type JobState, safeReadJson } from './job-state.js';
import { listSpoolFiles, removeFile, SpooledCancel, stateFile, writeFileAtomic } from './spool.js';

export interface Cancels {
  /** Acts on the cancels in the spool. */
  scanCancels(): void;
}

/** Cancel handling over the daemon's shared state; jobs end through `ending`. */
export function createCancels(ctx: AgentContext, ending: JobEnding): Cancels {
  const { config, log, now } = ctx;
  /** Cancels of jobs this daemon never got, being reported: when to try again. */
  const cancelRetryAt = new Map<string, number>();
  const reportingCancels = new Set<string>();

  function scanCancels(): void {
    const { paths } = ctx;
    for (const f of listSpoolFiles(paths.cancels)) {
      const file = path.join(paths.cancels, f);
      const name = f.slice(0, -'.json'.length);
      if (reportingCancels.has(name) || (cancelRetryAt.get(name) ?? 0) > now()) continue;
      const r = SpooledCancel.safeParse(safeReadJson(file));
      if (!r.success || r.data.cancel.job_run_name !== name) {
        log.error('dropping an unreadable cancel from the spool', { file });
        removeFile(file);
        continue;
      }
      const job = ctx.jobs.get(name);
      if (job) {
        requestCancel(job, r.data.cancel.reason);
        removeFile(file);
        continue;
      }
      if (ctx.readState(name)) {
        removeFile(file); // finished already
        continue;
      }
      cancelBeforeArrival(r.data, file);
    }
  }

  function requestCancel(job: Job, reason: string): void {
    const { state } = job;
    if (state.outcome || state.gave_up || state.cancel_reason) return;
    state.cancel_reason = reason;
    ctx.save(job);
    log.info('cancel received; stopping the job', { job_run_name: state.name, phase: state.phase });
    ending.applyCancel(job);
  }

  function cancelBeforeArrival(entry: SpooledCancel, file: string): void {
    const c = entry.cancel;
    reportingCancels.add(c.job_run_name);
    const at = new Date(now()).toISOString();
    const event = agentJobFinished(
      c,
      { status: 'Cancelled', exitCode: null, error: c.reason, startedAt: null, finishedAt: at },
      {
        instanceId: config.instanceId ?? entry.instance_id ?? hostname(),
        commandId: null,
        logLocation: null,
      },
    );
    void ctx
      .track(ctx.events.publish([event]))
      .then(
        () => {
          if (ctx.closed) return;
          writeFileAtomic(stateFile(ctx.paths, c.job_run_name), JSON.stringify(cancelTombstone(c, at)));
          removeFile(file);
          cancelRetryAt.delete(c.job_run_name);
          log.info('cancel of a job not received yet: reported Cancelled; it will not run', {
            job_run_name: c.job_run_name,
          });
        },
        (err: unknown) => {
          cancelRetryAt.set(c.job_run_name, now() + backoff(2, ctx.retryBase, ctx.retryMax));
          log.warn('report not delivered; will retry', {
            job_run_name: c.job_run_name,
            report: 'cancelled',
            error: describeError(err),
          });
        },
      )
      .finally(() => {
        reportingCancels.delete(c.job_run_name);
      });
  }

  function cancelTombstone(c: JobCancel, at: string): JobState {
    return {
      v: 1,
      name: c.job_run_name,
      phase: 'done',
      accepted_at: at,
      log_file: path.join(config.logDir, c.workflow_execution_id, `${c.job_key}.a${c.attempt}.log`),
      exit_file: path.join(ctx.paths.exits, c.workflow_execution_id),
      stream: logStreamName(c.job_run_name),
      instance_id: config.instanceId ?? hostname(),
      command_id: null,
      pid: null,
      start_ticks: null,
      started_at: null,
      killed_for: 'cancel',
      gave_up: null,
      shipped: 0,
      logs_final: true,
      outcome: {
        status: 'Cancelled',
        exit_code: null,
        error: c.reason,
        started_at: null,
        finished_at: at,
      },
      reports: [],
      done_at: at,
      cancel_reason: c.reason,
      cancelled_before_start: true,
    };
  }

  return { scanCancels };
}
