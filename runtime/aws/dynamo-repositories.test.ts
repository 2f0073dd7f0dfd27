import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import type { JobAuditRecord } from '../../contracts/audit.js';
import type { Effects, StageCompletion } from '../../services/ports.js';
import { parallel, scripts, sequential, workflow } from '../../services/testing/fixtures.js';
import { FakeClock } from '../../services/testing/in-memory.js';
import { useDynamoClients } from '../../test/support/dynamodb-clients.js';
import { createTestTables, dynamoLocal, type TestTables } from '../../test/support/dynamodb-local.js';
import { createDynamoDefinitionRepository } from './dynamo-definitions.js';
import {
  ACTIVE_RUNS_ATTRIBUTE,
  itemSize,
  jobToItem,
  MAX_ITEM_BYTES,
  RSQL_JOB_COUNT_ATTRIBUTE,
  RSQL_JOBS_BUDGET_BYTES,
  RSQL_JOBS_OMITTED_ATTRIBUTE,
} from './dynamo-items.js';
import { createDynamoJobRepository } from './dynamo-jobs.js';
import { ConfigItemMissingError, createDynamoRunRepository } from './dynamo-runs.js';
import type { EffectsSink } from './effects.js';
import { planned } from './testing/port-scenario.js';

const ddb = dynamoLocal('runtime/aws/dynamo-repositories.test.ts');

