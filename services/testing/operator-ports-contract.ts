/**
 * The executable statement of plan §3 (issue 14): what every store's `PoolRepository` and
 * `OperatorRepository` must do, as vitest `describe` blocks parameterised by a small harness. The
 * SQLite store runs it in runtime/local/operator-store.test.ts; the in-memory store and DynamoDB
 * run the same blocks with a harness of their own (a few lines: the repositories, a way to store a
 * definition, and what the store committed).
 *
 * Runs are made and moved the way the services do it, through the store's own RunRepository and
 * JobRepository (createRun, claimJobs, transition, countJob, skipPending, completeStage), and job
 * action plans come from services/shared/operator-plan.ts, so a store is checked against exactly
 * what the starter will hand it. Every mutating call is given effects; the suite checks they are
 * committed with an applied write and never otherwise.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JobAuditRecord, WorkflowAuditRecord, WorkflowRunState } from '../../contracts/audit.js';
import { EVENT_VERSION, eventIds, type RsqloEvent } from '../../contracts/events.js';
import { type JobMessage, jobRunName } from '../../contracts/jobs.js';
import type { HoldState, OperatorActionRecord } from '../../contracts/operator.js';
import { WorkflowDefinition, type WorkflowDefinitionInput } from '../../contracts/workflow.js';
import type {
  Effects,
  JobRepository,
  OperatorRepository,
  PoolHolder,
  PoolRepository,
  RunRepository,
} from '../ports.js';
import {
  applyJobAction,
  type JobActionRequest,
  planBypass,
  planRerun,
  planSetOk,
} from '../shared/operator-plan.js';
import { planStageCompletion } from '../shared/progress.js';
import { planRun } from '../starter/plan.js';
import { FakeClock } from './fake-clock.js';
import { parallel, sequential, workflow } from './fixtures.js';
import { InMemoryStore } from './in-memory-store.js';

/** What the suite needs of a store: its repositories, a definition writer and what it committed. */
export interface OperatorPortsHarness {
  pools: PoolRepository;
  operator: OperatorRepository;
  runs: RunRepository;
  jobs: JobRepository;
  /**
   * Stores a (valid) workflow definition where the starter reads it (`DefinitionRepository`):
   * a reopened run re-takes an active-run slot under its `max_active_runs` (default 1).
   */
  putDefinition(definition: WorkflowDefinition): void | Promise<void>;
  /** Every event and queue message committed so far, in commit order. */
  committed(): { events: RsqloEvent[]; messages: JobMessage[] };
  close?(): void | Promise<void>;
}

export type MakeOperatorPortsHarness = () => OperatorPortsHarness | Promise<OperatorPortsHarness>;

/**
 * The in-memory store's harness: `describePoolRepositoryContract('in-memory', inMemoryHarness)`
 * (and the same for the operator) once its `pools()` and `operator()` are implemented.
 */
export function inMemoryHarness(): OperatorPortsHarness {
  const store = new InMemoryStore(new FakeClock('2026-12-06T10:00:00.000Z'));
  return {
    pools: store.pools(),
    operator: store.operator(),
    runs: store.runs(),
    jobs: store.jobs(),
    putDefinition: (def) => store.putDefinition(def.workflow_id, def),
    committed: () => ({
      events: store.outbox.flatMap((r) => (r.kind === 'event' ? [r.event] : [])),
      messages: store.outbox.flatMap((r) => (r.kind === 'message' ? [r.message.body] : [])),
    }),
  };
}

const T0 = Date.parse('2026-12-06T10:00:00.000Z');
/** A timestamp `s` seconds after the suite's epoch. */
const at = (s: number) => new Date(T0 + s * 1000).toISOString();

function useHarness(make: MakeOperatorPortsHarness): () => OperatorPortsHarness {
  let h: OperatorPortsHarness | undefined;
  beforeEach(async () => {
    h = await make();
  });
  afterEach(async () => {
    await h?.close?.();
    h = undefined;
  });
  return () => {
    if (!h) throw new Error('no harness');
    return h;
  };
}

/** Event ids committed so far. */
function eventIdsOf(h: OperatorPortsHarness): string[] {
  return h.committed().events.map((e) => (e.detail as { event_id?: string }).event_id ?? '?');
}

/** Runs `fn` and returns the ids of the events it committed. */
async function committedBy<T>(
  h: OperatorPortsHarness,
  fn: () => Promise<T>,
): Promise<{ r: T; ids: string[] }> {
  const before = h.committed();
  const r = await fn();
  const after = h.committed();
  expect(after.messages.length, 'queue messages committed').toBeGreaterThanOrEqual(before.messages.length);
  return { r, ids: eventIdsOf(h).slice(before.events.length) };
}

// ---- events used as effects (shapes as the services will emit them) ------------------------

function poolCreated(pool: string, slots: number): Effects {
  return {
    events: [
      {
        detailType: 'PoolCreated',
        detail: {
          version: EVENT_VERSION,
          event_id: eventIds.poolCreated(pool),
          occurred_at: at(0),
          pool,
          slots,
          source: 'definition',
          workflow_id: 'wf_a',
          workflow_execution_id: null,
        },
      },
    ],
  };
}

function poolResized(pool: string, slots: number, requestId: string): Effects {
  return {
    events: [
      {
        detailType: 'PoolResized',
        detail: {
          version: EVENT_VERSION,
          event_id: eventIds.poolResized(pool, requestId),
          occurred_at: at(0),
          pool,
          slots,
          previous_slots: null,
          reason: null,
          requested_by: 'user:oncall',
          requested_at: at(0),
        },
      },
    ],
  };
}

function slotFreed(pool: string, h: PoolHolder): Effects {
  return {
    events: [
      {
        detailType: 'PoolSlotFreed',
        detail: {
          version: EVENT_VERSION,
          event_id: eventIds.poolSlotFreed(pool, h.holder),
          occurred_at: at(0),
          workflow_id: 'wf_a',
          workflow_execution_id: h.workflowExecutionId,
          pool,
          job_key: h.jobKey,
          attempt: h.attempt,
        },
      },
    ],
  };
}

