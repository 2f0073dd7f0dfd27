/**
 * DynamoDB expression pieces the repositories share: the placeholder builder ({@link Expr}), the
 * consistent read of a run row, and the two halves of every conditional job-row update — the
 * SET/REMOVE clauses of a change and the conditions of what the writer expects the row to be. A
 * transition (dynamo-jobs.ts), the job half of a pool grant (dynamo-pools.ts) and an operator
 * action (dynamo-operator.ts) write job rows the same way, so they build them here.
 */
import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import type { WorkflowRunState } from '../../contracts/audit.js';
import type { JobTransition } from '../../services/ports.js';
import { JOB_SEQUENCE_ATTRIBUTE, runFromItem, SPARSE_JOB_ATTRIBUTES } from './dynamo-items.js';
import { retried } from './dynamo-operations.js';
import type { RetryOptions } from './retry.js';

/** ExpressionAttributeNames/Values builder: placeholders stay unique and readable. */
export class Expr {
  readonly names: Record<string, string> = {};
  readonly values: Record<string, unknown> = {};
  private n = 0;

  name(attr: string): string {
    const key = `#${attr.replace(/[^A-Za-z0-9_]/g, '_')}`;
    this.names[key] = attr;
    return key;
  }

  value(v: unknown): string {
    const key = `:v${this.n++}`;
    this.values[key] = v;
    return key;
  }

  /** `#stages[i].#field` */
  stage(index: number, field: string): string {
    return `${this.name('stages')}[${index}].${this.name(field)}`;
  }

  input(): {
    ExpressionAttributeNames: Record<string, string>;
    ExpressionAttributeValues?: Record<string, unknown>;
  } {
    return {
      ExpressionAttributeNames: this.names,
      ...(Object.keys(this.values).length > 0 ? { ExpressionAttributeValues: this.values } : {}),
    };
  }
}

/** A run row, read strongly consistent (every decision reads the run it conditions on). */
export async function readRun(
  client: DynamoDBDocumentClient,
  table: string,
  exec: string,
  retry: RetryOptions | undefined,
): Promise<WorkflowRunState | undefined> {
  const out = await retried(
    `read run ${exec}`,
    () =>
      client.send(
        new GetCommand({ TableName: table, Key: { workflow_execution_id: exec }, ConsistentRead: true }),
      ),
    retry,
  );
  return out.Item ? runFromItem(out.Item) : undefined;
}

/** The job attributes no change may set: the row's identity and its index keys. */
const IMMUTABLE_JOB_ATTRIBUTES = new Set([
  'workflow_execution_id',
  'job_key',
  'workflow_id',
  'stage',
  'job_no',
  JOB_SEQUENCE_ATTRIBUTE,
]);

/**
 * SET and REMOVE clauses of a job-row change: each defined attribute of `set` is SET, a null of
 * a sparse attribute is REMOVEd (DynamoDB refuses NULL-typed index keys). `what` names the writer
 * in the error thrown for an identity attribute ("a job transition cannot set stage").
 */
export function jobSetClauses(
  e: Expr,
  set: Record<string, unknown>,
  what: string,
): { sets: string[]; removes: string[] } {
  const sets: string[] = [];
  const removes: string[] = [];
  for (const [attr, value] of Object.entries(set)) {
    if (value === undefined) continue;
    if (IMMUTABLE_JOB_ATTRIBUTES.has(attr)) throw new Error(`${what} cannot set ${attr}`);
    if (value === null && (SPARSE_JOB_ATTRIBUTES as readonly string[]).includes(attr))
      removes.push(e.name(attr));
    else sets.push(`${e.name(attr)} = ${e.value(value)}`);
  }
  return { sets, removes };
}

/**
 * Conditions of a job row as the writer expects it: it exists, is at `attempt`, in one of
 * `statuses` (at least one: the caller decides what none means) and, when `instanceId` is given,
 * names that host (null: no host yet — the attribute is absent or NULL, as rows are written).
 */
export function jobExpectConditions(e: Expr, expect: JobTransition['expect']): string[] {
  const conditions = [
    'attribute_exists(job_key)',
    `${e.name('attempt')} = ${e.value(expect.attempt)}`,
    `${e.name('execution_status')} IN (${expect.statuses.map((s) => e.value(s)).join(', ')})`,
  ];
  if (expect.instanceId === null) {
    const i = e.name('instance_id');
    conditions.push(`(attribute_not_exists(${i}) OR attribute_type(${i}, ${e.value('NULL')}))`);
  } else if (expect.instanceId !== undefined) {
    conditions.push(`${e.name('instance_id')} = ${e.value(expect.instanceId)}`);
  }
  return conditions;
}

/** `SET … REMOVE …` of the clauses (either part may be empty, not both). */
export function updateExpression(sets: string[], removes: string[]): string {
  return [sets.length ? `SET ${sets.join(', ')}` : '', removes.length ? `REMOVE ${removes.join(', ')}` : '']
    .filter(Boolean)
    .join(' ');
}
