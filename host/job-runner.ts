/**
 * The job runner shared by the local engine and the EC2 agent daemon (ARCHITECTURE.md §4, §5).
 *
 * It runs one job attempt as its own process group (and its own cgroup where the platform allows),
 * sends its output to a per-attempt log file (exactly `>log 2>&1`), reports a {@link JobOutcome},
 * and kills everything the job started on timeout or cancel. Built for two constraints:
 *
 * - **Crash safety**: every job runs under a tiny POSIX `sh` wrapper (its process-group leader)
 *   that records the job's exit status in the exit journal itself, so the status survives the
 *   death of whoever started it (the job host, the engine, the agent daemon), whatever the job is
 *   (bash with its own EXIT trap, a script that `exec`s, a binary). The job's output goes straight
 *   to its log file, so nothing it writes depends on a living reader. {@link RunningJob.startTicks}
 *   lets a restarted engine recognise the very same process after a crash.
 * - **Speed**: the local engine runs thousands of tiny jobs, so the per-job work on our side is a
 *   handful of small synchronous syscalls around `child_process.spawn` — no pipes, no per-job
 *   timers unless the job is killed; the wrapper is `sh`'s builtins only.
 *
 * Processes, liveness, cgroups: platform/processes.ts. The runner's parts live beside it: the
 * job's types (job-spec.ts), scripts and commands (scripts.ts), the wrapper (wrapper.ts), the log
 * file and its pool (job-log.ts), the exit journal (exit-journal.ts); this file starts, watches
 * and kills jobs, and re-exports the parts so that importers need only this module.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, fstatSync } from 'node:fs';
import {
  DEFAULT_KILL_GRACE_MS,
  findProcessesWithEnv,
  jobCgroupsFor,
  jobContainment,
  KILL_WAIT_MAX_MS,
  killProcessTree,
  makeJobCgroup,
  processStart,
  releaseJobCgroup,
} from '../platform/processes.js';
import { readJournal, writeExitFile } from './exit-journal.js';
import { appendQuietly, logTail, openLog, refillLogPool } from './job-log.js';
import {
  EXIT_KEY_ENV,
  exitKey,
  type JobOutcome,
  type JobSpec,
  jobEnvironment,
  type KillReason,
  type RunningJob,
} from './job-spec.js';
import { locateCommand } from './scripts.js';
import { LOST_CLAIM_EXIT, WRAPPER_SHELL, wrapperInvocation } from './wrapper.js';

// The runner's parts, importable from here as before (both agents, the job host and tests do).
export { DEFAULT_KILL_GRACE_MS } from '../platform/processes.js';
export { readExitFile, readJournal, reclaimAbandonedAttempt } from './exit-journal.js';
export { visibleCarriageReturns } from './job-log.js';
export * from './job-spec.js';
export {
  bashPath,
  resolveCommand,
  resolveScript,
  ScriptNotExecutableError,
  ScriptPathError,
} from './scripts.js';
export { LOST_CLAIM_EXIT, wrapperInvocation } from './wrapper.js';

/**
 * Starts one job attempt. Never throws: anything that prevents the start (log file not
 * writable, missing command or cwd, EACCES) resolves `done` with `exitCode: null` and
 * `spawnError` (also appended to the log when it could be opened).
 *
 * - The job runs under its wrapper (wrapper.ts), `detached` (its own session and process
 *   group, so it can be killed as a whole and does not get our terminal's signals), in its own
 *   cgroup where the platform allows, stdin ignored.
 * - stdout and stderr are both the log file's own fd (append mode): the log reads exactly like
 *   `>log 2>&1`, with no pipe whose reader could die under the job.
 * - The environment is exactly `spec.env` plus `RSQLO_EXIT_FILE` and `RSQLO_EXIT_KEY`.
 * - The wrapper records the exit status in the journal; we add a line only when the wrapper itself
 *   died of a signal (a SIGKILL leaves it no time to write).
 *
 * When the job's main process exits, `done` resolves; background children it left running are
 * not killed (call {@link RunningJob.kill} for that) and their output keeps going to the log.
 */
