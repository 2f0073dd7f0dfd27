import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { jobRunName } from '../../contracts/jobs.js';
import type { PgConnectionInfo } from '../../rsql/embedded-postgres.js';
import { dynamoLocal } from '../support/dynamodb-local.js';
import { createTestDatabase, query } from '../support/postgres.js';
import { type AwsHarness, createAwsHarness } from './harness.js';

const ddb = dynamoLocal('test/aws/blog.test.ts');
const BLOG = path.resolve('examples/blog');

describe.skipIf(!ddb.endpoint)('AWS path: the blog workflow', () => {
  let db: { connection: PgConnectionInfo; drop: () => Promise<void> };
  let h: AwsHarness | undefined;
  beforeAll(async () => {
    db = await createTestDatabase('aws_blog');
  });
  afterEach(async () => {
    await h?.dispose();
    h = undefined;
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('runs the seed workflow through the handlers, the wrapper, SSM and the agents: four rows', async () => {
    h = await createAwsHarness({
      endpoint: ddb.endpoint as string,
      scriptRoot: path.join(BLOG, 'scripts'),
      database: db.connection,
      ssmMode: 'shell',
    });
    await h.putDefinition(JSON.parse(readFileSync(path.join(BLOG, 'workflow.json'), 'utf8')));
    const exec = 'blog-aws-1';
    h.request({ workflow_id: 'blog_test_workflow', workflow_execution_id: exec });
    const { run, jobs } = await h.finished(exec);

    expect(run).toMatchObject({ execution_status: 'Completed', counts: { total: 6, completed: 6 } });
    expect(run.stages.map((s) => s.status)).toEqual(['Completed', 'Completed', 'Completed']);
    expect(jobs.map((j) => [j.job_key, j.execution_status, j.exit_code, j.attempt])).toEqual([
      ['1.1', 'Completed', 0, 1],
      ['1.2', 'Completed', 0, 1],
      ['2.1', 'Completed', 0, 1],
      ['2.2', 'Completed', 0, 1],
      ['3.1', 'Completed', 0, 1],
      ['3.2', 'Completed', 0, 1],
    ]);
    // The RSQL really ran against the database the secret names.
    const rows = await query<{ script_name: string }>(
      db.connection,
      'select script_name from rsql_blog.blog_table order by s_no',
    );
    expect(rows.map((r) => r.script_name)).toEqual([
      'rsql_blog_script_3.sh',
      'rsql_blog_script_4.sh',
      'rsql_blog_script_5.sh',
      'rsql_blog_script_6.sh',
    ]);

    // Order: stage 1 one job after the other, each stage after the previous one ended.
    const at = (key: string, f: 'execution_start_ts' | 'execution_end_ts') =>
      Date.parse(jobs.find((j) => j.job_key === key)?.[f] ?? '');
    expect(at('1.2', 'execution_start_ts')).toBeGreaterThanOrEqual(at('1.1', 'execution_end_ts'));
    for (const key of ['2.1', '2.2'])
      expect(at(key, 'execution_start_ts')).toBeGreaterThanOrEqual(at('1.2', 'execution_end_ts'));
    for (const key of ['3.1', '3.2'])
      expect(at(key, 'execution_start_ts')).toBeGreaterThanOrEqual(
        Math.max(at('2.1', 'execution_end_ts'), at('2.2', 'execution_end_ts')),
      );

    const hostIds = h.hosts.map((x) => x.instanceId);
    for (const job of jobs) {
      const name = jobRunName(exec, job.job_key, 1);
      // One wrapper execution per attempt, named after it, which the agent's report completed.
      const execution = h.wrapper.execution(name);
      expect(execution?.status).toBe('SUCCEEDED');
      expect(execution?.path.map((p) => p.state)).toEqual(['Dispatch']);
      // One SSM command to one online host, run the way the document says (a shell running submit).
      const commands = h.commandsFor(name);
      expect(commands).toHaveLength(1);
      const run1 = h.ssm.runs.find((r) => r.commandId === commands[0]?.commandId);
      expect(run1).toMatchObject({ exitCode: 0, instanceId: commands[0]?.instanceId });
      expect(run1?.output).toContain(`job ${name} handed to the agent daemon`);
      // The audit row says where it ran, which command, and where its log is; the log is shipped.
      expect(hostIds).toContain(job.instance_id);
      expect(job.instance_id).toBe(commands[0]?.instanceId);
      expect(job.ssm_command_id).toBe(commands[0]?.commandId);
      expect(job.log_location).toBe(`cloudwatch:/ops/rsql-logs/:${name}`);
      const log = h.logs.text(name);
      expect(log).toContain(`${job.job_name} job started`);
      expect(log).toContain('********** JOB COMPLETED SUCCESSFULLY **********');
    }
    expect(h.logs.text(jobRunName(exec, '1.2', 1))).toContain('CREATE TABLE');

    // What the bus carried: one JobStarted and one JobFinished per job (from the agent), a
    // StageCompleted per stage, one WorkflowFinished; every request within the PutEvents limits.
    const details = (type: string) =>
      h?.bus.events(type).map((e) => e.detail as Record<string, unknown>) ?? [];
    expect(details('JobStarted')).toHaveLength(6);
    expect(details('JobFinished').map((d) => [d.job_key, d.status, d.reported_by])).toEqual(
      expect.arrayContaining(jobs.map((j) => [j.job_key, 'Completed', 'agent'])),
    );
    expect(details('JobFinished')).toHaveLength(6);
    expect(details('StageCompleted').map((d) => [d.stage, d.status])).toEqual([
      [1, 'Completed'],
      [2, 'Completed'],
      [3, 'Completed'],
    ]);
    expect(details('WorkflowFinished').map((d) => d.status)).toEqual(['Completed']);
    expect(h.bus.requests.every((r) => r.entries >= 1 && r.entries <= 10 && !r.rejected)).toBe(true);
    expect(h.bus.alerts).toEqual([]);

    // Credentials came from Secrets Manager and went only into the jobs' environment; task tokens
    // never left the task callbacks.
    expect(h.secrets.reads.length).toBeGreaterThan(0);
    const visible = await h.everythingVisible([exec]);
    expect(db.connection.password.length).toBeGreaterThanOrEqual(4);
    expect(visible).not.toContain(db.connection.password);
    expect(visible).not.toContain('TOKENBODY');
    expect(await h.problems()).toEqual([]);
  });
});
