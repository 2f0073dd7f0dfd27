/**
 * The job runner shared by the local engine and the EC2 agent daemon (DESIGN §4, §5).
 *
 * It runs one job attempt as its own process group, sends its output to a per-attempt log file
 * (`>log 2>&1`-like), reports a {@link JobOutcome}, and kills the whole process tree on timeout
 * or cancel. It is built for two constraints:
 *
 * - **Speed**: the local engine runs thousands of tiny jobs, so the per-job work on our side is a
 *   handful of small synchronous syscalls around `child_process.spawn` — no wrapper process, no
 *   shell, no per-job timers unless the job is killed.
 * - **Crash safety**: every job records its own exit status in `exitFile` (a bash `EXIT` trap
 *   installed through `BASH_ENV`, plus our own write), and {@link RunningJob.startTicks} lets a
 *   restarted engine recognise the very same process after a crash ({@link isSameProcessAlive})
 *   and kill it with everything it spawned ({@link killProcessTree}).
 *
 * Linux `/proc` is used where present (start ticks, escaped descendants); elsewhere the runner
 * falls back to process-group signals only.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  accessSync,
  appendFileSync,
  closeSync,
  existsSync,
  constants as fsConstants,
  fstatSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, delimiter, extname, join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { setTimeout as sleep } from 'node:timers/promises';

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
 * Default time between SIGTERM and SIGKILL when killing a job: 1000 ms. Long enough for a script
 * to run its cleanup trap, short enough that a timeout really ends the job.
 */
export const DEFAULT_KILL_GRACE_MS = 1000;

/**
 * Name of the environment variable carrying the exit-file path into the job. Exported so that
 * scripts, the agent and recovery code agree on it; it also tags every process of the job, which
 * is how {@link killProcessTree} finds double-forked escapees.
 */
export const EXIT_FILE_ENV = 'RSQLO_EXIT_FILE';

/**
 * Name of the environment variable carrying the attempt's key (its line in the exit journal). It
 * tags every process of the job: {@link findJobProcesses} and {@link killProcessTree} find the
 * job's processes, double-forked escapees included, by it.
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
   * engine never leak into jobs by accident). The runner adds `RSQLO_EXIT_FILE` and, for bash,
   * `BASH_ENV` (the user's own `BASH_ENV` is still honoured).
   */
  env: Record<string, string>;
  /** Log file, opened in append mode; gets stdout and stderr of the job. */
  logFile: string;
  /**
   * The exit journal: where the job's exit status is appended as a `<exitKey>\t<code>` (or
   * `<exitKey>\tsignal:<NAME>`) line, read back by {@link readExitFile} after a crash. Many
   * attempts share one journal (a run's); appending to it costs a fraction of creating a file per
   * job. Its directory must exist.
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
   * Whether a bash job records its own exit status if this process dies (default true): the
   * `BASH_ENV` trap. A runner that outlives the processes it reports to (the local job host) may
   * turn it off and spare every job the trap's cost.
   */
  exitTrap?: boolean;
  /**
   * A folder of empty files made ahead of time, on the log's file system (default: none). Creating
   * a file costs ~0.5 ms on some disks, linking an existing one a tenth of that: the log is made by
   * linking a blank into place, and the blanks are refilled in the background.
   */
  logPool?: string;
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
   * The last lines worth showing in an alert: the stderr tail if the job wrote to stderr,
   * otherwise the end of its stdout (read back from the log). At most 10 lines / 2000 chars,
   * trimmed; empty when the job printed nothing.
   */
  errorTail: string;
  /** Why the job could not be started at all (missing command, bad cwd, log not writable…). */
  spawnError?: string;
  /** With `exclusive`: someone else had already claimed this attempt (its log existed); nothing ran. */
  claimed?: boolean;
}

