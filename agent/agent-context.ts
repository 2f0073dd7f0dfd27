/**
 * What every part of the EC2 agent daemon shares: its ports, the jobs it tracks, the spool, whether
 * it is stopping, the redactor of secrets, and the few helpers that touch all of that (persist a
 * job, wake the daemon's pass, track a call so shutdown can wait for it). The parts (agent/intake.ts,
 * launcher.ts, report-outbox.ts, heartbeats.ts, log-shipping.ts, recovery.ts, attempt-tokens.ts,
 * cancels.ts, job-ending.ts) each take it as their first dependency; agent/daemon.ts makes one per
 * daemon and composes them. One mutable object rather than copies, so a part never acts on a
 * stale `closed` flag or job map.
 */
import { appendFileSync, existsSync } from 'node:fs';
import type { JobCommand } from '../contracts/jobs.js';
import { type JobPlace, makeRedactor } from '../host/reports.js';
import { logLocation as cloudwatchLocation } from '../runtime/aws/cloudwatch-logs.js';
import type { TaskCallbacks } from '../runtime/aws/task-callbacks.js';
import type { EventPublisher, Logger } from '../services/ports.js';
import type { AgentConfig } from './config.js';
import {
  type Job,
  type JobState,
  newJob,
  REPORT_BACKOFF_BASE_MS,
  REPORT_BACKOFF_MAX_MS,
} from './job-state.js';
import {
  readJson,
  type SpooledCommand,
  type SpoolPaths,
  spoolPaths,
  stateFile,
  writeFileAtomic,
} from './spool.js';

/** How many secret values (newest kept) the redactor blanks: rotations seen by one daemon. */
export const REMEMBERED_SECRETS = 16;

/** The daemon's shared state and helpers (see the module comment). */
export interface AgentContext {
  readonly config: AgentConfig;
  readonly events: EventPublisher;
  readonly tasks: TaskCallbacks;
  readonly log: Logger;
  readonly now: () => number;
  /** The jobs not done yet, by job run name. */
  readonly jobs: Map<string, Job>;
  /** The spool's folders (created by the daemon's start). */
  readonly paths: SpoolPaths;
  /** Backoff of undelivered reports and log shipping (see {@link AgentContextDeps.retryBackoff}). */
  readonly retryBase: number;
  readonly retryMax: number;
  /** SIGTERM → SIGKILL when a job is killed (config.killGraceSeconds). */
  readonly graceMs: number;
  /** Calls being made (reports, heartbeats, checks): shutdown waits for them a while. */
  readonly inflight: Set<Promise<unknown>>;
  /** The daemon stops taking jobs (SIGTERM); what is pending is still delivered. */
  stopping: boolean;
  /** The daemon has stopped: nothing more is written or started. */
  closed: boolean;
  /** Blanks the database secrets in text the agent reports; identity until credentials are read. */
  readonly redact: (text: string) => string;
  /**
   * Adds secret values to what {@link redact} blanks. Values read before stay blanked (the last
   * {@link REMEMBERED_SECRETS}): a job started before a rotation still holds the old password.
   */
  rememberSecrets(secrets: readonly string[]): void;
  /** Keeps `p` in {@link inflight} until it settles; returns it. */
  track<T>(p: Promise<T>): Promise<T>;
  /** Writes the job's state file (atomically); nothing once closed. */
  save(job: Job): void;
  /** Where the job runs and logs, as events and task results name it. */
  place(job: Job): JobPlace;
  /** Runs the daemon's pass soon (after `delay` ms; one pending at a time). */
  scheduleTick(delay?: number): void;
  /** Forgets a pass scheduled by {@link scheduleTick} (on stop). */
  cancelScheduledTick(): void;
  /** The heartbeat interval of a job: config.heartbeatEverySeconds, else a third of its heartbeat_seconds. */
  heartbeatEveryMs(cmd: JobCommand): number;
  /** A new {@link Job} for a state and its spooled command, its first heartbeat one interval away. */
  newJob(state: JobState, entry: SpooledCommand): Job;
  /** Appends an agent line (`rsqlo-agent: …`) to the job's log, if it has one. */
  note(job: Job, text: string): void;
  /** A job's state file, or undefined (missing, unreadable, or of an unknown shape: logged). */
  readState(name: string): JobState | undefined;
}

