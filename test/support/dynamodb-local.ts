/**
 * Test helpers over the run's DynamoDB Local (test/support/dynamodb-local-global-setup.ts): clients,
 * the tables created exactly from runtime/aws/tables.ts (indexes, stream), and a reader of the job
 * audit table's stream shaped like the records Lambda hands the aggregator.
 */
import { randomUUID } from 'node:crypto';
import {
  type AttributeDefinition,
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ListTablesCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { inject } from 'vitest';
import { type EventPattern, matchesPattern } from '../../events/pattern.js';
import { createDynamoDefinitionRepository } from '../../runtime/aws/dynamo-definitions.js';
import { createDynamoJobRepository } from '../../runtime/aws/dynamo-jobs.js';
import { createDynamoRunRepository } from '../../runtime/aws/dynamo-runs.js';
import { IDEMPOTENCY_TABLE } from '../../runtime/aws/idempotency.js';
import {
  AGGREGATOR_STREAM_FILTERS,
  previousAuditTableNames,
  TABLES,
  type TableSpec,
  tableNames,
} from '../../runtime/aws/tables.js';
import type { DynamoLocalInfo } from './dynamodb-local-global-setup.js';

/** Region and credentials every test client uses (DynamoDB Local accepts any). */
export const LOCAL_AWS = {
  region: 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
} as const;

/**
 * The run's DynamoDB Local. When it is not available, prints why (once per file) so the skipped
 * tests are never silent; use with `describe.skipIf(!ddb.endpoint)`.
 */
export function dynamoLocal(file: string): DynamoLocalInfo {
  const info = inject('dynamoLocal') ?? {
    endpoint: null,
    reason: 'the DynamoDB Local globalSetup did not run',
  };
  // CI installs Java (.ci/run): there, a missing DynamoDB Local is a failure, never a skip.
  if (!info.endpoint && process.env.CI === 'true')
    throw new Error(`[${file}] DynamoDB Local is not running in CI: ${info.reason}`);
  if (!info.endpoint) console.warn(`[${file}] skipping DynamoDB Local tests: ${info.reason}`);
  return info;
}

export function localClients(endpoint: string) {
  const dynamodb = new DynamoDBClient({ ...LOCAL_AWS, endpoint });
  const documents = DynamoDBDocumentClient.from(dynamodb, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });
  return { dynamodb, documents };
}

/** Waits until DynamoDB Local answers (it starts in the background with the run). */
export async function waitForDynamo(endpoint: string, timeoutMs = 60_000): Promise<void> {
  const client = new DynamoDBClient({ ...LOCAL_AWS, endpoint, maxAttempts: 1 });
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      await client.send(new ListTablesCommand({ Limit: 1 }));
      client.destroy();
      return;
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  client.destroy();
  throw new Error(`DynamoDB Local at ${endpoint} did not answer within ${timeoutMs} ms: ${String(last)}`);
}

function createTableInput(spec: TableSpec, name: string, projection?: 'ALL') {
  const attrs = new Map<string, AttributeDefinition>();
  const add = (a: { name: string; type: 'S' | 'N' }) =>
    attrs.set(a.name, { AttributeName: a.name, AttributeType: a.type });
  add(spec.partitionKey);
  if (spec.sortKey) add(spec.sortKey);
  for (const g of spec.globalSecondaryIndexes) {
    add(g.partitionKey);
    if (g.sortKey) add(g.sortKey);
  }
  for (const l of spec.localSecondaryIndexes) add(l.sortKey);
  const keySchema = (pk: { name: string }, sk?: { name: string }) => [
    { AttributeName: pk.name, KeyType: 'HASH' as const },
    ...(sk ? [{ AttributeName: sk.name, KeyType: 'RANGE' as const }] : []),
  ];
  return {
    TableName: name,
    BillingMode: 'PAY_PER_REQUEST' as const,
    AttributeDefinitions: [...attrs.values()],
    KeySchema: keySchema(spec.partitionKey, spec.sortKey),
    ...(spec.globalSecondaryIndexes.length
      ? {
          GlobalSecondaryIndexes: spec.globalSecondaryIndexes.map((g) => ({
            IndexName: g.indexName,
            KeySchema: keySchema(g.partitionKey, g.sortKey),
            // What the CDK app deploys (infra/constructs/rsqlo-tables.ts reads the same spec).
            Projection: { ProjectionType: projection ?? g.projection },
          })),
        }
      : {}),
    ...(spec.localSecondaryIndexes.length
      ? {
          LocalSecondaryIndexes: spec.localSecondaryIndexes.map((l) => ({
            IndexName: l.indexName,
            KeySchema: keySchema(spec.partitionKey, l.sortKey),
            Projection: { ProjectionType: projection ?? l.projection },
          })),
        }
      : {}),
    ...(spec.stream ? { StreamSpecification: { StreamEnabled: true, StreamViewType: spec.stream } } : {}),
  };
}

export interface TestTables {
  config: string;
  workflowAudit: string;
  jobAudit: string;
  idempotency: string;
}

