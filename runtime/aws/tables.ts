/**
 * The three DynamoDB tables (DESIGN §7) as data: the CDK app creates them from this, and the
 * AWS-path tests create them on DynamoDB Local from this, so what is tested is what is deployed.
 */

export type KeyType = 'S' | 'N';

export interface KeyAttribute {
  name: string;
  type: KeyType;
}

export interface IndexSpec {
  indexName: string;
  partitionKey: KeyAttribute;
  sortKey?: KeyAttribute;
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
  localSecondaryIndexes: Array<{ indexName: string; sortKey: KeyAttribute }>;
  stream?: 'NEW_AND_OLD_IMAGES';
}

/** Prefix of the physical table names unless configured: `rsqlo-config`, … */
export const DEFAULT_TABLE_PREFIX = 'rsqlo';

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
    suffix: 'workflow-audit',
    partitionKey: { name: 'workflow_execution_id', type: 'S' },
    globalSecondaryIndexes: [
      {
        indexName: RUNS_BY_WORKFLOW_INDEX,
        partitionKey: { name: 'workflow_id', type: 'S' },
        sortKey: { name: 'execution_start_ts', type: 'S' },
      },
    ],
    localSecondaryIndexes: [],
  },
  {
    id: 'jobAudit',
    suffix: 'job-audit',
    partitionKey: { name: 'workflow_execution_id', type: 'S' },
    sortKey: { name: 'job_key', type: 'S' },
    globalSecondaryIndexes: [
      {
        indexName: JOBS_BY_NAME_INDEX,
        partitionKey: { name: 'job_name', type: 'S' },
        sortKey: { name: 'execution_start_ts', type: 'S' },
      },
    ],
    localSecondaryIndexes: [{ indexName: JOBS_BY_SEQUENCE_INDEX, sortKey: { name: 'job_seq', type: 'N' } }],
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
    workflowAudit: `${prefix}-workflow-audit`,
    jobAudit: `${prefix}-job-audit`,
  };
}

/**
 * The job audit stream's filter for the aggregator (Lambda event-source filter criteria): the same
 * changes the local change feed delivers (`isAggregatorChange`) — final outcomes not yet counted and
 * retry transitions — plus jobs just Queued, whose queue message the aggregator makes sure was sent
 * (the stream is the outbox of the planner's claim on AWS). Everything else never invokes it.
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
];
