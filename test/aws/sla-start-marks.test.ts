/**
 * The start_by mark on DynamoDB Local (runtime/aws/dynamo-sla-marks.ts): a firing's run may not
 * exist, so its once-only mark is a `sla-start_by#<exec>` item of the idempotency table, put only
 * if absent. A run that exists met the line (`ended`); the first check of a missing run claims the
 * mark, a check after the event was recorded sent finds `sent`, and one after a crash between the
 * claim and the publish finds `unsent`, so the SLA service publishes the same event id again.
 */
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RsqloEvent } from '../../contracts/events.js';
import {
  createDynamoSlaMarks,
  START_BY_MARK_PREFIX,
  START_BY_MARK_TTL_SECONDS,
} from '../../runtime/aws/dynamo-sla-marks.js';
import type { SlaLine } from '../../services/sla/lines.js';
import { createSlaService } from '../../services/sla/service.js';
import {
  createTestTables,
  dynamoLocal,
  localClients,
  type TestTables,
  waitForDynamo,
} from '../support/dynamodb-local.js';

const ddb = dynamoLocal('test/aws/sla-start-marks.test.ts');
const AT = '2026-03-02T02:31:00.000Z';

describe.skipIf(!ddb.endpoint)('start_by marks on DynamoDB', () => {
  let clients: ReturnType<typeof localClients>;
  let tables: TestTables;
  const marks = () =>
    createDynamoSlaMarks({
      client: clients.documents,
      tableName: tables.workflowAudit,
      marksTable: tables.idempotency,
    });

  beforeAll(async () => {
    await waitForDynamo(ddb.endpoint as string);
    clients = localClients(ddb.endpoint as string);
    tables = await createTestTables(clients.dynamodb);
  }, 60_000);

  it('a missing run is claimed once; the mark item carries its TTL; sent after publishing', async () => {
    const m = marks();
    expect(await m.claim('wf-missing-1', 'start_by', AT)).toBe('claimed');
    expect(await m.claim('wf-missing-1', 'start_by', AT)).toBe('unsent');
    await m.sent('wf-missing-1', 'start_by');
    expect(await m.claim('wf-missing-1', 'start_by', AT)).toBe('sent');
    const item = await clients.documents.send(
      new GetCommand({ TableName: tables.idempotency, Key: { id: `${START_BY_MARK_PREFIX}wf-missing-1` } }),
    );
    expect(item.Item).toEqual({
      id: `${START_BY_MARK_PREFIX}wf-missing-1`,
      sla_missed_at: AT,
      sla_sent: true,
      expiration: Date.parse(AT) / 1000 + START_BY_MARK_TTL_SECONDS,
    });
  });

  it('a run that exists (in any state) met the line: ended, and no mark is written', async () => {
    await clients.documents.send(
      new PutCommand({
        TableName: tables.workflowAudit,
        Item: { workflow_execution_id: 'wf-started-1', workflow_id: 'wf', execution_status: 'Completed' },
      }),
    );
    expect(await marks().claim('wf-started-1', 'start_by', AT)).toBe('ended');
    const item = await clients.documents.send(
      new GetCommand({ TableName: tables.idempotency, Key: { id: `${START_BY_MARK_PREFIX}wf-started-1` } }),
    );
    expect(item.Item).toBeUndefined();
  });

  it('through the SLA check: a crash before "sent" republishes the same id once, then nothing', async () => {
    const published: RsqloEvent[] = [];
    const republished: RsqloEvent[] = [];
    const line: SlaLine = {
      workflow_id: 'wf',
      workflow_execution_id: 'wf-missing-2',
      kind: 'start_by',
      line_at: '2026-03-02T02:30:00Z',
      line: '02:30 UTC',
      started_at: null,
    };
    const log = { debug() {}, info() {}, warn() {}, error() {} };
    const clock = { now: () => new Date(AT) };
    // The first check dies between its mark and recording the event sent.
    const dying = createSlaService({
      marks: { ...marks(), sent: async () => Promise.reject(new Error('killed')) },
      events: { publish: async (e) => void published.push(...e), ensurePublished: async () => {} },
      clock,
      log,
    });
    await expect(dying.check(line)).rejects.toThrow('killed');
    const sla = createSlaService({
      marks: marks(),
      events: {
        publish: async (e) => void published.push(...e),
        ensurePublished: async (e) => void republished.push(...e),
      },
      clock,
      log,
    });
    // The retry finds the mark without "sent": the same event again (same id), then recorded sent.
    expect(await sla.check(line)).toMatchObject({
      outcome: 'missed',
      event_id: 'SlaMissed:wf-missing-2:start_by',
    });
    expect(published.map((e) => e.detail.event_id)).toEqual(['SlaMissed:wf-missing-2:start_by']);
    expect(republished.map((e) => e.detail.event_id)).toEqual(['SlaMissed:wf-missing-2:start_by']);
    // From now on, duplicates publish nothing.
    expect(await sla.check(line)).toMatchObject({ outcome: 'already' });
    expect(await sla.check(line)).toMatchObject({ outcome: 'already' });
    expect(published).toHaveLength(1);
    expect(republished).toHaveLength(1);
  });
});