/** Creates the three tables (and the idempotency table) under a fresh prefix. */
export async function createTestTables(
  client: DynamoDBClient,
  prefix = `t${randomUUID().slice(0, 8)}`,
): Promise<TestTables> {
  const names = tableNames(prefix);
  for (const spec of TABLES)
    await client.send(new CreateTableCommand(createTableInput(spec, names[spec.id])));
  const idempotency = `${prefix}-idempotency`;
  await client.send(
    new CreateTableCommand({
      TableName: idempotency,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: IDEMPOTENCY_TABLE.partitionKey.name, AttributeType: 'S' }],
      KeySchema: [{ AttributeName: IDEMPOTENCY_TABLE.partitionKey.name, KeyType: 'HASH' }],
    }),
  );
  for (const t of [...Object.values(names), idempotency]) {
    await waitUntilTableExists({ client, maxWaitTime: 30 }, { TableName: t });
  }
  return { ...names, idempotency };
}

/**
 * The two audit tables as stacks before AUDIT_TABLE_VERSION deployed them (unsuffixed names, every
 * index projecting ALL): the source of infra/migrate-audit-tables.ts.
 */
export async function createPreviousAuditTables(
  client: DynamoDBClient,
  prefix: string,
): Promise<{ workflowAudit: string; jobAudit: string }> {
  const names = previousAuditTableNames(prefix);
  for (const id of ['workflowAudit', 'jobAudit'] as const) {
    const spec = TABLES.find((t) => t.id === id) as TableSpec;
    await client.send(new CreateTableCommand(createTableInput(spec, names[id], 'ALL')));
    await waitUntilTableExists({ client, maxWaitTime: 30 }, { TableName: names[id] });
  }
  return names;
}

/**
 * The DynamoDB repositories over a test's tables, for arranging state before the code under test
 * runs and reading it after. Their effects go nowhere: a test asserts what the code under test
 * publishes, never what its arrangement would have.
 */
export function testRepositories(clients: ReturnType<typeof localClients>, tables: TestTables) {
  const effects = { apply: async () => {} };
  return {
    definitions: createDynamoDefinitionRepository({ client: clients.documents, tableName: tables.config }),
    runs: createDynamoRunRepository({
      client: clients.documents,
      tables: { config: tables.config, workflowAudit: tables.workflowAudit, jobAudit: tables.jobAudit },
      effects,
    }),
    jobs: createDynamoJobRepository({ client: clients.documents, tableName: tables.jobAudit, effects }),
  };
}

async function streamsCall(
  endpoint: string,
  target: string,
  body: unknown,
): Promise<Record<string, unknown>> {
  const r = await fetch(endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': `DynamoDBStreams_20120810.${target}`,
      authorization: `AWS4-HMAC-SHA256 Credential=local/20240101/${LOCAL_AWS.region}/dynamodb/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`DynamoDB Streams ${target}: ${r.status} ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/**
 * Reads a table's stream from its start (no SDK client for DynamoDB Streams is installed, so it
 * speaks the JSON protocol directly; DynamoDB Local does not check signatures). `next()` returns
 * the records written since the last call, as Lambda's DynamoDBRecord.
 */
export async function openStream(endpoint: string, client: DynamoDBClient, tableName: string) {
  const table = await client.send(new DescribeTableCommand({ TableName: tableName }));
  const arn = table.Table?.LatestStreamArn;
  if (!arn) throw new Error(`${tableName} has no stream`);
  const iterators = new Map<string, string | null>();
  return {
    async next(): Promise<DynamoDBRecord[]> {
      const desc = (await streamsCall(endpoint, 'DescribeStream', { StreamArn: arn })) as {
        StreamDescription: { Shards: Array<{ ShardId: string }> };
      };
      const out: DynamoDBRecord[] = [];
      for (const shard of desc.StreamDescription.Shards) {
        if (!iterators.has(shard.ShardId)) {
          const it = (await streamsCall(endpoint, 'GetShardIterator', {
            StreamArn: arn,
            ShardId: shard.ShardId,
            ShardIteratorType: 'TRIM_HORIZON',
          })) as { ShardIterator: string };
          iterators.set(shard.ShardId, it.ShardIterator);
        }
        for (;;) {
          const iterator = iterators.get(shard.ShardId);
          if (!iterator) break;
          const page = (await streamsCall(endpoint, 'GetRecords', {
            ShardIterator: iterator,
            Limit: 1000,
          })) as {
            Records: DynamoDBRecord[];
            NextShardIterator?: string;
          };
          out.push(...page.Records);
          iterators.set(shard.ShardId, page.NextShardIterator ?? null);
          if (page.Records.length === 0) break;
        }
      }
      return out.sort((a, b) =>
        String(a.dynamodb?.SequenceNumber ?? '').localeCompare(String(b.dynamodb?.SequenceNumber ?? '')),
      );
    },
  };
}

/** Whether Lambda's event-source filter (AGGREGATOR_STREAM_FILTERS) lets a stream record through. */
export function passesAggregatorFilter(record: DynamoDBRecord): boolean {
  return AGGREGATOR_STREAM_FILTERS.some((f) => matchesPattern(f as EventPattern, record));
}