/** A started job attempt. */
export interface RunningJob {
  /** Process id (= process-group id) of the job; 0 when it could not be started. */
  pid: number;
  /**
   * Start time of the process in clock ticks since boot (`/proc/<pid>/stat` field 22), stored
   * with the pid so a restarted engine can tell the job from a process that reused its pid.
   * `undefined` where `/proc` is unavailable or the job did not start.
   */
  startTicks: string | undefined;
  startedAt: Date;
  /** Resolves once the job has ended; never rejects (spawn failures are in `spawnError`). */
  done: Promise<JobOutcome>;
  /**
   * Kills the job's process group and every descendant that escaped it (SIGTERM, then SIGKILL
   * after `killGraceMs`). Resolves when they are gone (bounded: a process stuck in the kernel
   * does not block forever). The first reason given is the one reported in `done`.
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

// ---------------------------------------------------------------------------------------------
// Command resolution
// ---------------------------------------------------------------------------------------------

/**
 * Maps a job's script to the program and argv that run it, so that workflow definitions can name
 * scripts by path without caring how they are launched:
 *
 * - `*.sh` → `bash <path> ...args` (no execute bit needed, and bash gets the exit-status trap);
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

// ---------------------------------------------------------------------------------------------
// The bash exit-status trap (BASH_ENV)
// ---------------------------------------------------------------------------------------------

/** Set (and exported to children) once a job's top-level bash installed the trap; nested bash skip it. */
const TRAP_GUARD_ENV = 'RSQLO_EXIT_TRAP_SET';
/** Carries the user's own BASH_ENV, which our trap file sources after installing the trap. */
const USER_BASH_ENV = 'RSQLO_USER_BASH_ENV';

/**
 * Sourced by every non-interactive bash of a job (BASH_ENV). Only the first one (the job's
 * top-level bash) installs the traps, so `bash -c 'exit 3'` inside the script cannot overwrite
 * the status. `$?` on EXIT is the script's exit status. A bash killed by TERM/INT/HUP would run
 * the EXIT trap with a misleading `$?` (the last command's status, often 0), so those signals
 * record `signal:SIG…` and re-raise the signal instead: the job still dies of it. SIGKILL leaves
 * no file (the runner, if alive, writes `signal:SIGKILL`). A script that sets its own EXIT trap
 * replaces ours (then only the runner writes the file).
 */
const BASH_EXIT_TRAP = `# rsqlo: record the job's exit status in $${EXIT_FILE_ENV}, even if the runner dies.
# Sourced through BASH_ENV; written by agent/job-runner.ts. Do not edit.
if [ -z "\${${TRAP_GUARD_ENV}-}" ] && [ -n "\${${EXIT_FILE_ENV}-}" ]; then
  export ${TRAP_GUARD_ENV}=1
  __rsqlo_exit_file=$${EXIT_FILE_ENV}
  __rsqlo_exit_key=$${EXIT_KEY_ENV}
  __rsqlo_on_signal() {
    { printf '%s\\tsignal:SIG%s\\n' "$__rsqlo_exit_key" "$1" >> "$__rsqlo_exit_file"; } 2>/dev/null
    trap - EXIT "$1"
    kill -s "$1" "$$"
  }
  __rsqlo_parent=$PPID
  __rsqlo_on_exit() {
    local status=$? ppid=
    # The runner (our parent) records the status itself; write it only if the runner is gone.
    { read -r _ _ _ ppid _ < "/proc/$$/stat"; } 2>/dev/null
    if [ "$ppid" != "$__rsqlo_parent" ]; then
      { printf '%s\\t%s\\n' "$__rsqlo_exit_key" "$status" >> "$__rsqlo_exit_file"; } 2>/dev/null
    fi
  }
  trap __rsqlo_on_exit EXIT
  trap '__rsqlo_on_signal TERM' TERM
  trap '__rsqlo_on_signal INT' INT
  trap '__rsqlo_on_signal HUP' HUP
fi
if [ -n "\${${USER_BASH_ENV}-}" ]; then
  . "$${USER_BASH_ENV}"
fi
`;

/** How often the cached trap file is checked to still exist (tmp cleaners on long-lived daemons). */
const TRAP_FILE_RECHECK_MS = 60_000;
let trapFile: { path: string; checkedAt: number } | undefined;

/**
 * The trap file lives in a private per-user directory under `os.tmpdir()`
 * (`rsqlo-<uid>/bash-exit-trap-<hash>.sh`, mode 0700, checked to be ours and not a symlink, so
 * another user cannot plant code there; falls back to a fresh `mkdtemp` dir). The name carries a
 * hash of the content, so every runner version and every process of this user share one
 * immutable file, written atomically once. Not next to the exit file: that would cost a write
 * per job directory. Returns undefined if it cannot be written (jobs then run without the trap;
 * the runner still writes the exit file).
 */
function bashExitTrapFile(): string | undefined {
  const now = Date.now();
  if (trapFile !== undefined && now - trapFile.checkedAt < TRAP_FILE_RECHECK_MS) return trapFile.path;
  if (trapFile !== undefined && existsSync(trapFile.path)) {
    trapFile.checkedAt = now;
    return trapFile.path;
  }
  try {
    const hash = createHash('sha256').update(BASH_EXIT_TRAP).digest('hex').slice(0, 16);
    const file = join(privateDir(), `bash-exit-trap-${hash}.sh`);
    if (!existsSync(file)) {
      const tmp = `${file}.${process.pid}.${now}.tmp`;
      writeFileSync(tmp, BASH_EXIT_TRAP, { mode: 0o644 });
      renameSync(tmp, file);
    }
    trapFile = { path: file, checkedAt: now };
    return file;
  } catch {
    return undefined;
  }
}

function privateDir(): string {
  const uid = process.getuid?.();
  const dir = join(tmpdir(), `rsqlo-${uid ?? 'user'}`);
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const st = lstatSync(dir);
  const ours = st.isDirectory() && (uid === undefined || st.uid === uid) && (st.mode & 0o077) === 0;
  return ours ? dir : mkdtempSync(join(tmpdir(), 'rsqlo-'));
}

// ---------------------------------------------------------------------------------------------
// Starting a job
// ---------------------------------------------------------------------------------------------

/** Raw stderr kept for the tail: the last 4 KB (≈ 20 lines). */
const STDERR_TAIL_CHARS = 4096;
/** How much of the log's end is read back for the stdout fallback of `errorTail`. */
const LOG_TAIL_BYTES = 4096;
const ERROR_TAIL_LINES = 10;
const ERROR_TAIL_CHARS = 2000;
/**
 * After the job's main process exits, how long we wait for stderr to reach EOF. Only matters
 * when background children still hold stderr open; their later output still goes to the log.
 */
const STDERR_DRAIN_MS = 100;

/**
 * Starts one job attempt. Never throws: anything that prevents the start (log file not
 * writable, missing command or cwd, EACCES) resolves `done` with `exitCode: null` and
 * `spawnError` (also appended to the log when it could be opened).
 *
 * - The job runs `detached` (its own session and process group, so it can be killed as a whole
 *   and does not get our terminal's signals), stdin ignored.
 * - stdout is the log file's own fd (append mode, zero copies); stderr comes through a pipe that
 *   we append to the same file, keeping a bounded tail for `errorTail`. The log reads like
 *   `>log 2>&1`; ordering between the two streams is near-, not strictly, interleaved.
 * - The environment is exactly `spec.env` plus `RSQLO_EXIT_FILE`, and for `bash` jobs the
 *   `BASH_ENV` exit-status trap (see `BASH_EXIT_TRAP`).
 * - When the job ends we write the exit file too (`<code>` or `signal:<NAME>`), so jobs that are
 *   not bash have one and signal deaths are recorded exactly.
 *
 * When the main process exits, `done` resolves; background children it left running are not
 * killed (call {@link RunningJob.kill} for that) and their output keeps going to the log.
 * Crash caveat: if this process dies, the job keeps running but its stderr pipe has no reader,
 * so its next write to stderr fails (SIGPIPE/EPIPE).
 */
export function startJob(spec: JobSpec): RunningJob {
  const startedAt = new Date();
  const t0 = performance.now();
  const graceMs = spec.killGraceMs ?? DEFAULT_KILL_GRACE_MS;

  let fd: number | undefined;
  let logStart = 0;
  let child: ChildProcess;
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
    child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: jobEnvironment(spec),
      stdio: ['ignore', fd, 'pipe'],
      detached: true,
    });
  } catch (err) {
    const message = describeStartError(err, spec, fd === undefined);
    if (fd !== undefined) {
      appendQuietly(fd, `rsqlo: ${message}\n`);
      closeSync(fd);
    }
    return failedJob(startedAt, t0, message);
  }
  const logFd: number = fd;
  const pid = child.pid ?? 0;
  const startTicks = pid > 0 ? readProc(pid)?.startTicks : undefined;

  let stderrTail = '';
  let stderrSeen = false;
  let stderrClosed = false;
  let exited = false;
  let finished = false;
  let fdClosed = false;
  let killedFor: KillReason | undefined;
  let exitCode: number | null = null;
  let exitSignal: NodeJS.Signals | null = null;
  let spawnError: string | undefined;
  let drainTimer: NodeJS.Timeout | undefined;
  const decoder = new StringDecoder('utf8');

  let resolveDone!: (outcome: JobOutcome) => void;
  const done = new Promise<JobOutcome>((resolve) => {
    resolveDone = resolve;
  });
  let resolveExited!: () => void;
  const exitedPromise = new Promise<void>((resolve) => {
    resolveExited = resolve;
  });

  const closeFd = (): void => {
    if (fdClosed) return;
    fdClosed = true;
    closeSync(logFd);
  };

  const finish = (): void => {
    if (finished) return;
    finished = true;
    if (drainTimer !== undefined) clearTimeout(drainTimer);
    // The exit file is for a runner that died before reporting: write it after reporting, off the
    // path from one job to the next.
    // (two turns later: after whoever awaits `done` has sent its report).
    if (spawnError === undefined) {
      setImmediate(() =>
        setImmediate(() => {
          writeExitFile(spec.exitFile, exitKey(spec), exitCode, exitSignal);
          if (spec.logPool) pools.get(spec.logPool)?.refill();
        }),
      );
    }
    const errorTail =
      spawnError !== undefined
        ? spawnError
        : stderrSeen
          ? lastLines(stderrTail + decoder.end())
          : exitCode === 0
            ? '' // a success needs no error lines: spare the read
            : lastLines(readLogTail(logFd, logStart));
    if (stderrClosed) closeFd();
    else (child.stderr as Socket | null)?.unref();
    const finishedAt = new Date();
    resolveDone({
      exitCode,
      signal: exitSignal,
      ...(killedFor !== undefined ? { killedFor } : {}),
      startedAt,
      finishedAt,
      durationMs: Math.max(0, Math.round((performance.now() - t0) * 1000) / 1000),
      errorTail,
      ...(spawnError !== undefined ? { spawnError } : {}),
    });
  };

  const stderr = child.stderr;
  if (stderr) {
    stderr.on('data', (chunk: Buffer) => {
      if (!fdClosed) appendQuietly(logFd, chunk);
      if (finished) return;
      const text = decoder.write(chunk);
      if (!stderrSeen && text.trim() !== '') stderrSeen = true;
      stderrTail += text;
      if (stderrTail.length > 2 * STDERR_TAIL_CHARS) stderrTail = stderrTail.slice(-STDERR_TAIL_CHARS);
    });
    stderr.on('error', () => {
      // a broken pipe on our side only loses stderr output; the exit status still counts
    });
    stderr.on('close', () => {
      stderrClosed = true;
      if (finished) closeFd();
      else if (exited) finish();
    });
  } else {
    stderrClosed = true;
  }

  child.on('error', (err) => {
    if (exited || finished) return;
    exited = true;
    spawnError = describeStartError(err, spec, false);
    appendQuietly(logFd, `rsqlo: ${spawnError}\n`);
    resolveExited();
    stderr?.destroy();
    finish();
  });
  child.on('exit', (code, signal) => {
    if (exited) return;
    exited = true;
    exitCode = code;
    exitSignal = signal;
    resolveExited();
    if (stderrClosed) finish();
    else drainTimer = setTimeout(finish, STDERR_DRAIN_MS);
  });

  let killing: Promise<void> | undefined;
  const kill = (reason: KillReason): Promise<void> => {
    if (!exited && killedFor === undefined) killedFor = reason;
    if (pid <= 0) return Promise.resolve();
    killing ??= (async () => {
      await killTree({ pid, startTicks, exitKey: exitKey(spec), graceMs, reaped: () => exited });
      if (!exited) await withTimeout(exitedPromise, KILL_WAIT_MAX_MS);
    })();
    return killing;
  };

  return { pid, startTicks, startedAt, done, kill };
}

