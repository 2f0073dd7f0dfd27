/**
 * The commands that run workflows on the local engine (or on the home's server): `run`,
 * `restart`, `resume` and `kill`.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { WorkflowAuditRecord } from '../contracts/audit.js';
import { ExecutionId } from '../contracts/common.js';
import { EngineLockedError } from '../host/lock.js';
import { composeLocalEngine } from '../runtime/local/compose.js';
import type { DatabaseTarget } from '../runtime/local/database.js';
import { runFolders } from '../runtime/local/store.js';
import { newExecutionId } from '../services/starter/execution-id.js';
import {
  DATABASE_OPTIONS,
  databaseOf,
  homeOf,
  loadRunnable,
  noter,
  notifier,
  parse,
  readStore,
  runParams,
  UsageError,
  warner,
} from './command-kit.js';
import { formatIssues } from './definition.js';
import { drive, EXIT, eventTap, type Io, progressSink, resultDocument } from './drive.js';
import { haltedLine, homeArg, noRun } from './errors.js';
import { command as suggest } from './invocation.js';
import { killOnServer, type SubmitTarget, serverFor, submitAndFollow } from './remote.js';
import { alreadyRestarted, chooseRestartDefinition } from './restart.js';
import { cutLines, exitFor, reportRemote, stuckMessage, summary } from './run-report.js';

/**
 * Starts (or joins) the home's engine, lets `setup` request the run, and follows it to its end:
 * progress while it runs, then the summary and the exit code. A server owning the home runs it.
 */
export async function startAndWatch(
  io: Io,
  opts: {
    home: string;
    json: boolean;
    database: DatabaseTarget;
    forgetLost: boolean;
    setup: (engine: SubmitTarget) => string;
  },
): Promise<number> {
  const progress = progressSink(io, opts.json);
  // A server owns the home (rsqlo serve): it runs the workflow; we follow it as we would our own.
  const server = await serverFor(opts.home);
  if (server) return reportRemote(io, opts, await submitAndFollow(server, opts.setup, progress));
  const tap = eventTap(progress);
  const composed = composeLocalEngine({
    home: opts.home,
    onEvent: tap.onEvent,
    database: opts.database,
    onWarning: warner(io),
    onNotice: noter(io),
    notify: notifier(io),
    forgetLostRuns: opts.forgetLost,
  });
  const engine = composed.engine;
  try {
    const others = engine.store.activeRuns().length;
    if (others > 0) {
      (opts.json ? io.stderr : io.stdout).write(
        `note: resuming ${others} unfinished run(s) found in ${opts.home}\n`,
      );
    }
    const exec = opts.setup(engine);
    const { interrupted, stuck } = await drive(engine, {
      execs: () => [exec],
      progress,
      rejected: () => tap.rejected.has(exec),
      watch: () => exec,
    });
    if (engine.halted) {
      io.stderr.write(`rsqlo: run ${exec} ${haltedLine(engine.halted, opts.home)}\n`);
      return EXIT.failed;
    }
    if (stuck.length > 0) {
      io.stderr.write(stuckMessage(engine, exec, opts.home));
      return EXIT.failed;
    }
    const rejection = tap.rejected.get(exec);
    if (rejection) {
      const d = rejection.detail as { message: string; reason: string };
      io.stderr.write(`rsqlo: request refused (${d.reason}): ${d.message}\n`);
      return EXIT.rejected;
    }
    const run = engine.getRun(exec);
    if (!run) {
      io.stderr.write(`rsqlo: the run ${exec} did not start\n`);
      return EXIT.failed;
    }
    const jobs = engine.store.listJobsSync(exec);
    if (opts.json) io.stdout.write(`${JSON.stringify(resultDocument(run, jobs), null, 2)}\n`);
    else io.stdout.write(summary(run, jobs, opts.home));
    if (interrupted && run.execution_status !== 'Completed') return EXIT.interrupted;
    return exitFor(run);
  } finally {
    await composed.dispose();
  }
}

