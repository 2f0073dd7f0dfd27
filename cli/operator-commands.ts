/**
 * The operator's commands on the local engine (issue 14): `set-ok`, `rerun`, `bypass`, `hold`,
 * `free` and `pool set|list`. Each reads the home's state, pre-checks with the rule the starter
 * enforces (contracts/operator.ts: a refusal is exit 3 and nothing is sent), builds the request
 * (who: `user:<os user>`, an `event_id` of `<type>:<ULID>`, `occurred_at` now) and sends it: to the
 * server owning the home (`/v1/action`), into the outbox of another engine owning it (as `kill`
 * does), or to an engine of its own, driven until the run settles (set-ok, rerun, bypass, free:
 * the summary and exit code of `rsqlo run`) or the request is handled (hold, pool set).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { JobAuditRecord, WorkflowAuditRecord } from '../contracts/audit.js';
import { ExecutionId, WorkflowId } from '../contracts/common.js';
import {
  bypassRefusal,
  holdRefusal,
  OperatorReason,
  PoolName,
  PoolSlots,
  type Refusal,
  rerunRefusal,
  setOkRefusal,
} from '../contracts/operator.js';
import type { PoolView } from '../contracts/run-view.js';
import type { EventEnvelope } from '../events/envelope.js';
import { EngineLockedError } from '../host/lock.js';
import { composeLocalEngine } from '../runtime/local/compose.js';
import { operatorOutcome } from '../runtime/local/control.js';
import type { OperatorRequest } from '../runtime/local/engine.js';
import { LocalStore } from '../runtime/local/store.js';
import type { PoolState } from '../services/ports.js';
import { encodeUlid } from '../services/starter/execution-id.js';
import {
  DATABASE_OPTIONS,
  databaseOf,
  homeOf,
  notifier,
  parse,
  readStore,
  UsageError,
} from './command-kit.js';
import { drive, EXIT, type Io, progressSink, resultDocument } from './drive.js';
import { noRun } from './errors.js';
import { operatorEventText } from './progress.js';
import { actionOnServer, serverFor } from './remote.js';
import { exitFor, reportRemote, stuckMessage, summary } from './run-report.js';
import { cliRequester } from './who.js';

/** The job actions, by command name. */
export const JOB_ACTIONS = { 'set-ok': 'set_ok', rerun: 'rerun', bypass: 'bypass' } as const;
export type JobAction = (typeof JOB_ACTIONS)[keyof typeof JOB_ACTIONS];

const JOB_REQUEST_TYPES = {
  set_ok: 'JobSetOkRequested',
  rerun: 'JobRerunRequested',
  bypass: 'JobBypassRequested',
} as const;

/** `<type>:<ULID>`: a request's id, unique and sorting by time (holds are ordered by it on ties). */
export function newRequestId(type: string, now: Date = new Date()): string {
  return `${type}:${encodeUlid(now.getTime(), randomBytes(10))}`;
}

/** `--reason`: checked against the contract; required for set-ok and bypass (why goes in the audit). */
export function checkReason(value: unknown, required: boolean, command: string): string | undefined {
  if (value === undefined) {
    if (required)
      throw new UsageError(`${command} needs --reason TEXT (why: it is kept in the audit with your name)`);
    return undefined;
  }
  const r = OperatorReason.safeParse(value);
  if (!r.success) throw new UsageError(`--reason ${r.error.issues[0]?.message ?? 'is not valid'}`);
  return r.data;
}

/** The shared rule for a job action (null: allowed). */
export function jobRefusal(
  action: JobAction,
  run: WorkflowAuditRecord,
  job: JobAuditRecord,
  reason: string | undefined,
): Refusal | null {
  if (action === 'set_ok') return setOkRefusal(run, job);
  if (action === 'rerun') return rerunRefusal(run, job);
  return bypassRefusal(run, job, job.attempt, reason ?? null);
}