/**
 * The environment a job runs with: exactly `spec.env`, plus `RSQLO_EXIT_FILE`, plus (for bash)
 * `BASH_ENV` pointing at the exit-status trap, with the user's own `BASH_ENV` passed on in
 * `RSQLO_USER_BASH_ENV`. Exported so tests and tools can run a job's command by other means and
 * still get the trap.
 */
export function jobEnvironment(
  spec: Pick<JobSpec, 'command' | 'env' | 'exitFile' | 'exitKey' | 'logFile' | 'exitTrap'>,
): Record<string, string> {
  const env: Record<string, string> = {
    ...spec.env,
    [EXIT_FILE_ENV]: spec.exitFile,
    [EXIT_KEY_ENV]: exitKey(spec),
  };
  delete env[TRAP_GUARD_ENV];
  delete env[USER_BASH_ENV];
  if (spec.exitTrap !== false && basename(spec.command) === 'bash') {
    const trap = bashExitTrapFile();
    if (trap !== undefined) {
      const userBashEnv = spec.env.BASH_ENV;
      if (userBashEnv !== undefined && userBashEnv !== '') env[USER_BASH_ENV] = userBashEnv;
      env.BASH_ENV = trap;
    }
  }
  return env;
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
    if (spec.command.includes('/') && existsSync(spec.command)) {
      return `cannot start ${spec.command}: its interpreter (the #! line) was not found`;
    }
    return spec.command.includes('/')
      ? `cannot start ${spec.command}: no such file`
      : `cannot start ${spec.command}: command not found on the job's PATH`;
  }
  if (e.code === 'EACCES') {
    return `cannot start ${spec.command}: permission denied (make it executable with chmod +x, and check that ${spec.cwd} is accessible)`;
  }
  // Node's own argument errors quote the offending value, which may be a secret from env.
  if (e.code?.startsWith('ERR_'))
    return `cannot start ${spec.command}: invalid argument or environment value (${e.code})`;
  return `cannot start ${spec.command}: ${e.code ?? ''} ${e.message}`.trim();
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
  const lines = text.split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1]?.trim() === '') lines.pop();
  let out = lines.slice(-ERROR_TAIL_LINES).join('\n');
  if (out.length > ERROR_TAIL_CHARS) out = out.slice(-ERROR_TAIL_CHARS);
  return out.trim();
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
// /proc helpers and crash recovery
// ---------------------------------------------------------------------------------------------