/** `rsqlo run`: one definition file or folder, run to its end. */
export async function runCommand(argv: string[], io: Io): Promise<number> {
  const { positionals, values } = parse(argv, {
    scripts: { type: 'string' },
    'execution-id': { type: 'string' },
    home: { type: 'string' },
    json: { type: 'boolean' },
    param: { type: 'string', multiple: true },
    ...DATABASE_OPTIONS,
  });
  const runnable = loadRunnable('run', positionals, values, io);
  if (!runnable) return EXIT.usage;
  const { loaded, params } = runnable;
  const given = values['execution-id'] as string | undefined;
  if (given !== undefined) {
    const r = ExecutionId.safeParse(given);
    if (!r.success) throw new UsageError(`--execution-id: ${r.error.issues[0]?.message ?? 'invalid'}`);
  }
  const def = loaded.definition;
  const runHome = homeOf(values as { home?: string });
  return startAndWatch(io, {
    home: runHome,
    json: values.json === true,
    database: databaseOf(values, runHome),
    forgetLost: values['forget-lost'] === true,
    setup: (engine) => {
      const exec = given ?? newExecutionId(def.workflow_id, new Date());
      engine.putDefinition(def, loaded.scriptRoot, { exec, file: loaded.file });
      engine.request({
        version: 1,
        workflow_id: def.workflow_id,
        workflow_execution_id: exec,
        requested_by: 'rsqlo-cli',
        ...(Object.keys(params).length > 0 ? { parameters: params } : {}),
      });
      return exec;
    },
  });
}

/** `rsqlo restart`: a failed or cancelled run again, skipping what completed; once per run. */
export async function restartCommand(argv: string[], io: Io): Promise<number> {
  const { positionals, values } = parse(argv, {
    definition: { type: 'string' },
    'same-definition': { type: 'boolean' },
    scripts: { type: 'string' },
    param: { type: 'string', multiple: true },
    'execution-id': { type: 'string' },
    home: { type: 'string' },
    json: { type: 'boolean' },
    ...DATABASE_OPTIONS,
  });
  if (positionals.length !== 1) throw new UsageError('restart takes one execution id');
  if (values['same-definition'] === true && values.definition !== undefined)
    throw new UsageError('--same-definition and --definition cannot be used together');
  const prevId = positionals[0] as string;
  const home = homeOf(values as { home?: string });
  const json = values.json === true;
  const found = readStore(home, (s) => {
    const prev = s.getRunSync(prevId);
    if (!prev) return undefined;
    const refused = alreadyRestarted(s, prev);
    if (refused) return { prev, refused };
    return {
      prev,
      choice: chooseRestartDefinition(s, prev, {
        definition: values.definition as string | undefined,
        scripts: values.scripts as string | undefined,
        same: values['same-definition'] === true,
      }),
    };
  });
  if (!found) {
    io.stderr.write(`rsqlo: ${noRun(prevId, home)}\n`);
    return EXIT.usage;
  }
  if (found.refused !== undefined) {
    io.stderr.write(`rsqlo: request refused: ${found.refused}\n`);
    return EXIT.rejected;
  }
  const { prev, choice } = found;
  if (!choice?.ok) {
    if (choice) {
      io.stderr.write(`${formatIssues(choice.file, choice.issues)}\n`);
      if (choice.hint) io.stderr.write(`  ${choice.hint}\n`);
    }
    return EXIT.usage;
  }
  const params = runParams(
    choice.definition,
    values.param as string[] | undefined,
    choice.file ?? '(stored definition)',
    io,
  );
  if (!params) return EXIT.usage;
  const given = values['execution-id'] as string | undefined;
  if (given !== undefined && !ExecutionId.safeParse(given).success)
    throw new UsageError('--execution-id is not a valid execution id');
  (json ? io.stderr : io.stdout).write(`${choice.lines.join('\n')}\n`);
  return startAndWatch(io, {
    home,
    json,
    database: databaseOf(values, home),
    forgetLost: values['forget-lost'] === true,
    setup: (engine) => {
      const exec = given ?? newExecutionId(prev.workflow_id, new Date());
      engine.putDefinition(choice.definition, choice.scriptRoot, {
        exec,
        file: choice.file ?? choice.source.file,
      });
      engine.request({
        version: 1,
        workflow_id: prev.workflow_id,
        workflow_execution_id: exec,
        restart_of: prevId,
        requested_by: 'rsqlo-cli',
        definition_source: choice.source,
        ...(Object.keys(params).length > 0 ? { parameters: params } : {}),
      });
      return exec;
    },
  });
}

