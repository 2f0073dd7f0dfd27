import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { JobAuditRecord, WorkflowAuditRecord } from '../../contracts/audit.js';
import { ContractError, parseContract } from '../../contracts/common.js';
import {
  EVENT_VERSION,
  eventIds,
  type RsqloEvent,
  type WorkflowCancelRequested,
  WorkflowCancelRequested as WorkflowCancelRequestedSchema,
  type WorkflowRequested,
  WorkflowRequested as WorkflowRequestedSchema,
} from '../../contracts/events.js';
import { JobMessage, type JobRunInput, type TaskRequest } from '../../contracts/jobs.js';
import type { WorkflowDefinition } from '../../contracts/workflow.js';
import { type EventEnvelope, type ParsedEnvelope, parseEnvelope } from '../../events/envelope.js';
import { alertsFor } from '../../events/routing.js';
import { acquireLock, LOCK_DB } from '../../host/lock.js';
import { createAggregatorService } from '../../services/aggregator/service.js';
import { createDispatcherService } from '../../services/dispatcher/service.js';
import { NonRetriableError, StaleTaskError } from '../../services/errors.js';
import { createPlannerService } from '../../services/planner/service.js';
import type { Clock, EventPublisher, JobRunOrchestrator, Logger } from '../../services/ports.js';
import { createRecorderService } from '../../services/recorder/service.js';
import { deliverEvent } from '../../services/shared/dispatch.js';
import { MAX_DELIVERY_ATTEMPTS, redeliveryDelayMs } from '../../services/shared/redelivery.js';
import { seededRandom } from '../../services/shared/seeded-random.js';
import { createStarterService } from '../../services/starter/service.js';
import { LocalAgent } from './local-agent.js';
import {
  type FreshRow,
  LocalStore,
  LostStateError,
  type OutboxRow,
  type QueueRow,
  runFolders,
  type StoreError,
  storeFailure,
} from './store.js';

/**
 * Test switch: deliver every event, change record, queue message and timer twice (the copy
 * later, after other deliveries) and shuffle each batch. Outcomes must not change.
 */
export interface ChaosOptions {
  duplicate: boolean;
  reorder: boolean;
  seed?: number;
}

export interface EngineOptions {
  /** Engine home: state, logs, lock (created if missing). */
  home: string;
  clock?: Clock;
  log?: Logger;
  chaos?: ChaosOptions;
  /** Environment every job starts from; default: this process's environment. */
  baseEnv?: () => Record<string, string>;
  /** How `.sql` scripts run (default: `rsql` on the jobs' PATH). */
  rsqlCommand?: string[];
  /** Most scripts running at once (default 64). */
  maxProcesses?: number;
  /** SIGTERM → SIGKILL grace when a job is killed (default 1000 ms). */
  killGraceMs?: number;
  /** How often an idle engine looks for work written by other processes (default 250 ms). */
  pollMs?: number;
  /** Hears every event after it is committed (progress display). */
  onEvent?: (e: EventEnvelope) => void;
  /** Hears events that match an alert rule. */
  onAlert?: (e: EventEnvelope, rule: string) => void;
  /** Runs before the first job starts; returns variables for every job (the database connection). */
  prepareJobs?: () => Promise<Record<string, string>>;
  /** Hears problems worth telling the user. */
  onWarning?: (message: string) => void;
  /** Hears, once, how jobs are contained when it is the weaker fallback (see LocalAgentOptions). */
  onNotice?: (message: string) => void;
  /**
   * Lines for the user about the engine itself: waiting for another process's lock on the state
   * store, a full disk. Default: stderr, as `rsqlo: <line>`.
   */
  notify?: (line: string) => void;
  /** Bytes kept in `<home>/disk-reserve`, released when the disk fills (default 1 MiB; 0: none). */
  diskReserveBytes?: number;
  /**
   * Go on although the state does not know runs whose logs are in the home (LostStateError):
   * their folders are moved to `<home>/lost/<time>/` first. Default false: refuse.
   */
  forgetLostRuns?: boolean;
}

/** Longest pause between two tries while another process holds the state store's write lock. */
const BUSY_BACKOFF_MAX_MS = 2000;

const BATCH = 64;
/** Most deliveries one transaction carries (a delivery and what it causes at once). */
const CASCADE_LIMIT = 32;