export function startJob(spec: JobSpec): RunningJob {
  const startedAt = new Date();
  const t0 = performance.now();
  const graceMs = spec.killGraceMs ?? DEFAULT_KILL_GRACE_MS;

  let fd: number | undefined;
  let logStart = 0;
  let child: ChildProcess;
  let cgroup: string | undefined;
  try {
    try {
      fd = openLog(spec);
    } catch (err) {
      if (spec.exclusive && (err as NodeJS.ErrnoException).code === 'EEXIST') {
        const claimed = failedJob(startedAt, t0, `attempt already claimed: ${spec.logFile} exists`);
        return { ...claimed, done: claimed.done.then((o) => ({ ...o, claimed: true })) };
      }
      throw err;
    }
    logStart = fstatSync(fd).size;
    if (!existsSync(spec.cwd)) throw Object.assign(new Error('no cwd'), { code: 'ENOENT' });
    const located = locateCommand(spec.command, spec.env, spec.cwd);
    if ('error' in located) throw new StartError(located.error);
    cgroup = makeJobCgroup(jobContainment(spec.containment), exitKey(spec));
    const w = wrapperInvocation(cgroup, spec.logFile, located.path, spec.args);
    child = spawn(w.file, w.args, {
      cwd: spec.cwd,
      env: jobEnvironment(spec),
      stdio: ['ignore', fd, fd],
      detached: true,
    });
  } catch (err) {
    const message = err instanceof StartError ? err.message : describeStartError(err, spec, fd === undefined);
    if (fd !== undefined) {
      appendQuietly(fd, `rsqlo: ${message}\n`);
      closeSync(fd);
    }
    if (cgroup !== undefined) releaseJobCgroup(cgroup);
    return failedJob(startedAt, t0, message);
  }
  const logFd: number = fd;
  const jobCgroup = cgroup;
  const pid = child.pid ?? 0;
  const startTicks = pid > 0 ? processStart(pid) : undefined;

  let exited = false;
  let killedFor: KillReason | undefined;

  let resolveDone!: (outcome: JobOutcome) => void;
  const done = new Promise<JobOutcome>((resolve) => {
    resolveDone = resolve;
  });
  let resolveExited!: () => void;
  const exitedPromise = new Promise<void>((resolve) => {
    resolveExited = resolve;
  });

  const finish = (exitCode: number | null, signal: NodeJS.Signals | null, spawnError?: string): void => {
    const errorTail =
      spawnError !== undefined
        ? spawnError
        : exitCode === 0
          ? '' // a success needs no error lines: spare the read
          : logTail(logFd, logStart);
    try {
      closeSync(logFd);
    } catch {
      // already closed
    }
    const finishedAt = new Date();
    resolveDone({
      exitCode,
      signal,
      ...(killedFor !== undefined ? { killedFor } : {}),
      startedAt,
      finishedAt,
      durationMs: Math.max(0, Math.round((performance.now() - t0) * 1000) / 1000),
      errorTail,
      ...(spawnError !== undefined ? { spawnError } : {}),
    });
    // Housekeeping after whoever awaits `done` has sent its report (two turns later): our own
    // journal line when the wrapper could not write one, the cgroup if the job left nothing
    // running in it, and the log pool.
    setImmediate(() =>
      setImmediate(() => {
        if (signal !== null) writeExitFile(spec.exitFile, exitKey(spec), null, signal);
        if (jobCgroup !== undefined && killing === undefined) releaseJobCgroup(jobCgroup);
        if (spec.logPool) refillLogPool(spec.logPool);
      }),
    );
  };

  child.on('error', (err) => {
    if (exited) return;
    exited = true;
    const spawnError = describeStartError(err, spec, false);
    appendQuietly(logFd, `rsqlo: ${spawnError}\n`);
    resolveExited();
    finish(null, null, spawnError);
  });
  child.on('exit', (code, signal) => {
    if (exited) return;
    exited = true;
    resolveExited();
    if (code === LOST_CLAIM_EXIT && readJournal(spec.exitFile, exitKey(spec)).lost) {
      // Recovery took this attempt back before we could start it: nothing ran.
      try {
        closeSync(logFd);
      } catch {
        // already closed
      }
      const o = failedJob(startedAt, t0, `attempt taken back by recovery before it started: ${spec.logFile}`);
      void o.done.then((outcome) => resolveDone({ ...outcome, claimed: true }));
      return;
    }
    finish(code, signal);
  });

  let killing: Promise<void> | undefined;
  const kill = (reason: KillReason): Promise<void> => {
    if (!exited && killedFor === undefined) killedFor = reason;
    if (pid <= 0) return Promise.resolve();
    killing ??= (async () => {
      await killProcessTree(pid, graceMs, {
        startTicks,
        envEntry: `${EXIT_KEY_ENV}=${exitKey(spec)}`,
        cgroups: jobCgroup !== undefined ? [jobCgroup] : [],
        reaped: () => exited,
      });
      if (!exited) await withTimeout(exitedPromise, KILL_WAIT_MAX_MS);
    })();
    return killing;
  };

  return { pid, startTicks, cgroup: jobCgroup, startedAt, done, kill };
}

