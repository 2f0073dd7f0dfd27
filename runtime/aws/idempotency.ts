/**
 * Powertools idempotency for the one Lambda entry with a side effect outside our own conditional
 * writes: the dispatcher's task handler, which sends an SSM command (not idempotent: a second
 * SendCommand runs the script twice). Only a retried Dispatch (`dispatch` > 0) uses it: the first
 * try's command is guarded by the job row (the host is claimed with a conditional write before the
 * send, and a repeat that finds it claimed sends nothing), while a retry re-sends the live token to
 * the claimed host with no write in front of it, so a repeated invocation with the same token goes
 * through this record. Every other handler's effects are conditional writes, idempotent names
 * (StartExecution) or events consumers dedupe by id, so they need none.
 *
 * The table (the CDK app creates it, named by RSQLO_IDEMPOTENCY_TABLE): partition key `id` (S), TTL
 * on `expiration`; Powertools writes, reads and expires its records.
 */
import { IdempotencyConfig } from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { KeyAttribute } from './tables.js';

/** The idempotency table's shape, for the CDK app and the tests. */
export const IDEMPOTENCY_TABLE: { partitionKey: KeyAttribute; ttlAttribute: string } = {
  partitionKey: { name: 'id', type: 'S' },
  ttlAttribute: 'expiration',
};

/**
 * How long a completed task invocation is remembered (1 h): repeats come within seconds or
 * minutes; later, the job row itself (instance recorded) stops a second command.
 */
export const TASK_IDEMPOTENCY_SECONDS = 3600;

/** Persistence and configuration keyed on the wrapper's task token (unique per dispatch attempt). */
export function createTaskIdempotency(deps: {
  tableName: string;
  client: DynamoDBClient;
  expiresAfterSeconds?: number;
}) {
  return {
    persistenceStore: new DynamoDBPersistenceLayer({
      tableName: deps.tableName,
      awsSdkV3Client: deps.client,
      keyAttr: IDEMPOTENCY_TABLE.partitionKey.name,
      expiryAttr: IDEMPOTENCY_TABLE.ttlAttribute,
    }),
    config: new IdempotencyConfig({
      eventKeyJmesPath: 'task_token',
      throwOnNoIdempotencyKey: true,
      expiresAfterSeconds: deps.expiresAfterSeconds ?? TASK_IDEMPOTENCY_SECONDS,
    }),
  };
}
