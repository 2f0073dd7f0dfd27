/**
 * The run deadline check on AWS: one EventBridge Scheduler one-time schedule per run, created by
 * the starter when the run starts, invoking the run watchdog function once at the run's deadline
 * (services/watchdog). It replaces a Standard Step Functions execution per run (4 billed state
 * transitions, $0.0001 a run): Scheduler bills $1.00 per million invocations after 14 million free
 * a month, and creating or deleting a schedule is not billed.
 *
 * The request, per the Scheduler API (its Smithy model, aws-sdk-js-v3
 * codegen/sdk-codegen/aws-models/scheduler.json):
 * - Name `run-<workflow_execution_id>`: deterministic, so a duplicate WorkflowRequested (or a retry
 *   of the starter) asks for the same schedule and gets ConflictException, which means "made
 *   already" here. Names are 1–64 characters of `[0-9a-zA-Z-_.]`; an execution id is at most 48
 *   characters of `[A-Za-z0-9_.-]` (contracts/common.ts), so the name always fits.
 * - `at(yyyy-mm-ddThh:mm:ss)` in UTC (ScheduleExpressionTimezone), whole seconds; a deadline
 *   less than a minute away (or past: a run re-announced late) is moved to a minute from now
 *   ("All schedule types on EventBridge Scheduler invoke their targets with 60 second precision").
 * - FlexibleTimeWindow OFF (the check runs at the deadline, not up to a window later).
 * - ActionAfterCompletion DELETE: the schedule removes itself once it invoked its target, so
 *   finished runs leave nothing behind (10,000,000 schedules per Region by default).
 * - Target: the watchdog function, the role Scheduler assumes to invoke it, the run as Input
 *   (well-formed JSON, as a Lambda target requires), Scheduler's retry policy, and the dead-letter
 *   queue for invocations that never succeeded.
 */
import {
  ConflictException,
  CreateScheduleCommand,
  type CreateScheduleCommandInput,
  type SchedulerClient,
} from '@aws-sdk/client-scheduler';
import type { Clock, RunDeadlineWatch, WatchedRun } from '../../services/ports.js';
import type { LineKind, SlaLine, SlaLineWatch } from '../../services/sla/lines.js';
import { isServerError, isThrottling, type RetryOptions, withRetries } from './retry.js';

/** The schedule of a run: its name in the group (deterministic, see the module comment). */
export function runScheduleName(workflowExecutionId: string): string {
  return `run-${workflowExecutionId}`;
}

/** Scheduler's own precision: a one-time schedule is never set less than this ahead. */
export const MIN_SCHEDULE_LEAD_SECONDS = 60;

/**
 * The `at()` expression of a deadline: `at(yyyy-mm-ddThh:mm:ss)` in UTC, whole seconds rounded
 * up (never early), at least MIN_SCHEDULE_LEAD_SECONDS after `now`. Throws on an invalid deadline.
 */
export function atExpression(deadlineAt: string, now: Date): string {
  const deadline = Date.parse(deadlineAt);
  if (Number.isNaN(deadline))
    throw new RangeError(`deadline ${JSON.stringify(deadlineAt)} is not a timestamp`);
  const earliest = now.getTime() + MIN_SCHEDULE_LEAD_SECONDS * 1000;
  const ms = Math.ceil(Math.max(deadline, earliest) / 1000) * 1000;
  return `at(${new Date(ms).toISOString().slice(0, 19)})`;
}

export interface SchedulerRunWatchDeps {
  client: SchedulerClient;
  /** The schedule group of the run checks (one per stack). */
  groupName: string;
  /** The run watchdog function's ARN (the target). */
  targetArn: string;
  /** The role Scheduler assumes to invoke the target (the starter passes it: iam:PassRole). */
  roleArn: string;
  /** Where invocations go that failed for good (an SQS queue ARN). */
  deadLetterArn: string;
  clock: Clock;
  retry?: RetryOptions;
}

