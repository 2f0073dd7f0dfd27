/**
 * The SLA check's once-per-run-and-kind guard on DynamoDB (services/sla/service.ts SlaMarks): a
 * conditional UpdateItem of the run's item in the workflow audit table that sets
 * `sla_missed_<kind>` only while the run exists, is Running and has no such mark. When the
 * condition fails, one strongly consistent, projected GetItem says why (marked and sent, marked but
 * not sent, ended, no run): that read happens only for a duplicate or late timer. `sent` sets
 * `sla_sent_<kind>` once the event went out, so a retry after a crash in between publishes it again
 * (same event id) and a duplicate after it does not.
 */
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { type SlaMarks, slaMarkAttribute, slaSentAttribute } from '../../services/sla/service.js';
import { isRetryableDynamoError } from './dynamo-operations.js';
import { type RetryOptions, withRetries } from './retry.js';

export interface DynamoSlaMarksDeps {
  client: DynamoDBDocumentClient;
  /** Physical name of the workflow audit table. */
  tableName: string;
  retry?: RetryOptions;
}

export function createDynamoSlaMarks(deps: DynamoSlaMarksDeps): SlaMarks {
  const { client, tableName } = deps;
  const key = (exec: string) => ({ workflow_execution_id: exec });
  const send = <T>(what: string, fn: () => Promise<T>) =>
    withRetries(what, fn, isRetryableDynamoError, deps.retry);
  return {
    async claim(exec, kind, at) {
      const mark = slaMarkAttribute(kind);
      const claimed = await send(`UpdateItem ${exec} ${mark}`, async () => {
        try {
          await client.send(
            new UpdateCommand({
              TableName: tableName,
              Key: key(exec),
              UpdateExpression: 'SET #m = :at',
              ConditionExpression:
                'attribute_exists(workflow_execution_id) AND #s = :running AND attribute_not_exists(#m)',
              ExpressionAttributeNames: { '#m': mark, '#s': 'execution_status' },
              ExpressionAttributeValues: { ':at': at, ':running': 'Running' },
            }),
          );
          return true;
        } catch (err) {
          if (err instanceof Error && err.name === 'ConditionalCheckFailedException') return false;
          throw err;
        }
      });
      if (claimed) return 'claimed';
      const out = await send(`GetItem ${exec}`, () =>
        client.send(
          new GetCommand({
            TableName: tableName,
            Key: key(exec),
            ProjectionExpression: '#s, #m, #t',
            ExpressionAttributeNames: { '#s': 'execution_status', '#m': mark, '#t': slaSentAttribute(kind) },
            ConsistentRead: true,
          }),
        ),
      );
      const item = out.Item;
      if (!item) return 'unknown';
      if (item[mark] !== undefined) return item[slaSentAttribute(kind)] !== undefined ? 'sent' : 'unsent';
      return 'ended';
    },
    async sent(exec, kind) {
      await send(`UpdateItem ${exec} ${slaSentAttribute(kind)}`, () =>
        client.send(
          new UpdateCommand({
            TableName: tableName,
            Key: key(exec),
            UpdateExpression: 'SET #t = :yes',
            ConditionExpression: 'attribute_exists(workflow_execution_id)',
            ExpressionAttributeNames: { '#t': slaSentAttribute(kind) },
            ExpressionAttributeValues: { ':yes': true },
          }),
        ),
      );
    },
  };
}
