/**
 * The narrow ports the services are written against. Two runtimes implement them: the embedded
 * engine (runtime/local, SQLite, one transaction per call) and AWS (runtime/aws, DynamoDB
 * conditional writes, EventBridge, SQS, Step Functions, SSM).
 *
 * Rule for every mutating call that takes `effects`: the state change and its effects belong
 * together. The local runtime commits both in one transaction (outbox). AWS makes the conditional
 * write and then publishes; a crash in between is repaired because services re-derive effects from
 * state on redelivery and hand them to `EventPublisher.ensurePublished`.
 */
import type {
  FailedJobSummary,
  JobAuditRecord,
  JobCounts,
  JobStatus,
  StageStatus,
  TerminalJobStatus,
  WorkflowAuditRecord,
  WorkflowRunState,
  WorkflowStatus,
} from '../contracts/audit.js';
import type { RsqloEvent } from '../contracts/events.js';
import type { JobCancel, JobCommand, JobMessage, JobRunInput } from '../contracts/jobs.js';
import type { HoldState, OperatorActionRecord, PoolSource } from '../contracts/operator.js';

/** A queue message and how long to hide it first (retry backoff). */
export interface OutgoingMessage {
  body: JobMessage;
  delaySeconds?: number;
}

/** What a state change causes: events for the bus and messages for the job queue. */
export interface Effects {
  events?: RsqloEvent[];
  messages?: OutgoingMessage[];
}

export interface Clock {
  now(): Date;
}

/** Structured log sink; services never print. */
export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** A run to check at its deadline: what the check needs to find and name it. */
export interface WatchedRun {
  workflow_id: string;
  workflow_execution_id: string;
  /** When the run started (its execution_start_ts). */
  started_at: string;
  /** The latest time it can legitimately still be Running (services/starter/deadline.ts). */
  deadline_at: string;
}

/**
 * Checks a run once its deadline has passed (AWS: one EventBridge Scheduler one-time schedule per
 * run, invoking the run watchdog). Idempotent per run: asking again for the same run makes no
 * second check (`exists`), so a redelivered request is harmless.
 */
export interface RunDeadlineWatch {
  watch(run: WatchedRun): Promise<'created' | 'exists'>;
}

/** The run watchdog's one read: a run's status, strongly consistent (undefined: no such run). */
export interface RunStatusReader {
  status(workflowExecutionId: string): Promise<WorkflowStatus | undefined>;
}

/** Where workflow definitions live (the config table; locally the definitions table). */
export interface DefinitionRepository {
  /** The stored definition as-is (validated by the caller), or undefined when unknown. */
  get(workflowId: string): Promise<unknown | undefined>;
}

export type CreateRunResult =
  | { outcome: 'created' }
  | { outcome: 'exists'; run: WorkflowRunState }
  | { outcome: 'limit'; active: string[] }
  /** The run named by `restartOf` was restarted already, by run `by`: nothing was written. */
  | { outcome: 'restarted'; by: string }
  /**
   * The workflow's hold (`OperatorRepository.setWorkflowHold`) is not what `opts.workflowHeld`
   * said: a hold or free landed between the starter's read and this write. Nothing was written;
   * the starter reads the hold again and retries.
   */
  | { outcome: 'hold-changed' };

/** The planner's claim of the next jobs of a stage. */
export interface JobClaim {
  workflowExecutionId: string;
  stage: number;
  /** The stage cursor the planner read; the claim fails when someone moved it meanwhile. */
  expectedCursor: number;
  newCursor: number;
  /** Jobs moving Pending → Queued (their current attempt). */
  jobs: Array<{ jobKey: string; attempt: number }>;
  at: string;
  /**
   * The run as the caller just read it (strongly consistent), so a store that checks the claim
   * before writing need not read it again; the write's own conditions decide. Optional.
   */
  run?: WorkflowRunState;
}