export interface AgentContextDeps {
  config: AgentConfig;
  events: EventPublisher;
  tasks: TaskCallbacks;
  log: Logger;
  /** Default Date.now. */
  now?: () => number;
  /** Default 1 s doubling to 5 min, jittered. */
  retryBackoff?: { baseMs: number; maxMs: number };
  /** The daemon's pass, run by {@link AgentContext.scheduleTick}. */
  tick: () => void;
}

/** The shared state of one daemon, before its start (the spool folders are not created here). */
export function createAgentContext(deps: AgentContextDeps): AgentContext {
  const { config, log } = deps;
  const now = deps.now ?? Date.now;
  let soon: NodeJS.Timeout | undefined;
  const inflight = new Set<Promise<unknown>>();
  const paths = spoolPaths(config.spoolDir);
  const remembered: string[] = [];
  let redactor: (text: string) => string = (t) => t;

  const heartbeatEveryMs = (cmd: JobCommand): number => {
    const seconds = config.heartbeatEverySeconds ?? Math.max(1, cmd.heartbeat_seconds / 3);
    return Math.max(100, Math.round(seconds * 1000));
  };

  const ctx: AgentContext = {
    config,
    events: deps.events,
    tasks: deps.tasks,
    log,
    now,
    jobs: new Map(),
    paths,
    retryBase: deps.retryBackoff?.baseMs ?? REPORT_BACKOFF_BASE_MS,
    retryMax: deps.retryBackoff?.maxMs ?? REPORT_BACKOFF_MAX_MS,
    graceMs: Math.round(config.killGraceSeconds * 1000),
    inflight,
    stopping: false,
    closed: false,
    redact: (t) => redactor(t),
    rememberSecrets(secrets) {
      const fresh = secrets.filter((v) => !remembered.includes(v));
      if (fresh.length === 0) return;
      remembered.push(...fresh);
      remembered.splice(0, Math.max(0, remembered.length - REMEMBERED_SECRETS));
      redactor = makeRedactor(remembered);
    },
    track(p) {
      inflight.add(p);
      void p.finally(() => inflight.delete(p)).catch(() => {});
      return p;
    },
    save(job) {
      if (ctx.closed) return;
      writeFileAtomic(stateFile(paths, job.state.name), JSON.stringify(job.state));
    },
    place(job) {
      return {
        instanceId: job.state.instance_id,
        commandId: job.state.command_id,
        logLocation: cloudwatchLocation(config.logGroup, job.state.stream),
      };
    },
    scheduleTick(delay = 0) {
      if (ctx.closed || soon) return;
      soon = setTimeout(() => {
        soon = undefined;
        deps.tick();
      }, delay);
    },
    cancelScheduledTick() {
      clearTimeout(soon);
    },
    heartbeatEveryMs,
    newJob(state, entry) {
      return newJob(state, entry, now() + heartbeatEveryMs(entry.command));
    },
    note(job, text) {
      try {
        if (existsSync(job.state.log_file)) appendFileSync(job.state.log_file, `rsqlo-agent: ${text}\n`);
      } catch {
        // the log is not writable: the daemon's own log has it
      }
    },
    readState(name) {
      try {
        const s = readJson(stateFile(paths, name)) as JobState | undefined;
        if (s && s.v === 1 && s.name === name) return s;
        if (s) log.error('ignoring a state file of an unknown shape', { job_run_name: name });
      } catch (err) {
        log.error('ignoring an unreadable state file', { job_run_name: name, error: (err as Error).message });
      }
      return undefined;
    },
  };
  return ctx;
}
