/**
 * The simulation's vocabulary: what a scripted agent does with an attempt, what the simulation
 * records (timeline, intervals, published events, dead letters, wrapper runs) and how it is built
 * (options, chaos). Shared by the simulation and its fakes (fake-wrapper.ts,
 * scripted-agent-fleet.ts).
 */
import type { JobAuditRecord } from '../../contracts/audit.js';
import type { RsqloEvent } from '../../contracts/events.js';
import type { JobCommand, JobMessage, JobRunInput, TaskRequest } from '../../contracts/jobs.js';
import type { WorkflowDefinitionInput } from '../../contracts/workflow.js';
import type { EventEnvelope } from '../../events/envelope.js';
import type { BusService } from '../../events/routing.js';

/** What the scripted agent does with one attempt. */
export type AgentOutcome =
  /** The script exits 0 after `durationSeconds` (default: the simulation's default duration). */
  | { outcome: 'complete'; durationSeconds?: number }
  /** The script exits with `exitCode` (default 1) and `message` on stderr. */
  | { outcome: 'fail'; exitCode?: number; message?: string; durationSeconds?: number }
  /** The script runs until the wrapper's timeout fires; `runUntilIdle` advances the clock to it. */
  | { outcome: 'timeout' }
  /** The script runs until the test ends it (`finishJob`) or the clock passes its timeout. */
  | { outcome: 'hang' };

/** Which attempts a scripted outcome applies to. */
export interface AgentMatch {
  /** The job_name (script) or the job_key (`2.1`). */
  job: string;
  /** Only this attempt (default: every attempt). */
  attempt?: number;
  /** Only this run (default: every run). */
  workflowExecutionId?: string;
}

/** A job attempt starting or ending on an agent, at a fake instant. */
export interface TimelineEntry {
  type: 'start' | 'finish';
  /** Fake time in ms since the epoch. */
  at: number;
  workflow_execution_id: string;
  job_key: string;
  job_name: string;
  stage: number;
  attempt: number;
  instance_id: string;
  /** How the process ended (finish only): its own result, or killed by the wrapper/cancel. */
  status?: 'Completed' | 'Failed' | 'TimedOut' | 'Cancelled';
}

/** One attempt's run on an agent, start to end. */
export interface JobInterval {
  workflow_execution_id: string;
  job_key: string;
  job_name: string;
  stage: number;
  attempt: number;
  start: number;
  end: number | null;
  status: TimelineEntry['status'] | null;
}

/** A published event with the fake time it was published at. */
export interface PublishedEvent {
  at: number;
  envelopeId: string;
  event: RsqloEvent;
}

/** Duplicate and shuffle every delivery (events, queue messages, change records, wrapper tasks). */
export interface ChaosOptions {
  /** Deliver everything a second time, a little later (at-least-once). Default false. */
  duplicate?: boolean;
  /** Deliver whatever is due in a random order. Default false. */
  shuffle?: boolean;
  /** PRNG seed (default 1). */
  seed?: number;
  /** A duplicate arrives up to this many fake ms after the original (default 2000). */
  maxDuplicateDelayMs?: number;
}

/** How to build a simulation; every field is optional. */
export interface SimulationOptions {
  /** Definitions to store up front (raw: the starter validates them). */
  definitions?: Array<WorkflowDefinitionInput | Record<string, unknown>>;
  /** Where the fake clock starts (default DEFAULT_SIMULATION_START). */
  start?: Date | string | number;
  chaos?: ChaosOptions;
  /** How long an attempt runs unless scripted otherwise (default 10 s). */
  defaultDurationSeconds?: number;
  /** Agent instance ids (default one, `i-sim-1`); each job run goes to one chosen by its name. */
  instances?: string[];
  /** Fallback script for attempts no rule matches (default: complete). */
  script?: (cmd: JobCommand) => AgentOutcome | undefined;
  /** Times the wrapper retries a failing dispatcher call before its Catch fails the attempt (default 3). */
  maxTaskAttempts?: number;
  /** Safety net against livelock: most deliveries one `runUntilIdle` makes (default 200 000). */
  maxSteps?: number;
  /** The starter's shipped script version per workflow (StarterDeps.scriptVersion); default none. */
  scriptVersion?: (workflowId: string) => string | undefined;
}

/** A delivery the simulation will make, or a timer it will fire. */
export type SimulationItem =
  | { kind: 'bus'; target: BusService; envelope: EventEnvelope }
  | { kind: 'queue'; body: JobMessage; receives: number }
  | { kind: 'change'; job: JobAuditRecord }
  | { kind: 'task'; request: TaskRequest; attempt: number }
  | { kind: 'agent-finish'; name: string }
  | { kind: 'timeout'; name: string };

/** A dead-lettered delivery: what it was and why it was given up. */
export interface DeadLetter {
  kind: SimulationItem['kind'];
  target?: string;
  error: string;
  at: number;
}

/** One single-job wrapper execution (what Step Functions would show for it). */
export interface WrapperRun {
  name: string;
  input: JobRunInput;
  status: 'Running' | 'Succeeded' | 'Failed' | 'TimedOut' | 'Aborted';
  startedAt: number;
  endedAt: number | null;
  timeoutAt: number;
}
