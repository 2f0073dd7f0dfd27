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
 * Processes, liveness, cgroups: platform/processes.ts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  accessSync,
  appendFileSync,
  closeSync,
  existsSync,
  constants as fsConstants,
  fstatSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import path, { delimiter, extname, join } from 'node:path';
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

export { DEFAULT_KILL_GRACE_MS } from '../platform/processes.js';

// ---------------------------------------------------------------------------------------------
// Public types and constants
// ---------------------------------------------------------------------------------------------

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
  /** Time between SIGTERM and SIGKILL in {@link RunningJob.kill}; default {@link DEFAULT_KILL_GRACE_MS}. */
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

/**
 * Thrown by {@link resolveCommand} for a script that is neither `.sh`/`.sql` nor executable:
 * running it would only fail later with a less helpful EACCES.
 */
export class ScriptNotExecutableError extends Error {
  override name = 'ScriptNotExecutableError';
  constructor(readonly scriptPath: string) {
    super(
      `script ${scriptPath} is not executable: run \`chmod +x ${scriptPath}\` or give it a .sh extension to run it with bash`,
    );
  }
}

/**
 * Thrown by {@link resolveScript} for a script that cannot run from its folder: missing, not a
 * file, or resolving (through a symlink, now) to a file outside the folder.
 */
export class ScriptPathError extends Error {
  override name = 'ScriptPathError';
  constructor(
    readonly script: string,
    message: string,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------------------------------------
// Scripts and commands
// ---------------------------------------------------------------------------------------------

function inside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * The script a job runs, checked when it is about to start (not only when the workflow was
 * validated: the folder may have changed since, e.g. a script replaced by a symlink to a file
 * elsewhere). `script` is relative to `root` and must resolve — symlinks followed, now — to a
 * file inside `root`'s real path. Returns the path to run (as named: `$0` stays what the user
 * wrote). The one check the local engine and the EC2 agent share.
 *
 * @throws ScriptPathError naming the problem.
 */
export function resolveScript(root: string, script: string): string {
  const absRoot = path.resolve(root);
  const named = path.resolve(absRoot, script);
  if (!inside(absRoot, named) || named === absRoot)
    throw new ScriptPathError(script, `script ${script} is outside the script folder ${absRoot}`);
  let realRoot: string;
  try {
    realRoot = realpathSync(absRoot);
  } catch {
    throw new ScriptPathError(script, `script folder ${absRoot} does not exist`);
  }
  let real: string;
  try {
    real = realpathSync(named);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ScriptPathError(
      script,
      code === 'ENOENT'
        ? `script not found: ${named}`
        : `cannot resolve script ${named}: ${code ?? String(err)}`,
    );
  }
  if (!inside(realRoot, real))
    throw new ScriptPathError(
      script,
      `script ${script} resolves to ${real}, outside the script folder ${realRoot}; refusing to run it`,
    );
  let isFile = false;
  try {
    isFile = statSync(real).isFile();
  } catch {
    // vanished meanwhile: reported as not a file
  }
  if (!isFile) throw new ScriptPathError(script, `script ${named} is not a file`);
  return named;
}

/**
 * Maps a job's script to the program and argv that run it, so that workflow definitions can name
 * scripts by path without caring how they are launched:
 *
 * - `*.sh` → `bash <path> ...args` (no execute bit needed);
 * - `*.sql` → `<rsqlCommand...> -f <path> ...args`; `rsqlCommand` defaults to `['rsql']` (the
 *   local engine puts its RSQL-compatible runner first on the jobs' PATH, EC2 uses the real one);
 * - anything else is executed directly and must be executable, else
 *   {@link ScriptNotExecutableError}. A path that does not exist is returned as-is: starting it
 *   then reports a clear `spawnError`, like a missing `.sh` file makes bash exit 127.
 *
 * Paths are used as given; relative ones are checked against this process's cwd, so pass
 * absolute paths.
 */
export function resolveCommand(
  scriptPath: string,
  args: string[],
  opts?: { rsqlCommand?: string[] },
): { command: string; args: string[] } {
  const ext = extname(scriptPath).toLowerCase();
  if (ext === '.sh') return { command: bashPath(), args: [scriptPath, ...args] };
  if (ext === '.sql') {
    const [command, ...rsqlArgs] = opts?.rsqlCommand ?? ['rsql'];
    if (command === undefined) throw new TypeError('rsqlCommand must name a program');
    return { command, args: [...rsqlArgs, '-f', scriptPath, ...args] };
  }
  try {
    accessSync(scriptPath, fsConstants.X_OK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { command: scriptPath, args: [...args] };
    throw new ScriptNotExecutableError(scriptPath);
  }
  // X_OK succeeds on directories; they are not scripts either.
  if (statSync(scriptPath).isDirectory()) throw new ScriptNotExecutableError(scriptPath);
  return { command: scriptPath, args: [...args] };
}

let bash: string | undefined;

/**
 * bash's absolute path, looked up on this process's PATH once. Spawning by absolute path spares
 * the kernel an execve per PATH entry on every job; `bash` itself when not found (then the spawn
 * reports it).
 */
export function bashPath(): string {
  if (bash !== undefined) return bash;
  bash = 'bash';
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'bash');
    try {
      accessSync(candidate, fsConstants.X_OK);
      if (statSync(candidate).isFile()) {
        bash = candidate;
        break;
      }
    } catch {
      // not here
    }
  }
  return bash;
}

