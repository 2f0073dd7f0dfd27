/**
 * What to do with a job attempt an agent finds unfinished after its own crash, a restart or the
 * death of its job host — decided once for both agents (the local engine's `LocalAgent.recover`
 * and the EC2 daemon's `recoverRunning`). The decision is pure: it reads only the facts it is
 * given (what the exit journal, the recorded pid and start token, the process table and the
 * attempt's log file say) and returns what to do; each agent carries it out with its own side
 * effects (its store or spool, its timers, its reports).
 *
 * The facts that cost something are given as functions and read only when the decision depends
 * on them, in the order the decision needs them: the journal first (a recorded exit settles
 * everything), the process table's scan for the job's marker only when no pid was recorded, the
 * log file only when no process carries the marker. Reading them all up front would scan the
 * process table for every recovered job, and a recovery of many short jobs (whose pid is never
 * recorded) would take seconds.
 */
import { existsSync } from 'node:fs';
import { isSameProcessAlive } from '../platform/processes.js';
import { findJobProcesses, readExitFile } from './job-runner.js';

/** How long recovery waits for a claimed attempt's process or exit status to show up. */
export const CLAIM_WAIT_MS = 5000;
/** How long recovery waits for an ended job's exit status to be written (by its wrapper). */
export const EXIT_STATUS_WAIT_MS = 2000;
/** How often recovery looks again while it waits for a claimed attempt or an exit status. */
export const RECOVER_POLL_MS = 100;
/**
 * How often an adopted job (left running by a crashed agent) is checked for its end: the engine
 * checks more often (a user is waiting at `rsqlo run` for the workflow to end), the EC2 daemon
 * less (its jobs are long ETL scripts and the host is shared with them). Values as they were
 * before recovery was shared.
 */
export const ADOPT_POLL_MS = { engine: 200, agent: 500 } as const;

/** An attempt's line in the exit journal: how its process ended. */
export type ExitRecord = NonNullable<ReturnType<typeof readExitFile>>;

/** A job's process: its pid and start token (so a reused pid is never taken for it). */
export interface JobProcess {
  pid: number;
  startTicks: string | undefined;
}

/** Why an outcome is unknown (see {@link unknownOutcomeMessage}). */
export type UnknownReason =
  /** Claimed, its wrapper started (the journal says so), no process and no exit status. */
  | 'wrapper-killed'
  /** Its recorded process no longer runs and left no exit status. */
  | 'gone-while-down'
  /** The adopted process ended and no exit status came. */
  | 'ended-unrecorded';

/** Which agent carries the decision out: only the wording of its messages differs. */
export type RecoveringAgent = keyof typeof ADOPT_POLL_MS;

/** What an agent knows about an attempt when it looks at it (see the module comment). */
export interface RecoveryLook {
  step: 'look';
  /** The attempt's exit status in the exit journal, if its wrapper wrote one. */
  journal: () => ExitRecord | undefined;
  /** The pid and start token recorded when the job started; null when none was recorded. */
  recorded: JobProcess | null;
  /** A live process carrying the job's marker (`RSQLO_EXIT_KEY`), the job's wrapper first. */
  byMarker: () => JobProcess | undefined;
  /** Whether the attempt's log exists: it is created when a runner claims the attempt. */
  logExists: () => boolean;
  /** Whether this pid still runs the same process (same start token). */
  isAlive: (pid: number, startTicks: string | undefined) => boolean;
  /** How long recovery has waited so far for a claimed attempt to show a process or a status. */
  waitedMs: number;
}

/** The result of carrying out a `reclaim` decision (`reclaimAbandonedAttempt`, job-runner.ts). */
export interface RecoveryReclaimed {
  step: 'reclaimed';
  result: 'ran' | 'reclaimed' | 'raced';
}

/** Waiting for the exit status of a process that ended (after an `await-exit` decision). */
export interface RecoveryExitWait {
  step: 'exit-wait';
  /** The attempt's exit status, read again now. */
  journal: ExitRecord | undefined;
  /** How long recovery has waited for it so far (0 on the first look). */
  waitedMs: number;
  /** What to say if it never comes (from the `await-exit` decision). */
  unknown: UnknownReason;
}

export type RecoveryInput = RecoveryLook | RecoveryReclaimed | RecoveryExitWait;

export type RecoveryDecision =
  /** The wrapper recorded how the job ended: report that. */
  | { kind: 'report-exit'; exit: ExitRecord }
  /** The job still runs: watch it (every {@link ADOPT_POLL_MS}) and report it when it ends. */
  | { kind: 'adopt'; process: JobProcess & { byMarker: boolean } }
  /**
   * Nothing ran: start the attempt now, which runs it once. `never-claimed`: its log does not
   * exist; `reclaimed`: the runner that claimed it died before starting it, and the claim was
   * taken back.
   */
  | { kind: 'start'; because: 'never-claimed' | 'reclaimed' }
  /** Claimed by a job host that has not started it yet: look again after `afterMs`. */
  | { kind: 'wait-for-claim'; afterMs: number; waitedMs: number }
  /** Claimed, but no process and no status for {@link CLAIM_WAIT_MS}: try to take the claim back. */
  | { kind: 'reclaim' }
  /** A wrapper started just as the claim was taken back: look at the attempt again, now. */
  | { kind: 'look-again' }
  /**
   * The job's process is gone: its wrapper appends the exit status a moment after it ends, so
   * read the journal for {@link EXIT_STATUS_WAIT_MS} (step `exit-wait`, from `waitedMs` 0) before
   * calling the outcome unknown. `process`: the one that was found (byMarker: the agent had
   * not recorded it).
   */
  | { kind: 'await-exit'; process: JobProcess & { byMarker: boolean }; unknown: UnknownReason }
  /** No exit status yet: read the journal again after `afterMs`. */
  | { kind: 'wait-for-exit'; afterMs: number; waitedMs: number; unknown: UnknownReason }
  /** The job ran and its outcome cannot be known: report it Failed with this reason. */
  | { kind: 'unknown'; reason: UnknownReason };

