/**
 * The States Language as the Step Functions simulator reads it: the state and definition shapes,
 * a state's failure (StatesError), Wait timestamps, the execution record tests inspect, and
 * parsing a definition the way CreateStateMachine checks it. Shared by the interpreter
 * (states-interpreter.ts) and the service API (step-functions.ts).
 */
import type { ExecutionStatus as SdkExecutionStatus } from '@aws-sdk/client-sfn';
import { AslError, type ChoiceRule, checkErrorHandlers } from './asl.js';

/** One Retry rule of a Task state. */
export interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxAttempts?: number;
  BackoffRate?: number;
}
/** One Catch rule of a Task state. */
export interface Catcher {
  ErrorEquals: string[];
  ResultPath?: string | null;
  Next: string;
}
/** A state of a definition, with the fields the simulator reads. */
export interface StateDef {
  Type: 'Task' | 'Succeed' | 'Fail' | 'Pass' | 'Choice' | 'Wait';
  Choices?: ChoiceRule[];
  Default?: string;
  Seconds?: number;
  SecondsPath?: string;
  Timestamp?: string;
  TimestampPath?: string;
  Result?: unknown;
  Resource?: string;
  Parameters?: unknown;
  TimeoutSeconds?: number;
  TimeoutSecondsPath?: string;
  HeartbeatSeconds?: number;
  HeartbeatSecondsPath?: string;
  ResultPath?: string | null;
  Retry?: Retrier[];
  Catch?: Catcher[];
  Next?: string;
  End?: boolean;
  Error?: string;
  Cause?: string;
}
/** A state machine definition (Amazon States Language), as parsed. */
export interface Definition {
  StartAt: string;
  States: Record<string, StateDef>;
}

/** A state's failure: an error name and a cause (optional, as in SendTaskFailure), as Retry / Catch see them. */
export class StatesError extends Error {
  constructor(
    readonly error: string,
    override readonly cause: string | undefined,
  ) {
    super(`${error}: ${cause ?? '(no cause)'}`);
    this.name = error;
  }
}

/** "The maximum wait time that you can specify for Standard Workflows ... is one year". */
export const MAX_STANDARD_WAIT_MS = 365 * 86_400_000;

/**
 * When a Wait state with a Timestamp ends, per the Step Functions developer guide ("Wait workflow
 * state"): "Timestamps must conform to the RFC3339 profile of ISO 8601, with the further
 * restrictions that an uppercase T must separate the date and time portions, and an uppercase Z
 * must denote that a numeric time zone offset is not present, for example, 2024-08-18T17:33:00Z"
 * and "Step Functions considers the time value up to seconds and truncates milliseconds".
 * Anything else is an error (the execution fails with States.Runtime).
 */
export function waitUntilMs(value: unknown): number {
  const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
  const ms = typeof value === 'string' && rfc3339.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms))
    throw new AslError(`the Wait timestamp ${JSON.stringify(value)} is not an RFC 3339 timestamp`);
  return Math.floor(ms / 1000) * 1000;
}

/**
 * The statuses the simulator gives an execution: a subset of the AWS SDK's own model of
 * DescribeExecution's `status` ("The current status of the execution", API reference), so a name
 * AWS does not use cannot compile. TIMED_OUT (the execution's own TimeoutSeconds, which the
 * wrapper does not set) and PENDING_REDRIVE (redrive) are not simulated.
 */
export type ExecutionStatus = OneOf<SdkExecutionStatus, 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED'>;
type OneOf<All, T extends All> = T;

/** One simulated execution, as tests inspect it. */
export interface SimExecution {
  arn: string;
  name: string;
  input: string;
  status: ExecutionStatus;
  startDate: Date;
  stopDate?: Date;
  error?: string;
  cause?: string;
  /** A SUCCEEDED execution's output (JSON), as DescribeExecution returns it. */
  output?: string;
  /** States entered, in order, with their entered time. */
  path: Array<{ state: string; enteredTime: string }>;
  /** How many times the task function was invoked (with duplicates). */
  invocations: number;
  /**
   * State transitions, as Step Functions bills them: "Step Functions counts a state transition
   * each time a step of your workflow is executed … including retries" (AWS Step Functions
   * pricing). One per state entered plus one per retry.
   */
  transitions: number;
}

/** How a task attempt ended: its output, or the error Retry and Catch see. */
export type TaskOutcome = { ok: true; output: unknown } | { ok: false; error: StatesError };

/** `arn:…:stateMachine:<sm>` + name → `arn:…:execution:<sm>:<name>`. */
export function executionArnOf(stateMachineArn: string, name: string): string {
  const parts = stateMachineArn.split(':');
  return [...parts.slice(0, 5), 'execution', parts[6], name].join(':');
}

/** Parses a definition; throws what CreateStateMachine would refuse (no StartAt state, bad handlers). */
export function parseDefinition(text: string): Definition {
  const def = JSON.parse(text) as Definition;
  if (!def.States[def.StartAt]) throw new Error('definition: StartAt names no state');
  // CreateStateMachine refuses these definitions; so does the simulator.
  const problems = checkErrorHandlers(def.States);
  if (problems.length) throw new Error(`definition: ${problems.join('; ')}`);
  return def;
}
