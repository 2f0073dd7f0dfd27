import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { until } from '../../test/support/processes.js';
import { composeLocalEngine } from './compose.js';
import {
  createControlHandler,
  findServer,
  listenControl,
  relayCommand,
  type ServerHandle,
  socketPaths,
  stream,
} from './control.js';

function raw(socket: string, method: string, url: string, body?: string, type = 'application/json') {
  return new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = http.request(
      { socketPath: socket, method, path: url, headers: { 'content-type': type } },
      (res) => {
        let text = '';
        res.on('data', (c) => {
          text += String(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('control socket (a real engine, a real socket)', () => {
  let dir: string;
  let home: string;
  let composed: ReturnType<typeof composeLocalEngine>;
  let abort: AbortController;
  let loop: Promise<void>;
  let closeSocket: () => Promise<void>;
  let handler: ReturnType<typeof createControlHandler>;
  let server: ServerHandle;
  const relayed: string[][] = [];
  let followStopped = false;

  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'rsqlo-ctl-'));
    home = path.join(dir, 'home');
    composed = composeLocalEngine({ home, database: { kind: 'none' }, notify: () => {} });
    handler = createControlHandler({
      engine: composed.engine,
      info: () => ({ pid: process.pid, url: 'http://127.0.0.1:1', home, socket: '', started_at: '' }),
      relay: async (argv, io) => {
        relayed.push(argv);
        if (argv[0] === 'logs' && argv[2] === '--follow') {
          // Writes until its output closes under it (the client left), like logs --follow.
          let closed = false;
          io.stdout.on('error', () => {
            closed = true;
          });
          while (!closed) {
            io.stdout.write('line\n');
            await new Promise((r) => setTimeout(r, 20));
          }
          followStopped = true;
          return 0;
        }
        // bytes that are not UTF-8, split across writes, must come through whole
        io.stdout.write(Buffer.from([0xff, 0xfe, 0x41]));
        io.stdout.write(Buffer.from([0xe2, 0x82]));
        io.stdout.write(Buffer.from([0xac, 0x0a]));
        io.stderr.write('on stderr\n');
        return 7;
      },
      stuckAfterMs: 500,
    });
    const listening = await listenControl(home, handler, {
      pid: process.pid,
      url: 'http://127.0.0.1:1',
      home,
      started_at: '',
    });
    closeSocket = listening.close;
    abort = new AbortController();
    loop = composed.engine.runUntil(() => false, abort.signal);
    server = (await findServer(home)) as ServerHandle;
  });

  afterEach(async () => {
    handler.close();
    await closeSocket();
    abort.abort();
    await loop;
    await composed.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('listens in the home, owner-only; a client finds it; nothing after it closes', async () => {
    expect(server.info.pid).toBe(process.pid);
    expect(server.socket).toBe(path.join(home, 'serve.sock'));
    expect(statSync(server.socket).mode & 0o777).toBe(0o600);
  });

  it('refuses bad requests with a message, and changes nothing', async () => {
    expect((await raw(server.socket, 'GET', '/v1/nothing')).status).toBe(404);
    const notJson = await raw(server.socket, 'POST', '/v1/submit', '{');
    expect(notJson.status).toBe(400);
    expect(notJson.text).toContain('not JSON');
    const bad = await raw(
      server.socket,
      'POST',
      '/v1/submit',
      JSON.stringify({
        definition: { body: { workflow_id: 'w', workflow_stages: [] }, script_root: dir },
        request: { workflow_id: 'w', workflow_execution_id: 'w-1' },
      }),
    );
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('invalid definition: workflow_stages');
    const relative = await raw(
      server.socket,
      'POST',
      '/v1/submit',
      JSON.stringify({
        definition: {
          body: {
            workflow_id: 'w',
            workflow_stages: [{ execution_flag: 'y', execution_type: 'sequential', scripts: ['a.sh'] }],
          },
          script_root: 'scripts',
        },
        request: { workflow_id: 'w', workflow_execution_id: 'w-1' },
      }),
    );
    expect(relative.status).toBe(400);
    expect(relative.text).toContain('script_root must be an absolute path');
    expect(
      (await raw(server.socket, 'POST', '/v1/relay', JSON.stringify({ argv: ['run', 'x'] }))).status,
    ).toBe(400);
    expect(
      (await raw(server.socket, 'POST', '/v1/kill', JSON.stringify({ execution_id: 'nope' }))).status,
    ).toBe(404);
    expect(composed.engine.store.listRunsSync('w', 10)).toEqual([]);
  });

  it('refuses a bad operator action (400, nothing published) and relays only pool list of pool', async () => {
    const published: string[] = [];
    const off = composed.engine.store.onCommittedEvent((e) => published.push(e['detail-type']));
    const post = (b: unknown) => raw(server.socket, 'POST', '/v1/action', JSON.stringify(b));
    const unknown = await post({ request: { detailType: 'WorkflowRequested', detail: {} }, follow: null });
    expect(unknown.status).toBe(400);
    expect(unknown.text).toContain('an action needs request.detailType, one of JobSetOkRequested');
    const invalid = await post({
      request: {
        detailType: 'PoolResizeRequested',
        detail: {
          version: 1,
          occurred_at: '2026-01-01T00:00:00.000Z',
          requested_by: 'user:a',
          pool: 'w l m',
          slots: 2,
        },
      },
      follow: null,
    });
    expect(invalid.status).toBe(400);
    expect(invalid.text).toContain('pool');
    const noRun = await post({
      request: {
        detailType: 'FreeRequested',
        detail: {
          version: 1,
          occurred_at: '2026-01-01T00:00:00.000Z',
          requested_by: 'user:a',
          workflow_id: 'w',
          workflow_execution_id: 'w-9',
        },
      },
      follow: 'w-9',
    });
    expect(noRun.status).toBe(404);
    expect(published).toEqual([]);
    off();
    // pool set is an action, never relayed as a read command.
    expect(
      (await raw(server.socket, 'POST', '/v1/relay', JSON.stringify({ argv: ['pool', 'set', 'wlm', '0'] })))
        .status,
    ).toBe(400);
    expect(
      (await raw(server.socket, 'POST', '/v1/relay', JSON.stringify({ argv: ['pool', 'list'] }))).status,
    ).toBe(200);
  });

  it('runs a submitted workflow and streams its events and end; an unknown workflow is refused', async () => {
    const scripts = path.join(dir, 'scripts');
    mkdirSync(scripts);
    writeFileSync(path.join(scripts, 'a.sh'), 'echo hello\n');
    const messages: Array<Record<string, unknown>> = [];
    await stream(
      server,
      '/v1/submit',
      {
        definition: {
          body: {
            workflow_id: 'w',
            workflow_stages: [{ execution_flag: 'y', execution_type: 'sequential', scripts: ['a.sh'] }],
          },
          script_root: scripts,
        },
        request: { version: 1, workflow_id: 'w', workflow_execution_id: 'w-1', requested_by: 'test' },
      },
      (m) => void messages.push(m),
    );
    const end = messages.at(-1) as { t: string; run: { execution_status: string }; jobs: unknown[] };
    expect(end.t).toBe('end');
    expect(end.run.execution_status).toBe('Completed');
    expect(end.jobs).toHaveLength(1);
    const types = messages
      .filter((m) => m.t === 'event')
      .map((m) => (m.event as Record<string, string>)['detail-type']);
    expect(types).toContain('WorkflowStarted');
    expect(types).toContain('WorkflowFinished');

    const refused: Array<Record<string, unknown>> = [];
    await stream(
      server,
      '/v1/submit',
      { request: { version: 1, workflow_id: 'ghost', workflow_execution_id: 'ghost-1' } },
      (m) => void refused.push(m),
    );
    expect(refused.at(-1)).toMatchObject({ t: 'end', run: null, rejected: { reason: 'UnknownWorkflow' } });
  }, 60_000);

  it('a relayed command whose client leaves sees its output close and stops', async () => {
    const abort = new AbortController();
    let lines = 0;
    await stream(
      server,
      '/v1/relay',
      { argv: ['logs', 'x-1', '--follow'] },
      () => {
        if (++lines === 3) abort.abort();
      },
      abort.signal,
    );
    await until(() => followStopped, 'the relayed command to stop', 10_000);
  });

  it('relays a command: its bytes exactly, both streams, its exit code', async () => {
    const out = new PassThrough();
    const err = new PassThrough();
    const o: Buffer[] = [];
    let e = '';
    out.on('data', (c: Buffer) => o.push(c));
    err.on('data', (c) => {
      e += String(c);
    });
    const code = await relayCommand(server, ['logs', 'x-1'], { stdout: out, stderr: err });
    expect(code).toBe(7);
    expect(relayed.at(-1)).toEqual(['logs', 'x-1']);
    expect(Buffer.concat(o)).toEqual(Buffer.from([0xff, 0xfe, 0x41, 0xe2, 0x82, 0xac, 0x0a]));
    expect(e).toBe('on stderr\n');
  });
});

describe('control socket paths', () => {
  it('a home too deep for a socket path gets a short socket the home links to', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rsqlo-ctl-long-'));
    const home = path.join(dir, 'x'.repeat(60), 'y'.repeat(60), 'home');
    mkdirSync(home, { recursive: true });
    try {
      const p = socketPaths(home);
      expect(p.listen).not.toBe(p.inHome);
      expect(Buffer.byteLength(p.listen)).toBeLessThanOrEqual(100);
      const l = await listenControl(home, (_req, res) => res.end('{"pid":1,"url":"u"}'), {
        pid: 1,
        url: 'u',
        home,
        started_at: '',
      });
      expect((await findServer(home))?.socket).toBe(p.listen);
      await l.close();
      expect(await findServer(home)).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a socket file a killed server left is no server', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rsqlo-ctl-stale-'));
    try {
      const sock = path.join(dir, 'serve.sock');
      // A real process listens on it and is SIGKILLed: the file stays, nobody answers.
      const child = spawn(
        process.execPath,
        [
          '-e',
          `require('node:http').createServer((q, s) => s.end('{}')).listen(${JSON.stringify(sock)}, () => console.log('up'))`,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      await new Promise<void>((r) => child.stdout?.once('data', () => r()));
      expect(await findServer(dir)).toBeDefined();
      child.kill('SIGKILL');
      await new Promise<void>((r) => child.once('exit', () => r()));
      expect(existsSync(sock)).toBe(true);
      expect(await findServer(dir)).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
