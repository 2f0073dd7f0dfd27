/**
 * Schedules fired by `rsqlo serve` through the real engine, with an injected clock and timers (no
 * real waiting for a firing): a firing starts a run whose id is derived from its scheduled time; a
 * firing while that run is active is refused per max_active_runs (as the starter does on AWS); a
 * firing missed while no server ran is not run late unless the schedule says "catchup": true.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../contracts/run-view.js';
import { deriveExecutionId } from '../../services/starter/execution-id.js';
import { fakeTime } from '../support/fake-time.js';
import { until } from '../support/processes.js';
import { serveInProcess } from '../support/serve-in-process.js';
import { cli, type Workspace, workspace } from '../support/workspace.js';

/** `rsqlo serve` in this process on the fake time, stopped by `stop()`; its output collected. */
const startServe = (ws: Workspace, time: ReturnType<typeof fakeTime>, workflows: string) =>
  serveInProcess(ws, ['--workflows', workflows], { clock: time.clock, timers: time.timers });

const fired = (wf: string, iso: string) => deriveExecutionId(wf, `schedule:${iso}`, new Date(iso));

describe('rsqlo serve fires schedules (injected clock)', () => {
  let ws: Workspace;
  const stops: Array<() => void> = [];
  afterEach(() => {
    for (const s of stops.splice(0)) s();
  });

  async function runs(): Promise<RunSummary[]> {
    const r = await cli(['runs', '--home', ws.home, '--json']);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as RunSummary[];
  }

  it('fires on time, refuses a firing while its run is active (max_active_runs), runs a missed firing late only with catchup', async () => {
    ws = workspace('rsqlo-serve-sched-');
    const dir = path.join(ws.dir, 'workflows', 'hourly');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      path.join(dir, 'job.sh'),
      `#!/bin/bash\necho "$RSQLO_EXECUTION_ID" >> ${ws.dir}/ledger\nfor i in $(seq 2400); do [ -e ${ws.dir}/go ] && break; sleep 0.05; done\n`,
      { mode: 0o755 },
    );
    const define = (schedule: unknown) =>
      writeFileSync(
        path.join(dir, 'workflow.json'),
        JSON.stringify({
          workflow_id: 'hourly',
          schedule,
          workflow_stages: [{ execution_flag: 'y', execution_type: 'sequential', scripts: ['job.sh'] }],
        }),
      );
    define({ expression: 'cron(0 * * * ? *)', timezone: 'UTC' });
    const workflows = path.join(ws.dir, 'workflows');

    // First server: 09:59:30.
    const t1 = fakeTime('2026-03-04T09:59:30Z');
    const s1 = startServe(ws, t1, workflows);
    stops.push(s1.stop);
    await until(() => s1.out().includes('schedule: hourly next at 2026-03-04T10:00:00.000Z'), 'the banner');
    expect(existsSync(path.join(ws.dir, 'ledger'))).toBe(false);

    t1.advanceTo('2026-03-04T10:00:00Z');
    const ten = fired('hourly', '2026-03-04T10:00:00.000Z');
    expect(s1.out()).toContain(`schedule: hourly fires for 2026-03-04T10:00:00.000Z as ${ten}`);
    await until(async () => (await runs()).find((r) => r.workflow_execution_id === ten), 'the 10:00 run');

    // 11:00 while the 10:00 run is still running: max_active_runs (1) refuses it, as on AWS.
    t1.advanceTo('2026-03-04T11:00:00Z');
    await until(() => s1.out().includes('request for hourly rejected (ActiveRunLimit)'), 'the refusal');
    writeFileSync(path.join(ws.dir, 'go'), '');
    await until(
      async () =>
        (await runs()).find((r) => r.workflow_execution_id === ten && r.execution_status === 'Completed'),
      'the 10:00 run to complete',
    );
    expect((await runs()).map((r) => r.workflow_execution_id)).toEqual([ten]);
    s1.stop();
    expect(await s1.exit, s1.err()).toBe(0);

    // Second server at 14:30: 12:00, 13:00 and 14:00 were missed; without catchup none runs late.
    const t2 = fakeTime('2026-03-04T14:30:00Z');
    const s2 = startServe(ws, t2, workflows);
    stops.push(s2.stop);
    await until(() => s2.out().includes('schedule: hourly next at 2026-03-04T15:00:00.000Z'), 'the banner');
    expect(s2.out()).toContain(
      "missed 3 firing(s) of hourly's schedule (cron(0 * * * ? *)) while no server ran, the latest at 2026-03-04T14:00:00.000Z: not run late",
    );
    s2.stop();
    expect(await s2.exit, s2.err()).toBe(0);
    expect((await runs()).map((r) => r.workflow_execution_id)).toEqual([ten]);

    // Third server at 16:20 with "catchup": true: the latest missed firing (16:00) runs once, late.
    define({ expression: 'cron(0 * * * ? *)', timezone: 'UTC', catchup: true });
    const t3 = fakeTime('2026-03-04T16:20:00Z');
    const s3 = startServe(ws, t3, workflows);
    stops.push(s3.stop);
    const sixteen = fired('hourly', '2026-03-04T16:00:00.000Z');
    await until(
      () => s3.out().includes(`catching up on 2026-03-04T16:00:00.000Z as ${sixteen}`),
      'the catch-up',
    );
    await until(
      async () =>
        (await runs()).find((r) => r.workflow_execution_id === sixteen && r.execution_status === 'Completed'),
      'the catch-up run to complete',
    );
    s3.stop();
    expect(await s3.exit, s3.err()).toBe(0);
    expect(readFileSync(path.join(ws.dir, 'ledger'), 'utf8').trim().split('\n')).toEqual([ten, sixteen]);
  }, 240_000);
});
