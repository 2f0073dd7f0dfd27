import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  TransactWriteCommand,
} from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import type { JobAuditRecord, WorkflowAuditRecord, WorkflowRunState } from '../../contracts/audit.js';
import type { HoldState, OperatorActionRecord } from '../../contracts/operator.js';
import type { Effects, JobActionPlan } from '../../services/ports.js';
import {
  applyJobAction,
  applyJobActionToJob,
  type JobActionRequest,
  planBypass,
  planRerun,
  planSetOk,
} from '../../services/shared/operator-plan.js';
import { parallel, sequential, workflow } from '../../services/testing/fixtures.js';
import { holdAction } from '../../services/testing/operator-ports-contract.js';
import { useDynamoClients } from '../../test/support/dynamodb-clients.js';
import { createTestTables, dynamoLocal, testRepositories } from '../../test/support/dynamodb-local.js';
import { readStoredConfig } from './definition-update.js';
import { ACTIVE_RUNS_ATTRIBUTE, jobToItem, runToItem } from './dynamo-items.js';
import { createDynamoOperatorRepository } from './dynamo-operator.js';
import { createDynamoPoolRepository } from './dynamo-pools.js';
import { createDynamoRunStatusReader } from './dynamo-run-status.js';
import { createDynamoRunRepository } from './dynamo-runs.js';
import type { EffectsSink } from './effects.js';
import { planned } from './testing/port-scenario.js';

const ddb = dynamoLocal('runtime/aws/dynamo-operator.test.ts');

/** wf_ops: stage 1 parallel (1.1, 1.2), stage 2 sequential (2.1). */
const WF = workflow('wf_ops', [parallel(['a.sh', 'b.sh']), sequential(['c.sh'])], { max_active_runs: 1 });
const T0 = '2024-01-01T00:00:00.000Z';
const T1 = '2024-01-01T00:10:00.000Z';

const req = (id: string, attempt = 1, reason: string | null = 'fixed by hand'): JobActionRequest => ({
  action_id: id,
  attempt,
  reason,
  requested_by: 'user:ann',
  requested_at: '2024-01-01T01:00:00.000Z',
});

const hold = (held: boolean, at: string, id: string, scope: 'run' | 'workflow' = 'run'): HoldState => ({
  held,
  scope,
  reason: held ? 'redshift patching' : null,
  requested_by: 'user:ann',
  requested_at: at,
  request_id: id,
});

const holdRecord = (h: HoldState): OperatorActionRecord => holdAction(h, '2024-01-01T02:00:00.000Z');

const fx = (n: string): Effects => ({
  events: [{ detailType: 'JobSetOk', detail: { n } } as unknown as NonNullable<Effects['events']>[number]],
});

/**
 * A run of WF that Failed in stage 1: 1.1 Completed, 1.2 Failed (counted), 2.1 never started
 * (Skipped "not started: stage 1 failed") — the state the aggregator leaves.
 */
function failedRun(exec: string, at = T0): { run: WorkflowAuditRecord; jobs: JobAuditRecord[] } {
  const p = planned(WF, exec, at);
  const [s1, s2] = p.run.stages;
  if (!s1 || !s2) throw new Error('two stages');
  const run: WorkflowAuditRecord = {
    ...p.run,
    execution_status: 'Failed',
    execution_end_ts: T1,
    current_stage: 1,
    stages: [
      {
        ...s1,
        status: 'Failed',
        started_at: at,
        finished_at: T1,
        cursor: 2,
        launched: 2,
        finished: 2,
        completed: 1,
        failed: 1,
      },
      { ...s2, status: 'Skipped', finished_at: T1, skipped: 1 },
    ],
    counts: { total: 3, completed: 1, failed: 1, timed_out: 0, cancelled: 0, skipped: 1 },
    failed_jobs: [
      {
        job_key: '1.2',
        job_name: 'b.sh',
        status: 'Failed',
        exit_code: 2,
        error_message: 'boom',
        log_location: null,
      },
    ],
  };
  const jobs = p.jobs.map((j): JobAuditRecord => {
    if (j.job_key === '1.1')
      return {
        ...j,
        execution_status: 'Completed',
        counted: true,
        execution_start_ts: at,
        execution_end_ts: T1,
        exit_code: 0,
      };
    if (j.job_key === '1.2')
      return {
        ...j,
        execution_status: 'Failed',
        counted: true,
        execution_start_ts: at,
        execution_end_ts: T1,
        exit_code: 2,
        error_message: 'boom',
      };
    return {
      ...j,
      execution_status: 'Skipped',
      counted: true,
      skip_reason: 'not started: stage 1 failed',
      execution_end_ts: T1,
    };
  });
  return { run, jobs };
}