function holdEvent(wf: string, exec: string | null, hold: HoldState): Effects {
  const target = { workflow_id: wf, workflow_execution_id: exec };
  const detail = {
    version: EVENT_VERSION,
    occurred_at: hold.requested_at,
    workflow_id: wf,
    workflow_execution_id: exec,
    scope: hold.scope,
    reason: hold.reason,
    requested_by: hold.requested_by,
    requested_at: hold.requested_at,
  };
  return {
    events: [
      hold.held
        ? {
            detailType: 'RunHeld',
            detail: { ...detail, event_id: eventIds.runHeld(target, hold.request_id) },
          }
        : {
            detailType: 'RunFreed',
            detail: { ...detail, event_id: eventIds.runFreed(target, hold.request_id) },
          },
    ],
  };
}

/** The outcome event of a job action (its id is what the suite checks). */
function actionEvent(run: WorkflowRunState, job: JobAuditRecord, action: string): Effects {
  return {
    events: [
      {
        detailType: 'JobBypassed',
        detail: {
          version: EVENT_VERSION,
          event_id: `${action}:${run.workflow_execution_id}:${job.job_key}:a${job.attempt}`,
          occurred_at: at(100),
          workflow_id: run.workflow_id,
          workflow_execution_id: run.workflow_execution_id,
          job_key: job.job_key,
          job_name: job.job_name,
          stage: job.stage,
          attempt: job.attempt,
          reason: 'contract',
          requested_by: 'user:oncall',
          requested_at: at(100),
        },
      },
    ],
  };
}

// ---- runs, made and moved through the store's own ports --------------------------------------

/** wf: stage 1 parallel a, b (in `pool` when given); stage 2 sequential c. */
function definition(wf: string, opts: { maxActiveRuns?: number; pool?: string } = {}): WorkflowDefinition {
  const stage1 = parallel(['a.sh', 'b.sh']);
  const input: WorkflowDefinitionInput = workflow(
    wf,
    [opts.pool ? { ...stage1, pool: opts.pool } : stage1, sequential(['c.sh'])],
    { max_active_runs: opts.maxActiveRuns ?? 1 },
  );
  return WorkflowDefinition.parse(input);
}

async function startRun(
  h: OperatorPortsHarness,
  exec: string,
  wf: string,
  opts: {
    maxActiveRuns?: number;
    pool?: string;
    startedAt?: number;
    hold?: HoldState;
    workflowHeld?: boolean;
  } = {},
): Promise<{ run: WorkflowAuditRecord; jobs: JobAuditRecord[]; outcome: string }> {
  const def = definition(wf, opts);
  await h.putDefinition(def);
  const p = planRun({
    definition: def,
    workflowExecutionId: exec,
    now: new Date(at(opts.startedAt ?? 0)),
    parameters: {},
  });
  const run: WorkflowAuditRecord = opts.hold ? { ...p.run, hold_state: opts.hold } : p.run;
  const r = await h.runs.createRun(
    run,
    p.jobs,
    {
      maxActiveRuns: opts.maxActiveRuns ?? 1,
      ...(opts.workflowHeld !== undefined ? { workflowHeld: opts.workflowHeld } : {}),
    },
    {},
  );
  return { run, jobs: p.jobs, outcome: r.outcome };
}

async function mustRun(h: OperatorPortsHarness, exec: string): Promise<WorkflowRunState> {
  const run = await h.runs.getRun(exec);
  if (!run) throw new Error(`no run ${exec}`);
  return run;
}

async function mustJob(h: OperatorPortsHarness, exec: string, key: string): Promise<JobAuditRecord> {
  const job = await h.jobs.getJob(exec, key);
  if (!job) throw new Error(`no job ${exec} ${key}`);
  return job;
}

/** Claims stage 1's two jobs (Pending → Queued), as the planner does. */
async function claimStage1(h: OperatorPortsHarness, exec: string): Promise<'claimed' | 'conflict'> {
  return h.runs.claimJobs(
    {
      workflowExecutionId: exec,
      stage: 1,
      expectedCursor: 0,
      newCursor: 2,
      jobs: [
        { jobKey: '1.1', attempt: 1 },
        { jobKey: '1.2', attempt: 1 },
      ],
      at: at(1),
    },
    {},
  );
}

/** Runs a claimed job to `status` and counts it, as the dispatcher, the wrapper and the aggregator do. */
async function finishJob(
  h: OperatorPortsHarness,
  exec: string,
  key: string,
  status: 'Completed' | 'Failed',
): Promise<void> {
  const running = await h.jobs.transition({
    workflowExecutionId: exec,
    jobKey: key,
    expect: { attempt: 1, statuses: ['Queued'] },
    set: { execution_status: 'Running', instance_id: 'local', execution_start_ts: at(2) },
  });
  expect(running?.execution_status).toBe('Running');
  const ended = await h.jobs.transition({
    workflowExecutionId: exec,
    jobKey: key,
    expect: { attempt: 1, statuses: ['Running'] },
    set: {
      execution_status: status,
      execution_end_ts: at(3),
      exit_code: status === 'Completed' ? 0 : 1,
      error_message: status === 'Completed' ? null : 'exit 1',
    },
  });
  expect(ended?.execution_status).toBe(status);
  const job = await mustJob(h, exec, key);
  const counted = await h.runs.countJob(
    {
      workflowExecutionId: exec,
      jobKey: key,
      stage: job.stage,
      attempt: 1,
      status,
      failure:
        status === 'Completed'
          ? null
          : {
              job_key: key,
              job_name: job.job_name,
              status,
              exit_code: 1,
              error_message: 'exit 1',
              log_location: null,
            },
    },
    () => ({}),
  );
  expect(counted.counted).toBe(true);
}