/** How long a command found runnable is trusted without looking again. */
const COMMAND_CHECK_TTL_MS = 5000;
const commandChecks = new Map<string, { path: string; at: number }>();

/**
 * What `execve` would say about running `command` from `cwd` with the job's PATH, said before the
 * wrapper runs it (the wrapper's own "not found" would read like the job's exit status 127): the
 * absolute path to run, or why it cannot start. Found commands are remembered for a few seconds.
 */
function locateCommand(
  command: string,
  env: Record<string, string>,
  cwd: string,
): { path: string } | { error: string } {
  const searchPath = env.PATH ?? '/usr/bin:/bin';
  const cacheKey = command.includes('/') ? `${cwd}\0${command}` : `${searchPath}\0${cwd}\0${command}`;
  const now = performance.now();
  const hit = commandChecks.get(cacheKey);
  if (hit !== undefined && now - hit.at < COMMAND_CHECK_TTL_MS) return { path: hit.path };
  const remember = (p: string) => {
    if (commandChecks.size > 1000) commandChecks.clear();
    commandChecks.set(cacheKey, { path: p, at: now });
    return { path: p };
  };
  if (!command.includes('/')) {
    for (const dir of searchPath.split(delimiter)) {
      const candidate = path.resolve(cwd, dir || '.', command);
      try {
        accessSync(candidate, fsConstants.X_OK);
        if (statSync(candidate).isFile()) return remember(candidate);
      } catch {
        // not here
      }
    }
    return { error: `cannot start ${command}: command not found on the job's PATH` };
  }
  const file = path.resolve(cwd, command);
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(file);
  } catch {
    return { error: `cannot start ${command}: no such file` };
  }
  const denied = {
    error: `cannot start ${command}: permission denied (make it executable with chmod +x, and check that ${cwd} is accessible)`,
  };
  if (!st.isFile()) return denied;
  try {
    accessSync(file, fsConstants.X_OK);
  } catch {
    return denied;
  }
  const interpreter = shebangInterpreter(file);
  if (interpreter?.startsWith('/') && !existsSync(interpreter))
    return { error: `cannot start ${command}: its interpreter (the #! line) was not found` };
  return remember(file);
}

