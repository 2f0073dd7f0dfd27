/**
 * `rsqlo serve`: one long-running engine for a home (a composition root). It owns the home (the
 * engine lock), runs any number of workflows at once, fires their schedules, serves the web run
 * view at `/`, and answers the other commands over the home's control socket
 * (runtime/local/control.ts). Ctrl-C or SIGTERM stops it; running jobs go on and the next engine
 * (another serve, or `rsqlo resume`) adopts them.
 */
import { readdirSync, statSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Calendar } from '../contracts/calendar.js';
import { dependencyIssues } from '../contracts/dependencies.js';
import { holdRefusal } from '../contracts/operator.js';
import type { ActionResult } from '../contracts/run-view.js';
import type { WorkflowDefinition } from '../contracts/workflow.js';
import { EngineLockedError } from '../host/lock.js';
import { composeLocalEngine } from '../runtime/local/compose.js';
import {
  createControlHandler,
  listenControl,
  operatorOutcome,
  readServeInfo,
} from '../runtime/local/control.js';
import type { LocalEngine, OperatorRequest } from '../runtime/local/engine.js';
import { createLocalLogSource } from '../runtime/local/log-source.js';
import { AlertNotifier } from '../runtime/local/notify-command.js';
import { createLocalRunViewSource } from '../runtime/local/run-view-source.js';
import {
  type LocalSchedule,
  LocalScheduler,
  realTimers,
  scheduleOf,
  type Timers,
} from '../runtime/local/scheduler.js';
import { armStartBy } from '../runtime/local/sla-timers.js';
import type { Clock } from '../services/ports.js';
import { deriveExecutionId, newExecutionId } from '../services/starter/execution-id.js';
import type { ActionContext, PoolActions, RunActions } from '../web/ports.js';
import { createRunViewHandler } from '../web/server.js';
import { wantsAws } from './aws-commands.js';
import { serveAws } from './aws-serve.js';
import { loadCalendars } from './calendar.js';
import { databaseOf } from './command-kit.js';
import { formatIssues, loadDefinition } from './definition.js';
import { EXIT, type Io } from './drive.js';
import {
  holdRequest,
  type JobAction,
  jobRefusal,
  jobRequest,
  poolRequest,
  poolView,
} from './operator-commands.js';
import { lineProgress, operatorEventText } from './progress.js';
import { asServer } from './remote.js';
import { webRequester } from './who.js';

export const SERVE_USAGE = `Usage: rsqlo serve [--home DIR] [--host 127.0.0.1] [--port 8686] [--workflows DIR]
                   [--database-url URL | --no-database] [--forget-lost] [--notify-command CMD]

One long-running engine for the home: it runs any number of workflows at once, fires the
schedules of the workflows in --workflows DIR (every *.json there, and every DIR/*/workflow.json),
and shows every run at http://HOST:PORT/. While it runs, rsqlo run, restart, kill, status, runs,
history and logs on the same home go to it (over <home>/serve.sock). Ctrl-C or SIGTERM stops it;
running jobs go on and the next engine (rsqlo serve or rsqlo resume) adopts them.
  --port 0 picks a free port (the URL is printed).
  --notify-command CMD runs CMD (through sh -c) once per alert (a failed run or job, a refused
    request, SlaMissed, RunLongerThanUsual) with the event's JSON on its stdin; at most 4 at once,
    each for at most 30 s; a failing one is logged, not retried. Alerts are listed at /alerts.
`;

type Main = (argv: string[], io: Io) => Promise<number>;

/** What serve loads from --workflows: each definition, its file and its script folder. */
interface Loaded {
  file: string;
  definition: WorkflowDefinition;
  scriptRoot: string;
}

function definitionFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(dir, e.name);
    if (e.isFile() && e.name.endsWith('.json')) out.push(p);
    else if (e.isDirectory()) {
      try {
        if (statSync(path.join(p, 'workflow.json')).isFile()) out.push(path.join(p, 'workflow.json'));
      } catch {
        // a folder without a workflow
      }
    }
  }
  return out;
}

/**
 * Loads and checks every definition of the folder, and its calendars (`calendars/` there), and the
 * set as a whole (every trigger.after known, no dependency cycle, every calendar known); the
 * problems, all of them, when any is bad.
 */