/** What a look at an attempt (or the reclaim's result) leads to. */
export type LookDecision = Exclude<RecoveryDecision, { kind: 'wait-for-exit' }>;
/** What a look for an ended process's exit status leads to. */
export type ExitWaitDecision = Extract<
  RecoveryDecision,
  { kind: 'report-exit' | 'unknown' | 'wait-for-exit' }
>;

/**
 * The recovery decision for one attempt (see the module comment). An agent first gives a `look`;
 * a `reclaim` decision is answered with the reclaim's result (`reclaimed`), an `await-exit` one
 * with `exit-wait` looks until the status comes or the wait is over.
 */
export function decideRecovery(input: RecoveryLook | RecoveryReclaimed): LookDecision;
export function decideRecovery(input: RecoveryExitWait): ExitWaitDecision;
export function decideRecovery(input: RecoveryInput): RecoveryDecision {
  switch (input.step) {
    case 'look':
      return look(input);
    case 'reclaimed':
      if (input.result === 'reclaimed') return { kind: 'start', because: 'reclaimed' };
      if (input.result === 'raced') return { kind: 'look-again' };
      return { kind: 'unknown', reason: 'wrapper-killed' };
    case 'exit-wait':
      if (input.journal) return { kind: 'report-exit', exit: input.journal };
      if (input.waitedMs >= EXIT_STATUS_WAIT_MS) return { kind: 'unknown', reason: input.unknown };
      return {
        kind: 'wait-for-exit',
        afterMs: RECOVER_POLL_MS,
        waitedMs: input.waitedMs + RECOVER_POLL_MS,
        unknown: input.unknown,
      };
  }
}

function look(f: RecoveryLook): LookDecision {
  const exit = f.journal();
  if (exit) return { kind: 'report-exit', exit };
  let proc: (JobProcess & { byMarker: boolean }) | undefined = f.recorded
    ? { ...f.recorded, byMarker: false }
    : undefined;
  if (!proc) {
    const found = f.byMarker();
    if (found) proc = { ...found, byMarker: true };
    // Never claimed: nothing ran.
    else if (!f.logExists()) return { kind: 'start', because: 'never-claimed' };
    else if (f.waitedMs < CLAIM_WAIT_MS)
      return { kind: 'wait-for-claim', afterMs: RECOVER_POLL_MS, waitedMs: f.waitedMs + RECOVER_POLL_MS };
    // Claimed, but no process and no status: did it ever start?
    else return { kind: 'reclaim' };
  }
  if (!f.isAlive(proc.pid, proc.startTicks))
    return { kind: 'await-exit', process: proc, unknown: 'gone-while-down' };
  return { kind: 'adopt', process: proc };
}

/**
 * The `look` at an attempt as this machine shows it: its exit journal, the process table (by pid and
 * start token, or by the job's marker, its exit key = its log file) and its log file. The one
 * place that reads the real facts; {@link decideRecovery} only decides.
 */
export function lookAtAttempt(a: {
  exitFile: string;
  logFile: string;
  /** The pid the agent recorded (null: none), and its start token. */
  pid: number | null;
  startTicks: string | undefined;
  waitedMs: number;
}): RecoveryLook {
  return {
    step: 'look',
    journal: () => readExitFile(a.exitFile, a.logFile),
    recorded: a.pid === null ? null : { pid: a.pid, startTicks: a.startTicks },
    byMarker: () => findJobProcesses(a.logFile)[0],
    logExists: () => existsSync(a.logFile),
    isAlive: isSameProcessAlive,
    waitedMs: a.waitedMs,
  };
}

/**
 * What a job run's error says when its outcome is unknown. The engine's and the daemon's wordings
 * are kept as each said them before recovery was shared (`engine` / `agent`).
 */
export function unknownOutcomeMessage(reason: UnknownReason, agent: RecoveringAgent): string {
  switch (reason) {
    case 'wrapper-killed':
      return 'the job started and vanished without recording an exit status (its wrapper was killed); outcome unknown';
    case 'gone-while-down':
      return agent === 'engine'
        ? 'the engine stopped while this job was running and its process left no exit status; outcome unknown'
        : 'the agent stopped while this job ran and its process left no exit status; outcome unknown';
    case 'ended-unrecorded':
      return agent === 'engine'
        ? 'the job ended while the engine was stopped and left no exit status'
        : 'the job ended while the agent was stopped and left no exit status; outcome unknown';
  }
}
