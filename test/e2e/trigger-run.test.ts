/**
 * trigger.after under a plain `rsqlo run` (issue 15): a foreground run starts no other workflow.
 * Its completion's delivery to the trigger service stays in the home's outbox (target `trigger`),
 * the run says once who waits for it, and the next `rsqlo serve` of the home delivers it, where
 * the trigger's own rules decide: the downstream starts once, or not at all when it was run by
 * hand after the upstream finished (an arrival older than the downstream's latest start).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../contracts/run-view.js';
import { until } from '../support/processes.js';
import { serveInProcess } from '../support/serve-in-process.js';
import { cli, type Workspace, workspace } from '../support/workspace.js';

function folder(ws: Workspace): string {
  const workflows = path.join(ws.dir, 'workflows');
  const flow = (id: string, extra: Record<string, unknown> = {}) => {
    mkdirSync(path.join(workflows, id, 'scripts'), { recursive: true });
    writeFileSync(path.join(workflows, id, 'scripts', 'ok.sh'), '#!/bin/bash\necho ok\n', { mode: 0o755 });
    writeFileSync(
      path.join(workflows, id, 'workflow.json'),
      JSON.stringify({
        workflow_id: id,
        workflow_stages: [{ execution_flag: 'y', execution_type: 'sequential', scripts: ['ok.sh'] }],
        ...extra,
      }),
    );
  };
  flow('up');
  flow('down', { trigger: { after: ['up'] } });
  return workflows;
}

/** The home's outbox rows, read beside whatever engine holds it. */
function outbox(home: string): Array<{ target: string; type: string; workflow_id: string }> {
  const db = new Database(path.join(home, 'rsqlo.db'), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT target, payload FROM outbox ORDER BY id').all() as Array<{
      target: string;
      payload: string;
    }>;
    return rows.map((r) => {
      const e = JSON.parse(r.payload) as { 'detail-type': string; detail: { workflow_id: string } };
      return { target: r.target, type: e['detail-type'], workflow_id: e.detail.workflow_id };
    });
  } finally {
    db.close();
  }
}

/** serve of the home; `out()` is stdout and stderr together, as written. */
function startServe(ws: Workspace, workflows: string) {
  const s = serveInProcess(ws, ['--workflows', workflows]);
  return { out: s.all, stop: s.stop, exit: s.exit };
}

describe('trigger.after and a plain rsqlo run', () => {
  const stops: Array<() => void> = [];
  afterEach(() => {
    for (const s of stops.splice(0)) s();
  });

  async function runs(ws: Workspace, wf: string): Promise<RunSummary[]> {
    const r = await cli(['runs', '--home', ws.home, '--json']);
    expect(r.code, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as RunSummary[]).filter((x) => x.workflow_id === wf);
  }

  /** `down` known to the home (run once by hand), then a plain run of `up`. */
  async function plainRunOfUp(ws: Workspace, workflows: string) {
    const first = await cli(['run', path.join(workflows, 'down'), '--home', ws.home]);
    expect(first.code, first.stderr).toBe(0);
    const up = await cli(['run', path.join(workflows, 'up'), '--home', ws.home]);
    expect(up.code, up.stderr).toBe(0);
    return up;
  }

  it('a plain run leaves the trigger delivery pending; the next serve starts the downstream once', async () => {
    const ws = workspace('rsqlo-trigger-run-');
    const workflows = folder(ws);
    const up = await plainRunOfUp(ws, workflows);
    // Said once, in the run's output.
    const told = `down waits for up (trigger.after): it starts under \`rsqlo serve\` of ${ws.home}, not in this run`;
    expect(up.stderr.split(told)).toHaveLength(2);
    expect((await runs(ws, 'up')).map((r) => r.execution_status)).toEqual(['Completed']);
    // Not started: down has only its manual run, and up's completion waits in the outbox.
    expect(await runs(ws, 'down')).toHaveLength(1);
    expect(outbox(ws.home)).toEqual([{ target: 'trigger', type: 'WorkflowFinished', workflow_id: 'up' }]);

    // Another plain run (resume) delivers nothing either.
    const resume = await cli(['resume', '--home', ws.home]);
    expect(resume.code, resume.stderr).toBe(0);
    // The held row is not work for a resume: it says so rather than "resuming 0 run(s)".
    expect(resume.stdout).toBe('nothing to resume\n');
    expect(outbox(ws.home)).toHaveLength(1);
    expect(await runs(ws, 'down')).toHaveLength(1);

    const s = startServe(ws, workflows);
    stops.push(s.stop);
    await until(
      async () => (await runs(ws, 'down')).filter((r) => r.execution_status === 'Completed').length === 2,
      'the triggered downstream run',
    );
    await until(() => outbox(ws.home).length === 0, 'the outbox drained');
    expect(await runs(ws, 'down')).toHaveLength(2);
    s.stop();
    expect(await s.exit, s.out()).toBe(0);
  }, 120_000);

  it('a manual run of the downstream in between makes the pending arrival not count', async () => {
    const ws = workspace('rsqlo-trigger-run-');
    const workflows = folder(ws);
    await plainRunOfUp(ws, workflows);
    expect(outbox(ws.home)).toHaveLength(1);
    const again = await cli(['run', path.join(workflows, 'down'), '--home', ws.home]);
    expect(again.code, again.stderr).toBe(0);
    expect(await runs(ws, 'down')).toHaveLength(2);

    const s = startServe(ws, workflows);
    stops.push(s.stop);
    // The held row is delivered (and whatever it caused is written with its removal).
    await until(() => outbox(ws.home).length === 0, 'the held delivery handled');
    await until(async () => (await runs(ws, 'down')).every((r) => r.execution_status !== 'Running'), 'idle');
    expect(await runs(ws, 'down')).toHaveLength(2);
    s.stop();
    expect(await s.exit, s.out()).toBe(0);
  }, 120_000);
});
