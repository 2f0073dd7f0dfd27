/**
 * How a workflow definition is written to the config table, shared by the deploy-time custom
 * resource (infra/constructs/workflow-deployment.ts) and `rsqlo definitions push --aws`: an
 * UpdateItem that SETs the definition's attributes as written and REMOVEs those it no longer has,
 * leaving the item's active-run slots alone.
 */
import { randomUUID } from 'node:crypto';
import {
  type DynamoDBClient,
  ScanCommand,
  type TransactWriteItem,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { formatCycle, triggerCycles } from '../../contracts/dependencies.js';
import { WorkflowDefinition } from '../../contracts/workflow.js';
import { ACTIVE_RUNS_ATTRIBUTE, HOLD_KEY_PREFIX, POOL_KEY_PREFIX } from './dynamo-items.js';
import { cancellationReasons, MAX_TRANSACT_ITEMS, retried } from './dynamo-operations.js';
import {
  AFTER_KEY_PREFIX,
  CALENDAR_KEY_PREFIX,
  type DependencyItem,
  TRIGGER_KEY_PREFIX,
} from './dynamo-trigger.js';

/** A DynamoDB attribute value (the low-level API's shape). */
export type AttributeValue =
  | { S: string }
  | { N: string }
  | { BOOL: boolean }
  | { NULL: true }
  | { L: AttributeValue[] }
  | { M: Record<string, AttributeValue> };

/** JSON → DynamoDB attribute value: the item the config table stores is the definition as written. */
export function toAttributeValue(value: unknown, at = '$'): AttributeValue {
  if (value === null) return { NULL: true };
  switch (typeof value) {
    case 'string':
      return { S: value };
    case 'number':
      if (!Number.isFinite(value)) throw new Error(`${at}: ${value} cannot be stored in DynamoDB`);
      return { N: String(value) };
    case 'boolean':
      return { BOOL: value };
    case 'object':
      if (Array.isArray(value)) return { L: value.map((v, i) => toAttributeValue(v, `${at}[${i}]`)) };
      return {
        M: Object.fromEntries(
          Object.entries(value as Record<string, unknown>).map(([k, v]) => [
            k,
            toAttributeValue(v, `${at}.${k}`),
          ]),
        ),
      };
    default:
      throw new Error(`${at}: a ${typeof value} cannot be stored in DynamoDB`);
  }
}

/** Top-level attributes a definition may have (contracts/workflow.ts), besides its key. */
export const DEFINITION_ATTRIBUTES = Object.keys(WorkflowDefinition.shape).filter((k) => k !== 'workflow_id');

/**
 * The UpdateItem that stores a definition as written: SET each of its attributes, REMOVE the
 * definition attributes it no longer has. Unlike a PutItem it leaves the item's other attributes
 * alone — the workflow's active-run slots (ACTIVE_RUNS_ATTRIBUTE), which a deploy while runs are in
 * flight must not wipe (runtime/aws/dynamo-definitions.ts keeps them for the same reason).
 */
export function definitionUpdate(tableName: string, raw: Record<string, unknown>) {
  const keys = Object.keys(raw).filter((k) => k !== 'workflow_id');
  const unknown = keys.filter((k) => !DEFINITION_ATTRIBUTES.includes(k) || k === ACTIVE_RUNS_ATTRIBUTE);
  if (unknown.length)
    throw new Error(`definition ${String(raw.workflow_id)}: unexpected attributes ${unknown.join(', ')}`);
  const names: Record<string, string> = {};
  const values: Record<string, AttributeValue> = {};
  const sets = keys.map((k, i) => {
    names[`#a${i}`] = k;
    values[`:v${i}`] = toAttributeValue(raw[k], `$.${k}`);
    return `#a${i} = :v${i}`;
  });
  const removed = DEFINITION_ATTRIBUTES.filter((k) => !keys.includes(k)).map((k, i) => {
    names[`#r${i}`] = k;
    return `#r${i}`;
  });
  return {
    TableName: tableName,
    Key: { workflow_id: { S: String(raw.workflow_id) } },
    UpdateExpression: `SET ${sets.join(', ')}${removed.length ? ` REMOVE ${removed.join(', ')}` : ''}`,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
}

/**
 * What a definition's removal from the folder does: REMOVE its attributes, keeping the item's
 * active-run slots (the definition repository reads an item holding nothing but those as "no
 * definition").
 */
export function definitionRemoval(tableName: string, workflowId: string) {
  const names = Object.fromEntries(DEFINITION_ATTRIBUTES.map((k, i) => [`#r${i}`, k]));
  return {
    TableName: tableName,
    Key: { workflow_id: { S: workflowId } },
    UpdateExpression: `REMOVE ${Object.keys(names).join(', ')}`,
    ExpressionAttributeNames: names,
  };
}

/**
 * The UpdateItem that writes one trigger-index or calendar item (SET its one attribute; the key is
 * `workflow_id`): what the deploy's DependencyDeployment custom resources send, and what
 * `rsqlo definitions push --aws` puts in its transaction.
 */
export function dependencyItemUpdate(tableName: string, item: DependencyItem) {
  const [[name, value]] = Object.entries(item.attributes) as [[string, unknown]];
  return {
    TableName: tableName,
    Key: { workflow_id: { S: item.workflow_id } },
    UpdateExpression: 'SET #a = :v',
    ExpressionAttributeNames: { '#a': name },
    ExpressionAttributeValues: { ':v': toAttributeValue(value, `$.${name}`) } as Record<
      string,
      AttributeValue
    >,
  };
}

/** What a push reads before it writes: the config table as it is now. */
export interface StoredConfig {
  /** The stored definitions, as written (without the active-run slots). */
  definitions: Map<string, Record<string, unknown>>;
  /** The trigger index: upstream → the `dependents` of its `after:` item. */
  index: Map<string, string[]>;
  /** The names of the stored `calendar:` items. */
  calendars: Set<string>;
}

/**
 * Reads the whole config table (a consistent, paginated Scan: it holds one item per workflow plus
 * the index, calendars and trigger states, so it is small) and sorts its items into
 * {@link StoredConfig}. `trigger:` state items are the trigger service's, `pool:` and `hold:` items
 * (issue 14) the pools' and the workflow holds': all skipped, so a push never takes one for a
 * definition (to compare, or to delete as "no longer in the folder").
 */
export async function readStoredConfig(client: DynamoDBClient, tableName: string): Promise<StoredConfig> {
  const out: StoredConfig = { definitions: new Map(), index: new Map(), calendars: new Set() };
  let start: Record<string, import('@aws-sdk/client-dynamodb').AttributeValue> | undefined;
  do {
    const page = await retried('read the config table', () =>
      client.send(new ScanCommand({ TableName: tableName, ConsistentRead: true, ExclusiveStartKey: start })),
    );
    for (const raw of page.Items ?? []) {
      const item = unmarshall(raw) as Record<string, unknown>;
      const key = String(item.workflow_id);
      if (key.startsWith(AFTER_KEY_PREFIX)) {
        const d = item.dependents;
        out.index.set(
          key.slice(AFTER_KEY_PREFIX.length),
          Array.isArray(d) ? d.filter((x): x is string => typeof x === 'string') : [],
        );
      } else if (key.startsWith(CALENDAR_KEY_PREFIX))
        out.calendars.add(key.slice(CALENDAR_KEY_PREFIX.length));
      else if (
        !key.startsWith(TRIGGER_KEY_PREFIX) &&
        !key.startsWith(POOL_KEY_PREFIX) &&
        !key.startsWith(HOLD_KEY_PREFIX)
      ) {
        const { [ACTIVE_RUNS_ATTRIBUTE]: _slots, ...definition } = item;
        // An item holding only the active-run slots is "no definition" (definitionRemoval).
        if (Object.keys(definition).some((k) => k !== 'workflow_id')) out.definitions.set(key, definition);
      }
    }
    start = page.LastEvaluatedKey;
  } while (start);
  return out;
}

/** What `rsqlo definitions push` writes: definitions (as written, with where each came from) and calendars. */
export interface PushInput {
  definitions: ReadonlyArray<{ raw: Record<string, unknown>; source: string }>;
  calendars: ReadonlyArray<{ name: string; raw: Record<string, unknown> }>;
}

type Linked = Pick<WorkflowDefinition, 'workflow_id' | 'trigger' | 'calendar'>;
const linked = (raw: Record<string, unknown>): Linked => ({
  workflow_id: String(raw.workflow_id),
  trigger: raw.trigger as Linked['trigger'],
  calendar: raw.calendar as Linked['calendar'],
});
const afterOf = (raw: Record<string, unknown> | undefined): string[] =>
  raw ? (linked(raw).trigger?.after ?? []) : [];

/**
 * Why a push may not be written, checked against what the stack stores (each line names the
 * definition's source and the problem; empty when it may): a `trigger.after` naming a workflow
 * neither pushed nor stored, a `calendar` neither pushed nor stored, and every trigger cycle the
 * pushed definitions would make with the stored ones (the stored definitions as replaced by the
 * pushed ones). A cycle among stored definitions alone is not this push's doing and is not reported.
 */
export function pushProblems(input: PushInput, stored: StoredConfig, stack = 'the stack'): string[] {
  const pushed = new Map(input.definitions.map((d) => [String(d.raw.workflow_id), d]));
  const calendars = new Set([...stored.calendars, ...input.calendars.map((c) => c.name)]);
  const problems: string[] = [];
  for (const d of pushed.values()) {
    const l = linked(d.raw);
    afterOf(d.raw).forEach((up, i) => {
      if (!pushed.has(up) && !stored.definitions.has(up))
        problems.push(
          `${d.source}: invalid workflow definition\n  trigger.after[${i}]: names workflow "${up}", which is neither pushed nor stored in ${stack}`,
        );
    });
    if (l.calendar !== undefined && !calendars.has(l.calendar))
      problems.push(
        `${d.source}: invalid workflow definition\n  calendar: names calendar "${l.calendar}", which is neither pushed (calendars/${l.calendar}.json) nor stored in ${stack}`,
      );
  }
  const merged = new Map<string, Linked>();
  for (const [id, raw] of stored.definitions) merged.set(id, linked({ ...raw, workflow_id: id }));
  for (const [id, d] of pushed) merged.set(id, linked(d.raw));
  for (const c of triggerCycles([...merged.values()])) {
    const mine = c.filter((id) => pushed.has(id));
    if (mine.length === 0) continue;
    const d = pushed.get(mine[0] as string);
    problems.push(
      `${d?.source}: invalid workflow definition\n  trigger.after: dependency cycle ${formatCycle(c)} with the definitions stored in ${stack}: each would wait for the other`,
    );
  }
  return problems;
}

/**
 * The `after:` items a push changes: for every upstream a pushed definition names now or named
 * before (as stored), its stored dependents without the pushed workflows that no longer name it,
 * plus those that do. Unchanged items are left out; an empty list deletes the item (as a deploy
 * deletes an upstream nothing waits for any more).
 */
export function indexChanges(
  input: PushInput,
  stored: StoredConfig,
): Array<{ upstream: string; before: string[] | undefined; after: string[] }> {
  const pushed = new Map(input.definitions.map((d) => [String(d.raw.workflow_id), d.raw]));
  const upstreams = new Set<string>();
  for (const [id, raw] of pushed)
    for (const up of [...afterOf(raw), ...afterOf(stored.definitions.get(id))]) upstreams.add(up);
  const out: Array<{ upstream: string; before: string[] | undefined; after: string[] }> = [];
  for (const up of [...upstreams].sort()) {
    const before = stored.index.get(up);
    const next = new Set((before ?? []).filter((id) => !pushed.has(id)));
    for (const [id, raw] of pushed) if (afterOf(raw).includes(up)) next.add(id);
    const after = [...next].sort();
    if (before && after.length === before.length && after.every((x, i) => x === before[i])) continue;
    if (!before && after.length === 0) continue;
    out.push({ upstream: up, before, after });
  }
  return out;
}

/** A push needs more writes than one TransactWriteItems holds; nothing was written. */
export class PushTooLargeError extends Error {
  override name = 'PushTooLargeError';
}

/** The stored items changed between the push's read and its write; nothing was written. */
export class PushConflictError extends Error {
  override name = 'PushConflictError';
}

/**
 * The one TransactWriteItems of a push, in this order: each definition (the deploy's
 * {@link definitionUpdate}, on condition that its stored `trigger` is still the one read), each
 * changed `after:` item (the deploy's {@link dependencyItemUpdate}, or a Delete when nothing waits
 * any more, on condition that its `dependents` are still those read, or that there is still no
 * item), each calendar (dependencyItemUpdate). The conditions make a concurrent push or deploy
 * cancel this one instead of losing its index entries. More than MAX_TRANSACT_ITEMS (100) writes
 * are refused, not split: split, a failure half-way would leave definitions the index does not
 * know of, which is what the push exists to prevent.
 */
export function pushTransaction(
  tableName: string,
  input: PushInput,
  stored: StoredConfig,
): TransactWriteItem[] {
  const items: TransactWriteItem[] = [];
  for (const { raw } of input.definitions) {
    const update = definitionUpdate(tableName, raw);
    const before = stored.definitions.get(String(raw.workflow_id))?.trigger;
    items.push({
      Update: {
        ...update,
        ExpressionAttributeNames: { ...update.ExpressionAttributeNames, '#trg': 'trigger' },
        ...(before === undefined
          ? { ConditionExpression: 'attribute_not_exists(#trg)' }
          : {
              ConditionExpression: '#trg = :trg',
              ExpressionAttributeValues: {
                ...update.ExpressionAttributeValues,
                ':trg': toAttributeValue(before, '$.trigger'),
              },
            }),
      },
    });
  }
  for (const c of indexChanges(input, stored)) {
    const key = `${AFTER_KEY_PREFIX}${c.upstream}`;
    const guard = c.before
      ? { ConditionExpression: '#a = :before', ':before': toAttributeValue(c.before) }
      : { ConditionExpression: 'attribute_not_exists(workflow_id)' };
    if (c.after.length === 0)
      items.push({
        Delete: {
          TableName: tableName,
          Key: { workflow_id: { S: key } },
          ConditionExpression: guard.ConditionExpression,
          ExpressionAttributeNames: { '#a': 'dependents' },
          ExpressionAttributeValues: { ':before': toAttributeValue(c.before) },
        },
      });
    else {
      const update = dependencyItemUpdate(tableName, {
        workflow_id: key,
        attributes: { dependents: c.after },
      });
      items.push({
        Update: {
          ...update,
          ConditionExpression: guard.ConditionExpression,
          ...(c.before
            ? {
                ExpressionAttributeValues: {
                  ...update.ExpressionAttributeValues,
                  ':before': toAttributeValue(c.before),
                },
              }
            : {}),
        },
      });
    }
  }
  for (const c of input.calendars)
    items.push({
      Update: dependencyItemUpdate(tableName, {
        workflow_id: `${CALENDAR_KEY_PREFIX}${c.name}`,
        attributes: { calendar: c.raw },
      }),
    });
  if (items.length > MAX_TRANSACT_ITEMS) {
    const index = items.length - input.definitions.length - input.calendars.length;
    throw new PushTooLargeError(
      `this push needs ${items.length} writes (${input.definitions.length} definitions, ${index} trigger-index items, ${input.calendars.length} calendars) and DynamoDB writes at most ${MAX_TRANSACT_ITEMS} in one transaction; nothing was pushed: push the folder in smaller parts (a calendar or upstream a definition names must be pushed before it or with it)`,
    );
  }
  return items;
}

/**
 * Writes a push ({@link pushTransaction}) in one TransactWriteItems: the definitions, their trigger
 * index and the calendars are all stored, or none is. The token makes an SDK re-send of a
 * committed request a success, not a second write. A failed condition (the table changed since
 * `stored` was read) is a {@link PushConflictError}.
 */
export async function writePush(
  client: DynamoDBClient,
  tableName: string,
  input: PushInput,
  stored: StoredConfig,
): Promise<TransactWriteItem[]> {
  const items = pushTransaction(tableName, input, stored);
  if (items.length === 0) return items;
  const token = randomUUID();
  try {
    await retried('push definitions', () =>
      client.send(new TransactWriteItemsCommand({ TransactItems: items, ClientRequestToken: token })),
    );
  } catch (err) {
    if (cancellationReasons(err).includes('ConditionalCheckFailed'))
      throw new PushConflictError(
        'the stored definitions or trigger index changed while this push was checking them (another push or a deploy?); nothing was pushed: push again',
      );
    throw err;
  }
  return items;
}