export function loadWorkflows(
  dir: string,
  opts: { crossCheck?: boolean } = {},
): { ok: true; loaded: Loaded[]; calendars: Map<string, Calendar> } | { ok: false; problems: string[] } {
  let files: string[];
  try {
    files = definitionFiles(path.resolve(dir));
  } catch (err) {
    return {
      ok: false,
      problems: [`--workflows ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`],
    };
  }
  const problems: string[] = [];
  const loaded: Loaded[] = [];
  const seen = new Map<string, string>();
  for (const file of files) {
    const r = loadDefinition(file);
    if (!r.ok) {
      problems.push(formatIssues(r.file, r.issues));
      continue;
    }
    const id = r.definition.workflow_id;
    const first = seen.get(id);
    if (first) {
      problems.push(`${r.file}: workflow_id ${id} is also defined by ${first}`);
      continue;
    }
    seen.set(id, r.file);
    const schedule = scheduleOf(r.definition);
    if (schedule) {
      try {
        LocalScheduler.check(schedule);
      } catch (err) {
        problems.push(`${r.file}: invalid workflow definition\n  schedule: ${(err as Error).message}`);
        continue;
      }
    }
    loaded.push({ file: r.file, definition: r.definition, scriptRoot: r.scriptRoot });
  }
  if (files.length === 0)
    problems.push(`--workflows ${dir}: no workflow definitions (*.json, */workflow.json) there`);
  const cals = loadCalendars(dir);
  if (!cals.ok) problems.push(...cals.problems);
  const calendars = cals.ok ? cals.calendars : new Map<string, Calendar>();
  // `definitions push --aws` checks names and cycles against the stack's stored definitions instead.
  if (problems.length === 0 && opts.crossCheck !== false) {
    const fileOf = new Map(loaded.map((l) => [l.definition.workflow_id, l.file]));
    for (const i of dependencyIssues(
      loaded.map((l) => l.definition),
      new Set(calendars.keys()),
    ))
      problems.push(
        `${fileOf.get(i.workflow_id) ?? i.workflow_id}: invalid workflow definition\n  ${i.path}: ${i.message}`,
      );
  }
  return problems.length ? { ok: false, problems } : { ok: true, loaded, calendars };
}

/** The run view's actions, done by the engine itself (the rules are enforced again by the starter). */
export function engineActions(engine: LocalEngine, restartWaitMs = 20_000): RunActions {
  return {
    async kill(exec, ctx): Promise<ActionResult> {
      const run = engine.getRun(exec);
      if (!run) return { ok: false, message: `no run ${exec}`, execution_id: null };
      if (run.execution_status !== 'Running')
        return { ok: false, message: `${exec} is already ${run.execution_status}`, execution_id: null };
      engine.cancel({
        version: 1,
        workflow_id: run.workflow_id,
        workflow_execution_id: exec,
        reason: 'killed from the run view',
        requested_by: ctx.requestedBy,
      });
      return { ok: true, message: `kill requested for ${exec}; its jobs are stopping`, execution_id: null };
    },
    async restart(exec, ctx): Promise<ActionResult> {
      const run = engine.getRun(exec);
      if (!run) return { ok: false, message: `no run ${exec}`, execution_id: null };
      const next = newExecutionId(run.workflow_id, new Date());
      const outcome = new Promise<ActionResult>((resolve) => {
        const t = setTimeout(() => {
          off();
          resolve({ ok: false, message: `${next} did not start in time`, execution_id: null });
        }, restartWaitMs);
        const off = engine.store.onCommittedEvent((e) => {
          const d = e.detail as { workflow_execution_id?: string; reason?: string; message?: string };
          if (d.workflow_execution_id !== next) return;
          if (e['detail-type'] === 'WorkflowStarted') {
            clearTimeout(t);
            off();
            resolve({ ok: true, message: `restarted as ${next}`, execution_id: next });
          } else if (e['detail-type'] === 'WorkflowRejected') {
            clearTimeout(t);
            off();
            resolve({ ok: false, message: `refused (${d.reason}): ${d.message}`, execution_id: null });
          }
        });
      });
      engine.request({
        version: 1,
        workflow_id: run.workflow_id,
        workflow_execution_id: next,
        restart_of: exec,
        requested_by: ctx.requestedBy,
      });
      return outcome;
    },
    set_ok: (exec, ctx) => engineJobAction(engine, 'set_ok', exec, ctx, answerWaitMs),
    rerun: (exec, ctx) => engineJobAction(engine, 'rerun', exec, ctx, answerWaitMs),
    bypass: (exec, ctx) => engineJobAction(engine, 'bypass', exec, ctx, answerWaitMs),
    hold: (exec, ctx) => engineHold(engine, 'hold', exec, ctx, answerWaitMs),
    free: (exec, ctx) => engineHold(engine, 'free', exec, ctx, answerWaitMs),
  };
}

