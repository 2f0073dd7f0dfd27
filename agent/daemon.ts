/**
 * The EC2 agent daemon, `rsqlo-agent serve` (DESIGN §4).
 *
 * `rsqlo-agent submit` (run by the SSM document) drops each job into the spool; this daemon picks
 * it up (fs.watch plus a periodic scan), runs it with the shared job runner (host/job-runner.ts)
 * through the job host process (host/spawner.ts, which outlives the daemon), at most
 * `maxConcurrency` at once, and reports: JobStarted, heartbeats while the job runs, then
 * JobFinished plus SendTaskSuccess / SendTaskFailure(`JobFailed`). The log file of each attempt is
 * shipped to CloudWatch Logs as it grows.
 *
 * Everything that must survive is in the spool (agent/spool.ts): each job's state, including the
 * reports not yet delivered and the log offset shipped. Reports that fail are retried with
 * backoff until delivered, so nothing is lost while AWS is unreachable; a restarted daemon
 * re-reads the spool and carries on.
 *
 * Restart and crash: on start, jobs whose process still runs are adopted (watched by pid + start
 * ticks, heartbeated, reported when they end from the exit journal), finished ones are reported,
 * never-started ones are started. SIGTERM: stop taking jobs, deliver what can be delivered within
 * `shutdownFlushSeconds`, and exit, leaving running jobs to the next daemon (the unit's
 * `KillMode=process` keeps them and the job host alive). Heartbeats pause meanwhile; a gap longer
 * than a job's heartbeat_seconds makes the wrapper give up, and the next daemon then kills that job.
 *
 * The orchestrator giving up (TaskTimedOut / TaskDoesNotExist on any callback, or a heartbeat
 * refused for good, e.g. InvalidToken: nobody can ever receive this job's result) kills the job's
 * process tree. The agent then reports nothing more for it: the wrapper already emitted JobFinished
 * TimedOut, or the starter emitted Cancelled when it stopped the wrapper.
 */
import {
  appendFileSync,
  closeSync,
  existsSync,
  type FSWatcher,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  statSync,
  watch,
} from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import type { RsqloEvent } from '../contracts/events.js';
import type { JobCancel, JobCommand } from '../contracts/jobs.js';
import { type HostedJob, JobHost } from '../host/job-host.js';
import {
  type JobOutcome,
  type JobSpec,
  type KillReason,
  killJob,
  readExitFile,
  reclaimAbandonedAttempt,
  resolveCommand,
  resolveScript,
  visibleCarriageReturns,
} from '../host/job-runner.js';
import { acquireLock, EngineLockedError } from '../host/lock.js';
import {
  ADOPT_POLL_MS,
  decideRecovery,
  type JobProcess,
  type LookDecision,
  lookAtAttempt,
  type UnknownReason,
  unknownOutcomeMessage,
} from '../host/recovery.js';
import {
  agentJobFinished,
  agentJobStarted,
  type FinalStatus,
  type JobPlace,
  makeRedactor,
  outcomeStatus,
  taskOutput,
} from '../host/reports.js';
import { isSameProcessAlive, jobContainment } from '../platform/processes.js';
import {
  logLocation as cloudwatchLocation,
  type LogShipper,
  LogShippingError,
  logStreamName,
} from '../runtime/aws/cloudwatch-logs.js';
import {
  errorText as describeError,
  redactToken,
  TaskCallbackRejectedError,
  type TaskCallbackResult,
  type TaskCallbacks,
} from '../runtime/aws/task-callbacks.js';
import { NonRetriableError } from '../services/errors.js';
import type { EventPublisher, Logger } from '../services/ports.js';
import type { AgentConfig } from './config.js';
import {
  commandFile,
  ensureSpool,
  isSafeJobRunName,
  listCommands,
  listSpoolFiles,
  listStates,
  readJson,
  removeFile,
  SpooledCancel,
  SpooledCommand,
  type SpoolPaths,
  stateFile,
  writeFileAtomic,
} from './spool.js';

// ---------------------------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------------------------

/** Starts job processes; default: the job host process (survives the daemon). */
export interface JobLauncher {
  start(id: string, spec: JobSpec): HostedJob;
  /** Lets go of running jobs (they go on); called on shutdown. */
  close(): void;
}

/**
 * The database credentials for jobs: variables for their environment, and the secret values the
 * agent blanks wherever it reports text. Implemented on Secrets Manager in agent/main.ts.
 */
export interface CredentialSource {
  get(): Promise<{ env: Record<string, string>; secrets: string[] }>;
}

export interface AgentDaemonDeps {
  config: AgentConfig;
  events: EventPublisher;
  tasks: TaskCallbacks;
  logs: LogShipper;
  /** Default: none (jobs get no credentials). */
  credentials?: CredentialSource;
  log: Logger;
  /** Default: a {@link JobHost}. */
  launcher?: (onLost: (id: string) => void) => JobLauncher;
  /** Milliseconds between periodic passes (spool scan, retries, heartbeats due); default 1000. */
  pollMs?: number;
  /** Backoff of undelivered reports and log shipping; default 1 s doubling to 5 min, jittered. */
  retryBackoff?: { baseMs: number; maxMs: number };
  /** Base environment of jobs before config.env; default PATH (config), HOME, LANG, TZ of the daemon. */
  baseEnv?: Record<string, string>;
  now?: () => number;
}

/** Another daemon already serves this spool. */
export class AgentLockedError extends Error {
  override name = 'AgentLockedError';
}

// ---------------------------------------------------------------------------------------------
// State kept in the spool
// ---------------------------------------------------------------------------------------------

type Phase = 'accepted' | 'starting' | 'running' | 'finished' | 'done';

interface Outcome {
  status: FinalStatus;
  exit_code: number | null;
  error: string | null;
  started_at: string | null;
  finished_at: string;
}

/** A report not yet delivered. `id` is unique per job: started, finished, task. */
type Report =
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

