import type { JobAuditRecord } from '../../contracts/audit.js';
import type { JobFinished, JobStarted } from '../../contracts/events.js';
import type { JobRepository, Logger } from '../ports.js';

export interface RecorderDeps {
  jobs: JobRepository;
  log: Logger;
}

/**
 * Longest error_message kept on a job row (the log holds the rest). A carriage return in it is
 * stored as the two characters `\r` (a CRLF script is the usual cause, and must be visible).
 */
export const MAX_ERROR_MESSAGE = 2000;

export type RecordResult = { applied: boolean; job?: JobAuditRecord };

/**
 * The recorder applies JobStarted / JobFinished to the job audit row. Every write is conditional on
 * the attempt and on moving forward, so a duplicate, a late JobStarted after JobFinished, or a
 * report for an attempt the job has left behind changes nothing.
 */
export function createRecorderService(deps: RecorderDeps) {
  const { jobs, log } = deps;

  return {
    async handleJobStarted(ev: JobStarted): Promise<RecordResult> {
      const job = await jobs.transition({
        workflowExecutionId: ev.workflow_execution_id,
        jobKey: ev.job_key,
        expect: { attempt: ev.attempt, statuses: ['Pending', 'Queued', 'Dispatched'] },
        set: {
          execution_status: 'Running',
          execution_start_ts: ev.started_at,
          instance_id: ev.instance_id,
          // The dispatcher recorded the command id; an agent that cannot tell it keeps it.
          ...(ev.ssm_command_id !== null ? { ssm_command_id: ev.ssm_command_id } : {}),
          log_location: ev.log_location,
        },
      });
      if (!job) log.info('JobStarted changed nothing (duplicate, late or stale)', { event_id: ev.event_id });
      return { applied: job !== undefined, job };
    },

    async handleJobFinished(ev: JobFinished): Promise<RecordResult> {
      // The row is read only to keep what JobStarted recorded when this report lacks it (the
      // wrapper's reports say nothing of the host); an agent's report carries it all.
      const complete =
        ev.started_at !== null &&
        ev.instance_id !== null &&
        ev.ssm_command_id !== null &&
        ev.log_location !== null;
      const current = complete ? undefined : await jobs.getJob(ev.workflow_execution_id, ev.job_key);
      const job = await jobs.transition({
        workflowExecutionId: ev.workflow_execution_id,
        jobKey: ev.job_key,
        expect: { attempt: ev.attempt, statuses: ['Pending', 'Queued', 'Dispatched', 'Running'] },
        set: {
          execution_status: ev.status,
          execution_end_ts: ev.finished_at,
          exit_code: ev.exit_code,
          error_message:
            ev.error_message === null
              ? null
              : ev.error_message.replaceAll('\r', '\\r').slice(-MAX_ERROR_MESSAGE),
          // JobFinished repeats what JobStarted said, so the row is the same whichever came first.
          execution_start_ts: current?.execution_start_ts ?? ev.started_at,
          instance_id: ev.instance_id ?? current?.instance_id ?? null,
          ssm_command_id: ev.ssm_command_id ?? current?.ssm_command_id ?? null,
          log_location: ev.log_location ?? current?.log_location ?? null,
          not_before: null,
        },
      });
      if (!job) log.info('JobFinished changed nothing (duplicate, late or stale)', { event_id: ev.event_id });
      return { applied: job !== undefined, job };
    },
  };
}

export type RecorderService = ReturnType<typeof createRecorderService>;
