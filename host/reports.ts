/**
 * What an agent reports about a job attempt — the EC2 daemon and the local engine's in-process
 * agent alike: its JobStarted and JobFinished events (the same deterministic event ids whoever
 * sends them, so whoever reports first wins and the others are harmless), the task result for the
 * wrapper, and the final status an ended process maps to. Pure functions.
 */
import { EVENT_VERSION, eventIds, type RsqloEvent } from '../contracts/events.js';
import type { JobCommand } from '../contracts/jobs.js';
import type { KillReason } from './job-runner.js';

/** Where a job ran and where its log is, as the events say it. */
export interface JobPlace {
  instanceId: string;
  commandId: string | null;
  logLocation: string | null;
}

/** A job's final status and its error text (null when it completed). */
export type FinalStatus = 'Completed' | 'Failed' | 'TimedOut' | 'Cancelled';

/** Maps how a process ended to the job's final status and what the audit says about it. */
export function outcomeStatus(o: {
  exitCode: number | null;
  signal: string | null;
  killedFor?: KillReason;
  spawnError?: string;
  errorTail: string;
}): { status: FinalStatus; error: string | null } {
  if (o.killedFor === 'timeout') return { status: 'TimedOut', error: o.errorTail || 'timed out' };
  if (o.killedFor === 'cancel') return { status: 'Cancelled', error: 'cancelled' };
  if (o.spawnError) return { status: 'Failed', error: o.spawnError };
  if (o.exitCode === 0) return { status: 'Completed', error: null };
  const why = o.exitCode !== null ? `exited with code ${o.exitCode}` : `killed by ${o.signal ?? 'a signal'}`;
  return { status: 'Failed', error: o.errorTail ? o.errorTail : why };
}

/** What the reports need to know of an attempt: its identity (a JobCommand, or a JobCancel). */
export type AttemptIdentity = Pick<
  JobCommand,
  'workflow_id' | 'workflow_execution_id' | 'job_key' | 'job_name' | 'stage' | 'attempt'
>;

function base(cmd: AttemptIdentity, id: string, at: string) {
  return {
    version: EVENT_VERSION,
    event_id: id,
    occurred_at: at,
    workflow_id: cmd.workflow_id,
    workflow_execution_id: cmd.workflow_execution_id,
    job_key: cmd.job_key,
    job_name: cmd.job_name,
    stage: cmd.stage,
    attempt: cmd.attempt,
  };
}

/** JobStarted for an attempt that started at `startedAt` (ISO). */
export function agentJobStarted(cmd: AttemptIdentity, startedAt: string, place: JobPlace): RsqloEvent {
  return {
    detailType: 'JobStarted',
    detail: {
      ...base(cmd, eventIds.jobStarted(cmd.workflow_execution_id, cmd.job_key, cmd.attempt), startedAt),
      started_at: startedAt,
      instance_id: place.instanceId,
      ssm_command_id: place.commandId,
      log_location: place.logLocation,
    },
  };
}

/**
 * JobFinished as an agent reports it (the EC2 daemon, or the local engine's agent, which may also
 * report as the engine). `startedAt` null: the script never started (and ran on no instance).
 */
export function agentJobFinished(
  cmd: AttemptIdentity,
  r: {
    status: FinalStatus;
    exitCode: number | null;
    error: string | null;
    startedAt: string | null;
    finishedAt: string;
  },
  place: Omit<JobPlace, 'instanceId'> & { instanceId: string | null },
  reportedBy: 'agent' | 'wrapper' | 'engine' = 'agent',
): RsqloEvent {
  const duration =
    r.startedAt !== null ? Math.max(0, Date.parse(r.finishedAt) - Date.parse(r.startedAt)) : null;
  return {
    detailType: 'JobFinished',
    detail: {
      ...base(cmd, eventIds.jobFinished(cmd.workflow_execution_id, cmd.job_key, cmd.attempt), r.finishedAt),
      status: r.status,
      exit_code: r.exitCode,
      error_message: r.error,
      started_at: r.startedAt,
      finished_at: r.finishedAt,
      duration_ms: duration,
      instance_id: place.instanceId,
      ssm_command_id: place.commandId,
      log_location: place.logLocation,
      reported_by: reportedBy,
    },
  };
}

/** The wrapper's `$.report` on success: a small summary, no secrets. */
export function taskOutput(
  r: { exitCode: number | null; startedAt: string | null; finishedAt: string },
  place: JobPlace,
): Record<string, unknown> {
  return {
    status: 'Completed',
    exit_code: r.exitCode,
    started_at: r.startedAt,
    finished_at: r.finishedAt,
    instance_id: place.instanceId,
    log_location: place.logLocation,
  };
}

/** The text that replaces a secret wherever the agent reports or ships text. */
export const REDACTED = '********';

/**
 * A function that blanks every occurrence of the given secret values (shorter than 4 characters:
 * ignored, they would blank ordinary text). Defence in depth: a script that echoes its password
 * still does not get it into events, task results or CloudWatch.
 */
export function makeRedactor(secrets: Iterable<string>): (text: string) => string {
  const values = [...new Set([...secrets].filter((s) => s.length >= 4))].sort((a, b) => b.length - a.length);
  if (values.length === 0) return (text) => text;
  return (text) => {
    let out = text;
    for (const v of values) if (out.includes(v)) out = out.split(v).join(REDACTED);
    return out;
  };
}

/**
 * The variables that tell a job who it is (`RSQLO_WORKFLOW_ID`, `RSQLO_JOB_KEY`, …), the same from
 * both agents: scripts read them, and the local engine's soak and ledgers key on them. They go on
 * top of everything else in the job's environment, so a workflow parameter cannot fake them.
 */
export function jobIdentityEnv(cmd: JobCommand): Record<string, string> {
  return {
    RSQLO_WORKFLOW_ID: cmd.workflow_id,
    RSQLO_EXECUTION_ID: cmd.workflow_execution_id,
    RSQLO_JOB_KEY: cmd.job_key,
    RSQLO_JOB_NAME: cmd.job_name,
    RSQLO_STAGE: String(cmd.stage),
    RSQLO_ATTEMPT: String(cmd.attempt),
    RSQLO_JOB_RUN: cmd.job_run_name,
  };
}
