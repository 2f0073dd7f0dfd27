import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { WorkflowAuditRecord } from '../../contracts/audit.js';
import { parseContract } from '../../contracts/common.js';
import {
  type DetailOf,
  EVENT_SCHEMAS,
  type OPERATOR_REQUEST_TYPES,
  type WorkflowCancelRequested,
  WorkflowCancelRequested as WorkflowCancelRequestedSchema,
  type WorkflowRequested,
  WorkflowRequested as WorkflowRequestedSchema,
} from '../../contracts/events.js';
import type { WorkflowDefinition } from '../../contracts/workflow.js';
import type { EventEnvelope } from '../../events/envelope.js';
import { alertsFor } from '../../events/routing.js';
import { acquireLock, LOCK_DB } from '../../host/lock.js';
import { createAggregatorService } from '../../services/aggregator/service.js';
import { createDispatcherService } from '../../services/dispatcher/service.js';
import { createPlannerService } from '../../services/planner/service.js';
import type { Clock, EventPublisher, Logger } from '../../services/ports.js';
import { createRecorderService } from '../../services/recorder/service.js';
import { createStarterService } from '../../services/starter/service.js';
import { createTrigger } from '../../services/trigger/service.js';
import { Deliveries, type LocalServices } from './delivery.js';
import { DiskReserve } from './disk-reserve.js';
import type { EngineOptions } from './engine-options.js';
import { LocalAgent } from './local-agent.js';
import { LocalWrapper } from './local-wrapper.js';
import { BusyBackoff, ReportCommits } from './report-commit.js';
import { createLocalSlaCheck, createLocalSlaWatch, fireSlaTimer } from './sla-timers.js';
import { lostRuns, missingOrEmpty, moveAside } from './state-file.js';
import { LocalStore, LostStateError, type StoreError, storeFailure } from './store.js';

/** The detail-types a person sends (contracts/events.ts OPERATOR_REQUEST_TYPES). */
export type OperatorRequestType = (typeof OPERATOR_REQUEST_TYPES)[number];

/** An operator request (set-ok, rerun, bypass, hold, free, pool set) as the CLI and web send it. */
export type OperatorRequest = {
  [T in OperatorRequestType]: { detailType: T; detail: DetailOf<T> };
}[OperatorRequestType];

