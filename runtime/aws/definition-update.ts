/**
 * How a workflow definition is written to the config table, shared by the deploy-time custom
 * resource (infra/constructs/workflow-deployment.ts) and `rsqlo definitions push --aws`: an
 * UpdateItem that SETs the definition's attributes as written and REMOVEs those it no longer has,
 * leaving the item's active-run slots alone.
 */
import { randomUUID } from 'node:crypto';
import { type DynamoDBClient, TransactWriteItemsCommand } from '@aws-sdk/client-dynamodb';
import { WorkflowDefinition } from '../../contracts/workflow.js';
import { ACTIVE_RUNS_ATTRIBUTE } from './dynamo-items.js';
import { MAX_TRANSACT_ITEMS, retried } from './dynamo-operations.js';

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
 * Writes definitions as a deploy does (definitionUpdate), all in one TransactWriteItems: either
 * every definition is stored or none is (a failure leaves the table as it was). Up to
 * MAX_TRANSACT_ITEMS (100) definitions, TransactWriteItems' limit; more is refused before any write.
 * The token makes an SDK re-send of a committed request a success, not a second write.
 */
export async function writeDefinitions(
  client: DynamoDBClient,
  tableName: string,
  raws: readonly Record<string, unknown>[],
): Promise<void> {
  if (raws.length === 0) return;
  if (raws.length > MAX_TRANSACT_ITEMS)
    throw new Error(
      `${raws.length} definitions in one push; at most ${MAX_TRANSACT_ITEMS} are written together (push them in parts)`,
    );
  const updates = raws.map((raw) => ({ Update: definitionUpdate(tableName, raw) }));
  const token = randomUUID();
  await retried('write definitions', () =>
    client.send(new TransactWriteItemsCommand({ TransactItems: updates, ClientRequestToken: token })),
  );
}
