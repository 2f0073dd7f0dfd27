/**
 * The control socket of `rsqlo serve`: HTTP over a Unix socket inside the home (`<home>/serve.sock`,
 * mode 0600), through which `rsqlo run`, `restart`, `kill`, `status`, `runs` and `logs` talk to the
 * server that owns the home. No TCP port is opened for it. Both sides live here: the server's
 * request handler (over the engine) and the client's calls.
 *
 * Requests and answers are JSON; long answers (following a run, relaying a command's output) are
 * newline-delimited JSON, one message a line, ending with an `end` message.
 */
import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  readFileSync,
  readlinkSync,
  renameSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { JobAuditRecord, WorkflowAuditRecord } from '../../contracts/audit.js';
import { ContractError } from '../../contracts/common.js';
import { eventIds, OPERATOR_REQUEST_TYPES } from '../../contracts/events.js';
import { validateDefinition } from '../../contracts/workflow.js';
import type { EventEnvelope } from '../../events/envelope.js';
import type { LocalEngine, OperatorRequest } from './engine.js';

/**
 * How the engine answered an operator request, read from the events it commits: the outcome
 * event (`applied`), an OperatorActionRejected for this request (`rejected`), or nothing yet.
 * The same matcher serves the server (`/v1/action`) and the CLI driving its own engine.
 */
export function operatorOutcome(
  request: OperatorRequest,
  e: EventEnvelope,
): { kind: 'applied' } | { kind: 'rejected'; reason: string; message: string } | undefined {
  const r = request.detail as Record<string, unknown>;
  const d = e.detail as Record<string, unknown>;
  const requestId = String(r.event_id ?? '');
  const type = e['detail-type'];
  if (type === 'OperatorActionRejected') {
    if (requestId && d.event_id === eventIds.operatorActionRejected(requestId))
      return { kind: 'rejected', reason: String(d.reason), message: String(d.message) };
    return undefined;
  }
  const sameJob = d.workflow_execution_id === r.workflow_execution_id && d.job_key === r.job_key;
  const attempt = Number(r.attempt);
  const target = {
    workflow_id: String(r.workflow_id),
    workflow_execution_id: (r.workflow_execution_id as string | undefined) ?? null,
  };
  switch (request.detailType) {
    case 'JobSetOkRequested':
      return type === 'JobSetOk' && sameJob && d.attempt === attempt ? { kind: 'applied' } : undefined;
    case 'JobRerunRequested':
      return type === 'JobRerunStarted' && sameJob && d.attempt === attempt + 1
        ? { kind: 'applied' }
        : undefined;
    case 'JobBypassRequested':
      return type === 'JobBypassed' && sameJob && d.attempt === attempt ? { kind: 'applied' } : undefined;
    case 'HoldRequested':
      return type === 'RunHeld' && d.event_id === eventIds.runHeld(target, requestId)
        ? { kind: 'applied' }
        : undefined;
    case 'FreeRequested':
      return type === 'RunFreed' && d.event_id === eventIds.runFreed(target, requestId)
        ? { kind: 'applied' }
        : undefined;
    case 'PoolResizeRequested':
      return type === 'PoolResized' && d.event_id === eventIds.poolResized(String(r.pool), requestId)
        ? { kind: 'applied' }
        : undefined;
  }
}

/** What `/v1/action` takes: the request, and the run to follow to its end (null: just the answer). */
export interface ActionSubmission {
  request: OperatorRequest;
  follow: string | null;
}

/** The socket's name in the home. */
export const SOCKET_NAME = 'serve.sock';
/** Who serves the home (pid, URL), for messages; removed when the server stops. */
export const SERVE_INFO = 'serve.json';

/** The longest Unix socket path every platform takes (macOS: 104 bytes with the terminator). */
const MAX_SOCKET_PATH = 100;

export interface ServeInfo {
  pid: number;
  url: string;
  socket: string;
  home: string;
  started_at: string;
}

/**
 * Where the server listens: `<home>/serve.sock`, or, when that path is too long for a socket, a
 * short one in the temp folder that `<home>/serve.sock` links to.
 */
