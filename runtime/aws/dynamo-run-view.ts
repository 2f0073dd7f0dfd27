/**
 * The operator's reads of a deployed stack's audit and config tables: the runs of every workflow
 * (newest first, filtered, paged), a run's restarts, the stored definitions. What `rsqlo runs
 * --aws` and `rsqlo serve --aws` show (cli/aws-run-view.ts turns them into the run view's shapes);
 * the runs and jobs themselves are read through the services' repositories (dynamo-runs.ts,
 * dynamo-jobs.ts), so a run looks the same to the view as to the services.
 *
 * Listing every run without a workflow: each workflow's runs come from a Query of the `by_workflow`
 * index (KEYS_ONLY, newest first, a page at a time), merged newest first across workflows, and only
 * the runs of the page being built are read from the table (BatchGetItem, strongly consistent). The
 * workflows are the config table's items (one per workflow; a definition removed by a deploy keeps
 * its item, so its runs stay listed). Reading costs grow with the page and the number of workflows,
 * not with the history: the run view re-reads its page every few seconds.
 */

import { type DynamoDBDocumentClient, GetCommand, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { WorkflowRunState, WorkflowStatus } from '../../contracts/audit.js';
import type { PoolView } from '../../contracts/run-view.js';
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
  /** The runs holding the workflow's active-run slots (as the starter counts max_active_runs). */
  activeRuns(workflowId: string): Promise<string[]>;
  /** The ids of every workflow the config table has an item for (defined, or defined once). */
  workflowIds(): Promise<string[]>;
  /**
   * Every resource pool of the stack (the config table's `pool:<NAME>` items): slots, slots in
   * use, jobs waiting and who made it, by name.
   */
  listPools(): Promise<PoolView[]>;
}

/** A `pool:<NAME>` item as `pool list --aws` shows it (holders: a string set; waiters: a map). */
export function poolItemView(item: Record<string, unknown>): PoolView {
  const holders = item.holders;
  const inUse = holders instanceof Set ? holders.size : Array.isArray(holders) ? holders.length : 0;
  const waiters = item.waiters && typeof item.waiters === 'object' ? Object.keys(item.waiters).length : 0;
  return {
    pool: String(item.workflow_id).slice(POOL_PREFIX.length),
    slots: Number(item.slots ?? 0),
    in_use: inUse,
    waiting: waiters,
    created_by: typeof item.created_by === 'string' ? item.created_by : 'unknown',
  };
}

const POOL_PREFIX = 'pool:';

/** Newest first: by start time, then by id (as the local store orders runs). */
function newestFirst(a: RunPosition, b: RunPosition): number {
  return (
    b.execution_start_ts.localeCompare(a.execution_start_ts) ||
    b.workflow_execution_id.localeCompare(a.workflow_execution_id)
  );
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

  /**
   * A workflow's run keys, newest first, from `before` on (exclusive), read a page at a time as the
   * merge asks for them.
   */
  function keysOf(workflowId: string, before: RunPosition | undefined) {
    const buffer: RunPosition[] = [];
    let start: Record<string, unknown> | undefined;
    let done = false;
    return {
      async peek(): Promise<RunPosition | undefined> {
        while (buffer.length === 0 && !done) {
          const page = await retried(
            `list runs of ${workflowId}`,
            () =>
              client.send(
                new QueryCommand({
                  TableName: tables.workflowAudit,
                  IndexName: RUNS_BY_WORKFLOW_INDEX,
                  KeyConditionExpression: before
                    ? 'workflow_id = :w AND execution_start_ts <= :t'
                    : 'workflow_id = :w',
                  ExpressionAttributeValues: {
                    ':w': workflowId,
                    ...(before ? { ':t': before.execution_start_ts } : {}),
                  },
                  ScanIndexForward: false,
                  Limit: PAGE_READ,
                  ...(start ? { ExclusiveStartKey: start } : {}),
                }),
              ),
            retry,
          );
          for (const i of page.Items ?? []) {
            const k = {
              execution_start_ts: String(i.execution_start_ts),
              workflow_execution_id: String(i.workflow_execution_id),
            };
            if (!before || newestFirst(before, k) < 0) buffer.push(k);
          }
          // Runs of one millisecond come in any order from the index: sort what was read.
          buffer.sort(newestFirst);
          start = page.LastEvaluatedKey;
          done = !start;
        }
        return buffer[0];
      },
      take(): RunPosition | undefined {
        return buffer.shift();
      },
    };
  }

  async function workflowIds(): Promise<string[]> {
    const items = await scanAll(
      { TableName: tables.config, ProjectionExpression: 'workflow_id' },
      'list workflows',
    );
    return items.map((i) => String(i.workflow_id)).sort();
  }

  return {
    workflowIds,
    async activeRuns(workflowId) {
      const out = await retried(
        `read active runs of ${workflowId}`,
        () =>
          client.send(
            new GetCommand({
              TableName: tables.config,
              Key: { workflow_id: workflowId },
              ConsistentRead: true,
              ProjectionExpression: '#slots',
              ExpressionAttributeNames: { '#slots': ACTIVE_RUNS_ATTRIBUTE },
            }),
          ),
        retry,
      );
      const slots = out.Item?.[ACTIVE_RUNS_ATTRIBUTE] as Set<string> | undefined;
      return slots ? [...slots].sort() : [];
    },
    async listRuns(q) {
      const ids = q.workflow_id !== undefined ? [q.workflow_id] : await workflowIds();
      const streams = ids.map((w) => keysOf(w, q.before));
      const runs: WorkflowRunState[] = [];
      // Newest first across workflows, a batch of keys at a time, until the page (and one more,
      // to know whether there is more) is full or every workflow is read.
      while (runs.length <= q.limit) {
        const batch: RunPosition[] = [];
        while (batch.length < PAGE_READ) {
          let best: { s: (typeof streams)[number]; k: RunPosition } | undefined;
          for (const st of streams) {
            const k = await st.peek();
            if (k && (!best || newestFirst(k, best.k) < 0)) best = { s: st, k };
          }
          if (!best) break;
          batch.push(best.k);
          best.s.take();
          if (q.status === undefined && runs.length + batch.length > q.limit) break;
        }
        if (batch.length === 0) break;
        const items = await batchGetAll(
          client,
          tables.workflowAudit,
          batch as unknown as Record<string, unknown>[],
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
      return (
        items
          .map((item) => {
            const { [ACTIVE_RUNS_ATTRIBUTE]: _slots, ...definition } = item;
            return definition as Record<string, unknown> & { workflow_id: string };
          })
          // The config table also holds `after:`, `trigger:` and `calendar:` items (dynamo-trigger.ts),
          // keyed with a ":" no workflow_id has.
          .filter((d) => !d.workflow_id.includes(':') && Object.keys(d).some((k) => k !== 'workflow_id'))
          .sort((a, b) => a.workflow_id.localeCompare(b.workflow_id))
      );
    },

    async listPools() {
      const items = await scanAll(
        {
          TableName: tables.config,
          ConsistentRead: true,
          FilterExpression: 'begins_with(workflow_id, :p)',
          ExpressionAttributeValues: { ':p': POOL_PREFIX },
        },
        'list pools',
      );
      return items.map(poolItemView).sort((a, b) => a.pool.localeCompare(b.pool));
    },
  };
}