const silentLogger: Logger = { info() {}, warn() {}, error() {} };

/**
 * The embedded engine (ARCHITECTURE.md §5): the five services over SQLite, an outbox delivering events to
 * the services the routing table names, a queue with visibility timeout feeding the dispatcher,
 * the change feed feeding the aggregator, timers for job timeouts, the single-job wrapper, and the
 * in-process agent. After a crash, opening the same home resumes from the database.
 */
export class LocalEngine {
  readonly store: LocalStore;
  readonly agent: LocalAgent;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly random: () => number;
  private readonly lock: { release(): void };
  private wakeUp: (() => void) | undefined;
  private closed = false;
  /**
   * The tail of the chain of deliveries ({@link exclusive}). A delivery's unit of work stays open
   * across microtasks, and the loop and the agent's reports are separate async flows on one
   * connection: without this, one flow would read the other's uncommitted rows and fail to open
   * its own unit (or, through a nested `tx`, write into the other's transaction).
   */
  private deliveries: Promise<unknown> = Promise.resolve();
  private readonly services;
  private readonly scriptRoots = new Map<string, string>();
  private readonly notify: (line: string) => void;
  private readonly reserve: DiskReserve;
  /**
   * Why the engine stopped taking on work: the disk is full, or the state file failed or is
   * damaged. No new job starts; running ones are recorded as they end; then the loop returns.
   */
  halted: StoreError | undefined;
  /** Job reports waiting to be tried again (the store was busy or full), by their retry timer. */
  private readonly unsaved = new Set<NodeJS.Timeout>();
  /** Tries since the last write went through while another process holds the store's lock. */
  private busyTries = 0;
  private toldUnsaved = false;

  private constructor(
    readonly home: string,
    private readonly opts: EngineOptions,
  ) {
    this.clock = opts.clock ?? { now: () => new Date() };
    this.log = opts.log ?? silentLogger;
    this.random = seededRandom(opts.chaos?.seed ?? 1);
    this.notify = opts.notify ?? ((line) => void process.stderr.write(`rsqlo: ${line}\n`));
    try {
      mkdirSync(home, { recursive: true });
      this.lock = acquireLock(home);
    } catch (err) {
      throw storeFailure(err, path.join(home, LOCK_DB)) ?? err;
    }
    const file = path.join(home, 'rsqlo.db');
    let opened: LocalStore | undefined;
    try {
      // Runs left their folders here: the state must know them (checked before anything is written).
      const lost = lostRuns(file, home);
      if (lost.length > 0 && !opts.forgetLostRuns)
        throw new LostStateError(file, home, lost, missingOrEmpty(file));
      opened = new LocalStore(file, {
        now: () => this.clock.now().getTime(),
        waiter: {
          waiting: (e) => this.notify(`waiting: ${e.message}; trying again until it is free`),
          over: (ms) => this.notify(`${file} is free again after ${(ms / 1000).toFixed(1)} s; carrying on`),
        },
      });
      if (lost.length > 0) moveAside(home, lost, this.notify);
    } catch (err) {
      opened?.close();
      this.lock.release();
      throw err;
    }
    this.store = opened;
    this.store.onAfterCommitError = (err) => this.afterCommitFailed(err);
    this.reserve = new DiskReserve(path.join(home, 'disk-reserve'), opts.diskReserveBytes ?? 1 << 20);
    const short = this.reserve.ensure();
    if (short) {
      this.notify(
        `${short.message}: no disk reserve is kept, so if the disk fills the results of running jobs may not be recorded`,
      );
    }
    if (opts.onEvent) this.store.onCommittedEvent(opts.onEvent);
    if (opts.onAlert) {
      const onAlert = opts.onAlert;
      this.store.onCommittedEvent((e) => {
        for (const rule of alertsFor(e)) onAlert(e, rule.id);
      });
    }
    const env = processEnv();
    this.agent = new LocalAgent({
      store: this.store,
      home,
      scriptRoot: (id) => {
        let root = this.scriptRoots.get(id);
        if (root === undefined) {
          root = this.store.getDefinition(id)?.scriptRoot;
          if (root !== undefined) this.scriptRoots.set(id, root);
        }
        return root;
      },
      baseEnv: opts.baseEnv ?? (() => env),
      rsqlCommand: opts.rsqlCommand,
      maxProcesses: opts.maxProcesses ?? 64,
      jobHost: process.env.RSQLO_JOB_HOST !== '0',
      prepare: opts.prepareJobs,
      onWarning: opts.onWarning,
      onNotice: opts.onNotice,
      // RSQLO_CONTAINMENT=process-group: no cgroup per job even where one could be made.
      containment: process.env.RSQLO_CONTAINMENT === 'process-group' ? 'process-group' : 'auto',
      killGraceMs: opts.killGraceMs,
      log: this.log,
      wake: () => this.wake(),
      commitReport: (write) => void this.commitReport(write),
    });
    const store = this.store;
    const events: EventPublisher = {
      publish: async (evs) => store.publish(evs),
      // The outbox committed derived events together with the state change that caused them.
      ensurePublished: async () => {},
    };
    const orchestrator: JobRunOrchestrator = {
      start: (input) => this.startJobRun(input),
      stop: async (name, reason) => this.stopJobRun(name, reason),
    };
    const runs = store.runs();
    const jobs = store.jobs();
    const common = { runs, jobs, clock: this.clock, log: this.log };
    this.services = {
      starter: createStarterService({ ...common, definitions: store.definitions(), events, orchestrator }),
      planner: createPlannerService(common),
      dispatcher: createDispatcherService({ ...common, orchestrator, agents: this.agent }),
      recorder: createRecorderService({ jobs, log: this.log }),
      aggregator: createAggregatorService({ ...common, events }),
    };
  }

