import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { createDynamoJobRepository } from '../../runtime/aws/dynamo-jobs.js';
import { busEvent, captureLogs, stubLambdaEnv } from '../../runtime/aws/testing/lambda-harness.js';
import { planned } from '../../runtime/aws/testing/port-scenario.js';
import {
  createTestTables,
  dynamoLocal,
  localClients,
  testRepositories,
  waitForDynamo,
} from '../../test/support/dynamodb-local.js';
import { parallel, workflow } from '../testing/fixtures.js';

const ddb = dynamoLocal('services/recorder/handler.test.ts');

describe('recorder handler: configuration', () => {
  it('fails at load, naming the missing variable', async () => {
    vi.resetModules();
    vi.stubEnv('RSQLO_JOB_AUDIT_TABLE', '');
    await expect(import('./handler.js')).rejects.toThrow(
      'configuration error: RSQLO_JOB_AUDIT_TABLE is not set',
    );
    vi.unstubAllEnvs();
  });
});

describe.skipIf(!ddb.endpoint)('recorder handler (DynamoDB Local)', () => {
  const endpoint = ddb.endpoint as string;
  const WF = workflow('wf', [parallel(['a.sh', 'b.sh'])]);
  let clients: ReturnType<typeof localClients>;
  let handler: typeof import('./handler.js').handler;
  let jobs: ReturnType<typeof createDynamoJobRepository>;
  const logs = captureLogs();

  beforeAll(async () => {
    await waitForDynamo(endpoint);
    clients = localClients(endpoint);
    const tables = await createTestTables(clients.dynamodb);
    const repos = testRepositories(clients, tables);
    await repos.definitions.put(WF as { workflow_id: string } & Record<string, unknown>);
    const runs = repos.runs;
    jobs = repos.jobs;
    const p = planned(WF, 'r1');
    await runs.createRun(p.run, p.jobs, { maxActiveRuns: 1 }, {});
    await runs.claimJobs(
      {
        workflowExecutionId: 'r1',
        stage: 1,
        expectedCursor: 0,
        newCursor: 2,
        jobs: [
          { jobKey: '1.1', attempt: 1 },
          { jobKey: '1.2', attempt: 1 },
        ],
        at: '',
      },
      {},
    );
    vi.resetModules();
    stubLambdaEnv({ jobAuditTable: tables.jobAudit }, { dynamodb: endpoint });
    ({ handler } = await import('./handler.js'));
  });
  afterAll(() => {
    logs.restore();
    vi.unstubAllEnvs();
    clients?.dynamodb.destroy();
  });
  beforeEach(() => logs.clear());

  const base = (exec: string, jobKey: string, kind: string) => ({
    version: 1,
    event_id: `${kind}:${exec}:${jobKey}:a1`,
    occurred_at: '2024-01-01T00:00:05.000Z',
    workflow_id: 'wf',
    workflow_execution_id: exec,
    job_key: jobKey,
    job_name: 'a.sh',
    stage: 1,
    attempt: 1,
  });
  const started = (exec: string, jobKey: string) =>
    busEvent('JobStarted', {
      ...base(exec, jobKey, 'JobStarted'),
      started_at: '2024-01-01T00:00:05.000Z',
      instance_id: 'i-0123456789abcdef0',
      ssm_command_id: 'cmd-1',
      log_location: '/ops/rsql-logs/r1/1.1.a1',
    });
  const finished = (exec: string, jobKey: string) =>
    busEvent('JobFinished', {
      ...base(exec, jobKey, 'JobFinished'),
      status: 'Completed',
      exit_code: 0,
      error_message: null,
      started_at: '2024-01-01T00:00:05.000Z',
      finished_at: '2024-01-01T00:00:09.000Z',
      duration_ms: 4000,
      instance_id: 'i-0123456789abcdef0',
      ssm_command_id: 'cmd-1',
      log_location: '/ops/rsql-logs/r1/1.1.a1',
      reported_by: 'agent',
    });

  it('records JobStarted then JobFinished; a late or repeated report changes nothing', async () => {
    expect(await handler(started('r1', '1.1'))).toEqual({ applied: true });
    expect(await handler(finished('r1', '1.1'))).toEqual({ applied: true });
    expect(await handler(started('r1', '1.1'))).toEqual({ applied: false });
    expect(await handler(finished('r1', '1.1'))).toEqual({ applied: false });
    expect(await jobs.getJob('r1', '1.1')).toMatchObject({
      execution_status: 'Completed',
      exit_code: 0,
      instance_id: 'i-0123456789abcdef0',
      execution_start_ts: '2024-01-01T00:00:05.000Z',
      execution_end_ts: '2024-01-01T00:00:09.000Z',
    });
    expect(logs.messages()).toContain('INFO: JobStarted changed nothing (duplicate, late or stale)');
  });

  it('changes nothing for a report about an unknown execution, and says so', async () => {
    expect(await handler(finished('ghost', '1.1'))).toEqual({ applied: false });
    expect(logs.messages()).toContain('INFO: JobFinished changed nothing (duplicate, late or stale)');
    expect(await jobs.getJob('ghost', '1.1')).toBeUndefined();
  });

  it('rejects malformed reports with a log line and changes nothing', async () => {
    const before = await jobs.getJob('r1', '1.2');
    const bad = [
      { ...finished('r1', '1.2'), detail: { ...finished('r1', '1.2').detail, status: 'Exploded' } },
      { ...started('r1', '1.2'), detail: { ...started('r1', '1.2').detail, job_key: 'one' } },
      null,
    ];
    for (const e of bad) await expect(handler(e)).rejects.toMatchObject({ name: 'InvalidInputError' });
    expect(logs.lines.filter((l) => l.level === 'ERROR')).toHaveLength(3);
    expect(await jobs.getJob('r1', '1.2')).toEqual(before);
  });
});
