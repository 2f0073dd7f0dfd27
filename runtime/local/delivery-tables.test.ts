import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { EVENT_VERSION, type RsqloEvent } from '../../contracts/events.js';
import type { EventEnvelope } from '../../events/envelope.js';
import { DeliveryTables, type FreshRow } from './delivery-tables.js';

/** The delivery tables on their own, over a real SQLite file, with a clock the test moves. */
let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function open() {
  dir = mkdtempSync(path.join(tmpdir(), 'rsqlo-delivery-'));
  const clock = { t: 1_000_000 };
  const file = path.join(dir, 'rsqlo.db');
  const tables = new DeliveryTables(file, { now: () => clock.t });
  return { tables, clock, file };
}

const cancel: RsqloEvent = {
  detailType: 'WorkflowCancelRequested',
  detail: { version: EVENT_VERSION, workflow_id: 'wf', workflow_execution_id: 'wf-1' },
};
const finished = {
  detailType: 'WorkflowFinished',
  detail: { version: EVENT_VERSION, workflow_id: 'wf', workflow_execution_id: 'wf-1', status: 'Succeeded' },
} as unknown as RsqloEvent;

describe('DeliveryTables', () => {
  it('holdTriggers: trigger rows of a workflow someone waits for stay pending, uncounted, never blocking others', () => {
    const { tables, clock } = open();
    const done = (wf: string, n: number) =>
      ({
        detailType: 'WorkflowFinished',
        detail: { ...finished.detail, workflow_id: wf, workflow_execution_id: `${wf}-${n}` },
      }) as unknown as RsqloEvent;
    tables.tx(() => {
      tables.db.prepare("INSERT INTO trigger_after (upstream, downstream) VALUES ('up', 'down')").run();
      // More held rows than a pass takes (64): they must not starve the rows behind them.
      for (let i = 0; i < 70; i++) tables.publish([done('up', i)]);
      tables.publish([done('alone', 1), cancel]);
    });
    tables.holdTriggers = true;
    const ready = tables.readyOutbox(64);
    expect(ready.map((r) => [r.target, JSON.parse(r.payload).detail.workflow_id])).toEqual([
      ['trigger', 'alone'],
      ['starter', 'wf'],
    ]);
    expect(tables.outboxSize()).toBe(2);
    expect(
      tables.isHeld({ target: 'trigger', payload: JSON.stringify({ detail: { workflow_id: 'up' } }) }),
    ).toBe(true);
    expect(
      tables.isHeld({ target: 'trigger', payload: JSON.stringify({ detail: { workflow_id: 'alone' } }) }),
    ).toBe(false);
    tables.tx(() => {
      for (const r of ready) tables.deleteOutbox(r.id);
    });
    // Nothing left to do for this process: not due, not counted, nothing to wait for.
    tables.refreshDue('outbox');
    expect(tables.due.outbox).toBe(Number.POSITIVE_INFINITY);
    expect(tables.outboxSize()).toBe(0);
    // Released (rsqlo serve): all 70 are there to deliver.
    tables.holdTriggers = false;
    expect(tables.outboxSize()).toBe(70);
    tables.refreshDue('outbox');
    expect(tables.due.outbox).toBe(clock.t);
  });

  it('publishes one outbox row per routed service, and observers hear every event only once committed', () => {
    const { tables, clock } = open();
    const heard: string[] = [];
    tables.onCommittedEvent((e: EventEnvelope) => heard.push(e['detail-type']));
    const fresh: FreshRow[] = [];
    tables.tx(() => {
      tables.fresh = fresh;
      tables.publish([cancel, finished]);
      expect(heard).toEqual([]);
    });
    tables.fresh = undefined;
    // WorkflowCancelRequested goes to the starter, WorkflowFinished to the trigger.
    expect(heard).toEqual(['WorkflowCancelRequested', 'WorkflowFinished']);
    const rows = tables.readyOutbox(10);
    expect(rows.map((r) => r.target)).toEqual(['starter', 'trigger']);
    expect(JSON.parse(rows[0]?.payload ?? '{}')).toMatchObject({
      'detail-type': 'WorkflowCancelRequested',
      source: 'rsqlo',
      time: new Date(clock.t).toISOString(),
      detail: { workflow_execution_id: 'wf-1' },
    });
    // The rows the unit wrote, handed on for delivery in the same transaction.
    expect(fresh).toEqual(
      rows.map((r) => ({
        kind: 'outbox',
        row: { id: r.id, target: r.target, payload: r.payload, available_at: clock.t, attempts: 0, copy: 0 },
      })),
    );
    tables.close();
  });

  it('collects only rows due at once as fresh, and keeps delayed ones until their time', () => {
    const { tables, clock } = open();
    const fresh: FreshRow[] = [];
    tables.tx(() => {
      tables.fresh = fresh;
      tables.enqueueOutbox('planner', '{"now":1}');
      tables.enqueueOutbox('planner', '{"later":1}', clock.t + 5000);
      tables.sendQueue('{"m":1}', clock.t);
      tables.sendQueue('{"m":2}', clock.t + 2000);
    });
    tables.fresh = undefined;
    expect(fresh.map((f) => (f.kind === 'outbox' ? f.row.payload : f.row.body))).toEqual([
      '{"now":1}',
      '{"m":1}',
    ]);
    expect(tables.readyOutbox(10).map((r) => r.payload)).toEqual(['{"now":1}']);
    expect(tables.visibleQueue(10).map((r) => r.body)).toEqual(['{"m":1}']);
    clock.t += 5000;
    expect(tables.readyOutbox(10).map((r) => r.payload)).toEqual(['{"now":1}', '{"later":1}']);
    expect(tables.visibleQueue(10).map((r) => r.body)).toEqual(['{"m":1}', '{"m":2}']);
    tables.close();
  });

  it('keeps due hints that are never later than the truth, and refreshes them from the file', () => {
    const { tables, clock, file } = open();
    const t0 = clock.t;
    // Opened: nothing known yet, so everything is looked at.
    expect(tables.nextDue()).toBe(0);
    for (const kind of ['outbox', 'queue', 'timer'] as const) tables.refreshDue(kind);
    expect(tables.nextDue()).toBe(Number.POSITIVE_INFINITY);
    tables.tx(() => {
      tables.setTimer('timeout:a', t0 + 3000, { name: 'a' });
      tables.setTimer('timeout:b', t0 + 1000, { name: 'b' });
      tables.enqueueOutbox('planner', '{}', t0 + 2000);
    });
    expect(tables.due).toEqual({ outbox: t0 + 2000, queue: Number.POSITIVE_INFINITY, timer: t0 + 1000 });
    // The engine took everything due at t0+1000: the next timer hint is the next one written.
    clock.t = t0 + 1000;
    tables.due.timer = Number.POSITIVE_INFINITY;
    tables.drained('timer', clock.t);
    expect(tables.due.timer).toBe(t0 + 3000);
    expect(tables.dueTimers(10).map((t) => t.key)).toEqual(['timeout:b']);
    // Setting a timer again replaces it (one row per key).
    tables.tx(() => tables.setTimer('timeout:a', t0 + 500, { name: 'a2' }));
    expect(tables.dueTimers(10).map((t) => [t.key, JSON.parse(t.payload).name])).toEqual([
      ['timeout:a', 'a2'],
      ['timeout:b', 'b'],
    ]);
    // Another process's write is not in the hints until they are refreshed from the file.
    const other = new Database(file);
    other.prepare('INSERT INTO queue (body, visible_at) VALUES (?, ?)').run('{"kill":1}', t0);
    other.close();
    expect(tables.due.queue).toBe(Number.POSITIVE_INFINITY);
    tables.refreshDue('queue');
    expect(tables.due.queue).toBe(t0);
    tables.resetDue();
    expect(tables.nextDue()).toBe(0);
    tables.close();
  });

  it('counts failed receives, hides a message until its time, and shows every message again after a crash', () => {
    const { tables, clock } = open();
    tables.tx(() => tables.sendQueue('{"m":1}', clock.t));
    const [row] = tables.visibleQueue(10);
    if (!row) throw new Error('no message');
    tables.tx(() => tables.failQueue(row.id, clock.t + 60_000));
    expect(tables.visibleQueue(10)).toEqual([]);
    tables.tx(() => tables.showAllQueue());
    expect(tables.visibleQueue(10)).toEqual([{ ...row, receives: 1, visible_at: clock.t }]);
    tables.tx(() => tables.deleteQueue(row.id));
    expect(tables.queueSize()).toBe(0);
    tables.close();
  });

  it('keeps dead letters newest first, and retries an outbox row later with its error', () => {
    const { tables, clock } = open();
    tables.tx(() => tables.enqueueOutbox('planner', '{}'));
    const [row] = tables.readyOutbox(10);
    if (!row) throw new Error('no row');
    tables.tx(() => tables.retryOutbox(row.id, clock.t + 100, 'Error: once'));
    expect(tables.readyOutbox(10)).toEqual([]);
    clock.t += 100;
    expect(tables.readyOutbox(10)).toMatchObject([{ id: row.id, attempts: 1, last_error: 'Error: once' }]);
    tables.tx(() => {
      tables.deadLetter('planner', '{"a":1}', 'first');
      tables.deadLetter('queue', '{"b":2}', 'second');
    });
    expect(tables.deadLetterCount()).toBe(2);
    expect(tables.deadLetters(1)).toMatchObject([{ source: 'queue', error: 'second' }]);
    tables.close();
  });
});