interface ProcInfo {
  pid: number;
  ppid: number;
  pgrp: number;
  /** Single-letter state; Z (zombie) and X (dead) count as gone. */
  state: string;
  startTicks: string;
}

let procAvailable: boolean | undefined;
function hasProc(): boolean {
  procAvailable ??= existsSync('/proc/self/stat');
  return procAvailable;
}

function parseStat(pid: number, text: string): ProcInfo | undefined {
  // comm (field 2) is in parentheses and may contain spaces and ')': split after the last ')'.
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const f = text.slice(close + 2).split(' ');
  const state = f[0];
  const ppid = f[1];
  const pgrp = f[2];
  const startTicks = f[19]; // field 22
  if (state === undefined || ppid === undefined || pgrp === undefined || startTicks === undefined)
    return undefined;
  return { pid, ppid: Number(ppid), pgrp: Number(pgrp), state, startTicks };
}

function readProc(pid: number): ProcInfo | undefined {
  if (!hasProc()) return undefined;
  try {
    return parseStat(pid, readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return undefined;
  }
}

function scanProcs(): Map<number, ProcInfo> {
  const procs = new Map<number, ProcInfo>();
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return procs;
  }
  for (const name of names) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    const info = readProc(Number(name));
    if (info !== undefined) procs.set(info.pid, info);
  }
  return procs;
}

