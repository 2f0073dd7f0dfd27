/**
 * The notifier's AlertDedupe on DynamoDB (services/notifier/service.ts): one item per alert in the
 * idempotency table (key `id` = `alert#<event_id>`, TTL on `expiration`, the same table and
 * attributes as runtime/aws/idempotency.ts, under a prefix Powertools never uses).
 *
 * - claim: a conditional PutItem that succeeds when there is no item, or when the item is a
 *   pending claim whose lease has passed (its holder died mid-publish); otherwise a consistent
 *   GetItem says whether the alert was sent or is being sent. The claim carries an owner (random,
 *   remembered by this container) so that only its holder can give it back.
 * - complete: the item becomes `sent` and expires after the retention period (whoever holds the
 *   claim by then: the alert went out).
 * - release: the pending item is deleted, only while it is still this holder's claim (a claim
 *   taken over after the lease passed is never deleted by the holder it was taken from).
 *
 * The notifier's role may touch only these items: its statements carry the condition
 * `dynamodb:LeadingKeys` = `alert#*` (infra/permissions.ts), so it can neither read nor remove the
 * dispatcher's idempotency records.
 */
import { randomUUID } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { AlertDedupe, ClaimResult } from '../../services/notifier/service.js';
import type { Clock } from '../../services/ports.js';
import { IDEMPOTENCY_TABLE } from './idempotency.js';

const KEY = IDEMPOTENCY_TABLE.partitionKey.name;
const TTL = IDEMPOTENCY_TABLE.ttlAttribute;

/** Prefix of the alert items' keys (Powertools' keys start with the function name). */
export const ALERT_KEY_PREFIX = 'alert#';

export function createDynamoAlertDedupe(deps: {
  client: DynamoDBDocumentClient;
  tableName: string;
  clock?: Clock;
}): AlertDedupe {
  const clock = deps.clock ?? { now: () => new Date() };
  const seconds = () => Math.floor(clock.now().getTime() / 1000);
  const id = (eventId: string) => `${ALERT_KEY_PREFIX}${eventId}`;
  /** This container's live claims: event id → owner. */
  const owners = new Map<string, string>();
  return {
    async claim(eventId: string, leaseSeconds: number): Promise<ClaimResult> {
      const now = seconds();
      const owner = randomUUID();
      try {
        await deps.client.send(
          new PutCommand({
            TableName: deps.tableName,
            Item: {
              [KEY]: id(eventId),
              alert_state: 'pending',
              owner,
              lease_until: now + leaseSeconds,
              [TTL]: now + leaseSeconds + 86_400,
            },
            ConditionExpression:
              'attribute_not_exists(#k) OR (alert_state = :pending AND lease_until < :now)',
            ExpressionAttributeNames: { '#k': KEY },
            ExpressionAttributeValues: { ':pending': 'pending', ':now': now },
          }),
        );
        owners.set(eventId, owner);
        return 'claimed';
      } catch (err) {
        if (!(err instanceof ConditionalCheckFailedException)) throw err;
      }
      const found = await deps.client.send(
        new GetCommand({ TableName: deps.tableName, Key: { [KEY]: id(eventId) }, ConsistentRead: true }),
      );
      return found.Item?.alert_state === 'sent' ? 'sent' : 'in-progress';
    },
    async complete(eventId: string, retentionSeconds: number): Promise<void> {
      owners.delete(eventId);
      await deps.client.send(
        new PutCommand({
          TableName: deps.tableName,
          Item: { [KEY]: id(eventId), alert_state: 'sent', [TTL]: seconds() + retentionSeconds },
        }),
      );
    },
    async release(eventId: string): Promise<void> {
      const owner = owners.get(eventId);
      owners.delete(eventId);
      if (!owner) return;
      try {
        await deps.client.send(
          new DeleteCommand({
            TableName: deps.tableName,
            Key: { [KEY]: id(eventId) },
            ConditionExpression: 'alert_state = :pending AND #owner = :owner',
            ExpressionAttributeNames: { '#owner': 'owner' },
            ExpressionAttributeValues: { ':pending': 'pending', ':owner': owner },
          }),
        );
      } catch (err) {
        if (!(err instanceof ConditionalCheckFailedException)) throw err;
      }
    },
  };
}
