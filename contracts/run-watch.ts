/**
 * The run deadline check's contract (issue 9): what the one-time schedule made when a run starts
 * hands the run watchdog (services/watchdog), and the error name of the line the watchdog writes
 * for an overdue run, which the "runs overdue" alarm's metric filter matches
 * (infra/constructs/monitoring.ts). Here, not in the service, because the CDK app and the
 * Scheduler adapter agree on it too.
 */
import { z } from 'zod';
import { ExecutionId, WorkflowId } from './common.js';

/** The error name of an overdue run (the log line the alarm's metric filter matches). */
export const RUN_OVERDUE_ERROR = 'RunOverdue';

/** What a check is invoked with (the schedule's Input, written by the starter's RunDeadlineWatch). */
export const WatchedRunInput = z.strictObject({
  workflow_id: WorkflowId,
  workflow_execution_id: ExecutionId,
  started_at: z.string().min(1),
  deadline_at: z.string().min(1),
});

/**
 * What an SLA line check is invoked with (issue 15): the line the starter armed as a one-time
 * schedule (services/sla/lines.ts SlaLine), handed to the same watchdog function as the deadline
 * check; told apart from it by `kind`.
 */
export const SlaLineInput = z.strictObject({
  workflow_id: WorkflowId,
  workflow_execution_id: ExecutionId,
  kind: z.enum(['finish_by', 'start_by', 'max_duration', 'longer_than_usual']),
  line_at: z.string().min(1),
  line: z.string().max(256),
  started_at: z.string().min(1).nullable(),
  p90_seconds: z.number().nonnegative().optional(),
});