/** How long an operator action from the view waits for the engine's answer before saying "requested". */
const answerWaitMs = 5000;

/**
 * Publishes an operator request and waits (a little) for its outcome or refusal, so the page can
 * say which: the starter decides, the buttons only pre-check.
 */
async function publishAndWait(
  engine: LocalEngine,
  request: OperatorRequest,
  waitMs: number,
): Promise<ActionResult> {
  const answer = new Promise<ActionResult>((resolve) => {
    const t = setTimeout(() => {
      off();
      resolve({
        ok: true,
        message: `${request.detailType.replace('Requested', '')} requested`,
        execution_id: null,
      });
    }, waitMs);
    const off = engine.store.onCommittedEvent((e) => {
      const out = operatorOutcome(request, e);
      if (!out) return;
      clearTimeout(t);
      off();
      const text =
        operatorEventText(e['detail-type'], e.detail as Record<string, unknown>) ?? e['detail-type'];
      resolve(
        out.kind === 'rejected'
          ? { ok: false, message: `refused (${out.reason}): ${out.message}`, execution_id: null }
          : { ok: true, message: text, execution_id: null },
      );
    });
  });
  engine.operator(request);
  return answer;
}

async function engineJobAction(
  engine: LocalEngine,
  action: JobAction,
  exec: string,
  ctx: ActionContext,
  waitMs: number,
): Promise<ActionResult> {
  const run = engine.getRun(exec);
  const job =
    run && ctx.jobKey ? engine.store.listJobsSync(exec).find((j) => j.job_key === ctx.jobKey) : undefined;
  if (!run || !job)
    return { ok: false, message: `no job ${ctx.jobKey ?? '?'} in run ${exec}`, execution_id: null };
  const refused = jobRefusal(action, run, job, ctx.reason);
  if (refused) return { ok: false, message: refused.message, execution_id: null };
  return publishAndWait(engine, jobRequest(action, job, ctx.reason, ctx.requestedBy), waitMs);
}

async function engineHold(
  engine: LocalEngine,
  action: 'hold' | 'free',
  exec: string,
  ctx: ActionContext,
  waitMs: number,
): Promise<ActionResult> {
  const run = engine.getRun(exec);
  if (!run) return { ok: false, message: `no run ${exec}`, execution_id: null };
  const refused = holdRefusal(run, action);
  if (refused) return { ok: false, message: refused.message, execution_id: null };
  const request = holdRequest(
    action,
    { workflow_id: run.workflow_id, workflow_execution_id: exec },
    ctx.reason,
    ctx.requestedBy,
  );
  return publishAndWait(engine, request, waitMs);
}

