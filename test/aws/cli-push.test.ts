/**
 * `rsqlo definitions push --aws` keeps triggers and calendars true, on the AWS-path harness
 * (DynamoDB Local for the config table; the real starter and trigger Lambda entries behind the
 * routing table's rules): a pushed `trigger.after` fires, a trigger pushed away stops firing and
 * leaves the index, a pushed calendar is the one the starter uses, and a push that names an unknown
 * workflow or calendar or makes a cycle with the stored definitions is refused with nothing written.
 * The exact TransactWriteItems is asserted: all of a push is one transaction.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ScanCommand, TransactWriteItemsCommand } from '@aws-sdk/client-dynamodb';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { AwsCliDeps } from '../../cli/aws-stack.js';
import { PushConflictError, readStoredConfig, writePush } from '../../runtime/aws/definition-update.js';
import { deriveExecutionId } from '../../services/starter/execution-id.js';
import { dynamoLocal } from '../support/dynamodb-local.js';
import { stages, workspace } from '../support/workspace.js';
import { rsqloAws, stackDeps } from './cli-stack.js';
import { type AwsHarness, createAwsHarness } from './harness.js';

const ddb = dynamoLocal('test/aws/cli-push.test.ts');
type OperatorClients = ReturnType<NonNullable<AwsCliDeps['connect']>>;

const wf = (id: string, extra: Record<string, unknown> = {}) => ({
  workflow_id: id,
  workflow_stages: stages(['sequential', ['ok.sh']]),
  ...extra,
});

/** A folder to push: the definitions as `<id>.json`, `scripts/ok.sh`, and `calendars/<name>.json`. */
function folder(
  defs: Array<Record<string, unknown>>,
  calendars: Record<string, Record<string, unknown>> = {},
): string {
  const ws = workspace('rsqlo-cli-push-');
  ws.script('ok.sh', 'echo ok');
  for (const d of defs) writeFileSync(path.join(ws.dir, `${String(d.workflow_id)}.json`), JSON.stringify(d));
  if (Object.keys(calendars).length) mkdirSync(path.join(ws.dir, 'calendars'));
  for (const [name, raw] of Object.entries(calendars))
    writeFileSync(path.join(ws.dir, 'calendars', `${name}.json`), JSON.stringify(raw));
  return ws.dir;
}

