/**
 * PoolRepository on DynamoDB (issue 14): one `pool:<NAME>` item of the config table per pool,
 * shared by every workflow of the stack. The slots are conditional counters: a holder is a member
 * of the `holders` string set, so "a slot is released exactly once per attempt" is a membership
 * test (the holder name is per attempt, `jobRunName(exec, key, attempt)`), and every change is one
 * conditional write whose condition holds exactly when the decision still does.
 *
 * Item: `workflow_id` = `pool:<NAME>`, `pool` (the name), `slots` N, `holders` SS (absent when
 * empty: DynamoDB has no empty set), `waiters` M `{<holder>: {since, exec, job_key, attempt}}`
 * (created `{}`), `created_by`, `source`, `created_at`, `last_change` M | NULL.
 *
 * - ensure: Put `attribute_not_exists(workflow_id)`, with the name added to the pool index item
 *   (POOL_INDEX_KEY) in the same transaction, so `list` needs no Scan.
 * - acquire: `ADD holders :me` if a slot is free and nobody waits (no queue jumping), or already a
 *   holder (a duplicate). `size(holders) < slots` compares a path with a path, which the condition
 *   grammar allows (dynamo-pools.test.ts checks it on DynamoDB Local). With no holders at all the
 *   set is absent and `size` of an absent attribute is not a number, so that case is spelled
 *   `attribute_not_exists(holders) AND slots > 0` (else a pool of 0 slots would admit one).
 * - enqueue: `SET waiters.#me = if_not_exists(waiters.#me, :w)` unless a holder, at most
 *   MAX_POOL_WAITERS waiters; ALL_NEW says how many slots are free and how many wait.
 * - grant: one TransactWriteItems [pool: waiter → holder while a slot is free; job: SET
 *   waiting_for = null while at the attempt, Queued, waiting for this pool], then the job's message
 *   (effects; the aggregator's stream filter for a woken job re-sends a lost one).
 * - release: `DELETE holders :me` if `contains(holders, :me)`; dequeue: `REMOVE waiters.#me`.
 * - resize: read, then `SET slots, last_change` conditional on the `last_change` read (requests
 *   ordered by `newerRequest`); a pool not there yet is Put.
 */
