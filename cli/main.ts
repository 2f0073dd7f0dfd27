import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { JobAuditRecord, WorkflowAuditRecord } from '../contracts/audit.js';
import { ExecutionId, WorkflowId } from '../contracts/common.js';
import { EngineLockedError } from '../host/lock.js';
import { ConfigError, composeLocalEngine } from '../runtime/local/compose.js';
import { type DatabaseTarget, openDatabase } from '../runtime/local/database.js';
import type { LocalEngine } from '../runtime/local/engine.js';
import { LocalStore, runFolders } from '../runtime/local/store.js';
import { packageRoot } from '../runtime/package-root.js';
import { newExecutionId } from '../services/starter/execution-id.js';
import { completionScript } from './completion.js';
import { formatIssues, loadDefinition } from './definition.js';
import { drive, EXIT, eventTap, type Io, progressSink, resultDocument } from './drive.js';
import { describeFailure, haltedLine, homeArg, homeFromArgv, noRun } from './errors.js';
import { COMMANDS, commandHelp, didYouMean } from './help.js';
import { initWorkflow, workflowIdFor } from './init.js';
import { invokedAs, command as suggest } from './invocation.js';
import { showLogs } from './logs.js';
import { checkParams, parseParams } from './params.js';
import { formatPlan, planWorkflow } from './plan.js';
import {
  killOnServer,
  type RemoteOutcome,
  relayToServer,
  type SubmitTarget,
  serverFor,
  submitAndFollow,
} from './remote.js';
import { alreadyRestarted, chooseRestartDefinition } from './restart.js';
import { runLine, runsCommand } from './runs.js';
import { serveCommand } from './serve.js';

export const USAGE = `rsqlo — run RSQL ETL workflows

Usage:
  rsqlo run <definition.json | folder> [--param KEY=VALUE]... [--scripts DIR] [--execution-id ID]
            [--home DIR] [--json]
  rsqlo validate <file>...
  rsqlo plan <definition.json | folder> [--param KEY=VALUE]... [--json]
  rsqlo init <folder> [--workflow-id ID]
  rsqlo status <execution-id> [--home DIR] [--json]
  rsqlo history <workflow_id> [--home DIR] [--json] [--limit N]
  rsqlo logs <execution-id> [job_key] [--attempt N] [--tail N] [--follow] [--home DIR]
      streams the jobs' logs (any size); --tail N starts at the last N lines of each,
      --follow keeps printing while the run (or the job) runs and ends when it ends.
  rsqlo restart <execution-id> [--same-definition | --definition FILE] [--param KEY=VALUE]...
            [--scripts DIR] [--home DIR] [--json]
      runs the definition file the run came from (printing what changed since the run), or with
      --same-definition the one stored with the run; a run is restarted once.
  rsqlo resume [--home DIR] [--json]
  rsqlo kill <execution-id> [--home DIR]
  rsqlo runs [--workflow ID] [--status S] [--limit N] [--home DIR] [--json]
      every run of the home, newest first.
  rsqlo serve [--home DIR] [--host 127.0.0.1] [--port 8686] [--workflows DIR]
      one long-running engine for the home: runs any number of workflows at once, fires their
      schedules, shows them at http://HOST:PORT/. While it runs, the commands above go to it.
  rsqlo sql [--home DIR] [--database-url URL] [--install-compat] [rsql options and arguments]
      runs the RSQL-compatible runner against the engine's database (the embedded PostgreSQL,
      started if needed): rsqlo sql -c "select 1", rsqlo sql -f script.sql, or a script on stdin.
      --install-compat (re)installs Redshift's functions and system views there first (a
      superuser is needed; the embedded database gets them automatically).
  rsqlo completion bash|zsh     shell completion: eval "$(rsqlo completion bash)"
  rsqlo <command> --help        what a command does and its options

run, restart and resume take --database-url URL (or $RSQLO_DATABASE_URL) to point jobs at a
PostgreSQL or Redshift database instead of the embedded one, or --no-database; and
--forget-lost to go on when the engine state has lost runs whose logs are in the home (their
logs are moved to <home>/lost/; without it the command stops and says what was found).

Exit codes: 0 the workflow Completed; 1 it Failed (or was cancelled); 2 usage or definition
errors (nothing is written); 3 the request was refused (another run is active, the run was
restarted already, another engine owns the home); 130 interrupted.
Engine state lives in --home (default .rsqlo/, or $RSQLO_HOME).
`;