  /** Opens (or creates) the engine home, takes its lock and resumes whatever a crash left behind. */
  static open(opts: EngineOptions): LocalEngine {
    const engine = new LocalEngine(path.resolve(opts.home), opts);
    engine.recover();
    return engine;
  }

  private recover(): void {
    this.store.tx(() => this.store.showAllQueue());
    for (const row of this.store.activeJobRuns()) this.agent.recover(row);
  }

  // ---- what callers do -----------------------------------------------------------------------

  /**
   * Stores (or replaces) a workflow definition and the folder its scripts live in. With `run`, it
   * is also kept as the definition of that run (and the file it was read from), for restarts.
   */
  putDefinition(
    def: WorkflowDefinition,
    scriptRoot: string,
    run?: { exec: string; file: string | null },
  ): void {
    this.store.tx(() => {
      this.store.putDefinition(def.workflow_id, def, path.resolve(scriptRoot));
      if (run) this.store.putRunDefinition(run.exec, def, path.resolve(scriptRoot), run.file);
    });
    this.scriptRoots.delete(def.workflow_id);
  }

  request(detail: WorkflowRequested): void {
    parseContract(WorkflowRequestedSchema, detail, 'WorkflowRequested');
    this.write(() => this.store.publish([{ detailType: 'WorkflowRequested', detail }]));
    this.wake();
  }

  cancel(detail: WorkflowCancelRequested): void {
    parseContract(WorkflowCancelRequestedSchema, detail, 'WorkflowCancelRequested');
    this.write(() => this.store.publish([{ detailType: 'WorkflowCancelRequested', detail }]));
    this.wake();
  }

  /** A write asked for by the caller: a store failure halts the engine and is thrown. */
  private write(fn: () => void): void {
    try {
      this.store.tx(fn);
    } catch (err) {
      const f = storeFailure(err, this.store.file);
      if (f && f.kind !== 'busy') this.halt(f);
      throw f ?? err;
    }
  }

  /** The full workflow audit record. */
  getRun(exec: string): WorkflowAuditRecord | undefined {
    return this.store.getRunRecord(exec);
  }

  /** A run is settled when it ended and none of its processes is still running or being killed. */
  isSettled(exec: string): boolean {
    const run = this.store.getRunSync(exec);
    if (!run || run.execution_status === 'Running') return false;
    return this.agent.busyCount(exec) === 0 && this.store.activeJobRunCount(exec) === 0;
  }

  /**
   * Nothing queued, due or running: if a run is still Running then, it can never finish by itself
   * (its request or an event was dead-lettered). The CLI reports that instead of waiting forever.
   */
  isQuiet(): boolean {
    return (
      this.unsaved.size === 0 &&
      !this.store.waitingForLock &&
      this.store.outboxSize() === 0 &&
      this.store.queueSize() === 0 &&
      this.agent.busyCount() === 0
    );
  }

