/**
 * The EC2 agent daemon, `rsqlo-agent serve` (ARCHITECTURE.md §4).
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
import { type FSWatcher, mkdirSync, readdirSync, statSync, watch } from 'node:fs';
import path from 'node:path';
import { acquireLock, EngineLockedError } from '../host/lock.js';
import { jobContainment } from '../platform/processes.js';
import type { LogShipper } from '../runtime/aws/cloudwatch-logs.js';
import { errorText as describeError, type TaskCallbacks } from '../runtime/aws/task-callbacks.js';
import type { EventPublisher, Logger } from '../services/ports.js';
import { createAgentContext } from './agent-context.js';
import { createAttemptTokens } from './attempt-tokens.js';
import { createCancels } from './cancels.js';
import type { AgentConfig } from './config.js';
import type { CredentialSource } from './credentials.js';
import { createHeartbeats } from './heartbeats.js';
import { createIntake } from './intake.js';
import { createJobEnding } from './job-ending.js';
import { backoff, type JobState } from './job-state.js';
import { createLauncher, type JobLauncher } from './launcher.js';
import { createLogShipping } from './log-shipping.js';
import { createRecovery } from './recovery.js';
import { createReportOutbox } from './report-outbox.js';
import { createScriptCache, type ScriptSource } from './script-cache.js';
import { ensureSpool, listStates, removeFile, stateFile } from './spool.js';

export type { CredentialSource } from './credentials.js';
export type { JobState } from './job-state.js';
export { logTail } from './job-state.js';
export type { JobLauncher } from './launcher.js';

export interface AgentDaemonDeps {
  config: AgentConfig;
  events: EventPublisher;
  tasks: TaskCallbacks;
  logs: LogShipper;
  /** Default: none (jobs get no credentials). */
  credentials?: CredentialSource;
  /** Where shipped script versions come from (config `shippedScripts`); default none. */
  scriptSource?: ScriptSource;
  log: Logger;
  /** Default: a JobHost (host/job-host.ts), which outlives the daemon. */
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

/** How often tombstones, stale token updates and exit journals are pruned. */
const PRUNE_EVERY_MS = 10 * 60_000;

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
 * logic runs the same against AWS (agent/main.ts) and against mocks in tests. The daemon is the
 * composition of its parts, each over one shared {@link createAgentContext} state: the intake
 * (new commands), cancels and attempt tokens (what else arrives in the spool), the launcher, the
 * report outbox, heartbeats, log shipping, recovery and the job's ending; this file adds the
 * periodic pass that drives them, the lock, pruning, start and stop.
 */