/** `rsqlo resume`: the unfinished runs of the home, to their end. */
export async function resumeCommand(argv: string[], io: Io): Promise<number> {
  const { positionals, values } = parse(argv, {
    home: { type: 'string' },
    json: { type: 'boolean' },
    ...DATABASE_OPTIONS,
  });
  if (positionals.length > 0) throw new UsageError('resume takes no arguments');
  const home = homeOf(values as { home?: string });
  if (!existsSync(path.join(home, 'rsqlo.db')) && runFolders(home).length === 0) {
    io.stderr.write(`rsqlo: no engine state in ${home}\n`);
    return EXIT.usage;
  }
  const json = values.json === true;
  const progress = progressSink(io, json);
  const tap = eventTap(progress);
  const composed = composeLocalEngine({
    home,
    onEvent: tap.onEvent,
    database: databaseOf(values, home),
    onWarning: warner(io),
    notify: notifier(io),
    forgetLostRuns: values['forget-lost'] === true,
  });
  const engine = composed.engine;
  // Held trigger rows wait for `rsqlo serve`: they are not work for this resume (drive holds them too).
  engine.holdTriggers();
  try {
    const execs = engine.store.activeRuns().map((r) => r.workflow_execution_id);
    const pending = engine.store.outboxSize() + engine.store.queueSize();
    if (execs.length === 0 && pending === 0) {
      (json ? io.stderr : io.stdout).write('nothing to resume\n');
      if (json) io.stdout.write('[]\n');
      return 0;
    }
    (json ? io.stderr : io.stdout).write(`resuming ${execs.length} run(s): ${execs.join(', ')}\n`);
    const { stuck } = await drive(engine, {
      execs: () => execs,
      progress,
      watch: () => execs.find((e) => !engine.isSettled(e)) ?? execs[0],
    });
    if (engine.halted) {
      io.stderr.write(`rsqlo: resume ${haltedLine(engine.halted, home)}\n`);
      return EXIT.failed;
    }
    for (const e of stuck) io.stderr.write(stuckMessage(engine, e, home));
    if (execs.length === 0) await drive(engine, { execs: () => [], progress });
    const runs = execs.map((e) => engine.getRun(e)).filter((r): r is WorkflowAuditRecord => r !== undefined);
    if (json) {
      io.stdout.write(
        `${JSON.stringify(
          runs.map((r) => resultDocument(r, engine.store.listJobsSync(r.workflow_execution_id))),
          null,
          2,
        )}\n`,
      );
    } else {
      for (const r of runs)
        io.stdout.write(summary(r, engine.store.listJobsSync(r.workflow_execution_id), home));
    }
    return runs.every((r) => r.execution_status === 'Completed') ? 0 : EXIT.failed;
  } finally {
    await composed.dispose();
  }
}

/** `rsqlo kill`: cancels a run here, or asks the server or the engine that owns the home. */
export async function killCommand(argv: string[], io: Io): Promise<number> {
  const { positionals, values } = parse(argv, { home: { type: 'string' } });
  if (positionals.length !== 1) throw new UsageError('kill takes one execution id');
  const exec = positionals[0] as string;
  const home = homeOf(values as { home?: string });
  const run = readStore(home, (s) => s.getRunSync(exec));
  if (!run) {
    io.stderr.write(`rsqlo: ${noRun(exec, home)}\n`);
    return EXIT.usage;
  }
  if (run.execution_status !== 'Running') {
    io.stdout.write(`${exec} is already ${run.execution_status}\n`);
    return 0;
  }
  const detail = {
    version: 1,
    workflow_id: run.workflow_id,
    workflow_execution_id: exec,
    requested_by: 'rsqlo-cli',
    reason: 'rsqlo kill',
  };
  const server = await serverFor(home);
  if (server) {
    io.stdout.write(`${exec} is ${(await killOnServer(server, exec)) ?? 'gone'}\n`);
    return 0;
  }
  let composed: ReturnType<typeof composeLocalEngine>;
  try {
    composed = composeLocalEngine({
      home,
      database: { kind: 'embedded', dataDir: path.join(home, 'pg') },
      notify: notifier(io),
    });
  } catch (err) {
    if (!(err instanceof EngineLockedError)) throw err;
    // A running engine owns the home: hand it the request through the database; it polls.
    readStore(
      home,
      (s) => s.tx(() => s.publish([{ detailType: 'WorkflowCancelRequested', detail }])),
      notifier(io),
    );
    io.stdout.write(
      `cancel requested for ${exec}; the engine${err.pid !== undefined ? ` (pid ${err.pid})` : ''} will stop its jobs\n`,
    );
    return 0;
  }
  const engine = composed.engine;
  try {
    engine.cancel(detail);
    await drive(engine, { execs: () => [exec], progress: progressSink(io, false) });
    const after = engine.getRun(exec);
    io.stdout.write(`${exec} is ${after?.execution_status}\n`);
    if (after) {
      const lines = cutLines(after, engine.store.listJobsSync(exec));
      if (after.execution_status === 'Cancelled')
        lines.push(`restart with: ${suggest(`restart ${exec}${homeArg(home)}`)}`);
      if (lines.length > 0) io.stdout.write(`${lines.join('\n')}\n`);
    }
    return 0;
  } finally {
    await composed.dispose();
  }
}
