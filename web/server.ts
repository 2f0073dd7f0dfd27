import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { z } from 'zod';
import { ExecutionId, toContractIssues, WorkflowId } from '../contracts/common.js';
import { PoolName } from '../contracts/operator.js';
import {
  ActionName,
  ActionRequest,
  type ActionResult,
  AttemptRef,
  DEFAULT_LOG_TAIL_LINES,
  MAX_HISTORY_LIMIT,
  MAX_LOG_TAIL_LINES,
  PoolSlotsRequest,
  type RunListPage,
  RunListQuery,
  type RunPage,
  type WorkflowPage,
} from '../contracts/run-view.js';
import { ACTION_SPECS, actionStates, jobActionStates } from './actions.js';
import { type AlertView, alertsPage } from './alerts.js';
import { clientAssets } from './assets.js';
import {
  BadQueryError,
  type LogSource,
  type PoolActions,
  type RunActions,
  type RunViewSource,
} from './ports.js';

export interface RunViewDeps {
  source: RunViewSource;
  logs: LogSource;
  /** Operator actions; those missing are shown as unavailable. Default: none. */
  actions?: RunActions;
  /** Resource pools (list, set slots); absent: the pools panel says they are not available here. */
  pools?: PoolActions;
  /** Who the actions are from (the audit's requested_by): `web:<os user>`. Default `rsqlo-web`. */
  requestedBy?: string;
  /** The recent alerts (`/alerts`, `/api/alerts`), newest first. Default: none listed. */
  alerts?: () => readonly AlertView[];
  /**
   * Host names (without port) the view answers to besides `localhost` and IP literals: a request
   * naming any other Host is refused, so a web page elsewhere cannot read the view through DNS
   * rebinding. Add the machine's name when serving beyond loopback.
   */
  allowedHosts?: string[];
  /** Seconds between keep-alive comments on live streams (default 15). */
  keepAliveSeconds?: number;
  /** The time (default Date.now); tests pin it. */
  now?: () => number;
  /** Hears failures that became a 500 (default: stderr). */
  onError?: (err: unknown, req: IncomingMessage) => void;
}

/** A request handler for `node:http` (or any server giving Node's request/response), and its cleanup. */
export interface RunViewHandler {
  (req: IncomingMessage, res: ServerResponse): void;
  /** Ends every live stream (server-sent events) so a server can close. */
  close(): void;
}

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

/**
 * The page every route serves: no data in it, only the client script and stylesheet. Everything
 * user-controlled (job names, error messages, log lines) reaches the page as JSON and is put in
 * the document as text by the client, never as markup; the CSP forbids inline scripts besides.
 */