/** A run of `definition` that Failed in stage 1: 1.1 Completed, 1.2 Failed, 2.1 never started. */
async function failedRun(h: OperatorPortsHarness, exec: string, wf: string, maxActiveRuns = 1) {
  await startRun(h, exec, wf, { maxActiveRuns });
  expect(await claimStage1(h, exec)).toBe('claimed');
  await finishJob(h, exec, '1.1', 'Completed');
  await finishJob(h, exec, '1.2', 'Failed');
  expect(await h.jobs.skipPending(exec, 1, 2, () => 'not started: stage 1 failed')).toBe(1);
  const run = await mustRun(h, exec);
  expect(await h.runs.completeStage(planStageCompletion(run, 1, 'Failed', at(4)), {})).toBe(true);
  const failed = await mustRun(h, exec);
  expect(failed.execution_status).toBe('Failed');
  return failed;
}

function request(id: string, attempt: number, reason: string | null = 'fixed by hand'): JobActionRequest {
  return { action_id: id, attempt, reason, requested_by: 'user:oncall', requested_at: at(99) };
}

function holder(exec: string, key: string, attempt: number, sinceS: number): PoolHolder {
  return {
    holder: jobRunName(exec, key, attempt),
    workflowExecutionId: exec,
    jobKey: key,
    attempt,
    since: at(sinceS),
  };
}

function hold(held: boolean, scope: 'run' | 'workflow', requestId: string, s: number): HoldState {
  return {
    held,
    scope,
    reason: held ? 'Redshift patching' : null,
    requested_by: 'user:oncall',
    requested_at: at(s),
    request_id: requestId,
  };
}

/** The run's audit record of a hold or free (what the starter writes with setRunHold). */
export function holdAction(h: HoldState, appliedAt = at(200)): OperatorActionRecord {
  return {
    action_id: h.request_id,
    action: h.held ? 'hold' : 'free',
    job_key: null,
    attempt: null,
    previous_status: null,
    reason: h.reason,
    requested_by: h.requested_by,
    requested_at: h.requested_at,
    applied_at: appliedAt,
  };
}

function jobMessage(exec: string, key: string, attempt: number): JobMessage {
  return { version: EVENT_VERSION, workflow_id: 'wf_p', workflow_execution_id: exec, job_key: key, attempt };
}

// ---- PoolRepository --------------------------------------------------------------------------

