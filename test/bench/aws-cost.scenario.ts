/**
 * The AWS-path cost scenarios behind `npm run bench`'s `aws.*` keys (run by test/bench/run.ts with
 * test/bench/vitest.aws.config.ts; not part of `npm test`): the blog workflow (examples/blog, its
 * RSQL against the test PostgreSQL) and a 1,000-job parallel stage, each on a fresh harness, the
 * functions logging at their deployed level (WARN and one summary line per invocation,
 * runtime/aws/lambda-io.ts). Each writes the harness's request counters (harness.usage(): what the
 * simulators and emulators served, the run's deadline check fired) and, for the large stage, the peak number of jobs running at once (a timing claim:
 * measured here, never asserted in a test) to the JSON file named by RSQLO_AWS_BENCH_OUT.
 * test/bench/aws-cost.ts prices them.
 */
import { writeFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { PgConnectionInfo } from '../../rsql/embedded-postgres.js';
import { peakOverlap, requestBlogRun } from '../aws/fixtures.js';
import { type AwsHarness, createAwsHarness } from '../aws/harness.js';
import { dynamoLocal } from '../support/dynamodb-local.js';
import { createTestDatabase } from '../support/postgres.js';
import { stages, workspace } from '../support/workspace.js';
import type { AwsUsage } from './aws-cost.js';

const ddb = dynamoLocal('test/bench/aws-cost.scenario.ts');
const OUT = process.env.RSQLO_AWS_BENCH_OUT;
const results: Record<string, unknown> = {};

/**
 * Waits for the run to end and settle, lets its deadline pass so its one-time schedule fires the
 * run watchdog (as it does on AWS hours later), and returns everything the harness served for it.
 */
async function measure(
  h: AwsHarness,
  exec: string,
): Promise<{ usage: AwsUsage; jobs: Awaited<ReturnType<AwsHarness['finished']>>['jobs'] }> {
  const { run, jobs } = await h.finished(exec, 1_500_000);
  expect(run.execution_status).toBe('Completed');
  const checks = await h.elapseRunDeadlines();
  expect(checks.map((c) => (c.result as { outcome?: string } | undefined)?.outcome)).toEqual(['ended']);
  expect(await h.problems()).toEqual([]);
  return {
    jobs,
    usage: {
      jobs: jobs.length,
      successfulJobs: jobs.filter((j) => j.execution_status === 'Completed').length,
      runs: 1,
      ...h.usage(),
    },
  };
}

describe.skipIf(!ddb.endpoint || !OUT)('AWS cost scenarios', () => {
  let h: AwsHarness | undefined;
  let db: { connection: PgConnectionInfo; drop: () => Promise<void> } | undefined;
  beforeAll(async () => {
    db = await createTestDatabase('aws_cost');
  });
  afterEach(async () => {
    await h?.dispose();
    h = undefined;
  });
  afterAll(async () => {
    await db?.drop();
    if (OUT) writeFileSync(OUT, JSON.stringify(results, null, 2));
  });

  it('the blog workflow', async () => {
    h = await requestBlogRun({
      endpoint: ddb.endpoint as string,
      database: db?.connection,
      exec: 'cost-blog-1',
    });
    results.blog = (await measure(h, 'cost-blog-1')).usage;
  });

  it('a 1,000-job parallel stage', async () => {
    const ws = workspace('rsqlo-aws-cost-');
    ws.script('work.sh', 'sleep 1\necho "$RSQLO_JOB_KEY done"');
    const limit = 25;
    const definition = {
      workflow_id: 'aws_cost_large_stage',
      workflow_stages: stages([
        'parallel',
        Array.from({ length: 1000 }, () => 'work.sh'),
        { max_concurrency: limit },
      ]),
    };
    h = await createAwsHarness({
      endpoint: ddb.endpoint as string,
      scriptRoot: ws.scripts,
      hosts: 4,
      agentMaxConcurrency: 16,
      ssmMode: 'in-process',
      logLevel: 'deployed',
    });
    await h.putDefinition(definition);
    const t0 = Date.now();
    h.request({ workflow_id: definition.workflow_id, workflow_execution_id: 'cost-large-1' });
    const { usage, jobs } = await measure(h, 'cost-large-1');
    const peak = peakOverlap(
      jobs.map((j) => [Date.parse(j.execution_start_ts ?? ''), Date.parse(j.execution_end_ts ?? '')]),
    );
    results.large_stage = {
      ...usage,
      peak_overlap: peak,
      max_concurrency: limit,
      wall_s: (Date.now() - t0) / 1000,
    };
  });
});