function isLive(p: ProcInfo): boolean {
  return p.state !== 'Z' && p.state !== 'X';
}

function environHas(pid: number, marker: Buffer): boolean {
  try {
    const env = readFileSync(`/proc/${pid}/environ`);
    let at = env.indexOf(marker);
    while (at >= 0) {
      if (at === 0 || env[at - 1] === 0) return true;
      at = env.indexOf(marker, at + 1);
    }
  } catch {
    // another user's process, or gone
  }
  return false;
}

/**
 * Whether `pid` is still the very process that was started (same start ticks), used after a
 * crash to decide whether a recorded job is still running. A zombie counts as dead. With
 * `startTicks` undefined (no `/proc` when it was started) only liveness is checked.
 */
export function isSameProcessAlive(pid: number, startTicks: string | undefined): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (hasProc()) {
    const p = readProc(pid);
    if (p === undefined || !isLive(p)) return false;
    return startTicks === undefined || p.startTicks === startTicks;
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * An attempt's exit status from the exit journal after a crash: `{ exitCode }`, `{ signal }` (e.g.
 * `SIGTERM`), or undefined when it has none (the job was SIGKILLed, or is still running, or never
 * ran). The last line for the key wins.
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
  let status: string | undefined;
  for (const line of text.split('\n')) if (line.startsWith(prefix)) status = line.slice(prefix.length).trim();
  if (status === undefined) return undefined;
  if (/^-?\d+$/.test(status)) return { exitCode: Number(status) };
  const m = /^signal:(SIG[A-Z0-9+-]+)$/.exec(status);
  return m?.[1] !== undefined ? { signal: m[1] } : undefined;
}

