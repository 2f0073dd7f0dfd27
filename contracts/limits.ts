/**
 * Size and timing limits of what a user writes in a workflow definition, checked by
 * `rsqlo validate` (and by the starter, which validates every definition it runs) so that a
 * definition that validates always runs on AWS:
 *
 * - every job's command fits the SSM document's `job` parameter (base64 JSON, at most
 *   JOB_COMMAND_MAX_CHARS characters: the document's `maxChars`, enforced again by the dispatcher);
 * - a run's job rows fit DynamoDB's TransactWriteItems limits when the starter writes them (100
 *   actions and 4 MB per transaction, 400 KB per item);
 * - a job's heartbeat is strictly below its timeout (the States Language: "HeartbeatSeconds ...
 *   MUST be smaller than TimeoutSeconds").
 *
 * Sizes are counted the way they travel: UTF-8 bytes of the JSON text, so quotes, backslashes,
 * control characters (escaped as \u00XX) and non-ASCII characters count for what they cost.
 */
import type { WorkflowDefinition } from './workflow.js';

/** A limit a definition is over: where (JSON path parts) and what. */
export interface LimitIssue {
  path: Array<string | number>;
  message: string;
}

/**
 * Longest `job` parameter value (base64 of the JobCommand JSON) the SSM document takes. The
 * document declares it as `maxChars`; the dispatcher refuses longer commands before SendCommand.
 * (The pattern itself cannot bound the length: the SSM Agent compiles `allowedPattern` with Go's
 * regexp, which refuses repeat counts above 1000.)
 */
export const JOB_COMMAND_MAX_CHARS = 32_000;

/** Most bytes of one job's `args`, as JSON (`["--day","mon"]` is 15). */
export const MAX_ARGS_BYTES = 4_096;

/** Most bytes of the workflow's `parameters`, as JSON. Every job command carries all of them. */
export const MAX_PARAMETERS_BYTES = 8_192;

/** Longest Step Functions task token (SendTaskSuccess `taskToken`: 1–2048 characters). */
export const MAX_TASK_TOKEN_CHARS = 2_048;

/** Longest `job_run_name` (a Step Functions execution name: at most 80 characters). */
export const MAX_JOB_RUN_NAME_CHARS = 80;

/** Shortest timeout: the heartbeat (at least 1 s) must fit strictly below it. */
export const MIN_TIMEOUT_SECONDS = 2;

/** UTF-8 bytes of a value's JSON text. */
export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value), 'utf8');
}

/** Base64 length of `bytes` bytes. */
export function base64Length(bytes: number): number {
  return 4 * Math.ceil(bytes / 3);
}

/**
 * The longest a job's encoded command can be, whatever the run: the job's own fields as given,
 * the largest task token, execution id, job run name and job key any run can have. A job whose
 * worst case fits always fits.
 */
export function worstCaseJobCommandChars(job: {
  workflowId: string;
  script: string;
  args: readonly string[];
  parameters: Record<string, string>;
  timeoutSeconds: number;
  heartbeatSeconds: number;
}): number {
  const command = {
    version: 1,
    task_token: 'T'.repeat(MAX_TASK_TOKEN_CHARS),
    job_run_name: 'N'.repeat(MAX_JOB_RUN_NAME_CHARS),
    workflow_id: job.workflowId,
    workflow_execution_id: 'E'.repeat(48),
    job_key: '999999.999999',
    job_name: job.script,
    stage: 999_999,
    attempt: 99,
    script: job.script,
    args: job.args,
    timeout_seconds: job.timeoutSeconds,
    heartbeat_seconds: job.heartbeatSeconds,
    parameters: job.parameters,
  };
  return base64Length(jsonBytes(command));
}

