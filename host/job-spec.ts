/**
 * What the job runner takes and gives back: one attempt to run ({@link JobSpec}), its outcome,
 * the handle of a started attempt, why a job is killed, and the two environment variables that tie
 * a job's processes to its line in the exit journal. Its own module so that the job host, the
 * recovery decision and both agents can speak of a job without loading the runner itself.
 */

/**
 * Why a job was killed. A union rather than an enum (house style); the audit trail maps
 * `timeout` to TimedOut and `cancel` to Cancelled.
 */
export const killReasons = ['timeout', 'cancel'] as const;
/** Why a job was killed: see {@link killReasons}. */
export type KillReason = (typeof killReasons)[number];

/**
 * Name of the environment variable carrying the exit journal's path into the job (its wrapper
 * appends the status there). Exported so that scripts, the agent and recovery code agree on it.
 */
export const EXIT_FILE_ENV = 'RSQLO_EXIT_FILE';

/**
 * Name of the environment variable carrying the attempt's key (its line in the exit journal). It
 * tags every process of the job: {@link findJobProcesses} and the kill find the job's processes,
 * double-forked escapees included, by it (Linux; cgroups find even those that drop it).
 */
export const EXIT_KEY_ENV = 'RSQLO_EXIT_KEY';

/** One job attempt to run. The caller composes everything; the runner adds only what it needs. */
export interface JobSpec {
  /** Program to execute (usually from {@link resolveCommand}). */
  command: string;
  /** Its arguments, passed as argv (never through a shell). */
  args: string[];
  /** Working directory of the job. */
  cwd: string;
  /**
   * The job's whole environment: nothing is inherited from this process (so credentials of the
   * engine never leak into jobs by accident). The runner adds `RSQLO_EXIT_FILE` and `RSQLO_EXIT_KEY`.
   */
  env: Record<string, string>;
  /** Log file, opened in append mode; gets stdout and stderr of the job. */
  logFile: string;
  /**
   * The exit journal: where the job's exit status is appended as a `<exitKey>\t<code>` (or
   * `<exitKey>\tsignal:<NAME>`) line — by the job's wrapper, and by us when the wrapper itself was
   * killed — read back by {@link readExitFile} after a crash. Many attempts share one journal (a
   * run's); appending to it costs a fraction of creating a file per job. Its directory must exist.
   */
  exitFile: string;
  /** This attempt's key in the exit journal; default: the log file's path (unique per attempt). */
  exitKey?: string;
  /** Time between SIGTERM and SIGKILL in {@link RunningJob.kill}; default `DEFAULT_KILL_GRACE_MS` (platform/processes.ts). */
  killGraceMs?: number;
  /**
   * Start only if the log file does not exist yet (default false). The log of an attempt is then
   * its claim: two processes told to start the same attempt (a host finishing a dead engine's last
   * request, and the engine that took over) cannot both run it. The loser gets `claimed: true`.
   */
  exclusive?: boolean;
  /**
   * A folder of empty files made ahead of time, on the log's file system (default: none). Creating
   * a file costs ~0.5 ms on some disks, linking an existing one a tenth of that: the log is made by
   * linking a blank into place, and the blanks are refilled in the background.
   */
  logPool?: string;
  /**
   * How the job is contained (default `auto`: a cgroup of its own where this process may make one,
   * else its process group; see platform/processes.ts `jobContainment`). `process-group` forces
   * the fallback.
   */
  containment?: 'auto' | 'process-group';
}

/** The outcome of one job attempt. `done` always resolves to this; it never rejects. */
export interface JobOutcome {
  /** Exit code, or `null` when the job died by a signal or never started. */
  exitCode: number | null;
  /** Signal that ended the job, or `null`. */
  signal: NodeJS.Signals | null;
  /** Set when {@link RunningJob.kill} was called before the job ended by itself. */
  killedFor?: KillReason;
  startedAt: Date;
  finishedAt: Date;
  durationMs: number;
  /**
   * The last lines worth showing in an alert: the end of this attempt's output (stdout and stderr
   * as they were written). At most 10 lines / 2000 chars, trimmed; empty on success or when the
   * job printed nothing.
   */
  errorTail: string;
  /** Why the job could not be started at all (missing command, bad cwd, log not writable…). */
  spawnError?: string;
  /** With `exclusive`: someone else had already claimed this attempt (its log existed); nothing ran. */
  claimed?: boolean;
}

/** A started job attempt. */
export interface RunningJob {
  /** Process id (= process-group id) of the job's wrapper; 0 when it could not be started. */
  pid: number;
  /**
   * Start time of the process (`/proc/<pid>/stat` field 22 on Linux), stored with the pid so a
   * restarted engine can tell the job from a process that reused its pid. `undefined` where
   * `/proc` is unavailable or the job did not start.
   */
  startTicks: string | undefined;
  /** The job's cgroup, when it has one. */
  cgroup: string | undefined;
  startedAt: Date;
  /** Resolves once the job has ended; never rejects (spawn failures are in `spawnError`). */
  done: Promise<JobOutcome>;
  /**
   * Kills the job's process group, its cgroup and every descendant that escaped them (SIGTERM,
   * then SIGKILL after `killGraceMs`). Resolves when they are gone (bounded: a process stuck in
   * the kernel does not block forever). The first reason given is the one reported in `done`.
   */
  kill(signalReason: KillReason): Promise<void>;
}

/** An attempt's key in the exit journal. */
export function exitKey(spec: Pick<JobSpec, 'exitKey' | 'logFile'>): string {
  return spec.exitKey ?? spec.logFile;
}

/**
 * The environment a job runs with: exactly `spec.env`, plus `RSQLO_EXIT_FILE` and
 * `RSQLO_EXIT_KEY` (which its wrapper writes the status with, and which tags its processes).
 */
export function jobEnvironment(
  spec: Pick<JobSpec, 'env' | 'exitFile' | 'exitKey' | 'logFile'>,
): Record<string, string> {
  return { ...spec.env, [EXIT_FILE_ENV]: spec.exitFile, [EXIT_KEY_ENV]: exitKey(spec) };
}
