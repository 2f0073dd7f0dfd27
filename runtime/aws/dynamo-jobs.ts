/**
 * JobRepository on DynamoDB: the job audit table, with the semantics of the SQLite store
 * (runtime/local/store.ts). Every change is one conditional UpdateItem on the job's attempt and
 * status, so duplicated and reordered deliveries change nothing; reads are strongly consistent and
 * go through the `by_sequence` LSI so they come in (stage, job) order, paginated.
 */
import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import type { JobAuditRecord } from '../../contracts/audit.js';
import type { Clock, JobRepository, JobTransition } from '../../services/ports.js';
import { Expr, jobExpectConditions, jobSetClauses, updateExpression } from './dynamo-expressions.js';
import { JOB_SEQUENCE_ATTRIBUTE, jobFromItem } from './dynamo-items.js';
import { conditionalUpdate, mapLimit, queryAll, retried } from './dynamo-operations.js';
import type { EffectsSink } from './effects.js';
import type { RetryOptions } from './retry.js';
import { JOBS_BY_SEQUENCE_INDEX, jobSequence } from './tables.js';

export interface DynamoJobRepositoryDeps {
  client: DynamoDBDocumentClient;
  /** Physical name of the job audit table. */
  tableName: string;
  /** Where effects go after a successful write. */
  effects: EffectsSink;
  /** Dates the Skipped rows of skipPending (default: the system clock). */
  clock?: Clock;
  /** Retries of conflicts and throttling (default: 8 attempts, 25 ms … 2 s full jitter). */
  retry?: RetryOptions;
  /** Concurrent updates of skipPending (default 8). */
  concurrency?: number;
}

/** Largest job number jobSequence keeps apart from the next stage's jobs. */
const MAX_JOB_NO = 999_999;

/**
 * The job repository over the job audit table: conditional single-item updates, strongly
 * consistent reads through the `by_sequence` LSI (KEYS_ONLY; rows fetched from the table). Default clock: the system clock; default
 * retries: 8 attempts, 25 ms … 2 s full jitter; skipPending updates 8 rows at a time.
 */
export function createDynamoJobRepository(deps: DynamoJobRepositoryDeps): JobRepository {
  const { client, tableName, effects, retry } = deps;
  const clock = deps.clock ?? { now: () => new Date() };
  const concurrency = deps.concurrency ?? 8;
  const key = (exec: string, jobKey: string) => ({ workflow_execution_id: exec, job_key: jobKey });

  /**
   * Rows of a run with sequence in [from, to], in (stage, job) order. The LSI is KEYS_ONLY:
   * `Select: ALL_ATTRIBUTES` has DynamoDB fetch each row from the table (an index query's default
   * is ALL_PROJECTED_ATTRIBUTES, the keys alone), and a FilterExpression may name only projected
   * attributes ("Secondary index by_sequence does not project one or more filter attributes"), so
   * `pendingOnly` filters here (a filter reads, and bills, the same rows either way).
   */
  async function bySequence(
    exec: string,
    from: number,
    to: number,
    opts: { max?: number; pendingOnly?: boolean } = {},
  ): Promise<Record<string, unknown>[]> {
    const rows = await queryAll(
      client,
      {
        TableName: tableName,
        IndexName: JOBS_BY_SEQUENCE_INDEX,
        KeyConditionExpression: '#e = :e AND #seq BETWEEN :from AND :to',
        ExpressionAttributeNames: { '#e': 'workflow_execution_id', '#seq': JOB_SEQUENCE_ATTRIBUTE },
        ExpressionAttributeValues: { ':e': exec, ':from': from, ':to': to },
        Select: 'ALL_ATTRIBUTES',
        ConsistentRead: true,
      },
      `list jobs of ${exec}`,
      { max: opts.max, retry },
    );
    return opts.pendingOnly ? rows.filter((r) => r.execution_status === 'Pending') : rows;
  }

  async function transition(t: JobTransition, fx?: Parameters<JobRepository['transition']>[1]) {
    if (t.expect.statuses.length === 0) return undefined;
    const e = new Expr();
    const { sets, removes } = jobSetClauses(e, t.set, 'a job transition');
    if (sets.length === 0 && removes.length === 0) sets.push(`${e.name('attempt')} = ${e.name('attempt')}`);
    const item = await conditionalUpdate(
      client,
      {
        TableName: tableName,
        Key: key(t.workflowExecutionId, t.jobKey),
        UpdateExpression: updateExpression(sets, removes),
        ConditionExpression: jobExpectConditions(e, t.expect).join(' AND '),
        ...e.input(),
      },
      `transition job ${t.workflowExecutionId}/${t.jobKey}`,
      retry,
    );
    if (!item) return undefined;
    await effects.apply(fx);
    return jobFromItem(item);
  }

  return {
    async getJob(exec, jobKey) {
      const out = await retried(
        `read job ${exec}/${jobKey}`,
        () =>
          client.send(new GetCommand({ TableName: tableName, Key: key(exec, jobKey), ConsistentRead: true })),
        retry,
      );
      return out.Item ? jobFromItem(out.Item) : undefined;
    },

    async listStageJobs(exec, stage, afterJobNo, limit) {
      if (limit <= 0) return [];
      const rows = await bySequence(
        exec,
        jobSequence(stage, afterJobNo + 1),
        jobSequence(stage, MAX_JOB_NO),
        {
          max: limit,
        },
      );
      return rows.map(jobFromItem);
    },

    async listJobs(exec) {
      const rows = await bySequence(exec, 0, Number.MAX_SAFE_INTEGER);
      return rows.map(jobFromItem);
    },

    transition,

    async skipPending(exec, stage, afterJobNo, reason) {
      const pending = (
        await bySequence(exec, jobSequence(stage, afterJobNo + 1), Number.MAX_SAFE_INTEGER, {
          pendingOnly: true,
        })
      ).map(jobFromItem);
      const at = clock.now().toISOString();
      const done = await mapLimit(pending, concurrency, async (job: JobAuditRecord) => {
        const row = await transition({
          workflowExecutionId: exec,
          jobKey: job.job_key,
          expect: { attempt: job.attempt, statuses: ['Pending'] },
          set: { execution_status: 'Skipped', skip_reason: reason(job), execution_end_ts: at, counted: true },
        });
        return row !== undefined;
      });
      return done.filter(Boolean).length;
    },
  };
}