describe.skipIf(!ddb.endpoint)('OperatorRepository on DynamoDB Local', () => {
  const dynamo = useDynamoClients(ddb.endpoint as string);

  /** Run r1 of WF created and both jobs of stage 1 claimed (Queued), as the planner leaves it. */
  async function claimedStage1(s: Awaited<ReturnType<typeof setup>>) {
    const p = planned(WF, 'r1');
    await s.runs.createRun(p.run, p.jobs, { maxActiveRuns: 1 }, {});
    const run = (await s.runs.getRun('r1')) as WorkflowRunState;
    const jobs = [
      { jobKey: '1.1', attempt: 1 },
      { jobKey: '1.2', attempt: 1 },
    ];
    return s.runs.claimJobs(
      { workflowExecutionId: 'r1', stage: 1, expectedCursor: 0, newCursor: 2, jobs, at: T0, run },
      {},
    );
  }

  async function setup() {
    const tables = await createTestTables(dynamo().dynamodb);
    const applied: Effects[] = [];
    const effects: EffectsSink = {
      async apply(e) {
        if (e && ((e.events?.length ?? 0) > 0 || (e.messages?.length ?? 0) > 0)) applied.push(e);
      },
    };
    const operator = createDynamoOperatorRepository({
      client: dynamo().documents,
      tables: { config: tables.config, workflowAudit: tables.workflowAudit, jobAudit: tables.jobAudit },
      effects,
    });
    const repos = {
      ...testRepositories(dynamo(), tables),
      // The run repository's effects are asserted too (createRun's, with the hold check).
      runs: createDynamoRunRepository({
        client: dynamo().documents,
        tables: { config: tables.config, workflowAudit: tables.workflowAudit, jobAudit: tables.jobAudit },
        effects,
      }),
    };
    await repos.definitions.put(WF as { workflow_id: string } & Record<string, unknown>);
    const put = async (table: string, item: Record<string, unknown>) =>
      dynamo().documents.send(new PutCommand({ TableName: table, Item: item }));
    /** Writes a run and its rows as they are (no slot: a finished run holds none). */
    async function store(r: { run: WorkflowAuditRecord; jobs: JobAuditRecord[] }) {
      for (const j of r.jobs) await put(tables.jobAudit, jobToItem(j));
      await put(tables.workflowAudit, runToItem(r.run));
    }
    const slots = async () =>
      (
        await dynamo().documents.send(
          new GetCommand({ TableName: tables.config, Key: { workflow_id: 'wf_ops' }, ConsistentRead: true }),
        )
      ).Item?.[ACTIVE_RUNS_ATTRIBUTE] as Set<string> | undefined;
    const state = async (exec: string) => ({
      run: (await repos.runs.getRun(exec)) as WorkflowRunState,
      jobs: await repos.jobs.listJobs(exec),
    });
    return { tables, applied, operator, ...repos, store, slots, state };
  }

  /** Set-ok's write as the starter does it: revive, then the plan. */
  async function setOk(s: Awaited<ReturnType<typeof setup>>, plan: JobActionPlan) {
    if (plan.revive)
      await s.operator.reviveSkipped(plan.workflowExecutionId, plan.revive.fromStage, plan.revive.reason);
    return s.operator.applyJobAction(plan, fx(plan.record.action_id));
  }

  it('set-ok of the failed job reopens the run: exactly what operator-plan computes, one write, slot re-taken', async () => {
    const s = await setup();
    const f = failedRun('r1');
    await s.store(f);
    const before = await s.state('r1');
    const job = before.jobs.find((j) => j.job_key === '1.2') as JobAuditRecord;
    const plan = planSetOk(before.run, job, req('setok-1'), T1);
    if (plan === 'already-applied') throw new Error('planned');
    expect(plan.run.reopens).toBe(true);
    expect(await setOk(s, plan)).toBe('applied');
    const after = await s.state('r1');
    expect(after.run).toEqual(applyJobAction(before.run, plan));
    expect(after.run).toMatchObject({
      execution_status: 'Running',
      generation: 1,
      execution_end_ts: null,
      failed_jobs: [],
    });
    expect(after.jobs.find((j) => j.job_key === '1.2')).toEqual(applyJobActionToJob(job, plan));
    // The job the failure skipped is Pending again, uncounted: the planner starts it.
    expect(after.jobs.find((j) => j.job_key === '2.1')).toMatchObject({
      execution_status: 'Pending',
      counted: false,
      skip_reason: null,
    });
    expect(await s.slots()).toEqual(new Set(['r1']));
    expect(s.applied).toEqual([fx('setok-1')]);
    // The duplicate: the job is no longer Failed and the run moved on — nothing written twice.
    expect(await s.operator.applyJobAction(plan, fx('again'))).toBe('conflict');
    expect(await s.state('r1')).toEqual(after);
    expect(s.applied).toHaveLength(1);
  });

  it("reopening beyond max_active_runs is 'limit', and nothing of the action is written", async () => {
    const s = await setup();
    const f = failedRun('r1');
    await s.store(f);
    const other = planned(WF, 'r2', '2024-01-01T00:20:00.000Z');
    expect((await s.runs.createRun(other.run, other.jobs, { maxActiveRuns: 1 }, {})).outcome).toBe('created');
    const before = await s.state('r1');
    const job = before.jobs.find((j) => j.job_key === '1.2') as JobAuditRecord;
    const plan = planSetOk(before.run, job, req('setok-1'), T1) as JobActionPlan;
    expect(await s.operator.applyJobAction(plan, fx('x'))).toBe('limit');
    expect(await s.state('r1')).toEqual(before);
    expect(await s.slots()).toEqual(new Set(['r2']));
    expect(s.applied).toEqual([]);
  });

  it("a plan from a run that changed meanwhile (generation, status) is a 'conflict'", async () => {
    const s = await setup();
    await s.store(failedRun('r1'));
    const before = await s.state('r1');
    const job = before.jobs.find((j) => j.job_key === '1.2') as JobAuditRecord;
    const plan = planSetOk(before.run, job, req('setok-1'), T1) as JobActionPlan;
    const stale: JobActionPlan = { ...plan, expectRun: { ...plan.expectRun, generation: 3 } };
    expect(await s.operator.applyJobAction(stale, fx('x'))).toBe('conflict');
    const wrongStatus: JobActionPlan = { ...plan, expectRun: { ...plan.expectRun, status: 'Completed' } };
    expect(await s.operator.applyJobAction(wrongStatus, fx('x'))).toBe('conflict');
    expect(await s.state('r1')).toEqual(before);
  });

  it('set-ok on a Running run keeps a count that lands between the plan and the write (increments)', async () => {
    const s = await setup();
    // 1.1 Failed and counted; 1.2 still running.
    expect(await claimedStage1(s)).toBe('claimed');
    const end = (key: string, status: 'Failed' | 'Completed') =>
      s.jobs.transition({
        workflowExecutionId: 'r1',
        jobKey: key,
        expect: { attempt: 1, statuses: ['Queued'] },
        set: { execution_status: status },
      });
    const count = (key: string, status: 'Failed' | 'Completed') =>
      s.runs.countJob(
        {
          workflowExecutionId: 'r1',
          jobKey: key,
          stage: 1,
          attempt: 1,
          status,
          failure:
            status === 'Failed'
              ? { job_key: key, job_name: key, status, exit_code: 1, error_message: null, log_location: null }
              : null,
        },
        () => ({}),
      );
    await end('1.1', 'Failed');
    await count('1.1', 'Failed');
    const read = await s.state('r1');
    const plan = planSetOk(
      read.run,
      read.jobs[0] as JobAuditRecord,
      req('setok-running'),
      T1,
    ) as JobActionPlan;
    expect(plan.run.reopens).toBe(false);
    // Meanwhile 1.2 fails and is counted (failed_jobs grows).
    await end('1.2', 'Failed');
    await count('1.2', 'Failed');
    const between = (await s.runs.getRun('r1')) as WorkflowRunState;
    expect(await s.operator.applyJobAction(plan, fx('x'))).toBe('applied');
    const after = (await s.runs.getRun('r1')) as WorkflowRunState;
    // Counters as the plan's arithmetic on the run as it was at the write; failed_jobs filtered
    // from the list as it was then too (the plan's own list, read before 1.2 failed, would drop 1.2).
    expect(after).toEqual({ ...applyJobAction(between, plan), failed_jobs: between.failed_jobs.slice(1) });
    expect(after.stages[0]).toMatchObject({ finished: 2, completed: 1, failed: 1 });
    expect(after.failed_jobs.map((f) => f.job_key)).toEqual(['1.2']);
  });

  it('rerun of a job of a Completed run: attempt 2 Pending, its stage in flight again, slot re-taken', async () => {
    const s = await setup();
    const f = failedRun('r1');
    // Completed instead: every job Completed.
    const done: WorkflowAuditRecord = {
      ...f.run,
      execution_status: 'Completed',
      current_stage: 2,
      stages: [
        {
          ...(f.run.stages[0] as WorkflowAuditRecord['stages'][number]),
          status: 'Completed',
          completed: 2,
          failed: 0,
        },
        {
          ...(f.run.stages[1] as WorkflowAuditRecord['stages'][number]),
          status: 'Completed',
          started_at: T0,
          cursor: 1,
          launched: 1,
          finished: 1,
          completed: 1,
          skipped: 0,
        },
      ],
      counts: { total: 3, completed: 3, failed: 0, timed_out: 0, cancelled: 0, skipped: 0 },
      failed_jobs: [],
    };
    const jobs = f.jobs.map((j) => ({
      ...j,
      execution_status: 'Completed' as const,
      skip_reason: null,
      exit_code: 0,
      error_message: null,
    }));
    await s.store({ run: done, jobs });
    const before = await s.state('r1');
    const job = before.jobs.find((j) => j.job_key === '1.1') as JobAuditRecord;
    const plan = planRerun(before.run, job, req('rerun-1', 1, null), T1) as JobActionPlan;
    expect(await s.operator.applyJobAction(plan, fx('rerun'))).toBe('applied');
    const after = await s.state('r1');
    expect(after.run).toEqual(applyJobAction(before.run, plan));
    expect(after.jobs.find((j) => j.job_key === '1.1')).toEqual(applyJobActionToJob(job, plan));
    expect(after.jobs.find((j) => j.job_key === '1.1')).toMatchObject({
      attempt: 2,
      execution_status: 'Pending',
      counted: false,
    });
    expect(await s.slots()).toEqual(new Set(['r1']));
    expect(await s.operator.applyJobAction(plan, fx('dup'))).toBe('conflict');
  });

  it("bypass of a Queued job loses to the dispatcher's claim (a host named) and wins before it", async () => {
    const s = await setup();
    expect(await claimedStage1(s)).toBe('claimed');
    const read = await s.state('r1');
    const j1 = read.jobs.find((j) => j.job_key === '1.1') as JobAuditRecord;
    const j2 = read.jobs.find((j) => j.job_key === '1.2') as JobAuditRecord;
    // The dispatcher claims 1.1 first (instance_id set): the bypass planned before is refused.
    await s.jobs.transition({
      workflowExecutionId: 'r1',
      jobKey: '1.1',
      expect: { attempt: 1, statuses: ['Queued'], instanceId: null },
      set: { instance_id: 'i-1', execution_status: 'Dispatched' },
    });
    const lost = planBypass(read.run, j1, req('bypass-1', 1, 'not needed tonight'), T1) as JobActionPlan;
    expect(await s.operator.applyJobAction(lost, fx('lost'))).toBe('conflict');
    const won = planBypass(read.run, j2, req('bypass-2', 1, 'not needed tonight'), T1) as JobActionPlan;
    expect(await s.operator.applyJobAction(won, fx('won'))).toBe('applied');
    const after = await s.state('r1');
    expect(after.jobs.find((j) => j.job_key === '1.2')).toMatchObject({
      execution_status: 'Skipped',
      skip_reason: 'bypassed: not needed tonight',
      counted: true,
    });
    expect(after.run).toEqual(applyJobAction(read.run, won));
    expect(s.applied).toEqual([fx('won')]);
  });

  it('two bypasses of a job a failure skipped, planned from the same read: one applies, pre_skipped +1 once', async () => {
    const s = await setup();
    await s.store(failedRun('r1'));
    const read = await s.state('r1');
    const job = read.jobs.find((j) => j.job_key === '2.1') as JobAuditRecord;
    const a = planBypass(read.run, job, req('bypass-a', 1, 'not today'), T1) as JobActionPlan;
    const b = planBypass(read.run, job, req('bypass-b', 1, 'not today either'), T1) as JobActionPlan;
    const outcomes = await Promise.all([
      s.operator.applyJobAction(a, fx('a')),
      s.operator.applyJobAction(b, fx('b')),
    ]);
    expect(outcomes.sort()).toEqual(['applied', 'conflict']);
    const after = await s.state('r1');
    expect(after.run.stages[1]?.pre_skipped).toBe(1);
    expect(after.jobs.find((j) => j.job_key === '2.1')?.operator_actions).toHaveLength(1);
    expect(s.applied).toHaveLength(1);
  });

  it('reviveSkipped brings back only rows skipped with exactly that reason, from that stage on, once', async () => {
    const s = await setup();
    const f = failedRun('r1');
    f.jobs = f.jobs.map((j) =>
      j.job_key === '1.1' ? { ...j, execution_status: 'Skipped', skip_reason: 'bypassed: no' } : j,
    );
    await s.store(f);
    expect(await s.operator.reviveSkipped('r1', 2, 'not started: stage 2 failed')).toBe(0);
    expect(await s.operator.reviveSkipped('r1', 1, 'not started: stage 1 failed')).toBe(1);
    expect(await s.operator.reviveSkipped('r1', 1, 'not started: stage 1 failed')).toBe(0);
    const jobs = await s.jobs.listJobs('r1');
    expect(jobs.map((j) => [j.job_key, j.execution_status])).toEqual([
      ['1.1', 'Skipped'],
      ['1.2', 'Failed'],
      ['2.1', 'Pending'],
    ]);
  });

  it('run hold: applied, same for a duplicate, stale for a reordered older request; a held run claims nothing', async () => {
    const s = await setup();
    const p = planned(WF, 'r1');
    await s.runs.createRun(p.run, p.jobs, { maxActiveRuns: 1 }, {});
    const h = hold(true, '2024-01-01T01:00:00.000Z', 'HoldRequested:01');
    const f = hold(false, '2024-01-01T01:05:00.000Z', 'FreeRequested:02');
    expect(await s.operator.setRunHold('r1', h, holdRecord(h), fx('held'))).toBe('applied');
    expect(await s.operator.setRunHold('r1', h, holdRecord(h), fx('dup'))).toBe('same');
    const run = (await s.runs.getRun('r1')) as WorkflowRunState;
    expect(run.hold_state).toEqual(h);
    expect(run.operator_actions).toEqual([holdRecord(h)]);
    expect(run.operator_action_count).toBe(1);
    // The watchdog's projected read sees the hold (a held run past its deadline is not overdue).
    const reader = createDynamoRunStatusReader({
      client: dynamo().documents,
      tableName: s.tables.workflowAudit,
    });
    expect(await reader.read('r1')).toEqual({ status: 'Running', hold_state: h });
    expect(await reader.status('r1')).toBe('Running');
    expect(await reader.read('nope')).toBeUndefined();
    // The planner's claim of a held run is refused, even when its caller did not see the hold.
    const claim = {
      workflowExecutionId: 'r1',
      stage: 1,
      expectedCursor: 0,
      newCursor: 1,
      jobs: [{ jobKey: '1.1', attempt: 1 }],
      at: T0,
    };
    expect(await s.runs.claimJobs(claim, {})).toBe('conflict');
    expect(await s.runs.claimJobs({ ...claim, run: { ...run, hold_state: null } }, {})).toBe('conflict');
    expect((await s.jobs.getJob('r1', '1.1'))?.execution_status).toBe('Pending');
    // Free, then the hold redelivered late: stale, the run stays free.
    expect(await s.operator.setRunHold('r1', f, holdRecord(f), fx('freed'))).toBe('applied');
    const older = hold(true, '2024-01-01T00:59:00.000Z', 'HoldRequested:00');
    expect(await s.operator.setRunHold('r1', older, holdRecord(older), fx('late'))).toBe('stale');
    expect((await s.runs.getRun('r1'))?.hold_state).toEqual(f);
    expect(await s.runs.claimJobs(claim, {})).toBe('claimed');
    expect(s.applied).toEqual([fx('held'), fx('freed')]);
    // A run that ended cannot be held.
    await s.store(failedRun('r9'));
    const h9 = hold(true, '2024-01-01T03:00:00.000Z', 'HoldRequested:09');
    expect(await s.operator.setRunHold('r9', h9, holdRecord(h9), {})).toBe('not-running');
    expect(await s.operator.setRunHold('nope', h9, holdRecord(h9), {})).toBe('not-running');
  });

  it('concurrent hold and free of one run settle on the newer request, whatever the order', async () => {
    const s = await setup();
    const p = planned(WF, 'r1');
    await s.runs.createRun(p.run, p.jobs, { maxActiveRuns: 1 }, {});
    const h = hold(true, '2024-01-01T01:00:00.000Z', 'HoldRequested:01');
    const f = hold(false, '2024-01-01T01:00:01.000Z', 'FreeRequested:02');
    await Promise.all([
      s.operator.setRunHold('r1', f, holdRecord(f), {}),
      s.operator.setRunHold('r1', h, holdRecord(h), {}),
    ]);
    expect((await s.runs.getRun('r1'))?.hold_state).toEqual(f);
  });

  it('workflow hold lives on its own hold: item, ordered like run holds, and survives a definition push', async () => {
    const s = await setup();
    expect(await s.operator.getWorkflowHold('wf_ops')).toBeUndefined();
    const h = hold(true, '2024-01-01T01:00:00.000Z', 'HoldRequested:01', 'workflow');
    expect(await s.operator.setWorkflowHold('wf_ops', h, fx('wf held'))).toBe('applied');
    expect(await s.operator.setWorkflowHold('wf_ops', h, fx('dup'))).toBe('same');
    const older = hold(false, '2024-01-01T00:00:00.000Z', 'FreeRequested:00', 'workflow');
    expect(await s.operator.setWorkflowHold('wf_ops', older, fx('old'))).toBe('stale');
    await s.definitions.put({
      ...(WF as { workflow_id: string } & Record<string, unknown>),
      workflow_description: 'v2',
    });
    expect(await s.operator.getWorkflowHold('wf_ops')).toEqual(h);
    expect(await s.definitions.get('wf_ops')).not.toHaveProperty('hold_state');
    expect(s.applied).toEqual([fx('wf held')]);
    // A push reads definitions only: pool: and hold: items are not definitions.
    await createDynamoPoolRepository({
      client: dynamo().documents,
      configTable: s.tables.config,
      jobAuditTable: s.tables.jobAudit,
      effects: { apply: async () => {} },
    }).ensure('wlm', 2, { source: 'default', created_by: 'wf_ops' }, {});
    const stored = await readStoredConfig(dynamo().dynamodb, s.tables.config);
    expect([...stored.definitions.keys()]).toEqual(['wf_ops']);
    // Nor does the definition reader take one for a definition (a request naming such a key).
    expect(await s.definitions.get('pool:wlm')).toBeUndefined();
    expect(await s.definitions.get('hold:wf_ops')).toBeUndefined();
  });

  it("createRun re-decides when a workflow hold lands between the starter's read and the write", async () => {
    const s = await setup();
    const p1 = planned(WF, 'r1');
    // The starter read "not held"; a hold lands before the write: refused, nothing left behind.
    const h = hold(true, '2024-01-01T01:00:00.000Z', 'HoldRequested:01', 'workflow');
    await s.operator.setWorkflowHold('wf_ops', h, {});
    expect(
      await s.runs.createRun(p1.run, p1.jobs, { maxActiveRuns: 1, workflowHeld: false }, fx('started')),
    ).toEqual({
      outcome: 'hold-changed',
    });
    expect(await s.jobs.listJobs('r1')).toEqual([]);
    expect(await s.runs.getRun('r1')).toBeUndefined();
    expect(await s.slots()).toBeUndefined();
    // Read again: held. Created held (the starter sets hold_state), taking its slot.
    const held = { ...p1.run, hold_state: h };
    expect(
      await s.runs.createRun(held, p1.jobs, { maxActiveRuns: 2, workflowHeld: true }, fx('started')),
    ).toEqual({
      outcome: 'created',
    });
    expect(s.applied).toEqual([fx('started')]);
    // The other way round: the starter read "held", a free lands first.
    const f = hold(false, '2024-01-01T01:05:00.000Z', 'FreeRequested:02', 'workflow');
    await s.operator.setWorkflowHold('wf_ops', f, {});
    const p2 = planned(WF, 'r2', '2024-01-01T00:00:05.000Z');
    expect(
      await s.runs.createRun(
        { ...p2.run, hold_state: h },
        p2.jobs,
        { maxActiveRuns: 2, workflowHeld: true },
        {},
      ),
    ).toEqual({
      outcome: 'hold-changed',
    });
    expect(await s.runs.createRun(p2.run, p2.jobs, { maxActiveRuns: 2, workflowHeld: false }, {})).toEqual({
      outcome: 'created',
    });
    // Callers that do not know about holds are not checked.
    await s.operator.setWorkflowHold(
      'wf_ops',
      hold(true, '2024-01-01T02:00:00.000Z', 'HoldRequested:03', 'workflow'),
      {},
    );
    const p3 = planned(WF, 'r3', '2024-01-01T00:00:06.000Z');
    expect((await s.runs.createRun(p3.run, p3.jobs, { maxActiveRuns: 3 }, {})).outcome).toBe('created');
  });

  it('a hold landing after the pre-check, just before the transaction, is still seen (the ConditionCheck)', async () => {
    const s = await setup();
    const h = hold(true, '2024-01-01T01:00:00.000Z', 'HoldRequested:01', 'workflow');
    const real = dynamo().documents;
    let landed = false;
    // The client the run repository writes with: the hold lands right before the run's transaction.
    const racing = {
      async send(cmd: unknown) {
        const items = cmd instanceof TransactWriteCommand ? (cmd.input.TransactItems ?? []) : [];
        if (!landed && items.some((i) => i.Put?.TableName === s.tables.workflowAudit)) {
          landed = true;
          await s.operator.setWorkflowHold('wf_ops', h, {});
        }
        return real.send(cmd as never);
      },
    } as unknown as DynamoDBDocumentClient;
    const runs = createDynamoRunRepository({
      client: racing,
      tables: { config: s.tables.config, workflowAudit: s.tables.workflowAudit, jobAudit: s.tables.jobAudit },
      effects: { apply: async () => {} },
    });
    const p = planned(WF, 'r1');
    expect(await runs.createRun(p.run, p.jobs, { maxActiveRuns: 1, workflowHeld: false }, {})).toEqual({
      outcome: 'hold-changed',
    });
    expect(landed).toBe(true);
    expect(await s.runs.getRun('r1')).toBeUndefined();
    expect(await s.jobs.listJobs('r1')).toEqual([]);
    expect(await s.slots()).toBeUndefined();
  });

  it('the hold check is atomic with the write: a hold racing createRun either lands first (hold-changed) or after', async () => {
    for (let round = 0; round < 3; round++) {
      const s = await setup();
      const p = planned(WF, `r${round}`);
      const h = hold(true, `2024-01-01T01:00:0${round}.000Z`, `HoldRequested:${round}`, 'workflow');
      const [created] = await Promise.all([
        s.runs.createRun(p.run, p.jobs, { maxActiveRuns: 1, workflowHeld: false }, {}),
        s.operator.setWorkflowHold('wf_ops', h, {}),
      ]);
      if (created.outcome === 'hold-changed') {
        expect(await s.runs.getRun(`r${round}`)).toBeUndefined();
        expect(await s.jobs.listJobs(`r${round}`)).toEqual([]);
      } else {
        expect(created.outcome).toBe('created');
        expect((await s.runs.getRun(`r${round}`))?.hold_state ?? null).toBeNull();
      }
    }
  });

  it('heldRuns: the Running runs held with scope workflow, in start order', async () => {
    const s = await setup();
    const h = hold(true, '2024-01-01T01:00:00.000Z', 'HoldRequested:01', 'workflow');
    await s.operator.setWorkflowHold('wf_ops', h, {});
    const p3 = planned(WF, 'r3', '2024-01-01T00:00:03.000Z');
    const p1 = planned(WF, 'r1', '2024-01-01T00:00:01.000Z');
    const p2 = planned(WF, 'r2', '2024-01-01T00:00:02.000Z');
    await s.runs.createRun(
      { ...p3.run, hold_state: h },
      p3.jobs,
      { maxActiveRuns: 5, workflowHeld: true },
      {},
    );
    await s.runs.createRun(
      { ...p1.run, hold_state: h },
      p1.jobs,
      { maxActiveRuns: 5, workflowHeld: true },
      {},
    );
    await s.runs.createRun(
      { ...p2.run, hold_state: h },
      p2.jobs,
      { maxActiveRuns: 5, workflowHeld: true },
      {},
    );
    // r2 is held by its own run-scope hold instead: not the workflow's to free.
    const own = hold(true, '2024-01-01T02:00:00.000Z', 'HoldRequested:r2');
    expect(await s.operator.setRunHold('r2', own, holdRecord(own), {})).toBe('applied');
    expect(await s.operator.heldRuns('wf_ops')).toEqual(['r1', 'r3']);
    expect(await s.operator.heldRuns('unknown')).toEqual([]);
  });
});