export const SHELL = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rsqlo</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/app.css">
<script src="/assets/app.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top"><a class="brand" href="/">rsqlo</a><nav aria-label="Main"><a href="/">Runs</a></nav><span class="live" id="live" role="status" aria-live="polite">connecting…</span></header>
<main id="main" tabindex="-1"><p class="empty">Loading…</p></main>
<noscript><p>The run view needs JavaScript.</p></noscript>
</body>
</html>
`;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The web run view as a request handler (issue 12): pages at `/`, `/runs/<execution-id>` and
 * `/workflows/<workflow-id>`, their JSON under `/api/`, live updates as server-sent events, job
 * logs streamed with tail and follow, and the operator actions. Read-only but for the actions,
 * which need a same-origin JSON POST.
 */
export function createRunViewHandler(deps: RunViewDeps): RunViewHandler {
  const now = deps.now ?? Date.now;
  const actions = deps.actions ?? {};
  const keepAliveMs = (deps.keepAliveSeconds ?? 15) * 1000;
  const allowed = new Set((deps.allowedHosts ?? []).map((h) => h.toLowerCase()));
  const streams = new Set<() => void>();
  const onError =
    deps.onError ??
    ((err: unknown) =>
      process.stderr.write(`rsqlo view: ${err instanceof Error ? err.stack : String(err)}\n`));

  const iso = () => new Date(now()).toISOString();

  async function runPage(id: string): Promise<Omit<RunPage, 'now'> | undefined> {
    const detail = await deps.source.getRun(id);
    if (!detail) return undefined;
    return {
      ...detail,
      jobs: detail.jobs.map((j) => ({ ...j, actions: jobActionStates(detail, j, actions) })),
      actions: actionStates(detail, actions),
    };
  }

  async function runList(q: RunListQuery): Promise<Omit<RunListPage, 'now'>> {
    const [list, workflows] = await Promise.all([deps.source.listRuns(q), deps.source.listWorkflows()]);
    return { ...list, workflows: workflows.map((w) => w.workflow_id) };
  }

  async function workflowPage(id: string): Promise<Omit<WorkflowPage, 'now'> | undefined> {
    const [history, definition, workflows] = await Promise.all([
      deps.source.workflowHistory(id, MAX_HISTORY_LIMIT),
      deps.source.getDefinition(id),
      deps.source.listWorkflows(),
    ]);
    const known = workflows.find((w) => w.workflow_id === id);
    if (!known && history.length === 0 && !definition) return undefined;
    return {
      workflow_id: id,
      workflow_description: known?.workflow_description ?? null,
      history,
      definition: definition ?? null,
    };
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://view.invalid');
    const parts = url.pathname
      .split('/')
      .filter((p) => p !== '')
      .map(decodeSegment);
    const method = req.method ?? 'GET';
    if (parts[0] === 'api') {
      if (method === 'POST' && parts[1] === 'runs' && parts[3] === 'actions' && parts.length === 5)
        return action(req, res, id(parts[2]), parts[4] as string);
      if (method === 'POST' && parts[1] === 'pools' && parts[3] === 'slots' && parts.length === 4)
        return setPoolSlots(req, res, parts[2] as string);
      if ((method === 'GET' || method === 'HEAD') && parts[1] === 'pools' && parts.length === 2) {
        if (!deps.pools) throw new HttpError(404, 'pools are not available here');
        return json(res, 200, { pools: await deps.pools.list(), now: iso() });
      }
      if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, `${method} is not allowed here`);
      const sse = url.searchParams.get('live') === '1';
      if (parts[1] === 'runs' && parts.length === 2) {
        const q = parseQuery(url);
        if (sse) return live(req, res, async () => runList(q));
        return json(res, 200, { ...(await runList(q)), now: iso() });
      }
      if (parts[1] === 'runs' && parts.length === 3) {
        const exec = id(parts[2]);
        if (sse) return live(req, res, async () => runPage(exec));
        const page = await runPage(exec);
        if (!page) throw new HttpError(404, `no run ${exec}`);
        return json(res, 200, { ...page, now: iso() });
      }
      if (
        parts[1] === 'runs' &&
        parts[3] === 'jobs' &&
        parts[5] === 'attempts' &&
        parts[7] === 'log' &&
        parts.length === 8
      )
        return log(req, res, url, parts);
      if (parts[1] === 'workflows' && parts.length === 2)
        return json(res, 200, { workflows: await deps.source.listWorkflows(), now: iso() });
      if (parts[1] === 'workflows' && parts.length === 3) {
        const wf = workflowId(parts[2]);
        if (sse) return live(req, res, async () => workflowPage(wf));
        const page = await workflowPage(wf);
        if (!page) throw new HttpError(404, `no workflow ${wf}`);
        return json(res, 200, { ...page, now: iso() });
      }
      if (parts[1] === 'alerts' && parts.length === 2)
        return json(res, 200, { alerts: deps.alerts?.() ?? [], now: iso() });
      throw new HttpError(404, 'no such API');
    }
    if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, `${method} is not allowed here`);
    if (parts[0] === 'assets' && parts.length === 2) {
      const a = await clientAssets();
      if (parts[1] === 'app.js') return send(res, 200, 'text/javascript; charset=utf-8', a.js, 'no-cache');
      if (parts[1] === 'app.css') return send(res, 200, 'text/css; charset=utf-8', a.css, 'no-cache');
      throw new HttpError(404, 'no such asset');
    }
    const page =
      parts.length === 0 ||
      (parts.length === 2 && parts[0] === 'runs' && ExecutionId.safeParse(parts[1]).success) ||
      (parts.length === 2 && parts[0] === 'workflows' && WorkflowId.safeParse(parts[1]).success);
    if (page) return send(res, 200, 'text/html; charset=utf-8', SHELL, 'no-cache');
    if (parts.length === 1 && parts[0] === 'alerts')
      return send(res, 200, 'text/html; charset=utf-8', alertsPage(deps.alerts?.() ?? []), 'no-store');
    if (parts[0] === 'favicon.ico') return send(res, 204, 'text/plain', '', 'max-age=86400');
    return send(res, 404, 'text/html; charset=utf-8', SHELL, 'no-cache');
  }

  async function action(
    req: IncomingMessage,
    res: ServerResponse,
    exec: string,
    name: string,
  ): Promise<void> {
    checkSameOrigin(req);
    const parsed = ActionName.safeParse(name);
    if (!parsed.success) throw new HttpError(404, `no action "${name}"`);
    const body = parseBody(ActionRequest, await readSmallBody(req));
    const detail = await deps.source.getRun(exec);
    if (!detail) throw new HttpError(404, `no run ${exec}`);
    const spec = ACTION_SPECS[parsed.data];
    let job: (typeof detail.jobs)[number] | undefined;
    if (spec.scope === 'job') {
      if (!body.job_key) throw new HttpError(400, `${parsed.data} acts on one job: the body needs job_key`);
      job = detail.jobs.find((j) => j.job_key === body.job_key);
      if (!job) throw new HttpError(404, `run ${exec} has no job ${body.job_key}`);
      if (spec.needsReason && !body.reason)
        throw new HttpError(400, `${spec.label} needs a reason (it is kept in the audit)`);
    } else if (body.job_key) throw new HttpError(400, `${parsed.data} acts on the run: no job_key`);
    const impl = actions[parsed.data];
    const why = impl ? spec.unavailable(detail, job, body.reason) : 'not available here';
    if (why !== undefined || !impl) {
      const r: ActionResult = {
        ok: false,
        message: `cannot ${parsed.data}${job ? ` job ${job.job_key} of` : ''} ${exec}: ${why}`,
        execution_id: null,
      };
      return json(res, 409, r);
    }
    const result = await impl(exec, {
      requestedBy: deps.requestedBy ?? 'rsqlo-web',
      ...(body.job_key ? { jobKey: body.job_key } : {}),
      ...(body.reason ? { reason: body.reason } : {}),
    });
    return json(res, result.ok ? 200 : 409, result);
  }

  async function setPoolSlots(req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
    checkSameOrigin(req);
    if (!deps.pools) throw new HttpError(404, 'pools are not available here');
    const pool = PoolName.safeParse(name);
    if (!pool.success) throw new HttpError(400, `pool name "${name}" ${pool.error.issues[0]?.message}`);
    const body = parseBody(PoolSlotsRequest, await readSmallBody(req));
    const result = await deps.pools.setSlots(pool.data, body.slots, {
      requestedBy: deps.requestedBy ?? 'rsqlo-web',
      ...(body.reason ? { reason: body.reason } : {}),
    });
    return json(res, result.ok ? 200 : 409, result);
  }

  async function log(req: IncomingMessage, res: ServerResponse, url: URL, parts: string[]): Promise<void> {
    const ref = AttemptRef.safeParse({
      workflow_execution_id: parts[2],
      job_key: parts[4],
      attempt: Number(parts[6]),
    });
    if (!ref.success) throw invalid(ref.error);
    const detail = await deps.source.getRun(ref.data.workflow_execution_id);
    const job = detail?.jobs.find((j) => j.job_key === ref.data.job_key);
    if (!job?.attempts.some((a) => a.attempt === ref.data.attempt))
      throw new HttpError(
        404,
        `no attempt ${ref.data.attempt} of job ${ref.data.job_key} in ${ref.data.workflow_execution_id}`,
      );
    const tailParam = url.searchParams.get('tail');
    const tail =
      tailParam === null ? DEFAULT_LOG_TAIL_LINES : tailParam === 'all' ? undefined : Number(tailParam);
    if (tail !== undefined && (!Number.isInteger(tail) || tail < 0 || tail > MAX_LOG_TAIL_LINES))
      throw new HttpError(400, `tail must be "all" or a whole number from 0 to ${MAX_LOG_TAIL_LINES}`);
    const resume = header(req, 'last-event-id') ?? url.searchParams.get('cursor') ?? undefined;
    const follow = url.searchParams.get('follow') === '1';
    const stream = openStream(res);
    try {
      for await (const ev of deps.logs.stream(ref.data, {
        tailLines: resume === undefined ? tail : undefined,
        cursor: resume,
        follow,
        signal: stream.signal,
      })) {
        const id = ev.kind === 'lines' ? ev.cursor : undefined;
        if (!(await stream.send(ev.kind, ev, id))) return;
        if (ev.kind === 'end') break;
      }
    } finally {
      stream.end();
    }
  }

  /**
   * A live view: sends the data at once, then again whenever the source signals a change and the
   * data differs from what was sent (so an idle page costs one comparison per change). `undefined`
   * (not found) is sent as a `missing` event; the stream stays open in case it appears.
   */
  async function live(
    req: IncomingMessage,
    res: ServerResponse,
    load: () => Promise<object | undefined>,
  ): Promise<void> {
    const stream = openStream(res);
    let last: string | undefined;
    let running = false;
    let again = false;
    const refresh = async () => {
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        do {
          again = false;
          const data = await load();
          const key = data === undefined ? 'missing' : JSON.stringify(data);
          if (key === last) continue;
          last = key;
          const ok =
            data === undefined
              ? await stream.send('missing', { now: iso() })
              : await stream.send('snapshot', { ...data, now: iso() });
          if (!ok) return;
        } while (again && !stream.signal.aborted);
      } catch (err) {
        onError(err, req);
        await stream.send('problem', {
          message: 'the view could not read the engine state; retrying on the next change',
        });
      } finally {
        running = false;
      }
    };
    const off = deps.source.changes.subscribe(() => void refresh());
    stream.signal.addEventListener('abort', off, { once: true });
    await refresh();
  }

  function openStream(res: ServerResponse) {
    const ac = new AbortController();
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
      connection: 'keep-alive',
    });
    res.write('retry: 2000\n\n');
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), keepAliveMs);
    keepAlive.unref();
    const end = () => {
      if (ac.signal.aborted) return;
      ac.abort();
      clearInterval(keepAlive);
      streams.delete(end);
      res.end();
    };
    streams.add(end);
    // The response closes when the reader goes away (or we end it); the request's own 'close'
    // says nothing about the connection once its (empty) body is read.
    res.on('close', end);
    return {
      signal: ac.signal,
      end,
      /** Writes one event; waits while the reader is slow. False when the reader is gone. */
      async send(event: string, data: unknown, id?: string): Promise<boolean> {
        if (ac.signal.aborted) return false;
        const body = `event: ${event}\n${id !== undefined ? `id: ${id}\n` : ''}data: ${JSON.stringify(data)}\n\n`;
        if (res.write(body)) return true;
        await new Promise<void>((resolve) => {
          const done = () => {
            res.off('drain', done);
            ac.signal.removeEventListener('abort', done);
            resolve();
          };
          res.on('drain', done);
          ac.signal.addEventListener('abort', done, { once: true });
        });
        return !ac.signal.aborted;
      },
    };
  }

  function checkHost(req: IncomingMessage): void {
    const host = header(req, 'host');
    if (!host) throw new HttpError(400, 'a Host header is required');
    const name = hostName(host);
    if (name === undefined || !(isLoopbackName(name) || isIpLiteral(name) || allowed.has(name)))
      throw new HttpError(403, `this view does not answer to host "${host}" (add it with allowedHosts)`);
  }

  function checkSameOrigin(req: IncomingMessage): void {
    const origin = header(req, 'origin');
    const host = header(req, 'host');
    if (origin !== undefined && origin !== `http://${host}` && origin !== `https://${host}`)
      throw new HttpError(403, 'actions are accepted from this view\u2019s own pages only');
    const site = header(req, 'sec-fetch-site');
    if (site !== undefined && site !== 'same-origin' && site !== 'none')
      throw new HttpError(403, 'actions are accepted from this view\u2019s own pages only');
    // A JSON body cannot be sent cross-site without a CORS preflight, which this server never grants.
    if (!/^application\/json\b/i.test(header(req, 'content-type') ?? ''))
      throw new HttpError(415, 'actions take a JSON body (content-type: application/json)');
  }

  const handler = ((req: IncomingMessage, res: ServerResponse) => {
    (async () => {
      checkHost(req);
      await route(req, res);
    })().catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof HttpError) return problem(req, res, err.status, err.message);
      if (err instanceof BadQueryError) return problem(req, res, 400, err.message);
      onError(err, req);
      problem(req, res, 500, 'the view could not read the engine state');
    });
  }) as RunViewHandler;
  handler.close = () => {
    for (const end of [...streams]) end();
  };
  return handler;
}

