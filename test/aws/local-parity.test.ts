/**
 * The same workflows give the same audit records on the local engine (the rsqlo CLI) and on the
 * AWS path, with the same execution ids, except for the runtime-specific fields compare.ts lists
 * (timestamps, instance ids, SSM command ids, log locations) and says why.
 */
import { cpSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { JobAuditRecord, WorkflowAuditRecord } from '../../contracts/audit.js';
import type { PgConnectionInfo } from '../../rsql/embedded-postgres.js';
import { dynamoLocal } from '../support/dynamodb-local.js';
import { createTestDatabase, query } from '../support/postgres.js';
import { spawnRsqlo, until } from '../support/processes.js';
import { cli, workspace } from '../support/workspace.js';
import { comparable, RUNTIME_SPECIFIC_FIELDS } from './compare.js';
import { failingWorkflow, opsParityWorkflow } from './fixtures.js';
import { type AwsHarness, createAwsHarness } from './harness.js';

const ddb = dynamoLocal('test/aws/local-parity.test.ts');
type Doc = { workflow: WorkflowAuditRecord; jobs: JobAuditRecord[] };
const BLOG = path.resolve('examples/blog');

/** Runs the CLI and returns its --json document. */
async function local(argv: string[]): Promise<Doc> {
  const r = await cli([...argv, '--json']);
  if (!r.stdout.trim()) throw new Error(`rsqlo ${argv.join(' ')} printed nothing: ${r.stderr}`);
  return JSON.parse(r.stdout) as Doc;
}

describe.skipIf(!ddb.endpoint)('the local engine and the AWS path write the same audit records', () => {
  let db: { connection: PgConnectionInfo; drop: () => Promise<void> };
  let h: AwsHarness | undefined;
  beforeAll(async () => {
    db = await createTestDatabase('aws_parity');
  });
  afterEach(async () => {
    await h?.dispose();
    h = undefined;
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('compares only what is not runtime-specific', () => {
    const job = {
      execution_start_ts: 'a',
      instance_id: 'i-1',
      ssm_command_id: 'c',
      log_location: null,
      exit_code: 3,
    };
    const run = { execution_end_ts: null, stages: [{ started_at: 'x', status: 'Failed' }] };
    expect(comparable(run as never, [job as never])).toEqual({
      workflow: { execution_end_ts: null, stages: [{ started_at: '<timestamp>', status: 'Failed' }] },
      jobs: [
        { execution_start_ts: '<timestamp>', instance_id: '<instance_id>', log_location: null, exit_code: 3 },
      ],
    });
    expect(RUNTIME_SPECIFIC_FIELDS.dropped).toEqual(['ssm_command_id', 'definition_source']);
  });

  it('the blog workflow', async () => {
    h = await createAwsHarness({
      endpoint: ddb.endpoint as string,
      scriptRoot: path.join(BLOG, 'scripts'),
      database: db.connection,
      ssmMode: 'in-process',
    });
    await h.putDefinition(JSON.parse(readFileSync(path.join(BLOG, 'workflow.json'), 'utf8')));
    h.request({ workflow_id: 'blog_test_workflow', workflow_execution_id: 'blog-parity-1' });
    const aws = await h.finished('blog-parity-1');
    expect(await h.problems()).toEqual([]);
    await h.dispose();
    h = undefined;
    const rowsAfter = async () =>
      (await query<{ script_name: string }>(db.connection, 'select script_name from rsql_blog.blog_table'))
        .length;
    expect(await rowsAfter()).toBe(4);

    const ws = workspace('rsqlo-aws-parity-');
    cpSync(BLOG, ws.dir, { recursive: true });
    const doc = await local([
      'run',
      ws.dir,
      '--home',
      ws.home,
      '--execution-id',
      'blog-parity-1',
      '--database-url',
      db.connection.url,
    ]);
    expect(doc.workflow.execution_status).toBe('Completed');
    expect(await rowsAfter()).toBe(4);
    expect(comparable(doc.workflow, doc.jobs)).toEqual(comparable(aws.run, aws.jobs));
  });

  it('a failing workflow and its restart', async () => {
    const onAws = failingWorkflow();
    h = await createAwsHarness({
      endpoint: ddb.endpoint as string,
      scriptRoot: onAws.ws.scripts,
      ssmMode: 'in-process',
    });
    await h.putDefinition(onAws.definition);
    h.request({ workflow_id: 'aws_fail_restart', workflow_execution_id: 'parity-1' });
    const aws1 = await h.finished('parity-1');
    onAws.fix();
    h.request({ workflow_id: 'aws_fail_restart', workflow_execution_id: 'parity-2', restart_of: 'parity-1' });
    const aws2 = await h.finished('parity-2');
    expect(await h.problems()).toEqual([]);
    await h.dispose();
    h = undefined;

    const onLocal = failingWorkflow();
    const home = onLocal.ws.home;
    const local1 = await local(['run', onLocal.file, '--home', home, '--execution-id', 'parity-1']);
    onLocal.fix();
    const local2 = await local(['restart', 'parity-1', '--home', home, '--execution-id', 'parity-2']);
    expect([local1.workflow.execution_status, local2.workflow.execution_status]).toEqual([
      'Failed',
      'Completed',
    ]);
    expect(comparable(local1.workflow, local1.jobs)).toEqual(comparable(aws1.run, aws1.jobs));
    expect(comparable(local2.workflow, local2.jobs)).toEqual(comparable(aws2.run, aws2.jobs));
  });

  it('operator actions and a pool: set-ok, rerun, a workflow hold and its free', async () => {
    // AWS path: fail in stage 2, set-ok 2.1 (continues), rerun 1.2; a second run requested under a
    // workflow hold waits Held until freed.
    const onAws = opsParityWorkflow();
    h = await createAwsHarness({
      endpoint: ddb.endpoint as string,
      scriptRoot: onAws.ws.scripts,
      ssmMode: 'in-process',
    });
    const hh = h;
    const awsRun = async (exec: string, ok: (r: WorkflowAuditRecord) => boolean, what: string) => {
      await hh.until(async () => {
        const r = await hh.run(exec);
        return r && ok(r) ? r : undefined;
      }, what);
      await hh.settle();
      return { workflow: (await hh.run(exec)) as WorkflowAuditRecord, jobs: await hh.jobs(exec) };
    };
    await hh.putDefinition(onAws.definition);
    hh.request({ workflow_id: 'ops_parity', workflow_execution_id: 'par-ops-1' });
    const aws1 = await hh.finished('par-ops-1');
    onAws.fix();
    const job = { workflow_id: 'ops_parity', workflow_execution_id: 'par-ops-1' };
    hh.operator('JobSetOkRequested', { ...job, job_key: '2.1', attempt: 1, reason: 'loaded by hand' });
    const aws2 = await awsRun('par-ops-1', (r) => r.execution_status === 'Completed', 'set-ok continued');
    hh.operator('JobRerunRequested', { ...job, job_key: '1.2', attempt: 1, reason: 'reload' });
    const aws3 = await awsRun(
      'par-ops-1',
      (r) => r.execution_status === 'Completed' && r.generation === 2,
      'the rerun ended',
    );
    hh.operator('HoldRequested', { workflow_id: 'ops_parity', reason: 'maintenance' });
    await hh.until(async () => hh.bus.events('RunHeld').length === 1, 'the workflow held');
    hh.request({ workflow_id: 'ops_parity', workflow_execution_id: 'par-ops-2' });
    await awsRun('par-ops-2', (r) => r.hold_state?.held === true, 'par-ops-2 held');
    hh.operator('FreeRequested', { workflow_id: 'ops_parity' });
    const aws4 = await awsRun('par-ops-2', (r) => r.execution_status !== 'Running', 'par-ops-2 ended');
    expect(await hh.problems()).toEqual([]);
    await hh.dispose();
    h = undefined;

    // The local engine: the same through the CLI.
    const onLocal = opsParityWorkflow();
    const home = onLocal.ws.home;
    const status = (exec: string) => local(['status', exec, '--home', home]);
    const local1 = await local(['run', onLocal.file, '--home', home, '--execution-id', 'par-ops-1']);
    onLocal.fix();
    const setOk = await cli(['set-ok', 'par-ops-1', '2.1', '--reason', 'loaded by hand', '--home', home]);
    expect(setOk.code, setOk.stderr).toBe(0);
    const local2 = await status('par-ops-1');
    const rerun = await cli(['rerun', 'par-ops-1', '1.2', '--reason', 'reload', '--home', home]);
    expect(rerun.code, rerun.stderr).toBe(0);
    const local3 = await status('par-ops-1');
    const hold = await cli(['hold', 'ops_parity', '--workflow', '--reason', 'maintenance', '--home', home]);
    expect(hold.code, hold.stderr).toBe(0);
    const second = spawnRsqlo([
      'run',
      onLocal.file,
      '--home',
      home,
      '--execution-id',
      'par-ops-2',
      '--no-database',
    ]);
    await until(async () => {
      const r = await cli(['status', 'par-ops-2', '--home', home, '--json']);
      return r.code === 0 && (JSON.parse(r.stdout) as Doc).workflow.hold_state?.held === true;
    }, 'par-ops-2 held locally');
    const free = await cli(['free', 'ops_parity', '--workflow', '--home', home]);
    expect(free.code, free.stderr).toBe(0);
    expect(await second.exit, second.stderr()).toBe(0);
    const local4 = await status('par-ops-2');

    expect([local1, local2, local3, local4].map((d) => d.workflow.execution_status)).toEqual([
      'Failed',
      'Completed',
      'Completed',
      'Completed',
    ]);
    const asStatus = (run: WorkflowAuditRecord, jobs: JobAuditRecord[]) => comparable(run, jobs);
    expect(asStatus(local1.workflow, local1.jobs)).toEqual(asStatus(aws1.run, aws1.jobs));
    expect(asStatus(local2.workflow, local2.jobs)).toEqual(asStatus(aws2.workflow, aws2.jobs));
    expect(asStatus(local3.workflow, local3.jobs)).toEqual(asStatus(aws3.workflow, aws3.jobs));
    expect(asStatus(local4.workflow, local4.jobs)).toEqual(asStatus(aws4.workflow, aws4.jobs));
  });
});