interface Job {
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

/** Report retries: 1 s doubling to 5 min, with jitter. */
const REPORT_BACKOFF_BASE_MS = 1000;
const REPORT_BACKOFF_MAX_MS = 5 * 60_000;
const PRUNE_EVERY_MS = 10 * 60_000;
/**
 * How often a job whose token was refused asks again whether its wrapper execution still runs (the
 * new token of a retried Dispatch comes within the wrapper's retry backoff, seconds; an execution
 * that timed out ends within a second, in its Catch states).
 */
const STALE_RECHECK_MS = 1000;

/** A spool file's JSON, or undefined when it is missing or unreadable. */
function safeReadJson(file: string): unknown {
  try {
    return readJson(file);
  } catch {
    return undefined;
  }
}

function backoff(attempts: number, base = REPORT_BACKOFF_BASE_MS, max = REPORT_BACKOFF_MAX_MS): number {
  const ceiling = Math.min(max, base * 2 ** Math.min(attempts - 1, 20));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
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

// ---------------------------------------------------------------------------------------------
// The daemon
// ---------------------------------------------------------------------------------------------

/** A running daemon. */
export interface AgentDaemon {
  /** Loads the spool (adopting, reporting, restarting what it finds) and starts serving. */
  start(): Promise<void>;
  /**
   * Stops taking jobs, delivers what it can within `shutdownFlushSeconds`, and lets go of running
   * jobs (they go on; the next daemon adopts them).
   */
  stop(): Promise<void>;
  /** Runs one pass now (tests; the daemon runs them by itself). */
  poke(): void;
  /** Jobs the daemon tracks that are not done (tests and status). */
  active(): Array<Pick<JobState, 'name' | 'phase' | 'pid'> & { pendingReports: string[] }>;
}

/**
 * Creates the daemon over its ports (events, task callbacks, log shipping, credentials), so its
 * logic runs the same against AWS (agent/main.ts) and against mocks in tests.
 */
export function createAgentDaemon(deps: AgentDaemonDeps): AgentDaemon {
  const { config, events, tasks, logs, log } = deps;
  const now = deps.now ?? Date.now;
  const pollMs = deps.pollMs ?? 1000;
  const graceMs = Math.round(config.killGraceSeconds * 1000);
  const retryBase = deps.retryBackoff?.baseMs ?? REPORT_BACKOFF_BASE_MS;
  const retryMax = deps.retryBackoff?.maxMs ?? REPORT_BACKOFF_MAX_MS;
  const jobs = new Map<string, Job>();
  let paths: SpoolPaths;
  let launcher: JobLauncher | undefined;
  let lock: { release(): void } | undefined;
  const watchers: FSWatcher[] = [];
  let interval: NodeJS.Timeout | undefined;
  let soon: NodeJS.Timeout | undefined;
  let stopping = false;
  let closed = false;
  let lastPrune = 0;
  let redact: (text: string) => string = (t) => t;
  const inflight = new Set<Promise<unknown>>();
  const baseEnv: Record<string, string> = deps.baseEnv ?? {
    HOME: process.env.HOME ?? '/',
    LANG: process.env.LANG ?? 'C.UTF-8',
    ...(process.env.TZ ? { TZ: process.env.TZ } : {}),
  };

  const track = <T>(p: Promise<T>): Promise<T> => {
    inflight.add(p);
    void p.finally(() => inflight.delete(p)).catch(() => {});
    return p;
  };

  function getLauncher(): JobLauncher {
    if (!launcher) {
      const make = deps.launcher ?? ((onLost) => new JobHost(onLost));
      launcher = make((id) => onHostLost(id));
    }
    return launcher;
  }

  function save(job: Job): void {
    if (closed) return;
    writeFileAtomic(stateFile(paths, job.state.name), JSON.stringify(job.state));
  }

  function place(job: Job): JobPlace {
    return {
      instanceId: job.state.instance_id,
      commandId: job.state.command_id,
      logLocation: cloudwatchLocation(config.logGroup, job.state.stream),
    };
  }

  function scheduleTick(delay = 0): void {
    if (closed || soon) return;
    soon = setTimeout(() => {
      soon = undefined;
      tick();
    }, delay);
  }

  function heartbeatEveryMs(cmd: JobCommand): number {
    const seconds = config.heartbeatEverySeconds ?? Math.max(1, cmd.heartbeat_seconds / 3);
    return Math.max(100, Math.round(seconds * 1000));
  }

  function note(job: Job, text: string): void {
    try {
      if (existsSync(job.state.log_file)) appendFileSync(job.state.log_file, `rsqlo-agent: ${text}\n`);
    } catch {
      // the log is not writable: the daemon's own log has it
    }
  }

  // -- accepting -------------------------------------------------------------------------------

  function scan(): void {
    if (stopping) return;
    for (const name of listCommands(paths)) {
      if (jobs.has(name)) continue;
      const file = commandFile(paths, name);
      if (!isSafeJobRunName(name)) {
        log.error('ignoring a spool file whose name is not a job run name', { file });
        removeFile(file);
        continue;
      }
      const existing = readState(name);
      if (existing) {
        if (existing.phase === 'done') {
          log.info('a finished job was submitted again; ignored', { job_run_name: name });
          removeFile(file);
        }
        continue;
      }
      let entry: SpooledCommand;
      try {
        const r = SpooledCommand.safeParse(readJson(file));
        if (!r.success)
          throw new Error(r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
        entry = r.data;
        if (entry.command.job_run_name !== name) throw new Error('the file name does not match job_run_name');
      } catch (err) {
        log.error('dropping an unreadable job from the spool', { file, error: (err as Error).message });
        removeFile(file);
        continue;
      }
      accept(entry);
    }
    scanTokens();
    scanCancels();
  }

  // -- another task token for a job (a retried Dispatch) --------------------------------------------

  /** Token files being checked with Step Functions right now. */
  const checkingTokens = new Set<string>();
  /** Token files that could not be checked (Step Functions unreachable): when to try again. */
  const tokenRetryAt = new Map<string, number>();

  /**
   * The same job submitted again with another task token: the wrapper retried Dispatch, and Step
   * Functions issued a new token (the old one is refused). Whichever token Step Functions accepts a
   * heartbeat with is the live one; the job adopts it. SSM may deliver the two commands in either
   * order, so the test is the heartbeat, never the arrival order.
   */
  function scanTokens(): void {
    for (const f of listSpoolFiles(paths.tokens)) {
      const file = path.join(paths.tokens, f);
      if (checkingTokens.has(file) || (tokenRetryAt.get(file) ?? 0) > now()) continue;
      const m = /^(.+)\.[0-9a-f]{16}\.json$/.exec(f);
      const r = m ? SpooledCommand.safeParse(safeReadJson(file)) : undefined;
      if (!m || !r?.success || r.data.command.job_run_name !== m[1]) {
        log.error('dropping an unreadable token update from the spool', { file });
        removeFile(file);
        continue;
      }
      const name = m[1] as string;
      const update = r.data.command;
      const job = jobs.get(name);
      if (job) {
        if (update.task_token === job.cmd.task_token || supersedes(job.cmd, update)) removeFile(file);
        else checkToken(file, update.task_token, (live) => live && adoptToken(job, update));
        continue;
      }
      const tomb = readState(name);
      if (tomb?.cancelled_before_start) {
        // Cancelled before it ran here: end its wrapper now rather than at its heartbeat timeout.
        checkToken(file, update.task_token, () => {}, 'the job was cancelled before it started');
      } else if (!tomb && existsSync(commandFile(paths, name))) {
        // Its job is not taken yet: next pass.
      } else {
        removeFile(file);
      }
    }
  }

  /**
   * Asks Step Functions about `token` (a heartbeat, or the failure `failCause` for an attempt that
   * must not run) and removes the file once it has an answer; `then(live)` gets whether the token
   * is live. Unreachable: the file stays and is tried again later.
   */
  function checkToken(file: string, token: string, then: (live: boolean) => void, failCause?: string): void {
    checkingTokens.add(file);
    const ask = failCause ? tasks.failure(token, failCause) : tasks.heartbeat(token);
    void track(ask)
      .then(
        (r) => {
          tokenRetryAt.delete(file);
          removeFile(file);
          if (!closed) then(r.outcome === 'delivered');
        },
        (err: unknown) => {
          if (err instanceof TaskCallbackRejectedError) {
            removeFile(file);
            return;
          }
          tokenRetryAt.set(file, now() + backoff(2, retryBase, retryMax));
          log.warn('could not check a task token; will retry', { file, error: describeError(err, token) });
        },
      )
      .finally(() => {
        checkingTokens.delete(file);
      });
  }

  /**
   * Whether `held`'s token is from a later try of Dispatch than `other`'s (`dispatch`, the wrapper's
   * $$.State.RetryCount). Step Functions starts a retry only once the previous try's task closed,
   * so an earlier try's token is dead whatever a heartbeat said about it a moment ago: a check of
   * it answered "live" just before its task closed must never replace a later token. Unknown (a
   * command from a dispatcher that does not say) compares as nothing.
   */
  function supersedes(held: JobCommand, other: JobCommand): boolean {
    return held.dispatch !== undefined && other.dispatch !== undefined && held.dispatch > other.dispatch;
  }

  function adoptToken(job: Job, update: JobCommand): void {
    const { state } = job;
    if (closed || !jobs.has(state.name) || update.task_token === job.cmd.task_token) return;
    if (supersedes(job.cmd, update)) {
      log.info('kept the task token of a later dispatch over an earlier one', {
        job_run_name: state.name,
        dispatch: job.cmd.dispatch,
        earlier: update.dispatch,
      });
      return;
    }
    job.cmd = {
      ...job.cmd,
      task_token: update.task_token,
      ...(update.execution_arn ? { execution_arn: update.execution_arn } : {}),
      ...(update.dispatch !== undefined ? { dispatch: update.dispatch } : {}),
    };
    job.entry = { ...job.entry, command: job.cmd };
    // The command file holds the token (never the state file): a restarted daemon uses the live one.
    writeFileAtomic(commandFile(paths, state.name), JSON.stringify(job.entry));
    job.stale = undefined;
    job.nextHeartbeat = now() + heartbeatEveryMs(job.cmd);
    job.retries.delete('task');
    log.info('adopted the live task token of a retried dispatch', {
      job_run_name: state.name,
      task_token: redactToken(update.task_token),
    });
    scheduleTick();
  }

  /**
   * Step Functions refused this job's token. If its wrapper execution still runs, the token was
   * replaced (a retried Dispatch) and the live one is on its way: wait for it, leaving the job alone.
   * If the execution ended (timed out, heartbeat lost, stopped), the attempt is over: the job is
   * killed and nothing more is reported. Without an execution ARN (an older dispatcher) or a way to
   * ask, a refused token is final, as before.
   */
  function tokenRefused(job: Job, reason: string, token: string): void {
    if (token !== job.cmd.task_token) {
      // The refused token was replaced while the call was out (a retried Dispatch's token was
      // adopted meanwhile): the refusal says nothing about the live one. Acting on it would wait for
      // a token that already came, withholding heartbeats and the result until the wrapper gives up.
      log.info('a replaced task token was refused; the job goes on with the live one', {
        job_run_name: job.state.name,
        reason,
      });
      return;
    }
    if (!job.cmd.execution_arn || !tasks.executionRunning) {
      attemptOver(job, reason);
      return;
    }
    job.stale ??= { reason, nextCheck: 0, checking: false, announced: false };
    checkStale(job);
  }

  function checkStale(job: Job): void {
    const st = job.stale;
    const arn = job.cmd.execution_arn;
    if (!st || st.checking || closed || now() < st.nextCheck || !arn || !tasks.executionRunning) return;
    st.checking = true;
    void track(tasks.executionRunning(arn))
      .then(
        (running) => {
          if (job.stale !== st) return; // a live token was adopted meanwhile
          if (running) {
            if (!st.announced)
              log.info('task token refused but the attempt still runs; waiting for its live token', {
                job_run_name: job.state.name,
                reason: st.reason,
              });
            st.announced = true;
            st.nextCheck = now() + STALE_RECHECK_MS;
            return;
          }
          job.stale = undefined;
          attemptOver(job, st.reason);
        },
        (err: unknown) => {
          if (job.stale !== st) return;
          if (err instanceof TaskCallbackRejectedError) {
            // Cannot tell (e.g. no permission to ask): a refused token is final, as before.
            job.stale = undefined;
            attemptOver(job, st.reason);
            return;
          }
          st.nextCheck = now() + backoff(2, retryBase, retryMax);
        },
      )
      .finally(() => {
        st.checking = false;
        scheduleTick();
      });
  }

  /** The attempt is over for the orchestrator: kill a live job, drop a finished one's task result. */
  function attemptOver(job: Job, reason: string): void {
    const { state } = job;
    if (state.outcome) {
      if (state.reports.some((r) => r.id === 'task')) {
        log.info('task result not needed: the orchestrator gave up on this attempt', {
          job_run_name: state.name,
          reason,
        });
        state.reports = state.reports.filter((r) => r.id !== 'task');
        save(job);
        scheduleTick();
      }
      return;
    }
    gaveUp(job, reason);
  }

  // -- cancel ------------------------------------------------------------------------------------

  /** Cancels of jobs this daemon never got, being reported: when to try again. */
  const cancelRetryAt = new Map<string, number>();
  const reportingCancels = new Set<string>();

  /**
   * "Stop this attempt" (its run was cancelled): a job waiting in the spool never starts, a running
   * one is killed, and either is reported Cancelled (JobFinished + SendTaskFailure) once its
   * process tree is gone. A cancel for a job not here yet is reported at once and remembered, so
   * the job never runs if its command still comes.
   */
  function scanCancels(): void {
    for (const f of listSpoolFiles(paths.cancels)) {
      const file = path.join(paths.cancels, f);
      const name = f.slice(0, -'.json'.length);
      if (reportingCancels.has(name) || (cancelRetryAt.get(name) ?? 0) > now()) continue;
      const r = SpooledCancel.safeParse(safeReadJson(file));
      if (!r.success || r.data.cancel.job_run_name !== name) {
        log.error('dropping an unreadable cancel from the spool', { file });
        removeFile(file);
        continue;
      }
      const job = jobs.get(name);
      if (job) {
        requestCancel(job, r.data.cancel.reason);
        removeFile(file);
        continue;
      }
      if (readState(name)) {
        removeFile(file); // finished already
        continue;
      }
      cancelBeforeArrival(r.data, file);
    }
  }

  function requestCancel(job: Job, reason: string): void {
    const { state } = job;
    if (state.outcome || state.gave_up || state.cancel_reason) return;
    state.cancel_reason = reason;
    save(job);
    log.info('cancel received; stopping the job', { job_run_name: state.name, phase: state.phase });
    applyCancel(job);
  }

  /** Acts on a job's cancel: an unstarted job ends Cancelled, a running one is killed. */
  function applyCancel(job: Job): void {
    const { state } = job;
    if (!state.cancel_reason || state.outcome || state.gave_up) return;
    if (state.phase === 'accepted') {
      if (!job.busy)
        finish(job, {
          status: 'Cancelled',
          exit_code: null,
          error: state.cancel_reason,
          started_at: null,
          finished_at: new Date(now()).toISOString(),
        });
    } else if (state.killed_for === null) {
      kill(job, 'cancel', `the run was cancelled (${state.cancel_reason}); killing the job`);
    }
  }

  function cancelBeforeArrival(entry: SpooledCancel, file: string): void {
    const c = entry.cancel;
    reportingCancels.add(c.job_run_name);
    const at = new Date(now()).toISOString();
    const event = agentJobFinished(
      c,
      { status: 'Cancelled', exitCode: null, error: c.reason, startedAt: null, finishedAt: at },
      {
        instanceId: config.instanceId ?? entry.instance_id ?? hostname(),
        commandId: null,
        logLocation: null,
      },
    );
    void track(events.publish([event]))
      .then(
        () => {
          if (closed) return;
          writeFileAtomic(stateFile(paths, c.job_run_name), JSON.stringify(cancelTombstone(c, at)));
          removeFile(file);
          cancelRetryAt.delete(c.job_run_name);
          log.info('cancel of a job not received yet: reported Cancelled; it will not run', {
            job_run_name: c.job_run_name,
          });
        },
        (err: unknown) => {
          cancelRetryAt.set(c.job_run_name, now() + backoff(2, retryBase, retryMax));
          log.warn('report not delivered; will retry', {
            job_run_name: c.job_run_name,
            report: 'cancelled',
            error: describeError(err),
          });
        },
      )
      .finally(() => {
        reportingCancels.delete(c.job_run_name);
      });
  }

  function cancelTombstone(c: JobCancel, at: string): JobState {
    return {
      v: 1,
      name: c.job_run_name,
      phase: 'done',
      accepted_at: at,
      log_file: path.join(config.logDir, c.workflow_execution_id, `${c.job_key}.a${c.attempt}.log`),
      exit_file: path.join(paths.exits, c.workflow_execution_id),
      stream: logStreamName(c.job_run_name),
      instance_id: config.instanceId ?? hostname(),
      command_id: null,
      pid: null,
      start_ticks: null,
      started_at: null,
      killed_for: 'cancel',
      gave_up: null,
      shipped: 0,
      logs_final: true,
      outcome: {
        status: 'Cancelled',
        exit_code: null,
        error: c.reason,
        started_at: null,
        finished_at: at,
      },
      reports: [],
      done_at: at,
      cancel_reason: c.reason,
      cancelled_before_start: true,
    };
  }

  function accept(entry: SpooledCommand): void {
    const cmd = entry.command;
    const exec = cmd.workflow_execution_id;
    const state: JobState = {
      v: 1,
      name: cmd.job_run_name,
      phase: 'accepted',
      accepted_at: new Date(now()).toISOString(),
      log_file: path.join(config.logDir, exec, `${cmd.job_key}.a${cmd.attempt}.log`),
      exit_file: path.join(paths.exits, exec),
      stream: logStreamName(cmd.job_run_name),
      instance_id: config.instanceId ?? entry.instance_id ?? hostname(),
      command_id: entry.command_id,
      pid: null,
      start_ticks: null,
      started_at: null,
      killed_for: null,
      gave_up: null,
      shipped: 0,
      logs_final: false,
      outcome: null,
      reports: [],
      done_at: null,
    };
    const job = newJob(state, entry);
    jobs.set(state.name, job);
    save(job);
    log.info('job accepted', {
      job_run_name: state.name,
      script: cmd.script,
      task_token: redactToken(cmd.task_token),
    });
  }

  function newJob(state: JobState, entry: SpooledCommand): Job {
    const cmd = entry.command;
    return {
      state,
      cmd,
      entry,
      busy: false,
      startNotBefore: 0,
      startFailures: 0,
      nextHeartbeat: now() + heartbeatEveryMs(cmd),
      heartbeating: false,
      nextShip: 0,
      shipping: false,
      shipFailures: 0,
      delivering: new Set(),
      retries: new Map(),
    };
  }

  function readState(name: string): JobState | undefined {
    try {
      const s = readJson(stateFile(paths, name)) as JobState | undefined;
      if (s && s.v === 1 && s.name === name) return s;
      if (s) log.error('ignoring a state file of an unknown shape', { job_run_name: name });
    } catch (err) {
      log.error('ignoring an unreadable state file', { job_run_name: name, error: (err as Error).message });
    }
    return undefined;
  }

  // -- starting --------------------------------------------------------------------------------

  function running(): number {
    let n = 0;
    for (const j of jobs.values())
      if (j.busy || j.state.phase === 'starting' || j.state.phase === 'running') n++;
    return n;
  }

  /** The script, checked as it starts (symlinks resolved now): the check the local engine shares. */
  function scriptProblem(cmd: JobCommand): { path: string } | { problem: string } {
    try {
      return { path: resolveScript(config.scriptRoot, cmd.script) };
    } catch (err) {
      return { problem: err instanceof Error ? err.message : String(err) };
    }
  }

  /**
   * Before a job starts: is its attempt still live? SSM holds a command for up to its delivery
   * timeout, longer than a heartbeat: a command can arrive after the wrapper gave up on the attempt
   * (and a retry attempt may already run elsewhere). A heartbeat with the job's token answers it:
   * accepted, the job may start; refused, it never runs (unless a retried Dispatch replaced the
   * token: then it waits for the live one). Unreachable: the job waits and asks again.
   */
  async function confirmLive(job: Job): Promise<boolean> {
    const token = job.cmd.task_token;
    try {
      const r = await tasks.heartbeat(token);
      if (r.outcome === 'delivered') {
        job.nextHeartbeat = now() + heartbeatEveryMs(job.cmd);
        return true;
      }
      if (token !== job.cmd.task_token) {
        // A live token was adopted while this one was being checked: ask again with it (next pass).
        tokenRefused(job, r.reason, token);
        return false;
      }
      log.warn('the attempt is no longer live: the job is not started', {
        job_run_name: job.state.name,
        reason: r.reason,
      });
      tokenRefused(job, r.reason, token);
      return false;
    } catch (err) {
      if (err instanceof TaskCallbackRejectedError) {
        if (token === job.cmd.task_token) gaveUp(job, 'rejected');
        return false;
      }
      job.startFailures++;
      job.startNotBefore = now() + backoff(job.startFailures, 1000, 60_000);
      log.warn('cannot tell whether the attempt is live (Step Functions unreachable); the job waits', {
        job_run_name: job.state.name,
        error: describeError(err, token),
      });
      return false;
    }
  }

  async function launch(job: Job): Promise<void> {
    const { cmd, state } = job;
    job.busy = true;
    try {
      if (!(await confirmLive(job))) return;
      if (closed || stopping || state.gave_up || state.phase !== 'accepted' || state.cancel_reason) return;
      const script = scriptProblem(cmd);
      let problem = 'problem' in script ? script.problem : undefined;
      let creds: Record<string, string> = {};
      if (!problem && deps.credentials) {
        try {
          const c = await deps.credentials.get();
          creds = c.env;
          redact = makeRedactor(c.secrets);
        } catch (err) {
          const transient = (err as { transient?: boolean }).transient === true;
          const message = err instanceof Error ? err.message : String(err);
          if (transient) {
            job.startFailures++;
            job.startNotBefore = now() + backoff(job.startFailures, 1000, 60_000);
            log.warn('credentials unavailable; the job waits', { job_run_name: state.name, error: message });
            return;
          }
          problem = `cannot get the database credentials: ${message}`;
        }
      }
      if (closed || stopping || state.gave_up || state.phase !== 'accepted' || state.cancel_reason) return;
      if (problem || !('path' in script)) {
        log.warn('job cannot start', { job_run_name: state.name, error: problem });
        finish(job, {
          status: 'Failed',
          exit_code: null,
          error: problem ?? 'cannot start',
          started_at: null,
          finished_at: new Date(now()).toISOString(),
        });
        return;
      }
      let spec: JobSpec;
      try {
        // Checked again right before it starts: the folder may have changed while we waited.
        const scriptPath = resolveScript(config.scriptRoot, cmd.script);
        const c = resolveCommand(scriptPath, cmd.args, { rsqlCommand: config.rsqlCommand });
        spec = {
          command: c.command,
          args: c.args,
          cwd: path.dirname(scriptPath),
          env: jobEnv(cmd, creds),
          logFile: state.log_file,
          exitFile: state.exit_file,
          killGraceMs: graceMs,
          exclusive: true,
        };
        mkdirSync(path.dirname(state.log_file), { recursive: true });
      } catch (err) {
        finish(job, {
          status: 'Failed',
          exit_code: null,
          error: err instanceof Error ? err.message : String(err),
          started_at: null,
          finished_at: new Date(now()).toISOString(),
        });
        return;
      }
      state.phase = 'starting';
      save(job);
      const hosted = getLauncher().start(state.name, spec);
      job.hosted = hosted;
      void hosted.started.then((s) => {
        if (closed || s.pid <= 0 || job.hosted !== hosted || state.outcome) return;
        state.pid = s.pid;
        state.start_ticks = s.startTicks ?? null;
        state.started_at = s.startedAt.toISOString();
        state.phase = 'running';
        state.reports.push({
          id: 'started',
          kind: 'event',
          event: agentJobStarted(cmd, state.started_at, place(job)),
        });
        save(job);
        log.info('job started', { job_run_name: state.name, pid: s.pid });
        scheduleTick();
      });
      void hosted.done.then((o) => {
        if (closed || job.hosted !== hosted) return;
        job.hosted = undefined;
        onEnded(job, o);
      });
    } finally {
      job.busy = false;
      scheduleTick();
    }
  }

  function jobEnv(cmd: JobCommand, creds: Record<string, string>): Record<string, string> {
    return {
      ...baseEnv,
      PATH: config.path,
      ...config.env,
      ...cmd.parameters,
      ...creds,
      RSQLO_WORKFLOW_ID: cmd.workflow_id,
      RSQLO_EXECUTION_ID: cmd.workflow_execution_id,
      RSQLO_JOB_KEY: cmd.job_key,
      RSQLO_JOB_NAME: cmd.job_name,
      RSQLO_STAGE: String(cmd.stage),
      RSQLO_ATTEMPT: String(cmd.attempt),
      RSQLO_JOB_RUN: cmd.job_run_name,
    };
  }

  // -- ending ----------------------------------------------------------------------------------

  function onEnded(job: Job, o: JobOutcome): void {
    if (o.claimed) {
      // Another job host started this attempt (a dead daemon's last request): follow that one.
      recoverRunning(job);
      return;
    }
    const started = job.state.started_at ?? (o.spawnError ? null : o.startedAt.toISOString());
    const { status, error } = outcomeStatus({
      ...o,
      killedFor: o.killedFor ?? job.state.killed_for ?? undefined,
    });
    finishWhenTreeGone(job, {
      status,
      exit_code: o.exitCode,
      error,
      started_at: started,
      finished_at: o.finishedAt.toISOString(),
    });
  }

  /**
   * `finish`, but a cancelled job only once its whole process tree is gone: its main process ending
   * is not enough (children it started may still be dying, or have escaped its group). Reporting it
   * Cancelled earlier would let a restart start it again beside its previous attempt.
   */
  function finishWhenTreeGone(job: Job, outcome: Outcome): void {
    const { state } = job;
    if (state.killed_for !== 'cancel' || state.pid === null || state.gave_up) {
      finish(job, outcome);
      return;
    }
    job.busy = true;
    void track(
      killJob(
        {
          pid: state.pid,
          ...(state.start_ticks ? { startTicks: state.start_ticks } : {}),
          exitKey: state.log_file,
        },
        graceMs,
      ),
    )
      .catch(() => {})
      .then(() => {
        job.busy = false;
        finish(job, { ...outcome, finished_at: new Date(now()).toISOString() });
      });
  }

  /** Ends a job from its exit journal line (after a restart), or with an unknown outcome. */
  function finishFromJournal(job: Job, e: ReturnType<typeof readExitFile>, unknown: string): void {
    const finishedAt = new Date(now()).toISOString();
    if (!e) {
      finish(job, {
        status: job.state.killed_for === 'timeout' ? 'TimedOut' : 'Failed',
        exit_code: null,
        error: unknown,
        started_at: job.state.started_at,
        finished_at: finishedAt,
      });
      return;
    }
    const exitCode = 'exitCode' in e ? e.exitCode : null;
    const signal = 'signal' in e ? (e.signal as NodeJS.Signals) : null;
    const { status, error } = outcomeStatus({
      exitCode,
      signal,
      killedFor: job.state.killed_for ?? undefined,
      errorTail: exitCode === 0 ? '' : logTail(job.state.log_file),
    });
    finishWhenTreeGone(job, {
      status,
      exit_code: exitCode,
      error,
      started_at: job.state.started_at,
      finished_at: finishedAt,
    });
  }

  /** Records the outcome and queues its reports (none when the orchestrator gave up). */
  function finish(job: Job, outcome: Outcome): void {
    const { state, cmd } = job;
    if (state.outcome || closed) return;
    if (job.watch) clearInterval(job.watch);
    job.watch = undefined;
    job.adopted = undefined;
    const error =
      outcome.status === 'Cancelled' && state.cancel_reason
        ? redact(state.cancel_reason)
        : outcome.error === null
          ? null
          : redact(outcome.error);
    state.outcome = { ...outcome, error };
    state.phase = 'finished';
    if (state.gave_up) {
      log.info('job ended after the orchestrator gave up on it; nothing to report', {
        job_run_name: state.name,
        reason: state.gave_up,
      });
    } else {
      const r = {
        status: outcome.status,
        exitCode: outcome.exit_code,
        error,
        startedAt: outcome.started_at,
        finishedAt: outcome.finished_at,
      };
      state.reports.push({ id: 'finished', kind: 'event', event: agentJobFinished(cmd, r, place(job)) });
      if (outcome.status === 'Completed') {
        state.reports.push({ id: 'task', kind: 'task-success', output: taskOutput(r, place(job)) });
      } else if (!(outcome.status === 'TimedOut' && state.killed_for === 'timeout')) {
        // A local timeout needs no task result: the wrapper's own timer ran out first.
        state.reports.push({ id: 'task', kind: 'task-failure', cause: error ?? outcome.status });
      }
    }
    save(job);
    log.info('job finished', {
      job_run_name: state.name,
      status: outcome.status,
      exit_code: outcome.exit_code,
    });
    scheduleTick();
  }

  function markDone(job: Job): void {
    const { state } = job;
    state.phase = 'done';
    state.done_at = new Date(now()).toISOString();
    state.reports = [];
    save(job); // the tombstone first: submit checks it after creating a command file
    removeFile(commandFile(paths, state.name));
    jobs.delete(state.name);
  }

  // -- the orchestrator giving up, timeouts --------------------------------------------------------

  function gaveUp(job: Job, reason: string): void {
    const { state } = job;
    if (state.gave_up || state.outcome || closed) return;
    state.gave_up = reason;
    log.warn('the orchestrator no longer waits for this job; killing it', {
      job_run_name: state.name,
      reason,
    });
    if (state.phase === 'accepted') {
      save(job);
      if (!job.busy) markDone(job);
      return;
    }
    kill(job, 'cancel', `the orchestrator no longer waits for this attempt (${reason}); killing the job`);
  }

  function kill(job: Job, reason: KillReason, why: string): void {
    const { state } = job;
    state.killed_for ??= reason;
    save(job);
    note(job, why);
    if (job.hosted) {
      void job.hosted.kill(reason);
    } else if (job.adopted) {
      const a = job.adopted;
      void track(killJob({ pid: a.pid, startTicks: a.ticks, exitKey: state.log_file }, graceMs));
    }
  }

  // -- recovery --------------------------------------------------------------------------------

  /**
   * A job the daemon had started before it stopped (or whose job host died): the decision is
   * host/recovery.ts's, shared with the local engine; this carries it out on the spool.
   */
  function recoverRunning(job: Job, waitedMs = 0): void {
    const { state } = job;
    if (closed || state.outcome) return;
    const act = (d: LookDecision): void => {
      switch (d.kind) {
        case 'report-exit':
          finishFromJournal(job, d.exit, '');
          return;
        case 'start':
          // Nothing ran (never claimed, or the claim was taken back): starting it now runs it once.
          state.phase = 'accepted';
          save(job);
          job.busy = false;
          return;
        case 'wait-for-claim':
          // Claimed by a job host that has not started it yet: look again shortly.
          job.busy = true;
          setTimeout(() => {
            job.busy = false;
            recoverRunning(job, d.waitedMs);
          }, d.afterMs);
          return;
        case 'reclaim':
          job.busy = false;
          act(
            decideRecovery({
              step: 'reclaimed',
              result: reclaimAbandonedAttempt({ logFile: state.log_file, exitFile: state.exit_file }),
            }),
          );
          return;
        case 'look-again':
          recoverRunning(job);
          return;
        case 'unknown':
          finishFromJournal(job, undefined, unknownOutcomeMessage(d.reason, 'agent'));
          return;
        case 'await-exit':
          recordFound(job, d.process);
          job.busy = false;
          awaitExitStatus(job, 0, d.unknown);
          return;
        case 'adopt': {
          recordFound(job, d.process);
          job.busy = false;
          const { pid, startTicks: ticks } = d.process;
          job.adopted = { pid, ticks };
          log.info('adopted a running job', { job_run_name: state.name, pid });
          job.watch = setInterval(() => {
            if (isSameProcessAlive(pid, ticks)) return;
            clearInterval(job.watch);
            job.watch = undefined;
            awaitExitStatus(job, 0, 'ended-unrecorded');
          }, ADOPT_POLL_MS.agent);
          return;
        }
      }
    };
    act(
      decideRecovery(
        lookAtAttempt({
          exitFile: state.exit_file,
          logFile: state.log_file,
          pid: state.pid,
          startTicks: state.start_ticks ?? undefined,
          waitedMs,
        }),
      ),
    );
  }

  /** A job's process found by its marker (its pid never recorded): recorded now, and JobStarted. */
  function recordFound(job: Job, p: JobProcess & { byMarker: boolean }): void {
    if (!p.byMarker) return;
    const { state } = job;
    state.pid = p.pid;
    state.start_ticks = p.startTicks ?? null;
    state.phase = 'running';
    if (!state.started_at) {
      state.started_at = new Date(now()).toISOString();
      state.reports.push({
        id: 'started',
        kind: 'event',
        event: agentJobStarted(job.cmd, state.started_at, place(job)),
      });
    }
    save(job);
  }

  function awaitExitStatus(job: Job, waitedMs: number, why: UnknownReason): void {
    if (closed || job.state.outcome) return;
    const d = decideRecovery({
      step: 'exit-wait',
      journal: readExitFile(job.state.exit_file, job.state.log_file),
      waitedMs,
      unknown: why,
    });
    if (d.kind === 'wait-for-exit') {
      job.busy = true;
      setTimeout(() => awaitExitStatus(job, d.waitedMs, why), d.afterMs);
      return;
    }
    job.busy = false;
    if (d.kind === 'report-exit') finishFromJournal(job, d.exit, '');
    else finishFromJournal(job, undefined, unknownOutcomeMessage(d.reason, 'agent'));
  }

  function onHostLost(id: string): void {
    const job = jobs.get(id);
    if (!job || closed) return;
    job.hosted = undefined;
    log.warn('the job host ended while running this job; watching it by pid', { job_run_name: id });
    recoverRunning(job);
  }

  function load(): void {
    for (const name of listStates(paths)) {
      const state = readState(name);
      if (!state || state.phase === 'done') continue;
      let entry: SpooledCommand | undefined;
      try {
        const r = SpooledCommand.safeParse(readJson(commandFile(paths, name)));
        if (r.success) entry = r.data;
      } catch {
        // handled below
      }
      if (!entry) {
        log.error('a job in the spool lost its command file; it is dropped', { job_run_name: name });
        state.phase = 'done';
        state.done_at = new Date(now()).toISOString();
        writeFileAtomic(stateFile(paths, name), JSON.stringify(state));
        continue;
      }
      const job = newJob(state, entry);
      jobs.set(name, job);
      if (state.outcome) {
        state.phase = 'finished';
      } else if (state.phase === 'starting' || state.phase === 'running') {
        recoverRunning(job);
      }
    }
  }

  // -- heartbeats, reports, logs ------------------------------------------------------------------

  function heartbeat(job: Job): void {
    job.heartbeating = true;
    const token = job.cmd.task_token;
    void track(
      tasks.heartbeat(token).then(
        (r: TaskCallbackResult) => {
          if (r.outcome === 'gave-up') tokenRefused(job, r.reason, token);
        },
        (err: unknown) => {
          // Refused for good: final only for the token the job still holds (see tokenRefused).
          if (err instanceof TaskCallbackRejectedError && token === job.cmd.task_token)
            gaveUp(job, 'rejected');
          log.warn('heartbeat failed', { job_run_name: job.state.name, error: describeError(err, token) });
        },
      ),
    ).finally(() => {
      job.heartbeating = false;
      job.nextHeartbeat = now() + heartbeatEveryMs(job.cmd);
    });
  }

  async function deliverOne(job: Job, report: Report): Promise<'delivered' | 'retry' | 'stale'> {
    const token = job.cmd.task_token;
    try {
      if (report.kind === 'event') {
        await events.publish([report.event]);
      } else {
        const r =
          report.kind === 'task-success'
            ? await tasks.success(token, report.output)
            : await tasks.failure(token, report.cause);
        if (r.outcome === 'gave-up') {
          if (token !== job.cmd.task_token || (job.cmd.execution_arn && tasks.executionRunning)) {
            // Refused: the attempt may have a newer token (a retried Dispatch), or got one while
            // this call was out (then it goes again at once with that one). Keep the result.
            tokenRefused(job, r.reason, token);
            return 'stale';
          }
          log.info('task result not needed: the orchestrator gave up on this attempt', {
            job_run_name: job.state.name,
            reason: r.reason,
          });
        }
      }
      return 'delivered';
    } catch (err) {
      if (err instanceof NonRetriableError) {
        log.error('a report was refused for good and is dropped', {
          job_run_name: job.state.name,
          report: report.id,
          error: describeError(err, token),
        });
        return 'delivered';
      }
      log.warn('report not delivered; will retry', {
        job_run_name: job.state.name,
        report: report.id,
        error: describeError(err, token),
      });
      return 'retry';
    }
  }

  function deliver(job: Job, force = false): void {
    for (const report of job.state.reports) {
      const key = report.id;
      if (job.delivering.has(key)) continue;
      // A task result waits while the job's token is refused and a live one may come.
      if (report.kind !== 'event' && job.stale) continue;
      const retry = job.retries.get(key);
      if (!force && retry && retry.nextAt > now()) continue;
      job.delivering.add(key);
      void track(deliverOne(job, report)).then((result) => {
        job.delivering.delete(key);
        if (closed) return;
        if (result === 'delivered') {
          job.state.reports = job.state.reports.filter((r) => r.id !== key);
          job.retries.delete(key);
          save(job);
        } else if (result === 'stale') {
          job.retries.delete(key);
        } else {
          const attempts = (retry?.attempts ?? 0) + 1;
          job.retries.set(key, { attempts, nextAt: now() + backoff(attempts, retryBase, retryMax) });
        }
        scheduleTick();
      });
    }
  }

  function ship(job: Job): void {
    const { state } = job;
    const final = state.phase === 'finished';
    job.shipping = true;
    void track(
      logs.ship({ stream: state.stream, file: state.log_file, offset: state.shipped, final, redact }),
    )
      .then(
        (offset) => {
          job.shipFailures = 0;
          if (offset !== state.shipped || final) {
            state.shipped = offset;
            if (final) state.logs_final = true;
            save(job);
          }
          job.nextShip = now() + config.logShipEverySeconds * 1000;
        },
        (err: unknown) => {
          if (err instanceof LogShippingError && err.offset !== state.shipped) {
            state.shipped = err.offset;
            save(job);
          }
          job.shipFailures++;
          job.nextShip = now() + backoff(job.shipFailures, retryBase, retryMax);
          log.warn('log shipping failed; will retry', {
            job_run_name: state.name,
            error: describeError(err),
          });
        },
      )
      .finally(() => {
        job.shipping = false;
        scheduleTick();
      });
  }

  // -- the pass --------------------------------------------------------------------------------

  function tick(): void {
    if (closed) return;
    try {
      scan();
      const t = now();
      const ordered = [...jobs.values()].sort((a, b) =>
        a.state.accepted_at < b.state.accepted_at ? -1 : a.state.accepted_at > b.state.accepted_at ? 1 : 0,
      );
      for (const job of ordered) {
        const { state, cmd } = job;
        if (state.phase === 'accepted' && !job.busy) {
          if (!state.gave_up && t - Date.parse(state.accepted_at) > cmd.timeout_seconds * 1000) {
            log.warn('job waited in the spool past its timeout; dropped (the wrapper reported it TimedOut)', {
              job_run_name: state.name,
            });
            state.gave_up = 'expired';
          }
          if (state.gave_up) {
            markDone(job);
            continue;
          }
          if (state.cancel_reason) {
            applyCancel(job);
            continue;
          }
          if (!stopping && !job.stale && t >= job.startNotBefore && running() < config.maxConcurrency) {
            void track(
              launch(job).catch((err: unknown) => {
                log.error('starting a job failed; will retry', {
                  job_run_name: state.name,
                  error: describeError(err),
                });
                job.startFailures++;
                job.startNotBefore = now() + backoff(job.startFailures, 1000, 60_000);
              }),
            );
          }
        }
        if (job.stale) checkStale(job);
        if (state.cancel_reason && state.phase !== 'accepted') applyCancel(job);
        const live = !state.outcome && !state.gave_up && !job.stale;
        if (live && !stopping && !job.heartbeating && t >= job.nextHeartbeat) heartbeat(job);
        if (
          state.phase === 'running' &&
          !state.outcome &&
          state.killed_for === null &&
          state.started_at &&
          t - Date.parse(state.started_at) > cmd.timeout_seconds * 1000
        ) {
          kill(job, 'timeout', `timed out after ${cmd.timeout_seconds} s (timeout_seconds); killing the job`);
        }
        if (state.reports.length > 0) deliver(job);
        const shipDue =
          ((state.phase === 'running' || state.phase === 'starting') && t >= job.nextShip) ||
          (state.phase === 'finished' && !state.logs_final && t >= job.nextShip);
        if (shipDue && !job.shipping) ship(job);
        if (state.phase === 'finished' && state.logs_final && state.reports.length === 0 && !job.shipping) {
          markDone(job);
          log.info('job done', { job_run_name: state.name });
        }
      }
      if (t - lastPrune > PRUNE_EVERY_MS) {
        lastPrune = t;
        prune();
      }
    } catch (err) {
      log.error('agent pass failed', { error: describeError(err) });
    }
  }

  /** Forgets tombstones and exit journals older than doneRetentionHours. */
  function prune(): void {
    const limit = now() - config.doneRetentionHours * 3600_000;
    for (const name of listStates(paths)) {
      if (jobs.has(name)) continue;
      const s = readState(name);
      if (s?.phase === 'done' && s.done_at && Date.parse(s.done_at) < limit)
        removeFile(stateFile(paths, name));
    }
    // Token updates and cancels nobody could use (their job never came, or finished long ago).
    for (const dir of [paths.tokens, paths.cancels])
      for (const f of listDir(dir)) {
        const file = path.join(dir, f);
        try {
          if (statSync(file).mtimeMs < limit) removeFile(file);
        } catch {
          // gone
        }
      }
    const busyJournals = new Set([...jobs.values()].map((j) => j.state.exit_file));
    for (const name of listDir(paths.exits)) {
      const file = path.join(paths.exits, name);
      try {
        if (!busyJournals.has(file) && statSync(file).mtimeMs < limit) removeFile(file);
      } catch {
        // gone
      }
    }
  }

  return {
    async start() {
      paths = ensureSpool(config.spoolDir);
      try {
        lock = acquireLock(config.spoolDir);
      } catch (err) {
        if (err instanceof EngineLockedError)
          throw new AgentLockedError(
            `another rsqlo-agent ${err.pid !== undefined ? `(pid ${err.pid}) ` : ''}serves the spool ${config.spoolDir}; stop it first`,
          );
        throw err;
      }
      mkdirSync(config.logDir, { recursive: true });
      load();
      if (deps.credentials && jobs.size > 0) {
        // Jobs adopted after a restart still get the secrets blanked from what is reported.
        void track(
          deps.credentials.get().then(
            (c) => {
              redact = makeRedactor(c.secrets);
            },
            () => {},
          ),
        );
      }
      // New jobs, token updates and cancels are noticed at once (a cancel must not wait a pass).
      for (const dir of [paths.jobs, paths.tokens, paths.cancels]) {
        try {
          const w = watch(dir, () => scheduleTick(10));
          w.on('error', () => {});
          watchers.push(w);
        } catch {
          // no inotify: the periodic scan still finds them
        }
      }
      interval = setInterval(tick, pollMs);
      const containment = jobContainment();
      log.info('rsqlo-agent serving', {
        spool: config.spoolDir,
        max_concurrency: config.maxConcurrency,
        adopted_or_pending: jobs.size,
        containment: containment.kind === 'cgroup' ? `cgroup under ${containment.base}` : 'process group',
      });
      if (containment.kind !== 'cgroup')
        log.warn('jobs are contained by their process group only', { reason: containment.reason });
      tick();
    },

    async stop() {
      if (closed) return;
      stopping = true;
      for (const w of watchers) w.close();
      clearInterval(interval);
      // Last chance to deliver: everything pending, now, for at most shutdownFlushSeconds.
      const deadline = now() + config.shutdownFlushSeconds * 1000;
      for (const job of jobs.values()) {
        deliver(job, true);
        if (job.state.phase === 'finished' && !job.state.logs_final && !job.shipping) ship(job);
      }
      while (inflight.size > 0 && now() < deadline) {
        await Promise.race([
          Promise.allSettled([...inflight]),
          new Promise((r) => setTimeout(r, Math.max(1, deadline - now()))),
        ]);
      }
      closed = true;
      clearTimeout(soon);
      for (const job of jobs.values()) if (job.watch) clearInterval(job.watch);
      launcher?.close();
      lock?.release();
      log.info('rsqlo-agent stopped; running jobs go on and are adopted by the next start', {
        running: [...jobs.values()].filter((j) => j.state.phase === 'running').length,
      });
    },

    poke() {
      scheduleTick();
    },

    active() {
      return [...jobs.values()].map((j) => ({
        name: j.state.name,
        phase: j.state.phase,
        pid: j.state.pid,
        pendingReports: j.state.reports.map((r) => r.id),
      }));
    },
  };
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
