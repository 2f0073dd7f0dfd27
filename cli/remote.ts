/**
 * The CLI's side of `rsqlo serve`: when a server owns the home, `run`, `restart`, `kill`,
 * `status`, `runs`, `history` and `logs` go to it over the home's control socket and behave as
 * they do without one (same output, same exit codes). Without a server (or with a dead one's
 * socket file left behind) they run as before.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { JobAuditRecord, WorkflowAuditRecord } from '../contracts/audit.js';
import type { WorkflowRequested } from '../contracts/events.js';
import type { WorkflowDefinition } from '../contracts/workflow.js';
import type { EventEnvelope } from '../events/envelope.js';
import {
  type FollowEnd,
  findServer,
  relayCommand,
  type ServerHandle,
  ServerLostError,
  stream,
} from '../runtime/local/control.js';
import type { OperatorRequest } from '../runtime/local/engine.js';
import type { Io } from './drive.js';
import { homeFromArgv } from './errors.js';
import type { ProgressSink } from './progress.js';

/** Set while the server itself runs a relayed command: that one must not ask the server again. */
const insideServer = new AsyncLocalStorage<true>();

/** Runs `fn` as the server (commands it runs do not look for a server). */
export function asServer<T>(fn: () => T): T {
  return insideServer.run(true, fn);
}

/** The server owning `home`, unless this is the server itself (or none answers). */
export async function serverFor(home: string): Promise<ServerHandle | undefined> {
  if (insideServer.getStore()) return undefined;
  return findServer(home);
}

const RELAYED = new Set(['status', 'runs', 'history', 'logs', 'pool']);

/**
 * A read-only command relayed to the server owning its home, or undefined when there is none
 * (the caller runs it itself). `--help` is never relayed.
 */
export async function relayToServer(
  command: string | undefined,
  argv: string[],
  io: Io,
): Promise<number | undefined> {
  if (!command || !RELAYED.has(command) || argv.includes('--help') || argv.includes('-h')) return undefined;
  // Of `pool`, only `pool list` reads: `pool set` is an action (operator-commands.ts).
  if (command === 'pool' && argv[0] !== 'list') return undefined;
  const server = await serverFor(homeFromArgv(argv));
  if (!server) return undefined;
  try {
    return await relayCommand(server, [command, ...argv], io);
  } catch (err) {
    if (err instanceof ServerLostError) return undefined; // it went away: read the home ourselves
    throw err;
  }
}

/** What a run or restart asks of the engine: the calls `setup` makes, recorded to send them. */
export interface SubmitTarget {
  putDefinition(
    def: WorkflowDefinition,
    scriptRoot: string,
    run?: { exec: string; file: string | null },
  ): void;
  request(detail: WorkflowRequested): void;
}

/** How a run followed on the server ended. */
export type RemoteOutcome =
  | { kind: 'ended'; end: FollowEnd; exec: string; interrupted: boolean }
  | { kind: 'left'; exec: string; server: ServerHandle }
  | { kind: 'lost'; exec: string; server: ServerHandle; interrupted: boolean };

/**
 * Submits a run to the server and follows it to its end, feeding the progress sink, as the
 * in-process engine would. The first Ctrl-C asks the server to kill the run (its jobs are stopped,
 * the run ends Cancelled); a second one leaves it running in the server.
 */
