/**
 * A job as the EC2 agent keeps it: its record in the spool ({@link JobState}, what survives a
 * restart of the daemon) and the daemon's bookkeeping around it ({@link Job}: timers, retries, what
 * is in flight, lost with the process on purpose). Every part of the daemon (intake, launcher,
 * report outbox, heartbeats, log shipping, recovery) works on these two shapes, so they live apart
 * from all of them; so do the small helpers they share (backoff, the log tail).
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import type { RsqloEvent } from '../contracts/events.js';
import type { JobCommand } from '../contracts/jobs.js';
import type { HostedJob } from '../host/job-host.js';
import { type KillReason, visibleCarriageReturns } from '../host/job-runner.js';
import type { FinalStatus } from '../host/reports.js';
import { readJson, type SpooledCommand } from './spool.js';

/** Where a job is in its life on this host; `done` is a tombstone kept `doneRetentionHours`. */
export type Phase = 'accepted' | 'starting' | 'running' | 'finished' | 'done';

/** How a job ended, as it is reported. */
export interface Outcome {
  status: FinalStatus;
  exit_code: number | null;
  error: string | null;
  started_at: string | null;
  finished_at: string;
}

/** A report not yet delivered. `id` is unique per job: started, finished, task. */
export type Report =
  | { id: 'started' | 'finished'; kind: 'event'; event: RsqloEvent }
  | { id: 'task'; kind: 'task-success'; output: Record<string, unknown> }
  | { id: 'task'; kind: 'task-failure'; cause: string };

/** A job's record in `<spool>/state/<job_run_name>.json`. Never holds credentials. */
export interface JobState {
  v: 1;
  name: string;
  phase: Phase;
  accepted_at: string;
  log_file: string;
  exit_file: string;
  stream: string;
  instance_id: string;
  command_id: string | null;
  pid: number | null;
  start_ticks: string | null;
  started_at: string | null;
  killed_for: KillReason | null;
  gave_up: string | null;
  /** Bytes of the log shipped to CloudWatch Logs. */
  shipped: number;
  logs_final: boolean;
  outcome: Outcome | null;
  reports: Report[];
  done_at: string | null;
  /** A cancel of this attempt arrived (its reason): the job is killed and reported Cancelled. */
  cancel_reason?: string | null;
  /**
   * Tombstone of an attempt cancelled before it ran here (the cancel came first, or it waited in
   * the spool): if its command still arrives, its wrapper is told (SendTaskFailure) and nothing runs.
   */
  cancelled_before_start?: boolean;
}

/** A job the daemon tracks: its spool record plus what only this process knows about it. */
export interface Job {
  state: JobState;
  cmd: JobCommand;
  /** The spooled entry `cmd` came from (rewritten with the live token when one is adopted). */
  entry: SpooledCommand;
  /**
   * Step Functions refused the job's token (TaskTimedOut / TaskDoesNotExist) while its wrapper
   * execution may still run: a retried Dispatch replaced the token, and the live one is on its way
   * (tokens/). Until it is adopted or the execution ends, no heartbeat and no task result is sent.
   */
  stale?: { reason: string; nextCheck: number; checking: boolean; announced: boolean };
  hosted?: HostedJob;
  adopted?: { pid: number; ticks: string | undefined };
  /** Credentials being fetched / recovery in progress: counts against the concurrency limit. */
  busy: boolean;
  startNotBefore: number;
  startFailures: number;
  nextHeartbeat: number;
  heartbeating: boolean;
  nextShip: number;
  shipping: boolean;
  shipFailures: number;
  delivering: Set<string>;
  retries: Map<string, { attempts: number; nextAt: number }>;
  watch?: NodeJS.Timeout;
}

/** A freshly tracked job (accepted now, or loaded from the spool); its first heartbeat at `nextHeartbeat`. */
export function newJob(state: JobState, entry: SpooledCommand, nextHeartbeat: number): Job {
  return {
    state,
    cmd: entry.command,
    entry,
    busy: false,
    startNotBefore: 0,
    startFailures: 0,
    nextHeartbeat,
    heartbeating: false,
    nextShip: 0,
    shipping: false,
    shipFailures: 0,
    delivering: new Set(),
    retries: new Map(),
  };
}

/** Report retries: 1 s doubling to 5 min, with jitter. */
export const REPORT_BACKOFF_BASE_MS = 1000;
export const REPORT_BACKOFF_MAX_MS = 5 * 60_000;

/**
 * The wait before try `attempts + 1`: `base` doubling up to `max`, jittered to between half and
 * all of it (so hosts that lost AWS together do not come back in step).
 */
export function backoff(
  attempts: number,
  base = REPORT_BACKOFF_BASE_MS,
  max = REPORT_BACKOFF_MAX_MS,
): number {
  const ceiling = Math.min(max, base * 2 ** Math.min(attempts - 1, 20));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

/** A spool file's JSON, or undefined when it is missing or unreadable. */
export function safeReadJson(file: string): unknown {
  try {
    return readJson(file);
  } catch {
    return undefined;
  }
}

/** The last lines of a log worth showing as an error: at most 10 lines / 2000 characters. */
export function logTail(file: string): string {
  try {
    const size = statSync(file).size;
    const start = Math.max(0, size - 4096);
    const fd = openSync(file, 'r');
    try {
      const buf = Buffer.alloc(size - start);
      const n = readSync(fd, buf, 0, buf.length, start);
      let text = buf.toString('utf8', 0, n);
      if (start > 0) text = text.slice(text.indexOf('\n') + 1);
      return visibleCarriageReturns(
        text
          .split('\n')
          .filter((l) => l.trim() !== '')
          .slice(-10)
          .join('\n'),
      )
        .slice(-2000)
        .trim();
    } finally {
      closeSync(fd);
    }
  } catch {
    return '';
  }
}
