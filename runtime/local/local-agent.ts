import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { RsqloEvent } from '../../contracts/events.js';
import type { JobCommand } from '../../contracts/jobs.js';
import { type HostedJob, JobHost } from '../../host/job-host.js';
import {
  type JobOutcome,
  type JobSpec,
  type KillReason,
  killJob,
  readExitFile,
  reclaimAbandonedAttempt,
  resolveCommand,
  resolveScript,
  startJob,
  visibleCarriageReturns,
} from '../../host/job-runner.js';
import {
  ADOPT_POLL_MS,
  decideRecovery,
  type ExitRecord,
  type JobProcess,
  type LookDecision,
  lookAtAttempt,
  type UnknownReason,
  unknownOutcomeMessage,
} from '../../host/recovery.js';
import { agentJobFinished, agentJobStarted, jobIdentityEnv, outcomeStatus } from '../../host/reports.js';
import { isSameProcessAlive, jobContainment } from '../../platform/processes.js';
import type { AgentFleet, AgentRef, Logger } from '../../services/ports.js';
import type { JobRunRow, LocalStore } from './store.js';

/** The local agent's instance id in audit records. */
export const LOCAL_INSTANCE_ID = 'local';

export interface LocalAgentOptions {
  store: LocalStore;
  home: string;
  /** Folder the workflow's script names resolve under. */
  scriptRoot: (workflowId: string) => string | undefined;
  /** The environment every job starts from (PATH, connection settings…); job variables go on top. */
  baseEnv: () => Record<string, string>;
  /** How `.sql` scripts run (default: `rsql` from the jobs' PATH). */
  rsqlCommand?: string[];
  /** Most scripts running at once on this host; more wait in line. */
  maxProcesses: number;
  /**
   * Runs once before the first job starts, and returns variables every job gets (the database
   * connection: starting the embedded PostgreSQL is only worth it when a job runs).
   */
  prepare?: () => Promise<Record<string, string>>;
  /** Hears problems worth telling the user (e.g. the database could not be started). */
  onWarning?: (message: string) => void;
  /**
   * Hears, once, facts the user should know about how jobs run: today, that jobs are contained by
   * their process group only (no cgroup can be made here), which a job's daemon can escape.
   */
  onNotice?: (message: string) => void;
  /** How jobs are contained (default `auto`: a cgroup per job where possible, else the process group). */
  containment?: 'auto' | 'process-group';
  /** Run jobs from the separate job host process (default true); false runs them from this process. */
  jobHost?: boolean;
  killGraceMs?: number;
  log: Logger;
  /** Tells the engine loop that something happened. */
  wake: () => void;
  /**
   * Commits a report (JobFinished and the job run's end); the engine also handles what follows
   * from it in the same transaction. Default: a plain transaction, delivered by the loop later.
   */
  commitReport?: (write: () => void) => void;
}

/** How long a job runs before its JobStarted is written on its own (shorter jobs: with JobFinished). */
export const JOB_STARTED_GRACE_MS = 25;

/** Where a job attempt's log and exit status go (its key in the exit journal is its log file). */
export function jobFiles(home: string, exec: string, jobKey: string, attempt: number) {
  return {
    logFile: path.join(home, 'logs', exec, `${jobKey}.a${attempt}.log`),
    /** The run's exit journal; each attempt's line is keyed by its log file's path. */
    exitFile: path.join(home, 'runs', exec, 'exits'),
  };
}

/**
 * The in-process agent: the same job runner as the EC2 daemon, spawning scripts directly, one
 * process group per job, with a per-host limit on how many run at once. It reports like the
 * daemon does: JobStarted, then JobFinished plus the task result (here: the job run row).
 */
export class LocalAgent implements AgentFleet {
  private readonly running = new Map<string, { job: HostedJob; exec: string }>();
  private readonly host = new JobHost((id) => this.lost(id));
  private readonly adopted = new Map<
    string,
    { exec: string; pid: number; ticks: string | undefined; key: string }
  >();
  /** Job runs being waited for (claimed by a host that has not started them yet). */
  private readonly pendingClaims = new Set<string>();
  private readonly waiting: JobCommand[] = [];
  private stopping = false;
  /** Stopped for good (engine closed): watches of adopted jobs end, nothing more is reported. */
  private closed = false;
  /** Timers watching adopted jobs and awaiting exit statuses, cleared by stop(). */
  private readonly watches = new Set<NodeJS.Timeout>();
  private readonly madeDirs = new Set<string>();
  /** What `prepare` added to every job's environment, once it ran. */
  private prepared: Record<string, string> | undefined;
  private preparing = false;