// The engine's options, importable from here as before.
export type { ChaosOptions, EngineOptions } from './engine-options.js';

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
  private readonly services: LocalServices;
  /** Timers, outbox and queue: one pass of deliveries at a time (see {@link exclusive}). */
  private readonly delivery: Deliveries;
  /** Job reports on their way to the store, and those waiting to be tried again. */
  private readonly reports: ReportCommits;
  /** The pause between tries while another process holds the store's write lock. */
  private readonly backoff = new BusyBackoff();
  private readonly scriptRoots = new Map<string, string>();
  private readonly notify: (line: string) => void;
  private readonly reserve: DiskReserve;
  /**
   * Why the engine stopped taking on work: the disk is full, or the state file failed or is
   * damaged. No new job starts; running ones are recorded as they end; then the loop returns.
   */
  halted: StoreError | undefined;

  private constructor(
    readonly home: string,
    private readonly opts: EngineOptions,
  ) {
    this.clock = opts.clock ?? { now: () => new Date() };
    this.log = opts.log ?? silentLogger;
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
    if (opts.holdTriggers) this.holdTriggers();
    this.store.onCommittedEvent((e) => this.noteHeldTrigger(e));
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
      commitReport: (write) => void this.reports.commit(write),
    });
    const store = this.store;
    const events: EventPublisher = {
      publish: async (evs) => store.publish(evs),
      // The outbox committed derived events together with the state change that caused them.
      ensurePublished: async () => {},
    };
    const orchestrator = new LocalWrapper({
      store,
      clock: this.clock,
      log: this.log,
      handleTask: (req) => this.services.dispatcher.handleTask(req),
      kill: (name, reason) => void this.agent.kill(name, reason),
    });
    const runs = store.runs();
    const jobs = store.jobs();
    // pools/operator (issue 14): the services that need them take them from here.
    const common = {
      runs,
      jobs,
      pools: store.pools(),
      operator: store.operator(),
      clock: this.clock,
      log: this.log,
    };
    this.services = {
      starter: createStarterService({
        ...common,
        definitions: store.definitions(),
        events,
        orchestrator,
        sla: { watch: createLocalSlaWatch(store), usual: 'every-run' },
      }),
      planner: createPlannerService(common),
      dispatcher: createDispatcherService({ ...common, orchestrator, agents: this.agent }),
      recorder: createRecorderService({ jobs, log: this.log }),
      aggregator: createAggregatorService({ ...common, events }),
      trigger: createTrigger({
        ...common,
        definitions: store.definitions(),
        triggers: store.triggers(),
        events,
      }),
    };
    const slaCheck = createLocalSlaCheck(store, this.clock, this.log);
    this.delivery = new Deliveries({
      store,
      services: this.services,
      clock: this.clock,
      log: this.log,
      chaos: opts.chaos,
      onTimeout: (name) => orchestrator.onTimeout(name),
      onSlaTimer: (key, payload) => fireSlaTimer(store, slaCheck, key, payload, this.log),
    });
    this.reports = new ReportCommits({
      store,
      exclusive: (fn) => this.exclusive(fn),
      cascade: (pending, before) => this.delivery.cascade(pending, before),
      chaos: opts.chaos !== undefined,
      closed: () => this.closed,
      halted: () => this.halted !== undefined,
      halt: (f) => this.halt(f),
      notify: this.notify,
      backoff: this.backoff,
      wake: () => this.wake(),
    });
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

  /**
   * From now on, leave the trigger service's deliveries pending (see EngineOptions.holdTriggers)
   * and say once per waiting workflow that `rsqlo serve` starts it.
   */
  holdTriggers(): void {
    this.store.holdTriggers = true;
  }

  /** Downstream workflows already told about (once each). */
  private readonly toldWaiting = new Set<string>();

  /** A Completed run whose trigger delivery is held: name who waits for it, once each. */
  private noteHeldTrigger(e: EventEnvelope): void {
    if (!this.store.holdTriggers || e['detail-type'] !== 'WorkflowFinished') return;
    const d = e.detail as { workflow_id?: string; status?: string };
    if (d.status !== 'Completed' || !d.workflow_id) return;
    const waiting = this.store.db
      .prepare('SELECT downstream FROM trigger_after WHERE upstream = ? ORDER BY downstream')
      .all(d.workflow_id) as Array<{ downstream: string }>;
    for (const { downstream } of waiting) {
      if (this.toldWaiting.has(downstream)) continue;
      this.toldWaiting.add(downstream);
      this.notify(
        `${downstream} waits for ${d.workflow_id} (trigger.after): it starts under \`rsqlo serve\` of ${this.home}, not in this run`,
      );
    }
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

  /**
   * An operator request (set-ok, rerun, bypass, hold, free, pool set): checked against its
   * contract, put into the outbox for the starter, and the loop woken — as `cancel` does. The
   * starter answers with an outcome event or OperatorActionRejected.
   */
  operator(request: OperatorRequest): void {
    const detail = parseContract(
      EVENT_SCHEMAS[request.detailType],
      request.detail,
      request.detailType,
    ) as OperatorRequest['detail'];
    this.write(() => this.store.publish([{ detailType: request.detailType, detail } as OperatorRequest]));
    this.wake();
  }

  /**
   * Why a Running run is waiting rather than stuck, as the one line to tell the user (null: it is
   * not waiting). A held run waits for `rsqlo free`; a job parked on a pool waits for a slot —
   * with 0 slots it waits for `rsqlo pool set`. Nothing else will move it, so the CLI says so
   * once instead of reporting it stuck.
   */
  isWaiting(exec: string): string | null {
    const run = this.store.getRunRecord(exec);
    if (run?.execution_status !== 'Running') return null;
    const hold = run.hold_state;
    if (hold?.held) {
      const why = hold.reason ? ` (${hold.reason})` : '';
      const target = hold.scope === 'workflow' ? run.workflow_id : exec;
      return `held by ${hold.requested_by}${why}: rsqlo free ${target}`;
    }
    for (const job of this.store.listJobsSync(exec)) {
      if (job.execution_status !== 'Queued' || !job.waiting_for) continue;
      if (job.waiting_for === 'hold') return `job ${job.job_key} is held: rsqlo free ${exec}`;
      const pool = job.waiting_for.slice('pool:'.length);
      const slots = this.poolSlots(pool);
      if (slots === 0) return `waiting for pool ${pool} (0 slots): rsqlo pool set ${pool} N`;
      return `waiting for pool ${pool} (${slots ?? '?'} slot(s), all in use)`;
    }
    return null;
  }

  /** A pool's size as stored (undefined when it is not there, or the home predates pools). */
  private poolSlots(pool: string): number | undefined {
    try {
      const row = this.store.db.prepare('SELECT slots FROM pools WHERE name = ?').get(pool) as
        | { slots: number }
        | undefined;
      return row?.slots;
    } catch {
      return undefined;
    }
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
      this.reports.waiting === 0 &&
      !this.store.waitingForLock &&
      this.store.outboxSize() === 0 &&
      this.store.queueSize() === 0 &&
      this.agent.busyCount() === 0
    );
  }

  /** Whether anything is left to do for any run. */
  isIdle(): boolean {
    return (
      this.reports.waiting === 0 &&
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
        if (this.agent.busyCount() === 0 && this.reports.waiting === 0) return;
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
          await this.pause(this.backoff.next(), signal);
        } else this.halt(f);
        continue;
      }
      this.backoff.reset();
      // Let process exits and other I/O in between passes, even while there is always work.
      if (n === 0) await this.idle(signal);
      else await new Promise<void>((r) => setImmediate(r));
    }
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
    return this.exclusive(() => this.delivery.step());
  }

  /** Runs `fn` once every delivery started before it has ended (one at a time, in call order). */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.deliveries.then(fn);
    this.deliveries = run.catch(() => {});
    return run;
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
    const unsaved = this.reports.drop();
    if (unsaved > 0) {
      this.notify(
        `the results of ${unsaved} job(s) that ended could not be recorded (${this.halted?.message ?? 'the state store was busy'}); rsqlo resume reads them from the jobs' exit journal`,
      );
    }
    this.agent.stop();
    this.wake();
    this.store.close();
    this.lock.release();
  }
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
