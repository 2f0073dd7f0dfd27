/**
 * OperatorRepository on DynamoDB (issue 14): the state changes of set-ok, rerun, bypass and holds.
 *
 * - applyJobAction: ONE TransactWriteItems writing exactly what services/shared/operator-plan.ts
 *   computed — the run item (stage counters and `counts` by increments, never read-modify-write,
 *   so concurrent counts are kept; conditioned on the plan's status and generation), the job item
 *   (conditioned on the plan's `expect`) and, when the run reopens, its `max_active_runs` slot on
 *   the workflow's config item (`ADD`, refused when full ⇒ 'limit').
 * - reviveSkipped: conditional updates of the job rows a failed stage left Skipped.
 * - setRunHold: `hold_state` on the run item, read then written conditional on what was read;
 *   requests are ordered by `newerRequest` (a reordered older one is 'stale', the same one 'same').
 * - workflow holds: a `hold:<workflow_id>` config item, NOT an attribute of the definition item
 *   (`definitions push` replaces the definition item's attributes). createRun checks it in its
 *   transaction (dynamo-runs.ts), so a hold landing between the starter's read and the write is seen.
 * - heldRuns: the workflow's Running runs (its active-run slots on the config item) held with scope
 *   workflow, in start order.
 *
 * Effects go out after the write (EffectsSink); see services/ports.ts for how a crash in between is
 * repaired.
 */
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { JobCounts, WorkflowRunState } from '../../contracts/audit.js';
import {
  type HoldState,
  MAX_JOB_OPERATOR_ACTIONS,
  MAX_RUN_OPERATOR_ACTIONS,
  newerRequest,
  type OperatorActionRecord,
} from '../../contracts/operator.js';
import type { Effects, JobActionPlan, OperatorRepository, StageCounter } from '../../services/ports.js';
import { workflowHeldRunIds } from '../../services/shared/operator-plan.js';
import { Expr, jobExpectConditions, jobSetClauses, readRun, updateExpression } from './dynamo-expressions.js';
import {
  ACTIVE_RUNS_ATTRIBUTE,
  HOLD_KEY_PREFIX,
  JOB_SEQUENCE_ATTRIBUTE,
  runFromItem,
} from './dynamo-items.js';
import {
  batchGetAll,
  conditionalUpdate,
  mapLimit,
  queryAll,
  retried,
  transactWrite,
} from './dynamo-operations.js';
import { RunWriteConflictError } from './dynamo-runs.js';
import type { EffectsSink } from './effects.js';
import type { RetryOptions } from './retry.js';
import { JOBS_BY_SEQUENCE_INDEX, jobSequence } from './tables.js';

export interface DynamoOperatorRepositoryDeps {
  client: DynamoDBDocumentClient;
  tables: { config: string; workflowAudit: string; jobAudit: string };
  /** Where effects go after a successful write. */
  effects: EffectsSink;
  retry?: RetryOptions;
}

/** The `hold:<workflow_id>` config item's key. */
export function holdKey(workflowId: string): { workflow_id: string } {
  return { workflow_id: `${HOLD_KEY_PREFIX}${workflowId}` };
}

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/** Attempts of a read-decide-write cycle that lost a race before giving up. */
const MAX_DECISION_ATTEMPTS = 10;

/** The stage counters that are also run `counts` fields (finished and pre_skipped are not). */
const COUNT_FIELDS: ReadonlySet<StageCounter> = new Set([
  'completed',
  'failed',
  'timed_out',
  'cancelled',
  'skipped',
]);