describe.skipIf(!ddb.endpoint)('DynamoDB repositories on DynamoDB Local', () => {
  const endpoint = ddb.endpoint as string;
  const dynamo = useDynamoClients(endpoint);

  async function setup(definitions: Array<{ workflow_id: string } & Record<string, unknown>> = []) {
    const tables: TestTables = await createTestTables(dynamo().dynamodb);
    const clock = new FakeClock('2024-01-01T00:00:00.000Z');
    const applied: Effects[] = [];
    const effects: EffectsSink = {
      async apply(fx) {
        if (fx && ((fx.events?.length ?? 0) > 0 || (fx.messages?.length ?? 0) > 0)) applied.push(fx);
      },
    };
    const definitions_ = createDynamoDefinitionRepository({
      client: dynamo().documents,
      tableName: tables.config,
    });
    for (const d of definitions) await definitions_.put(d);
    const runs = createDynamoRunRepository({
      client: dynamo().documents,
      tables: { config: tables.config, workflowAudit: tables.workflowAudit, jobAudit: tables.jobAudit },
      effects,
    });
    const jobs = createDynamoJobRepository({
      client: dynamo().documents,
      tableName: tables.jobAudit,
      effects,
      clock,
    });
    const raw = {
      job: async (exec: string, key: string) =>
        (
          await dynamo().documents.send(
            new GetCommand({
              TableName: tables.jobAudit,
              Key: { workflow_execution_id: exec, job_key: key },
            }),
          )
        ).Item,
      run: async (exec: string) =>
        (
          await dynamo().documents.send(
            new GetCommand({ TableName: tables.workflowAudit, Key: { workflow_execution_id: exec } }),
          )
        ).Item,
      config: async (id: string) =>
        (
          await dynamo().documents.send(
            new GetCommand({ TableName: tables.config, Key: { workflow_id: id } }),
          )
        ).Item,
    };
    return { tables, clock, applied, runs, jobs, definitions: definitions_, raw };
  }

  const WF = workflow('wf', [parallel(['a.sh', 'b.sh', 'c.sh']), sequential(['d.sh', 'e.sh'])]);
  const def = WF as { workflow_id: string } & Record<string, unknown>;

  describe('definitions', () => {
    it('returns the definition as written, without the active-run slots, and keeps the slots on put', async () => {
      const s = await setup([def]);
      const p = planned(WF, 'r1');
      await s.runs.createRun(p.run, p.jobs, { maxActiveRuns: 3 }, {});
      expect(await s.definitions.get('wf')).toEqual(WF);
      expect((await s.raw.config('wf'))?.[ACTIVE_RUNS_ATTRIBUTE]).toEqual(new Set(['r1']));
      const changed = { ...def, workflow_description: 'changed' };
      await s.definitions.put(changed);
      expect(await s.definitions.get('wf')).toEqual(changed);
      expect((await s.raw.config('wf'))?.[ACTIVE_RUNS_ATTRIBUTE]).toEqual(new Set(['r1']));
      expect(await s.definitions.get('unknown')).toBeUndefined();
    });

    it('treats an item holding only slots (definition deleted during a run) as no definition', async () => {
      const s = await setup();
      await dynamo().documents.send(
        new PutCommand({
          TableName: s.tables.config,
          Item: { workflow_id: 'gone', [ACTIVE_RUNS_ATTRIBUTE]: new Set(['x']) },
        }),
      );
      expect(await s.definitions.get('gone')).toBeUndefined();
    });
  });

  describe('createRun', () => {
    it('writes job rows with their sequence and without null index keys, then the run and its slot', async () => {
      const s = await setup([def]);
      const p = planned(WF, 'r1');
      expect(await s.runs.createRun(p.run, p.jobs, { maxActiveRuns: 1 }, { events: [] })).toEqual({
        outcome: 'created',
      });
      const item = await s.raw.job('r1', '2.1');
      expect(item?.job_seq).toBe(2_000_001);
      expect(item).not.toHaveProperty('execution_start_ts');
      expect(await s.jobs.getJob('r1', '2.1')).toEqual(p.jobs[3]);
      const run = await s.raw.run('r1');
      expect(run?.rsql_jobs).toEqual(['a.sh', 'b.sh', 'c.sh', 'd.sh', 'e.sh']);
      expect(run?.[RSQL_JOB_COUNT_ATTRIBUTE]).toBe(5);
      expect(await s.runs.getRun('r1')).toEqual((({ rsql_jobs: _r, ...rest }) => rest)(p.run));
      expect(await s.runs.getRunRecord('r1')).toEqual(p.run);
    });

    it('refuses over max_active_runs without writing a row, and releases the slot when the run ends', async () => {
      const s = await setup([def]);
      const p1 = planned(WF, 'r1');
      const p2 = planned(WF, 'r2', '2024-01-01T00:00:01.000Z');
      await s.runs.createRun(p1.run, p1.jobs, { maxActiveRuns: 1 }, {});
      expect(await s.runs.createRun(p2.run, p2.jobs, { maxActiveRuns: 1 }, { events: [] })).toEqual({
        outcome: 'limit',
        active: ['r1'],
      });
      expect(await s.jobs.listJobs('r2')).toEqual([]);
      const end: StageCompletion = {
        workflowExecutionId: 'r1',
        stage: 1,
        status: 'Failed',
        at: '2024-01-01T00:01:00.000Z',
        nextStage: null,
        runStatus: 'Failed',
        skippedByStage: { 1: 3, 2: 2 },
        endedStages: [{ stage: 2, status: 'Skipped' }],
      };
      expect(await s.runs.completeStage(end, {})).toBe(true);
      // The last slot removed: DynamoDB drops an emptied set.
      expect(await s.raw.config('wf')).not.toHaveProperty(ACTIVE_RUNS_ATTRIBUTE);
      expect(await s.runs.createRun(p2.run, p2.jobs, { maxActiveRuns: 1 }, {})).toEqual({
        outcome: 'created',
      });
      expect(s.applied).toEqual([]);
    });

    it('never overwrites a job row that is there already (a concurrent delivery of the same request)', async () => {
      const s = await setup([def]);
      const p = planned(WF, 'r1');
      // The first delivery wrote its rows and its planner queued 1.1; the run row is not there yet.
      const queued: JobAuditRecord = { ...(p.jobs[0] as JobAuditRecord), execution_status: 'Queued' };
      await dynamo().documents.send(
        new PutCommand({ TableName: s.tables.jobAudit, Item: jobToItem(queued) }),
      );
      expect(await s.runs.createRun(p.run, p.jobs, { maxActiveRuns: 1 }, {})).toEqual({ outcome: 'created' });
      expect((await s.jobs.getJob('r1', '1.1'))?.execution_status).toBe('Queued');
      expect((await s.jobs.listJobs('r1')).map((j) => j.execution_status)).toEqual([
        'Queued',
        'Pending',
        'Pending',
        'Pending',
        'Pending',
      ]);
    });

    it('creates once when the same request is delivered twice at the same time', async () => {
      const s = await setup([def]);
      const p = planned(WF, 'r1');
      const results = await Promise.all([
        s.runs.createRun(p.run, p.jobs, { maxActiveRuns: 1 }, { events: [] }),
        s.runs.createRun(p.run, p.jobs, { maxActiveRuns: 1 }, { events: [] }),
      ]);
      expect(results.map((r) => r.outcome).sort()).toEqual(['created', 'exists']);
      expect((await s.raw.config('wf'))?.[ACTIVE_RUNS_ATTRIBUTE]).toEqual(new Set(['r1']));
    });

    it('says exists, not limit, when the other delivery created the run between its two reads', async () => {
      const s = await setup([def]);
      const p = planned(WF, 'r1');
      // Delivery B has read "no run"; before it reads the slots, delivery A creates the run.
      let first!: Promise<unknown>;
      const slow = {
        send: async (command: { input: { TableName?: string } }) => {
          if (command instanceof GetCommand && command.input.TableName === s.tables.config) {
            first = s.runs.createRun(p.run, p.jobs, { maxActiveRuns: 1 }, {});
            await first;
          }
          return dynamo().documents.send(command as never);
        },
      };
      const b = createDynamoRunRepository({
        client: slow as never,
        tables: {
          config: s.tables.config,
          workflowAudit: s.tables.workflowAudit,
          jobAudit: s.tables.jobAudit,
        },
        effects: { apply: async () => {} },
      });
      const second = await b.createRun(p.run, p.jobs, { maxActiveRuns: 1 }, {});
      expect(await first).toEqual({ outcome: 'created' });
      expect(second).toMatchObject({ outcome: 'exists', run: { workflow_execution_id: 'r1' } });
    });

    it('lets exactly max_active_runs of many concurrent starts through', async () => {
      const s = await setup([def]);
      const plans = Array.from({ length: 6 }, (_, i) => planned(WF, `c${i}`, `2024-01-01T00:00:0${i}.000Z`));
      const results = await Promise.all(
        plans.map((p) => s.runs.createRun(p.run, p.jobs, { maxActiveRuns: 2 }, {})),
      );
      const created = plans
        .filter((_, i) => results[i]?.outcome === 'created')
        .map((p) => p.run.workflow_execution_id);
      expect(created).toHaveLength(2);
      expect((await s.raw.config('wf'))?.[ACTIVE_RUNS_ATTRIBUTE]).toEqual(new Set(created));
      for (const [i, p] of plans.entries()) {
        if (results[i]?.outcome === 'limit')
          expect(await s.jobs.listJobs(p.run.workflow_execution_id)).toEqual([]);
      }
    });

    it('restarts a run once: of many concurrent restarts one is created, the rest are told which', async () => {
      const s = await setup([def]);
      const first = planned(WF, 'r0');
      expect(await s.runs.createRun(first.run, first.jobs, { maxActiveRuns: 10 }, {})).toEqual({
        outcome: 'created',
      });
      const plans = Array.from({ length: 5 }, (_, i) =>
        planned(WF, `again${i}`, `2024-01-01T00:00:0${i}.000Z`),
      );
      const results = await Promise.all(
        plans.map((p) => s.runs.createRun(p.run, p.jobs, { maxActiveRuns: 10, restartOf: 'r0' }, {})),
      );
      const created = plans
        .filter((_, i) => results[i]?.outcome === 'created')
        .map((p) => p.run.workflow_execution_id);
      expect(created).toHaveLength(1);
      const winner = created[0] as string;
      expect((await s.raw.run('r0'))?.restarted_as).toBe(winner);
      for (const [i, p] of plans.entries()) {
        const exec = p.run.workflow_execution_id;
        if (exec === winner) continue;
        expect(results[i]).toEqual({ outcome: 'restarted', by: winner });
        // Nothing of a refused restart is left behind: no run, no job rows, no slot.
        expect(await s.raw.run(exec)).toBeUndefined();
        expect(await s.jobs.listJobs(exec)).toEqual([]);
      }
      expect((await s.raw.config('wf'))?.[ACTIVE_RUNS_ATTRIBUTE]).toEqual(new Set(['r0', winner]));
    });

    it('fails clearly when the workflow has no config item', async () => {
      const s = await setup();
      const p = planned(WF, 'r1');
      await expect(s.runs.createRun(p.run, p.jobs, { maxActiveRuns: 1 }, {})).rejects.toBeInstanceOf(
        ConfigItemMissingError,
      );
      expect(await s.runs.getRun('r1')).toBeUndefined();
      expect(await s.jobs.listJobs('r1')).toEqual([]);
    });

    it('stores the run of a 10,000-job workflow as one item well under 400 KB', async () => {
      // The definition itself is one config item (400 KB), so 10,000 scripts have short names.
      const names = scripts('etl/dim_load_part_', 5000);
      const big = workflow('big', [parallel(names), sequential(names)]);
      const s = await setup([big as { workflow_id: string } & Record<string, unknown>]);
      const p = planned(big, 'b1');
      expect(p.run.rsql_jobs).toHaveLength(10_000);
      // The run item alone (its rows are another test's subject: 10,000 of them take DynamoDB Local ~9 s).
      expect(await s.runs.createRun(p.run, [], { maxActiveRuns: 1 }, {})).toEqual({ outcome: 'created' });
      const item = (await s.raw.run('b1')) as Record<string, unknown>;
      expect(itemSize(item)).toBeLessThan(MAX_ITEM_BYTES / 4);
      const kept = item.rsql_jobs as string[];
      expect(kept.length).toBeGreaterThan(1000);
      expect(kept.length).toBeLessThan(5000);
      expect(kept).toEqual(names.slice(0, kept.length));
      expect(kept.reduce((n, name) => n + name.length + 1, 0)).toBeLessThanOrEqual(RSQL_JOBS_BUDGET_BYTES);
      expect(item[RSQL_JOBS_OMITTED_ATTRIBUTE]).toBe(5000 - kept.length);
      expect(item[RSQL_JOB_COUNT_ATTRIBUTE]).toBe(10_000);
      expect(await s.runs.getRun('b1')).not.toHaveProperty('rsql_jobs');
    });

    it('writes thousands of rows and pages through them in (stage, job) order', async () => {
      const names = scripts('j', 1500);
      const wide = workflow('wide', [parallel(names), sequential(names.slice(0, 1000))]);
      const s = await setup([wide as { workflow_id: string } & Record<string, unknown>]);
      const p = planned(wide, 'w1');
      expect(await s.runs.createRun(p.run, p.jobs, { maxActiveRuns: 1 }, {})).toEqual({ outcome: 'created' });
      const all = await s.jobs.listJobs('w1');
      expect(all.map((j) => j.job_key)).toEqual(p.jobs.map((j) => j.job_key));
      expect(all[1499]).toEqual(p.jobs[1499]);
      expect((await s.runs.getRunRecord('w1'))?.rsql_jobs).toEqual(p.run.rsql_jobs);
      const page = await s.jobs.listStageJobs('w1', 1, 998, 5);
      expect(page.map((j) => j.job_key)).toEqual(['1.999', '1.1000', '1.1001', '1.1002', '1.1003']);
      expect((await s.jobs.listStageJobs('w1', 1, 1497, 10)).map((j) => j.job_key)).toEqual([
        '1.1498',
        '1.1499',
        '1.1500',
      ]);
      expect(await s.jobs.listStageJobs('w1', 2, 0, 2000)).toHaveLength(1000);
    });
  });

  describe('claimJobs', () => {
    async function running() {
      const s = await setup([def]);
      const p = planned(WF, 'r1');
      await s.runs.createRun(p.run, p.jobs, { maxActiveRuns: 1 }, {});
      return s;
    }
    const claim = (keys: string[], expectedCursor = 0, newCursor = keys.length) => ({
      workflowExecutionId: 'r1',
      stage: 1,
      expectedCursor,
      newCursor,
      jobs: keys.map((jobKey) => ({ jobKey, attempt: 1 })),
      at: '2024-01-01T00:00:00.000Z',
    });
    const message = (key: string) => ({
      body: { version: 1, workflow_id: 'wf', workflow_execution_id: 'r1', job_key: key, attempt: 1 },
    });

    it('moves the cursor and the jobs together and then sends their messages', async () => {
      const s = await running();
      const fx = { messages: [message('1.1'), message('1.2')] };
      expect(await s.runs.claimJobs(claim(['1.1', '1.2']), fx)).toBe('claimed');
      expect(s.applied).toEqual([fx]);
      const st = (await s.runs.getRun('r1'))?.stages[0];
      expect([st?.cursor, st?.launched]).toEqual([2, 2]);
      expect((await s.jobs.listStageJobs('r1', 1, 0, 10)).map((j) => j.execution_status)).toEqual([
        'Queued',
        'Queued',
        'Pending',
      ]);
    });

    it('changes nothing when one job is not Pending at that attempt', async () => {
      const s = await running();
      await s.jobs.transition({
        workflowExecutionId: 'r1',
        jobKey: '1.2',
        expect: { attempt: 1, statuses: ['Pending'] },
        set: { execution_status: 'Cancelled' },
      });
      expect(await s.runs.claimJobs(claim(['1.1', '1.2']), { messages: [message('1.1')] })).toBe('conflict');
      expect(s.applied).toEqual([]);
      expect((await s.jobs.getJob('r1', '1.1'))?.execution_status).toBe('Pending');
      expect((await s.runs.getRun('r1'))?.stages[0]?.cursor).toBe(0);
      expect(await s.runs.claimJobs(claim(['1.1', '1.1']), {})).toBe('conflict');
    });

    it('never claims once the run is cancelled or the stage has failed', async () => {
      const s = await running();
      await s.runs.requestCancel('r1');
      expect(await s.runs.claimJobs(claim(['1.1']), {})).toBe('conflict');
      const t = await running();
      await dynamo().documents.send(
        new UpdateCommand({
          TableName: t.tables.workflowAudit,
          Key: { workflow_execution_id: 'r1' },
          UpdateExpression: 'SET stages[0].failed = :one',
          ExpressionAttributeValues: { ':one': 1 },
        }),
      );
      expect(await t.runs.claimJobs(claim(['1.1']), {})).toBe('conflict');
    });

    it('lets one of two racing planners claim the same jobs', async () => {
      const s = await running();
      const results = await Promise.all([
        s.runs.claimJobs(claim(['1.1', '1.2']), {}),
        s.runs.claimJobs(claim(['1.1']), {}),
      ]);
      expect(results.filter((r) => r === 'claimed')).toHaveLength(1);
      const st = (await s.runs.getRun('r1'))?.stages[0];
      const queued = (await s.jobs.listStageJobs('r1', 1, 0, 10)).filter(
        (j) => j.execution_status === 'Queued',
      );
      expect(st?.launched).toBe(queued.length);
    });
  });

  describe('countJob', () => {
    const wide = workflow('wide', [parallel(scripts('w', 30))]);

    async function finishedStage(n: number, status: 'Completed' | 'Failed') {
      const s = await setup([wide as { workflow_id: string } & Record<string, unknown>]);
      const p = planned(wide, 'w1');
      await s.runs.createRun(p.run, p.jobs, { maxActiveRuns: 1 }, {});
      const keys = p.jobs.slice(0, n).map((j) => j.job_key);
      for (let i = 0; i < keys.length; i += 30) {
        const part = keys.slice(i, i + 30);
        expect(
          await s.runs.claimJobs(
            {
              workflowExecutionId: 'w1',
              stage: 1,
              expectedCursor: i,
              newCursor: i + part.length,
              jobs: part.map((jobKey) => ({ jobKey, attempt: 1 })),
              at: '',
            },
            {},
          ),
        ).toBe('claimed');
      }
      for (const key of keys) {
        await s.jobs.transition({
          workflowExecutionId: 'w1',
          jobKey: key,
          expect: { attempt: 1, statuses: ['Queued'] },
          set: { execution_status: status },
        });
      }
      return { s, keys };
    }

    it('counts each of many concurrent outcomes exactly once', async () => {
      const { s, keys } = await finishedStage(30, 'Completed');
      const count = (key: string) =>
        s.runs.countJob(
          {
            workflowExecutionId: 'w1',
            jobKey: key,
            stage: 1,
            attempt: 1,
            status: 'Completed',
            failure: null,
          },
          () => ({}),
        );
      // Every outcome delivered twice, all at once.
      const results = await Promise.all([...keys, ...keys].map(count));
      expect(results.filter((r) => r.counted)).toHaveLength(30);
      const run = await s.runs.getRun('w1');
      expect(run?.stages[0]).toMatchObject({ finished: 30, completed: 30 });
      expect(run?.counts).toMatchObject({ total: 30, completed: 30 });
      expect((await s.jobs.listJobs('w1')).every((j) => j.counted)).toBe(true);
    });

    it('keeps at most 10 failure summaries however many fail at once', async () => {
      const { s, keys } = await finishedStage(20, 'Failed');
      await Promise.all(
        keys.map((key) =>
          s.runs.countJob(
            {
              workflowExecutionId: 'w1',
              jobKey: key,
              stage: 1,
              attempt: 1,
              status: 'Failed',
              failure: {
                job_key: key,
                job_name: key,
                status: 'Failed',
                exit_code: 1,
                error_message: 'x',
                log_location: null,
              },
            },
            () => ({}),
          ),
        ),
      );
      const run = await s.runs.getRun('w1');
      expect(run?.stages[0]).toMatchObject({ finished: 20, failed: 20 });
      expect(run?.counts.failed).toBe(20);
      expect(run?.failed_jobs).toHaveLength(10);
    });

    it('hands the effects derived from the run as counted, and none when it counted nothing', async () => {
      const { s } = await finishedStage(1, 'Completed');
      const seen: number[] = [];
      const derive = (run: { stages: Array<{ finished: number }> }) => {
        seen.push(run.stages[0]?.finished ?? -1);
        return { events: [] };
      };
      const c = {
        workflowExecutionId: 'w1',
        jobKey: '1.1',
        stage: 1,
        attempt: 1,
        status: 'Completed' as const,
        failure: null,
      };
      expect((await s.runs.countJob(c, derive)).counted).toBe(true);
      expect((await s.runs.countJob(c, derive)).counted).toBe(false);
      expect((await s.runs.countJob({ ...c, jobKey: '1.2' }, derive)).counted).toBe(false);
      expect(seen).toEqual([1]);
    });
  });

  describe('transition', () => {
    it('applies only at the expected attempt and status, stores a null start time as absent, sends effects after', async () => {
      const s = await setup([def]);
      const p = planned(WF, 'r1');
      await s.runs.createRun(p.run, p.jobs, { maxActiveRuns: 1 }, {});
      const fx = {
        messages: [
          {
            body: { version: 1, workflow_id: 'wf', workflow_execution_id: 'r1', job_key: '1.1', attempt: 2 },
          },
        ],
      };
      const go = (
        statuses: JobAuditRecord['execution_status'][],
        set: Partial<JobAuditRecord>,
        attempt = 1,
      ) =>
        s.jobs.transition(
          { workflowExecutionId: 'r1', jobKey: '1.1', expect: { attempt, statuses }, set },
          fx,
        );
      expect(await go(['Queued'], { execution_status: 'Running' })).toBeUndefined();
      expect(await go(['Pending'], { execution_status: 'Running' }, 2)).toBeUndefined();
      expect(s.applied).toEqual([]);
      const started = await go(['Pending'], {
        execution_status: 'Running',
        execution_start_ts: '2024-01-01T00:00:05.000Z',
      });
      expect(started?.execution_start_ts).toBe('2024-01-01T00:00:05.000Z');
      expect(s.applied).toEqual([fx]);
      // by_job_name lists started jobs only.
      const byName = await dynamo().documents.send(
        new QueryCommand({
          TableName: s.tables.jobAudit,
          IndexName: 'by_job_name',
          KeyConditionExpression: 'job_name = :n',
          ExpressionAttributeValues: { ':n': 'a.sh' },
        }),
      );
      expect(byName.Items?.map((i) => i.job_key)).toEqual(['1.1']);
      const retried = await go(['Running'], {
        execution_status: 'Pending',
        attempt: 2,
        execution_start_ts: null,
      });
      expect(retried).toMatchObject({ attempt: 2, execution_status: 'Pending', execution_start_ts: null });
      expect(await s.raw.job('r1', '1.1')).not.toHaveProperty('execution_start_ts');
      await expect(
        s.jobs.transition({
          workflowExecutionId: 'r1',
          jobKey: '1.1',
          expect: { attempt: 2, statuses: ['Pending'] },
          set: { stage: 3 } as never,
        }),
      ).rejects.toThrow(/cannot set stage/);
    });

    it('skipPending marks the never-started jobs after a point, once', async () => {
      const s = await setup([def]);
      const p = planned(WF, 'r1');
      await s.runs.createRun(p.run, p.jobs, { maxActiveRuns: 1 }, {});
      await s.runs.claimJobs(
        {
          workflowExecutionId: 'r1',
          stage: 1,
          expectedCursor: 0,
          newCursor: 1,
          jobs: [{ jobKey: '1.1', attempt: 1 }],
          at: '',
        },
        {},
      );
      expect(await s.jobs.skipPending('r1', 1, 1, (j) => `skip ${j.stage}.${j.job_no}`)).toBe(4);
      expect(await s.jobs.skipPending('r1', 1, 1, () => 'again')).toBe(0);
      expect(
        (await s.jobs.listJobs('r1')).map((j) => [j.job_key, j.execution_status, j.skip_reason, j.counted]),
      ).toEqual([
        ['1.1', 'Queued', null, false],
        ['1.2', 'Skipped', 'skip 1.2', true],
        ['1.3', 'Skipped', 'skip 1.3', true],
        ['2.1', 'Skipped', 'skip 2.1', true],
        ['2.2', 'Skipped', 'skip 2.2', true],
      ]);
    });
  });

  describe('runs', () => {
    it('lists a workflow’s runs newest first, same start time by id, across pages', async () => {
      const s = await setup([def]);
      const starts = ['00:00:01', '00:00:02', '00:00:02', '00:00:02', '00:00:03'];
      for (const [i, t] of starts.entries()) {
        const p = planned(WF, `r${i}`, `2024-01-01T${t}.000Z`);
        await s.runs.createRun(p.run, p.jobs, { maxActiveRuns: 10 }, {});
      }
      expect((await s.runs.listRuns('wf', 2)).map((r) => r.workflow_execution_id)).toEqual(['r4', 'r3']);
      expect((await s.runs.listRuns('wf', 10)).map((r) => r.workflow_execution_id)).toEqual([
        'r4',
        'r3',
        'r2',
        'r1',
        'r0',
      ]);
      expect((await s.runs.listRuns('wf', 1))[0]).not.toHaveProperty('rsql_jobs');
      expect(await s.runs.listRuns('wf', 0)).toEqual([]);
    });

    it('requestCancel sets the flag once, on a Running run only', async () => {
      const s = await setup([def]);
      const p = planned(WF, 'r1');
      await s.runs.createRun(p.run, p.jobs, { maxActiveRuns: 1 }, {});
      expect((await s.runs.requestCancel('r1'))?.cancel_requested).toBe(true);
      expect((await s.runs.requestCancel('r1'))?.cancel_requested).toBe(true);
      expect(await s.runs.requestCancel('missing')).toBeUndefined();
    });

    it('completeStage starts the next stage once and keeps counters others wrote', async () => {
      const s = await setup([def]);
      const p = planned(WF, 'r1');
      await s.runs.createRun(p.run, p.jobs, { maxActiveRuns: 1 }, {});
      await s.runs.requestCancel('r1');
      const next: StageCompletion = {
        workflowExecutionId: 'r1',
        stage: 1,
        status: 'Completed',
        at: '2024-01-01T00:01:00.000Z',
        nextStage: 2,
        runStatus: null,
        skippedByStage: {},
        endedStages: [],
      };
      const results = await Promise.all([s.runs.completeStage(next, {}), s.runs.completeStage(next, {})]);
      expect(results.sort()).toEqual([false, true]);
      const run = await s.runs.getRun('r1');
      expect(run?.current_stage).toBe(2);
      expect(run?.stages.map((st) => [st.status, st.started_at, st.finished_at])).toEqual([
        ['Completed', '2024-01-01T00:00:00.000Z', '2024-01-01T00:01:00.000Z'],
        ['Running', '2024-01-01T00:01:00.000Z', null],
      ]);
      // A cancel written before is not lost by the stage change.
      expect(run?.cancel_requested).toBe(true);
      expect((await s.raw.config('wf'))?.[ACTIVE_RUNS_ATTRIBUTE]).toEqual(new Set(['r1']));
    });
  });
});