/** Plan §3/§4: pools shared by every workflow; slots, holders per attempt, waiters in request order. */
export function describePoolRepositoryContract(label: string, make: MakeOperatorPortsHarness): void {
  describe(`PoolRepository contract: ${label}`, () => {
    const harness = useHarness(make);

    it('ensure creates a pool once: a second ensure keeps its size and commits nothing', async () => {
      const h = harness();
      expect(await h.pools.get('wlm')).toBeUndefined();
      const first = await committedBy(h, () =>
        h.pools.ensure(
          'wlm',
          2,
          { source: 'definition', created_by: 'workflow:wf_a' },
          poolCreated('wlm', 2),
        ),
      );
      expect(first).toEqual({ r: 'created', ids: ['PoolCreated:wlm'] });
      const second = await committedBy(h, () =>
        h.pools.ensure('wlm', 5, { source: 'default', created_by: 'workflow:wf_b' }, poolCreated('wlm', 5)),
      );
      expect(second).toEqual({ r: 'exists', ids: [] });
      expect(await h.pools.get('wlm')).toEqual({
        name: 'wlm',
        slots: 2,
        holders: [],
        waiters: [],
        created_by: 'workflow:wf_a',
        last_change: null,
      });
      await h.pools.ensure('etl', 1, { source: 'default', created_by: 'workflow:wf_a' }, {});
      expect((await h.pools.list()).map((p) => p.name)).toEqual(['etl', 'wlm']);
    });

    it('resize applies newer requests only: same request ⇒ same, older ⇒ stale, absent pool ⇒ created', async () => {
      const h = harness();
      const change = (id: string, s: number) => ({
        requested_at: at(s),
        request_id: id,
        created_by: 'operator:user:oncall',
      });
      const created = await committedBy(h, () =>
        h.pools.resize('wlm', 3, change('r2', 20), poolResized('wlm', 3, 'r2')),
      );
      expect(created).toEqual({ r: 'applied', ids: ['PoolResized:wlm:r2'] });
      expect(await h.pools.get('wlm')).toMatchObject({
        slots: 3,
        created_by: 'operator:user:oncall',
        last_change: { requested_at: at(20), request_id: 'r2' },
      });
      const dup = await committedBy(h, () =>
        h.pools.resize('wlm', 3, change('r2', 20), poolResized('wlm', 3, 'r2')),
      );
      expect(dup).toEqual({ r: 'same', ids: [] });
      const older = await committedBy(h, () =>
        h.pools.resize('wlm', 0, change('r1', 10), poolResized('wlm', 0, 'r1')),
      );
      expect(older).toEqual({ r: 'stale', ids: [] });
      // Same millisecond: the request id orders them (newerRequest).
      expect(await h.pools.resize('wlm', 7, change('r1', 20), {})).toBe('stale');
      const newer = await committedBy(h, () =>
        h.pools.resize('wlm', 0, change('r3', 20), poolResized('wlm', 0, 'r3')),
      );
      expect(newer).toEqual({ r: 'applied', ids: ['PoolResized:wlm:r3'] });
      expect(await h.pools.get('wlm')).toMatchObject({ slots: 0, last_change: { request_id: 'r3' } });
      // A pool made by ensure has no last change: any resize is newer.
      await h.pools.ensure('etl', 1, { source: 'default', created_by: 'workflow:wf_a' }, {});
      expect(await h.pools.resize('etl', 4, change('r0', 0), {})).toBe('applied');
      expect((await h.pools.get('etl'))?.slots).toBe(4);
    });

    it('acquire: missing pool, a slot while one is free, full after, a holder again ⇒ acquired, 0 slots ⇒ full', async () => {
      const h = harness();
      const a = holder('e1', '1.1', 1, 1);
      const b = holder('e1', '1.2', 1, 2);
      const c = holder('e2', '1.1', 1, 3);
      expect(await h.pools.acquire('wlm', a)).toBe('missing');
      await h.pools.ensure('wlm', 2, { source: 'definition', created_by: 'workflow:wf_a' }, {});
      expect(await h.pools.acquire('wlm', a)).toBe('acquired');
      expect(await h.pools.acquire('wlm', b)).toBe('acquired');
      expect(await h.pools.acquire('wlm', c)).toBe('full');
      // The dispatcher's redelivered message: it holds a slot already.
      expect(await h.pools.acquire('wlm', a)).toBe('acquired');
      expect((await h.pools.get('wlm'))?.holders).toEqual([a.holder, b.holder].sort());
      await h.pools.ensure('zero', 0, { source: 'definition', created_by: 'workflow:wf_a' }, {});
      expect(await h.pools.acquire('zero', a)).toBe('full');
      expect((await h.pools.get('zero'))?.holders).toEqual([]);
    });

    it('enqueue is idempotent (the first since stays) and says how many slots are free and how many wait', async () => {
      const h = harness();
      await h.pools.ensure('wlm', 1, { source: 'definition', created_by: 'workflow:wf_a' }, {});
      const a = holder('e1', '1.1', 1, 1);
      const b = holder('e1', '1.2', 1, 2);
      expect(await h.pools.acquire('wlm', a)).toBe('acquired');
      expect(await h.pools.enqueue('wlm', b)).toEqual({ queued: true, free: 0, waiting: 1 });
      expect(await h.pools.enqueue('wlm', { ...b, since: at(50) })).toEqual({
        queued: true,
        free: 0,
        waiting: 1,
      });
      expect((await h.pools.get('wlm'))?.waiters).toEqual([b]);
      // No queue jumping: a free slot with someone waiting is the waiter's.
      expect(await h.pools.release('wlm', a.holder, {})).toBe('released');
      const c = holder('e2', '1.1', 1, 3);
      expect(await h.pools.acquire('wlm', c)).toBe('full');
      expect(await h.pools.enqueue('wlm', c)).toEqual({ queued: true, free: 1, waiting: 2 });
      expect(await h.pools.enqueue('nope', c)).toEqual({ queued: false, free: 0, waiting: 0 });
      // `queued` says whether it waits after the call: a holder (granted meanwhile) does not.
      const d = holder('e3', '1.1', 1, 4);
      await h.pools.ensure('big', 5, { source: 'definition', created_by: 'workflow:wf_a' }, {});
      expect(await h.pools.acquire('big', d)).toBe('acquired');
      expect(await h.pools.enqueue('big', d)).toEqual({ queued: false, free: 4, waiting: 0 });
      expect((await h.pools.get('big'))?.waiters).toEqual([]);
    });

    it('waiters are kept in (since, holder) order across workflows, whatever order they came in', async () => {
      const h = harness();
      await h.pools.ensure('wlm', 0, { source: 'definition', created_by: 'workflow:wf_a' }, {});
      const ws = [
        holder('wf_b-1', '1.3', 1, 30),
        holder('wf_a-1', '1.1', 1, 10),
        holder('wf_b-1', '1.1', 1, 20),
        holder('wf_a-1', '1.2', 1, 20),
        holder('wf_c-9', '2.1', 3, 5),
      ];
      for (const w of ws) await h.pools.enqueue('wlm', w);
      const order = (await h.pools.get('wlm'))?.waiters.map((w) => w.holder);
      expect(order).toEqual([
        ws[4]?.holder,
        ws[1]?.holder,
        // Same since: the holder name decides.
        ...[ws[2]?.holder, ws[3]?.holder].sort(),
        ws[0]?.holder,
      ]);
    });

    it('grant moves a waiter to the holders, clears the job’s waiting_for and sends its message, in one write', async () => {
      const h = harness();
      const exec = 'wf_p-1';
      await startRun(h, exec, 'wf_p', { pool: 'wlm' });
      await h.pools.ensure('wlm', 1, { source: 'definition', created_by: 'workflow:wf_p' }, {});
      expect(await claimStage1(h, exec)).toBe('claimed');
      const a = holder(exec, '1.1', 1, 1);
      const b = holder(exec, '1.2', 1, 2);
      expect(await h.pools.acquire('wlm', a)).toBe('acquired');
      expect(await h.pools.acquire('wlm', b)).toBe('full');
      const parked = await h.jobs.transition({
        workflowExecutionId: exec,
        jobKey: '1.2',
        expect: { attempt: 1, statuses: ['Queued'] },
        set: { waiting_for: 'pool:wlm' },
      });
      expect(parked?.waiting_for).toBe('pool:wlm');
      expect((await h.pools.enqueue('wlm', b)).waiting).toBe(1);
      const wake = {
        workflowExecutionId: exec,
        jobKey: '1.2',
        expect: { attempt: 1, statuses: ['Queued'] as const },
        set: { waiting_for: null },
      };
      const effects = { messages: [{ body: jobMessage(exec, '1.2', 1) }] };
      const messagesBefore = h.committed().messages.length;
      // No slot yet: nothing moves, nothing is sent.
      expect(await h.pools.grant('wlm', b, wake, effects)).toBe('no-slot');
      expect((await mustJob(h, exec, '1.2')).waiting_for).toBe('pool:wlm');
      expect(h.committed().messages.length).toBe(messagesBefore);
      expect(await h.pools.release('wlm', a.holder, slotFreed('wlm', a))).toBe('released');
      expect(await h.pools.grant('wlm', b, wake, effects)).toBe('granted');
      expect(await h.pools.get('wlm')).toMatchObject({ holders: [b.holder], waiters: [] });
      expect((await mustJob(h, exec, '1.2')).waiting_for ?? null).toBeNull();
      expect(h.committed().messages.slice(messagesBefore)).toEqual([jobMessage(exec, '1.2', 1)]);
      // Granted already (a second wake pass read the same waiters): it is no longer waiting.
      expect(await h.pools.grant('wlm', b, wake, effects)).toBe('gone');
      expect(h.committed().messages.length).toBe(messagesBefore + 1);
    });

    it('grant is gone when the job no longer waits (cancelled, bypassed): nothing moves, the caller dequeues', async () => {
      const h = harness();
      const exec = 'wf_p-2';
      await startRun(h, exec, 'wf_p', { pool: 'wlm' });
      await h.pools.ensure('wlm', 1, { source: 'definition', created_by: 'workflow:wf_p' }, {});
      expect(await claimStage1(h, exec)).toBe('claimed');
      const b = holder(exec, '1.2', 1, 2);
      await h.jobs.transition({
        workflowExecutionId: exec,
        jobKey: '1.2',
        expect: { attempt: 1, statuses: ['Queued'] },
        set: { waiting_for: 'pool:wlm' },
      });
      await h.pools.enqueue('wlm', b);
      await h.jobs.transition({
        workflowExecutionId: exec,
        jobKey: '1.2',
        expect: { attempt: 1, statuses: ['Queued'] },
        set: { execution_status: 'Cancelled', waiting_for: null, execution_end_ts: at(5) },
      });
      const before = h.committed().messages.length;
      const wake = {
        workflowExecutionId: exec,
        jobKey: '1.2',
        expect: { attempt: 1, statuses: ['Queued'] as const },
        set: { waiting_for: null },
      };
      expect(await h.pools.grant('wlm', b, wake, { messages: [{ body: jobMessage(exec, '1.2', 1) }] })).toBe(
        'gone',
      );
      expect(await h.pools.get('wlm')).toMatchObject({ holders: [], waiters: [b] });
      expect(h.committed().messages.length).toBe(before);
      expect((await mustJob(h, exec, '1.2')).execution_status).toBe('Cancelled');
      // Queued but not waiting for this pool (woken already, or parked for a hold): gone too.
      await startRun(h, 'wf_p-3', 'wf_q', { pool: 'wlm' });
      expect(await claimStage1(h, 'wf_p-3')).toBe('claimed');
      const c = holder('wf_p-3', '1.1', 1, 3);
      await h.pools.enqueue('wlm', c);
      expect(
        await h.pools.grant('wlm', c, { ...wake, workflowExecutionId: 'wf_p-3', jobKey: '1.1' }, {}),
      ).toBe('gone');
      expect(await h.pools.dequeue('wlm', b.holder)).toBe(true);
      expect(await h.pools.dequeue('wlm', b.holder)).toBe(false);
      expect((await h.pools.get('wlm'))?.waiters).toEqual([c]);
    });

    it('release frees a slot once per attempt: a second release is not-held and commits nothing', async () => {
      const h = harness();
      await h.pools.ensure('wlm', 2, { source: 'definition', created_by: 'workflow:wf_a' }, {});
      const a1 = holder('e1', '1.1', 1, 1);
      const a2 = holder('e1', '1.1', 2, 9);
      expect(await h.pools.acquire('wlm', a1)).toBe('acquired');
      const first = await committedBy(h, () => h.pools.release('wlm', a1.holder, slotFreed('wlm', a1)));
      expect(first).toEqual({ r: 'released', ids: [eventIds.poolSlotFreed('wlm', a1.holder)] });
      const again = await committedBy(h, () => h.pools.release('wlm', a1.holder, slotFreed('wlm', a1)));
      expect(again).toEqual({ r: 'not-held', ids: [] });
      // Attempt 2 holds a slot; a late record of attempt 1 must not free it.
      expect(await h.pools.acquire('wlm', a2)).toBe('acquired');
      expect(await h.pools.release('wlm', a1.holder, slotFreed('wlm', a1))).toBe('not-held');
      expect((await h.pools.get('wlm'))?.holders).toEqual([a2.holder]);
      expect(await h.pools.release('nope', a2.holder, {})).toBe('not-held');
    });

    it('shrinking below the holders keeps them until they release; nothing new is acquired meanwhile', async () => {
      const h = harness();
      await h.pools.ensure('wlm', 2, { source: 'definition', created_by: 'workflow:wf_a' }, {});
      const a = holder('e1', '1.1', 1, 1);
      const b = holder('e1', '1.2', 1, 2);
      await h.pools.acquire('wlm', a);
      await h.pools.acquire('wlm', b);
      expect(
        await h.pools.resize(
          'wlm',
          0,
          { requested_at: at(5), request_id: 'drain', created_by: 'operator:x' },
          {},
        ),
      ).toBe('applied');
      expect((await h.pools.get('wlm'))?.holders).toHaveLength(2);
      expect(await h.pools.release('wlm', a.holder, {})).toBe('released');
      expect(await h.pools.acquire('wlm', holder('e2', '1.1', 1, 3))).toBe('full');
      expect(await h.pools.enqueue('wlm', holder('e2', '1.1', 1, 3))).toEqual({
        queued: true,
        free: 0,
        waiting: 1,
      });
    });
  });
}