  /** Whether anything is left to do for any run. */
  isIdle(): boolean {
    return (
      this.unsaved.size === 0 &&
      this.store.activeRuns().length === 0 &&
      this.agent.busyCount() === 0 &&
      this.store.outboxSize() === 0 &&
      this.store.queueSize() === 0
    );
  }

  wake(): void {
    const w = this.wakeUp;
    this.wakeUp = undefined;
    if (w) w();
    // Not idle right now (a pass is running or queued): the next idle must not sleep through this.
    else this.woken = true;
  }

  /** A wake-up came while the loop was not idle; its next idle returns at once. */
  private woken = false;

  /** Runs the loop until `done()` holds or the signal aborts. */
  async runUntil(done: () => boolean, signal?: AbortSignal): Promise<void> {
    while (!this.closed && !signal?.aborted) {
      if (this.halted) {
        // Stopped for good (a full disk…): record the jobs still running as they end, then leave.
        if (this.agent.busyCount() === 0 && this.unsaved.size === 0) return;
        await this.idle(signal);
        continue;
      }
      let n: number;
      try {
        if (done()) return;
        n = await this.step();
      } catch (err) {
        const f = storeFailure(err, this.store.file);
        if (!f) throw err;
        // Nothing of the failed delivery was kept (its transaction was rolled back), and nothing
        // is charged to it: the store, not the delivery, failed. Look at everything again later.
        this.store.resetDue();
        if (f.kind === 'busy') {
          this.store.noteBusy(f);
          await this.pause(this.busyBackoff(), signal);
        } else this.halt(f);
        continue;
      }
      this.busyTries = 0;
      // Let process exits and other I/O in between passes, even while there is always work.
      if (n === 0) await this.idle(signal);
      else await new Promise<void>((r) => setImmediate(r));
    }
  }

  /** The next pause while another process holds the store's write lock: doubling, at most 2 s. */
  private busyBackoff(): number {
    return Math.min(BUSY_BACKOFF_MAX_MS, 50 * 2 ** Math.min(10, ++this.busyTries));
  }

