import type { JobAuditRecord } from '../../contracts/audit.js';
import { EVENT_VERSION } from '../../contracts/events.js';
import type { JobMessage } from '../../contracts/jobs.js';

/**
 * The job-queue message of a job's current attempt ("this attempt may be dispatched"), as the
 * planner, the dispatcher, the aggregator and a pool's wake send it: small on purpose, the row is
 * the truth.
 */
export function jobMessageOf(
  job: Pick<JobAuditRecord, 'workflow_id' | 'workflow_execution_id' | 'job_key' | 'attempt'>,
): JobMessage {
  return {
    version: EVENT_VERSION,
    workflow_id: job.workflow_id,
    workflow_execution_id: job.workflow_execution_id,
    job_key: job.job_key,
    attempt: job.attempt,
  };
}