  constructor(private readonly o: LocalAgentOptions) {
    this.host.setBaseEnv(o.baseEnv());
    if (!o.prepare) this.prepared = {};
  }

  /**
   * Runs `prepare` once, before the first job starts. When it fails (the database could not be
   * started) the waiting jobs fail with the reason instead of running without it, and the next job
   * (a retry) tries again.
   */
  private ensurePrepared(): boolean {
    if (this.prepared) return true;
    if (this.preparing || !this.o.prepare) return false;
    this.preparing = true;
    this.o.prepare().then(
      (env) => {
        this.prepared = env;
        this.host.setBaseEnv({ ...this.o.baseEnv(), ...env });
        this.pump();
      },
      (err: unknown) => {
        this.o.log.error('preparing jobs failed', {
          error: err instanceof Error ? err.message : String(err),
        });
        const reason = err instanceof Error ? err.message : String(err);
        this.o.onWarning?.(reason);
        this.preparing = false;
        for (const cmd of this.waiting.splice(0)) {
          this.start(cmd, `not run: the database it needs could not be started: ${reason}`);
        }
        this.o.wake();
      },
    );
    return false;
  }

  async pick(): Promise<AgentRef> {
    return { instanceId: LOCAL_INSTANCE_ID };
  }

  /** Accepts a command once per job run: a redelivered task never starts a script twice. */
  async send(_agent: AgentRef, command: JobCommand): Promise<{ commandId: string | null }> {
    const { store } = this.o;
    const accepted = store.tx(() => {
      const row = store.getJobRun(command.job_run_name);
      if (row?.status !== 'Running' || row.command) return false;
      store.updateJobRun(command.job_run_name, { command: JSON.stringify(command) });
      return true;
    });
    // Start it only once the command is durably recorded: a rolled-back delivery starts nothing.
    if (accepted) {
      store.afterCommit(() => {
        this.waiting.push(command);
        this.pump();
      });
    }
    return { commandId: null };
  }

  /** Processes this agent is running or watching. */
  busyCount(exec?: string): number {
    let n = 0;
    for (const r of this.running.values()) if (!exec || r.exec === exec) n++;
    for (const r of this.adopted.values()) if (!exec || r.exec === exec) n++;
    for (const c of this.waiting) if (!exec || c.workflow_execution_id === exec) n++;
    n += this.pendingClaims.size;
    return n;
  }

  private pump(): void {
    if (this.waiting.length > 0 && !this.ensurePrepared()) return;
    while (!this.stopping && this.running.size < this.o.maxProcesses && this.waiting.length > 0) {
      const cmd = this.waiting.shift();
      if (cmd) this.start(cmd);
    }
  }

