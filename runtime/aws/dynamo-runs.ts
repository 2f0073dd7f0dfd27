/**
 * RunRepository on DynamoDB: the workflow audit table, with the semantics of the SQLite store
 * (runtime/local/store.ts) expressed as conditional writes. Where SQLite reads and writes in one
 * transaction, this reads, decides, and writes with a ConditionExpression that holds exactly when
 * the decision still does; counters change by increments (never read-modify-write), so concurrent
 * counts, claims and cancels never lose each other's changes.
 *
 * - createRun: job rows first, then the run row, its active-run slot and (for a restart) the restarted
 *   run's `restarted_as` in one transaction.
 * - createRun with `workflowHeld`: also a ConditionCheck that the `hold:<workflow_id>` config item
 *   still says so (outcome 'hold-changed' otherwise; issue 14).
 * - claimJobs: the stage cursor and every claimed job in one transaction; a held run claims nothing.
 * - countJob: the job's `counted` flag and the stage and run counters in one transaction.
 * - completeStage: the stage and run change and, when the run ends, the slot release, in one.
 *
 * Effects go out after the write (EffectsSink); see services/ports.ts for how a crash in between
 * is repaired.
 */
import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import {
  countField,
  type JobAuditRecord,
  type WorkflowAuditRecord,
  type WorkflowRunState,
  withRsqlJobs,
} from '../../contracts/audit.js';
import { NonRetriableError } from '../../services/errors.js';
import type {
  CreateRunResult,
  Effects,
  JobClaim,
  RunRepository,
  StageCompletion,
} from '../../services/ports.js';
import { applyStageCompletion, canLaunch } from '../../services/shared/progress.js';
import { Expr, readRun } from './dynamo-expressions.js';
import { ACTIVE_RUNS_ATTRIBUTE, HOLD_KEY_PREFIX, jobToItem, runFromItem, runToItem } from './dynamo-items.js';
import {
  batchGetAll,
  chunk,
  conditionalUpdate,
  MAX_TRANSACT_ITEMS,
  mapLimit,
  queryAll,
  retried,
  transactWrite,
} from './dynamo-operations.js';
import type { EffectsSink } from './effects.js';
import type { RetryOptions } from './retry.js';
import { JOBS_BY_SEQUENCE_INDEX, RUNS_BY_WORKFLOW_INDEX } from './tables.js';

/** Physical names of the tables the run repository writes. */
export interface DynamoTableNames {
  workflowAudit: string;
  jobAudit: string;
  /**
   * The config table, where the active-run slots are kept: needed by createRun and completeStage
   * (a function that only reads runs and claims jobs may leave it out).
   */
  config?: string;
}

/** The config table was needed but not configured (a wiring bug). */
export class ConfigTableMissingError extends Error {
  override name = 'ConfigTableMissingError';
}

export interface DynamoRunRepositoryDeps {
  client: DynamoDBDocumentClient;
  tables: DynamoTableNames;
  /** Where effects go after a successful write. */
  effects: EffectsSink;
  /** Retries of conflicts and throttling (default: 8 attempts, 25 ms … 2 s full jitter). */
  retry?: RetryOptions;
  /** Transactions writing job rows at once during createRun (default 4). */
  createConcurrency?: number;
}

/** RunRepository plus what people read (the full audit record). */
export interface DynamoRunRepository extends RunRepository {
  /**
   * The full workflow audit record, `rsql_jobs` listing every job's script in (stage, job) order
   * (rebuilt from the job rows: the item keeps distinct names only, see RSQL_JOBS_BUDGET_BYTES).
   */
  getRunRecord(workflowExecutionId: string): Promise<WorkflowAuditRecord | undefined>;
}

/** The run's workflow has no config item (its definition was deleted while the run was starting). */
export class ConfigItemMissingError extends NonRetriableError {
  override name = 'ConfigItemMissingError';
}

