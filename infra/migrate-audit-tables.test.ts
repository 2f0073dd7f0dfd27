/**
 * The upgrade to the v2 audit tables (infra/DEPLOY.md, "Upgrading to the v2 audit tables") on
 * DynamoDB Local: history written through the v1 tables (indexes projecting ALL) is readable
 * through the repositories over the v2 tables after the copy, the copy refuses while a run is
 * Running, never overwrites what the new stack wrote, and wakes no aggregator on the new stream.
 */
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { createDynamoDefinitionRepository } from '../runtime/aws/dynamo-definitions.js';
import { createDynamoJobRepository } from '../runtime/aws/dynamo-jobs.js';
import { createDynamoRunRepository } from '../runtime/aws/dynamo-runs.js';
import { planned } from '../runtime/aws/testing/port-scenario.js';
import { parallel, sequential, workflow } from '../services/testing/fixtures.js';
import { useDynamoClients } from '../test/support/dynamodb-clients.js';
import {
  createPreviousAuditTables,
  createTestTables,
  dynamoLocal,
  openStream,
  passesAggregatorFilter,
} from '../test/support/dynamodb-local.js';
import { main, migrateAuditTables, RunsStillRunningError } from './migrate-audit-tables.js';

const ddb = dynamoLocal('infra/migrate-audit-tables.test.ts');

describe.skipIf(!ddb.endpoint)('migrate-audit-tables on DynamoDB Local', () => {
  const endpoint = ddb.endpoint as string;
  const dynamo = useDynamoClients(endpoint);

  const WF = workflow('wf', [parallel(['a.sh', 'b.sh']), sequential(['c.sh'])]);
  const effects = { apply: async () => {} };

  async function setup() {
    const prefix = `mg${Math.random().toString(36).slice(2, 8)}`;
    const v2 = await createTestTables(dynamo().dynamodb, prefix);
    const v1 = await createPreviousAuditTables(dynamo().dynamodb, prefix);
    await createDynamoDefinitionRepository({ client: dynamo().documents, tableName: v2.config }).put(
      WF as { workflow_id: string } & Record<string, unknown>,
    );
    const repos = (t: { workflowAudit: string; jobAudit: string }) => ({
      runs: createDynamoRunRepository({
        client: dynamo().documents,
        tables: { config: v2.config, workflowAudit: t.workflowAudit, jobAudit: t.jobAudit },
        effects,
      }),
      jobs: createDynamoJobRepository({ client: dynamo().documents, tableName: t.jobAudit, effects }),
    });
    return { prefix, v1, v2, old: repos(v1), next: repos(v2) };
  }

  async function endRun(table: string, exec: string) {
    await dynamo().documents.send(
      new UpdateCommand({
        TableName: table,
        Key: { workflow_execution_id: exec },
        UpdateExpression: 'SET execution_status = :s',
        ExpressionAttributeValues: { ':s': 'Completed' },
      }),
    );
  }

  it('refuses while a run is Running in the old tables, naming it, and writes nothing', async () => {
    const s = await setup();
    const p = planned(WF, 'run-live');
    await s.old.runs.createRun(p.run, p.jobs, { maxActiveRuns: 5 }, {});
    const err = await migrateAuditTables({ client: dynamo().documents, from: s.v1, to: s.v2 }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(RunsStillRunningError);
    expect(String(err.message)).toContain('run-live');
    expect(await s.next.runs.getRun('run-live')).toBeUndefined();
  });

  it('copies every run and job row; the v2 readers (BatchGet on by_workflow, fetch on by_sequence) see them whole', async () => {
    const s = await setup();
    for (const [exec, at] of [
      ['run-1', '2024-01-01T00:00:00.000Z'],
      ['run-2', '2024-01-02T00:00:00.000Z'],
    ] as const) {
      const p = planned(WF, exec, at);
      await s.old.runs.createRun(p.run, p.jobs, { maxActiveRuns: 5 }, {});
      await endRun(s.v1.workflowAudit, exec);
    }
    const stream = await openStream(endpoint, dynamo().dynamodb, s.v2.jobAudit);
    const before = {
      runs: await s.old.runs.listRuns('wf', 10),
      jobs: await s.old.jobs.listJobs('run-1'),
      stage: await s.old.jobs.listStageJobs('run-2', 1, 0, 100),
    };
    expect(before.runs.map((r) => r.workflow_execution_id)).toEqual(['run-2', 'run-1']);
    expect(before.jobs).toHaveLength(3);

    const lines: string[] = [];
    const r = await migrateAuditTables({
      client: dynamo().documents,
      from: s.v1,
      to: s.v2,
      log: (l) => lines.push(l),
    });
    expect(r).toEqual({ runs: { copied: 2, present: 0 }, jobs: { copied: 6, present: 0 } });
    expect(lines).toHaveLength(2);
    expect(await s.next.runs.listRuns('wf', 10)).toEqual(before.runs);
    expect(await s.next.jobs.listJobs('run-1')).toEqual(before.jobs);
    expect(await s.next.jobs.listStageJobs('run-2', 1, 0, 100)).toEqual(before.stage);
    expect(await s.next.runs.getRunRecord('run-1')).toEqual(await s.old.runs.getRunRecord('run-1'));
    // The copies reach the new stream as INSERTs of Pending rows: none invokes the aggregator.
    const records = await stream.next();
    expect(records).toHaveLength(6);
    expect(records.filter(passesAggregatorFilter)).toEqual([]);
  });

  it('run again, it copies nothing twice and never overwrites a row the new stack changed', async () => {
    const s = await setup();
    const p = planned(WF, 'run-1');
    await s.old.runs.createRun(p.run, p.jobs, { maxActiveRuns: 5 }, {});
    await endRun(s.v1.workflowAudit, 'run-1');
    await migrateAuditTables({ client: dynamo().documents, from: s.v1, to: s.v2 });
    await dynamo().documents.send(
      new UpdateCommand({
        TableName: s.v2.workflowAudit,
        Key: { workflow_execution_id: 'run-1' },
        UpdateExpression: 'SET execution_status = :s',
        ExpressionAttributeValues: { ':s': 'Failed' },
      }),
    );
    expect(await migrateAuditTables({ client: dynamo().documents, from: s.v1, to: s.v2 })).toEqual({
      runs: { copied: 0, present: 1 },
      jobs: { copied: 0, present: 3 },
    });
    const kept = await dynamo().documents.send(
      new GetCommand({ TableName: s.v2.workflowAudit, Key: { workflow_execution_id: 'run-1' } }),
    );
    expect(kept.Item?.execution_status).toBe('Failed');
  });

  it('refuses the same table as source and destination, and an unknown option', async () => {
    const s = await setup();
    await expect(migrateAuditTables({ client: dynamo().documents, from: s.v2, to: s.v2 })).rejects.toThrow(
      /source and destination tables are the same/,
    );
    await expect(main(['--prefix', s.prefix, '--force'])).rejects.toThrow(/unknown option --force/);
    await expect(main(['--prefix'])).rejects.toThrow(/--prefix needs a value/);
  });
});
