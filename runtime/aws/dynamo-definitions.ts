/**
 * Workflow definitions in the config table (ARCHITECTURE.md §7): one item per workflow, keyed by
 * `workflow_id`, holding the definition exactly as written (the seed's item validates unchanged).
 * The item also carries the workflow's active-run slots (ACTIVE_RUNS_ATTRIBUTE), which the run
 * repository maintains and which are never part of the definition.
 */
import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { DefinitionRepository } from '../../services/ports.js';
import { ACTIVE_RUNS_ATTRIBUTE } from './dynamo-items.js';
import { retried } from './dynamo-operations.js';
import type { RetryOptions } from './retry.js';

export interface DynamoDefinitionRepositoryDeps {
  client: DynamoDBDocumentClient;
  /** Physical name of the config table. */
  tableName: string;
  retry?: RetryOptions;
}

/** DefinitionRepository plus the write the CLI and deployments use. */
export interface DynamoDefinitionRepository extends DefinitionRepository {
  /**
   * Stores (or replaces) a definition, keeping the workflow's active-run slots: a plain PutItem of
   * the definition would wipe them and let `max_active_runs` be exceeded by the runs in flight.
   */
  put(definition: { workflow_id: string } & Record<string, unknown>): Promise<void>;
}

/** Thrown when the slots kept changing under `put` (runs starting and ending) for every attempt. */
export class DefinitionWriteConflictError extends Error {
  override name = 'DefinitionWriteConflictError';
}

/**
 * Reads are strongly consistent (a definition put a moment ago is seen). `get` returns the stored
 * item without the slot attribute, or undefined when there is no item or it holds nothing but
 * slots (a definition deleted while runs were active).
 */
export function createDynamoDefinitionRepository(
  deps: DynamoDefinitionRepositoryDeps,
): DynamoDefinitionRepository {
  const { client, tableName, retry } = deps;

  async function read(workflowId: string): Promise<Record<string, unknown> | undefined> {
    const out = await retried(
      `read definition ${workflowId}`,
      () =>
        client.send(
          new GetCommand({ TableName: tableName, Key: { workflow_id: workflowId }, ConsistentRead: true }),
        ),
      retry,
    );
    return out.Item;
  }

  return {
    async get(workflowId) {
      // `pool:`, `hold:`, `after:`, `trigger:` and `calendar:` items share the table under keys
      // with a ":", which no workflow_id has: none of them is a definition.
      if (workflowId.includes(':')) return undefined;
      const item = await read(workflowId);
      if (!item) return undefined;
      const { [ACTIVE_RUNS_ATTRIBUTE]: _slots, ...definition } = item;
      if (Object.keys(definition).every((k) => k === 'workflow_id')) return undefined;
      return definition;
    },

    async put(definition) {
      for (let attempt = 1; attempt <= 10; attempt++) {
        const current = await read(definition.workflow_id);
        const slots = current?.[ACTIVE_RUNS_ATTRIBUTE] as Set<string> | undefined;
        const { [ACTIVE_RUNS_ATTRIBUTE]: _ignored, ...body } = definition;
        try {
          await retried(
            `write definition ${definition.workflow_id}`,
            () =>
              client.send(
                new PutCommand({
                  TableName: tableName,
                  Item: { ...body, ...(slots && slots.size > 0 ? { [ACTIVE_RUNS_ATTRIBUTE]: slots } : {}) },
                  // Only if the slots are still what was read (a run may start or end meanwhile).
                  ConditionExpression: slots
                    ? '#slots = :slots'
                    : 'attribute_not_exists(workflow_id) OR attribute_not_exists(#slots)',
                  ExpressionAttributeNames: { '#slots': ACTIVE_RUNS_ATTRIBUTE },
                  ...(slots ? { ExpressionAttributeValues: { ':slots': slots } } : {}),
                }),
              ),
            retry,
          );
          return;
        } catch (err) {
          if (!(err instanceof Error) || err.name !== 'ConditionalCheckFailedException') throw err;
        }
      }
      throw new DefinitionWriteConflictError(
        `definition ${definition.workflow_id}: its active runs kept changing; try again`,
      );
    },
  };
}
