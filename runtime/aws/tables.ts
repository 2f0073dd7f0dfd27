/**
 * The three DynamoDB tables (ARCHITECTURE.md §7) as data: the CDK app creates them from this, and the
 * AWS-path tests create them on DynamoDB Local from this, so what is tested is what is deployed.
 */

export type KeyType = 'S' | 'N';

export interface KeyAttribute {
  name: string;
  type: KeyType;
}

/**
 * What an index holds besides its keys. Every index here is KEYS_ONLY: an index is written only
 * when an item's index keys or projected attributes change (the Developer Guide, "Global secondary
 * indexes", GSI.Writes: "If an update to the table changes the value of an indexed key attribute
 * (from A to B), two writes are required, one to delete the previous item from the index and
 * another write to put the new item into the index"; an update of an attribute the index does not
 * hold writes nothing there). With ALL, every update of a run or job row (claims, counts, status)
 * also rewrote each index: 3 write units per small update instead of 1 (measured on DynamoDB Local
 * with ReturnConsumedCapacity INDEXES, test/aws/index-writes.test.ts).
 *
 * Readers fetch the rest from the table. A local index query with `Select: ALL_ATTRIBUTES`: "If
 * you query a local secondary index, then for each matching item in the index, DynamoDB fetches
 * the entire item from the parent table" (Query API reference, Select). A global index cannot
 * fetch, so its readers take the keys and BatchGetItem the items (readIndexedItems).
 */
export type IndexProjection = 'KEYS_ONLY';

export interface IndexSpec {
  indexName: string;
  partitionKey: KeyAttribute;
  sortKey?: KeyAttribute;
  projection: IndexProjection;
}

export interface TableSpec {
  /** Logical name (the CDK construct id, and the suffix of the physical name). */
  id: 'config' | 'workflowAudit' | 'jobAudit';
  /** Physical name after the prefix: `<prefix>-<suffix>`. */
  suffix: string;
  partitionKey: KeyAttribute;
  sortKey?: KeyAttribute;
  globalSecondaryIndexes: IndexSpec[];
  /** Local secondary indexes share the partition key; only their sort key differs. */
  localSecondaryIndexes: Array<{ indexName: string; sortKey: KeyAttribute; projection: IndexProjection }>;
  stream?: 'NEW_AND_OLD_IMAGES';
}

/** Prefix of the physical table names unless configured: `rsqlo-config`, … */
export const DEFAULT_TABLE_PREFIX = 'rsqlo';

/**
 * Version suffix of the two audit tables' physical names. v2: every index KEYS_ONLY (v1, the
 * unsuffixed names, projected ALL). An LSI cannot change after its table is created and
 * CloudFormation cannot change a GSI's projection in place, so the indexes change by moving to new
 * tables: the deploy creates `<prefix>-workflow-audit-v2` / `<prefix>-job-audit-v2` beside the
 * retained v1 tables, and `infra/migrate-audit-tables.ts` copies their history (infra/DEPLOY.md).
 */
export const AUDIT_TABLE_VERSION = '-v2';

/** Physical names of the audit tables before AUDIT_TABLE_VERSION (the migration's source). */
export function previousAuditTableNames(prefix = DEFAULT_TABLE_PREFIX): {
  workflowAudit: string;
  jobAudit: string;
} {
  return { workflowAudit: `${prefix}-workflow-audit`, jobAudit: `${prefix}-job-audit` };
}

/** GSI of the workflow audit table: a workflow's runs by start time (`rsqlo history`). */
export const RUNS_BY_WORKFLOW_INDEX = 'by_workflow';
/** LSI of the job audit table: a run's jobs in (stage, job) order, so the planner reads O(claimed). */
export const JOBS_BY_SEQUENCE_INDEX = 'by_sequence';
/** GSI of the job audit table: every run of a script by start time. */
export const JOBS_BY_NAME_INDEX = 'by_job_name';

/** Order of a job within its run: stage × 1,000,000 + job number (the LSI's sort key). */
export function jobSequence(stage: number, jobNo: number): number {
  return stage * 1_000_000 + jobNo;
}