/** The aggregator's decision that a stage is over. */
export interface StageCompletion {
  workflowExecutionId: string;
  stage: number;
  status: Extract<StageStatus, 'Completed' | 'Failed' | 'Cancelled'>;
  at: string;
  /** The next stage to start, if any. */
  nextStage: number | null;
  /** Set when the run ends with this stage. */
  runStatus: Exclude<WorkflowStatus, 'Running'> | null;
  /** Counters to set on the stages whose remaining jobs will never start (stage → skipped count). */
  skippedByStage: Record<number, number>;
  /** Stages that end Skipped/Cancelled because the run ended before them. */
  endedStages: Array<{ stage: number; status: StageStatus }>;
}

/** Workflow audit rows (DynamoDB workflow audit table / SQLite runs). */
export interface RunRepository {
  getRun(workflowExecutionId: string): Promise<WorkflowRunState | undefined>;
  /**
   * Writes the run and all its job rows unless the run exists. Refuses (outcome 'limit') when the
   * workflow already has `maxActiveRuns` runs Running; that check and the write are atomic.
   * With `restartOf`, the write also sets that run's `restarted_as` to this run, only if nobody
   * restarted it yet (outcome 'restarted' otherwise), in the same atomic write.
   * With `workflowHeld` (the workflow hold state the caller read: held or not), the write also
   * checks the stored workflow hold still says so (outcome 'hold-changed' otherwise). Absent: no
   * check (callers that do not know about holds).
   */
  createRun(
    run: WorkflowAuditRecord,
    jobs: JobAuditRecord[],
    opts: { maxActiveRuns: number; restartOf?: string; workflowHeld?: boolean },
    effects: Effects,
  ): Promise<CreateRunResult>;
  /** Moves the stage cursor and the claimed jobs Pending → Queued and enqueues their messages. */
  claimJobs(claim: JobClaim, effects: Effects): Promise<'claimed' | 'conflict'>;
  /**
   * Counts one final job outcome once: sets the job's `counted` flag (only if it is still at this
   * attempt and status and not counted) and bumps the stage and run counters, atomically.
   */
  countJob(
    c: {
      workflowExecutionId: string;
      jobKey: string;
      stage: number;
      attempt: number;
      status: TerminalJobStatus;
      /** Kept on the run (first 10) when the job did not complete. */
      failure: FailedJobSummary | null;
      /** The run as the caller just read it (see JobClaim.run): spares the store a read. Optional. */
      run?: WorkflowRunState;
    },
    /** Effects of the count, derived from the run as it is right after it; committed with the count. */
    derive: (run: WorkflowRunState) => Effects,
  ): Promise<{ counted: boolean; run: WorkflowRunState | undefined }>;
  /** Ends a stage (conditional on it still Running) and starts the next one or ends the run. */
  completeStage(c: StageCompletion, effects: Effects): Promise<boolean>;
  /** Sets cancel_requested on a Running run; returns the run as it is afterwards. */
  requestCancel(workflowExecutionId: string): Promise<WorkflowRunState | undefined>;
  /** Runs of a workflow, newest first. */
  listRuns(workflowId: string, limit: number): Promise<WorkflowRunState[]>;
}

/** A conditional change of one job row. */
export interface JobTransition {
  workflowExecutionId: string;
  jobKey: string;
  /**
   * Applies only while the row is at this attempt and in one of these statuses and, when
   * `instanceId` is given, names that host (null: no host yet — how a dispatcher claims a job
   * against another Dispatch try running beside it).
   */
  expect: { attempt: number; statuses: readonly JobStatus[]; instanceId?: string | null };
  set: Partial<
    Omit<JobAuditRecord, 'workflow_execution_id' | 'job_key' | 'workflow_id' | 'stage' | 'job_no'>
  >;
}