  private pause(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      const onAbort = () => done();
      signal?.addEventListener('abort', onAbort, { once: true });
      function done() {
        clearTimeout(t);
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }
    });
  }

  /**
   * The store cannot be written (a full disk, an I/O error, a damaged file): stop taking on work.
   * The disk reserve is let go, so that the jobs still running can be recorded when they end.
   */
  halt(f: StoreError): void {
    if (this.halted) return;
    this.halted = f;
    const freed = this.reserve.release();
    this.agent.pause();
    const running = this.agent.busyCount();
    this.log.error('engine stopped', { error: f.message, code: f.code, file: f.file });
    this.notify(
      `${f.message}. No new job starts${running > 0 ? `; ${running} running job(s) will be recorded as they end` : ''}${freed ? ' (the disk reserve was released for that)' : ''}`,
    );
  }

  /** Work that ran after a commit failed (starting a job: its log folder could not be made…). */
  private afterCommitFailed(err: unknown): void {
    const f = storeFailure(err, this.store.file);
    if (f && f.kind !== 'busy') {
      this.halt(f);
      return;
    }
    this.log.error('post-commit work failed', { error: err instanceof Error ? err.message : String(err) });
    this.notify(`internal error after a commit: ${err instanceof Error ? err.message : String(err)}`);
  }

  /** One pass: due timers, outbox deliveries, queue messages. Returns how many things it did. */
  step(): Promise<number> {
    return this.exclusive(() => this.stepNow());
  }

  /** Runs `fn` once every delivery started before it has ended (one at a time, in call order). */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.deliveries.then(fn);
    this.deliveries = run.catch(() => {});
    return run;
  }

  private async stepNow(): Promise<number> {
    const due = this.store.due;
    const now = this.clock.now().getTime();
    let n = 0;
    // Each kind: assume this pass takes everything due; what handlers write meanwhile lowers
    // `due` again; a full batch means there may be more.
    if (due.timer <= now) {
      due.timer = Number.POSITIVE_INFINITY;
      const fired = await this.fireTimers();
      if (fired >= BATCH) due.timer = 0;
      else this.store.drained('timer', now);
      n += fired;
    }
    if (due.outbox <= now) {
      due.outbox = Number.POSITIVE_INFINITY;
      const delivered = await this.deliverOutbox();
      if (delivered >= BATCH) due.outbox = 0;
      else this.store.drained('outbox', now);
      n += delivered;
    }
    if (due.queue <= now) {
      due.queue = Number.POSITIVE_INFINITY;
      const received = await this.receiveQueue();
      if (received >= BATCH) due.queue = 0;
      else this.store.drained('queue', now);
      n += received;
    }
    return n;
  }

  private idle(signal?: AbortSignal): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    const now = this.clock.now().getTime();
    const poll = this.opts.pollMs ?? 250;
    const untilDue = this.store.nextDue() - now;
    const polling = untilDue >= poll;
    const wait = Math.max(1, Math.min(poll, untilDue));
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        // Nothing of ours was due: look at the database for other processes' writes (rsqlo kill).
        if (polling) this.store.resetDue();
        done();
      }, wait);
      const onAbort = () => done();
      signal?.addEventListener('abort', onAbort, { once: true });
      function done() {
        clearTimeout(t);
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }
      this.wakeUp = done;
    });
  }

  /** Stops the loop and releases the home. Running scripts go on; the next engine adopts them. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.unsaved.size > 0) {
      this.notify(
        `the results of ${this.unsaved.size} job(s) that ended could not be recorded (${this.halted?.message ?? 'the state store was busy'}); rsqlo resume reads them from the jobs' exit journal`,
      );
    }
    for (const t of this.unsaved) clearTimeout(t);
    this.unsaved.clear();
    this.agent.stop();
    this.wake();
    this.store.close();
    this.lock.release();
  }

  // ---- the local single-job wrapper (Step Functions' role) ----------------------------------

  /**
   * The local wrapper: records the job run and its timeout, then does what the Step Functions
   * wrapper's Dispatch state does, in the same transaction: hands the dispatcher a task token (the
   * job run's name). Any failure rolls all of it back and the queue message comes again.
   */
  private async startJobRun(input: JobRunInput): Promise<'started' | 'exists'> {
    const store = this.store;
    const created = store.tx(() => {
      if (
        !store.insertJobRun(
          input.job_run_name,
          input.workflow_execution_id,
          input.job_key,
          input.attempt,
          input,
        )
      ) {
        return false;
      }
      store.setTimer(
        `timeout:${input.job_run_name}`,
        this.clock.now().getTime() + input.timeout_seconds * 1000,
        {
          name: input.job_run_name,
        },
      );
      return true;
    });
    if (!created) return 'exists';
    await this.runTask({ task_token: input.job_run_name, job: input });
    return 'started';
  }

  /** The wrapper's Dispatch state: a StaleTaskError ends the job run without a second event. */
  private async runTask(req: TaskRequest): Promise<void> {
    try {
      await this.services.dispatcher.handleTask(req);
    } catch (err) {
      if (!(err instanceof StaleTaskError)) throw err;
      this.store.tx(() => {
        this.store.endJobRun(req.job.job_run_name, 'Failed');
        this.store.deleteTimer(`timeout:${req.job.job_run_name}`);
      });
      this.log.info('stale task dropped', { job_run_name: req.job.job_run_name, reason: err.message });
    }
  }

  private async stopJobRun(name: string, reason: string): Promise<void> {
    const stopped = this.store.tx(() => {
      const ok = this.store.endJobRun(name, 'Aborted');
      this.store.deleteTimer(`timeout:${name}`);
      return ok;
    });
    if (stopped) {
      this.log.info('job run stopped', { job_run_name: name, reason });
      // Killing takes up to the grace period: do it after the commit, without waiting for it.
      this.store.afterCommit(() => void this.agent.kill(name, 'cancel'));
    }
  }

  /** A job run's timeout: report TimedOut (as the wrapper's Catch does) and kill the process tree. */
  private async onTimeout(name: string): Promise<void> {
    const row = this.store.getJobRun(name);
    if (row?.status !== 'Running') {
      this.store.tx(() => this.store.deleteTimer(`timeout:${name}`));
      return;
    }
    const input = JSON.parse(row.input) as JobRunInput;
    const now = this.clock.now();
    const ended = this.store.tx(() => {
      this.store.deleteTimer(`timeout:${name}`);
      if (!this.store.endJobRun(name, 'TimedOut')) return false;
      const startedAt = row.started_at ? new Date(row.started_at) : null;
      const ev: RsqloEvent = {
        detailType: 'JobFinished',
        detail: {
          version: EVENT_VERSION,
          event_id: eventIds.jobFinished(input.workflow_execution_id, input.job_key, input.attempt),
          occurred_at: now.toISOString(),
          workflow_id: input.workflow_id,
          workflow_execution_id: input.workflow_execution_id,
          job_key: input.job_key,
          job_name: input.job_name,
          stage: input.stage,
          attempt: input.attempt,
          status: 'TimedOut',
          exit_code: null,
          error_message: `timed out after ${input.timeout_seconds} s (timeout_seconds); the process tree was killed`,
          started_at: startedAt ? startedAt.toISOString() : null,
          finished_at: now.toISOString(),
          duration_ms: startedAt ? Math.max(0, now.getTime() - startedAt.getTime()) : null,
          instance_id: row.pid !== null ? 'local' : null,
          ssm_command_id: null,
          log_location: row.log_file,
          reported_by: 'wrapper',
        },
      };
      this.store.publish([ev]);
      return true;
    });
    if (ended) this.store.afterCommit(() => void this.agent.kill(name, 'timeout'));
  }

  // ---- delivery -------------------------------------------------------------------------------

  private shuffle<T>(rows: T[]): T[] {
    if (!this.opts.chaos?.reorder) return rows;
    for (let i = rows.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [rows[i], rows[j]] = [rows[j] as T, rows[i] as T];
    }
    return rows;
  }

  private async fireTimers(): Promise<number> {
    const due = this.store.dueTimers(BATCH);
    for (const t of this.shuffle(due)) {
      const { name } = JSON.parse(t.payload) as { name: string };
      if (t.key.startsWith('timeout:')) {
        await this.store.unit(() => this.onTimeout(name));
        if (this.opts.chaos?.duplicate) await this.store.unit(() => this.onTimeout(name));
      }
    }
    return due.length;
  }

  private async deliverOutbox(): Promise<number> {
    const rows = this.shuffle(this.store.readyOutbox(BATCH));
    for (const row of rows) await this.process({ kind: 'outbox', row });
    return rows.length;
  }

  /**
   * Handles one outbox row or queue message in one transaction, together with what it causes at
   * once (the events, change records and messages its handler wrote), depth-first, up to
   * CASCADE_LIMIT deliveries: a job's completion, counting, planning and the next dispatch commit
   * once instead of once per hop. If anything in the cascade fails, it is all rolled back and the
   * row is handled alone, so a failure is charged to the delivery that failed. Under the chaos
   * switch every delivery goes alone through the shuffled, duplicated path.
   */
  private async process(first: FreshRow): Promise<void> {
    if (!this.opts.chaos) {
      let failed: unknown;
      try {
        await this.store.unit(async () => {
          const pending: FreshRow[] = [first];
          this.store.fresh = pending;
          for (let n = 0; n < CASCADE_LIMIT && pending.length > 0; n++) {
            await this.handleOne(pending.shift() as FreshRow);
          }
        });
        return;
      } catch (err) {
        // Fall back to handling the row alone (below), which charges the failure correctly.
        failed = err;
      } finally {
        this.store.fresh = undefined;
      }
      // The store failed (busy, full): not the delivery's fault; the caller waits or stops.
      if (storeFailure(failed, this.store.file)) throw failed;
    }
    try {
      await this.store.unit(() => this.handleOne(first));
    } catch (err) {
      if (storeFailure(err, this.store.file)) throw err;
      if (first.kind === 'outbox') this.failDelivery(first.row, err);
      else this.failQueueRow(first.row, err);
    }
  }

  /**
   * A job's report and what follows from it (recording, counting, planning, dispatching the next
   * job) in one transaction, right away: the path from one job to the next. Under the chaos switch,
   * or if the cascade fails, the report is committed alone and the loop delivers the rest.
   */
  private commitReport(write: () => void, tries = 0): Promise<void> {
    // Closed: the store is gone; the job's exit journal keeps its status for the next engine.
    if (this.closed) return Promise.resolve();
    return this.exclusive(() => this.commitReportNow(write)).catch((err: unknown) => {
      const f = storeFailure(err, this.store.file);
      if (!f || this.closed) throw err;
      // The report was rolled back whole: keep it, and try again (a full disk first halts the
      // engine, which frees the disk reserve for exactly this).
      if (f.kind !== 'busy') {
        this.halt(f);
        if (tries > 0 && !this.toldUnsaved) {
          this.toldUnsaved = true;
          this.notify(
            `cannot record the result of a job yet (${f.message}); trying again until it can. Free space on that device, or press Ctrl-C to leave it to rsqlo resume`,
          );
        }
      }
      const t = setTimeout(
        () => {
          this.unsaved.delete(t);
          void this.commitReport(write, tries + 1);
        },
        f.kind === 'busy' ? this.busyBackoff() : 500,
      );
      this.unsaved.add(t);
    });
  }

  private async commitReportNow(write: () => void): Promise<void> {
    if (!this.opts.chaos && !this.closed && !this.halted) {
      const pending: FreshRow[] = [];
      let failed: unknown;
      try {
        await this.store.unit(async () => {
          this.store.fresh = pending;
          write();
          for (let n = 0; n < CASCADE_LIMIT && pending.length > 0; n++) {
            await this.handleOne(pending.shift() as FreshRow);
          }
        });
        this.wake();
        return;
      } catch (err) {
        // Commit the report alone below; the loop delivers what follows, each charged on its own.
        failed = err;
      } finally {
        this.store.fresh = undefined;
      }
      if (storeFailure(failed, this.store.file)) throw failed;
    }
    // Halted: the report alone (what follows from it is delivered by the next engine).
    this.store.tx(write, { wait: false });
    this.busyTries = 0;
    this.wake();
  }

  /** One delivery: the handler, then the removal (or re-hiding) of what it consumed. */
  private async handleOne(item: FreshRow): Promise<void> {
    const now = () => this.clock.now().getTime();
    const duplicate = this.opts.chaos?.duplicate === true;
    if (item.kind === 'outbox') {
      const row = item.row;
      await this.deliver(row);
      this.store.deleteOutbox(row.id);
      if (duplicate && row.copy === 0) {
        this.store.enqueueOutbox(row.target, row.payload, now() + Math.floor(this.random() * 15), 1);
      }
      return;
    }
    const row = item.row;
    const msg = parseContract(JobMessage, JSON.parse(row.body), 'job message');
    const result = await this.services.dispatcher.handleMessage(msg);
    if (result.ack) {
      this.store.deleteQueue(row.id);
      if (duplicate && row.copy === 0)
        this.store.sendQueue(row.body, now() + Math.floor(this.random() * 15), 1);
    } else {
      this.store.changeVisibility(row.id, now() + result.retryAfterSeconds * 1000);
    }
  }

  private failDelivery(row: OutboxRow, err: unknown): void {
    const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    const final =
      err instanceof NonRetriableError ||
      err instanceof ContractError ||
      row.attempts + 1 >= MAX_DELIVERY_ATTEMPTS;
    this.store.tx(() => {
      if (final) {
        this.store.deadLetter(row.target, row.payload, message);
        this.store.deleteOutbox(row.id);
      } else {
        const backoff = redeliveryDelayMs(row.attempts);
        this.store.retryOutbox(row.id, this.clock.now().getTime() + backoff, message);
      }
    });
    (final ? this.log.error : this.log.warn)(
      final ? 'delivery dead-lettered' : 'delivery failed; will retry',
      {
        target: row.target,
        error: message,
      },
    );
  }

  private async deliver(row: OutboxRow): Promise<void> {
    const s = this.services;
    const payload: unknown = JSON.parse(row.payload);
    switch (row.target) {
      case 'aggregator':
        // The change feed is written by this store from rows it validated when they were created.
        await s.aggregator.handleJobChange(payload as JobAuditRecord);
        return;
      default: {
        // Requests may come from other processes (rsqlo kill): check them in full. Everything else
        // in the outbox was written by this engine's services from typed, validated values. The
        // row's target is the service the routing table chose for this copy (the dispatch map).
        const type = (payload as EventEnvelope)['detail-type'];
        const env =
          type === 'WorkflowRequested' || type === 'WorkflowCancelRequested'
            ? parseEnvelope(payload)
            : (trusted(payload as EventEnvelope) as ParsedEnvelope);
        await deliverEvent(s, row.target, env);
      }
    }
  }

  private async receiveQueue(): Promise<number> {
    const rows = this.shuffle(this.store.visibleQueue(BATCH));
    for (const row of rows) await this.process({ kind: 'queue', row });
    return rows.length;
  }

  private failQueueRow(row: QueueRow, err: unknown): void {
    const now = this.clock.now().getTime();
    const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    const final =
      err instanceof NonRetriableError ||
      err instanceof ContractError ||
      row.receives + 1 >= MAX_DELIVERY_ATTEMPTS;
    this.store.tx(() => {
      if (final) {
        this.store.deadLetter('queue', row.body, message);
        this.store.deleteQueue(row.id);
      } else {
        this.store.failQueue(row.id, now + redeliveryDelayMs(row.receives));
      }
    });
    this.log.warn('queue message failed', { error: message, final });
  }
}