class UsageError extends Error {
  override name = 'UsageError';
}

/** The command being parsed (for "see rsqlo run --help" and "did you mean"). */
let current = '';

const defaultIo: Io = { stdout: process.stdout, stderr: process.stderr };

function homeOf(values: { home?: string }): string {
  return path.resolve(values.home ?? process.env.RSQLO_HOME ?? '.rsqlo');
}

function parse(
  argv: string[],
  options: NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>['options']>,
) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    const unknown = /^Unknown option '([^']+)'/.exec(err instanceof Error ? err.message : '');
    if (unknown) {
      const typed = unknown[1] as string;
      const guess = didYouMean(
        typed,
        Object.keys(options).map((o) => `--${o}`),
      );
      throw new UsageError(`unknown option ${typed}${guess ? ` (did you mean ${guess}?)` : ''}`);
    }
    throw new UsageError(
      err instanceof Error ? err.message.replace(/^TypeError \[[A-Z_]+\]: /, '') : String(err),
    );
  }
}

/** The rsqlo command: a thin layer over the local engine. Returns the exit code; never throws. */
export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  const [command, ...rest] = argv;
  current = command ?? '';
  try {
    // `rsqlo <command> --help` (for sql only --help: -h is the runner's host option)
    if (
      command &&
      COMMANDS[command] &&
      (rest.includes('--help') || (command !== 'sql' && rest.includes('-h')))
    ) {
      io.stdout.write(commandHelp(command, invokedAs()) ?? USAGE);
      return 0;
    }
    // A server owns the home: read-only commands are answered by it (the same output).
    const relayed = await relayToServer(command, rest, io);
    if (relayed !== undefined) return relayed;
    switch (command) {
      case 'plan':
        return planCommand(rest, io);
      case 'init':
        return initCommand(rest, io);
      case 'completion':
        return completionCommand(rest, io);
      case 'run':
        return await runCommand(rest, io);
      case 'validate':
        return validateCommand(rest, io);
      case 'status':
        return statusCommand(rest, io);
      case 'history':
        return historyCommand(rest, io);
      case 'logs':
        return await logsCommand(rest, io);
      case 'restart':
        return await restartCommand(rest, io);
      case 'resume':
        return await resumeCommand(rest, io);
      case 'kill':
        return await killCommand(rest, io);
      case 'sql':
        return await sqlCommand(rest, io);
      case 'serve':
        return await serveCommand(rest, io, main);
      case 'runs':
        return await runsCommand(rest, io);
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        io.stdout.write(USAGE);
        return command === undefined ? EXIT.usage : 0;
      case '--version':
      case 'version':
        io.stdout.write(`${packageVersion()}\n`);
        return 0;
      default: {
        const guess = didYouMean(command, Object.keys(COMMANDS));
        current = '';
        throw new UsageError(`unknown command "${command}"${guess ? ` (did you mean ${guess}?)` : ''}`);
      }
    }
  } catch (err) {
    if (err instanceof UsageError) {
      // One line and where to read more, as git and npm do (the full usage is --help).
      io.stderr.write(
        `rsqlo${current && COMMANDS[current] ? ` ${current}` : ''}: ${err.message}; see ${suggest(`${current && COMMANDS[current] ? `${current} ` : ''}--help`)}\n`,
      );
      return EXIT.usage;
    }
    if (err instanceof EngineLockedError) {
      // Another engine owns the home: the request is refused, like any other refusal.
      io.stderr.write(`rsqlo: ${err.message}\n`);
      return EXIT.rejected;
    }
    if (err instanceof ConfigError) {
      io.stderr.write(`rsqlo: ${err.message}\n`);
      return EXIT.usage;
    }
    io.stderr.write(`rsqlo: ${describeFailure(err, homeFromArgv(rest))}\n`);
    return EXIT.failed;
  }
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function validateCommand(argv: string[], io: Io): number {
  const { positionals, values } = parse(argv, { scripts: { type: 'string' } });
  if (positionals.length === 0) throw new UsageError('validate needs at least one file');
  let bad = 0;
  for (const arg of positionals) {
    const r = loadDefinition(arg, values.scripts as string | undefined);
    if (r.ok)
      io.stdout.write(
        `${r.file}: ok (${r.definition.workflow_id}, ${r.definition.workflow_stages.length} stages)\n`,
      );
    else {
      bad++;
      io.stderr.write(`${formatIssues(r.file, r.issues)}\n`);
    }
  }
  return bad ? EXIT.usage : 0;
}