/** The request of a job action, about the job's current attempt. */
export function jobRequest(
  action: JobAction,
  job: Pick<JobAuditRecord, 'workflow_id' | 'workflow_execution_id' | 'job_key' | 'attempt'>,
  reason: string | undefined,
  requestedBy: string,
  now: Date = new Date(),
): OperatorRequest {
  const type = JOB_REQUEST_TYPES[action];
  const detail = {
    version: 1,
    event_id: newRequestId(type, now),
    occurred_at: now.toISOString(),
    requested_by: requestedBy,
    workflow_id: job.workflow_id,
    workflow_execution_id: job.workflow_execution_id,
    job_key: job.job_key,
    attempt: job.attempt,
    ...(reason !== undefined ? { reason } : {}),
  };
  return { detailType: type, detail } as OperatorRequest;
}

/** The request of a hold or free: of one run, or (exec null) of a workflow's new runs. */
export function holdRequest(
  action: 'hold' | 'free',
  target: { workflow_id: string; workflow_execution_id: string | null },
  reason: string | undefined,
  requestedBy: string,
  now: Date = new Date(),
): OperatorRequest {
  const type = action === 'hold' ? 'HoldRequested' : 'FreeRequested';
  return {
    detailType: type,
    detail: {
      version: 1,
      event_id: newRequestId(type, now),
      occurred_at: now.toISOString(),
      requested_by: requestedBy,
      workflow_id: target.workflow_id,
      ...(target.workflow_execution_id ? { workflow_execution_id: target.workflow_execution_id } : {}),
      ...(reason !== undefined ? { reason } : {}),
    },
  };
}

/** The request of `pool set NAME SLOTS`. */
export function poolRequest(
  pool: string,
  slots: number,
  reason: string | undefined,
  requestedBy: string,
  now: Date = new Date(),
): OperatorRequest {
  return {
    detailType: 'PoolResizeRequested',
    detail: {
      version: 1,
      event_id: newRequestId('PoolResizeRequested', now),
      occurred_at: now.toISOString(),
      requested_by: requestedBy,
      pool,
      slots,
      ...(reason !== undefined ? { reason } : {}),
    },
  };
}

/** A pool's name from the command line (exit 2 when it is not one). */
export function parsePoolName(value: string | undefined): string {
  if (value === undefined) throw new UsageError('pool set takes a pool name and a number of slots');
  const r = PoolName.safeParse(value);
  if (!r.success)
    throw new UsageError(`pool name "${value}" ${r.error.issues[0]?.message ?? 'is not valid'}`);
  return r.data;
}

/** SLOTS from the command line: a whole number 0‥1000 (exit 2 otherwise). */
export function parseSlots(value: string | undefined): number {
  if (value === undefined) throw new UsageError('pool set takes a pool name and a number of slots');
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  const r = PoolSlots.safeParse(n);
  if (!r.success)
    throw new UsageError(
      `SLOTS "${value}": ${r.error.issues[0]?.message ?? 'is not valid'} (0 drains the pool)`,
    );
  return r.data;
}

/** What `pool list` shows of a pool. */
export function poolView(p: PoolState): PoolView {
  return {
    pool: p.name,
    slots: p.slots,
    in_use: p.holders.length,
    waiting: p.waiters.length,
    created_by: p.created_by,
  };
}