  private start(cmd: JobCommand, refused?: string): void {
    const { store, home } = this.o;
    const files = jobFiles(home, cmd.workflow_execution_id, cmd.job_key, cmd.attempt);
    for (const dir of [path.dirname(files.logFile), path.dirname(files.exitFile)]) {
      if (this.madeDirs.has(dir)) continue;
      mkdirSync(dir, { recursive: true });
      this.madeDirs.add(dir);
    }
    const root = this.o.scriptRoot(cmd.workflow_id);
    const scriptPath = root ? path.resolve(root, cmd.script) : undefined;
    let job: HostedJob;
    let problem = refused;
    if (problem === undefined && !scriptPath)
      problem = `no script root is known for workflow ${cmd.workflow_id}`;
    else if (problem === undefined && !existsSync(scriptPath as string))
      problem = `script not found: ${scriptPath}`;
    const startedAt = new Date();
    if (problem) {
      job = failed(problem, startedAt);
    } else {
      try {
        // Resolved now, not only when the workflow was validated: the folder may have changed.
        const checked = resolveScript(root as string, cmd.script);
        const c = resolveCommand(checked, cmd.args, { rsqlCommand: this.o.rsqlCommand });
        this.noteContainment();
        job = this.launch(cmd.job_run_name, {
          command: c.command,
          args: c.args,
          cwd: path.dirname(checked),
          env: this.envFor(cmd),
          logFile: files.logFile,
          exitFile: files.exitFile,
          killGraceMs: this.o.killGraceMs,
          exclusive: true,
          logPool: path.join(this.o.home, 'logs', '.blank'),
          containment: this.o.containment ?? 'auto',
        });
      } catch (err) {
        job = failed(err instanceof Error ? err.message : String(err), startedAt);
      }
    }
    this.running.set(cmd.job_run_name, { job, exec: cmd.workflow_execution_id });
    // JobStarted goes out once the job has run for a moment: a job that ends sooner is reported
    // in one go (JobStarted + JobFinished), so short jobs cost one commit, not two, and the engine
    // stays out of the way while they run. A crash in between loses nothing: the job's process is
    // found by the marker in its environment.
    let start: { pid: number; startTicks: string | undefined; at: string } | undefined;
    let timer: NodeJS.Timeout | undefined;
    const recordStart = () => {
      const s = start;
      if (!s) return;
      store.updateJobRun(cmd.job_run_name, {
        pid: s.pid,
        start_ticks: s.startTicks ?? null,
        started_at: s.at,
        log_file: files.logFile,
        exit_file: files.exitFile,
      });
      store.publish([jobStartedEvent(cmd, s.at, files.logFile)]);
      // Done once committed: if the store was busy or full, the job's end writes it again.
      store.afterCommit(() => {
        if (start === s) start = undefined;
      });
    };
    // This attempt's entry, not just its name: after a lost host the same job run may be started
    // again, and nothing of the first start may act for the second.
    const mine = () => this.running.get(cmd.job_run_name)?.job === job;
    void job.started.then(({ pid, startTicks, startedAt: at }) => {
      if (pid <= 0 || !mine()) return;
      start = { pid, startTicks, at: at.toISOString() };
      timer = setTimeout(() => {
        if (!mine()) return;
        if (this.o.commitReport) this.o.commitReport(recordStart);
        else {
          store.tx(recordStart);
          this.o.wake();
        }
      }, JOB_STARTED_GRACE_MS);
    });
    void job.done.then((outcome) => {
      clearTimeout(timer);
      if (mine()) this.running.delete(cmd.job_run_name);
      if (outcome.claimed) {
        // Another job host got there first (a dead engine's last request): follow that one.
        const row = store.getJobRun(cmd.job_run_name);
        if (row?.status === 'Running') this.recover(row);
        this.pump();
        this.o.wake();
        return;
      }
      this.report(cmd, outcome, files.logFile, recordStart);
      this.pump();
      this.o.wake();
    });
  }

  private containmentNoted = false;

  /** Says once, before the first job starts, when jobs are contained by the weaker fallback. */
  private noteContainment(): void {
    if (this.containmentNoted) return;
    this.containmentNoted = true;
    const c = jobContainment(this.o.containment ?? 'auto');
    if (c.kind === 'cgroup') return;
    this.o.log.warn('jobs are contained by their process group only', { reason: c.reason });
    this.o.onNotice?.(
      `jobs are contained by their process group only (${c.reason}): a process a job starts in a new session with a cleared environment can outlive the job's timeout or kill`,
    );
  }

  /** Starts a job in the job host, or in this process when the host is switched off. */
  private launch(id: string, spec: JobSpec): HostedJob {
    if (this.o.jobHost !== false) return this.host.start(id, spec);
    const j = startJob(spec);
    return {
      started: Promise.resolve({ pid: j.pid, startTicks: j.startTicks, startedAt: j.startedAt }),
      done: j.done,
      kill: (reason) => void j.kill(reason),
    };
  }

  private envFor(cmd: JobCommand): Record<string, string> {
    return {
      ...this.o.baseEnv(),
      ...this.prepared,
      ...cmd.parameters,
      ...jobIdentityEnv(cmd),
    };
  }

  /** JobFinished + the task result, unless the wrapper already ended this run (timeout, cancel). */
  private report(
    cmd: JobCommand,
    outcome: Pick<JobOutcome, 'exitCode' | 'signal' | 'killedFor' | 'spawnError' | 'errorTail'> & {
      startedAt: Date | null;
      finishedAt: Date;
    },
    logFile: string | null,
    before?: () => void,
  ): void {
    if (this.closed) return; // the next engine reads it from the job's exit journal
    const { store } = this.o;
    const { status, error } = outcomeStatus(outcome);
    const write = () => {
      before?.();
      const ended = store.endJobRun(cmd.job_run_name, status === 'Completed' ? 'Succeeded' : 'Failed');
      store.deleteTimer(`timeout:${cmd.job_run_name}`);
      if (!ended) return;
      store.publish([jobFinishedEvent(cmd, status, outcome, error, logFile)]);
    };
    if (this.o.commitReport) this.o.commitReport(write);
    else store.tx(write);
  }