export function socketPaths(home: string): { inHome: string; listen: string } {
  const inHome = path.join(home, SOCKET_NAME);
  if (Buffer.byteLength(inHome) <= MAX_SOCKET_PATH) return { inHome, listen: inHome };
  const hash = createHash('sha256').update(path.resolve(home)).digest('hex').slice(0, 16);
  return { inHome, listen: path.join(tmpdir(), `rsqlo-${hash}.sock`) };
}

/** The path a client connects to (the link's target when the home's path is too long). */
function connectPath(home: string): string | undefined {
  const p = path.join(home, SOCKET_NAME);
  try {
    const st = lstatSync(p);
    if (st.isSymbolicLink()) return readlinkSync(p);
    return Buffer.byteLength(p) <= MAX_SOCKET_PATH ? p : undefined;
  } catch {
    return undefined;
  }
}

/** Reads `<home>/serve.json` (undefined when absent or unreadable). */
export function readServeInfo(home: string): ServeInfo | undefined {
  try {
    return JSON.parse(readFileSync(path.join(home, SERVE_INFO), 'utf8')) as ServeInfo;
  } catch {
    return undefined;
  }
}

// ---- server side ---------------------------------------------------------------------------

/** Where a relayed command writes. */
export interface RelayIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

export interface ControlDeps {
  engine: LocalEngine;
  info: () => ServeInfo;
  /**
   * Runs a read-only rsqlo command (`status`, `runs`, `history`, `logs`) here, writing to `io`,
   * and returns its exit code. `signal` aborts when the client goes away.
   */
  relay: (argv: string[], io: RelayIo, signal: AbortSignal) => Promise<number>;
  /** Hears requests that change something, for the server's output. */
  notify?: (line: string) => void;
  /** How long open runs may stay with nothing to do before a follower is told (default 2000 ms). */
  stuckAfterMs?: number;
}

/** What `/v1/submit` takes: a definition to store (optional) and the request to publish. */
export interface Submission {
  /** `file`: where the client read it (null: not from a file); given, it is kept as the run's definition. */
  definition?: { body: unknown; script_root: string; file?: string | null };
  request: Record<string, unknown> & { workflow_id: string; workflow_execution_id: string };
}

/** How a followed run ended, as the server tells the client. */
export interface FollowEnd {
  t: 'end';
  run: WorkflowAuditRecord | null;
  jobs: JobAuditRecord[];
  rejected: { reason: string; message: string } | null;
  stuck: Array<{ at: string; source: string; error: string }> | null;
  halted: string | null;
  stopping: boolean;
}

export type FollowMessage =
  | { t: 'event'; event: EventEnvelope }
  /** Why the run waits for a person (held, a pool without a free slot), once per reason. */
  | { t: 'note'; line: string }
  | { t: 'state'; run: WorkflowAuditRecord | null; jobs: JobAuditRecord[] }
  | FollowEnd;

const READ_COMMANDS = new Set(['status', 'runs', 'history', 'logs', 'pool']);
const MAX_BODY = 4 << 20;

class BadRequest extends Error {
  override name = 'BadRequest';
}

async function body(req: IncomingMessage): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new BadRequest('request too large');
    chunks.push(c as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new BadRequest('the request is not JSON');
  }
}