import {
  type DynamoDBDocumentClient,
  GetCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { newerRequest } from '../../contracts/operator.js';
import type { JobTransition, PoolHolder, PoolRepository, PoolState } from '../../services/ports.js';
import { Expr, jobExpectConditions, jobSetClauses, updateExpression } from './dynamo-expressions.js';
import { POOL_KEY_PREFIX } from './dynamo-items.js';
import { batchGetAll, conditionalUpdate, retried, transactWrite } from './dynamo-operations.js';
import type { EffectsSink } from './effects.js';
import type { RetryOptions } from './retry.js';

/**
 * Most waiters one pool item keeps (each ~150 bytes, so 1,000 stay far under DynamoDB's 400 KB
 * item limit). A job that finds the list full is not queued (`enqueue` says `queued: false`); the
 * dispatcher then leaves its message to come back later.
 */
export const MAX_POOL_WAITERS = 1000;

/** Attempts of a read-decide-write cycle (resize) that lost a race before giving up. */
const MAX_DECISION_ATTEMPTS = 10;

export interface DynamoPoolRepositoryDeps {
  client: DynamoDBDocumentClient;
  /** Physical name of the config table. */
  configTable: string;
  /** Physical name of the job audit table (grant clears the job's `waiting_for`). */
  jobAuditTable: string;
  /** Where effects go after a successful write. */
  effects: EffectsSink;
  /** Dates created pools (default: the system clock). */
  clock?: { now(): Date };
  retry?: RetryOptions;
}

/**
 * The pool index item: a string set `pools` of every pool's name, added to in the transaction that
 * creates a pool, so `list` is two reads, never a Scan of the config table. ("::" — no pool name
 * has a ":", so this key is no pool's, and it still starts with `pool:`.)
 */
export const POOL_INDEX_KEY = `${POOL_KEY_PREFIX}:index`;

/** The pool item's key. */
export function poolKey(name: string): { workflow_id: string } {
  return { workflow_id: `${POOL_KEY_PREFIX}${name}` };
}

/** A pool's resize kept conflicting with concurrent writes. */
export class PoolWriteConflictError extends Error {
  override name = 'PoolWriteConflictError';
}

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

interface StoredWaiter {
  since: string;
  exec: string;
  job_key: string;
  attempt: number;
}

/** A stored pool item as the port's PoolState (waiters oldest first: since, then holder). */
export function poolFromItem(item: Record<string, unknown>): PoolState {
  const holders = item.holders instanceof Set ? [...(item.holders as Set<string>)].sort() : [];
  const waiters = Object.entries((item.waiters ?? {}) as Record<string, StoredWaiter>)
    .map(
      ([holder, w]): PoolHolder => ({
        holder,
        workflowExecutionId: w.exec,
        jobKey: w.job_key,
        attempt: Number(w.attempt),
        since: w.since,
      }),
    )
    .sort((a, b) => (a.since < b.since ? -1 : a.since > b.since ? 1 : a.holder < b.holder ? -1 : 1));
  const last = item.last_change as { requested_at: string; request_id: string } | null | undefined;
  return {
    name: String(item.pool ?? String(item.workflow_id).slice(POOL_KEY_PREFIX.length)),
    slots: Number(item.slots),
    holders,
    waiters,
    created_by: String(item.created_by ?? ''),
    last_change: last ? { requested_at: last.requested_at, request_id: last.request_id } : null,
  };
}

/** "A slot is free": spelled so an absent holder set (no holders) still respects 0 slots. */
const SLOT_FREE = '((attribute_not_exists(#h) AND #s > :zero) OR size(#h) < #s)';

/**
 * The pool repository over the config table (`pool:` items) and, for grant, the job audit table.
 * Default clock: the system clock; default retries: 8 attempts, 25 ms … 2 s full jitter.
 */
export function createDynamoPoolRepository(deps: DynamoPoolRepositoryDeps): PoolRepository {
  const { client, configTable, jobAuditTable, effects, retry } = deps;
  const clock = deps.clock ?? { now: () => new Date() };

  async function read(name: string): Promise<Record<string, unknown> | undefined> {
    const out = await retried(
      `read pool ${name}`,
      () => client.send(new GetCommand({ TableName: configTable, Key: poolKey(name), ConsistentRead: true })),
      retry,
    );
    return out.Item;
  }

  async function get(name: string): Promise<PoolState | undefined> {
    const item = await read(name);
    return item ? poolFromItem(item) : undefined;
  }

  /** Puts a new pool unless one exists; true when this call created it. */
  /**
   * Puts a new pool unless one exists, and names it in the pool index item, in one transaction;
   * true when this call created it.
   */
  async function create(
    name: string,
    slots: number,
    fields: { created_by: string; source: string; last_change: PoolState['last_change'] },
  ): Promise<boolean> {
    const result = await transactWrite(
      client,
      [
        {
          Put: {
            TableName: configTable,
            Item: {
              ...poolKey(name),
              pool: name,
              slots,
              waiters: {},
              created_by: fields.created_by,
              source: fields.source,
              created_at: clock.now().toISOString(),
              last_change: fields.last_change,
            },
            ConditionExpression: 'attribute_not_exists(workflow_id)',
          },
        },
        {
          Update: {
            TableName: configTable,
            Key: { workflow_id: POOL_INDEX_KEY },
            UpdateExpression: 'ADD #names :name',
            ExpressionAttributeNames: { '#names': 'pools' },
            ExpressionAttributeValues: { ':name': new Set([name]) },
          },
        },
      ],
      `create pool ${name}`,
      retry,
    );
    return result.ok;
  }

  /**
   * Every pool, by name: the index item's names, then the pool items (BatchGetItem, consistent).
   * Not a Scan: the functions' roles reach `pool:` keys only (a Scan would read every definition).
   */
  async function list(): Promise<PoolState[]> {
    const out = await retried(
      'read the pool index',
      () =>
        client.send(
          new GetCommand({
            TableName: configTable,
            Key: { workflow_id: POOL_INDEX_KEY },
            ConsistentRead: true,
          }),
        ),
      retry,
    );
    const names = [...((out.Item?.pools as Set<string> | undefined) ?? [])].sort();
    const items = await batchGetAll(
      client,
      configTable,
      names.map(poolKey),
      ['workflow_id'],
      'read the pools',
      {
        consistentRead: true,
        retry,
      },
    );
    return items.map(poolFromItem).sort((a, b) => a.name.localeCompare(b.name));
  }

  const names = { '#h': 'holders', '#s': 'slots', '#w': 'waiters' };

  return {
    get,
    list,

    async ensure(name, slots, origin, fx) {
      const created = await create(name, slots, {
        created_by: origin.created_by,
        source: origin.source,
        last_change: null,
      });
      if (!created) return 'exists';
      await effects.apply(fx);
      return 'created';
    },

    async resize(name, slots, change, fx) {
      const next = { requested_at: change.requested_at, request_id: change.request_id };
      for (let attempt = 1; attempt <= MAX_DECISION_ATTEMPTS; attempt++) {
        const item = await read(name);
        if (!item) {
          if (
            await create(name, slots, {
              created_by: change.created_by,
              source: 'operator',
              last_change: next,
            })
          ) {
            await effects.apply(fx);
            return 'applied';
          }
          continue; // created meanwhile: decide against it
        }
        const last = poolFromItem(item).last_change;
        if (last && last.request_id === next.request_id && last.requested_at === next.requested_at)
          return 'same';
        if (last && !newerRequest(next, last)) return 'stale';
        const after = await conditionalUpdate(
          client,
          {
            TableName: configTable,
            Key: poolKey(name),
            UpdateExpression: 'SET #s = :slots, #lc = :next',
            ConditionExpression: last
              ? '#lc.#rid = :rid AND #lc.#rat = :rat'
              : 'attribute_exists(workflow_id) AND (attribute_not_exists(#lc) OR attribute_type(#lc, :null))',
            ExpressionAttributeNames: {
              '#s': 'slots',
              '#lc': 'last_change',
              ...(last ? { '#rid': 'request_id', '#rat': 'requested_at' } : {}),
            },
            ExpressionAttributeValues: {
              ':slots': slots,
              ':next': next,
              ...(last ? { ':rid': last.request_id, ':rat': last.requested_at } : { ':null': 'NULL' }),
            },
          },
          `resize pool ${name}`,
          retry,
        );
        if (after) {
          await effects.apply(fx);
          return 'applied';
        }
      }
      throw new PoolWriteConflictError(`pool ${name}: the resize kept conflicting with concurrent ones`);
    },

    async acquire(name, holder) {
      const after = await conditionalUpdate(
        client,
        {
          TableName: configTable,
          Key: poolKey(name),
          UpdateExpression: 'ADD #h :meSet',
          ConditionExpression: `attribute_exists(#s) AND (contains(#h, :me) OR (${SLOT_FREE} AND (attribute_not_exists(#w) OR size(#w) = :zero)))`,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: { ':meSet': new Set([holder.holder]), ':me': holder.holder, ':zero': 0 },
          ReturnValues: 'NONE',
        },
        `acquire a slot of pool ${name}`,
        retry,
      );
      if (after) return 'acquired';
      const item = await read(name);
      if (!item) return 'missing';
      // The condition said no; only a holder added since (a concurrent duplicate) makes it yes.
      return poolFromItem(item).holders.includes(holder.holder) ? 'acquired' : 'full';
    },

    async enqueue(name, holder) {
      const w: StoredWaiter = {
        since: holder.since,
        exec: holder.workflowExecutionId,
        job_key: holder.jobKey,
        attempt: holder.attempt,
      };
      const state = (item: Record<string, unknown>, queued: boolean) => {
        const p = poolFromItem(item);
        return { queued, free: Math.max(0, p.slots - p.holders.length), waiting: p.waiters.length };
      };
      const after = await conditionalUpdate(
        client,
        {
          TableName: configTable,
          Key: poolKey(name),
          UpdateExpression: 'SET #w.#me = if_not_exists(#w.#me, :w)',
          ConditionExpression:
            'attribute_exists(#s) AND NOT contains(#h, :me) AND (attribute_exists(#w.#me) OR size(#w) < :cap)',
          ExpressionAttributeNames: { ...names, '#me': holder.holder },
          ExpressionAttributeValues: { ':w': w, ':me': holder.holder, ':cap': MAX_POOL_WAITERS },
        },
        `wait for a slot of pool ${name}`,
        retry,
      );
      if (after) return state(after, true);
      const item = await read(name);
      // No such pool (the port contract: not queued, nothing free, nobody waiting).
      if (!item) return { queued: false, free: 0, waiting: 0 };
      // A holder already (granted meanwhile) or the list is full: not queued.
      return state(item, false);
    },

    async grant(name, holder, job, fx) {
      const waitingFor = `${POOL_KEY_PREFIX}${name}`;
      const items: TransactItem[] = [
        {
          Update: {
            TableName: configTable,
            Key: poolKey(name),
            UpdateExpression: 'ADD #h :meSet REMOVE #w.#me',
            ConditionExpression: `attribute_exists(#w.#me) AND ${SLOT_FREE}`,
            ExpressionAttributeNames: { ...names, '#me': holder.holder },
            ExpressionAttributeValues: { ':meSet': new Set([holder.holder]), ':zero': 0 },
          },
        },
        { Update: jobUpdate(jobAuditTable, job, waitingFor) },
      ];
      const result = await transactWrite(
        client,
        items,
        `grant ${holder.holder} a slot of pool ${name}`,
        retry,
      );
      if (result.ok) {
        await effects.apply(fx);
        return 'granted';
      }
      // The job no longer waits for this pool (cancelled, bypassed, woken already): drop it.
      if (result.reasons[1] === 'ConditionalCheckFailed') return 'gone';
      const item = await read(name);
      const waiting = item ? poolFromItem(item).waiters.some((x) => x.holder === holder.holder) : false;
      // Still waiting: no slot is free. Not waiting: someone else granted or dequeued it.
      return waiting ? 'no-slot' : 'gone';
    },

    async release(name, holder, fx) {
      const after = await conditionalUpdate(
        client,
        {
          TableName: configTable,
          Key: poolKey(name),
          UpdateExpression: 'DELETE #h :meSet',
          ConditionExpression: 'contains(#h, :me)',
          ExpressionAttributeNames: { '#h': 'holders' },
          ExpressionAttributeValues: { ':meSet': new Set([holder]), ':me': holder },
          ReturnValues: 'NONE',
        },
        `release ${holder}'s slot of pool ${name}`,
        retry,
      );
      if (!after) return 'not-held';
      await effects.apply(fx);
      return 'released';
    },

    async dequeue(name, holder) {
      const after = await conditionalUpdate(
        client,
        {
          TableName: configTable,
          Key: poolKey(name),
          UpdateExpression: 'REMOVE #w.#me',
          ConditionExpression: 'attribute_exists(#w.#me)',
          ExpressionAttributeNames: { '#w': 'waiters', '#me': holder },
          ReturnValues: 'NONE',
        },
        `stop ${holder} waiting for pool ${name}`,
        retry,
      );
      return after !== undefined;
    },
  };
}

/**
 * The job half of a grant: the transition's `set` (nulls of sparse attributes REMOVEd), and
 * `waiting_for` cleared (null), conditional on the transition's `expect` and on the job still waiting for
 * this pool.
 */
function jobUpdate(table: string, t: JobTransition, waitingFor: string): NonNullable<TransactItem['Update']> {
  if (t.expect.statuses.length === 0) throw new Error('a grant needs the statuses the job may be in');
  const e = new Expr();
  const wf = e.name('waiting_for');
  const { sets, removes } = jobSetClauses(e, { ...t.set, waiting_for: undefined }, 'a pool grant');
  sets.unshift(`${wf} = ${e.value(null)}`);
  return {
    TableName: table,
    Key: { workflow_execution_id: t.workflowExecutionId, job_key: t.jobKey },
    UpdateExpression: updateExpression(sets, removes),
    ConditionExpression: [...jobExpectConditions(e, t.expect), `${wf} = ${e.value(waitingFor)}`].join(
      ' AND ',
    ),
    ...e.input(),
  };
}
