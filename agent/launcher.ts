/**
 * Starting a job on the EC2 agent, and hearing how it ended. Before anything runs it confirms the
 * attempt is still live (a heartbeat with the job's token: SSM can deliver a command after the
 * wrapper gave up on it), checks the script under `scriptRoot` (symlinks resolved now), gets the
 * database credentials, and builds the job's environment from scratch. The job then runs through
 * the job host process (host/job-host.ts, which outlives the daemon) in its own process group and
 * cgroup; its start and end come back here and are recorded in the spool.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { JobCommand } from '../contracts/jobs.js';
import { type HostedJob, JobHost } from '../host/job-host.js';
import { type JobOutcome, type JobSpec, resolveCommand, resolveScript } from '../host/job-runner.js';
import { agentJobStarted, jobIdentityEnv, outcomeStatus } from '../host/reports.js';
import { errorText as describeError, TaskCallbackRejectedError } from '../runtime/aws/task-callbacks.js';
import type { AgentContext } from './agent-context.js';
import type { AttemptTokens } from './attempt-tokens.js';
import { type CredentialSource, isAuthFailure } from './credentials.js';
import type { JobEnding } from './job-ending.js';
import { backoff, type Job } from './job-state.js';
import type { Recovery } from './recovery.js';
import { type ScriptCache, ScriptVersionError } from './script-cache.js';

/** Starts job processes; default: the job host process (survives the daemon). */
export interface JobLauncher {
  start(id: string, spec: JobSpec): HostedJob;
  /** Lets go of running jobs (they go on); called on shutdown. */
  close(): void;
}

export interface LauncherDeps {
  ending: JobEnding;
  tokens: AttemptTokens;
  recovery: Pick<Recovery, 'recoverRunning' | 'onHostLost'>;
  /** Default: none (jobs get no credentials). */
  credentials?: CredentialSource;
  /** Default: a {@link JobHost}. */
  launcher?: (onLost: (id: string) => void) => JobLauncher;
  /** The shipped scripts by version; without it a job that names a version cannot start. */
  scripts?: ScriptCache;
  /** Base environment of jobs before config.env; default PATH (config), HOME, LANG, TZ of the daemon. */
  baseEnv?: Record<string, string>;
}

export interface Launcher {
  /** Jobs that count against maxConcurrency: starting, running, or busy (credentials, recovery). */
  running(): number;
  /** Starts an accepted job (or finds it must not start); throws only on an unexpected failure. */
  launch(job: Job): Promise<void>;
  /** Lets go of the job host (running jobs go on); on stop. */
  close(): void;
}