/**
 * Runs with folders in the home that the state file has no record of: the state lost them (it was
 * emptied, truncated, replaced, or its write-ahead log deleted after a crash). The engine never
 * starts afresh over that evidence unless told to (LostStateError).
 */
function lostRuns(file: string, home: string): string[] {
  const evidence = runFolders(home);
  if (evidence.length === 0) return [];
  const known = missingOrEmpty(file) ? new Set<string>() : LocalStore.knownRuns(file, evidence);
  return evidence.filter((id) => !known.has(id));
}

/** Moves the folders of runs the state lost to `<home>/lost/<time>/` (nothing is deleted), and says so. */
function moveAside(home: string, lost: string[], notify: (line: string) => void): void {
  const dest = path.join(home, 'lost', new Date().toISOString().replace(/[:.]/g, '-'));
  try {
    for (const dir of ['logs', 'runs']) {
      for (const id of lost) {
        const from = path.join(home, dir, id);
        if (!existsSync(from)) continue;
        mkdirSync(path.join(dest, dir), { recursive: true });
        renameSync(from, path.join(dest, dir, id));
      }
    }
  } catch (err) {
    throw storeFailure(err, dest) ?? err;
  }
  notify(
    `the state had no record of ${lost.length} run(s) (${lost.join(', ')}); their logs were moved to ${dest}`,
  );
}