function exitFor(run: WorkflowAuditRecord | undefined): number {
  return run?.execution_status === 'Completed' ? EXIT.completed : EXIT.failed;
}

function summary(run: WorkflowAuditRecord, jobs: JobAuditRecord[], home: string): string {
  const c = run.counts;
  const lines = [
    `${run.workflow_id} ${run.workflow_execution_id}: ${run.execution_status} (${c.completed} completed, ${c.failed} failed, ${c.timed_out} timed out, ${c.cancelled} cancelled, ${c.skipped} skipped of ${c.total})`,
  ];
  for (const j of jobs) {
    if (j.execution_status === 'Failed' || j.execution_status === 'TimedOut') {
      lines.push(
        `  ${j.job_key} ${j.job_name}: ${j.execution_status}${j.exit_code !== null ? ` (exit ${j.exit_code})` : ''}`,
      );
      if (j.error_message) for (const l of j.error_message.split('\n').slice(-5)) lines.push(`      ${l}`);
      if (j.log_location) lines.push(`      log: ${j.log_location}`);
    }
  }
  lines.push(...cutLines(run, jobs));
  if (run.execution_status === 'Failed' || run.execution_status === 'Cancelled') {
    lines.push(`restart with: ${suggest(`restart ${run.workflow_execution_id}${homeArg(home)}`)}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * After Ctrl-C or `rsqlo kill`: the jobs that were cut while running (they will run again from
 * their start on restart) and those that never started.
 */
function cutLines(run: WorkflowAuditRecord, jobs: JobAuditRecord[]): string[] {
  if (run.execution_status !== 'Cancelled') return [];
  const cut = jobs.filter((j) => j.execution_status === 'Cancelled' && j.execution_start_ts !== null);
  const never = jobs.filter(
    (j) =>
      (j.execution_status === 'Cancelled' || j.execution_status === 'Skipped') &&
      j.execution_start_ts === null &&
      !j.skip_reason?.startsWith('completed in run') &&
      !j.skip_reason?.startsWith('stage '),
  );
  const lines: string[] = [];
  for (const j of cut) {
    const ran = j.execution_end_ts
      ? ` after ${((Date.parse(j.execution_end_ts) - Date.parse(j.execution_start_ts as string)) / 1000).toFixed(1)} s`
      : '';
    lines.push(
      `  cut: ${j.job_key} ${j.job_name} was killed while running${ran}${j.log_location ? ` (log: ${j.log_location})` : ''}`,
    );
  }
  if (cut.length === 0) lines.push('  no job was running when the run was cancelled');
  if (never.length > 0) lines.push(`  not started: ${never.map((j) => j.job_key).join(', ')}`);
  if (cut.length + never.length > 0)
    lines.push('  a restart runs these again (and skips the jobs that completed)');
  return lines;
}

/** The database jobs use: --no-database, --database-url (or RSQLO_DATABASE_URL), else the embedded one. */
export function databaseOf(
  values: { 'database-url'?: unknown; 'no-database'?: unknown },
  home: string,
): DatabaseTarget {
  if (values['no-database'] === true) return { kind: 'none' };
  const url = (values['database-url'] as string | undefined) ?? process.env.RSQLO_DATABASE_URL;
  if (url) return { kind: 'url', url };
  return { kind: 'embedded', dataDir: path.join(home, 'pg') };
}

const DATABASE_OPTIONS = {
  'database-url': { type: 'string' },
  'no-database': { type: 'boolean' },
  'forget-lost': { type: 'boolean' },
} as const;

/** Lines about the engine itself (waiting for a lock, a full disk), on stderr. */
function notifier(io: Io) {
  return (line: string) => void io.stderr.write(`rsqlo: ${line}\n`);
}

/** The database could not be started: the jobs that need it are not run (see LocalAgent). */
function warner(io: Io) {
  return (message: string) =>
    io.stderr.write(
      `rsqlo: the database could not be started: ${message}\n` +
        '  jobs are not run without it; fix the cause and restart the run, or run with --no-database\n',
    );
}

function noter(io: Io) {
  return (message: string) => io.stderr.write(`rsqlo: note: ${message}\n`);
}

async function startAndWatch(
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

/** The end of a run followed on a server, said as startAndWatch says it. */
function reportRemote(io: Io, opts: { home: string; json: boolean }, r: RemoteOutcome): number {
  if (r.kind === 'left') {
    io.stderr.write(
      `rsqlo: left ${r.exec} running in the server (pid ${r.server.info.pid}); see it with rsqlo status ${r.exec}${homeArg(opts.home)} or at ${r.server.info.url}/runs/${r.exec}\n`,
    );
    return EXIT.interrupted;
  }
  if (r.kind === 'lost') {
    io.stderr.write(
      `rsqlo: the server (pid ${r.server.info.pid}) stopped before ${r.exec} ended; the next engine adopts its jobs and finishes it (rsqlo serve, or rsqlo resume${homeArg(opts.home)})\n`,
    );
    return r.interrupted ? EXIT.interrupted : EXIT.failed;
  }
  const { end, exec } = r;
  if (end.halted) {
    io.stderr.write(`rsqlo: run ${exec} stopped in the server: ${end.halted}\n`);
    return EXIT.failed;
  }
  if (end.rejected) {
    io.stderr.write(`rsqlo: request refused (${end.rejected.reason}): ${end.rejected.message}\n`);
    return EXIT.rejected;
  }
  if (end.stuck) {
    const lines = [`rsqlo: run ${exec} cannot make progress: nothing is left to do for it in ${opts.home}.`];
    if (end.stuck.length > 0) {
      lines.push('  deliveries that failed for good (newest first):');
      for (const d of end.stuck) lines.push(`    ${d.at} ${d.source}: ${d.error}`);
    }
    io.stderr.write(`${lines.join('\n')}\n`);
    return EXIT.failed;
  }
  if (!end.run) {
    io.stderr.write(`rsqlo: the run ${exec} did not start\n`);
    return EXIT.failed;
  }
  if (opts.json) io.stdout.write(`${JSON.stringify(resultDocument(end.run, end.jobs), null, 2)}\n`);
  else io.stdout.write(summary(end.run, end.jobs, opts.home));
  if (r.interrupted && end.run.execution_status !== 'Completed') return EXIT.interrupted;
  return exitFor(end.run);
}

/** Why a run cannot go on: the dead letters that stopped it. */
function stuckMessage(engine: LocalEngine, exec: string, home: string): string {
  const dead = engine.store.deadLetters(5);
  const lines = [`rsqlo: run ${exec} cannot make progress: nothing is left to do for it in ${home}.`];
  if (dead.length > 0) {
    lines.push('  deliveries that failed for good (newest first):');
    for (const d of dead) lines.push(`    ${d.at} ${d.source}: ${d.error}`);
  }
  return `${lines.join('\n')}\n`;
}

async function runCommand(argv: string[], io: Io): Promise<number> {
  const { positionals, values } = parse(argv, {
    scripts: { type: 'string' },
    'execution-id': { type: 'string' },
    home: { type: 'string' },
    json: { type: 'boolean' },
    param: { type: 'string', multiple: true },
    ...DATABASE_OPTIONS,
  });
  if (positionals.length !== 1) throw new UsageError('run takes one definition file or folder');
  const loaded = loadDefinition(positionals[0] as string, values.scripts as string | undefined);
  if (!loaded.ok) {
    io.stderr.write(`${formatIssues(loaded.file, loaded.issues)}\n`);
    return EXIT.usage;
  }
  const params = runParams(loaded.definition, values.param as string[] | undefined, loaded.file, io);
  if (!params) return EXIT.usage;
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

async function restartCommand(argv: string[], io: Io): Promise<number> {
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

/** `--param KEY=VALUE`s checked against the definition; undefined (after saying why) when bad. */
function runParams(
  def: Parameters<typeof checkParams>[0],
  list: string[] | undefined,
  file: string,
  io: Io,
): Record<string, string> | undefined {
  const { params, issues } = parseParams(list);
  const all = [...issues, ...checkParams(def, params)];
  if (all.length === 0) return params;
  io.stderr.write(`${formatIssues(file, all)}\n`);
  return undefined;
}

async function resumeCommand(argv: string[], io: Io): Promise<number> {
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

async function killCommand(argv: string[], io: Io): Promise<number> {
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

/**
 * `rsqlo sql`: the runner against the engine's database. Our own options (--home, --database-url)
 * may come anywhere; everything else is the runner's.
 */
async function sqlCommand(argv: string[], io: Io): Promise<number> {
  let home: string | undefined;
  let url: string | undefined;
  let installCompat = false;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const value = (name: string): string => {
      if (a.startsWith(`${name}=`)) return a.slice(name.length + 1);
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${name} needs a value`);
      return v;
    };
    if (a === '--home' || a.startsWith('--home=')) home = value('--home');
    else if (a === '--database-url' || a.startsWith('--database-url=')) url = value('--database-url');
    else if (a === '--install-compat') installCompat = true;
    else rest.push(a);
  }
  const h = homeOf({ home });
  const target = databaseOf({ 'database-url': url }, h);
  let db: Awaited<ReturnType<typeof openDatabase>>;
  try {
    db = await openDatabase(target);
  } catch (err) {
    io.stderr.write(
      `rsqlo: cannot reach the database: ${err instanceof Error ? err.message : String(err)}\n`,
    );
    return EXIT.usage;
  }
  try {
    if (installCompat && db) {
      const code = await installCompatCommand(db.env, target.kind === 'embedded', io);
      if (code !== 0 || rest.length === 0) return code;
    }
    const { main: rsql } = await import('../rsql/main.js');
    return await rsql(rest, {
      env: { ...process.env, ...db?.env },
      stdout: io.stdout as never,
      stderr: io.stderr as never,
    });
  } finally {
    await db?.release();
  }
}