/** The exact CreateSchedule request for a run (exported for the tests of its limits). */
export function createScheduleRequest(
  deps: Pick<SchedulerRunWatchDeps, 'groupName' | 'targetArn' | 'roleArn' | 'deadLetterArn'>,
  run: WatchedRun,
  now: Date,
): CreateScheduleCommandInput {
  const input: WatchedRun = {
    workflow_id: run.workflow_id,
    workflow_execution_id: run.workflow_execution_id,
    started_at: run.started_at,
    deadline_at: run.deadline_at,
  };
  return {
    Name: runScheduleName(run.workflow_execution_id),
    GroupName: deps.groupName,
    Description: `rsqlo: check that run ${run.workflow_execution_id} has ended by its deadline`,
    ScheduleExpression: atExpression(run.deadline_at, now),
    ScheduleExpressionTimezone: 'UTC',
    FlexibleTimeWindow: { Mode: 'OFF' },
    ActionAfterCompletion: 'DELETE',
    State: 'ENABLED',
    Target: {
      Arn: deps.targetArn,
      RoleArn: deps.roleArn,
      Input: JSON.stringify(input),
      // Scheduler's maxima: retried for up to a day (a throttled or failing watchdog still checks).
      RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86_400 },
      DeadLetterConfig: { Arn: deps.deadLetterArn },
    },
  };
}

/**
 * Creates one schedule: `created`, or `exists` on ConflictException (a schedule of that name was made
 * already: a redelivery). Throttling and server errors are retried above the SDK's attempts;
 * anything else is thrown.
 */
async function createOnce(
  deps: SchedulerRunWatchDeps,
  request: CreateScheduleCommandInput,
): Promise<'created' | 'exists'> {
  try {
    await withRetries(
      `CreateSchedule ${request.Name}`,
      () => deps.client.send(new CreateScheduleCommand(request)),
      (err) => isThrottling(err) || isServerError(err),
      deps.retry,
    );
    return 'created';
  } catch (err) {
    if (err instanceof ConflictException || (err as Error | undefined)?.name === 'ConflictException')
      return 'exists';
    throw err;
  }
}

/**
 * A RunDeadlineWatch on EventBridge Scheduler. ConflictException (the schedule exists: this run was
 * watched already) is `exists`; throttling and server errors are retried above the SDK's attempts;
 * anything else is thrown (the starter's invocation fails and is retried, then dead-lettered).
 */
export function createSchedulerRunWatch(deps: SchedulerRunWatchDeps): RunDeadlineWatch {
  return {
    watch: (run) => createOnce(deps, createScheduleRequest(deps, run, deps.clock.now())),
  };
}

/** Short names of the line kinds in schedule names (a name is at most 64 characters). */
const KIND_CODES: Record<LineKind, string> = {
  finish_by: 'fin',
  start_by: 'start',
  max_duration: 'max',
  longer_than_usual: 'usual',
};

/**
 * The schedule of one SLA line of a run (issue 15): `sla-<kind>-<workflow_execution_id>`,
 * deterministic per run and kind like the deadline check's, so a redelivered request gets
 * ConflictException ("made already"). At most 10 + 48 characters: always within Scheduler's 64.
 */
export function slaScheduleName(workflowExecutionId: string, kind: LineKind): string {
  return `sla-${KIND_CODES[kind]}-${workflowExecutionId}`;
}

/** The exact CreateSchedule request for an SLA line: the deadline check's, with the line as Input. */
export function createSlaScheduleRequest(
  deps: Pick<SchedulerRunWatchDeps, 'groupName' | 'targetArn' | 'roleArn' | 'deadLetterArn'>,
  line: SlaLine,
  now: Date,
): CreateScheduleCommandInput {
  const input: SlaLine = {
    workflow_id: line.workflow_id,
    workflow_execution_id: line.workflow_execution_id,
    kind: line.kind,
    line_at: line.line_at,
    line: line.line,
    started_at: line.started_at,
    ...(line.p90_seconds !== undefined ? { p90_seconds: line.p90_seconds } : {}),
  };
  const base = createScheduleRequest(
    deps,
    {
      workflow_id: line.workflow_id,
      workflow_execution_id: line.workflow_execution_id,
      started_at: line.started_at ?? line.line_at,
      deadline_at: line.line_at,
    },
    now,
  );
  return {
    ...base,
    Name: slaScheduleName(line.workflow_execution_id, line.kind),
    Description: `rsqlo: check run ${line.workflow_execution_id} against its ${line.kind} line`,
    Target: { ...base.Target, Input: JSON.stringify(input) } as CreateScheduleCommandInput['Target'],
  };
}

/**
 * An SlaLineWatch on EventBridge Scheduler: one one-time schedule per line, invoking the watchdog
 * function at the line (ConflictException: armed already). Creating a schedule is not billed; the
 * invocation is ($1.00 per million after the free tier).
 */
export function createSchedulerSlaWatch(deps: SchedulerRunWatchDeps): SlaLineWatch {
  return {
    watchLine: (line) => createOnce(deps, createSlaScheduleRequest(deps, line, deps.clock.now())),
  };
}
