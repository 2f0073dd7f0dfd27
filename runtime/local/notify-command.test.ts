/**
 * The notify command on its own (its serve wiring is test/e2e/sla-notify.test.ts): the event JSON
 * on stdin, once per event id; a failing or hanging command is logged and dropped, never retried,
 * and never holds up the alerts behind it beyond its slot; the concurrency and queue bounds hold.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WorkflowFinished } from '../../contracts/events.js';
import { EVENT_EXAMPLES } from '../../contracts/examples.js';
import { toEnvelope } from '../../events/envelope.js';
import { AlertNotifier } from './notify-command.js';

const failed = (exec: string) =>
  toEnvelope(
    {
      detailType: 'WorkflowFinished',
      detail: WorkflowFinished.parse({
        ...EVENT_EXAMPLES.WorkflowFinished,
        workflow_execution_id: exec,
        event_id: `WorkflowFinished:${exec}`,
      }),
    },
    { id: `env-${exec}` },
  );

describe('AlertNotifier (--notify-command)', () => {
  let dir = '';
  const notifiers: AlertNotifier[] = [];
  afterEach(() => {
    for (const n of notifiers.splice(0)) n.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  function make(
    command: string | undefined,
    more: Partial<ConstructorParameters<typeof AlertNotifier>[0]> = {},
  ) {
    const warnings: string[] = [];
    const n = new AlertNotifier({ command, warn: (l) => warnings.push(l), ...more });
    notifiers.push(n);
    return { n, warnings };
  }

  it('gives the command the event JSON on stdin, once per event id however often it comes', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'rsqlo-notify-'));
    const out = path.join(dir, 'alerts.jsonl');
    const { n, warnings } = make(`cat >> '${out}'`);
    n.deliver(failed('e-1'), 'alert-workflow-failed');
    n.deliver(failed('e-1'), 'alert-workflow-failed');
    await n.drained();
    n.deliver(failed('e-1'), 'alert-workflow-failed');
    await n.drained();
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(1);
    const got = JSON.parse(lines[0] as string);
    expect(got['detail-type']).toBe('WorkflowFinished');
    expect(got.detail).toMatchObject({ workflow_execution_id: 'e-1', status: 'Failed' });
    expect(n.recent()).toMatchObject([{ event_id: 'WorkflowFinished:e-1', delivery: 'sent', problem: null }]);
    expect(warnings).toEqual([]);
  });

  it('a failing command is logged with its status and stderr and dropped, not retried', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'rsqlo-notify-'));
    const count = path.join(dir, 'tries');
    const { n, warnings } = make(`echo x >> '${count}'; echo 'webhook said 500' >&2; exit 3`);
    n.deliver(failed('e-2'), 'alert-workflow-failed');
    await n.drained();
    expect(readFileSync(count, 'utf8')).toBe('x\n');
    expect(n.recent()[0]).toMatchObject({ delivery: 'failed', problem: 'exit status 3: webhook said 500' });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('WorkflowFinished:e-2 failed (exit status 3: webhook said 500)');
  });

  it('a hanging command is killed at its timeout while later alerts go through other slots', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'rsqlo-notify-'));
    const out = path.join(dir, 'ok');
    const hang = path.join(dir, 'hang');
    writeFileSync(hang, '');
    // The first alert hangs (its command never ends by itself); the others write and exit.
    const { n, warnings } = make(
      `read line; case "$line" in *e-hang*) exec sleep 600;; *) echo "$line" >> '${out}';; esac`,
      { timeoutMs: 1_500, concurrency: 2 },
    );
    n.deliver(failed('e-hang'), 'alert-workflow-failed');
    for (const e of ['e-a', 'e-b', 'e-c']) n.deliver(failed(e), 'alert-workflow-failed');
    // deliver only queues: it returned before any command ran to its end.
    expect(n.recent().every((r) => r.delivery === 'queued' || r.delivery === 'running')).toBe(true);
    await n.drained();
    expect(readFileSync(out, 'utf8').trim().split('\n')).toHaveLength(3);
    const hung = n.recent().find((r) => r.workflow_execution_id === 'e-hang');
    expect(hung).toMatchObject({ delivery: 'timed-out' });
    expect(warnings.join('\n')).toContain('timed out');
  }, 20_000);

  it('runs at most `concurrency` at once and drops alerts past the queue bound', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'rsqlo-notify-'));
    const log = path.join(dir, 'log');
    const { n, warnings } = make(`echo start >> '${log}'; sleep 0.2; echo end >> '${log}'`, {
      concurrency: 2,
      maxQueue: 3,
    });
    for (let i = 0; i < 6; i++) n.deliver(failed(`e-${i}`), 'alert-workflow-failed');
    await n.drained();
    let running = 0;
    let most = 0;
    for (const l of readFileSync(log, 'utf8').trim().split('\n')) {
      running += l === 'start' ? 1 : -1;
      most = Math.max(most, running);
    }
    expect(most).toBeLessThanOrEqual(2);
    // 2 started at once, 3 waited, the 6th was dropped.
    expect(n.recent().filter((r) => r.delivery === 'sent')).toHaveLength(5);
    expect(n.recent().filter((r) => r.delivery === 'dropped')).toHaveLength(1);
    expect(warnings.join('\n')).toContain('dropped the alert WorkflowFinished:e-5');
  }, 20_000);

  it('without a command alerts are only listed', () => {
    const { n } = make(undefined);
    n.deliver(failed('e-9'), 'alert-workflow-failed');
    expect(n.recent()).toMatchObject([{ delivery: 'not-configured', rule: 'alert-workflow-failed' }]);
  });
});