/** The table `pool list` prints. */
export function poolTable(pools: PoolView[]): string {
  if (pools.length === 0)
    return 'no pools yet (a job with "pool" creates its pool; rsqlo pool set NAME N makes one)\n';
  const w = Math.max(4, ...pools.map((p) => p.pool.length));
  const lines = [`${'POOL'.padEnd(w)}  SLOTS  IN USE  WAITING  CREATED BY`];
  for (const p of pools) {
    lines.push(
      `${p.pool.padEnd(w)}  ${String(p.slots).padStart(5)}  ${String(p.in_use).padStart(6)}  ${String(p.waiting).padStart(7)}  ${p.created_by}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Writes a refusal of the shared rule: exit 3, nothing sent. */
export function refused(io: Io, refusal: Refusal): number {
  io.stderr.write(`rsqlo: request refused (${refusal.reason}): ${refusal.message}\n`);
  return EXIT.rejected;
}

/** The options both runtimes' operator commands take (each adds where it acts: --home or --aws). */
const ACTION_OPTIONS = { reason: { type: 'string' }, json: { type: 'boolean' } } as const;
const HOLD_OPTIONS = { ...ACTION_OPTIONS, run: { type: 'boolean' }, workflow: { type: 'boolean' } } as const;

/** `<set-ok|rerun|bypass> <execution-id> <job_key> [--reason TEXT]`, checked (exit 2 when not). */
export function parseJobAction<O extends Parameters<typeof parse>[1]>(
  command: keyof typeof JOB_ACTIONS,
  argv: string[],
  where: O,
) {
  const action = JOB_ACTIONS[command];
  const { positionals, values } = parse(argv, { ...ACTION_OPTIONS, ...where });
  if (positionals.length !== 2) throw new UsageError(`${command} takes an execution id and a job_key`);
  const [exec, jobKey] = positionals as [string, string];
  if (!ExecutionId.safeParse(exec).success) throw new UsageError(`"${exec}" is not an execution id`);
  const reason = checkReason(values.reason, action !== 'rerun', command);
  return { action, exec, jobKey, reason, values };
}

/**
 * The job a job action is about, checked against the shared rule: the job, or the exit code after
 * saying why not (no run or no such job: 2; refused by the rule: 3).
 */
export function checkedJob(
  io: Io,
  a: { action: JobAction; exec: string; jobKey: string; reason: string | undefined },
  found: { run: WorkflowAuditRecord; jobs: JobAuditRecord[] } | undefined,
  noRunText: string,
): JobAuditRecord | number {
  if (!found) {
    io.stderr.write(`rsqlo: ${noRunText}\n`);
    return EXIT.usage;
  }
  const job = found.jobs.find((j) => j.job_key === a.jobKey);
  if (!job) {
    const keys = found.jobs.map((j) => j.job_key);
    io.stderr.write(
      `rsqlo: run ${a.exec} has no job ${a.jobKey} (its jobs: ${keys.slice(0, 20).join(', ')}${keys.length > 20 ? ', …' : ''})\n`,
    );
    return EXIT.usage;
  }
  const refusal = jobRefusal(a.action, found.run, job, a.reason);
  return refusal ? refused(io, refusal) : job;
}

/** `<hold|free> <workflow_id | execution-id> [--reason TEXT] [--run | --workflow]`, checked. */
export function parseHold<O extends Parameters<typeof parse>[1]>(
  action: 'hold' | 'free',
  argv: string[],
  where: O,
) {
  const { positionals, values } = parse(argv, { ...HOLD_OPTIONS, ...where });
  if (positionals.length !== 1) throw new UsageError(`${action} takes one workflow_id or execution id`);
  if (values.run === true && values.workflow === true)
    throw new UsageError('--run and --workflow cannot be used together');
  const id = positionals[0] as string;
  return { id, reason: checkReason(values.reason, false, action), values };
}

/** `pool list` or `pool set NAME SLOTS [--reason TEXT]`, checked (exit 2 when neither). */
export function parsePool<O extends Parameters<typeof parse>[1]>(argv: string[], where: O) {
  const { positionals, values } = parse(argv, { ...ACTION_OPTIONS, ...where });
  const [sub, ...rest] = positionals;
  if (sub === 'list') {
    if (rest.length > 0) throw new UsageError('pool list takes no arguments');
    return { sub, values } as const;
  }
  if (sub === 'set') {
    if (rest.length !== 2) throw new UsageError('pool set takes a pool name and a number of slots');
    const pool = parsePoolName(rest[0]);
    const slots = parseSlots(rest[1]);
    return { sub, pool, slots, reason: checkReason(values.reason, false, 'pool set'), values } as const;
  }
  throw new UsageError(
    sub === undefined ? 'pool takes set or list' : `unknown pool command "${sub}" (pool takes set or list)`,
  );
}

/** Runs `fn` over the home's state file, awaiting it before the file is closed. */
async function readStoreAsync<T>(home: string, fn: (s: LocalStore) => Promise<T>): Promise<T | undefined> {
  const file = path.join(home, 'rsqlo.db');
  if (!existsSync(file)) return undefined;
  const store = new LocalStore(file);
  try {
    return await fn(store);
  } finally {
    store.close();
  }
}

/** What a request is, in words ("set OK of job 1.2 of X"). */
function describe(request: OperatorRequest): string {
  const d = request.detail as Record<string, unknown>;
  const of = d.job_key
    ? `job ${d.job_key} of ${d.workflow_execution_id}`
    : String(d.workflow_execution_id ?? `workflow ${d.workflow_id}`);
  switch (request.detailType) {
    case 'JobSetOkRequested':
      return `set OK of ${of}`;
    case 'JobRerunRequested':
      return `rerun of ${of}`;
    case 'JobBypassRequested':
      return `bypass of ${of}`;
    case 'HoldRequested':
      return `hold of ${of}`;
    case 'FreeRequested':
      return `free of ${of}`;
    case 'PoolResizeRequested':
      return `pool ${d.pool} set to ${d.slots}`;
  }
}

/**
 * Sends a checked request and says how it went. `follow`: the run to drive (or follow on the
 * server) until it settles, printing its summary and returning its exit code; null: wait until
 * the engine has handled the request and print its outcome.
 */
export async function sendOperatorRequest(
  io: Io,
  opts: { home: string; json: boolean; values: Record<string, unknown> },
  request: OperatorRequest,
  follow: string | null,
): Promise<number> {
  const { home, json } = opts;
  const out = json ? io.stderr : io.stdout;
  const server = await serverFor(home);
  if (server) {
    if (follow !== null) {
      const r = await actionOnServer(server, request, follow, progressSink(io, json));
      return reportRemote(io, { home, json }, r);
    }
    const answer = await actionOnServer(server, request, null);
    return answered(io, out, request, answer.rejected, answer.event);
  }
  let composed: ReturnType<typeof composeLocalEngine>;
  const tapped: EventEnvelope[] = [];
  let outcome: EventEnvelope | undefined;
  let rejected: { reason: string; message: string } | null = null;
  const progress = follow !== null ? progressSink(io, json) : undefined;
  try {
    composed = composeLocalEngine({
      home,
      database: databaseOf(opts.values, home),
      notify: notifier(io),
      forgetLostRuns: opts.values['forget-lost'] === true,
      onEvent: (e) => {
        tapped.push(e);
        const o = operatorOutcome(request, e);
        if (o && !outcome) {
          outcome = e;
          if (o.kind === 'rejected') rejected = { reason: o.reason, message: o.message };
        }
        progress?.event(e);
      },
    });
  } catch (err) {
    if (!(err instanceof EngineLockedError)) throw err;
    // A running engine owns the home (a foreground rsqlo run): hand it the request through the
    // database, as `rsqlo kill` does; it polls, and its own output shows the outcome.
    readStore(home, (s) => s.tx(() => s.publish([request])), notifier(io));
    out.write(
      `${describe(request)} requested; the engine${err.pid !== undefined ? ` (pid ${err.pid})` : ''} that owns ${home} applies it\n`,
    );
    return 0;
  }
  const engine = composed.engine;
  try {
    engine.operator(request);
    if (follow === null) {
      engine.holdTriggers();
      await engine.runUntil(() => outcome !== undefined || engine.store.outboxSize() === 0);
      return answered(io, out, request, rejected, outcome ?? null);
    }
    const { stuck } = await drive(engine, {
      execs: () => [follow],
      progress: progress ?? progressSink(io, json),
      rejected: () => rejected !== null,
      // A Failed run is settled until the request reopens it: wait for the answer first.
      ready: () => outcome !== undefined || engine.store.outboxSize() === 0,
      watch: () => follow,
    });
    if (rejected !== null) {
      const r = rejected as { reason: string; message: string };
      io.stderr.write(`rsqlo: request refused (${r.reason}): ${r.message}\n`);
      return EXIT.rejected;
    }
    if (stuck.length > 0) {
      io.stderr.write(stuckMessage(engine, follow, home));
      return EXIT.failed;
    }
    const run = engine.getRun(follow);
    if (!run) return EXIT.failed;
    const jobs = engine.store.listJobsSync(follow);
    if (json) io.stdout.write(`${JSON.stringify(resultDocument(run, jobs), null, 2)}\n`);
    else io.stdout.write(summary(run, jobs, home));
    return exitFor(run);
  } finally {
    await composed.dispose();
  }
}

/** Says how a request that is not followed was answered. */
function answered(
  io: Io,
  out: NodeJS.WritableStream,
  request: OperatorRequest,
  rejected: { reason: string; message: string } | null,
  event: EventEnvelope | null,
): number {
  if (rejected) {
    io.stderr.write(`rsqlo: request refused (${rejected.reason}): ${rejected.message}\n`);
    return EXIT.rejected;
  }
  const text = event
    ? operatorEventText(event['detail-type'], event.detail as Record<string, unknown>)
    : undefined;
  out.write(`${text || `${describe(request)}: done (nothing changed: it was so already)`}\n`);
  return 0;
}

/** set-ok, rerun, bypass: `<cmd> <execution-id> <job_key> [--reason TEXT]`. */
async function jobActionCommand(command: keyof typeof JOB_ACTIONS, argv: string[], io: Io): Promise<number> {
  const a = parseJobAction(command, argv, { home: { type: 'string' }, ...DATABASE_OPTIONS });
  const home = homeOf(a.values as { home?: string });
  const job = checkedJob(io, a, readStoreSync(home, a.exec), noRun(a.exec, home));
  if (typeof job === 'number') return job;
  const request = jobRequest(a.action, job, a.reason, cliRequester());
  return sendOperatorRequest(io, { home, json: a.values.json === true, values: a.values }, request, a.exec);
}

function readStoreSync(home: string, exec: string) {
  return readStore(home, (s) => {
    const run = s.getRunRecord(exec);
    return run ? { run, jobs: s.listJobsSync(exec) } : undefined;
  });
}

/** hold, free: `<cmd> <workflow_id | execution-id> [--reason TEXT] [--run | --workflow]`. */
async function holdCommand(action: 'hold' | 'free', argv: string[], io: Io): Promise<number> {
  const { id, reason, values } = parseHold(action, argv, { home: { type: 'string' }, ...DATABASE_OPTIONS });
  const home = homeOf(values as { home?: string });
  const found = readStore(home, (s) => ({
    run: values.workflow === true ? undefined : s.getRunRecord(id),
    definition: values.run === true ? undefined : s.getDefinition(id),
  }));
  const run = found?.run;
  if (run) {
    const refusal = holdRefusal(run, action);
    if (refusal) return refused(io, refusal);
    const request = holdRequest(
      action,
      { workflow_id: run.workflow_id, workflow_execution_id: run.workflow_execution_id },
      reason,
      cliRequester(),
    );
    // A free is followed to the run's end; a hold returns once the run is held.
    return sendOperatorRequest(
      io,
      { home, json: values.json === true, values },
      request,
      action === 'free' ? id : null,
    );
  }
  if (found?.definition || (values.workflow === true && WorkflowId.safeParse(id).success)) {
    if (!WorkflowId.safeParse(id).success) throw new UsageError(`"${id}" is not a workflow_id`);
    const request = holdRequest(
      action,
      { workflow_id: id, workflow_execution_id: null },
      reason,
      cliRequester(),
    );
    return sendOperatorRequest(io, { home, json: values.json === true, values }, request, null);
  }
  io.stderr.write(
    `rsqlo: ${values.run === true ? noRun(id, home) : values.workflow === true ? `no workflow ${id} in ${home}` : `no run and no workflow ${id} in ${home}`}\n`,
  );
  return EXIT.usage;
}

/** `pool set NAME SLOTS [--reason]`, `pool list [--json]`. */
async function poolCommand(argv: string[], io: Io): Promise<number> {
  const p = parsePool(argv, { home: { type: 'string' }, ...DATABASE_OPTIONS });
  const home = homeOf(p.values as { home?: string });
  if (p.sub === 'list') {
    const pools = ((await readStoreAsync(home, (s) => s.pools().list())) ?? []).map(poolView);
    pools.sort((a, b) => a.pool.localeCompare(b.pool));
    io.stdout.write(p.values.json ? `${JSON.stringify(pools, null, 2)}\n` : poolTable(pools));
    return 0;
  }
  return sendOperatorRequest(
    io,
    { home, json: p.values.json === true, values: p.values },
    poolRequest(p.pool, p.slots, p.reason, cliRequester()),
    null,
  );
}

export const setOkCommand = (argv: string[], io: Io) => jobActionCommand('set-ok', argv, io);
export const rerunCommand = (argv: string[], io: Io) => jobActionCommand('rerun', argv, io);
export const bypassCommand = (argv: string[], io: Io) => jobActionCommand('bypass', argv, io);
export const holdRunCommand = (argv: string[], io: Io) => holdCommand('hold', argv, io);
export const freeRunCommand = (argv: string[], io: Io) => holdCommand('free', argv, io);
export { poolCommand };
