/**
 * Powertools idempotency for the one Lambda entry with a side effect outside our own conditional
 * writes: the dispatcher's task handler, which sends an SSM command (not idempotent: a second
 * SendCommand runs the script twice). The dispatcher service already refuses a second command once
 * the job row records the instance; this closes the window between the send and that record, for
 * a repeated invocation with the same task token (Step Functions retrying a Lambda error after the
 * function ran). Every other handler's effects are conditional writes, idempotent names
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