/** The pools panel over the engine: the store's pools; setting slots is a PoolResizeRequested. */
export function enginePools(engine: LocalEngine, waitMs = answerWaitMs): PoolActions {
  return {
    list: async () =>
      (await engine.store.pools().list()).map(poolView).sort((a, b) => a.pool.localeCompare(b.pool)),
    setSlots: (pool, slots, ctx) =>
      publishAndWait(engine, poolRequest(pool, slots, ctx.reason, ctx.requestedBy), waitMs),
  };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

export interface ServeOptions {
  /** The schedules' clock and timers (default: the real ones). Tests inject theirs. */
  clock?: Clock;
  timers?: Timers;
  /** Resolves when serve should stop (default: SIGINT or SIGTERM). */
  stopSignal?: Promise<void>;
  /** Hears the server's URL once it listens. */
  onListening?: (url: string) => void;
}

export async function serveCommand(
  argv: string[],
  io: Io,
  main: Main,
  opts: ServeOptions = {},
): Promise<number> {
  // --aws: the view of a deployed stack (it runs nothing here).
  if (wantsAws(argv)) return serveAws(argv, io, opts);
  let values: Record<string, string | boolean | undefined>;
  try {
    const parsed = parseArgs({
      args: argv,
      options: {
        home: { type: 'string' },
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '8686' },
        workflows: { type: 'string' },
        'database-url': { type: 'string' },
        'no-database': { type: 'boolean' },
        'forget-lost': { type: 'boolean' },
        'notify-command': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    });
    if (parsed.positionals.length > 0) throw new Error(`unexpected argument "${parsed.positionals[0]}"`);
    values = parsed.values;
  } catch (err) {
    io.stderr.write(
      `rsqlo serve: ${err instanceof Error ? err.message.replace(/^TypeError \[[A-Z_]+\]: /, '') : String(err)}\n\n${SERVE_USAGE}`,
    );
    return EXIT.usage;
  }
  if (values.help) {
    io.stdout.write(SERVE_USAGE);
    return 0;
  }
  const port = Number(values.port);
  if (!/^\d+$/.test(String(values.port)) || port > 65_535) {
    io.stderr.write(`rsqlo serve: --port must be a whole number from 0 to 65535\n`);
    return EXIT.usage;
  }
  const host = String(values.host);
  const home = path.resolve((values.home as string | undefined) ?? process.env.RSQLO_HOME ?? '.rsqlo');
  let loaded: Loaded[] = [];
  let calendars = new Map<string, Calendar>();
  if (values.workflows !== undefined) {
    const r = loadWorkflows(values.workflows as string);
    if (!r.ok) {
      io.stderr.write(`${r.problems.join('\n')}\n`);
      return EXIT.usage;
    }
    loaded = r.loaded;
    calendars = r.calendars;
  }

  const say = (line: string) => void io.stdout.write(`${line}\n`);
  // One line per event, per run (a sink per run, dropped when the run ends: the server runs for
  // months and each sink remembers the events it printed).
  const sinks = new Map<string, ReturnType<typeof lineProgress>>();
  const progress = {
    event(e: Parameters<ReturnType<typeof lineProgress>['event']>[0]) {
      const exec = String((e.detail as { workflow_execution_id?: unknown }).workflow_execution_id ?? '');
      let sink = sinks.get(exec);
      if (!sink) {
        sink = lineProgress((s) => void io.stdout.write(s));
        sinks.set(exec, sink);
      }
      sink.event(e);
      if (e['detail-type'] === 'WorkflowFinished' || e['detail-type'] === 'WorkflowRejected')
        sinks.delete(exec);
    },
  };
  const notifyCommand = values['notify-command'] as string | undefined;
  if (notifyCommand !== undefined && notifyCommand.trim() === '') {
    io.stderr.write('rsqlo serve: --notify-command must not be empty\n');
    return EXIT.usage;
  }
  const alerts = new AlertNotifier({
    command: notifyCommand,
    warn: (line) => void io.stderr.write(`rsqlo: ${line}\n`),
  });
  let composed: ReturnType<typeof composeLocalEngine>;
  try {
    composed = composeLocalEngine({
      home,
      database: databaseOf(values, home),
      onEvent: (e) => progress.event(e),
      onAlert: (e, rule) => alerts.deliver(e, rule),
      onWarning: (m) =>
        io.stderr.write(
          `rsqlo: the database could not be started: ${m}\n  jobs are not run without it; fix the cause and restart the run, or serve with --no-database\n`,
        ),
      onNotice: (m) => io.stderr.write(`rsqlo: note: ${m}\n`),
      notify: (line) => io.stderr.write(`rsqlo: ${line}\n`),
      forgetLostRuns: values['forget-lost'] === true,
    });
  } catch (err) {
    if (!(err instanceof EngineLockedError)) throw err;
    const owner = readServeInfo(home);
    const who =
      owner && (err.pid === undefined || owner.pid === err.pid)
        ? `rsqlo serve (pid ${owner.pid}) at ${owner.url}/`
        : `another rsqlo engine${err.pid !== undefined ? ` (pid ${err.pid})` : ''}`;
    io.stderr.write(`rsqlo serve: ${home} is owned by ${who}; stop it first, or serve another --home\n`);
    return EXIT.rejected;
  }
  const engine = composed.engine;
  const source = createLocalRunViewSource({ home });
  const cleanups: Array<() => Promise<void> | void> = [];
  const cleanup = async () => {
    alerts.close();
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch {
        // go on releasing the rest
      }
    }
    source.close();
    await composed.dispose();
  };
  try {
    for (const l of loaded) engine.putDefinition(l.definition, l.scriptRoot);
    const resumed = engine.store.activeRuns().length;

    const logs = createLocalLogSource({ locate: (ref) => source.attemptLog(ref) });
    const view = createRunViewHandler({
      source,
      logs,
      actions: engineActions(engine),
      pools: enginePools(engine),
      requestedBy: webRequester(),
      alerts: () => alerts.recent(),
      allowedHosts: isLoopback(host) || host === '0.0.0.0' || host === '::' ? [] : [host],
    });
    cleanups.push(() => view.close());
    engine.store.onCommittedEvent(() => source.changes.notify());
    const web = http.createServer(view);
    try {
      await new Promise<void>((resolve, reject) => {
        web.once('error', reject);
        web.listen(port, host, () => {
          web.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      io.stderr.write(
        `rsqlo serve: cannot listen on ${host}:${port}: ${code === 'EADDRINUSE' ? 'the port is in use (choose another with --port)' : code === 'EADDRNOTAVAIL' ? 'no such address here' : String((err as Error).message)}\n`,
      );
      await cleanup();
      return EXIT.usage;
    }
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          web.close(() => resolve());
          web.closeAllConnections();
        }),
    );
    const address = web.address();
    const actualPort = typeof address === 'object' && address ? address.port : port;
    const urlHost = host.includes(':') ? `[${host}]` : host;
    const url = `http://${urlHost}:${actualPort}`;

    const startedAt = new Date().toISOString();
    let socket = '';
    const control = createControlHandler({
      engine,
      info: () => ({ pid: process.pid, url, home, socket, started_at: startedAt }),
      relay: (args, relayIo) => asServer(() => main(args, relayIo as Io)),
      notify: say,
    });
    const listening = await listenControl(home, control, {
      pid: process.pid,
      url,
      home,
      started_at: startedAt,
    });
    socket = listening.socket;
    cleanups.push(() => listening.close());
    cleanups.push(() => control.close());

    const scheduler = new LocalScheduler({
      clock: opts.clock ?? { now: () => new Date() },
      timers: opts.timers ?? realTimers,
      stateFile: path.join(home, 'schedules.json'),
      notify: say,
      fire: (s: LocalSchedule, at: Date, late: boolean) => {
        const scheduled_time = at.toISOString();
        const exec = deriveExecutionId(s.workflow_id, `schedule:${scheduled_time}`, at);
        say(
          `schedule: ${s.workflow_id} ${late ? 'catching up on' : 'fires for'} ${scheduled_time} as ${exec}`,
        );
        engine.request({
          version: 1,
          workflow_id: s.workflow_id,
          workflow_execution_id: exec,
          scheduled_time,
          requested_by: `schedule:local/${s.workflow_id}`,
        });
        // sla.start_by: SlaMissed if this firing's run has not started by then (issue 15).
        const def = loaded.find((l) => l.definition.workflow_id === s.workflow_id)?.definition;
        if (def && armStartBy(engine.store, def, exec, at)) engine.wake();
      },
    });
    cleanups.push(() => scheduler.stop());

    say(`rsqlo serve: ${home} at ${url}/ (pid ${process.pid}; Ctrl-C stops)`);
    if (resumed > 0) say(`resuming ${resumed} unfinished run(s) found in ${home}`);
    for (const l of loaded) say(`workflow ${l.definition.workflow_id} from ${l.file}`);
    scheduler.load(
      loaded.map((l) => l.definition),
      calendars,
    );
    for (const u of scheduler.upcoming())
      say(`schedule: ${u.workflow_id} next at ${u.next ? u.next.toISOString() : 'never (no time left)'}`);
    opts.onListening?.(url);

    const abort = new AbortController();
    const stopped =
      opts.stopSignal ??
      new Promise<void>((resolve) => {
        let signals = 0;
        const on = (sig: string) => {
          if (++signals > 1) {
            io.stderr.write(`rsqlo serve: ${sig} again: leaving at once\n`);
            process.exit(EXIT.interrupted);
          }
          resolve();
        };
        process.on('SIGINT', () => on('SIGINT'));
        process.on('SIGTERM', () => on('SIGTERM'));
      });
    const loop = engine.runUntil(() => false, abort.signal);
    let failed: unknown;
    await Promise.race([stopped, loop.catch((err: unknown) => (failed = err))]);
    const running = engine.agent.busyCount();
    say(
      `rsqlo serve: stopping${running > 0 ? `; ${running} running job(s) go on and the next engine (rsqlo serve, or rsqlo resume) adopts them` : ''}`,
    );
    abort.abort();
    await loop.catch(() => {});
    await cleanup();
    if (failed) {
      io.stderr.write(
        `rsqlo serve: the engine stopped: ${failed instanceof Error ? failed.message : String(failed)}\n`,
      );
      return EXIT.failed;
    }
    if (engine.halted) return EXIT.failed;
    return 0;
  } catch (err) {
    await cleanup();
    throw err;
  }
}
