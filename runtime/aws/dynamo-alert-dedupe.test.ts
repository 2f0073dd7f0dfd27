import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNotifierService } from '../../services/notifier/service.js';
import {
  createTestTables,
  dynamoLocal,
  localClients,
  waitForDynamo,
} from '../../test/support/dynamodb-local.js';
import { ALERT_KEY_PREFIX, createDynamoAlertDedupe } from './dynamo-alert-dedupe.js';

const ddb = dynamoLocal('runtime/aws/dynamo-alert-dedupe.test.ts');

describe.skipIf(!ddb.endpoint)('alert dedupe on DynamoDB Local', () => {
  let clients: ReturnType<typeof localClients>;
  let table: string;
  let now = Date.parse('2024-05-01T00:00:00Z');
  const clock = { now: () => new Date(now) };

  beforeAll(async () => {
    await waitForDynamo(ddb.endpoint as string);
    clients = localClients(ddb.endpoint as string);
    table = (await createTestTables(clients.dynamodb)).idempotency;
  });
  afterAll(() => clients?.dynamodb.destroy());

  const dedupe = () => createDynamoAlertDedupe({ client: clients.documents, tableName: table, clock });

  it('ten concurrent deliveries of one event: exactly one publishes', async () => {
    const published: string[] = [];
    const service = createNotifierService({
      dedupe: dedupe(),
      context: { workflowAuditTable: 'w', jobAuditTable: 'j', jobLogGroup: 'l' },
      publisher: {
        publish: async (a) => {
          await new Promise((r) => setTimeout(r, 20));
          published.push(a.subject);
        },
      },
    });
    const event = {
      'detail-type': 'JobFinished',
      detail: { event_id: 'JobFinished:r9:1.1:a1', workflow_id: 'wf', job_name: 'a.sh', status: 'Failed' },
    };
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => service.notify(structuredClone(event))),
    );
    expect(results.filter((r) => r.status === 'fulfilled' && r.value === 'published')).toHaveLength(1);
    // The others were told to retry (in progress) or found it sent; a retry now finds it sent.
    expect(await service.notify(event)).toBe('duplicate');
    expect(published).toHaveLength(1);
  });

  it('a lease that has passed is taken over; a live one is not; release gives a claim back', async () => {
    const d = dedupe();
    expect(await d.claim('e1', 300)).toBe('claimed');
    expect(await d.claim('e1', 300)).toBe('in-progress');
    now += 301_000;
    expect(await d.claim('e1', 300)).toBe('claimed');
    await d.release('e1');
    expect(await d.claim('e1', 300)).toBe('claimed');
    await d.complete('e1', 86_400);
    await d.release('e1'); // a sent alert is never given back
    expect(await d.claim('e1', 300)).toBe('sent');
    const item = await clients.documents.send(
      new (await import('@aws-sdk/lib-dynamodb')).GetCommand({ TableName: table, Key: { id: 'alert#e1' } }),
    );
    expect(item.Item).toMatchObject({ alert_state: 'sent', expiration: Math.floor(now / 1000) + 86_400 });
  });

  it('a holder whose claim was taken over cannot give it back (only its own claim)', async () => {
    const [a, b, c] = [dedupe(), dedupe(), dedupe()]; // three containers
    expect(await a.claim('e2', 45)).toBe('claimed');
    now += 46_000; // a's lease passed (it is presumed dead) …
    expect(await b.claim('e2', 45)).toBe('claimed');
    await a.release('e2'); // … but it was only slow, and its publish failed
    expect(await c.claim('e2', 45)).toBe('in-progress'); // b still holds it
    await b.complete('e2', 86_400);
    expect(await c.claim('e2', 45)).toBe('sent');
  });

  it('keys its items alert#<event_id>, apart from the idempotency records', async () => {
    const d = dedupe();
    await d.claim('JobFinished:r1:1.1:a1', 45);
    const { GetCommand } = await import('@aws-sdk/lib-dynamodb');
    const item = await clients.documents.send(
      new GetCommand({ TableName: table, Key: { id: `${ALERT_KEY_PREFIX}JobFinished:r1:1.1:a1` } }),
    );
    expect(item.Item).toMatchObject({
      alert_state: 'pending',
      lease_until: Math.floor(now / 1000) + 45,
      expiration: Math.floor(now / 1000) + 45 + 86_400,
    });
    expect(ALERT_KEY_PREFIX).toBe('alert#');
  });
});