export function createDynamoOperatorRepository(deps: DynamoOperatorRepositoryDeps): OperatorRepository {
  const { client, tables, effects, retry } = deps;
  const runKey = (exec: string) => ({ workflow_execution_id: exec });

  const getRun = (exec: string) => readRun(client, tables.workflowAudit, exec, retry);

  async function getConfig(key: { workflow_id: string }, what: string) {
    const out = await retried(
      what,
      () => client.send(new GetCommand({ TableName: tables.config, Key: key, ConsistentRead: true })),
      retry,
    );
    return out.Item;
  }

  /**
   * The run's operator-action list with one more record, and the conditions that the list and its
   * count are still as read (a concurrent action, e.g. a hold, appends too).
   */
  function appendAction(e: Expr, run: WorkflowRunState, record: OperatorActionRecord) {
    const list = [...(run.operator_actions ?? []), record].slice(-MAX_RUN_OPERATOR_ACTIONS);
    const count = run.operator_action_count ?? run.operator_actions?.length ?? 0;
    const oac = e.name('operator_action_count');
    const oa = e.name('operator_actions');
    return {
      sets: [`${oa} = ${e.value(list)}`, `${oac} = ${e.value(count + 1)}`],
      condition:
        run.operator_action_count !== undefined
          ? `${oac} = ${e.value(count)}`
          : `attribute_not_exists(${oac}) AND ${
              run.operator_actions
                ? `size(${oa}) = ${e.value(run.operator_actions.length)}`
                : `attribute_not_exists(${oa})`
            }`,
    };
  }

  /** `#gen = :g`, where an absent generation is 0. */
  function generationIs(e: Expr, g: number): string {
    const gen = e.name('generation');
    return g === 0 ? `(attribute_not_exists(${gen}) OR ${gen} = ${e.value(0)})` : `${gen} = ${e.value(g)}`;
  }

  function runUpdate(plan: JobActionPlan, run: WorkflowRunState) {
    const e = new Expr();
    const sets: string[] = [];
    const conditions = [
      'attribute_exists(workflow_execution_id)',
      `${e.name('execution_status')} = ${e.value(plan.expectRun.status)}`,
      generationIs(e, plan.expectRun.generation),
    ];
    const counts: Partial<Record<keyof JobCounts, number>> = {};
    for (const c of plan.stages) {
      const i = c.stage - 1;
      const before = run.stages[i];
      if (!before) throw new Error(`run ${run.workflow_execution_id} has no stage ${c.stage}`);
      for (const [k, d] of Object.entries(c.delta) as Array<[StageCounter, number]>) {
        if (!d) continue;
        sets.push(`${e.stage(i, k)} = ${e.stage(i, k)} + ${e.value(d)}`);
        if (COUNT_FIELDS.has(k)) counts[k as keyof JobCounts] = (counts[k as keyof JobCounts] ?? 0) + d;
      }
      if (c.status && c.status !== before.status) {
        sets.push(`${e.stage(i, 'status')} = ${e.value(c.status)}`);
        // Only from the status the plan saw (the aggregator may end or start a stage meanwhile).
        conditions.push(`${e.stage(i, 'status')} = ${e.value(before.status)}`);
      }
      if (c.reopen) sets.push(`${e.stage(i, 'finished_at')} = ${e.value(null)}`);
    }
    for (const [k, d] of Object.entries(counts)) {
      if (!d) continue;
      // Named only when used: DynamoDB refuses an unused ExpressionAttributeNames entry.
      const cn = e.name('counts');
      sets.push(`${cn}.${e.name(k)} = ${cn}.${e.name(k)} + ${e.value(d)}`);
    }
    if (plan.run.status !== run.execution_status)
      sets.push(`${e.name('execution_status')} = ${e.value(plan.run.status)}`);
    if (plan.run.reopens) sets.push(`${e.name('execution_end_ts')} = ${e.value(null)}`);
    sets.push(`${e.name('generation')} = ${e.value(plan.run.generation)}`);
    if (plan.run.current_stage !== run.current_stage)
      sets.push(`${e.name('current_stage')} = ${e.value(plan.run.current_stage)}`);
    // The job leaves failed_jobs (set-ok, rerun): filtered from the list as it is now, on the
    // condition it is still that long (a count may append a failure meanwhile).
    if (plan.action !== 'bypass' && run.failed_jobs.some((f) => f.job_key === plan.jobKey)) {
      const fj = e.name('failed_jobs');
      sets.push(`${fj} = ${e.value(run.failed_jobs.filter((f) => f.job_key !== plan.jobKey))}`);
      conditions.push(`size(${fj}) = ${e.value(run.failed_jobs.length)}`);
    }
    const actions = appendAction(e, run, plan.record);
    sets.push(...actions.sets);
    conditions.push(actions.condition);
    return {
      TableName: tables.workflowAudit,
      Key: runKey(plan.workflowExecutionId),
      UpdateExpression: `SET ${sets.join(', ')}`,
      ConditionExpression: conditions.join(' AND '),
      ...e.input(),
    };
  }

  function jobUpdate(plan: JobActionPlan) {
    const e = new Expr();
    const { sets, removes } = jobSetClauses(e, plan.job.set, 'a job action');
    const x = plan.job.expect;
    const conditions = [...jobExpectConditions(e, x), `${e.name('counted')} = ${e.value(x.counted)}`];
    // The job's action list as the plan read it (below the cap, its length says so): the same plan
    // twice, or two requests planned from the same read, apply once.
    const actions = plan.job.set.operator_actions;
    if (actions && actions.length < MAX_JOB_OPERATOR_ACTIONS) {
      const oa = e.name('operator_actions');
      const prior = actions.length - 1;
      conditions.push(
        prior === 0
          ? `(attribute_not_exists(${oa}) OR size(${oa}) = ${e.value(0)})`
          : `size(${oa}) = ${e.value(prior)}`,
      );
    }
    // A Skipped job is bypassed only while a failure's skip is on it (contracts/operator.ts
    // bypassRefusal): once relabelled "bypassed: …" it is not again.
    if (x.statuses.includes('Skipped'))
      conditions.push(`begins_with(${e.name('skip_reason')}, ${e.value('not started: stage ')})`);
    return {
      TableName: tables.jobAudit,
      Key: { workflow_execution_id: plan.workflowExecutionId, job_key: plan.jobKey },
      UpdateExpression: updateExpression(sets, removes),
      ConditionExpression: conditions.join(' AND '),
      ...e.input(),
    };
  }

  async function applyJobAction(plan: JobActionPlan, fx: Effects): Promise<'applied' | 'conflict' | 'limit'> {
    const exec = plan.workflowExecutionId;
    for (let attempt = 1; attempt <= MAX_DECISION_ATTEMPTS; attempt++) {
      const run = await getRun(exec);
      if (
        !run ||
        run.execution_status !== plan.expectRun.status ||
        (run.generation ?? 0) !== plan.expectRun.generation
      )
        return 'conflict';
      const items: TransactItem[] = [{ Update: runUpdate(plan, run) }, { Update: jobUpdate(plan) }];
      let maxActive = 0;
      if (plan.run.reopens) {
        // The run takes a max_active_runs slot again (it gave it back when it ended).
        const config = await getConfig(
          { workflow_id: run.workflow_id },
          `read max_active_runs of ${run.workflow_id}`,
        );
        maxActive = typeof config?.max_active_runs === 'number' ? config.max_active_runs : 1;
        items.push({
          Update: {
            TableName: tables.config,
            Key: { workflow_id: run.workflow_id },
            UpdateExpression: 'ADD #slots :me',
            ConditionExpression:
              'attribute_exists(workflow_id) AND (contains(#slots, :exec) OR attribute_not_exists(#slots) OR size(#slots) < :max)',
            ExpressionAttributeNames: { '#slots': ACTIVE_RUNS_ATTRIBUTE },
            ExpressionAttributeValues: { ':me': new Set([exec]), ':exec': exec, ':max': maxActive },
          },
        });
      }
      const result = await transactWrite(client, items, `${plan.action} ${exec}/${plan.jobKey}`, retry);
      if (result.ok) {
        await effects.apply(fx);
        return 'applied';
      }
      if (result.reasons[1] === 'ConditionalCheckFailed') return 'conflict';
      if (result.reasons[2] === 'ConditionalCheckFailed') return 'limit';
      // The run's condition: moved on (conflict) or only its lists grew meanwhile (decide again).
    }
    throw new RunWriteConflictError(
      `${plan.action} of ${exec}/${plan.jobKey} kept conflicting with concurrent writes`,
    );
  }

  async function reviveSkipped(exec: string, fromStage: number, reason: string): Promise<number> {
    const rows = await queryAll(
      client,
      {
        TableName: tables.jobAudit,
        IndexName: JOBS_BY_SEQUENCE_INDEX,
        KeyConditionExpression: '#e = :e AND #seq >= :from',
        ExpressionAttributeNames: { '#e': 'workflow_execution_id', '#seq': JOB_SEQUENCE_ATTRIBUTE },
        ExpressionAttributeValues: { ':e': exec, ':from': jobSequence(fromStage, 0) },
        Select: 'ALL_ATTRIBUTES',
        ConsistentRead: true,
      },
      `list skipped jobs of ${exec}`,
      { retry },
    );
    const skipped = rows.filter((r) => r.execution_status === 'Skipped' && r.skip_reason === reason);
    const done = await mapLimit(skipped, 8, async (r) => {
      const after = await conditionalUpdate(
        client,
        {
          TableName: tables.jobAudit,
          Key: { workflow_execution_id: exec, job_key: r.job_key },
          UpdateExpression: 'SET #s = :pending, #c = :false, #r = :null, #end = :null',
          ConditionExpression: '#s = :skipped AND #r = :reason AND #a = :a',
          ExpressionAttributeNames: {
            '#s': 'execution_status',
            '#c': 'counted',
            '#r': 'skip_reason',
            '#end': 'execution_end_ts',
            '#a': 'attempt',
          },
          ExpressionAttributeValues: {
            ':pending': 'Pending',
            ':skipped': 'Skipped',
            ':false': false,
            ':null': null,
            ':reason': reason,
            ':a': r.attempt,
          },
          ReturnValues: 'NONE',
        },
        `revive ${exec}/${String(r.job_key)}`,
        retry,
      );
      return after !== undefined;
    });
    return done.filter(Boolean).length;
  }

  /** 'same' | 'stale' | null (apply): how `next` relates to the stored hold state. */
  function order(stored: HoldState | null | undefined, next: HoldState): 'same' | 'stale' | null {
    if (!stored) return null;
    if (stored.request_id === next.request_id) return 'same';
    return newerRequest(next, stored) ? null : 'stale';
  }

  /** The condition "hold_state is still `stored`" (absent/null, or the same request). */
  function holdIs(e: Expr, stored: HoldState | null | undefined): string {
    const hs = e.name('hold_state');
    return stored
      ? `${hs}.${e.name('request_id')} = ${e.value(stored.request_id)}`
      : `(attribute_not_exists(${hs}) OR attribute_type(${hs}, ${e.value('NULL')}))`;
  }

  async function setRunHold(
    exec: string,
    next: HoldState,
    action: OperatorActionRecord,
    fx: Effects,
  ): Promise<'applied' | 'same' | 'stale' | 'not-running'> {
    for (let attempt = 1; attempt <= MAX_DECISION_ATTEMPTS; attempt++) {
      const run = await getRun(exec);
      if (!run) return 'not-running';
      const decided = order(run.hold_state, next);
      if (decided) return decided;
      if (run.execution_status !== 'Running') return 'not-running';
      const e = new Expr();
      const actions = appendAction(e, run, action);
      const after = await conditionalUpdate(
        client,
        {
          TableName: tables.workflowAudit,
          Key: runKey(exec),
          UpdateExpression: `SET ${e.name('hold_state')} = ${e.value(next)}, ${actions.sets.join(', ')}`,
          ConditionExpression: [
            `${e.name('execution_status')} = ${e.value('Running')}`,
            holdIs(e, run.hold_state),
            actions.condition,
          ].join(' AND '),
          ...e.input(),
          ReturnValues: 'NONE',
        },
        `${next.held ? 'hold' : 'free'} run ${exec}`,
        retry,
      );
      if (after) {
        await effects.apply(fx);
        return 'applied';
      }
    }
    throw new RunWriteConflictError(`hold of ${exec} kept conflicting with concurrent writes`);
  }

  async function getWorkflowHold(workflowId: string): Promise<HoldState | undefined> {
    const item = await getConfig(holdKey(workflowId), `read the hold of ${workflowId}`);
    return (item?.hold_state as HoldState | undefined) ?? undefined;
  }

  async function setWorkflowHold(
    workflowId: string,
    next: HoldState,
    fx: Effects,
  ): Promise<'applied' | 'same' | 'stale'> {
    for (let attempt = 1; attempt <= MAX_DECISION_ATTEMPTS; attempt++) {
      const stored = await getWorkflowHold(workflowId);
      const decided = order(stored, next);
      if (decided) return decided;
      let ok: boolean;
      if (!stored) {
        try {
          await retried(
            `hold workflow ${workflowId}`,
            () =>
              client.send(
                new PutCommand({
                  TableName: tables.config,
                  Item: { ...holdKey(workflowId), hold_state: next },
                  ConditionExpression: 'attribute_not_exists(workflow_id)',
                }),
              ),
            retry,
          );
          ok = true;
        } catch (err) {
          if (!(err instanceof Error) || err.name !== 'ConditionalCheckFailedException') throw err;
          ok = false;
        }
      } else {
        const e = new Expr();
        ok =
          (await conditionalUpdate(
            client,
            {
              TableName: tables.config,
              Key: holdKey(workflowId),
              UpdateExpression: `SET ${e.name('hold_state')} = ${e.value(next)}`,
              ConditionExpression: holdIs(e, stored),
              ...e.input(),
              ReturnValues: 'NONE',
            },
            `${next.held ? 'hold' : 'free'} workflow ${workflowId}`,
            retry,
          )) !== undefined;
      }
      if (ok) {
        await effects.apply(fx);
        return 'applied';
      }
    }
    throw new RunWriteConflictError(`hold of workflow ${workflowId} kept conflicting with concurrent writes`);
  }

  async function heldRuns(workflowId: string): Promise<string[]> {
    const config = await getConfig({ workflow_id: workflowId }, `read active runs of ${workflowId}`);
    const active = config?.[ACTIVE_RUNS_ATTRIBUTE] as Set<string> | undefined;
    if (!active || active.size === 0) return [];
    const items = await batchGetAll(
      client,
      tables.workflowAudit,
      [...active].map(runKey),
      ['workflow_execution_id'],
      `read the active runs of ${workflowId}`,
      { consistentRead: true, retry },
    );
    return workflowHeldRunIds(items.map(runFromItem));
  }

  return { applyJobAction, reviveSkipped, setRunHold, getWorkflowHold, setWorkflowHold, heldRuns };
}