/**
 * Live processes of a job, found by the `RSQLO_EXIT_KEY=<key>` entry every process of the job
 * inherits. After a crash this tells whether a job whose pid was never recorded is running after
 * all (so it is adopted, not started twice). The lowest pid (the job's leader) comes first.
 */
export function findJobProcesses(key: string): Array<{ pid: number; startTicks: string }> {
  if (!hasProc()) return [];
  const marker = Buffer.from(`${EXIT_KEY_ENV}=${key}\0`);
  const out: Array<{ pid: number; startTicks: string }> = [];
  for (const p of scanProcs().values()) {
    if (!isLive(p) || p.pid === process.pid || p.pid === 1) continue;
    if (environHas(p.pid, marker)) out.push({ pid: p.pid, startTicks: p.startTicks });
  }
  return out.sort((a, b) => a.pid - b.pid);
}

/**
 * Kills an orphaned job found after a crash, like {@link RunningJob.kill} does for a live one:
 * SIGTERM to the process group `pid` and to every descendant that escaped it, SIGKILL after
 * `graceMs` (default {@link DEFAULT_KILL_GRACE_MS}), resolves when they are gone.
 *
 * Pass `opts.startTicks` (from {@link RunningJob.startTicks}) so that a reused pid is not taken
 * for the job, and `opts.exitFile` so that processes which double-forked away from the job (and
 * so are no longer its descendants) are found by the `RSQLO_EXIT_KEY` entry in their
 * environment. Without `/proc`, only the process group is signalled.
 */
export function killProcessTree(
  pid: number,
  graceMs: number = DEFAULT_KILL_GRACE_MS,
  opts?: { startTicks?: string; exitKey?: string },
): Promise<void> {
  return killTree({
    pid,
    startTicks: opts?.startTicks,
    exitKey: opts?.exitKey,
    graceMs,
    reaped: () => true,
  });
}

/** Polling interval while waiting for a killed tree to disappear. */
const KILL_POLL_MS = 20;
/** After SIGKILL, how long we wait before giving up (a process stuck in D state). */
const KILL_WAIT_MAX_MS = 5000;

interface KillTarget {
  pid: number;
  startTicks: string | undefined;
  exitKey: string | undefined;
  graceMs: number;
  /** False while our own child (the leader) has not been reaped yet. */
  reaped: () => boolean;
}

