/**
 * `rsqlo serve` with triggers and a calendar, through the real engine, with an injected clock and
 * timers: a scheduled upstream and a manually run one start their downstream (trigger.after), and
 * the schedule skips the day its calendar excludes, then fires on the next calendar day after the
 * spring DST change (Europe/Berlin, 29 March 2026).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../contracts/run-view.js';
import { deriveExecutionId } from '../../services/starter/execution-id.js';
import { fakeTime } from '../support/fake-time.js';
import { until } from '../support/processes.js';
import { serveInProcess } from '../support/serve-in-process.js';
import { cli, type Workspace, workspace } from '../support/workspace.js';

const startServe = (ws: Workspace, time: ReturnType<typeof fakeTime>, workflows: string) =>
  serveInProcess(ws, ['--workflows', workflows], { clock: time.clock, timers: time.timers });

const fired = (wf: string, iso: string) => deriveExecutionId(wf, `schedule:${iso}`, new Date(iso));

describe('rsqlo serve: trigger.after and calendars', () => {
  const stops: Array<() => void> = [];
  afterEach(() => {
    for (const s of stops.splice(0)) s();
  });

  it('a scheduled and a manual upstream start their downstream; the schedule skips an excluded day', async () => {
    const ws = workspace('rsqlo-serve-trigger-');
    const workflows = path.join(ws.dir, 'workflows');
    const write = (rel: string, body: unknown) => {
      mkdirSync(path.dirname(path.join(workflows, rel)), { recursive: true });
      writeFileSync(path.join(workflows, rel), JSON.stringify(body));
    };
    const flow = (id: string, extra: Record<string, unknown> = {}) => {
      mkdirSync(path.join(workflows, id, 'scripts'), { recursive: true });
      writeFileSync(path.join(workflows, id, 'scripts', 'ok.sh'), '#!/bin/bash\necho ok\n', { mode: 0o755 });
      write(`${id}/workflow.json`, {
        workflow_id: id,
        workflow_stages: [{ execution_flag: 'y', execution_type: 'sequential', scripts: ['ok.sh'] }],
        ...extra,
      });
    };
    flow('daily', {
      schedule: { expression: 'cron(0 6 ? * * *)', timezone: 'Europe/Berlin' },
      calendar: 'business',
    });
    flow('up_b');
    flow('down', { trigger: { after: ['daily', 'up_b'] } });
    write('calendars/business.json', {
      weekdays: ['mon', 'tue', 'wed', 'thu', 'fri'],
      exclude: ['2026-03-27'],
    });

    const runs = async (): Promise<RunSummary[]> => {
      const r = await cli(['runs', '--home', ws.home, '--json']);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as RunSummary[];
    };
    const completed = async (wf: string) =>
      (await runs()).filter((r) => r.workflow_id === wf && r.execution_status === 'Completed');

    const t = fakeTime('2026-03-26T04:59:30Z'); // Thursday, 05:59:30 in Berlin
    const s = startServe(ws, t, workflows);
    stops.push(s.stop);
    await until(() => s.out().includes('schedule: daily next at 2026-03-26T05:00:00.000Z'), 'the banner');
    t.advanceTo('2026-03-26T05:00:00Z');
    const thursday = fired('daily', '2026-03-26T05:00:00.000Z');
    await until(async () => (await completed('daily')).length === 1, 'the Thursday run');
    expect((await completed('daily')).map((r) => r.workflow_execution_id)).toEqual([thursday]);
    expect(await completed('down')).toEqual([]);

    // up_b run by hand through the server: now both have Completed, so down starts (once).
    const b = await cli(['run', path.join(workflows, 'up_b'), '--home', ws.home]);
    expect(b.code, b.stderr).toBe(0);
    await until(async () => (await completed('down')).length === 1, 'the triggered downstream run');

    // Friday 27 is excluded and the weekend is no calendar day: nothing fires until Monday 06:00
    // CEST (04:00 UTC, after the clocks went forward on Sunday).
    t.advanceTo('2026-03-30T03:59:59Z');
    expect(s.out()).not.toContain('schedule: daily fires for 2026-03-27');
    t.advanceTo('2026-03-30T04:00:00Z');
    expect(s.out()).toContain(
      `schedule: daily fires for 2026-03-30T04:00:00.000Z as ${fired('daily', '2026-03-30T04:00:00.000Z')}`,
    );
    await until(async () => (await completed('daily')).length === 2, 'the Monday run');
    expect((await runs()).filter((r) => r.workflow_id === 'daily')).toHaveLength(2);
    // Only one upstream finished again: no second downstream run.
    expect(await completed('down')).toHaveLength(1);
    s.stop();
    expect(await s.exit, s.err()).toBe(0);
  }, 120_000);
});