/**
 * The heartbeat a job runs with: its own or the workflow's `heartbeat_seconds` (default
 * `fallback`, rsqlo's 300 s), lowered to one second below the timeout when it is not already
 * below it.
 *
 * Clamped rather than rejected: a workflow-wide `defaults.heartbeat_seconds` meets per-script
 * timeouts, and a heartbeat at or above the timeout could never fire first (the timeout does), so
 * lowering it changes nothing a user could want, while refusing would turn away reasonable
 * definitions (`defaults.heartbeat_seconds: 600` with one 120 s script). Step Functions needs the
 * heartbeat strictly below the timeout; `timeout_seconds` ≥ MIN_TIMEOUT_SECONDS leaves room.
 */
export function effectiveHeartbeatSeconds(
  timeoutSeconds: number,
  heartbeatSeconds: number | undefined,
  fallback: number,
): number {
  return Math.max(1, Math.min(heartbeatSeconds ?? fallback, timeoutSeconds - 1));
}

/**
 * Everything in a (schema-valid) definition that is over a limit, by JSON path: `parameters` over
 * MAX_PARAMETERS_BYTES, a job's `args` over MAX_ARGS_BYTES, a timeout below
 * MIN_TIMEOUT_SECONDS, and — for what the two byte limits cannot rule out, such as a very long
 * script path — a job whose command could exceed JOB_COMMAND_MAX_CHARS.
 */
export function definitionLimitIssues(
  def: WorkflowDefinition,
  defaults: { timeoutSeconds: number; heartbeatSeconds: number },
): LimitIssue[] {
  const issues: LimitIssue[] = [];
  const parameters = def.parameters ?? {};
  const paramBytes = jsonBytes(parameters);
  if (paramBytes > MAX_PARAMETERS_BYTES)
    issues.push({
      path: ['parameters'],
      message: `${paramBytes} bytes as JSON, over the ${MAX_PARAMETERS_BYTES} bytes allowed (every job's command carries all parameters; keep large values in files or tables the scripts read)`,
    });
  const d = def.defaults ?? {};
  if (d.timeout_seconds !== undefined && d.timeout_seconds < MIN_TIMEOUT_SECONDS)
    issues.push({
      path: ['defaults', 'timeout_seconds'],
      message: `must be at least ${MIN_TIMEOUT_SECONDS}: the agent's heartbeat (at least 1 s) must fit strictly below the timeout`,
    });
  def.workflow_stages.forEach((stage, si) => {
    stage.scripts.forEach((ref, ji) => {
      const own = typeof ref === 'object' ? ref : undefined;
      const at = (...rest: Array<string | number>) => ['workflow_stages', si, 'scripts', ji, ...rest];
      const args = own?.args ?? [];
      const argBytes = jsonBytes(args);
      if (argBytes > MAX_ARGS_BYTES)
        issues.push({
          path: at('args'),
          message: `${argBytes} bytes as JSON, over the ${MAX_ARGS_BYTES} bytes allowed for one job's arguments`,
        });
      if (own?.timeout_seconds !== undefined && own.timeout_seconds < MIN_TIMEOUT_SECONDS)
        issues.push({
          path: at('timeout_seconds'),
          message: `must be at least ${MIN_TIMEOUT_SECONDS}: the agent's heartbeat (at least 1 s) must fit strictly below the timeout`,
        });
      if (argBytes > MAX_ARGS_BYTES || paramBytes > MAX_PARAMETERS_BYTES) return;
      const timeoutSeconds = own?.timeout_seconds ?? d.timeout_seconds ?? defaults.timeoutSeconds;
      const chars = worstCaseJobCommandChars({
        workflowId: def.workflow_id,
        script: own?.script ?? (ref as string),
        args,
        parameters,
        timeoutSeconds,
        heartbeatSeconds: effectiveHeartbeatSeconds(
          timeoutSeconds,
          own?.heartbeat_seconds ?? d.heartbeat_seconds,
          defaults.heartbeatSeconds,
        ),
      });
      if (chars > JOB_COMMAND_MAX_CHARS)
        issues.push({
          path: at(),
          message: `this job's command could be ${chars} characters encoded, over the ${JOB_COMMAND_MAX_CHARS} the agent hosts' SSM document takes: shorten the script path, its args or the workflow's parameters`,
        });
    });
  });
  return issues;
}