  /** Kills a job's process tree (timeout or cancel); a job still waiting for a slot just never starts. */
  async kill(jobRunName: string, reason: KillReason): Promise<void> {
    const i = this.waiting.findIndex((c) => c.job_run_name === jobRunName);
    if (i >= 0) {
      const [cmd] = this.waiting.splice(i, 1);
      if (cmd)
        this.report(
          cmd,
          {
            exitCode: null,
            signal: null,
            killedFor: reason,
            errorTail: '',
            startedAt: null,
            finishedAt: new Date(),
          },
          null,
        );
      return;
    }
    const r = this.running.get(jobRunName);
    if (r) {
      r.job.kill(reason);
      return;
    }
    const a = this.adopted.get(jobRunName);
    if (a) await killJob({ pid: a.pid, startTicks: a.ticks, exitKey: a.key }, this.o.killGraceMs);
  }

  /**
   * After a crash (or a lost job host): a job run the previous engine accepted. If its exit status
   * was recorded, report it; if its process runs, watch it until it ends. If it was never claimed
   * (its attempt's log does not exist), start it now. If it was claimed but no process shows up —
   * a job host still finishing the dead engine's last request — wait for that process or its exit
   * status for a while. A job that vanished without an exit status failed: its outcome is unknown.
   * The decision is host/recovery.ts's, shared with the EC2 agent; this carries it out.
   */
  recover(row: JobRunRow, waitedMs = 0): void {
    const cmd = row.command ? (JSON.parse(row.command) as JobCommand) : undefined;
    if (!cmd) return; // the task was never handed to us: the engine re-delivers it
    const files = jobFiles(this.o.home, cmd.workflow_execution_id, cmd.job_key, cmd.attempt);
    const exitFile = row.exit_file ?? files.exitFile;
    const logFile = row.log_file ?? files.logFile;
    const startedAt = row.started_at ? new Date(row.started_at) : null;
    const finishFromFile = (e: ExitRecord) =>
      this.report(
        cmd,
        {
          ...('exitCode' in e
            ? { exitCode: e.exitCode, signal: null }
            : { exitCode: null, signal: e.signal as NodeJS.Signals }),
          errorTail: 'exitCode' in e && e.exitCode === 0 ? '' : tailOf(logFile),
          startedAt,
          finishedAt: new Date(),
        },
        logFile,
      );
    const unknown = (reason: UnknownReason) =>
      this.report(
        cmd,
        {
          exitCode: null,
          signal: null,
          errorTail: unknownOutcomeMessage(reason, 'engine'),
          startedAt,
          finishedAt: new Date(),
        },
        logFile,
      );
    const awaitExit = (why: UnknownReason) =>
      this.awaitExitStatus(cmd.job_run_name, exitFile, logFile, why, finishFromFile, unknown);

    const act = (d: LookDecision): void => {
      switch (d.kind) {
        case 'report-exit':
          finishFromFile(d.exit);
          return;
        case 'start':
          // Nothing ran (never claimed, or the claim was taken back): starting it now runs it once.
          this.waiting.push(cmd);
          this.pump();
          return;
        case 'wait-for-claim': {
          this.pendingClaims.add(cmd.job_run_name);
          const t = setTimeout(() => {
            this.watches.delete(t);
            this.pendingClaims.delete(cmd.job_run_name);
            const now = this.o.store.getJobRun(row.name);
            if (now?.status === 'Running') this.recover(now, d.waitedMs);
            this.o.wake();
          }, d.afterMs);
          this.watches.add(t);
          return;
        }
        case 'reclaim':
          act(decideRecovery({ step: 'reclaimed', result: reclaimAbandonedAttempt({ logFile, exitFile }) }));
          return;
        case 'look-again':
          this.recover(row);
          return;
        case 'unknown':
          unknown(d.reason);
          return;
        case 'await-exit':
          awaitExit(d.unknown);
          return;
        case 'adopt':
          this.adopt(cmd, d.process, logFile, () => awaitExit('ended-unrecorded'));
          return;
      }
    };
    act(
      decideRecovery(
        lookAtAttempt({
          exitFile,
          logFile,
          pid: row.pid,
          startTicks: row.start_ticks ?? undefined,
          waitedMs,
        }),
      ),
    );
  }

  /** Watches a job left running by a crashed engine until its process ends. */
  private adopt(cmd: JobCommand, p: JobProcess, logFile: string, ended: () => void): void {
    this.adopted.set(cmd.job_run_name, {
      exec: cmd.workflow_execution_id,
      pid: p.pid,
      ticks: p.startTicks,
      key: logFile,
    });
    const watch = setInterval(() => {
      if (isSameProcessAlive(p.pid, p.startTicks)) return;
      clearInterval(watch);
      this.watches.delete(watch);
      this.adopted.delete(cmd.job_run_name);
      ended();
      this.o.wake();
    }, ADOPT_POLL_MS.engine);
    this.watches.add(watch);
  }

