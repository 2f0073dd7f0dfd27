/**
 * Copies the audit history of a stack deployed before the v2 audit tables (runtime/aws/tables.ts,
 * AUDIT_TABLE_VERSION: every index KEYS_ONLY) into them: `<prefix>-workflow-audit` →
 * `<prefix>-workflow-audit-v2` and `<prefix>-job-audit` → `<prefix>-job-audit-v2`.
 *
 * Why a copy: an LSI "can only be created when its parent table is created" and CloudFormation
 * cannot change a GSI's projection in place, so the deploy creates the v2 tables beside the v1
 * ones (which it retains: UpdateReplacePolicy Retain) and this fills them (infra/DEPLOY.md,
 * "Upgrading to the v2 audit tables").
 *
 * Safe to run again: every item is written with `attribute_not_exists` on its key, so an item the
 * new stack already wrote (or an earlier copy did) is never overwritten. It refuses while a run
 * is Running in the old tables: that run's jobs would go on being written to the old tables by
 * nobody (the deployed functions use the new ones), and its half-counted rows would reach the new
 * table's stream. Runs are copied before jobs, so a job row never reaches the new stream (and the
 * aggregator) before its run.
 *
 * Run: `npx tsx infra/migrate-audit-tables.ts --prefix rsqlo [--region us-east-1] [--dry-run]`.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  PutCommand,
  ScanCommand,
  type ScanCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { mapLimit, retried } from '../runtime/aws/dynamo-operations.js';
import type { RetryOptions } from '../runtime/aws/retry.js';
import { DEFAULT_TABLE_PREFIX, previousAuditTableNames, tableNames } from '../runtime/aws/tables.js';

export interface AuditTablePair {
  workflowAudit: string;
  jobAudit: string;
}

export interface MigrateAuditTablesOptions {
  client: DynamoDBDocumentClient;
  from: AuditTablePair;
  to: AuditTablePair;
  /** Count what would be copied, write nothing. */
  dryRun?: boolean;
  /** Puts in flight (default 8). */
  concurrency?: number;
  retry?: RetryOptions;
  log?: (line: string) => void;
}

export interface MigrationCount {
  /** Items written to the new table. */
  copied: number;
  /** Items the new table already had (left as they are). */
  present: number;
}

export interface MigrationResult {
  runs: MigrationCount;
  jobs: MigrationCount;
}

/** The old tables still hold runs in progress: drain them before copying. */
export class RunsStillRunningError extends Error {
  override name = 'RunsStillRunningError';
  constructor(
    readonly table: string,
    readonly runs: string[],
  ) {
    super(
      `${table} still has ${runs.length} Running run(s) (${runs.slice(0, 5).join(', ')}${runs.length > 5 ? ', …' : ''}): ` +
        'let them end or cancel them (WorkflowCancelRequested) before copying, then run this again',
    );
  }
}

async function* scan(client: DynamoDBDocumentClient, input: ScanCommandInput, retry?: RetryOptions) {
  let start: ScanCommandInput['ExclusiveStartKey'];
  do {
    const page = await retried(
      `scan ${input.TableName}`,
      () => client.send(new ScanCommand({ ...input, ExclusiveStartKey: start })),
      retry,
    );
    yield (page.Items ?? []) as Record<string, unknown>[];
    start = page.LastEvaluatedKey;
  } while (start);
}

/** Runs of the old workflow audit table that are still Running. */
export async function runningRuns(
  client: DynamoDBDocumentClient,
  workflowAudit: string,
  retry?: RetryOptions,
): Promise<string[]> {
  const out: string[] = [];
  for await (const page of scan(
    client,
    {
      TableName: workflowAudit,
      ProjectionExpression: 'workflow_execution_id',
      FilterExpression: '#s = :running',
      ExpressionAttributeNames: { '#s': 'execution_status' },
      ExpressionAttributeValues: { ':running': 'Running' },
    },
    retry,
  ))
    out.push(...page.map((i) => String(i.workflow_execution_id)));
  return out.sort();
}

async function copyTable(
  o: MigrateAuditTablesOptions,
  from: string,
  to: string,
  partitionKey: string,
): Promise<MigrationCount> {
  const count: MigrationCount = { copied: 0, present: 0 };
  for await (const page of scan(o.client, { TableName: from, ConsistentRead: true }, o.retry)) {
    if (o.dryRun) {
      count.copied += page.length;
      continue;
    }
    await mapLimit(page, o.concurrency ?? 8, async (item) => {
      try {
        await retried(
          `copy into ${to}`,
          () =>
            o.client.send(
              new PutCommand({
                TableName: to,
                Item: item,
                ConditionExpression: 'attribute_not_exists(#pk)',
                ExpressionAttributeNames: { '#pk': partitionKey },
              }),
            ),
          o.retry,
        );
        count.copied++;
      } catch (err) {
        if (err instanceof Error && err.name === 'ConditionalCheckFailedException') count.present++;
        else throw err;
      }
    });
  }
  o.log?.(
    `${from} → ${to}: ${count.copied} ${o.dryRun ? 'to copy' : 'copied'}, ${count.present} already there`,
  );
  return count;
}

/** Copies both audit tables (runs first), refusing while a run is Running in the old ones. */
export async function migrateAuditTables(o: MigrateAuditTablesOptions): Promise<MigrationResult> {
  if (o.from.workflowAudit === o.to.workflowAudit || o.from.jobAudit === o.to.jobAudit)
    throw new Error('migrate-audit-tables: the source and destination tables are the same');
  const running = await runningRuns(o.client, o.from.workflowAudit, o.retry);
  if (running.length > 0) throw new RunsStillRunningError(o.from.workflowAudit, running);
  const runs = await copyTable(o, o.from.workflowAudit, o.to.workflowAudit, 'workflow_execution_id');
  const jobs = await copyTable(o, o.from.jobAudit, o.to.jobAudit, 'workflow_execution_id');
  return { runs, jobs };
}

function arg(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  if (i < 0) return undefined;
  const v = argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`${name} needs a value`);
  return v;
}

/** The command line: `--prefix P` (default rsqlo), `--region R`, `--dry-run`. */
export async function main(argv: string[]): Promise<void> {
  const known = new Set(['--prefix', '--region', '--dry-run']);
  for (const a of argv) if (a.startsWith('--') && !known.has(a)) throw new Error(`unknown option ${a}`);
  const prefix = arg(argv, '--prefix') ?? DEFAULT_TABLE_PREFIX;
  const region = arg(argv, '--region');
  const client = DynamoDBDocumentClient.from(new DynamoDBClient(region ? { region } : {}));
  try {
    const to = tableNames(prefix);
    await migrateAuditTables({
      client,
      from: previousAuditTableNames(prefix),
      to: { workflowAudit: to.workflowAudit, jobAudit: to.jobAudit },
      dryRun: argv.includes('--dry-run'),
      log: (l) => console.log(l),
    });
  } finally {
    client.destroy();
  }
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  });
}