describe.skipIf(!ddb.endpoint)('rsqlo definitions push --aws: trigger index and calendars', () => {
  let h: AwsHarness;
  let deps: ReturnType<typeof stackDeps>['deps'];
  let clients: OperatorClients;

  beforeAll(async () => {
    const ws = workspace('rsqlo-cli-push-agent-');
    ws.script('ok.sh', 'echo ok');
    h = await createAwsHarness({
      endpoint: ddb.endpoint as string,
      scriptRoot: ws.scripts,
      ssmMode: 'in-process',
    });
    ({ deps } = stackDeps(h, ddb.endpoint as string));
    clients = (deps.connect as () => OperatorClients)();
  }, 120_000);
  afterAll(async () => {
    await h?.dispose();
  });

  /** The config table's items, sorted by key (what a refused push must leave as it was). */
  const table = async () =>
    (
      await clients.dynamodb.send(new ScanCommand({ TableName: h.tableNames.config, ConsistentRead: true }))
    ).Items?.sort((a, b) => String(a.workflow_id?.S).localeCompare(String(b.workflow_id?.S)));
  const item = async (key: string) =>
    (
      await clients.documents.send(
        new GetCommand({ TableName: h.tableNames.config, Key: { workflow_id: key }, ConsistentRead: true }),
      )
    ).Item;
  /** Runs of `id` that started, by their WorkflowStarted events (each exec once). */
  const started = (id: string) => [
    ...new Set(
      h.bus
        .events('WorkflowStarted')
        .filter((e) => (e.detail as { workflow_id: string }).workflow_id === id)
        .map((e) => (e.detail as { workflow_execution_id: string }).workflow_execution_id),
    ),
  ];
  /** The TransactWriteItems requests the commands send while `fn` runs. */
  async function transactions<T>(fn: () => Promise<T>): Promise<{ result: T; requests: unknown[] }> {
    const send = vi.spyOn(clients.dynamodb, 'send');
    try {
      const result = await fn();
      const requests = send.mock.calls
        .map(([c]) => c)
        .filter((c) => c instanceof TransactWriteItemsCommand)
        .map((c) => (c as TransactWriteItemsCommand).input);
      return { result, requests };
    } finally {
      send.mockRestore();
    }
  }

  it('push a, then b (after a): the index names b, in one exact transaction; run a --aws starts b once; b pushed without the trigger leaves the index and a starts nothing', async () => {
    expect(await rsqloAws(deps, 'definitions', ['push', folder([wf('push_a')]), '--aws'])).toMatchObject({
      code: 0,
      stderr: '',
    });
    const dirB = folder([wf('push_b', { trigger: { after: ['push_a'], within_hours: 6 } })]);
    const { result: pushed, requests } = await transactions(() =>
      rsqloAws(deps, 'definitions', ['push', dirB, '--aws']),
    );
    expect(pushed).toMatchObject({ code: 0, stderr: '' });
    expect(pushed.stdout).toBe(
      `pushed push_b (${path.join(dirB, 'push_b.json')}) to stack rsqlo\ntrigger index: push_a starts push_b\n`,
    );
    // One request: the definition (the deploy's UpdateItem, on condition that its trigger is still
    // the one read: none) and the new index item (on condition that there is still none).
    expect(requests).toHaveLength(1);
    const [request] = requests as Array<{ TransactItems: Array<Record<string, Record<string, unknown>>> }>;
    expect(request?.TransactItems).toHaveLength(2);
    expect(request?.TransactItems[0]?.Update).toMatchObject({
      TableName: h.tableNames.config,
      Key: { workflow_id: { S: 'push_b' } },
      ConditionExpression: 'attribute_not_exists(#trg)',
      ExpressionAttributeNames: expect.objectContaining({ '#trg': 'trigger' }),
    });
    expect(request?.TransactItems[1]).toEqual({
      Update: {
        TableName: h.tableNames.config,
        Key: { workflow_id: { S: 'after:push_a' } },
        UpdateExpression: 'SET #a = :v',
        ConditionExpression: 'attribute_not_exists(workflow_id)',
        ExpressionAttributeNames: { '#a': 'dependents' },
        ExpressionAttributeValues: { ':v': { L: [{ S: 'push_b' }] } },
      },
    });
    expect(await item('after:push_a')).toEqual({ workflow_id: 'after:push_a', dependents: ['push_b'] });

    // list shows the trigger; the index item is not listed as a definition.
    const listed = await rsqloAws(deps, 'definitions', ['list', '--aws']);
    expect(listed.stdout).toBe(
      `${'push_a'.padEnd(32)}   1 stages\n${'push_b'.padEnd(32)}   1 stages  after push_a within 6 h\n`,
    );

    const run = await rsqloAws(deps, 'run', ['push_a', '--aws', '--execution-id', 'push-a-1']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const [b] = await h.until(async () => {
      const s = started('push_b');
      return s.length > 0 && s;
    }, 'push_b to start after push_a');
    expect((await h.finished(b as string)).run.execution_status).toBe('Completed');
    await h.settle();
    expect(started('push_b')).toEqual([b]);

    // b again, without its trigger: the index item goes (a Delete, on condition it still holds b).
    const plain = await transactions(() =>
      rsqloAws(deps, 'definitions', ['push', folder([wf('push_b')]), '--aws']),
    );
    expect(plain.result).toMatchObject({ code: 0, stderr: '' });
    expect(plain.result.stdout).toMatch(/\ntrigger index: push_a starts nothing\n$/);
    const [again] = plain.requests as Array<{
      TransactItems: Array<Record<string, Record<string, unknown>>>;
    }>;
    expect(again?.TransactItems[0]?.Update).toMatchObject({
      ConditionExpression: '#trg = :trg',
      ExpressionAttributeValues: expect.objectContaining({
        ':trg': { M: { after: { L: [{ S: 'push_a' }] }, within_hours: { N: '6' } } },
      }),
    });
    expect(again?.TransactItems[1]).toEqual({
      Delete: {
        TableName: h.tableNames.config,
        Key: { workflow_id: { S: 'after:push_a' } },
        ConditionExpression: '#a = :before',
        ExpressionAttributeNames: { '#a': 'dependents' },
        ExpressionAttributeValues: { ':before': { L: [{ S: 'push_b' }] } },
      },
    });
    expect(await item('after:push_a')).toBeUndefined();
    const triggerCalls = h.fn('trigger').invocations;
    expect(await rsqloAws(deps, 'run', ['push_a', '--aws', '--execution-id', 'push-a-2'])).toMatchObject({
      code: 0,
    });
    await h.settle();
    expect(h.fn('trigger').invocations).toBeGreaterThan(triggerCalls); // it heard a finish…
    expect(started('push_b')).toEqual([b]); // …and started nothing
    expect(await h.problems()).toEqual([]);
  }, 240_000);

  it('push with a calendar: the calendar item is written in the same transaction and the starter uses it; a re-pushed calendar replaces it', async () => {
    const def = wf('push_cal', {
      schedule: { expression: 'cron(0 6 ? * MON-FRI *)', timezone: 'Europe/Berlin' },
      calendar: 'push_business',
    });
    const calendar = { weekdays: ['mon', 'tue', 'wed', 'thu', 'fri'], exclude: ['2026-12-25'] };
    const dir = folder([def], { push_business: calendar });
    const { result, requests } = await transactions(() =>
      rsqloAws(deps, 'definitions', ['push', dir, '--aws']),
    );
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(/\npushed calendar push_business to stack rsqlo\n$/);
    const [request] = requests as Array<{ TransactItems: Array<Record<string, unknown>> }>;
    expect(request?.TransactItems[1]).toEqual({
      Update: {
        TableName: h.tableNames.config,
        Key: { workflow_id: { S: 'calendar:push_business' } },
        UpdateExpression: 'SET #a = :v',
        ExpressionAttributeNames: { '#a': 'calendar' },
        ExpressionAttributeValues: {
          ':v': {
            M: {
              weekdays: { L: ['mon', 'tue', 'wed', 'thu', 'fri'].map((S) => ({ S })) },
              exclude: { L: [{ S: '2026-12-25' }] },
            },
          },
        },
      },
    });
    expect((await rsqloAws(deps, 'definitions', ['list', '--aws'])).stdout.split('\n')).toContain(
      `${'push_cal'.padEnd(32)}   1 stages  calendar push_business`,
    );

    // What the Scheduler target puts on the bus (workflow-deployment.ts scheduledRequestDetail).
    const fire = (iso: string) => {
      h.request({ workflow_id: 'push_cal', scheduled_time: iso, requested_by: 'schedule:rsqlo/push_cal' });
      return deriveExecutionId('push_cal', `schedule:${iso}`, new Date(iso));
    };
    const alerts = h.sns.published.length;
    const holiday = fire('2026-12-25T05:00:00Z'); // 06:00 in Berlin on Christmas Day, a Friday
    await h.settle();
    expect(await h.run(holiday)).toBeUndefined();
    expect(h.sns.published.length).toBe(alerts); // skipped, not refused (a missing calendar alerts)
    const monday = fire('2026-12-28T05:00:00Z');
    expect((await h.finished(monday)).run.execution_status).toBe('Completed');

    // The calendar pushed again, now excluding 2026-12-29: the starter reads the new one.
    const again = folder([def], { push_business: { ...calendar, exclude: ['2026-12-25', '2026-12-29'] } });
    expect(await rsqloAws(deps, 'definitions', ['push', again, '--aws'])).toMatchObject({ code: 0 });
    const tuesday = fire('2026-12-29T05:00:00Z');
    await h.settle();
    expect(await h.run(tuesday)).toBeUndefined();
    expect(h.sns.published.length).toBe(alerts);
    expect(await h.problems()).toEqual([]);
  }, 240_000);

  it('refused before anything is written: a cycle with the stored definitions, an unknown upstream, an unknown calendar', async () => {
    const stored = folder([wf('cyc_a'), wf('cyc_b', { trigger: { after: ['cyc_a'] } })], {
      cyc_cal: { weekdays: ['mon'] },
    });
    expect(await rsqloAws(deps, 'definitions', ['push', stored, '--aws'])).toMatchObject({ code: 0 });
    const before = await table();

    const cycle = folder([wf('cyc_a', { trigger: { after: ['cyc_b'] } })]);
    const refused = await transactions(() => rsqloAws(deps, 'definitions', ['push', cycle, '--aws']));
    expect(refused.result).toEqual({
      code: 2,
      stdout: '',
      stderr: `${path.join(cycle, 'cyc_a.json')}: invalid workflow definition\n  trigger.after: dependency cycle cyc_a → cyc_b → cyc_a with the definitions stored in stack rsqlo: each would wait for the other\nnothing was pushed\n`,
    });
    expect(refused.requests).toEqual([]);

    const unknown = folder(
      [wf('cyc_c', { trigger: { after: ['cyc_a', 'nowhere'] }, calendar: 'no_such_calendar' })],
      { other_calendar: { weekdays: ['mon'] } },
    );
    const r2 = await rsqloAws(deps, 'definitions', ['push', unknown, '--aws']);
    expect(r2).toEqual({
      code: 2,
      stdout: '',
      stderr: [
        `${path.join(unknown, 'cyc_c.json')}: invalid workflow definition`,
        '  trigger.after[1]: names workflow "nowhere", which is neither pushed nor stored in stack rsqlo',
        `${path.join(unknown, 'cyc_c.json')}: invalid workflow definition`,
        '  calendar: names calendar "no_such_calendar", which is neither pushed (calendars/no_such_calendar.json) nor stored in stack rsqlo',
        'nothing was pushed',
        '',
      ].join('\n'),
    });
    expect(await table()).toEqual(before);

    // An upstream and a calendar already stored are enough: no need to push them again.
    const ok = folder([wf('cyc_d', { trigger: { after: ['cyc_b'] }, calendar: 'cyc_cal' })]);
    expect(await rsqloAws(deps, 'definitions', ['push', ok, '--aws'])).toMatchObject({ code: 0, stderr: '' });
    expect(await item('after:cyc_b')).toEqual({ workflow_id: 'after:cyc_b', dependents: ['cyc_d'] });
  }, 120_000);

  it('two pushes racing on one upstream: the later writer is cancelled whole, and the index keeps both', async () => {
    expect(await rsqloAws(deps, 'definitions', ['push', folder([wf('race_up')]), '--aws'])).toMatchObject({
      code: 0,
    });
    const config = h.tableNames.config;
    const first = {
      definitions: [{ raw: wf('race_x', { trigger: { after: ['race_up'] } }), source: 'x' }],
      calendars: [],
    };
    const second = {
      definitions: [{ raw: wf('race_y', { trigger: { after: ['race_up'] } }), source: 'y' }],
      calendars: [],
    };
    // Both read the table before either writes (no after:race_up item yet).
    const seenByFirst = await readStoredConfig(clients.dynamodb, config);
    const seenBySecond = await readStoredConfig(clients.dynamodb, config);
    await writePush(clients.dynamodb, config, first, seenByFirst);
    const before = await table();
    await expect(writePush(clients.dynamodb, config, second, seenBySecond)).rejects.toThrow(
      PushConflictError,
    );
    expect(await table()).toEqual(before); // race_y not written either
    // Pushed again, it reads the new index and keeps race_x.
    await writePush(clients.dynamodb, config, second, await readStoredConfig(clients.dynamodb, config));
    expect(await item('after:race_up')).toEqual({
      workflow_id: 'after:race_up',
      dependents: ['race_x', 'race_y'],
    });
  }, 120_000);
});
