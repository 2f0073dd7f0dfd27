/**
 * `rsqlo serve --notify-command` end to end (issue 15 item 4): a failed run's alerts reach the
 * command as JSON on stdin (a script that writes its stdin to a file), each once; the web view
 * lists them at /alerts and /api/alerts; a command that hangs does not stop other runs progressing.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { until } from '../support/processes.js';
import { serveInProcess } from '../support/serve-in-process.js';
import { cli, type Workspace, workspace } from '../support/workspace.js';

const startServe = (ws: Workspace, workflows: string, notify: string) =>
  serveInProcess(ws, ['--workflows', workflows, '--notify-command', notify]);

function workflows(ws: Workspace): string {
  const dir = path.join(ws.dir, 'workflows');
  for (const [id, body] of [
    ['broken', 'echo "relation does not exist" >&2; exit 2'],
    ['fine', 'echo fine'],
  ] as const) {
    mkdirSync(path.join(dir, id), { recursive: true });
    writeFileSync(path.join(dir, id, 'job.sh'), `#!/bin/bash\n${body}\n`, { mode: 0o755 });
    writeFileSync(
      path.join(dir, id, 'workflow.json'),
      JSON.stringify({
        workflow_id: id,
        workflow_stages: [{ execution_flag: 'y', execution_type: 'sequential', scripts: ['job.sh'] }],
      }),
    );
  }
  return dir;
}

const lines = (file: string) =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as { 'detail-type': string; detail: Record<string, unknown> })
    : [];

describe('rsqlo serve --notify-command', () => {
  const stops: Array<() => void> = [];
  afterEach(() => {
    for (const s of stops.splice(0)) s();
  });

  it('a failed run: the command gets the JSON of each failure alert once; /alerts lists them', async () => {
    const ws = workspace('rsqlo-notify-');
    const got = path.join(ws.dir, 'alerts.jsonl');
    const dir = workflows(ws);
    const s = startServe(ws, dir, `cat >> '${got}'`);
    stops.push(s.stop);
    await until(() => s.url() !== '', 'the server');
    const r = await cli([
      'run',
      path.join(dir, 'broken', 'workflow.json'),
      '--home',
      ws.home,
      '--execution-id',
      'broken-1',
    ]);
    expect(r.code).not.toBe(0);
    await until(() => lines(got).length >= 2, 'two alerts');
    const alerts = lines(got);
    expect(alerts.map((a) => a['detail-type']).sort()).toEqual(['JobFinished', 'WorkflowFinished']);
    const wf = alerts.find((a) => a['detail-type'] === 'WorkflowFinished');
    expect(wf?.detail).toMatchObject({ workflow_execution_id: 'broken-1', status: 'Failed' });
    const job = alerts.find((a) => a['detail-type'] === 'JobFinished');
    expect(job?.detail).toMatchObject({ status: 'Failed', exit_code: 2, workflow_execution_id: 'broken-1' });

    type Api = {
      alerts: Array<{ detail_type: string; delivery: string; workflow_execution_id: string }>;
    };
    await until(async () => {
      const j = (await (await fetch(`${s.url()}/api/alerts`)).json()) as Api;
      return j.alerts.length === 2 && j.alerts.every((a) => a.delivery === 'sent');
    }, 'both alerts sent');
    const page = await fetch(`${s.url()}/alerts`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('<h1>Recent alerts</h1>');
    expect(html).toContain('<a href="/runs/broken-1">broken-1</a>');
    expect(html).toContain('WorkflowFinished');
    s.stop();
    expect(await s.exit, s.err()).toBe(0);
    // Stopped: nothing was delivered twice.
    expect(lines(got)).toHaveLength(2);
  }, 120_000);

  it('a command that hangs does not stop other runs progressing', async () => {
    const ws = workspace('rsqlo-notify-hang-');
    const got = path.join(ws.dir, 'seen.jsonl');
    const dir = workflows(ws);
    // Records the alert, then never ends (until serve stops and kills it).
    const s = startServe(ws, dir, `head -n 1 >> '${got}'; exec sleep 600`);
    stops.push(s.stop);
    await until(() => s.url() !== '', 'the server');
    const b1 = await cli([
      'run',
      path.join(dir, 'broken', 'workflow.json'),
      '--home',
      ws.home,
      '--execution-id',
      'b-1',
    ]);
    expect(b1.code).not.toBe(0);
    await until(() => lines(got).length >= 2, 'the hanging commands to start');
    // Both commands hang now; runs go on.
    const f1 = await cli([
      'run',
      path.join(dir, 'fine', 'workflow.json'),
      '--home',
      ws.home,
      '--execution-id',
      'f-1',
    ]);
    expect(f1.code, f1.stderr).toBe(0);
    const b2 = await cli([
      'run',
      path.join(dir, 'broken', 'workflow.json'),
      '--home',
      ws.home,
      '--execution-id',
      'b-2',
    ]);
    expect(b2.code).not.toBe(0);
    await until(() => lines(got).length >= 4, "the second run's alerts");
    expect(
      lines(got)
        .filter((a) => a['detail-type'] === 'WorkflowFinished')
        .map((a) => a.detail.workflow_execution_id),
    ).toEqual(['b-1', 'b-2']);
    s.stop();
    expect(await s.exit, s.err()).toBe(0);
  }, 120_000);
});
