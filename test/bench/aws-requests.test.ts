import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PgConnectionInfo } from '../../rsql/embedded-postgres.js';
import { requestBlogRun } from '../aws/fixtures.js';
import type { AwsHarness } from '../aws/harness.js';
import { dynamoLocal } from '../support/dynamodb-local.js';
import { createTestDatabase } from '../support/postgres.js';

const ddb = dynamoLocal('test/bench/aws-requests.test.ts');

describe.skipIf(!ddb.endpoint)('the blog workflow: DynamoDB requests per run, pinned', () => {
  let h: AwsHarness | undefined;
  let db: { connection: PgConnectionInfo; drop: () => Promise<void> } | undefined;
  beforeAll(async () => {
    db = await createTestDatabase('aws_requests');
  });
  afterAll(async () => {
    await h?.dispose();
    await db?.drop();
  });

  it('costs exactly these reads and writes (6 jobs, 3 stages, 4 claims)', async () => {
    h = await requestBlogRun({
      endpoint: ddb.endpoint as string,
      database: db?.connection,
      exec: 'requests-blog-1',
    });
    const { run, jobs } = await h.finished('requests-blog-1', 600_000);
    expect(run.execution_status).toBe('Completed');
    expect(jobs.map((j) => j.execution_status)).toEqual(Array(6).fill('Completed'));
    expect(await h.problems()).toEqual([]);

    const table: Record<string, { ok: number; units: number }> = {};
    for (const r of h.requests.snapshot()) {
      if (r.service !== 'DynamoDB') continue;
      table[`${r.caller} ${r.operation}`] = { ok: r.requests - r.failed, units: r.units };
    }
    const queueEntry = Object.fromEntries(
      Object.entries(table).filter(([k]) => k.startsWith('dispatcher ')),
    ) as Record<string, { ok: number; units: number }>;
    const rest = Object.fromEntries(Object.entries(table).filter(([k]) => !k.startsWith('dispatcher ')));

    expect(rest).toEqual({
      // Run creation: its definition, slots, the workflow's hold (issue 14: a held workflow's new
      // runs start held; one consistent read per request), then the job rows and the run row (2
      // transactions).
      'starter GetItem': { ok: 6, units: 6 },
      'starter TransactWriteItems': { ok: 2, units: 12 },
      // Per claim: one run read, one page of the stage's jobs, one transaction.
      'planner GetItem': { ok: 4, units: 4 },
      'planner Query': { ok: 4, units: 10 },
      'planner TransactWriteItems': { ok: 4, units: 24 },
      // Per job: its row and the run once each, the claim of its host; no idempotency record, no
      // second write for the command id.
      'dispatcherTask GetItem': { ok: 12, units: 12 },
      'dispatcherTask UpdateItem': { ok: 6, units: 6 },
      // Per job: JobStarted (2 units: it writes the by_job_name index) and JobFinished, no read.
      'recorder UpdateItem': { ok: 12, units: 18 },
      // Per job: the Queued check, the run before and after the count, the count; per stage: the
      // run read and the stage's completion.
      'aggregator GetItem': { ok: 21, units: 21 },
      'aggregator TransactWriteItems': { ok: 9, units: 50 },
      // WorkflowFinished: who waits for the blog workflow (its after: index item; nobody does).
      'trigger GetItem': { ok: 1, units: 1 },
    });
    // The queue entry: one job read and one run read per job, the Dispatched mark once per job;
    // a repeat reads the job (and the run too when it comes before the mark).
    expect(queueEntry['dispatcher UpdateItem']).toEqual({ ok: 6, units: 6 });
    const reads = queueEntry['dispatcher GetItem']?.ok ?? 0;
    expect(reads).toBeGreaterThanOrEqual(12);
    const sent = h.usage().sqs.byOperation.SendMessageBatch ?? 0;
    expect(reads - 12).toBeLessThanOrEqual(2 * (sent - 4));
    expect(Object.keys(queueEntry).sort()).toEqual(['dispatcher GetItem', 'dispatcher UpdateItem']);
  });
});