/** Job audit rows (DynamoDB job audit table / SQLite jobs). */
export interface JobRepository {
  getJob(workflowExecutionId: string, jobKey: string): Promise<JobAuditRecord | undefined>;
  /** Jobs of a stage with job_no > afterJobNo, in job order, at most `limit`. */
  listStageJobs(
    workflowExecutionId: string,
    stage: number,
    afterJobNo: number,
    limit: number,
  ): Promise<JobAuditRecord[]>;
  /** Every job of a run in (stage, job) order. */
  listJobs(workflowExecutionId: string): Promise<JobAuditRecord[]>;
  /** Applies a conditional change; returns the row afterwards, or undefined when the condition failed. */
  transition(t: JobTransition, effects?: Effects): Promise<JobAuditRecord | undefined>;
  /**
   * Marks the never-started (Pending) jobs of `stage` after `afterJobNo`, and of every later stage,
   * Skipped with a reason and counted. Idempotent.
   */
  skipPending(
    workflowExecutionId: string,
    stage: number,
    afterJobNo: number,
    reason: (job: { stage: number; job_no: number }) => string,
  ): Promise<number>;
}

/**
 * The job queue, for a runtime whose state change and message cannot commit together. On AWS the
 * planner's claim (Pending → Queued) is written first and its messages sent after; the job audit
 * stream carries every such change to the aggregator, which hands the message here again in case
 * the sender crashed in between. The local outbox commits both at once, so it has no such port.
 */
export interface MessageQueue {
  /** Sends messages that may have been sent already (duplicates are harmless: the dispatcher checks the row). */
  ensureSent(messages: OutgoingMessage[]): Promise<void>;
}

/** The bus. */
export interface EventPublisher {
  publish(events: RsqloEvent[]): Promise<void>;
  /**
   * Publishes events re-derived from state on a redelivery, in case the first delivery crashed after
   * its write but before publishing. The local runtime's outbox already guarantees that, so there
   * it does nothing.
   */
  ensurePublished(events: RsqloEvent[]): Promise<void>;
}

/** Starts and stops single-job wrapper executions (Step Functions; locally the engine's wrapper). */
export interface JobRunOrchestrator {
  /** Starts the wrapper for one attempt; starting the same name twice is harmless. */
  start(input: JobRunInput): Promise<'started' | 'exists'>;
  /** Stops it (cancel); a stopped or finished run is left alone. */
  stop(jobRunName: string, reason: string): Promise<void>;
}

export interface AgentRef {
  instanceId: string;
}

/** The agents that run scripts (SSM Run Command to EC2 hosts; locally the in-process agent). */
export interface AgentFleet {
  /** Picks one online agent; throws NoAgentAvailableError when there is none. */
  pick(jobRunName: string): Promise<AgentRef>;
  /** Sends one command to exactly that agent; returns the command id. */
  send(agent: AgentRef, command: JobCommand): Promise<{ commandId: string | null }>;
  /**
   * Tells that agent to stop one attempt now (cancel): it kills the job and reports it Cancelled
   * once its process tree is gone. Optional: a runtime without it (the local engine, whose agent is
   * in-process) stops the job run through its JobRunOrchestrator instead.
   */
  cancel?(agent: AgentRef, cancel: JobCancel): Promise<{ commandId: string | null }>;
}

/** An upstream run that Completed, as a workflow's trigger collects it (services/trigger/). */
export interface TriggerArrival {
  workflow_execution_id: string;
  finished_at: string;
}

/**
 * What a downstream workflow's trigger has collected: one conditional item per downstream
 * workflow (AWS: an item of the config table; locally a row of `trigger_state`).
 */
export interface TriggerState {
  /** Bumped by every write, and the condition of the next one; 0 when nothing is stored yet. */
  version: number;
  /** Upstream workflow id → its latest Completed run not yet used by a requested run. */
  arrivals: Record<string, TriggerArrival>;
  /** Upstream workflow id → the arrival the last requested run used: it and older ones never count again. */
  consumed: Record<string, TriggerArrival>;
  /** The last run this trigger requested (so a redelivery re-publishes the same request). */
  last_request: { event_id: string; occurred_at: string; arrivals: Record<string, TriggerArrival> } | null;
}