/** `rsqlo sql --install-compat`: the Redshift functions into the target (every database when embedded). */
async function installCompatCommand(
  env: Record<string, string>,
  everyDatabase: boolean,
  io: Io,
): Promise<number> {
  const { installRedshiftCompat, REDSHIFT_COMPAT_VERSION } = await import('../rsql/redshift/install.js');
  const c = {
    host: env.PGHOST ?? 'localhost',
    port: Number(env.PGPORT ?? 5432),
    user: env.PGUSER ?? '',
    password: env.PGPASSWORD ?? '',
    database: env.PGDATABASE ?? '',
  };
  try {
    const r = await installRedshiftCompat(
      c,
      everyDatabase ? { force: true } : { databases: [c.database], force: true },
    );
    for (const note of r.notes) io.stderr.write(`rsqlo: ${note}\n`);
    io.stdout.write(
      `Redshift compatibility functions ${REDSHIFT_COMPAT_VERSION} installed into ${r.installed.map((d) => `"${d}"`).join(', ')}\n`,
    );
    return 0;
  } catch (err) {
    io.stderr.write(`rsqlo: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT.failed;
  }
}

function readStore<T>(
  home: string,
  fn: (s: LocalStore) => T,
  notify?: (line: string) => void,
): T | undefined {
  const file = path.join(home, 'rsqlo.db');
  if (!existsSync(file)) return undefined;
  const store = new LocalStore(
    file,
    notify && {
      waiter: {
        waiting: (e) => notify(`waiting: ${e.message}; trying again until it is free`),
        over: (ms) => notify(`${file} is free again after ${(ms / 1000).toFixed(1)} s; carrying on`),
      },
    },
  );
  try {
    return fn(store);
  } finally {
    store.close();
  }
}

function statusCommand(argv: string[], io: Io): number {
  const { positionals, values } = parse(argv, { home: { type: 'string' }, json: { type: 'boolean' } });
  if (positionals.length !== 1) throw new UsageError('status takes one execution id');
  const exec = positionals[0] as string;
  const home = homeOf(values as { home?: string });
  const found = readStore(home, (s) => {
    const run = s.getRunRecord(exec);
    return run ? { run, jobs: s.listJobsSync(exec) } : undefined;
  });
  if (!found) {
    io.stderr.write(`rsqlo: ${noRun(exec, home)}\n`);
    return EXIT.usage;
  }
  const { run, jobs } = found;
  if (values.json) {
    io.stdout.write(`${JSON.stringify(resultDocument(run, jobs), null, 2)}\n`);
    return 0;
  }
  const out: string[] = [];
  out.push(`${run.workflow_id}  ${run.workflow_execution_id}  ${run.execution_status}`);
  out.push(
    `  started ${run.execution_start_ts}${run.execution_end_ts ? `, ended ${run.execution_end_ts}` : ''}${run.restart_of ? `, restart of ${run.restart_of}` : ''}`,
  );
  for (const st of run.stages) {
    out.push(
      `  stage ${st.stage} ${st.execution_type} ${st.status}${st.stage_description ? ` — ${st.stage_description}` : ''}`,
    );
    for (const j of jobs.filter((x) => x.stage === st.stage)) {
      const dur =
        j.execution_start_ts && j.execution_end_ts
          ? ` ${((Date.parse(j.execution_end_ts) - Date.parse(j.execution_start_ts)) / 1000).toFixed(2)} s`
          : '';
      const extra = j.skip_reason
        ? ` (${j.skip_reason})`
        : j.exit_code !== null && j.exit_code !== 0
          ? ` (exit ${j.exit_code})`
          : '';
      out.push(
        `    ${j.job_key.padEnd(6)} ${j.job_name.padEnd(30)} ${j.execution_status.padEnd(10)}${dur}${extra}${j.attempt > 1 ? ` attempt ${j.attempt}` : ''}`,
      );
    }
  }
  io.stdout.write(`${out.join('\n')}\n`);
  return 0;
}

function historyCommand(argv: string[], io: Io): number {
  const { positionals, values } = parse(argv, {
    home: { type: 'string' },
    json: { type: 'boolean' },
    limit: { type: 'string' },
  });
  if (positionals.length !== 1) throw new UsageError('history takes one workflow_id');
  const wf = positionals[0] as string;
  if (!WorkflowId.safeParse(wf).success) throw new UsageError(`"${wf}" is not a valid workflow_id`);
  const limit = values.limit === undefined ? 20 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit must be a positive whole number');
  const home = homeOf(values as { home?: string });
  const runs = readStore(home, (s) => s.listRunsSync(wf, limit)) ?? [];
  if (values.json) {
    io.stdout.write(`${JSON.stringify(runs, null, 2)}\n`);
    return 0;
  }
  if (runs.length === 0) {
    io.stdout.write(`no runs of ${wf} in ${home}\n`);
    return 0;
  }
  for (const r of runs) io.stdout.write(runLine(r));
  return 0;
}

async function logsCommand(argv: string[], io: Io): Promise<number> {
  const { positionals, values } = parse(argv, {
    home: { type: 'string' },
    attempt: { type: 'string' },
    tail: { type: 'string' },
    follow: { type: 'boolean', short: 'f' },
  });
  if (positionals.length < 1 || positionals.length > 2)
    throw new UsageError('logs takes an execution id and optionally a job_key');
  const [exec, job] = positionals as [string, string | undefined];
  const whole = (name: string, min: number): number | undefined => {
    const v = values[name];
    if (v === undefined) return undefined;
    const n = Number(v);
    if (typeof v !== 'string' || !/^\d+$/.test(v) || n < min)
      throw new UsageError(`--${name} must be a whole number${min > 0 ? ` of at least ${min}` : ''}`);
    return n;
  };
  const r = await showLogs(
    {
      home: homeOf(values as { home?: string }),
      exec,
      job,
      attempt: whole('attempt', 1),
      tail: whole('tail', 0),
      follow: values.follow === true,
    },
    io,
  );
  if (r.error) io.stderr.write(`rsqlo: ${r.error}\n`);
  return r.code;
}

/** `rsqlo plan`: what a run would do, without running anything. */
function planCommand(argv: string[], io: Io): number {
  const { positionals, values } = parse(argv, {
    scripts: { type: 'string' },
    param: { type: 'string', multiple: true },
    json: { type: 'boolean' },
  });
  if (positionals.length !== 1) throw new UsageError('plan takes one definition file or folder');
  const loaded = loadDefinition(positionals[0] as string, values.scripts as string | undefined);
  if (!loaded.ok) {
    io.stderr.write(`${formatIssues(loaded.file, loaded.issues)}\n`);
    return EXIT.usage;
  }
  const params = runParams(loaded.definition, values.param as string[] | undefined, loaded.file, io);
  if (!params) return EXIT.usage;
  const plan = planWorkflow(loaded.definition, loaded.file, loaded.scriptRoot, params);
  io.stdout.write(
    values.json === true
      ? `${JSON.stringify(plan, null, 2)}\n`
      : formatPlan(plan, new Set(Object.keys(params))),
  );
  return 0;
}

/** `rsqlo init DIR`: a workflow folder that `rsqlo run DIR` runs at once. */
function initCommand(argv: string[], io: Io): number {
  const { positionals, values } = parse(argv, { 'workflow-id': { type: 'string' } });
  if (positionals.length !== 1) throw new UsageError('init takes one folder');
  const dir = positionals[0] as string;
  const id = (values['workflow-id'] as string | undefined) ?? workflowIdFor(dir);
  const r = initWorkflow(dir, id);
  if (!r.ok) {
    io.stderr.write(`rsqlo: ${r.error}\n`);
    return EXIT.usage;
  }
  for (const f of r.files) io.stdout.write(`created ${f}\n`);
  io.stdout.write(
    `workflow ${id}: run it with ${suggest(`run ${dir}`)} (see what it would do: ${suggest(`plan ${dir}`)})\n`,
  );
  return 0;
}

/** `rsqlo completion bash|zsh`. */
function completionCommand(argv: string[], io: Io): number {
  const { positionals } = parse(argv, {});
  const script = positionals.length === 1 ? completionScript(positionals[0] as string) : undefined;
  if (!script) throw new UsageError('completion takes bash or zsh');
  io.stdout.write(script);
  return 0;
}