function json(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

/**
 * The server's control handler. Followers of runs are ended (with `stopping: true`) by `close()`.
 */
export function createControlHandler(deps: ControlDeps) {
  const { engine } = deps;
  const open = new Set<() => void>();
  let closing = false;

  /** Streams a run's events and state until it settles (or is refused, stuck, or the server stops). */
  function follow(
    exec: string,
    req: IncomingMessage,
    res: ServerResponse,
    before?: () => void,
    operator?: OperatorRequest,
  ): void {
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    const send = (m: FollowMessage) => {
      if (!res.writableEnded) res.write(`${JSON.stringify(m)}\n`);
    };
    let rejected: FollowEnd['rejected'] = null;
    // An operator request: a run that has ended (set-ok of a Failed run) is not settled until the
    // request was answered (its outcome or refusal seen) or at least delivered (the outbox empty).
    let answered = operator === undefined;
    const unsubscribe = engine.store.onCommittedEvent((e) => {
      const d = e.detail as { workflow_execution_id?: string; reason?: string; message?: string };
      if (operator) {
        const out = operatorOutcome(operator, e);
        if (out) answered = true;
        if (out?.kind === 'rejected') rejected = { reason: out.reason, message: out.message };
      }
      if (d.workflow_execution_id !== exec) return;
      if (e['detail-type'] === 'WorkflowRejected')
        rejected = { reason: String(d.reason ?? ''), message: String(d.message ?? '') };
      send({ t: 'event', event: e });
    });
    let last = '';
    const told = new Set<string>();
    let quietSince: number | undefined;
    const finish = (extra: Partial<FollowEnd>) => {
      cleanup();
      const run = safeRun();
      send({
        t: 'end',
        run: run?.run ?? null,
        jobs: run?.jobs ?? [],
        rejected,
        stuck: null,
        halted: engine.halted ? engine.halted.message : null,
        stopping: false,
        ...extra,
      });
      res.end();
    };
    const safeRun = () => {
      try {
        const run = engine.getRun(exec);
        return { run: run ?? null, jobs: run ? engine.store.listJobsSync(exec) : [] };
      } catch {
        return undefined; // the store is busy just now; the next look tries again
      }
    };
    const look = () => {
      const now = safeRun();
      if (now) {
        const text = JSON.stringify(now);
        if (text !== last) {
          last = text;
          send({ t: 'state', ...now });
        }
      }
      if (rejected) return finish({});
      if (engine.halted) return finish({});
      let settled = false;
      try {
        if (!answered && engine.store.outboxSize() === 0) answered = true;
        settled = answered && engine.isSettled(exec);
      } catch {
        return;
      }
      if (settled) return finish({});
      // A held run, or one waiting for a pool slot, waits for a person: not stuck; said once.
      let waiting: string | null = null;
      try {
        waiting = now?.run && engine.isQuiet() ? engine.isWaiting(exec) : null;
      } catch {
        // busy just now
      }
      if (waiting !== null && !told.has(waiting)) {
        told.add(waiting);
        send({ t: 'note', line: waiting });
      }
      if (now?.run && waiting === null && engine.isQuiet()) {
        quietSince ??= Date.now();
        if (Date.now() - quietSince >= (deps.stuckAfterMs ?? 2000))
          finish({
            stuck: engine.store.deadLetters(5).map(({ at, source, error }) => ({ at, source, error })),
          });
      } else quietSince = undefined;
    };
    const timer = setInterval(look, 150);
    const stop = () => finish({ stopping: true });
    open.add(stop);
    function cleanup() {
      clearInterval(timer);
      unsubscribe();
      open.delete(stop);
    }
    req.on('close', () => {
      if (!res.writableEnded) cleanup();
    });
    try {
      before?.();
    } catch (err) {
      cleanup();
      res.end(
        `${JSON.stringify({ t: 'error', message: err instanceof Error ? err.message : String(err) })}\n`,
      );
    }
  }

  async function submit(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const sub = (await body(req)) as Submission;
    const exec = sub?.request?.workflow_execution_id;
    if (typeof exec !== 'string' || typeof sub.request.workflow_id !== 'string')
      throw new BadRequest('a submission needs request.workflow_id and request.workflow_execution_id');
    let def: ReturnType<typeof validateDefinition> | undefined;
    if (sub.definition) {
      def = validateDefinition(sub.definition.body);
      if (!def.ok)
        throw new BadRequest(
          `invalid definition: ${def.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
        );
      if (typeof sub.definition.script_root !== 'string' || !path.isAbsolute(sub.definition.script_root))
        throw new BadRequest('definition.script_root must be an absolute path');
    }
    follow(exec, req, res, () => {
      if (def?.ok && sub.definition) {
        // Kept as this run's definition (and the file it came from) when the client said where from.
        const file = sub.definition.file;
        engine.putDefinition(
          def.definition,
          sub.definition.script_root,
          file !== undefined ? { exec, file: typeof file === 'string' ? file : null } : undefined,
        );
      }
      engine.request(sub.request as Parameters<LocalEngine['request']>[0]);
      deps.notify?.(
        `${sub.request.restart_of ? `restart of ${String(sub.request.restart_of)}` : `run of ${sub.request.workflow_id}`} requested as ${exec} (${String(sub.request.requested_by ?? 'rsqlo-cli')})`,
      );
    });
  }

  async function kill(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const b = (await body(req)) as { execution_id?: unknown; reason?: unknown; requested_by?: unknown };
    const exec = b?.execution_id;
    if (typeof exec !== 'string') throw new BadRequest('kill needs execution_id');
    const run = engine.getRun(exec);
    if (!run) return json(res, 404, { message: `no run ${exec}` });
    if (run.execution_status !== 'Running')
      return json(res, 200, { status: run.execution_status, already: true });
    engine.cancel({
      version: 1,
      workflow_id: run.workflow_id,
      workflow_execution_id: exec,
      reason: typeof b.reason === 'string' ? b.reason : 'rsqlo kill',
      requested_by: typeof b.requested_by === 'string' ? b.requested_by : 'rsqlo-cli',
    });
    deps.notify?.(`kill of ${exec} requested`);
    // The answer waits for the run to settle, as `rsqlo kill` without a server does.
    follow(exec, req, res);
  }

  /**
   * An operator request (set-ok, rerun, bypass, hold, free, pool set): published like a kill.
   * With `follow`, the run is streamed until it settles (as `/v1/submit`); else the answer is the
   * outcome event (or the refusal) as soon as the engine has handled the request.
   */
  async function action(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const b = (await body(req)) as Partial<ActionSubmission>;
    const request = b?.request;
    if (
      !request ||
      typeof request !== 'object' ||
      !(OPERATOR_REQUEST_TYPES as readonly string[]).includes(String(request.detailType))
    )
      throw new BadRequest(`an action needs request.detailType, one of ${OPERATOR_REQUEST_TYPES.join(', ')}`);
    const follows = typeof b.follow === 'string' ? b.follow : null;
    const publish = () => {
      try {
        engine.operator(request);
      } catch (err) {
        if (err instanceof ContractError) throw new BadRequest(err.message);
        throw err;
      }
      const d = request.detail as { requested_by?: string };
      deps.notify?.(`${request.detailType} from ${d.requested_by ?? 'someone'}`);
    };
    if (follows !== null) {
      const exec = follows;
      if (!engine.getRun(exec)) return json(res, 404, { message: `no run ${exec}` });
      // Checked before the answer starts, so a bad request is a 400, not a broken stream.
      publish();
      return follow(exec, req, res, undefined, request);
    }
    publish();
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    const send = (m: Record<string, unknown>) => {
      if (!res.writableEnded) res.write(`${JSON.stringify(m)}\n`);
    };
    let outcome: { event: EventEnvelope; rejected: { reason: string; message: string } | null } | undefined;
    const unsubscribe = engine.store.onCommittedEvent((e) => {
      const out = operatorOutcome(request, e);
      if (!out || outcome) return;
      outcome = {
        event: e,
        rejected: out.kind === 'rejected' ? { reason: out.reason, message: out.message } : null,
      };
    });
    const finish = (stopping: boolean) => {
      clearInterval(timer);
      unsubscribe();
      open.delete(stop);
      send({ t: 'end', event: outcome?.event ?? null, rejected: outcome?.rejected ?? null, stopping });
      res.end();
    };
    const timer = setInterval(() => {
      try {
        if (outcome || engine.store.outboxSize() === 0) finish(false);
      } catch {
        // busy just now: the next look tries again
      }
    }, 50);
    const stop = () => finish(true);
    open.add(stop);
    req.on('close', () => {
      if (!res.writableEnded) {
        clearInterval(timer);
        unsubscribe();
        open.delete(stop);
      }
    });
  }

  async function relay(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const b = (await body(req)) as { argv?: unknown };
    const argv = b?.argv;
    if (
      !Array.isArray(argv) ||
      !argv.every((a) => typeof a === 'string') ||
      !READ_COMMANDS.has(String(argv[0])) ||
      // `pool list` is read-only; `pool set` goes through /v1/action
      (argv[0] === 'pool' && argv[1] !== 'list')
    )
      throw new BadRequest(`relay takes one of ${[...READ_COMMANDS].join(', ')} with its arguments`);
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    const abort = new AbortController();
    req.on('close', () => abort.abort());
    res.on('close', () => abort.abort());
    // Output as base64 frames: a log's bytes go through whole, whatever their encoding, and the
    // client's backpressure reaches the command (a slow reader slows the reading).
    const stream = (fd: 1 | 2) =>
      new Writable({
        write(chunk: Buffer | string, _enc, cb) {
          if (res.writableEnded || abort.signal.aborted) return cb();
          const b = (typeof chunk === 'string' ? Buffer.from(chunk) : chunk).toString('base64');
          if (res.write(`${JSON.stringify({ fd, b })}\n`)) return cb();
          const go = () => {
            res.off('drain', go);
            res.off('close', go);
            cb();
          };
          res.on('drain', go);
          res.on('close', go);
        },
      });
    const out = { stdout: stream(1), stderr: stream(2) };
    for (const w of [out.stdout, out.stderr]) w.on('error', () => {});
    // The client went away: the command sees its output closed (as with EPIPE) and stops; a
    // `logs --follow` would otherwise go on reading until the run ends.
    abort.signal.addEventListener(
      'abort',
      () => {
        for (const w of [out.stdout, out.stderr]) w.destroy(new Error('the client went away'));
      },
      { once: true },
    );
    const code = await deps.relay(argv as string[], out, abort.signal);
    if (!res.writableEnded) res.end(`${JSON.stringify({ t: 'end', code })}\n`);
  }

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const route = `${req.method} ${req.url?.split('?')[0]}`;
    const done = (p: Promise<void>) =>
      p.catch((err: unknown) => {
        if (res.headersSent) {
          res.end();
          return;
        }
        json(res, err instanceof BadRequest ? 400 : 500, {
          message: err instanceof Error ? err.message : String(err),
        });
      });
    if (closing) return json(res, 503, { message: 'the server is stopping' });
    switch (route) {
      case 'GET /v1/hello':
        return json(res, 200, deps.info());
      case 'POST /v1/submit':
        return void done(submit(req, res));
      case 'POST /v1/kill':
        return void done(kill(req, res));
      case 'POST /v1/action':
        return void done(action(req, res));
      case 'POST /v1/relay':
        return void done(relay(req, res));
      default:
        return json(res, 404, { message: `no such request: ${route}` });
    }
  };
  return Object.assign(handler, {
    /** Ends every follower (telling it the server stops) and refuses new requests. */
    close() {
      closing = true;
      for (const stop of [...open]) stop();
    },
  });
}

/**
 * Listens on the home's control socket. The caller owns the home (the engine lock), so a socket
 * file already there is a dead server's and is replaced. Returns a function that closes it.
 */
export async function listenControl(
  home: string,
  handler: http.RequestListener,
  info: Omit<ServeInfo, 'socket'>,
): Promise<{ server: http.Server; socket: string; close(): Promise<void> }> {
  const { inHome, listen } = socketPaths(home);
  for (const p of new Set([inHome, listen])) {
    try {
      unlinkSync(p);
    } catch {
      // not there
    }
  }
  const server = http.createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ path: listen, readableAll: false, writableAll: false }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // Only the home's owner may ask the engine to run things.
  const { chmodSync } = await import('node:fs');
  chmodSync(listen, 0o600);
  if (listen !== inHome) symlinkSync(listen, inHome);
  const full: ServeInfo = { ...info, socket: listen };
  const infoFile = path.join(home, SERVE_INFO);
  writeFileSync(`${infoFile}.tmp`, `${JSON.stringify(full, null, 2)}\n`);
  renameSync(`${infoFile}.tmp`, infoFile);
  return {
    server,
    socket: listen,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      for (const p of new Set([inHome, listen, infoFile])) {
        try {
          unlinkSync(p);
        } catch {
          // gone
        }
      }
    },
  };
}

// ---- client side ---------------------------------------------------------------------------

/** A server that answered on the home's socket. */
export interface ServerHandle {
  socket: string;
  info: ServeInfo;
}

/**
 * The server owning `home`, if one answers on its socket. A socket file nobody listens on (a
 * server that was killed) answers nothing: undefined, and the caller goes on without a server.
 */
export async function findServer(home: string, timeoutMs = 3000): Promise<ServerHandle | undefined> {
  const socket = connectPath(home);
  if (!socket || !existsSync(socket)) return undefined;
  try {
    const r = await call(socket, 'GET', '/v1/hello', undefined, timeoutMs);
    if (r.status !== 200) return undefined;
    return { socket, info: JSON.parse(r.text) as ServeInfo };
  } catch {
    return undefined;
  }
}

function call(
  socket: string,
  method: string,
  urlPath: string,
  payload: unknown,
  timeoutMs?: number,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath: socket, method, path: urlPath, headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      },
    );
    if (timeoutMs) req.setTimeout(timeoutMs, () => req.destroy(new Error('the server did not answer')));
    req.on('error', reject);
    req.end(payload === undefined ? undefined : JSON.stringify(payload));
  });
}

/** Thrown when the connection to the server broke before its answer ended (the server died). */
export class ServerLostError extends Error {
  override name = 'ServerLostError';
}

/**
 * A streaming request: calls `onMessage` for each line of the answer; resolves when the answer
 * ends. An answer that is not 200 is thrown with its message; a broken connection is a
 * ServerLostError. `signal` ends the request (the caller left).
 */
export function stream(
  server: ServerHandle,
  urlPath: string,
  payload: unknown,
  onMessage: (m: Record<string, unknown>) => void | Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let ended = false;
    const req = http.request(
      {
        socketPath: server.socket,
        method: 'POST',
        path: urlPath,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        if (res.statusCode !== 200) {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c) => {
            text += c;
          });
          res.on('end', () => {
            let message = text;
            try {
              message = (JSON.parse(text) as { message: string }).message;
            } catch {
              // not JSON
            }
            reject(new Error(message || `the server answered ${res.statusCode}`));
          });
          return;
        }
        res.setEncoding('utf8');
        void (async () => {
          let buf = '';
          for await (const chunk of res) {
            buf += chunk as string;
            for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
              const line = buf.slice(0, i);
              buf = buf.slice(i + 1);
              if (!line) continue;
              const m = JSON.parse(line) as Record<string, unknown>;
              if (m.t === 'end') ended = true;
              await onMessage(m);
            }
          }
        })().then(
          () =>
            ended || signal?.aborted
              ? resolve()
              : reject(new ServerLostError('the server stopped answering')),
          (err: unknown) =>
            signal?.aborted
              ? resolve()
              : reject(
                  err instanceof SyntaxError
                    ? err
                    : new ServerLostError(err instanceof Error ? err.message : String(err)),
                ),
        );
      },
    );
    req.on('error', (err) => {
      if (signal?.aborted) resolve();
      else reject(new ServerLostError(err.message));
    });
    signal?.addEventListener('abort', () => req.destroy(), { once: true });
    req.end(JSON.stringify(payload));
  });
}

/** Writes to a stream, waiting for it to drain; false once it is gone (EPIPE: `| head`). */
async function put(out: NodeJS.WritableStream, data: Buffer): Promise<boolean> {
  if (out.write(data)) return true;
  await new Promise<void>((resolve) => {
    const go = () => {
      out.off('drain', go);
      out.off('error', go);
      out.off('close', go);
      resolve();
    };
    out.on('drain', go);
    out.on('error', go);
    out.on('close', go);
  });
  return out.writable !== false;
}

/** Runs a read-only command in the server, copying its output here; its exit code. */
export async function relayCommand(server: ServerHandle, argv: string[], io: RelayIo): Promise<number> {
  let code = 1;
  const abort = new AbortController();
  // stdout closed under us (`rsqlo logs … | head`): stop asking, as the command itself would.
  const gone = () => abort.abort();
  io.stdout.on('error', gone);
  try {
    await stream(
      server,
      '/v1/relay',
      { argv },
      async (m) => {
        if (m.t === 'end') code = Number(m.code);
        else if (!(await put(m.fd === 2 ? io.stderr : io.stdout, Buffer.from(String(m.b), 'base64')))) gone();
      },
      abort.signal,
    );
  } finally {
    io.stdout.off('error', gone);
  }
  return abort.signal.aborted ? 0 : code;
}