/** The conditional writes kept losing to concurrent ones for every attempt. */
export class RunWriteConflictError extends Error {
  override name = 'RunWriteConflictError';
}

/** Attempts of a read-decide-write cycle that lost a race before giving up. */
const MAX_DECISION_ATTEMPTS = 10;

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/**
 * The run repository over the workflow audit table (and the job audit table for createRun's rows,
 * the config table for the active-run slots). Default retries: 8 attempts, 25 ms … 2 s full jitter;
 * job rows are written 4 transactions at a time.
 */
export function createDynamoRunRepository(deps: DynamoRunRepositoryDeps): DynamoRunRepository {
  const { client, tables, effects, retry } = deps;
  const createConcurrency = deps.createConcurrency ?? 4;
  const runKey = (exec: string) => ({ workflow_execution_id: exec });
  const configTable = (): string => {
    if (!tables.config)
      throw new ConfigTableMissingError('the run repository was composed without the config table');
    return tables.config;
  };
  const jobKeyOf = (exec: string, jobKey: string) => ({ workflow_execution_id: exec, job_key: jobKey });

  const getRun = (exec: string) => readRun(client, tables.workflowAudit, exec, retry);

  async function activeSlots(workflowId: string): Promise<{ exists: boolean; active: string[] }> {
    const out = await retried(
      `read active runs of ${workflowId}`,
      () =>
        client.send(
          new GetCommand({
            TableName: configTable(),
            Key: { workflow_id: workflowId },
            ConsistentRead: true,
            ProjectionExpression: '#w, #slots',
            ExpressionAttributeNames: { '#w': 'workflow_id', '#slots': ACTIVE_RUNS_ATTRIBUTE },
          }),
        ),
      retry,
    );
    const slots = out.Item?.[ACTIVE_RUNS_ATTRIBUTE] as Set<string> | undefined;
    return { exists: out.Item !== undefined, active: slots ? [...slots] : [] };
  }

  /** Execution ids ordered by start time (then id), as the SQLite store lists active runs. */
  async function byStart(ids: string[]): Promise<string[]> {
    if (ids.length <= 1) return ids;
    const starts = new Map<string, string>();
    for (const part of chunk(ids, 100)) {
      let keys: Record<string, unknown>[] = part.map(runKey);
      for (let round = 0; keys.length > 0 && round < 8; round++) {
        const out = await retried(
          'read active run start times',
          () =>
            client.send(
              new BatchGetCommand({
                RequestItems: {
                  [tables.workflowAudit]: {
                    Keys: keys,
                    ConsistentRead: true,
                    ProjectionExpression: 'workflow_execution_id, execution_start_ts',
                  },
                },
              }),
            ),
          retry,
        );
        for (const item of out.Responses?.[tables.workflowAudit] ?? []) {
          starts.set(item.workflow_execution_id as string, item.execution_start_ts as string);
        }
        keys =
          (out.UnprocessedKeys?.[tables.workflowAudit]?.Keys as Record<string, unknown>[] | undefined) ?? [];
      }
    }
    const at = (id: string) => starts.get(id) ?? '\uffff';
    return [...ids].sort((a, b) => at(a).localeCompare(at(b)) || a.localeCompare(b));
  }

  /**
   * Writes job rows that are not there yet. Each row is a conditional put (attribute_not_exists),
   * so a row is never overwritten: a second delivery of the same request writing concurrently
   * with the first cannot reset a job the first one's run has already moved on (BatchWriteItem
   * cannot be conditional, which is why it is not used). Up to 100 rows per transaction; rows that
   * exist already (an earlier attempt) are left out and the rest written again.
   */
  async function putJobRows(rows: JobAuditRecord[]): Promise<void> {
    await mapLimit(chunk(rows, MAX_TRANSACT_ITEMS), createConcurrency, async (part) => {
      let pending = part;
      for (let round = 0; pending.length > 0; round++) {
        if (round >= MAX_DECISION_ATTEMPTS) throw new RunWriteConflictError('job rows kept conflicting');
        const result = await transactWrite(
          client,
          pending.map((j) => ({
            Put: {
              TableName: tables.jobAudit,
              Item: jobToItem(j),
              ConditionExpression: 'attribute_not_exists(workflow_execution_id)',
            },
          })),
          `write job rows of ${part[0]?.workflow_execution_id}`,
          retry,
        );
        if (result.ok) return;
        pending = pending.filter((_, i) => result.reasons[i] !== 'ConditionalCheckFailed');
      }
    });
  }

  /** Removes job rows of a refused run, each only while the run row still does not exist. */
  async function removeOrphanRows(exec: string, rows: JobAuditRecord[]): Promise<void> {
    for (const part of chunk(rows, MAX_TRANSACT_ITEMS - 1)) {
      const result = await transactWrite(
        client,
        [
          {
            ConditionCheck: {
              TableName: tables.workflowAudit,
              Key: runKey(exec),
              ConditionExpression: 'attribute_not_exists(workflow_execution_id)',
            },
          },
          ...part.map((j) => ({ Delete: { TableName: tables.jobAudit, Key: jobKeyOf(exec, j.job_key) } })),
        ],
        `remove job rows of refused run ${exec}`,
        retry,
      );
      // The run exists after all (a concurrent delivery created it): its rows are its own.
      if (!result.ok) return;
    }
  }

  /** Whether the workflow is held (its `hold:<workflow_id>` config item; absent: not held). */
  async function storedHold(workflowId: string): Promise<boolean> {
    const out = await retried(
      `read the hold of ${workflowId}`,
      () =>
        client.send(
          new GetCommand({
            TableName: configTable(),
            Key: { workflow_id: `${HOLD_KEY_PREFIX}${workflowId}` },
            ConsistentRead: true,
          }),
        ),
      retry,
    );
    return (out.Item?.hold_state as { held?: boolean } | null | undefined)?.held === true;
  }

  const missingConfig = (record: WorkflowAuditRecord) =>
    new ConfigItemMissingError(
      `workflow ${record.workflow_id} has no item in the config table; run ${record.workflow_execution_id} was not started`,
    );

  async function createRun(
    record: WorkflowAuditRecord,
    jobs: JobAuditRecord[],
    maxActive: number,
    fx: Effects,
    restartOf?: string,
    workflowHeld?: boolean,
  ): Promise<CreateRunResult> {
    const exec = record.workflow_execution_id;
    const runItem = runToItem(record);
    const takesSlot = record.execution_status === 'Running';
    for (let attempt = 1; attempt <= MAX_DECISION_ATTEMPTS; attempt++) {
      const existing = await getRun(exec);
      if (existing) return { outcome: 'exists', run: existing };
      if (restartOf !== undefined) {
        // Checked before writing any job row (the transaction below re-checks it atomically).
        const by = (await getRun(restartOf))?.restarted_as;
        if (by) return { outcome: 'restarted', by };
      }
      // Checked before writing any job row (the transaction below re-checks it atomically).
      if (workflowHeld !== undefined && (await storedHold(record.workflow_id)) !== workflowHeld)
        return { outcome: 'hold-changed' };
      if (takesSlot) {
        // Checked before writing any job row, so the common refusal (an overlapping schedule)
        // leaves nothing behind; the transaction below re-checks it atomically.
        const slots = await activeSlots(record.workflow_id);
        if (!slots.exists) throw missingConfig(record);
        // Holding a slot means the run was created since it was read (the two are written together).
        if (slots.active.includes(exec)) continue;
        if (slots.active.length >= maxActive)
          return { outcome: 'limit', active: await byStart(slots.active) };
      }
      await putJobRows(jobs);
      const items: TransactItem[] = [
        {
          Put: {
            TableName: tables.workflowAudit,
            Item: runItem,
            ConditionExpression: 'attribute_not_exists(workflow_execution_id)',
          },
        },
      ];
      if (takesSlot) {
        items.push({
          Update: {
            TableName: configTable(),
            Key: { workflow_id: record.workflow_id },
            UpdateExpression: 'ADD #slots :me',
            ConditionExpression:
              'attribute_exists(workflow_id) AND (attribute_not_exists(#slots) OR size(#slots) < :max)',
            ExpressionAttributeNames: { '#slots': ACTIVE_RUNS_ATTRIBUTE },
            ExpressionAttributeValues: { ':me': new Set([exec]), ':max': maxActive },
          },
        });
      }
      const restartIndex = items.length;
      if (restartOf !== undefined) {
        // The restarted run is restarted once: it names this run, unless another restart got there first.
        items.push({
          Update: {
            TableName: tables.workflowAudit,
            Key: runKey(restartOf),
            UpdateExpression: 'SET #by = :me',
            ConditionExpression:
              'attribute_exists(workflow_execution_id) AND (attribute_not_exists(#by) OR #by = :none)',
            ExpressionAttributeNames: { '#by': 'restarted_as' },
            ExpressionAttributeValues: { ':me': exec, ':none': null },
          },
        });
      }
      const holdIndex = items.length;
      if (workflowHeld !== undefined) {
        // The workflow's hold is still what the starter read (a hold or free may land meanwhile).
        items.push({
          ConditionCheck: {
            TableName: configTable(),
            Key: { workflow_id: `${HOLD_KEY_PREFIX}${record.workflow_id}` },
            ConditionExpression: workflowHeld
              ? '#hs.#held = :true'
              : 'attribute_not_exists(workflow_id) OR attribute_not_exists(#hs) OR attribute_type(#hs, :null) OR #hs.#held = :false',
            ExpressionAttributeNames: { '#hs': 'hold_state', '#held': 'held' },
            ExpressionAttributeValues: workflowHeld
              ? { ':true': true }
              : { ':false': false, ':null': 'NULL' },
          },
        });
      }
      const result = await transactWrite(client, items, `create run ${exec}`, retry);
      if (result.ok) {
        await effects.apply(fx);
        return { outcome: 'created' };
      }
      if (result.reasons[0] === 'ConditionalCheckFailed') continue; // created meanwhile: read it
      if (workflowHeld !== undefined && result.reasons[holdIndex] === 'ConditionalCheckFailed') {
        await removeOrphanRows(exec, jobs);
        return { outcome: 'hold-changed' };
      }
      if (restartOf !== undefined && result.reasons[restartIndex] === 'ConditionalCheckFailed') {
        const prev = await getRun(restartOf);
        if (prev?.restarted_as) {
          await removeOrphanRows(exec, jobs);
          return { outcome: 'restarted', by: prev.restarted_as };
        }
        // The restarted run is gone (the starter read it a moment ago): a retry would not help.
        await removeOrphanRows(exec, jobs);
        throw new RunWriteConflictError(`run ${exec}: the run it restarts, ${restartOf}, does not exist`);
      }
      const slots = await activeSlots(record.workflow_id);
      if (!slots.exists) {
        await removeOrphanRows(exec, jobs);
        throw missingConfig(record);
      }
      if (slots.active.length >= maxActive) {
        await removeOrphanRows(exec, jobs);
        return { outcome: 'limit', active: await byStart(slots.active) };
      }
      // A slot was freed meanwhile: decide again.
    }
    throw new RunWriteConflictError(`run ${exec}: creation kept conflicting with concurrent writes`);
  }

  async function claimJobs(claim: JobClaim, fx: Effects): Promise<'claimed' | 'conflict'> {
    const exec = claim.workflowExecutionId;
    const keys = claim.jobs.map((j) => j.jobKey);
    if (new Set(keys).size !== keys.length) return 'conflict';
    if (claim.jobs.length > MAX_TRANSACT_ITEMS - 1) {
      throw new Error(
        `a claim of ${claim.jobs.length} jobs does not fit one transaction (at most ${MAX_TRANSACT_ITEMS - 1})`,
      );
    }
    // The planner's own read (strongly consistent, a moment ago) decides as well as a new one would:
    // the transaction's conditions re-check all of it against the item as it is.
    const run = claim.run ?? (await getRun(exec));
    const i = claim.stage - 1;
    const st = run?.stages[i];
    if (!run || !st || st.cursor !== claim.expectedCursor || st.status !== 'Running') return 'conflict';
    if (!canLaunch(st, run.cancel_requested)) return 'conflict';
    // A held run starts no new job (issue 14); the condition below re-checks it atomically.
    if (run.hold_state?.held) return 'conflict';
    // canLaunch, as a condition: total and pre_skipped never change, so "finished + pre_skipped <
    // total" is "finished < total - pre_skipped"; cursor < total holds since the cursor is as read.
    const e = new Expr();
    const runUpdate: TransactItem = {
      Update: {
        TableName: tables.workflowAudit,
        Key: runKey(exec),
        UpdateExpression: `SET ${e.stage(i, 'cursor')} = ${e.value(claim.newCursor)}, ${e.stage(i, 'launched')} = ${e.stage(i, 'launched')} + ${e.value(claim.jobs.length)}`,
        ConditionExpression: [
          `${e.stage(i, 'cursor')} = ${e.value(claim.expectedCursor)}`,
          `${e.stage(i, 'status')} = ${e.value('Running')}`,
          `${e.name('cancel_requested')} = ${e.value(false)}`,
          `${e.stage(i, 'failed')} = ${e.value(0)}`,
          `${e.stage(i, 'timed_out')} = ${e.value(0)}`,
          `${e.stage(i, 'cancelled')} = ${e.value(0)}`,
          `${e.stage(i, 'finished')} < ${e.value(st.total - st.pre_skipped)}`,
          `(attribute_not_exists(${e.name('hold_state')}) OR attribute_type(${e.name('hold_state')}, ${e.value('NULL')}) OR ${e.name('hold_state')}.${e.name('held')} = ${e.value(false)})`,
        ].join(' AND '),
        ...e.input(),
      },
    };
    const jobUpdates: TransactItem[] = claim.jobs.map((c) => ({
      Update: {
        TableName: tables.jobAudit,
        Key: jobKeyOf(exec, c.jobKey),
        UpdateExpression: 'SET #s = :queued',
        ConditionExpression: 'attribute_exists(job_key) AND #a = :a AND #s = :pending',
        ExpressionAttributeNames: { '#s': 'execution_status', '#a': 'attempt' },
        ExpressionAttributeValues: { ':queued': 'Queued', ':pending': 'Pending', ':a': c.attempt },
      },
    }));
    const result = await transactWrite(
      client,
      [runUpdate, ...jobUpdates],
      `claim jobs of ${exec} stage ${claim.stage}`,
      retry,
    );
    if (!result.ok) return 'conflict';
    await effects.apply(fx);
    return 'claimed';
  }

  async function countJob(
    c: Parameters<RunRepository['countJob']>[0],
    derive: Parameters<RunRepository['countJob']>[1],
  ): Promise<{ counted: boolean; run: WorkflowRunState | undefined }> {
    const exec = c.workflowExecutionId;
    for (let attempt = 1; attempt <= MAX_DECISION_ATTEMPTS; attempt++) {
      // First try: the caller's read (the transaction's conditions guard what it decides); a
      // retry reads again.
      const run = attempt === 1 && c.run ? c.run : await getRun(exec);
      if (!run) return { counted: false, run: undefined };
      const i = c.stage - 1;
      if (!run.stages[i]) return { counted: false, run };
      const field = countField(c.status);
      const appendFailure = c.failure !== null && run.failed_jobs.length < 10;
      const e = new Expr();
      const sets = [
        `${e.stage(i, 'finished')} = ${e.stage(i, 'finished')} + ${e.value(1)}`,
        `${e.stage(i, field)} = ${e.stage(i, field)} + ${e.value(1)}`,
        `${e.name('counts')}.${e.name(field)} = ${e.name('counts')}.${e.name(field)} + ${e.value(1)}`,
      ];
      const conditions = ['attribute_exists(workflow_execution_id)'];
      if (appendFailure) {
        const fj = e.name('failed_jobs');
        sets.push(`${fj} = list_append(${fj}, ${e.value([c.failure])})`);
        conditions.push(`size(${fj}) < ${e.value(10)}`);
      }
      const result = await transactWrite(
        client,
        [
          {
            Update: {
              TableName: tables.jobAudit,
              Key: jobKeyOf(exec, c.jobKey),
              UpdateExpression: 'SET #counted = :true',
              ConditionExpression: 'attribute_exists(job_key) AND #counted = :false AND #a = :a AND #s = :s',
              ExpressionAttributeNames: { '#counted': 'counted', '#a': 'attempt', '#s': 'execution_status' },
              ExpressionAttributeValues: { ':true': true, ':false': false, ':a': c.attempt, ':s': c.status },
            },
          },
          {
            Update: {
              TableName: tables.workflowAudit,
              Key: runKey(exec),
              UpdateExpression: `SET ${sets.join(', ')}`,
              ConditionExpression: conditions.join(' AND '),
              ...e.input(),
            },
          },
        ],
        `count job ${exec}/${c.jobKey}`,
        retry,
      );
      if (result.ok) {
        const after = await getRun(exec);
        if (after) await effects.apply(derive(after));
        return { counted: true, run: after };
      }
      // The job is not countable (counted already, another attempt or status): nothing changed.
      if (result.reasons[0] === 'ConditionalCheckFailed') return { counted: false, run: await getRun(exec) };
      // Only the run's condition failed: the failure list filled up meanwhile; decide again.
    }
    throw new RunWriteConflictError(`count of ${exec}/${c.jobKey} kept conflicting with concurrent writes`);
  }

  async function completeStage(c: StageCompletion, fx: Effects): Promise<boolean> {
    const exec = c.workflowExecutionId;
    const run = await getRun(exec);
    const i = c.stage - 1;
    const st = run?.stages[i];
    if (!run || !st || st.status !== 'Running' || run.execution_status !== 'Running') return false;
    // What changes is what applyStageCompletion changes; counters by increments, the rest set to
    // the values it computes (the stages it touches are not written by anyone else meanwhile).
    const next = applyStageCompletion(run, c);
    const e = new Expr();
    const sets: string[] = [];
    next.stages.forEach((s, k) => {
      const before = run.stages[k];
      if (!before) return;
      for (const f of ['status', 'started_at', 'finished_at', 'ended_generation'] as const) {
        if (s[f] !== before[f]) sets.push(`${e.stage(k, f)} = ${e.value(s[f])}`);
      }
    });
    let skipped = 0;
    for (const [stage, n] of Object.entries(c.skippedByStage)) {
      const k = Number(stage) - 1;
      if (!run.stages[k] || n === 0) continue;
      skipped += n;
      sets.push(`${e.stage(k, 'skipped')} = ${e.stage(k, 'skipped')} + ${e.value(n)}`);
    }
    if (skipped > 0) {
      const counts = e.name('counts');
      sets.push(`${counts}.${e.name('skipped')} = ${counts}.${e.name('skipped')} + ${e.value(skipped)}`);
    }
    for (const f of ['current_stage', 'execution_status', 'execution_end_ts'] as const) {
      if (next[f] !== run[f]) sets.push(`${e.name(f)} = ${e.value(next[f])}`);
    }
    const items: TransactItem[] = [
      {
        Update: {
          TableName: tables.workflowAudit,
          Key: runKey(exec),
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: `${e.stage(i, 'status')} = ${e.value('Running')} AND ${e.name('execution_status')} = ${e.value('Running')}`,
          ...e.input(),
        },
      },
    ];
    if (c.runStatus) {
      // The run ends: give its max_active_runs slot back, in the same transaction.
      items.push({
        Update: {
          TableName: configTable(),
          Key: { workflow_id: run.workflow_id },
          UpdateExpression: 'DELETE #slots :me',
          ExpressionAttributeNames: { '#slots': ACTIVE_RUNS_ATTRIBUTE },
          ExpressionAttributeValues: { ':me': new Set([exec]) },
        },
      });
    }
    const result = await transactWrite(client, items, `complete stage ${c.stage} of ${exec}`, retry);
    if (!result.ok) return false;
    await effects.apply(fx);
    return true;
  }

  async function requestCancel(exec: string): Promise<WorkflowRunState | undefined> {
    const after = await conditionalUpdate(
      client,
      {
        TableName: tables.workflowAudit,
        Key: runKey(exec),
        UpdateExpression: 'SET #c = :true',
        ConditionExpression: 'attribute_exists(workflow_execution_id) AND #s = :running AND #c = :false',
        ExpressionAttributeNames: { '#c': 'cancel_requested', '#s': 'execution_status' },
        ExpressionAttributeValues: { ':true': true, ':false': false, ':running': 'Running' },
      },
      `request cancel of ${exec}`,
      retry,
    );
    return after ? runFromItem(after) : getRun(exec);
  }

  async function listRuns(workflowId: string, limit: number): Promise<WorkflowRunState[]> {
    if (limit <= 0) return [];
    // Newest first by start time; runs that started in the same millisecond are ordered by id (as
    // in SQLite), which the index does not do: read on until the start time changes, then sort.
    // The index is KEYS_ONLY (runtime/aws/tables.ts): it gives the keys, the runs come from the
    // table (BatchGetItem, strongly consistent so a listed status is never older than GetItem's).
    const ts = (item: Record<string, unknown> | undefined) => item?.execution_start_ts as string | undefined;
    const keys = await queryAll(
      client,
      {
        TableName: tables.workflowAudit,
        IndexName: RUNS_BY_WORKFLOW_INDEX,
        KeyConditionExpression: 'workflow_id = :w',
        ExpressionAttributeValues: { ':w': workflowId },
        ScanIndexForward: false,
        Limit: Math.min(100, limit + 1),
      },
      `list runs of ${workflowId}`,
      { stop: (read) => read.length > limit && ts(read[read.length - 1]) !== ts(read[limit - 1]), retry },
    );
    const newest = keys
      .sort(
        (a, b) =>
          String(ts(b)).localeCompare(String(ts(a))) ||
          String(b.workflow_execution_id).localeCompare(String(a.workflow_execution_id)),
      )
      .slice(0, limit);
    const items = await batchGetAll(
      client,
      tables.workflowAudit,
      newest,
      ['workflow_execution_id'],
      `read runs of ${workflowId}`,
      { consistentRead: true, retry },
    );
    return items.map(runFromItem);
  }

  async function getRunRecord(exec: string): Promise<WorkflowAuditRecord | undefined> {
    const run = await getRun(exec);
    if (!run) return undefined;
    const rows = await queryAll(
      client,
      {
        TableName: tables.jobAudit,
        IndexName: JOBS_BY_SEQUENCE_INDEX,
        KeyConditionExpression: 'workflow_execution_id = :e',
        ExpressionAttributeValues: { ':e': exec },
        ProjectionExpression: 'job_name, job_seq',
        ConsistentRead: true,
      },
      `list job names of ${exec}`,
      { retry },
    );
    return withRsqlJobs(
      run,
      rows.map((r) => r.job_name as string),
    );
  }

  return {
    getRun,
    createRun: (run, jobs, opts, fx) =>
      createRun(run, jobs, opts.maxActiveRuns, fx, opts.restartOf, opts.workflowHeld),
    claimJobs,
    countJob,
    completeStage,
    requestCancel,
    listRuns,
    getRunRecord,
  };
}