function problem(req: IncomingMessage, res: ServerResponse, status: number, message: string): void {
  if ((req.url ?? '').startsWith('/api/')) json(res, status, { error: message });
  else send(res, status, 'text/plain; charset=utf-8', `${message}\n`, 'no-store');
}

function json(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(body), 'no-store');
}

function send(res: ServerResponse, status: number, type: string, body: string, cache: string): void {
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'content-type': type,
    'cache-control': cache,
    'content-length': Buffer.byteLength(body),
  });
  res.end(res.req?.method === 'HEAD' ? undefined : body);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new HttpError(400, 'malformed URL');
  }
}

function id(s: string | undefined): string {
  const r = ExecutionId.safeParse(s);
  if (!r.success) throw new HttpError(400, `not an execution id: ${r.error.issues[0]?.message}`);
  return r.data;
}

function workflowId(s: string | undefined): string {
  const r = WorkflowId.safeParse(s);
  if (!r.success) throw new HttpError(400, `not a workflow id: ${r.error.issues[0]?.message}`);
  return r.data;
}

function parseQuery(url: URL): RunListQuery {
  const raw: Record<string, string> = {};
  for (const [k, v] of url.searchParams) {
    if (k === 'live' || v === '') continue;
    raw[k === 'workflow' ? 'workflow_id' : k] = v;
  }
  const r = RunListQuery.safeParse(raw);
  if (!r.success) throw invalid(r.error);
  return r.data;
}