export function createAgentDaemon(deps: AgentDaemonDeps): AgentDaemon {
  const { config, log } = deps;
  const ctx = createAgentContext({
    config,
    events: deps.events,
    tasks: deps.tasks,
    log,
    ...(deps.now ? { now: deps.now } : {}),
    ...(deps.retryBackoff ? { retryBackoff: deps.retryBackoff } : {}),
    tick: () => tick(),
  });
  const { now, jobs } = ctx;
  const pollMs = deps.pollMs ?? 1000;
  const ending = createJobEnding(ctx);
  const tokens = createAttemptTokens(ctx, ending);
  const cancels = createCancels(ctx, ending);
  const intake = createIntake(ctx);
  const recovery = createRecovery(ctx, ending);
  const launcher = createLauncher(ctx, {
    ending,
    tokens,
    recovery,
    ...(deps.credentials ? { credentials: deps.credentials } : {}),
    ...(deps.scriptSource
      ? {
          scripts: createScriptCache({
            dir: deps.config.shippedScripts?.cacheDir ?? path.join(deps.config.spoolDir, 'scripts'),
            source: deps.scriptSource,
          }),
        }
      : {}),
    ...(deps.launcher ? { launcher: deps.launcher } : {}),
    ...(deps.baseEnv ? { baseEnv: deps.baseEnv } : {}),
  });
  const outbox = createReportOutbox(ctx, tokens);
  const heartbeats = createHeartbeats(ctx, { tokens, ending });
  const shipping = createLogShipping(ctx, deps.logs);
  let lock: { release(): void } | undefined;
  const watchers: FSWatcher[] = [];
  let interval: NodeJS.Timeout | undefined;
  let lastPrune = 0;

  /** Everything new in the spool: commands, token updates, cancels (none while stopping). */
  function scan(): void {
    if (ctx.stopping) return;
    intake.scan();
    tokens.scanTokens();
    cancels.scanCancels();
  }

  // -- the pass --------------------------------------------------------------------------------

  function tick(): void {
    if (ctx.closed) return;
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
            ending.markDone(job);
            continue;
          }
          if (state.cancel_reason) {
            ending.applyCancel(job);
            continue;
          }
          if (
            !ctx.stopping &&
            !job.stale &&
            t >= job.startNotBefore &&
            launcher.running() < config.maxConcurrency
          ) {
            void ctx.track(
              launcher.launch(job).catch((err: unknown) => {
                log.error('starting a job failed; will retry', {
                  job_run_name: state.name,
                  error: describeError(err),
                });
                job.startFailures++;
                job.startNotBefore = now() + backoffStart(job.startFailures);
              }),
            );
          }
        }
        if (job.stale) tokens.checkStale(job);
        if (state.cancel_reason && state.phase !== 'accepted') ending.applyCancel(job);
        const live = !state.outcome && !state.gave_up && !job.stale;
        if (live && !ctx.stopping && !job.heartbeating && t >= job.nextHeartbeat) heartbeats.heartbeat(job);
        if (
          state.phase === 'running' &&
          !state.outcome &&
          state.killed_for === null &&
          state.started_at &&
          t - Date.parse(state.started_at) > cmd.timeout_seconds * 1000
        ) {
          ending.kill(
            job,
            'timeout',
            `timed out after ${cmd.timeout_seconds} s (timeout_seconds); killing the job`,
          );
        }
        if (state.reports.length > 0) outbox.deliver(job);
        const shipDue =
          ((state.phase === 'running' || state.phase === 'starting') && t >= job.nextShip) ||
          (state.phase === 'finished' && !state.logs_final && t >= job.nextShip);
        if (shipDue && !job.shipping) shipping.ship(job);
        if (state.phase === 'finished' && state.logs_final && state.reports.length === 0 && !job.shipping) {
          ending.markDone(job);
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
    const { paths } = ctx;
    const limit = now() - config.doneRetentionHours * 3600_000;
    for (const name of listStates(paths)) {
      if (jobs.has(name)) continue;
      const s = ctx.readState(name);
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
      ensureSpool(config.spoolDir);
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
      recovery.load();
      if (deps.credentials && jobs.size > 0) {
        // Jobs adopted after a restart still get the secrets blanked from what is reported.
        void ctx.track(
          deps.credentials.get().then(
            (c) => {
              ctx.rememberSecrets(c.secrets);
            },
            () => {},
          ),
        );
      }
      // New jobs, token updates and cancels are noticed at once (a cancel must not wait a pass).
      const { paths } = ctx;
      for (const dir of [paths.jobs, paths.tokens, paths.cancels]) {
        try {
          const w = watch(dir, () => ctx.scheduleTick(10));
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
      if (ctx.closed) return;
      ctx.stopping = true;
      for (const w of watchers) w.close();
      clearInterval(interval);
      // Last chance to deliver: everything pending, now, for at most shutdownFlushSeconds.
      const deadline = now() + config.shutdownFlushSeconds * 1000;
      for (const job of jobs.values()) {
        outbox.deliver(job, true);
        if (job.state.phase === 'finished' && !job.state.logs_final && !job.shipping) shipping.ship(job);
      }
      while (ctx.inflight.size > 0 && now() < deadline) {
        await Promise.race([
          Promise.allSettled([...ctx.inflight]),
          new Promise((r) => setTimeout(r, Math.max(1, deadline - now()))),
        ]);
      }
      ctx.closed = true;
      ctx.cancelScheduledTick();
      for (const job of jobs.values()) if (job.watch) clearInterval(job.watch);
      launcher.close();
      lock?.release();
      log.info('rsqlo-agent stopped; running jobs go on and are adopted by the next start', {
        running: [...jobs.values()].filter((j) => j.state.phase === 'running').length,
      });
    },

    poke() {
      ctx.scheduleTick();
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

/** A job whose start failed unexpectedly waits 1 s doubling to a minute before it is tried again. */
function backoffStart(failures: number): number {
  return backoff(failures, 1000, 60_000);
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