/** The trigger service's state and its reverse index (who waits for whom). */
export interface TriggerRepository {
  /** Downstream workflows whose `trigger.after` names `upstream`: an index read, never a scan. */
  dependents(upstream: string): Promise<string[]>;
  get(downstream: string): Promise<TriggerState | undefined>;
  /** When the downstream's latest run started (arrivals before it do not count); undefined: never ran. */
  lastRunStart(downstream: string): Promise<string | undefined>;
  /**
   * Writes `next` only if the stored state is still at `expectedVersion` (0: none stored), with
   * its effects (the WorkflowRequested when the run is due). False when someone wrote meanwhile.
   */
  save(downstream: string, expectedVersion: number, next: TriggerState, effects: Effects): Promise<boolean>;
}

/**
 * The deployed business calendars (AWS: `calendar:<name>` items of the config table), which the
 * starter checks scheduled requests against.
 */
export interface CalendarRepository {
  /** The calendar as stored (validated by the caller), or undefined when none has that name. */
  get(name: string): Promise<unknown | undefined>;
}

/** Counts handed to WorkflowFinished etc. */
export type { JobCounts };

/* ---- Operator actions and pools (issue 14). New interfaces only: no existing port changes. ---- */

/** A stage counter an operator action moves. */
export type StageCounter =
  | 'finished'
  | 'pre_skipped'
  | 'completed'
  | 'failed'
  | 'timed_out'
  | 'cancelled'
  | 'skipped';

/** What one operator job action does to one stage of the run. */
export interface StageChange {
  stage: number;
  /** Added to the counters (negative to take away); absent counters are unchanged. */
  delta: Partial<Record<StageCounter, number>>;
  /** The stage's new status and, when it reopens, `finished_at: null`. */
  status?: StageStatus;
  reopen?: boolean;
}

/**
 * The write of one set-ok, rerun or bypass, computed once by `services/shared/operator-plan.ts`
 * (`planSetOk|planRerun|planBypass`) and written as-is by every store (SQLite, in-memory,
 * DynamoDB) in one atomic write; `applyJobAction(run, plan)` is the run it leaves.
 */
export interface JobActionPlan {
  action: 'set_ok' | 'rerun' | 'bypass';
  workflowExecutionId: string;
  jobKey: string;
  stage: number;
  /** The job row change, conditional on `expect` (attempt, status, counted, no host yet). */
  job: {
    expect: { attempt: number; statuses: readonly JobStatus[]; counted: boolean; instanceId?: null };
    set: JobTransition['set'];
  };
  /** The run change applies only while the run is still as read: this status and generation. */
  expectRun: { status: WorkflowStatus; generation: number };
  stages: StageChange[];
  /** The run's new status (a reopened run is Running again) and the fields that go with it. */
  run: {
    status: WorkflowStatus;
    /** Set when the run reopens (Failed/Completed → Running): end time cleared, slot re-taken. */
    reopens: boolean;
    generation: number;
    current_stage: number | null;
    /** The run's failed_jobs after the action (set-ok/rerun take the job out). */
    failed_jobs: FailedJobSummary[];
  };
  /**
   * Jobs Skipped "not started: stage N failed" that go back to Pending before the run reopens
   * (`OperatorRepository.reviveSkipped`): from this stage on. Null: none.
   */
  revive: { fromStage: number; reason: string } | null;
  /** Recorded on the job row and the run row in the same write (who/when/why). */
  record: OperatorActionRecord;
}

/** Who holds (or waits for) a pool slot: one job attempt. */
export interface PoolHolder {
  /** `jobRunName(exec, job_key, attempt)`: per attempt, so a slot is released once per attempt. */
  holder: string;
  workflowExecutionId: string;
  jobKey: string;
  attempt: number;
  /** When it asked (ISO): waiters are served in (since, holder) order across every workflow. */
  since: string;
}