export async function submitAndFollow(
  server: ServerHandle,
  setup: (engine: SubmitTarget) => string,
  progress: ProgressSink,
): Promise<RemoteOutcome> {
  let definition: { body: unknown; script_root: string; file?: string | null } | undefined;
  let request: WorkflowRequested | undefined;
  const exec = setup({
    putDefinition: (def, root, run) => {
      definition = { body: def, script_root: root, ...(run ? { file: run.file } : {}) };
    },
    request: (detail) => {
      request = detail;
    },
  });
  if (!request) throw new Error('internal: the run asked nothing of the engine');
  const abort = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts > 1) {
      abort.abort();
      return;
    }
    void stream(server, '/v1/kill', { execution_id: exec, reason: 'interrupted (Ctrl-C)' }, () => {}).catch(
      () => {},
    );
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  let end: FollowEnd | undefined;
  let run: WorkflowAuditRecord | undefined;
  let jobs: JobAuditRecord[] = [];
  try {
    await stream(
      server,
      '/v1/submit',
      { definition, request: { ...request, workflow_execution_id: exec } },
      (m) => {
        if (m.t === 'event') progress.event(m.event as EventEnvelope);
        else if (m.t === 'note') progress.note?.(String(m.line));
        else if (m.t === 'state') {
          run = (m.run as WorkflowAuditRecord | null) ?? undefined;
          jobs = m.jobs as JobAuditRecord[];
          progress.refresh(run, () => jobs);
        } else if (m.t === 'end') end = m as unknown as FollowEnd;
        else if (m.t === 'error') throw new Error(String(m.message));
      },
      abort.signal,
    );
  } catch (err) {
    if (!(err instanceof ServerLostError)) throw err;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
    if (end) progress.refresh(end.run ?? undefined, () => end?.jobs ?? []);
    progress.done();
  }
  if (abort.signal.aborted) return { kind: 'left', exec, server };
  if (!end || end.stopping) return { kind: 'lost', exec, server, interrupted: interrupts > 0 };
  return { kind: 'ended', end, exec, interrupted: interrupts > 0 };
}

/** `rsqlo kill` through the server: waits for the run to settle; its final status. */
export async function killOnServer(server: ServerHandle, exec: string): Promise<string | undefined> {
  let status: string | undefined;
  await stream(server, '/v1/kill', { execution_id: exec, reason: 'rsqlo kill' }, (m) => {
    if (m.t === 'end') status = (m.run as WorkflowAuditRecord | null)?.execution_status;
    else if (m.already === true) status = String(m.status); // it had ended meanwhile
  });
  return status;
}

/** How an operator request sent to the server without following a run was answered. */
export interface ActionAnswer {
  /** The outcome event (RunHeld, PoolResized…) or the refusal; null when the server saw neither. */
  event: EventEnvelope | null;
  rejected: { reason: string; message: string } | null;
  stopping: boolean;
}

/**
 * An operator request (set-ok, rerun, bypass, hold, free, pool set) sent to the server owning the
 * home. With `follow`, the run is followed to its end as `submitAndFollow` does (progress, then
 * the end); without, the server's answer once the engine has handled it.
 */
export async function actionOnServer(
  server: ServerHandle,
  request: OperatorRequest,
  follow: string,
  progress: ProgressSink,
): Promise<RemoteOutcome>;
export async function actionOnServer(
  server: ServerHandle,
  request: OperatorRequest,
  follow: null,
  progress?: ProgressSink,
): Promise<ActionAnswer>;
export async function actionOnServer(
  server: ServerHandle,
  request: OperatorRequest,
  follow: string | null,
  progress?: ProgressSink,
): Promise<RemoteOutcome | ActionAnswer> {
  if (follow === null) {
    let answer: ActionAnswer = { event: null, rejected: null, stopping: true };
    await stream(server, '/v1/action', { request, follow: null }, (m) => {
      if (m.t === 'end') answer = m as unknown as ActionAnswer;
    });
    return answer;
  }
  let end: FollowEnd | undefined;
  const abort = new AbortController();
  let interrupts = 0;
  // Ctrl-C leaves the run to the server (the action was taken; nothing to undo).
  const onSigint = () => {
    interrupts++;
    abort.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    await stream(
      server,
      '/v1/action',
      { request, follow },
      (m) => {
        if (m.t === 'event') progress?.event(m.event as EventEnvelope);
        else if (m.t === 'note') progress?.note?.(String(m.line));
        else if (m.t === 'state')
          progress?.refresh(
            (m.run as WorkflowAuditRecord | null) ?? undefined,
            () => m.jobs as JobAuditRecord[],
          );
        else if (m.t === 'end') end = m as unknown as FollowEnd;
      },
      abort.signal,
    );
  } catch (err) {
    if (!(err instanceof ServerLostError)) throw err;
  } finally {
    process.off('SIGINT', onSigint);
    if (end) progress?.refresh(end.run ?? undefined, () => end?.jobs ?? []);
    progress?.done();
  }
  if (abort.signal.aborted) return { kind: 'left', exec: follow, server };
  if (!end || end.stopping) return { kind: 'lost', exec: follow, server, interrupted: interrupts > 0 };
  return { kind: 'ended', end, exec: follow, interrupted: interrupts > 0 };
}
