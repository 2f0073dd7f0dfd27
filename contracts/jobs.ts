import { z } from 'zod';
import { ExecutionId, JobKey, Parameters, PositiveInt, WorkflowId } from './common.js';
import { ScriptPath } from './workflow.js';

const version = z.number().int().min(1);

/** A queue message: "this attempt of this job may be dispatched". Small on purpose; the row is the truth. */
export const JobMessage = z.object({
  version,
  workflow_id: WorkflowId,
  workflow_execution_id: ExecutionId,
  job_key: JobKey,
  attempt: PositiveInt,
});
export type JobMessage = z.infer<typeof JobMessage>;

/**
 * Input of one single-job wrapper execution (ARCHITECTURE.md §4). The wrapper reads its timeout and
 * heartbeat from here (TimeoutSecondsPath / HeartbeatSecondsPath).
 */
export const JobRunInput = z.object({
  version,
  job_run_name: z.string().min(1).max(80),
  workflow_id: WorkflowId,
  workflow_execution_id: ExecutionId,
  job_key: JobKey,
  job_name: z.string(),
  stage: PositiveInt,
  attempt: PositiveInt,
  timeout_seconds: PositiveInt,
  heartbeat_seconds: PositiveInt,
});
export type JobRunInput = z.infer<typeof JobRunInput>;

/**
 * What the wrapper hands the dispatcher with its task token. `dispatch` is the wrapper's
 * `$$.State.RetryCount` (0 for the first invocation; a retried Dispatch gets a new task token, see
 * test/aws/FIDELITY.md) and `execution_arn` its `$$.Execution.Id`; both optional, so a wrapper that
 * does not pass them keeps working (a retried Dispatch then cannot re-send the new token).
 */
export const TaskRequest = z.object({
  task_token: z.string().min(1),
  job: JobRunInput,
  dispatch: z.number().int().min(0).optional(),
  execution_arn: z.string().min(1).max(2048).optional(),
});
export type TaskRequest = z.infer<typeof TaskRequest>;

/**
 * The command an agent receives: everything it needs to run one attempt and report on it. No
 * credentials: the agent fetches those itself and puts them only in the job's environment.
 */
export const JobCommand = z.object({
  version,
  task_token: z.string().min(1),
  job_run_name: z.string().min(1).max(80),
  workflow_id: WorkflowId,
  workflow_execution_id: ExecutionId,
  job_key: JobKey,
  job_name: z.string(),
  stage: PositiveInt,
  attempt: PositiveInt,
  script: ScriptPath,
  args: z.array(z.string()),
  timeout_seconds: PositiveInt,
  heartbeat_seconds: PositiveInt,
  parameters: Parameters,
  /**
   * The wrapper execution waiting for this attempt. When the orchestrator answers a callback with
   * TaskTimedOut, the agent asks whether this execution still runs: if it does, the token was
   * replaced by a retried Dispatch (a new command with the live token is on its way) and the job
   * goes on; if it ended, the attempt is over and the job is killed.
   */
  execution_arn: z.string().min(1).max(2048).optional(),
  /**
   * Which try of the wrapper's Dispatch issued `task_token` (its $$.State.RetryCount). A retry
   * starts only after the previous try's task closed, so the agent never trades a token for one
   * from an earlier try, whatever order the commands and its checks come back in.
   */
  dispatch: z.number().int().min(0).optional(),
  /**
   * The shipped script version of the job's run (WorkflowAuditRecord.script_version): the agent
   * runs the script from that version (agent/script-cache.ts). Absent: from its `scriptRoot`.
   */
  script_version: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
});
export type JobCommand = z.infer<typeof JobCommand>;

/**
 * "Stop this attempt": sent to the agent host the dispatcher recorded for a job when its run is
 * cancelled, so the agent kills the job at once (not at its next heartbeat) and reports it
 * Cancelled once its process tree is gone. It carries the job's identity (the agent may get it
 * before the job itself, and then reports and remembers the attempt as cancelled) and no token.
 */
export const JobCancel = z.object({
  version,
  kind: z.literal('cancel'),
  job_run_name: z.string().min(1).max(80),
  workflow_id: WorkflowId,
  workflow_execution_id: ExecutionId,
  job_key: JobKey,
  job_name: z.string(),
  stage: PositiveInt,
  attempt: PositiveInt,
  reason: z.string().max(1024),
  requested_at: z.string(),
});
export type JobCancel = z.infer<typeof JobCancel>;

/**
 * Name of the wrapper execution of one attempt: `<execution>--<stage>-<job>--a<attempt>`.
 * Deterministic, so starting it twice is harmless (ExecutionAlreadyExists).
 */
export function jobRunName(executionId: string, jobKey: string, attempt: number): string {
  return `${executionId}--${jobKey.replace('.', '-')}--a${attempt}`;
}
