/**
 * The trigger service's state and index, and the deployed calendars, as items of the config table
 * (ARCHITECTURE.md §7), under key prefixes a workflow_id can never have (it allows only letters,
 * digits, "_", "." and "-"):
 *
 * - `after:<upstream>` → `dependents`: the workflows whose `trigger.after` names it. Written at
 *   deploy from the whole folder (infra/constructs/dependency-deployment.ts, {@link dependencyItems}),
 *   and kept true by `rsqlo definitions push --aws` for the definitions it pushes
 *   (definition-update.ts pushTransaction, in the same transaction as the definitions), so "who waits for wf_a" is one GetItem per WorkflowFinished, never a scan of the table. An
 *   entry the definition no longer backs is harmless: the service re-reads the downstream's
 *   definition and ignores it.
 * - `trigger:<downstream>` → `version` + `state`: what the downstream's trigger has collected;
 *   written with a PutItem conditional on the version read (or on there being no item), then its
 *   WorkflowRequested published (a crash in between is repaired by the redelivery: the service
 *   re-publishes the request the state records).
 * - `calendar:<name>` → `calendar`: a business calendar as written in calendars/<name>.json (by a
 *   deploy or a push), which the starter reads to refuse a scheduled request for a non-calendar day.
 *
 * Why the config table and not a table of their own: these items are configuration (the index,
 * the calendars) or as small and rare as the config table's active-run slots (one state item per
 * downstream workflow, written once per upstream run); a fourth table would add a resource, its
 * permissions and its tests for a few items.
 */
import { type DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { dependentsIndex } from '../../contracts/dependencies.js';
import type { WorkflowDefinition } from '../../contracts/workflow.js';
import type { CalendarRepository, TriggerRepository, TriggerState } from '../../services/ports.js';
import { retried } from './dynamo-operations.js';
import type { EffectsSink } from './effects.js';
import type { RetryOptions } from './retry.js';
import { RUNS_BY_WORKFLOW_INDEX } from './tables.js';

/** Key prefixes of the items above. */
export const AFTER_KEY_PREFIX = 'after:';
export const TRIGGER_KEY_PREFIX = 'trigger:';
export const CALENDAR_KEY_PREFIX = 'calendar:';

/** One config-table item the deployment writes besides the definitions. */
export interface DependencyItem {
  workflow_id: string;
  attributes: { dependents: string[] } | { calendar: Record<string, unknown> };
}

/**
 * The index and calendar items for a set of definitions and calendars (raw, as written), in key
 * order: what a deploy writes, and what the AWS-path tests put into DynamoDB Local.
 */
export function dependencyItems(
  definitions: readonly Pick<WorkflowDefinition, 'workflow_id' | 'trigger' | 'calendar'>[],
  calendars: ReadonlyArray<{ name: string; raw: Record<string, unknown> }>,
): DependencyItem[] {
  const out: DependencyItem[] = [];
  for (const [up, dependents] of dependentsIndex(definitions))
    out.push({ workflow_id: `${AFTER_KEY_PREFIX}${up}`, attributes: { dependents } });
  for (const c of calendars)
    out.push({ workflow_id: `${CALENDAR_KEY_PREFIX}${c.name}`, attributes: { calendar: c.raw } });
  return out.sort((a, b) => (a.workflow_id < b.workflow_id ? -1 : 1));
}

export interface DynamoTriggerDeps {
  client: DynamoDBDocumentClient;
  /** Physical name of the config table. */
  configTable: string;
  /** Physical name of the workflow audit table (a workflow's latest run start, on by_workflow). */
  workflowAuditTable: string;
  /** Where a due run's WorkflowRequested goes, after its state is written. */
  effects: EffectsSink;
  retry?: RetryOptions;
}

/** TriggerRepository over the config table (see the module comment). */
export function createDynamoTriggerRepository(deps: DynamoTriggerDeps): TriggerRepository {
  const { client, configTable, retry } = deps;
  const get = async (key: string) =>
    (
      await retried(
        `read ${key}`,
        () =>
          client.send(
            new GetCommand({ TableName: configTable, Key: { workflow_id: key }, ConsistentRead: true }),
          ),
        retry,
      )
    ).Item;

  return {
    async dependents(upstream) {
      const item = await get(`${AFTER_KEY_PREFIX}${upstream}`);
      const d = item?.dependents;
      return Array.isArray(d) ? d.filter((x): x is string => typeof x === 'string') : [];
    },

    async get(downstream) {
      const item = await get(`${TRIGGER_KEY_PREFIX}${downstream}`);
      return item
        ? ({
            ...(item.state as Omit<TriggerState, 'version'>),
            version: Number(item.version),
          } as TriggerState)
        : undefined;
    },

    async lastRunStart(downstream) {
      // The index is KEYS_ONLY and sorted by start time: its newest key holds the start.
      const out = await retried(
        `latest run of ${downstream}`,
        () =>
          client.send(
            new QueryCommand({
              TableName: deps.workflowAuditTable,
              IndexName: RUNS_BY_WORKFLOW_INDEX,
              KeyConditionExpression: 'workflow_id = :w',
              ExpressionAttributeValues: { ':w': downstream },
              ScanIndexForward: false,
              Limit: 1,
            }),
          ),
        retry,
      );
      const ts = out.Items?.[0]?.execution_start_ts;
      return typeof ts === 'string' ? ts : undefined;
    },

    async save(downstream, expected, next, effects) {
      const { version, ...state } = next;
      try {
        await retried(
          `write trigger state of ${downstream}`,
          () =>
            client.send(
              new PutCommand({
                TableName: configTable,
                Item: { workflow_id: `${TRIGGER_KEY_PREFIX}${downstream}`, version, state },
                ConditionExpression: expected === 0 ? 'attribute_not_exists(workflow_id)' : '#v = :v',
                ...(expected === 0
                  ? {}
                  : {
                      ExpressionAttributeNames: { '#v': 'version' },
                      ExpressionAttributeValues: { ':v': expected },
                    }),
              }),
            ),
          retry,
        );
      } catch (err) {
        if (err instanceof Error && err.name === 'ConditionalCheckFailedException') return false;
        throw err;
      }
      await deps.effects.apply(effects);
      return true;
    },
  };
}

/** CalendarRepository over the config table's `calendar:<name>` items (strongly consistent). */
export function createDynamoCalendarReader(deps: {
  client: DynamoDBDocumentClient;
  configTable: string;
  retry?: RetryOptions;
}): CalendarRepository {
  return {
    async get(name) {
      const out = await retried(
        `read calendar ${name}`,
        () =>
          deps.client.send(
            new GetCommand({
              TableName: deps.configTable,
              Key: { workflow_id: `${CALENDAR_KEY_PREFIX}${name}` },
              ConsistentRead: true,
            }),
          ),
        deps.retry,
      );
      return out.Item?.calendar;
    },
  };
}
