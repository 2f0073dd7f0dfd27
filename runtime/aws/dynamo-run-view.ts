/**
 * The operator's reads of a deployed stack's audit and config tables: the runs of every workflow
 * (newest first, filtered, paged), a run's restarts, the stored definitions. What `rsqlo runs
 * --aws` and `rsqlo serve --aws` show (cli/aws-run-view.ts turns them into the run view's shapes);
 * the runs and jobs themselves are read through the services' repositories (dynamo-runs.ts,
 * dynamo-jobs.ts), so a run looks the same to the view as to the services.
 *
 * Listing every run without a workflow: the `by_workflow` index is KEYS_ONLY (tables.ts), so a
 * Scan of it reads only keys (workflow id, start time, execution id; ~100 bytes a run, 1 MB per
 * page), which are sorted here, and only the page's runs are then read from the table (BatchGetItem,
 * strongly consistent). With a workflow, a Query of the index does the same for that workflow.
 */
import { type DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { WorkflowRunState, WorkflowStatus } from '../../contracts/audit.js';
import { ACTIVE_RUNS_ATTRIBUTE, runFromItem } from './dynamo-items.js';
import { batchGetAll, queryAll, retried } from './dynamo-operations.js';
import type { RetryOptions } from './retry.js';
import { RUNS_BY_WORKFLOW_INDEX } from './tables.js';

export interface DynamoRunViewDeps {
  client: DynamoDBDocumentClient;
  tables: { workflowAudit: string; config: string };
  retry?: RetryOptions;
}

/** A run's place in the newest-first order: its start time, then its id (as the local store orders). */
export interface RunPosition {
  execution_start_ts: string;
  workflow_execution_id: string;
}

export interface RunPageQuery {
  workflow_id?: string;
  status?: WorkflowStatus;
  limit: number;
  /** Only runs after this position in the newest-first order (the previous page's last run). */
  before?: RunPosition;
}

export interface DynamoRunView {
  /** Runs newest first (start time, then id, descending); `more` when runs are left after the page. */
  listRuns(q: RunPageQuery): Promise<{ runs: WorkflowRunState[]; more: boolean }>;
  /** Runs whose `restart_of` is this run (newest last). */
  restartsOf(run: WorkflowRunState): Promise<string[]>;
  /** Every stored definition (the slot attribute left out), by workflow id. */
  listDefinitions(): Promise<Array<Record<string, unknown> & { workflow_id: string }>>;
  /** The ids of every workflow that has runs. */
  workflowsWithRuns(): Promise<string[]>;
}

/** Keys read per BatchGetItem round while filling a page (a status filter may skip many). */
const PAGE_READ = 100;

export function createDynamoRunView(deps: DynamoRunViewDeps): DynamoRunView {
  const { client, tables, retry } = deps;

  async function scanAll(input: ConstructorParameters<typeof ScanCommand>[0], what: string) {
    const out: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await retried(
        what,
        () => client.send(new ScanCommand({ ...input, ...(start ? { ExclusiveStartKey: start } : {}) })),
        retry,
      );
      out.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    return out;
  }

  async function runKeys(workflowId: string | undefined): Promise<RunPosition[]> {
    const items = workflowId
      ? await queryAll(
          client,
          {
            TableName: tables.workflowAudit,
            IndexName: RUNS_BY_WORKFLOW_INDEX,
            KeyConditionExpression: 'workflow_id = :w',
            ExpressionAttributeValues: { ':w': workflowId },
            ScanIndexForward: false,
          },
          `list runs of ${workflowId}`,
          { retry },
        )
      : await scanAll({ TableName: tables.workflowAudit, IndexName: RUNS_BY_WORKFLOW_INDEX }, 'list runs');
    return items.map((i) => ({
      execution_start_ts: String(i.execution_start_ts),
      workflow_execution_id: String(i.workflow_execution_id),
    }));
  }

  const newestFirst = (a: RunPosition, b: RunPosition) =>
    b.execution_start_ts.localeCompare(a.execution_start_ts) ||
    b.workflow_execution_id.localeCompare(a.workflow_execution_id);

  return {
    async listRuns(q) {
      let keys = (await runKeys(q.workflow_id)).sort(newestFirst);
      const before = q.before;
      if (before) keys = keys.filter((k) => newestFirst(before, k) < 0);
      const runs: WorkflowRunState[] = [];
      let i = 0;
      while (i < keys.length && runs.length <= q.limit) {
        const part = keys.slice(i, i + PAGE_READ);
        i += part.length;
        const items = await batchGetAll(
          client,
          tables.workflowAudit,
          part as unknown as Record<string, unknown>[],
          ['workflow_execution_id'],
          'read runs',
          { consistentRead: true, retry },
        );
        for (const item of items) {
          const run = runFromItem(item);
          if (q.status === undefined || run.execution_status === q.status) runs.push(run);
        }
      }
      return { runs: runs.slice(0, q.limit), more: runs.length > q.limit };
    },

    async restartsOf(run) {
      // restarted_as names the one restart (a run is restarted once); older runs may lack it.
      const named = (run as { restarted_as?: string | null }).restarted_as;
      if (named) return [named];
      const later = await queryAll(
        client,
        {
          TableName: tables.workflowAudit,
          IndexName: RUNS_BY_WORKFLOW_INDEX,
          KeyConditionExpression: 'workflow_id = :w AND execution_start_ts >= :t',
          ExpressionAttributeValues: { ':w': run.workflow_id, ':t': run.execution_start_ts },
        },
        `list restarts of ${run.workflow_execution_id}`,
        { retry },
      );
      const items = await batchGetAll(
        client,
        tables.workflowAudit,
        later,
        ['workflow_execution_id'],
        'read restarts',
        { consistentRead: true, retry },
      );
      return items
        .map(runFromItem)
        .filter((r) => r.restart_of === run.workflow_execution_id)
        .map((r) => r.workflow_execution_id);
    },

    async listDefinitions() {
      const items = await scanAll({ TableName: tables.config, ConsistentRead: true }, 'list definitions');
      return items
        .map((item) => {
          const { [ACTIVE_RUNS_ATTRIBUTE]: _slots, ...definition } = item;
          return definition as Record<string, unknown> & { workflow_id: string };
        })
        .filter((d) => Object.keys(d).some((k) => k !== 'workflow_id'))
        .sort((a, b) => a.workflow_id.localeCompare(b.workflow_id));
    },

    async workflowsWithRuns() {
      const items = await scanAll(
        {
          TableName: tables.workflowAudit,
          IndexName: RUNS_BY_WORKFLOW_INDEX,
          ProjectionExpression: 'workflow_id',
        },
        'list workflows with runs',
      );
      return [...new Set(items.map((i) => String(i.workflow_id)))].sort();
    },
  };
}