/** A 400 that names each problem of a request that failed its contract ("path: message; …"). */
function invalid(error: z.ZodError): HttpError {
  return new HttpError(
    400,
    toContractIssues(error)
      .map((i) => `${i.path}: ${i.message}`)
      .join('; '),
  );
}

/** An action's JSON body checked against its schema (an empty body is `{}`); 400 names the problem. */
function parseBody<T>(schema: z.ZodType<T>, text: string): T {
  let value: unknown = {};
  if (text.trim() !== '') {
    try {
      value = JSON.parse(text);
    } catch {
      throw new HttpError(400, 'the body is not JSON');
    }
  }
  const r = schema.safeParse(value);
  if (!r.success) throw invalid(r.error);
  return r.data;
}

async function readSmallBody(req: IncomingMessage): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 4096) throw new HttpError(413, 'request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function hostName(host: string): string | undefined {
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d+))?$/i.exec(host.trim());
  return m?.[1]?.toLowerCase();
}

function isLoopbackName(name: string): boolean {
  return name === 'localhost' || name.endsWith('.localhost');
}

function isIpLiteral(name: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(name) || /^\[[0-9a-f:.]+\]$/i.test(name);
}

/** A server around the handler; `listen` resolves with its URL. `close` ends live streams first. */
export function createRunViewServer(deps: RunViewDeps): {
  server: Server;
  handler: RunViewHandler;
  listen(port?: number, host?: string): Promise<string>;
  close(): Promise<void>;
} {
  const handler = createRunViewHandler(deps);
  const server = createServer(handler);
  // Prepare the client bundle while the server starts, so the first page is quick.
  void clientAssets().catch(() => {});
  return {
    server,
    handler,
    listen(port = 0, host = '127.0.0.1') {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const a = server.address() as AddressInfo;
          const h = a.family === 'IPv6' ? `[${a.address}]` : a.address;
          resolve(`http://${h}:${a.port}`);
        });
      });
    },
    close() {
      handler.close();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