async function killTree(t: KillTarget): Promise<void> {
  if (!Number.isInteger(t.pid) || t.pid <= 1 || t.pid === process.pid) return;
  if (!hasProc()) return killGroupOnly(t);

  const ownPgrp = readProc(process.pid)?.pgrp;
  const tracked = new Map<number, string>(); // pid → start ticks
  const marker = t.exitKey !== undefined ? Buffer.from(`${EXIT_KEY_ENV}=${t.exitKey}\0`) : undefined;

  let procs = scanProcs();
  const leader = procs.get(t.pid);
  const leaderIsOurs =
    leader !== undefined && (t.startTicks === undefined || leader.startTicks === t.startTicks);
  // A pid is never reused while it still names a process group, so if the pid now belongs to
  // another process, our group is gone (only env-tagged escapees may remain).
  const pgid = (leader === undefined || leaderIsOurs) && t.pid !== ownPgrp ? t.pid : undefined;
  if (leaderIsOurs && isLive(leader)) tracked.set(leader.pid, leader.startTicks);

  const track = (withMarker: boolean): void => {
    const children = new Map<number, ProcInfo[]>();
    for (const p of procs.values()) {
      if (!isLive(p) || p.pid === process.pid) continue;
      if (!tracked.has(p.pid)) {
        if (pgid !== undefined && p.pgrp === pgid) tracked.set(p.pid, p.startTicks);
        else if (withMarker && marker !== undefined && p.pid !== 1 && environHas(p.pid, marker)) {
          tracked.set(p.pid, p.startTicks);
        }
      }
      const list = children.get(p.ppid);
      if (list === undefined) children.set(p.ppid, [p]);
      else list.push(p);
    }
    const queue = [...tracked.keys()].filter((pid) => procs.get(pid)?.startTicks === tracked.get(pid));
    for (let pid = queue.pop(); pid !== undefined; pid = queue.pop()) {
      for (const c of children.get(pid) ?? []) {
        if (tracked.has(c.pid)) continue;
        tracked.set(c.pid, c.startTicks);
        queue.push(c.pid);
      }
    }
  };
  const living = (): number[] => {
    const out: number[] = [];
    for (const [pid, ticks] of tracked) {
      const p = procs.get(pid);
      if (p !== undefined && p.startTicks === ticks && isLive(p)) out.push(pid);
    }
    return out;
  };
  const signal = (sig: NodeJS.Signals, sent: Set<number>, pids: number[]): void => {
    if (pgid !== undefined && !sent.has(-pgid)) {
      sent.add(-pgid);
      trySignal(-pgid, sig);
    }
    for (const pid of pids) {
      if (sent.has(pid)) continue;
      sent.add(pid);
      trySignal(pid, sig);
    }
  };

  // Snapshot the tree before signalling: once a parent dies its children are re-parented and
  // can no longer be found by ppid (the ones we already track are followed by pid + ticks).
  track(true);
  const termed = new Set<number>();
  if (t.graceMs > 0) {
    signal('SIGTERM', termed, living());
    const deadline = performance.now() + t.graceMs;
    while (performance.now() < deadline) {
      await sleep(Math.min(KILL_POLL_MS, Math.max(1, deadline - performance.now())));
      procs = scanProcs();
      track(false);
      const live = living();
      if (live.length === 0 && t.reaped()) return;
      signal('SIGTERM', termed, live);
    }
  }
  procs = scanProcs();
  track(true);
  const killed = new Set<number>();
  signal('SIGKILL', killed, living());
  const deadline = performance.now() + KILL_WAIT_MAX_MS;
  while (performance.now() < deadline) {
    await sleep(KILL_POLL_MS);
    procs = scanProcs();
    track(false);
    const live = living();
    if (live.length === 0 && t.reaped()) return;
    signal('SIGKILL', killed, live);
  }
}

/** Without /proc: signal the process group only and poll it with signal 0. */
async function killGroupOnly(t: KillTarget): Promise<void> {
  const groupAlive = (): boolean => {
    try {
      process.kill(-t.pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
  };
  const waitGone = async (ms: number): Promise<boolean> => {
    const deadline = performance.now() + ms;
    while (performance.now() < deadline) {
      if (!groupAlive() && t.reaped()) return true;
      await sleep(KILL_POLL_MS);
    }
    return !groupAlive() && t.reaped();
  };
  if (t.graceMs > 0) {
    trySignal(-t.pid, 'SIGTERM');
    if (await waitGone(t.graceMs)) return;
  }
  trySignal(-t.pid, 'SIGKILL');
  await waitGone(KILL_WAIT_MAX_MS);
}

/** Resolves when `p` settles or after `ms`, without leaving a timer behind. */
async function withTimeout(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

function trySignal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // ESRCH: already gone; EPERM: not ours to kill
  }
}