  /**
   * A job's process is gone: its runner appends the exit status a moment after the process ends,
   * so look for it for a little while before calling the outcome unknown.
   */
  private awaitExitStatus(
    jobRunName: string,
    exitFile: string,
    logFile: string,
    why: UnknownReason,
    found: (status: ExitRecord) => void,
    missing: (reason: UnknownReason) => void,
    waitedMs = 0,
  ): void {
    const d = decideRecovery({
      step: 'exit-wait',
      journal: readExitFile(exitFile, logFile),
      waitedMs,
      unknown: why,
    });
    if (d.kind === 'report-exit') {
      this.pendingClaims.delete(jobRunName);
      found(d.exit);
      return;
    }
    if (d.kind === 'unknown') {
      this.pendingClaims.delete(jobRunName);
      missing(d.reason);
      return;
    }
    this.pendingClaims.add(jobRunName);
    const t = setTimeout(() => {
      this.watches.delete(t);
      this.awaitExitStatus(jobRunName, exitFile, logFile, why, found, missing, d.waitedMs);
      this.o.wake();
    }, d.afterMs);
    this.watches.add(t);
  }

  /**
   * The job host died while running this job: nobody watches its process now. Treat it like
   * after a crash: an exit status, a live process to watch, or an unknown outcome.
   */
  private lost(jobRunName: string): void {
    const r = this.running.get(jobRunName);
    if (!r) return;
    this.running.delete(jobRunName);
    const row = this.o.store.getJobRun(jobRunName);
    if (row && row.status === 'Running') this.recover(row);
    this.o.wake();
  }

  /**
   * Starts no more jobs (the engine stopped: its disk is full), but goes on watching and reporting
   * the running ones. Commands still waiting for a slot are dropped here: their attempts never
   * began, so the next engine starts them (see `recover`).
   */
  pause(): void {
    this.stopping = true;
    this.waiting.length = 0;
  }

  /** Stops starting new jobs (engine shutdown); running ones go on and are adopted by the next engine. */
  stop(): void {
    this.stopping = true;
    this.closed = true;
    // Adopted jobs go on without us: the next engine adopts them again (their exit journal keeps
    // their status). Watching them here would keep this process alive after its own work ended.
    for (const t of this.watches) clearTimeout(t);
    this.watches.clear();
    this.host.close();
  }
}

function tailOf(logFile: string | null): string {
  if (!logFile) return '';
  try {
    const text = readFileSync(logFile, 'utf8');
    return visibleCarriageReturns(
      text
        .split('\n')
        .filter((l) => l.trim() !== '')
        .slice(-10)
        .join('\n')
        .slice(-2000),
    );
  } catch {
    return '';
  }
}

function failed(message: string, startedAt: Date): HostedJob {
  return {
    started: Promise.resolve({ pid: 0, startTicks: undefined, startedAt }),
    done: Promise.resolve({
      exitCode: null,
      signal: null,
      startedAt,
      finishedAt: new Date(),
      durationMs: 0,
      errorTail: message,
      spawnError: message,
    }),
    kill: () => {},
  };
}

/** JobStarted of a local attempt (the event the EC2 agent sends, from instance `local`). */
export function jobStartedEvent(cmd: JobCommand, startedAt: string, logFile: string | null): RsqloEvent {
  return agentJobStarted(cmd, startedAt, {
    instanceId: LOCAL_INSTANCE_ID,
    commandId: null,
    logLocation: logFile,
  });
}

/** JobFinished of a local attempt; an attempt that never started ran on no instance. */
export function jobFinishedEvent(
  cmd: JobCommand,
  status: 'Completed' | 'Failed' | 'TimedOut' | 'Cancelled',
  o: { exitCode: number | null; startedAt: Date | null; finishedAt: Date },
  error: string | null,
  logFile: string | null,
  reportedBy: 'agent' | 'wrapper' | 'engine' = 'agent',
): RsqloEvent {
  return agentJobFinished(
    cmd,
    {
      status,
      exitCode: o.exitCode,
      error,
      startedAt: o.startedAt ? o.startedAt.toISOString() : null,
      finishedAt: o.finishedAt.toISOString(),
    },
    { instanceId: o.startedAt ? LOCAL_INSTANCE_ID : null, commandId: null, logLocation: logFile },
    reportedBy,
  );
}