export const TABLES: readonly TableSpec[] = [
  {
    id: 'config',
    suffix: 'config',
    partitionKey: { name: 'workflow_id', type: 'S' },
    globalSecondaryIndexes: [],
    localSecondaryIndexes: [],
  },
  {
    id: 'workflowAudit',
    suffix: `workflow-audit${AUDIT_TABLE_VERSION}`,
    partitionKey: { name: 'workflow_execution_id', type: 'S' },
    globalSecondaryIndexes: [
      {
        indexName: RUNS_BY_WORKFLOW_INDEX,
        partitionKey: { name: 'workflow_id', type: 'S' },
        sortKey: { name: 'execution_start_ts', type: 'S' },
        projection: 'KEYS_ONLY',
      },
    ],
    localSecondaryIndexes: [],
  },
  {
    id: 'jobAudit',
    suffix: `job-audit${AUDIT_TABLE_VERSION}`,
    partitionKey: { name: 'workflow_execution_id', type: 'S' },
    sortKey: { name: 'job_key', type: 'S' },
    globalSecondaryIndexes: [
      {
        indexName: JOBS_BY_NAME_INDEX,
        partitionKey: { name: 'job_name', type: 'S' },
        sortKey: { name: 'execution_start_ts', type: 'S' },
        projection: 'KEYS_ONLY',
      },
    ],
    localSecondaryIndexes: [
      { indexName: JOBS_BY_SEQUENCE_INDEX, sortKey: { name: 'job_seq', type: 'N' }, projection: 'KEYS_ONLY' },
    ],
    stream: 'NEW_AND_OLD_IMAGES',
  },
];

export function tableSpec(id: TableSpec['id']): TableSpec {
  const t = TABLES.find((x) => x.id === id);
  if (!t) throw new Error(`no table ${id}`);
  return t;
}

/** Physical table names for a prefix. */
export function tableNames(prefix = DEFAULT_TABLE_PREFIX): Record<TableSpec['id'], string> {
  return {
    config: `${prefix}-config`,
    workflowAudit: `${prefix}-${tableSpec('workflowAudit').suffix}`,
    jobAudit: `${prefix}-${tableSpec('jobAudit').suffix}`,
  };
}

/**
 * The job audit stream's filter for the aggregator (Lambda event-source filter criteria): the same
 * changes the local change feed delivers (`isAggregatorChange`) — final outcomes not yet counted and
 * retry transitions — plus jobs just Queued, whose queue message the aggregator makes sure was sent
 * (the stream is the outbox of the planner's claim on AWS). Everything else never invokes it.
 *
 * The fourth filter (issue 14) is a woken job: still Queued, its `waiting_for` (`pool:<NAME>` or
 * `hold`) just cleared to null by a pool grant or a free — the aggregator makes sure its message
 * was sent, as for a claim. Parking a job (`waiting_for` set) and moving it between waits do not
 * match. The filter names the string type: a waiting job's `waiting_for` is `{"S": …}`, a cleared
 * one `{"NULL": true}` (or absent on rows older than issue 14), so `waiting_for.S` exists exactly
 * when the job is waiting.
 */
export const AGGREGATOR_STREAM_FILTERS: readonly Record<string, unknown>[] = [
  {
    eventName: ['INSERT', 'MODIFY'],
    dynamodb: {
      NewImage: {
        execution_status: { S: ['Completed', 'Failed', 'TimedOut', 'Cancelled'] },
        counted: { BOOL: [false] },
      },
    },
  },
  {
    eventName: ['MODIFY'],
    dynamodb: {
      NewImage: { execution_status: { S: ['Pending'] }, attempt: { N: [{ 'anything-but': ['1'] }] } },
    },
  },
  {
    eventName: ['MODIFY'],
    dynamodb: {
      NewImage: { execution_status: { S: ['Queued'] } },
      OldImage: { execution_status: { S: ['Pending'] } },
    },
  },
  {
    eventName: ['MODIFY'],
    dynamodb: {
      NewImage: { execution_status: { S: ['Queued'] }, waiting_for: { S: [{ exists: false }] } },
      OldImage: { waiting_for: { S: [{ exists: true }] } },
    },
  },
];
