/**
 * The SLA check's once-per-run-and-kind guard on DynamoDB (services/sla/service.ts SlaMarks): a
 * conditional UpdateItem of the run's item in the workflow audit table that sets
 * `sla_missed_<kind>` only while the run exists, is Running and has no such mark. When the
 * condition fails, one strongly consistent, projected GetItem says why (marked and sent, marked but
 * not sent, ended, no run): that read happens only for a duplicate or late timer. `sent` sets
 * `sla_sent_<kind>` once the event went out, so a retry after a crash in between publishes it again
 * (same event id) and a duplicate after it does not.
 *
 * start_by (a scheduled firing whose run may not exist) has no run item to mark: the run the
 * firing asked for (its deterministic execution id) existing means it started, and a missing run
 * is marked by an item `sla-start_by#<execution id>` in the idempotency table (the same key and
 * TTL attributes as runtime/aws/idempotency.ts, under a prefix of its own so the watchdog's role
 * touches only those items: infra/permissions.ts), put only if absent, expiring after
 * START_BY_MARK_TTL_SECONDS (far beyond Scheduler's one-day retry window).
 */
import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { type SlaMarks, slaMarkAttribute, slaSentAttribute } from '../../services/sla/service.js';
import { isRetryableDynamoError } from './dynamo-operations.js';
import { IDEMPOTENCY_TABLE } from './idempotency.js';
import { type RetryOptions, withRetries } from './retry.js';

/** Prefix of the start_by mark items' keys in the idempotency table (Powertools' start with a function name). */
export const START_BY_MARK_PREFIX = 'sla-start_by#';

/** How long a start_by mark is kept (30 days): a line is checked within a day of its instant. */
export const START_BY_MARK_TTL_SECONDS = 30 * 86_400;

export interface DynamoSlaMarksDeps {
  client: DynamoDBDocumentClient;
  /** Physical name of the workflow audit table. */
  tableName: string;
  /** Physical name of the idempotency table (start_by marks). Without it, start_by lines throw. */
  marksTable?: string;
  retry?: RetryOptions;
}

export function createDynamoSlaMarks(deps: DynamoSlaMarksDeps): SlaMarks {
  const { client, tableName } = deps;
  const key = (exec: string) => ({ workflow_execution_id: exec });
  const send = <T>(what: string, fn: () => Promise<T>) =>
    withRetries(what, fn, isRetryableDynamoError, deps.retry);
  const MARK_KEY = IDEMPOTENCY_TABLE.partitionKey.name;
  const startKey = (exec: string) => ({ [MARK_KEY]: `${START_BY_MARK_PREFIX}${exec}` });
  const marksTable = () => {
    if (!deps.marksTable) throw new Error('start_by marks need the idempotency table (marksTable)');
    return deps.marksTable;
  };

  /** start_by: the firing's run exists (it started) or the run-less mark is claimed once. */
  async function claimStartBy(exec: string, at: string): Promise<'claimed' | 'unsent' | 'sent' | 'ended'> {
    const table = marksTable();
    const run = await send(`GetItem ${exec}`, () =>
      client.send(
        new GetCommand({
          TableName: tableName,
          Key: key(exec),
          ProjectionExpression: 'workflow_execution_id',
          ConsistentRead: true,
        }),
      ),
    );
    if (run.Item) return 'ended';
    const claimed = await send(`PutItem ${START_BY_MARK_PREFIX}${exec}`, async () => {
      try {
        await client.send(
          new PutCommand({
            TableName: table,
            Item: {
              ...startKey(exec),
              sla_missed_at: at,
              [IDEMPOTENCY_TABLE.ttlAttribute]: Math.floor(Date.parse(at) / 1000) + START_BY_MARK_TTL_SECONDS,
            },
            ConditionExpression: 'attribute_not_exists(#k)',
            ExpressionAttributeNames: { '#k': MARK_KEY },
          }),
        );
        return true;
      } catch (err) {
        if (err instanceof Error && err.name === 'ConditionalCheckFailedException') return false;
        throw err;
      }
    });
    if (claimed) return 'claimed';
    const out = await send(`GetItem ${START_BY_MARK_PREFIX}${exec}`, () =>
      client.send(new GetCommand({ TableName: table, Key: startKey(exec), ConsistentRead: true })),
    );
    return out.Item?.sla_sent === true ? 'sent' : 'unsent';
  }

  return {
    async claim(exec, kind, at) {
      if (kind === 'start_by') return claimStartBy(exec, at);
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
      if (kind === 'start_by') {
        await send(`UpdateItem ${START_BY_MARK_PREFIX}${exec}`, () =>
          client.send(
            new UpdateCommand({
              TableName: marksTable(),
              Key: startKey(exec),
              UpdateExpression: 'SET sla_sent = :yes',
              ConditionExpression: 'attribute_exists(#k)',
              ExpressionAttributeNames: { '#k': MARK_KEY },
              ExpressionAttributeValues: { ':yes': true },
            }),
          ),
        );
        return;
      }
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
