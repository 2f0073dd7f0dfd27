import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobAuditRecord, WorkflowAuditRecord } from '../contracts/audit.js';
import {
  ActionResult,
  LogEvent,
  PoolView,
  RunListPage,
  RunPage,
  WorkflowPage,
} from '../contracts/run-view.js';
import { createLocalLogSource } from '../runtime/local/log-source.js';
import { createLocalRunViewSource, type LocalRunViewSource } from '../runtime/local/run-view-source.js';
import { cli, stages, type Workspace, workspace } from '../test/support/workspace.js';
import type { PoolActions, RunActions } from './ports.js';
import { createRunViewServer, SHELL } from './server.js';
import { LIGHT } from './theme.js';

type Doc = { workflow: WorkflowAuditRecord; jobs: JobAuditRecord[] };

let ws: Workspace;
let failed: Doc;
let source: LocalRunViewSource;
let view: ReturnType<typeof createRunViewServer>;
let port: number;
const calls: unknown[][] = [];
let restartResult: ActionResult = { ok: true, message: 'restarted as x', execution_id: 'view_http-2' };

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function request(
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, method, path, headers: { host: `127.0.0.1:${port}`, ...headers } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Reads server-sent events until `until` says enough, then hangs up. */
function events(
  path: string,
  until: (evs: Array<{ event: string; data: unknown; id?: string }>) => boolean,
  headers: Record<string, string> = {},
  onOpen?: () => void,
): Promise<Array<{ event: string; data: unknown; id?: string }>> {
  return new Promise((resolve, reject) => {
    const got: Array<{ event: string; data: unknown; id?: string }> = [];
    const req = httpRequest(
      { host: '127.0.0.1', port, path, headers: { host: `localhost:${port}`, ...headers } },
      (res) => {
        expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
        let buf = '';
        res.setEncoding('utf8');
        let opened = false;
        res.on('data', (c: string) => {
          buf += c;
          for (let i = buf.indexOf('\n\n'); i !== -1; i = buf.indexOf('\n\n')) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const ev: { event: string; data: unknown; id?: string } = { event: 'message', data: undefined };
            let data: string | undefined;
            for (const line of block.split('\n')) {
              if (line.startsWith('event: ')) ev.event = line.slice(7);
              else if (line.startsWith('data: ')) data = line.slice(6);
              else if (line.startsWith('id: ')) ev.id = line.slice(4);
            }
            if (data === undefined) continue;
            ev.data = JSON.parse(data);
            got.push(ev);
            if (!opened) {
              opened = true;
              onOpen?.();
            }
            if (until(got)) {
              req.destroy();
              resolve(got);
              return;
            }
          }
        });
        res.on('end', () => resolve(got));
      },
    );
    req.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? resolve(got) : reject(e)));
    req.end();
  });
}

beforeAll(async () => {
  ws = workspace('rsqlo-view-http-');
  ws.script('ok.sh', 'echo "<b>one</b>"\necho two\necho three');
  ws.script('bad.sh', 'echo "<img src=x onerror=alert(1)>" >&2; exit 4');
  const file = ws.workflow({
    workflow_id: 'view_http',
    workflow_stages: stages(['sequential', ['ok.sh', 'bad.sh']]),
  });
  const r = await cli(['run', file, '--home', ws.home, '--json']);
  expect(r.code).toBe(1);
  failed = JSON.parse(r.stdout) as Doc;
  source = createLocalRunViewSource({ home: ws.home, pollMs: 25 });
  const actions: RunActions = {
    async restart(exec) {
      calls.push(['restart', exec]);
      return restartResult;
    },
    async kill(exec) {
      calls.push(['kill', exec]);
      return { ok: true, message: 'killed', execution_id: null };
    },
    async set_ok(exec, ctx) {
      calls.push(['set_ok', exec, ctx]);
      return { ok: true, message: 'set OK', execution_id: null };
    },
    async bypass(exec, ctx) {
      calls.push(['bypass', exec, ctx]);
      return { ok: true, message: 'bypassed', execution_id: null };
    },
    async hold(exec, ctx) {
      calls.push(['hold', exec, ctx]);
      return { ok: true, message: 'held', execution_id: null };
    },
  };
  const pools: PoolActions = {
    async list() {
      return [{ pool: 'wlm', slots: 2, in_use: 1, waiting: 3, created_by: 'definition:view_http' }];
    },
    async setSlots(pool, slots, ctx) {
      calls.push(['pool', pool, slots, ctx]);
      return { ok: true, message: `pool ${pool} now has ${slots} slot(s)`, execution_id: null };
    },
  };
  view = createRunViewServer({
    source,
    logs: createLocalLogSource({ locate: (ref) => source.attemptLog(ref), pollMs: 25 }),
    actions,
    pools,
    requestedBy: 'web:tester',
    allowedHosts: ['etl-box.internal'],
    onError: () => {},
  });
  const url = await view.listen(0);
  port = Number(new URL(url).port);
}, 120_000);