/** The launcher over the daemon's shared state. */
export function createLauncher(ctx: AgentContext, deps: LauncherDeps): Launcher {
  const { config, log, tasks, now } = ctx;
  const { ending, tokens, recovery } = deps;
  let host: JobLauncher | undefined;
  const baseEnv: Record<string, string> = deps.baseEnv ?? {
    HOME: process.env.HOME ?? '/',
    LANG: process.env.LANG ?? 'C.UTF-8',
    ...(process.env.TZ ? { TZ: process.env.TZ } : {}),
  };

  function getLauncher(): JobLauncher {
    if (!host) {
      const make = deps.launcher ?? ((onLost) => new JobHost(onLost));
      host = make((id) => recovery.onHostLost(id));
    }
    return host;
  }

  function running(): number {
    let n = 0;
    for (const j of ctx.jobs.values())
      if (j.busy || j.state.phase === 'starting' || j.state.phase === 'running') n++;
    return n;
  }

  /**
   * The folder a job's script resolves under: its run's script version (fetched once per host and
   * version, the same for every job of the run), else `scriptRoot`. Undefined: it waits (the
   * download failed for a reason that may pass).
   */
  async function scriptRootOf(job: Job): Promise<{ root: string } | { problem: string } | undefined> {
    const version = job.cmd.script_version;
    if (!version) return { root: config.scriptRoot };
    if (!deps.scripts)
      return {
        problem: `the run uses shipped script version ${version}, but this agent has no shippedScripts in its config (reinstall it with the stack's association)`,
      };
    try {
      return { root: await deps.scripts.rootFor(version, job.cmd.workflow_id) };
    } catch (err) {
      if (err instanceof ScriptVersionError) return { problem: err.message };
      job.startFailures++;
      job.startNotBefore = now() + backoff(job.startFailures, 1000, 60_000);
      log.warn('cannot fetch the run’s scripts; the job waits', {
        job_run_name: job.state.name,
        script_version: version,
        error: err instanceof Error ? err.message : String(err),
      });
      return undefined;
    }
  }

  /** The script, checked as it starts (symlinks resolved now): the check the local engine shares. */
  function scriptProblem(root: string, cmd: JobCommand): { path: string } | { problem: string } {
    try {
      return { path: resolveScript(root, cmd.script) };
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
        job.nextHeartbeat = now() + ctx.heartbeatEveryMs(job.cmd);
        return true;
      }
      if (token !== job.cmd.task_token) {
        // A live token was adopted while this one was being checked: ask again with it (next pass).
        tokens.tokenRefused(job, r.reason, token);
        return false;
      }
      log.warn('the attempt is no longer live: the job is not started', {
        job_run_name: job.state.name,
        reason: r.reason,
      });
      tokens.tokenRefused(job, r.reason, token);
      return false;
    } catch (err) {
      if (err instanceof TaskCallbackRejectedError) {
        if (token === job.cmd.task_token) ending.gaveUp(job, 'rejected');
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

  /** Whether the job may still start after an await (nothing changed its fate meanwhile). */
  const mayStart = (job: Job): boolean =>
    !(
      ctx.closed ||
      ctx.stopping ||
      job.state.gave_up ||
      job.state.phase !== 'accepted' ||
      job.state.cancel_reason
    );

  async function launch(job: Job): Promise<void> {
    const { cmd, state } = job;
    job.busy = true;
    try {
      if (!(await confirmLive(job))) return;
      if (!mayStart(job)) return;
      const where = await scriptRootOf(job);
      if (!where || !mayStart(job)) return;
      const root = 'root' in where ? where.root : config.scriptRoot;
      const script = 'problem' in where ? where : scriptProblem(root, cmd);
      let problem = 'problem' in script ? script.problem : undefined;
      let creds: Record<string, string> = {};
      if (!problem && deps.credentials) {
        try {
          const c = await deps.credentials.get();
          creds = c.env;
          ctx.rememberSecrets(c.secrets);
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
      if (!mayStart(job)) return;
      if (problem || !('path' in script)) {
        log.warn('job cannot start', { job_run_name: state.name, error: problem });
        ending.finish(job, {
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
        const scriptPath = resolveScript(root, cmd.script);
        const c = resolveCommand(scriptPath, cmd.args, { rsqlCommand: config.rsqlCommand });
        spec = {
          command: c.command,
          args: c.args,
          cwd: path.dirname(scriptPath),
          env: jobEnv(cmd, creds),
          logFile: state.log_file,
          exitFile: state.exit_file,
          killGraceMs: ctx.graceMs,
          exclusive: true,
        };
        mkdirSync(path.dirname(state.log_file), { recursive: true });
      } catch (err) {
        ending.finish(job, {
          status: 'Failed',
          exit_code: null,
          error: err instanceof Error ? err.message : String(err),
          started_at: null,
          finished_at: new Date(now()).toISOString(),
        });
        return;
      }
      state.phase = 'starting';
      ctx.save(job);
      const hosted = getLauncher().start(state.name, spec);
      job.hosted = hosted;
      const withCredentials = Object.keys(creds).length > 0;
      void hosted.started.then((s) => {
        if (ctx.closed || s.pid <= 0 || job.hosted !== hosted || state.outcome) return;
        state.pid = s.pid;
        state.start_ticks = s.startTicks ?? null;
        state.started_at = s.startedAt.toISOString();
        state.phase = 'running';
        state.reports.push({
          id: 'started',
          kind: 'event',
          event: agentJobStarted(cmd, state.started_at, ctx.place(job)),
        });
        ctx.save(job);
        log.info('job started', { job_run_name: state.name, pid: s.pid });
        ctx.scheduleTick();
      });
      void hosted.done.then((o) => {
        if (ctx.closed || job.hosted !== hosted) return;
        job.hosted = undefined;
        onEnded(job, o, withCredentials);
      });
    } finally {
      job.busy = false;
      ctx.scheduleTick();
    }
  }

  function jobEnv(cmd: JobCommand, creds: Record<string, string>): Record<string, string> {
    return {
      ...baseEnv,
      PATH: config.path,
      ...config.env,
      ...cmd.parameters,
      ...creds,
      ...jobIdentityEnv(cmd),
    };
  }

  function onEnded(job: Job, o: JobOutcome, withCredentials: boolean): void {
    if (o.claimed) {
      // Another job host started this attempt (a dead daemon's last request): follow that one.
      recovery.recoverRunning(job);
      return;
    }
    const started = job.state.started_at ?? (o.spawnError ? null : o.startedAt.toISOString());
    const { status, error } = outcomeStatus({
      ...o,
      killedFor: o.killedFor ?? job.state.killed_for ?? undefined,
    });
    if (status === 'Failed' && withCredentials && deps.credentials?.refresh && isAuthFailure(o.errorTail)) {
      // The password may have been rotated since it was cached: the next job reads the secret again.
      deps.credentials.refresh();
      log.warn('the database refused the job’s credentials; the secret is read again for the next job', {
        job_run_name: job.state.name,
      });
    }
    ending.finishWhenTreeGone(job, {
      status,
      exit_code: o.exitCode,
      error,
      started_at: started,
      finished_at: o.finishedAt.toISOString(),
    });
  }

  return {
    running,
    launch,
    close() {
      host?.close();
    },
  };
}