/** The program named on a `#!` first line, if the file has one. */
function shebangInterpreter(file: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const buf = Buffer.alloc(256);
    const n = readSync(fd, buf, 0, buf.length, 0);
    if (n < 2 || buf[0] !== 0x23 || buf[1] !== 0x21) return undefined;
    const line = buf.toString('latin1', 2, n).split('\n')[0] ?? '';
    return line.trim().split(/\s+/)[0] || undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------
// The wrapper
// ---------------------------------------------------------------------------------------------

/**
 * The job's wrapper, run by `/bin/sh` (any POSIX sh: dash, bash, ash) as the job's process-group
 * leader: `sh -c WRAPPER rsqlo-job <cgroup or ''> <log file> <command> <args…>`. It
 *
 * 1. moves itself into the job's cgroup (before the job exists, so nothing the job starts can be
 *    outside it); a failure is said in the log and the job runs contained by its process group;
 * 2. appends `<key>\tstarted` to the exit journal, then checks that its stdout is still the
 *    attempt's log file (where `/dev/fd/1` shows the file it is: Linux, macOS). A claim (the log, made by the runner before the fork) whose runner died
 *    before starting it is taken back by recovery, which renames the log away first and only then
 *    looks for `started` ({@link reclaimAbandonedAttempt}): a wrapper that comes too late finds
 *    its log renamed, appends `<key>\tlost` and exits {@link LOST_CLAIM_EXIT} without running
 *    the job. Either the job runs under the first claim, or recovery sees it started;
 * 3. runs the job as its child, in the foreground. HUP/INT/TERM are *caught* (not ignored: the
 *    job gets them with their default action), so a kill of the group ends the job and the
 *    wrapper lives on to record it;
 * 4. appends the job's exit status to the exit journal — `<key>\t<code>`, or `<key>\tsignal:SIG…`
 *    when the job died of a terminating signal (128+n, told apart from `exit 128+n` as shells
 *    do) — and ends the same way (same code, or re-raising the signal), so whoever waits for the
 *    wrapper sees the job's own status.
 *
 * Only builtins run (a `kill -l` subshell only after a death by signal): the cost is one exec of
 * a small shell per job.
 */
/**
 * The wrapper's exit status when it found its claim taken back (its `lost` journal line says so):
 * it ran nothing.
 */
export const LOST_CLAIM_EXIT = 254;

const WRAPPER = [
  'c=$1 l=$2; shift 2',
  `if [ -n "$c" ]; then { echo $$ > "$c/cgroup.procs"; } 2>/dev/null || echo "rsqlo: could not move the job into its cgroup $c; it is contained by its process group only" >&2; fi`,
  `printf '%s\tstarted\n' "$${EXIT_KEY_ENV}" >> "$${EXIT_FILE_ENV}"`,
  `if [ -f /dev/fd/1 ] && ! [ "$l" -ef /dev/fd/1 ]; then printf '%s\tlost\n' "$${EXIT_KEY_ENV}" >> "$${EXIT_FILE_ENV}"; exit ${LOST_CLAIM_EXIT}; fi`,
  'trap : HUP INT TERM',
  '"$@"',
  's=$?',
  'n=',
  'if [ "$s" -gt 128 ]; then n=$(kill -l "$s" 2>/dev/null); fi',
  'case $n in HUP|INT|KILL|USR1|USR2|PIPE|ALRM|TERM)',
  `  printf '%s\tsignal:SIG%s\n' "$${EXIT_KEY_ENV}" "$n" >> "$${EXIT_FILE_ENV}"`,
  '  [ "$n" = KILL ] || trap - "$n"',
  '  kill -s "$n" $$ ;;',
  'esac',
  `printf '%s\t%s\n' "$${EXIT_KEY_ENV}" "$s" >> "$${EXIT_FILE_ENV}"`,
  'exit "$s"',
].join('\n');

/** The shell that runs {@link WRAPPER}: POSIX requires one at /bin/sh. */
const WRAPPER_SHELL = '/bin/sh';

/**
 * How a job's command is started under its wrapper: the program and argv to spawn (its stdout
 * and stderr must be the log file `logFile`, its environment the job's; see {@link startJob}).
 */
export function wrapperInvocation(
  cgroup: string | undefined,
  logFile: string,
  command: string,
  args: string[],
): { file: string; args: string[] } {
  return { file: WRAPPER_SHELL, args: ['-c', WRAPPER, 'rsqlo-job', cgroup ?? '', logFile, command, ...args] };
}

// ---------------------------------------------------------------------------------------------
// Starting a job
// ---------------------------------------------------------------------------------------------

/** How much of the log's end is read back for `errorTail`. */
const LOG_TAIL_BYTES = 4096;
const ERROR_TAIL_LINES = 10;
const ERROR_TAIL_CHARS = 2000;

/**
 * Starts one job attempt. Never throws: anything that prevents the start (log file not
 * writable, missing command or cwd, EACCES) resolves `done` with `exitCode: null` and
 * `spawnError` (also appended to the log when it could be opened).
 *
 * - The job runs under its wrapper ({@link WRAPPER}), `detached` (its own session and process
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
          : lastLines(readLogTail(logFd, logStart));
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
        if (spec.logPool) pools.get(spec.logPool)?.refill();
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

/**
 * The environment a job runs with: exactly `spec.env`, plus `RSQLO_EXIT_FILE` and
 * `RSQLO_EXIT_KEY` (which its wrapper writes the status with, and which tags its processes).
 */
export function jobEnvironment(
  spec: Pick<JobSpec, 'env' | 'exitFile' | 'exitKey' | 'logFile'>,
): Record<string, string> {
  return { ...spec.env, [EXIT_FILE_ENV]: spec.exitFile, [EXIT_KEY_ENV]: exitKey(spec) };
}

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

function appendQuietly(fd: number, data: string | Buffer): void {
  try {
    if (typeof data === 'string') writeSync(fd, data);
    else writeSync(fd, data);
  } catch {
    // disk full / I/O error: the log loses output, the job's outcome does not
  }
}

const pools = new Map<string, BlankFiles>();

/** Empty files made ahead of time in a folder, taken one per job (see JobSpec.logPool). */
class BlankFiles {
  private readonly ready: string[] = [];
  private filling = false;
  private seq = 0;

  constructor(
    private readonly dir: string,
    private readonly target = 8,
  ) {
    try {
      // Blanks left by an earlier process are as good as new ones.
      for (const name of readdirSync(dir)) this.ready.push(join(dir, name));
    } catch {
      // no pool yet
    }
  }

  take(): string | undefined {
    const blank = this.ready.pop();
    if (this.ready.length === 0) this.refill(this.target);
    return blank;
  }

  /**
   * Makes up to `count` blanks (default 2) toward the target, right after this turn: called when a
   * job ended, so the work overlaps the engine deciding what runs next.
   */
  refill(count = 2): void {
    if (this.filling || this.ready.length >= this.target) return;
    this.filling = true;
    setImmediate(() => {
      try {
        mkdirSync(this.dir, { recursive: true });
        for (let i = 0; i < count && this.ready.length < this.target; i++) {
          const blank = join(this.dir, `${process.pid}-${Date.now()}-${++this.seq}`);
          closeSync(openSync(blank, 'wx'));
          this.ready.push(blank);
        }
      } catch {
        // a full or read-only disk: logs are then created directly
      }
      this.filling = false;
    });
  }
}

/**
 * Opens the attempt's log, creating it. With a pool, by linking a blank into place (a link fails
 * when the log exists, which keeps `exclusive` exact); without one, or when the pool is empty or
 * elsewhere, by creating it. Throws EEXIST when `exclusive` and the log exists.
 */
function openLog(spec: JobSpec): number {
  if (spec.logPool) {
    let pool = pools.get(spec.logPool);
    if (!pool) {
      pool = new BlankFiles(spec.logPool);
      pools.set(spec.logPool, pool);
    }
    const blank = pool.take();
    if (blank) {
      try {
        linkSync(blank, spec.logFile);
        setImmediate(() => {
          try {
            unlinkSync(blank);
          } catch {
            // another process took it too; its link stands on its own
          }
        });
        return openSync(spec.logFile, 'a+');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EEXIST' && spec.exclusive) throw err;
        // EEXIST (append to it), ENOENT (someone else took the blank), EXDEV: open directly.
      }
    }
  }
  return openSync(spec.logFile, spec.exclusive ? 'ax+' : 'a+');
}

/** An attempt's key in the exit journal. */
export function exitKey(spec: Pick<JobSpec, 'exitKey' | 'logFile'>): string {
  return spec.exitKey ?? spec.logFile;
}

/** Our copy of the exit status: one line appended to the journal (the trap writes only if we died). */
function writeExitFile(path: string, key: string, code: number | null, signal: NodeJS.Signals | null): void {
  try {
    appendFileSync(path, `${key}\t${code !== null ? String(code) : `signal:${signal ?? 'unknown'}`}\n`);
  } catch {
    // the journal's directory is gone: nothing useful to do, `done` carries the outcome
  }
}

/** The last ERROR_TAIL_LINES non-trailing-blank lines, at most ERROR_TAIL_CHARS, trimmed. */
function lastLines(text: string): string {
  const lines = text.split('\n');
  while (lines.length > 0 && lines[lines.length - 1]?.trim() === '') lines.pop();
  let out = visibleCarriageReturns(lines.slice(-ERROR_TAIL_LINES).join('\n'));
  if (out.length > ERROR_TAIL_CHARS) out = out.slice(-ERROR_TAIL_CHARS);
  return out.trim();
}

/**
 * A job's error lines with every carriage return written as the two characters `\r`: a raw one
 * would make a terminal overwrite the line (`cd: $'/data\r'` showing as a garbled `cd:` line), and
 * a CRLF script is the usual cause of the failure, so it must be seen.
 */
export function visibleCarriageReturns(text: string): string {
  return text.includes('\r') ? text.replaceAll('\r', '\\r') : text;
}

/** Bounded read of this attempt's part of the log: at most LOG_TAIL_BYTES from its end. */
function readLogTail(fd: number, from: number): string {
  try {
    const size = fstatSync(fd).size;
    const start = Math.max(from, size - LOG_TAIL_BYTES);
    const length = size - start;
    if (length <= 0) return '';
    const buf = Buffer.allocUnsafe(length);
    const n = readSync(fd, buf, 0, length, start);
    let text = buf.toString('utf8', 0, n);
    // The first line is probably cut (and may start mid-character): drop it.
    if (start > from) text = text.slice(text.indexOf('\n') + 1);
    return text;
  } catch {
    return '';
  }
}

// ---------------------------------------------------------------------------------------------
// After a crash: the journal, the job's processes
// ---------------------------------------------------------------------------------------------

/**
 * An attempt's exit status from the exit journal after a crash: `{ exitCode }`, `{ signal }` (e.g.
 * `SIGTERM`), or undefined when it has none (still running, never ran, or its wrapper was
 * SIGKILLed with nobody left to write). The last readable line for the key wins.
 */
export function readExitFile(
  path: string,
  key: string,
): { exitCode: number } | { signal: string } | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const prefix = `${key}\t`;
  let found: { exitCode: number } | { signal: string } | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const status = line.slice(prefix.length).trim();
    if (/^-?\d+$/.test(status)) found = { exitCode: Number(status) };
    else {
      const m = /^signal:(SIG[A-Z0-9+-]+)$/.exec(status);
      if (m?.[1] !== undefined) found = { signal: m[1] };
    }
  }
  return found;
}

