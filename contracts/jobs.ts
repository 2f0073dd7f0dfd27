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
 * Input of one single-job wrapper execution (DESIGN §4). The wrapper reads its timeout and
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

/** What the wrapper hands the dispatcher with its task token. */
export const TaskRequest = z.object({
  task_token: z.string().min(1),
  job: JobRunInput,
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
});
export type JobCommand = z.infer<typeof JobCommand>;

/**
 * Name of the wrapper execution of one attempt: `<execution>--<stage>-<job>--a<attempt>`.
 * Deterministic, so starting it twice is harmless (ExecutionAlreadyExists).
 */
export function jobRunName(executionId: string, jobKey: string, attempt: number): string {
  return `${executionId}--${jobKey.replace('.', '-')}--a${attempt}`;
}