/** A pool as stored: its size, who holds a slot and who waits, oldest first. */
export interface PoolState {
  name: string;
  slots: number;
  /** Sorted by name. */
  holders: string[];
  /** Oldest first: by `since`, then `holder`. */
  waiters: PoolHolder[];
  created_by: string;
  /** The newest resize applied (ordered by `newerRequest`); null when never resized. */
  last_change: { requested_at: string; request_id: string } | null;
}

/** Resource pools shared by every workflow of a home (local) or stack (AWS). */
export interface PoolRepository {
  get(name: string): Promise<PoolState | undefined>;
  list(): Promise<PoolState[]>;
  /** Creates the pool with `slots` unless it exists (its size then stays). */
  ensure(
    name: string,
    slots: number,
    origin: { source: PoolSource; created_by: string },
    effects: Effects,
  ): Promise<'created' | 'exists'>;
  /** Sets the size if `change` is newer than the last applied one (creates the pool if absent). */
  resize(
    name: string,
    slots: number,
    change: { requested_at: string; request_id: string; created_by: string },
    effects: Effects,
  ): Promise<'applied' | 'same' | 'stale'>;
  /** Takes a slot if one is free and nobody waits (no queue jumping); already a holder ⇒ acquired. */
  acquire(name: string, holder: PoolHolder): Promise<'acquired' | 'full' | 'missing'>;
  /**
   * Joins the waiters (idempotent: a duplicate keeps its first `since`); says how many slots are
   * free and how many wait now. `queued`: it waits after the call (false: no such pool, or it
   * holds a slot already).
   */
  enqueue(name: string, holder: PoolHolder): Promise<{ queued: boolean; free: number; waiting: number }>;
  /**
   * Moves a waiter to the holders and applies `job` (clearing its `waiting_for`), atomically, with
   * the job's message. 'gone': it is not waiting, or the job is not as `job.expect` says with
   * `waiting_for = pool:<name>` (nothing moves; the caller dequeues it). 'no-slot': all taken.
   */
  grant(
    name: string,
    holder: PoolHolder,
    job: JobTransition,
    effects: Effects,
  ): Promise<'granted' | 'no-slot' | 'gone'>;
  /** Gives the slot back, once per attempt: a second call is 'not-held'. */
  release(name: string, holder: string, effects: Effects): Promise<'released' | 'not-held'>;
  /** Leaves the waiters (a cancelled or bypassed job); false when it was not waiting. */
  dequeue(name: string, holder: string): Promise<boolean>;
}

/** The state changes of operator actions (issue 14). */
export interface OperatorRepository {
  /**
   * Writes a set-ok/rerun/bypass plan atomically: the job (its `expect`), the run (its
   * `expectRun`), the stage counters and, when it reopens, the active-run slot ('limit' when
   * the workflow has max_active_runs runs Running, read from its stored definition, default 1).
   * 'conflict': a condition failed, or the run already carries this action (`record.action_id`).
   * Writes no other job row (the caller revives skipped ones first: `reviveSkipped`).
   */
  applyJobAction(plan: JobActionPlan, effects: Effects): Promise<'applied' | 'conflict' | 'limit'>;
  /** Skipped rows with exactly `reason` in stage ≥ fromStage go back to Pending, uncounted. */
  reviveSkipped(workflowExecutionId: string, fromStage: number, reason: string): Promise<number>;
  /** Holds or frees a Running run, if `next` is newer than its stored hold state. */
  setRunHold(
    workflowExecutionId: string,
    next: HoldState,
    action: OperatorActionRecord,
    effects: Effects,
  ): Promise<'applied' | 'same' | 'stale' | 'not-running'>;
  getWorkflowHold(workflowId: string): Promise<HoldState | undefined>;
  setWorkflowHold(
    workflowId: string,
    next: HoldState,
    effects: Effects,
  ): Promise<'applied' | 'same' | 'stale'>;
  /** Running runs of the workflow held with scope workflow, in start order. */
  heldRuns(workflowId: string): Promise<string[]>;
}