// ---- OperatorRepository ----------------------------------------------------------------------

/** Plan §3, §5–§8: job actions as planned by operator-plan.ts, holds ordered by newerRequest. */
export function describeOperatorRepositoryContract(label: string, make: MakeOperatorPortsHarness): void {
  describe(`OperatorRepository contract: ${label}`, () => {
    const harness = useHarness(make);

    it('applyJobAction writes what operator-plan computes (set-ok reopening a Failed run), with its effects', async () => {
      const h = harness();
      const run = await failedRun(h, 'wf_a-1', 'wf_a');
      const job = await mustJob(h, 'wf_a-1', '1.2');
      const plan = planSetOk(run, job, request('setok-1', 1), at(100));
      if (plan === 'already-applied') throw new Error('planned nothing');
      expect(plan.revive).toEqual({ fromStage: 1, reason: 'not started: stage 1 failed' });
      // The caller revives first (a Failed run is read by nobody), then applies.
      expect(await h.operator.reviveSkipped('wf_a-1', 1, 'not started: stage 1 failed')).toBe(1);
      const r = await committedBy(h, () => h.operator.applyJobAction(plan, actionEvent(run, job, 'setok')));
      expect(r).toEqual({ r: 'applied', ids: ['setok:wf_a-1:1.2:a1'] });
      const after = await mustRun(h, 'wf_a-1');
      expect(after).toEqual(applyJobAction(run, plan));
      expect(after).toMatchObject({ execution_status: 'Running', generation: 1, execution_end_ts: null });
      const j = await mustJob(h, 'wf_a-1', '1.2');
      expect(j.execution_status).toBe('Completed');
      expect(j.operator_actions?.map((a) => a.action_id)).toEqual(['setok-1']);
      expect((await mustJob(h, 'wf_a-1', '2.1')).execution_status).toBe('Pending');
      // The same plan again: the run is no longer as read ⇒ conflict, nothing written or sent.
      const again = await committedBy(h, () =>
        h.operator.applyJobAction(plan, actionEvent(run, job, 'setok')),
      );
      expect(again).toEqual({ r: 'conflict', ids: [] });
      expect(await mustRun(h, 'wf_a-1')).toEqual(after);

      // The reopened stage ends again: that ending is generation 1's, kept on the stage, so a
      // replay re-derives `StageCompleted:…:1:g1` from it whatever the run's generation is by then.
      expect(after.stages[0]?.status).toBe('Running');
      expect(await h.runs.completeStage(planStageCompletion(after, 1, 'Completed', at(101)), {})).toBe(true);
      const ended = await mustRun(h, 'wf_a-1');
      expect(ended.stages[0]).toMatchObject({ status: 'Completed', ended_generation: 1 });
      expect(ended.stages[1]).toMatchObject({ status: 'Running' });
      expect(ended.stages[1]?.ended_generation).toBeUndefined();
    });

    it('applyJobAction: a job not as planned (another attempt, status or a host) is a conflict; nothing changes', async () => {
      const h = harness();
      const run = await failedRun(h, 'wf_a-2', 'wf_a');
      const job = await mustJob(h, 'wf_a-2', '1.2');
      const plan = planSetOk(run, job, request('setok-2', 1), at(100));
      if (plan === 'already-applied') throw new Error('planned nothing');
      const wrongAttempt = { ...plan, job: { ...plan.job, expect: { ...plan.job.expect, attempt: 2 } } };
      expect(await h.operator.applyJobAction(wrongAttempt, actionEvent(run, job, 'x'))).toBe('conflict');
      const wrongStatus = {
        ...plan,
        job: { ...plan.job, expect: { ...plan.job.expect, statuses: ['TimedOut'] as const } },
      };
      expect(await h.operator.applyJobAction(wrongStatus, actionEvent(run, job, 'x'))).toBe('conflict');
      const wrongGeneration = { ...plan, expectRun: { ...plan.expectRun, generation: 3 } };
      expect(await h.operator.applyJobAction(wrongGeneration, actionEvent(run, job, 'x'))).toBe('conflict');
      expect(await mustRun(h, 'wf_a-2')).toEqual(run);
      expect(await mustJob(h, 'wf_a-2', '1.2')).toEqual(job);
      expect(eventIdsOf(h)).not.toContain('x:wf_a-2:1.2:a1');
      // Bypass of a Queued job loses to the dispatcher's claim (a host was named meanwhile).
      await startRun(h, 'wf_b-1', 'wf_b');
      expect(await claimStage1(h, 'wf_b-1')).toBe('claimed');
      const b = await mustJob(h, 'wf_b-1', '1.1');
      const bRun = await mustRun(h, 'wf_b-1');
      const bypass = planBypass(bRun, b, request('bypass-1', 1, 'not needed'), at(100));
      if (bypass === 'already-applied') throw new Error('planned nothing');
      expect(bypass.job.expect.instanceId).toBeNull();
      await h.jobs.transition({
        workflowExecutionId: 'wf_b-1',
        jobKey: '1.1',
        expect: { attempt: 1, statuses: ['Queued'], instanceId: null },
        set: { instance_id: 'local' },
      });
      expect(await h.operator.applyJobAction(bypass, {})).toBe('conflict');
      expect((await mustJob(h, 'wf_b-1', '1.1')).execution_status).toBe('Queued');
    });

    it('a reopen re-takes the active-run slot: limit while the workflow has max_active_runs runs Running', async () => {
      const h = harness();
      const run = await failedRun(h, 'wf_a-3', 'wf_a', 1);
      expect((await startRun(h, 'wf_a-4', 'wf_a', { maxActiveRuns: 1, startedAt: 10 })).outcome).toBe(
        'created',
      );
      const job = await mustJob(h, 'wf_a-3', '1.2');
      const plan = planSetOk(run, job, request('setok-3', 1), at(100));
      if (plan === 'already-applied') throw new Error('planned nothing');
      const r = await committedBy(h, () => h.operator.applyJobAction(plan, actionEvent(run, job, 'setok')));
      expect(r).toEqual({ r: 'limit', ids: [] });
      expect(await mustRun(h, 'wf_a-3')).toEqual(run);
      expect((await mustJob(h, 'wf_a-3', '1.2')).execution_status).toBe('Failed');
      // A set-ok that does not reopen (another stage job still failed) needs no slot.
    });

    it('rerun and bypass plans are written as planned', async () => {
      const h = harness();
      const run = await failedRun(h, 'wf_a-5', 'wf_a', 2);
      const done = await mustJob(h, 'wf_a-5', '1.1');
      const rerun = planRerun(run, done, request('rerun-1', 1, null), at(100));
      if (rerun === 'already-applied') throw new Error('planned nothing');
      expect(await h.operator.applyJobAction(rerun, actionEvent(run, done, 'rerun'))).toBe('applied');
      const after = await mustRun(h, 'wf_a-5');
      expect(after).toEqual(applyJobAction(run, rerun));
      const j = await mustJob(h, 'wf_a-5', '1.1');
      expect(j).toMatchObject({ execution_status: 'Pending', attempt: 2, counted: false });
      expect(j.previous_attempts.map((p) => p.attempt)).toEqual([1]);

      await startRun(h, 'wf_c-1', 'wf_c');
      const cRun = await mustRun(h, 'wf_c-1');
      const c = await mustJob(h, 'wf_c-1', '2.1');
      const bypass = planBypass(cRun, c, request('bypass-2', 1, 'report not needed'), at(100));
      if (bypass === 'already-applied') throw new Error('planned nothing');
      expect(await h.operator.applyJobAction(bypass, actionEvent(cRun, c, 'bypass'))).toBe('applied');
      expect(await mustRun(h, 'wf_c-1')).toEqual(applyJobAction(cRun, bypass));
      expect(await mustJob(h, 'wf_c-1', '2.1')).toMatchObject({
        execution_status: 'Skipped',
        skip_reason: 'bypassed: report not needed',
        counted: true,
      });
      expect(eventIdsOf(h)).toEqual(expect.arrayContaining(['rerun:wf_a-5:1.1:a1', 'bypass:wf_c-1:2.1:a1']));
    });

    it('the same plan twice on a run it leaves as read (bypass of a job a failure skipped) applies once', async () => {
      const h = harness();
      const run = await failedRun(h, 'wf_a-7', 'wf_a');
      const skipped = await mustJob(h, 'wf_a-7', '2.1');
      const plan = planBypass(run, skipped, request('bypass-7', 1, 'not needed today'), at(100));
      if (plan === 'already-applied') throw new Error('planned nothing');
      expect(plan.expectRun).toEqual({ status: 'Failed', generation: 0 });
      expect(await h.operator.applyJobAction(plan, actionEvent(run, skipped, 'bypass'))).toBe('applied');
      const after = await mustRun(h, 'wf_a-7');
      expect(after).toEqual(applyJobAction(run, plan));
      expect(after.stages[1]?.pre_skipped).toBe(1);
      const again = await committedBy(h, () =>
        h.operator.applyJobAction(plan, actionEvent(run, skipped, 'bypass-again')),
      );
      expect(again).toEqual({ r: 'conflict', ids: [] });
      expect(await mustRun(h, 'wf_a-7')).toEqual(after);
      expect((await mustJob(h, 'wf_a-7', '2.1')).operator_actions).toHaveLength(1);
    });

    it('reviveSkipped brings back exactly the rows skipped with that reason, from that stage on', async () => {
      const h = harness();
      await failedRun(h, 'wf_a-6', 'wf_a');
      expect(await h.operator.reviveSkipped('wf_a-6', 1, 'not started: stage 9 failed')).toBe(0);
      expect(await h.operator.reviveSkipped('wf_a-6', 3, 'not started: stage 1 failed')).toBe(0);
      expect(await h.operator.reviveSkipped('wf_a-6', 1, 'not started: stage 1 failed')).toBe(1);
      expect(await mustJob(h, 'wf_a-6', '2.1')).toMatchObject({
        execution_status: 'Pending',
        counted: false,
        skip_reason: null,
        execution_end_ts: null,
      });
      expect(await h.operator.reviveSkipped('wf_a-6', 1, 'not started: stage 1 failed')).toBe(0);
      // skipPending with the same reason undoes it (how the starter backs out on 'limit').
      expect(await h.jobs.skipPending('wf_a-6', 1, 2, () => 'not started: stage 1 failed')).toBe(1);
      expect((await mustJob(h, 'wf_a-6', '2.1')).execution_status).toBe('Skipped');
    });

    it('setRunHold orders requests: applied, same (duplicate), stale (older), not-running', async () => {
      const h = harness();
      await startRun(h, 'wf_h-1', 'wf_h');
      const held = hold(true, 'run', 'hold-1', 10);
      const r1 = await committedBy(h, () =>
        h.operator.setRunHold('wf_h-1', held, holdAction(held), holdEvent('wf_h', 'wf_h-1', held)),
      );
      expect(r1).toEqual({ r: 'applied', ids: ['RunHeld:wf_h-1:hold-1'] });
      const run = await mustRun(h, 'wf_h-1');
      expect(run.hold_state).toEqual(held);
      expect(run.execution_status).toBe('Running');
      expect(run.operator_actions?.map((a) => a.action_id)).toEqual(['hold-1']);
      const dup = await committedBy(h, () =>
        h.operator.setRunHold('wf_h-1', held, holdAction(held), holdEvent('wf_h', 'wf_h-1', held)),
      );
      expect(dup).toEqual({ r: 'same', ids: [] });
      const oldFree = hold(false, 'run', 'free-0', 5);
      expect(
        await h.operator.setRunHold(
          'wf_h-1',
          oldFree,
          holdAction(oldFree),
          holdEvent('wf_h', 'wf_h-1', oldFree),
        ),
      ).toBe('stale');
      expect((await mustRun(h, 'wf_h-1')).hold_state).toEqual(held);
      const free = hold(false, 'run', 'free-1', 20);
      expect(
        await h.operator.setRunHold('wf_h-1', free, holdAction(free), holdEvent('wf_h', 'wf_h-1', free)),
      ).toBe('applied');
      const freed = await mustRun(h, 'wf_h-1');
      expect(freed.hold_state).toEqual(free);
      expect(freed.operator_actions?.map((a) => a.action) ?? []).toEqual(['hold', 'free']);
      expect(freed.operator_action_count).toBe(2);
      await failedRun(h, 'wf_h2-1', 'wf_h2');
      const late = hold(true, 'run', 'hold-9', 30);
      expect(
        await h.operator.setRunHold('wf_h2-1', late, holdAction(late), holdEvent('wf_h2', 'wf_h2-1', late)),
      ).toBe('not-running');
      expect(await h.operator.setRunHold('nope', late, holdAction(late), {})).toBe('not-running');
      expect(eventIdsOf(h).filter((id) => id.startsWith('Run'))).toEqual([
        'RunHeld:wf_h-1:hold-1',
        'RunFreed:wf_h-1:free-1',
      ]);
    });

    it('claimJobs refuses a held run, and claims again once it is freed', async () => {
      const h = harness();
      await startRun(h, 'wf_h-2', 'wf_h');
      const held = hold(true, 'run', 'hold-2', 10);
      expect(await h.operator.setRunHold('wf_h-2', held, holdAction(held), {})).toBe('applied');
      expect(await claimStage1(h, 'wf_h-2')).toBe('conflict');
      expect((await mustJob(h, 'wf_h-2', '1.1')).execution_status).toBe('Pending');
      const free = hold(false, 'run', 'free-2', 20);
      expect(await h.operator.setRunHold('wf_h-2', free, holdAction(free), {})).toBe('applied');
      expect(await claimStage1(h, 'wf_h-2')).toBe('claimed');
    });

    it('setWorkflowHold orders requests, and createRun checks workflowHeld against it atomically', async () => {
      const h = harness();
      expect(await h.operator.getWorkflowHold('wf_w')).toBeUndefined();
      const held = hold(true, 'workflow', 'whold-1', 10);
      const r = await committedBy(h, () =>
        h.operator.setWorkflowHold('wf_w', held, holdEvent('wf_w', null, held)),
      );
      expect(r).toEqual({ r: 'applied', ids: ['RunHeld:wf:wf_w:whold-1'] });
      expect(await h.operator.getWorkflowHold('wf_w')).toEqual(held);
      expect(await h.operator.setWorkflowHold('wf_w', held, holdEvent('wf_w', null, held))).toBe('same');
      const older = hold(false, 'workflow', 'wfree-0', 5);
      expect(await h.operator.setWorkflowHold('wf_w', older, holdEvent('wf_w', null, older))).toBe('stale');
      expect(eventIdsOf(h)).toEqual(['RunHeld:wf:wf_w:whold-1']);

      // The starter read "not held" before the hold landed: hold-changed, nothing written.
      expect((await startRun(h, 'wf_w-1', 'wf_w', { workflowHeld: false })).outcome).toBe('hold-changed');
      expect(await h.runs.getRun('wf_w-1')).toBeUndefined();
      expect(await h.jobs.getJob('wf_w-1', '1.1')).toBeUndefined();
      const asHeld = { hold: { ...held }, workflowHeld: true, maxActiveRuns: 5 };
      expect((await startRun(h, 'wf_w-1', 'wf_w', asHeld)).outcome).toBe('created');
      expect((await mustRun(h, 'wf_w-1')).hold_state).toEqual(held);
      // Callers that know nothing of holds are not checked.
      expect((await startRun(h, 'wf_w-2', 'wf_w', { maxActiveRuns: 5 })).outcome).toBe('created');
      const free = hold(false, 'workflow', 'wfree-1', 20);
      expect(await h.operator.setWorkflowHold('wf_w', free, {})).toBe('applied');
      expect((await startRun(h, 'wf_w-3', 'wf_w', { ...asHeld, startedAt: 30 })).outcome).toBe(
        'hold-changed',
      );
      expect((await startRun(h, 'wf_w-3', 'wf_w', { workflowHeld: false, maxActiveRuns: 5 })).outcome).toBe(
        'created',
      );
      // A duplicate request finds its run whatever the hold says.
      expect((await startRun(h, 'wf_w-1', 'wf_w', { workflowHeld: false, maxActiveRuns: 5 })).outcome).toBe(
        'exists',
      );
    });

    it('heldRuns lists the Running runs held with scope workflow, in start order', async () => {
      const h = harness();
      const wh = hold(true, 'workflow', 'whold-2', 1);
      const opts = { maxActiveRuns: 10, hold: wh };
      await startRun(h, 'wf_l-c', 'wf_l', { ...opts, startedAt: 30 });
      await startRun(h, 'wf_l-a', 'wf_l', { ...opts, startedAt: 10 });
      await startRun(h, 'wf_l-b', 'wf_l', { ...opts, startedAt: 20 });
      await startRun(h, 'wf_l-r', 'wf_l', {
        maxActiveRuns: 10,
        startedAt: 5,
        hold: hold(true, 'run', 'h', 1),
      });
      await startRun(h, 'wf_l-f', 'wf_l', {
        maxActiveRuns: 10,
        startedAt: 6,
        hold: hold(false, 'workflow', 'f', 2),
      });
      await startRun(h, 'wf_m-1', 'wf_m', { ...opts, startedAt: 1 });
      expect(await h.operator.heldRuns('wf_l')).toEqual(['wf_l-a', 'wf_l-b', 'wf_l-c']);
      // Freed by its own run-scope request: no longer listed.
      const free = hold(false, 'run', 'free-b', 40);
      expect(await h.operator.setRunHold('wf_l-b', free, holdAction(free), {})).toBe('applied');
      expect(await h.operator.heldRuns('wf_l')).toEqual(['wf_l-a', 'wf_l-c']);
      expect(await h.operator.heldRuns('nobody')).toEqual([]);
    });
  });
}