afterAll(async () => {
  await view?.close();
  source?.close();
});

describe('run view HTTP', () => {
  it('serves the same data-free page at every page route, with a strict CSP', async () => {
    const exec = failed.workflow.workflow_execution_id;
    for (const p of ['/', `/runs/${exec}`, '/workflows/view_http', '/?workflow=view_http&status=Failed']) {
      const r = await request('GET', p);
      expect(r.status).toBe(200);
      expect(r.body).toBe(SHELL);
      expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(r.headers['content-security-policy']).toContain("script-src 'self'");
      expect(r.headers['content-security-policy']).not.toContain('unsafe-inline');
      expect(r.headers['x-content-type-options']).toBe('nosniff');
    }
    expect(SHELL).not.toMatch(/<script>|\son[a-z]+=/);
    expect((await request('GET', '/runs/..%2F..%2Fetc')).status).toBe(404);
    expect((await request('GET', '/nothing/here')).status).toBe(404);
    expect((await request('DELETE', '/')).status).toBe(405);
  });

  it('serves the client bundled from TypeScript, building no markup from strings, and the generated stylesheet', async () => {
    const js = await request('GET', '/assets/app.js');
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.body.length).toBeGreaterThan(2000);
    expect(js.body).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
    // Nothing is fetched from elsewhere: no absolute URLs to load.
    expect(js.body).not.toMatch(/https?:\/\/[a-z]/i);
    const css = await request('GET', '/assets/app.css');
    expect(css.body).toContain(`--s-failed:${LIGHT.status.failed}`);
    expect(css.body).not.toMatch(/url\(|@import/);
  });

  it('answers only to loopback names, IP literals and the allowed hosts (DNS rebinding)', async () => {
    expect((await request('GET', '/api/runs', { host: 'attacker.example:80' })).status).toBe(403);
    expect((await request('GET', '/api/runs', { host: `localhost:${port}` })).status).toBe(200);
    expect((await request('GET', '/api/runs', { host: `[::1]:${port}` })).status).toBe(200);
    expect((await request('GET', '/api/runs', { host: `etl-box.internal:${port}` })).status).toBe(200);
    expect((await request('GET', '/api/runs', { host: 'localhost.attacker.example' })).status).toBe(403);
  });

  it('lists runs with filters and says what is wrong with a bad query', async () => {
    const all = RunListPage.parse(JSON.parse((await request('GET', '/api/runs')).body));
    expect(all.runs.map((r) => r.workflow_execution_id)).toEqual([failed.workflow.workflow_execution_id]);
    expect(all.workflows).toEqual(['view_http']);
    const none = RunListPage.parse(JSON.parse((await request('GET', '/api/runs?status=Completed')).body));
    expect(none.runs).toEqual([]);
    const bad = await request('GET', '/api/runs?status=Exploded');
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).error).toMatch(/^status: /);
    expect((await request('GET', '/api/runs?limit=0')).status).toBe(400);
    expect((await request('GET', '/api/runs?before=xyz')).status).toBe(400);
    expect((await request('GET', '/api/runs?surprise=1')).status).toBe(400);
  });

  it('gives a run with what may be done with it, a workflow page, and 404/400 for unknown or bad ids', async () => {
    const exec = failed.workflow.workflow_execution_id;
    const page = RunPage.parse(JSON.parse((await request('GET', `/api/runs/${exec}`)).body));
    expect(page.jobs.map((j) => [j.job_key, j.execution_status])).toEqual([
      ['1.1', 'Completed'],
      ['1.2', 'Failed'],
    ]);
    expect(page.jobs[1]?.attempts[0]?.error_message).toBe('<img src=x onerror=alert(1)>');
    expect(page.actions).toEqual([
      expect.objectContaining({ name: 'restart', available: true, reason: null, scope: 'run' }),
      expect.objectContaining({ name: 'kill', available: false, reason: 'the run is Failed' }),
      expect.objectContaining({
        name: 'hold',
        available: false,
        reason: expect.stringMatching(/only a Running run can be held/),
      }),
      expect.objectContaining({ name: 'free', available: false, reason: 'not available here' }),
    ]);
    // Job panel buttons, from the shared rules: the Failed job may be set OK (with a reason), the
    // Completed one not; rerun is not wired here.
    const byName = (i: number) => Object.fromEntries((page.jobs[i]?.actions ?? []).map((a) => [a.name, a]));
    expect(byName(1).set_ok).toMatchObject({ available: true, scope: 'job', needs_reason: true });
    expect(byName(0).set_ok).toMatchObject({
      available: false,
      reason: expect.stringMatching(/is Completed: only a Failed or TimedOut job/),
    });
    expect(byName(1).rerun).toMatchObject({
      available: false,
      reason: 'not available here',
      needs_reason: false,
    });
    expect(byName(1).bypass).toMatchObject({
      available: false,
      reason: expect.stringMatching(/has started/),
    });
    const wf = WorkflowPage.parse(JSON.parse((await request('GET', '/api/workflows/view_http')).body));
    expect(wf.history.map((r) => r.workflow_execution_id)).toEqual([exec]);
    expect(wf.definition?.definition).toMatchObject({ workflow_id: 'view_http' });
    expect((await request('GET', '/api/runs/no-such-run')).status).toBe(404);
    expect((await request('GET', '/api/workflows/no_such_workflow')).status).toBe(404);
    const bad = await request('GET', '/api/runs/bad%20id');
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).error).toMatch(/not an execution id/);
  });

  it('takes actions only as same-origin JSON, refuses what the rules refuse, and calls the port otherwise', async () => {
    const exec = failed.workflow.workflow_execution_id;
    const path = (a: string) => `/api/runs/${exec}/actions/${a}`;
    const json = { 'content-type': 'application/json' };
    calls.length = 0;
    expect((await request('POST', path('restart'), {}, '{}')).status).toBe(415);
    expect((await request('POST', path('restart'), { 'content-type': 'text/plain' }, '{}')).status).toBe(415);
    expect(
      (await request('POST', path('restart'), { ...json, origin: 'https://attacker.example' }, '{}')).status,
    ).toBe(403);
    expect(
      (await request('POST', path('restart'), { ...json, 'sec-fetch-site': 'cross-site' }, '{}')).status,
    ).toBe(403);
    expect((await request('GET', path('restart'))).status).toBe(404);
    expect((await request('POST', path('explode'), json, '{}')).status).toBe(404);
    expect((await request('POST', '/api/runs/no-such/actions/kill', json, '{}')).status).toBe(404);
    expect((await request('POST', path('restart'), json, 'x'.repeat(5000))).status).toBe(413);
    expect(calls).toEqual([]);

    const kill = await request('POST', path('kill'), { ...json, origin: `http://127.0.0.1:${port}` }, '{}');
    expect(kill.status).toBe(409);
    expect(ActionResult.parse(JSON.parse(kill.body))).toMatchObject({
      ok: false,
      message: expect.stringMatching(/run is Failed/),
    });
    expect(calls).toEqual([]);

    const restart = await request(
      'POST',
      path('restart'),
      { ...json, 'sec-fetch-site': 'same-origin' },
      '{}',
    );
    expect(restart.status).toBe(200);
    expect(ActionResult.parse(JSON.parse(restart.body))).toEqual(restartResult);
    expect(calls).toEqual([['restart', exec]]);
    restartResult = { ok: false, message: 'the engine refused', execution_id: null };
    const refused = await request('POST', path('restart'), json, '{}');
    expect(refused.status).toBe(409);
    expect(JSON.parse(refused.body).message).toBe('the engine refused');
  });

  it('takes job actions with their job_key and reason in the body, 409 with the rule on refusal', async () => {
    const exec = failed.workflow.workflow_execution_id;
    const path = (a: string) => `/api/runs/${exec}/actions/${a}`;
    const json = { 'content-type': 'application/json' };
    calls.length = 0;
    // Bad bodies: 400 naming the problem, nothing called.
    const noJob = await request('POST', path('set_ok'), json, JSON.stringify({ reason: 'fixed' }));
    expect(noJob.status).toBe(400);
    expect(JSON.parse(noJob.body).error).toMatch(/needs job_key/);
    const noReason = await request('POST', path('set_ok'), json, JSON.stringify({ job_key: '1.2' }));
    expect(noReason.status).toBe(400);
    expect(JSON.parse(noReason.body).error).toMatch(/needs a reason/);
    expect(
      (await request('POST', path('set_ok'), json, JSON.stringify({ job_key: '1.2', extra: 1 }))).status,
    ).toBe(400);
    expect(
      (
        await request(
          'POST',
          path('set_ok'),
          json,
          JSON.stringify({ job_key: '1.2', reason: 'x'.repeat(1025) }),
        )
      ).status,
    ).toBe(400);
    expect((await request('POST', path('set_ok'), json, 'not json')).status).toBe(400);
    expect(
      (await request('POST', path('set_ok'), json, JSON.stringify({ job_key: '9.9', reason: 'r' }))).status,
    ).toBe(404);
    expect((await request('POST', path('hold'), json, JSON.stringify({ job_key: '1.2' }))).status).toBe(400);
    expect(calls).toEqual([]);
    // Refused by the shared rules: 409 with the rule's sentence, nothing called.
    const completed = await request(
      'POST',
      path('set_ok'),
      json,
      JSON.stringify({ job_key: '1.1', reason: 'r' }),
    );
    expect(completed.status).toBe(409);
    expect(JSON.parse(completed.body).message).toMatch(
      /job 1\.1 is Completed: only a Failed or TimedOut job can be set OK/,
    );
    const started = await request(
      'POST',
      path('bypass'),
      json,
      JSON.stringify({ job_key: '1.2', reason: 'r' }),
    );
    expect(started.status).toBe(409);
    expect(JSON.parse(started.body).message).toMatch(/has started \(Failed\)/);
    const held = await request('POST', path('hold'), json, '{}');
    expect(held.status).toBe(409);
    expect(JSON.parse(held.body).message).toMatch(/is Failed: only a Running run can be held/);
    expect(calls).toEqual([]);
    // Allowed: the port gets the job, the reason and who asked.
    const ok = await request(
      'POST',
      path('set_ok'),
      json,
      JSON.stringify({ job_key: '1.2', reason: 'fixed by hand' }),
    );
    expect(ok.status).toBe(200);
    expect(calls).toEqual([
      ['set_ok', exec, { requestedBy: 'web:tester', jobKey: '1.2', reason: 'fixed by hand' }],
    ]);
  });

  it("lists pools and sets a pool's slots (same-origin JSON, checked name and number)", async () => {
    const json = { 'content-type': 'application/json' };
    calls.length = 0;
    const list = await request('GET', '/api/pools');
    expect(list.status).toBe(200);
    expect(JSON.parse(list.body).pools).toEqual([
      PoolView.parse({ pool: 'wlm', slots: 2, in_use: 1, waiting: 3, created_by: 'definition:view_http' }),
    ]);
    expect((await request('POST', '/api/pools/wlm/slots', {}, '{"slots":1}')).status).toBe(415);
    expect(
      (
        await request(
          'POST',
          '/api/pools/wlm/slots',
          { ...json, origin: 'https://attacker.example' },
          '{"slots":1}',
        )
      ).status,
    ).toBe(403);
    expect((await request('POST', '/api/pools/wlm/slots', json, '{"slots":1001}')).status).toBe(400);
    expect((await request('POST', '/api/pools/wlm/slots', json, '{"slots":-1}')).status).toBe(400);
    expect((await request('POST', '/api/pools/wlm/slots', json, '{"slots":1.5}')).status).toBe(400);
    expect((await request('POST', '/api/pools/bad%20name/slots', json, '{"slots":1}')).status).toBe(400);
    expect(calls).toEqual([]);
    const set = await request(
      'POST',
      '/api/pools/wlm/slots',
      json,
      JSON.stringify({ slots: 0, reason: 'patching' }),
    );
    expect(set.status).toBe(200);
    expect(JSON.parse(set.body).message).toBe('pool wlm now has 0 slot(s)');
    expect(calls).toEqual([['pool', 'wlm', 0, { requestedBy: 'web:tester', reason: 'patching' }]]);
  });

  it('streams a log attempt: the tail, then resumes after the last event id', async () => {
    const exec = failed.workflow.workflow_execution_id;
    const p = `/api/runs/${exec}/jobs/1.1/attempts/1/log`;
    const evs = await events(`${p}?tail=2`, (e) => e.some((x) => x.event === 'end'));
    const parsed = evs.map((e) => LogEvent.parse(e.data));
    expect(parsed).toEqual([
      { kind: 'notice', message: 'showing the last 2 lines' },
      { kind: 'lines', lines: ['two', 'three'], cursor: '21' },
      { kind: 'end', reason: 'finished', cursor: '21' },
    ]);
    expect(evs[1]?.id).toBe('21');
    const whole = await events(`${p}?tail=all`, (e) => e.some((x) => x.event === 'end'));
    expect(whole.flatMap((e) => (e.event === 'lines' ? (e.data as { lines: string[] }).lines : []))).toEqual([
      '<b>one</b>',
      'two',
      'three',
    ]);
    // A reconnecting EventSource sends Last-Event-ID: the stream goes on from there, no tail.
    const resumed = await events(p, (e) => e.some((x) => x.event === 'end'), { 'last-event-id': '15' });
    expect(resumed.map((e) => LogEvent.parse(e.data))).toEqual([
      { kind: 'lines', lines: ['three'], cursor: '21' },
      { kind: 'end', reason: 'finished', cursor: '21' },
    ]);
    expect((await request('GET', `${p}?tail=lots`)).status).toBe(400);
    expect((await request('GET', `/api/runs/${exec}/jobs/1.1/attempts/2/log`)).status).toBe(404);
    expect((await request('GET', `/api/runs/${exec}/jobs/x.y/attempts/1/log`)).status).toBe(400);
  });

  it('pushes a new snapshot of the runs list when another process commits a run', async () => {
    ws.script('late.sh', 'true');
    const file = ws.workflow({
      workflow_id: 'view_http_late',
      workflow_stages: stages(['sequential', ['late.sh']]),
    });
    const evs = await events(
      '/api/runs?live=1',
      (e) =>
        e.some((x) =>
          (x.data as RunListPage).runs?.some(
            (r) => r.workflow_id === 'view_http_late' && r.execution_status === 'Completed',
          ),
        ),
      {},
      () => void cli(['run', file, '--home', ws.home]),
    );
    expect(evs[0]?.event).toBe('snapshot');
    expect(RunListPage.parse(evs[0]?.data).runs.map((r) => r.workflow_id)).toEqual(['view_http']);
    const last = RunListPage.parse(evs[evs.length - 1]?.data);
    expect(last.runs.map((r) => r.workflow_id)).toEqual(['view_http_late', 'view_http']);
    // Only changes are sent: no two consecutive snapshots are the same.
    const bodies = evs.map((e) => {
      const { now: _now, ...rest } = e.data as RunListPage;
      return JSON.stringify(rest);
    });
    for (let i = 1; i < bodies.length; i++) expect(bodies[i]).not.toBe(bodies[i - 1]);
  });

  it('says "missing" for a run that does not exist yet, and ends every live stream on close', async () => {
    const evs = await events('/api/runs/not-yet?live=1', (e) => e.length >= 1);
    expect(evs[0]?.event).toBe('missing');
    // close() ends open streams (the server can then stop): the reader sees the end.
    const ended = await events(
      '/api/runs?live=1',
      () => false,
      {},
      () => view.handler.close(),
    );
    expect(ended.map((e) => e.event)).toEqual(['snapshot']);
  });
});