/** A start failure already worded for the user. */
class StartError extends Error {}

function failedJob(startedAt: Date, t0: number, spawnError: string): RunningJob {
  const finishedAt = new Date();
  const outcome: JobOutcome = {
    exitCode: null,
    signal: null,
    startedAt,
    finishedAt,
    durationMs: Math.round((performance.now() - t0) * 1000) / 1000,
    errorTail: spawnError,
    spawnError,
  };
  return {
    pid: 0,
    startTicks: undefined,
    cgroup: undefined,
    startedAt,
    done: Promise.resolve(outcome),
    kill: () => Promise.resolve(),
  };
}

function describeStartError(err: unknown, spec: JobSpec, logNotOpened: boolean): string {
  const e = err as NodeJS.ErrnoException;
  if (logNotOpened) return `cannot open log file ${spec.logFile}: ${e.code ?? e.message}`;
  if (e.code === 'ENOENT') {
    if (!existsSync(spec.cwd))
      return `cannot start ${spec.command}: working directory ${spec.cwd} does not exist`;
    return `cannot start ${spec.command}: ${WRAPPER_SHELL} not found`;
  }
  if (e.code === 'EACCES') {
    return `cannot start ${spec.command}: permission denied (make it executable with chmod +x, and check that ${spec.cwd} is accessible)`;
  }
  // Node's own argument errors quote the offending value, which may be a secret from env.
  if (e.code?.startsWith('ERR_'))
    return `cannot start ${spec.command}: invalid argument or environment value (${e.code})`;
  return `cannot start ${spec.command}: ${e.code ?? ''} ${e.message}`.trim();
}

/** Resolves when `p` settles or after `ms`, without leaving a timer behind. */
async function withTimeout(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/**
 * Live processes of a job, found by the `RSQLO_EXIT_KEY=<key>` entry every process of the job
 * inherits (Linux). After a crash this tells whether a job whose pid was never recorded is running
 * after all (so it is adopted, not started twice). The lowest pid (the job's wrapper) comes first.
 */
export function findJobProcesses(key: string): Array<{ pid: number; startTicks: string }> {
  return findProcessesWithEnv(`${EXIT_KEY_ENV}=${key}`).map((p) => ({ pid: p.pid, startTicks: p.start }));
}

/**
 * Kills an orphaned job found after a crash, like {@link RunningJob.kill} does for a live one:
 * its process group, its cgroup (found from its key), every descendant and every process carrying
 * its `RSQLO_EXIT_KEY`; SIGTERM, then SIGKILL after `graceMs`. Pass `startTicks` so a reused pid
 * is left alone.
 */
export function killJob(
  job: { pid: number; startTicks?: string | undefined; exitKey: string },
  graceMs: number = DEFAULT_KILL_GRACE_MS,
): Promise<void> {
  return killProcessTree(job.pid, graceMs, {
    ...(job.startTicks !== undefined ? { startTicks: job.startTicks } : {}),
    envEntry: `${EXIT_KEY_ENV}=${job.exitKey}`,
    cgroups: jobCgroupsFor(job.exitKey),
  });
}