/**
 * What the exit journal says about an attempt: its exit status (see {@link readExitFile}), whether
 * its wrapper started (the last of its `started` / `lost` lines is `started`), and whether its claim
 * was taken back (that line is `lost`).
 */
export function readJournal(
  path: string,
  key: string,
): { status: { exitCode: number } | { signal: string } | undefined; started: boolean; lost: boolean } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return { status: undefined, started: false, lost: false };
  }
  const prefix = `${key}\t`;
  let mark: 'started' | 'lost' | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const rest = line.slice(prefix.length).trim();
    if (rest === 'started' || rest === 'lost') mark = rest;
  }
  return { status: readExitFile(path, key), started: mark === 'started', lost: mark === 'lost' };
}

/**
 * After a crash: an attempt whose log exists (it was claimed) but whose process never showed up
 * and that has no exit status. Decides, exactly, whether it may be started again:
 *
 * - `ran`: its wrapper had started (the journal says so): it ran and vanished without a status
 *   (its wrapper was SIGKILLed with nobody of ours alive); the outcome is unknown, never re-run.
 * - `reclaimed`: it never started — the runner that claimed it died before the fork. Its log is
 *   renamed away (`<log>.abandoned-<ms>`), so a wrapper still on its way finds its claim gone and
 *   runs nothing (see the wrapper); the log path is free, start the attempt now.
 * - `raced`: a wrapper started just as the log was renamed: the log is put back; look again (it
 *   runs, or it says `lost` and the next look reclaims it).
 */
export function reclaimAbandonedAttempt(a: {
  logFile: string;
  exitFile: string;
  exitKey?: string;
}): 'ran' | 'reclaimed' | 'raced' {
  const key = a.exitKey ?? a.logFile;
  if (readJournal(a.exitFile, key).started) return 'ran';
  const aside = `${a.logFile}.abandoned-${Date.now()}`;
  try {
    renameSync(a.logFile, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (!readJournal(a.exitFile, key).started) return 'reclaimed';
  try {
    linkSync(aside, a.logFile);
    unlinkSync(aside);
  } catch {
    // the path was taken meanwhile: the started wrapper writes to the renamed file
  }
  return 'raced';
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