function missingOrEmpty(file: string): boolean {
  try {
    return statSync(file).size === 0;
  } catch {
    return true;
  }
}

/** An envelope this engine's services wrote, typed without re-validation. */
function trusted(e: EventEnvelope): { id: string; time: string; detailType: string; detail: unknown } {
  return { id: e.id, time: e.time, detailType: e['detail-type'], detail: e.detail };
}

/**
 * This process's environment as plain strings: what a job inherits by default. The `npm_*`
 * variables npm and npx add describe how rsqlo was launched, not the user's environment, so they
 * are left out (they also make every job's exec slower).
 */
export function processEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('npm_')) env[k] = v;
  return env;
}

/**
 * Space kept aside in the home (`disk-reserve`, random bytes so that no file system stores it
 * compressed or sparse). When the disk fills, the engine deletes it: what is freed is enough to
 * record the outcomes of the jobs still running, which would otherwise be lost.
 */
class DiskReserve {
  constructor(
    readonly file: string,
    readonly bytes: number,
  ) {}

  /** Makes sure the reserve is there; the failure (no space…) when it cannot be. */
  ensure(): StoreError | undefined {
    if (this.bytes <= 0) return undefined;
    try {
      if (statSync(this.file).size >= this.bytes) return undefined;
    } catch {
      // not there yet
    }
    const tmp = `${this.file}.${process.pid}.tmp`;
    try {
      writeFileSync(tmp, randomBytes(this.bytes));
      renameSync(tmp, this.file);
      return undefined;
    } catch (err) {
      rmSync(tmp, { force: true });
      const f = storeFailure(err, this.file);
      if (f) return f;
      throw err;
    }
  }

  /** Frees the reserve; whether there was one. */
  release(): boolean {
    try {
      unlinkSync(this.file);
      return true;
    } catch {
      return false;
    }
  }
}
