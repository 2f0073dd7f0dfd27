import { readFileSync } from 'node:fs';
import path from 'node:path';
import { EngineLockedError } from '../host/lock.js';
import { ConfigError } from '../runtime/local/compose.js';
import { packageRoot } from '../runtime/package-root.js';
import { awsCommand, wantsAws } from './aws-commands.js';
import { definitionsCommand } from './aws-definitions.js';
import { calendarCommand } from './calendar.js';
import { UsageError } from './command-kit.js';
import { completionCommand, initCommand, planCommand, validateCommand } from './definition-commands.js';
import { EXIT, type Io } from './drive.js';
import { describeFailure, homeFromArgv } from './errors.js';
import { COMMANDS, commandHelp, didYouMean } from './help.js';
import { invokedAs, command as suggest } from './invocation.js';
import {
  bypassCommand,
  freeRunCommand,
  holdRunCommand,
  poolCommand,
  rerunCommand,
  setOkCommand,
} from './operator-commands.js';
import { historyCommand, logsCommand, statusCommand } from './read-commands.js';
import { relayToServer } from './remote.js';
import { killCommand, restartCommand, resumeCommand, runCommand } from './run-commands.js';
import { runsCommand } from './runs.js';
import { serveCommand } from './serve.js';
import { sqlCommand } from './sql-command.js';

export { databaseOf } from './command-kit.js';

export const USAGE = `rsqlo — run RSQL ETL workflows

Usage:
  rsqlo run <definition.json | folder> [--param KEY=VALUE]... [--scripts DIR] [--execution-id ID]
            [--home DIR] [--json]
  rsqlo validate <file>...
  rsqlo plan <definition.json | folder> [--param KEY=VALUE]... [--json]
  rsqlo calendar <name> [--workflows DIR] [--workflow ID] [--next N] [--from TIME] [--json]
      the next days of calendars/<name>.json, or with --workflow the next firings of that
      workflow's schedule on them (in the schedule's time zone).
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
  rsqlo set-ok <execution-id> <job_key> --reason TEXT [--home DIR]
      marks a Failed or TimedOut job Completed (the audit keeps who and why); a run Failed
      because of it goes on from there.
  rsqlo rerun <execution-id> <job_key> [--reason TEXT] [--home DIR]
      runs one job of a finished run again, as a new attempt in the same run.
  rsqlo bypass <execution-id> <job_key> --reason TEXT [--home DIR]
      skips a job that has not started; the run continues as if it had completed.
  rsqlo hold|free <workflow_id | execution-id> [--reason TEXT] [--run | --workflow] [--home DIR]
      a held run starts no new job until freed; a held workflow's new runs wait as Held.
  rsqlo pool set NAME SLOTS [--reason TEXT] | pool list [--json]   [--home DIR]
      resource pools shared by every workflow of the home (0 slots drains a pool).
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
  rsqlo definitions push <folder> | list --aws
      the definitions a deployed stack stores (push validates, then writes all or none).
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
run, restart, kill, status, runs, history, logs, validate, serve and the operator commands
(set-ok, rerun, bypass, hold, free, pool) take --aws [--stack NAME]
[--region R] [--profile P] to work on a deployed stack instead (default stack rsqlo).
`;

/** The command being parsed (for "see rsqlo run --help" and "did you mean"). */
let current = '';

const defaultIo: Io = { stdout: process.stdout, stderr: process.stderr };

/** One command: its arguments after the command name in, its exit code out (may throw). */
type CommandRunner = (argv: string[], io: Io) => number | Promise<number>;

/**
 * The command table: which function runs each command. `help.ts` COMMANDS says what each one
 * takes (help, completion, "did you mean"); a test keeps the two tables naming the same commands.
 */
export const COMMAND_RUNNERS: ReadonlyMap<string, CommandRunner> = new Map<string, CommandRunner>([
  ['plan', planCommand],
  ['init', initCommand],
  ['completion', completionCommand],
  ['run', runCommand],
  ['validate', validateCommand],
  ['status', statusCommand],
  ['history', historyCommand],
  ['logs', logsCommand],
  ['restart', restartCommand],
  ['resume', resumeCommand],
  ['kill', killCommand],
  ['sql', sqlCommand],
  ['serve', (argv, io) => serveCommand(argv, io, main)],
  ['runs', runsCommand],
  ['calendar', calendarCommand],
  ['definitions', (argv, io) => definitionsCommand(argv, io, {})],
  ['set-ok', setOkCommand],
  ['rerun', rerunCommand],
  ['bypass', bypassCommand],
  ['hold', holdRunCommand],
  ['free', freeRunCommand],
  ['pool', poolCommand],
]);

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
    // --aws: the command works on a deployed stack (serve and definitions parse it themselves).
    if (command && command !== 'serve' && command !== 'definitions' && wantsAws(rest))
      return await awsCommand(command, rest, io);
    // A server owns the home: read-only commands are answered by it (the same output).
    const relayed = await relayToServer(command, rest, io);
    if (relayed !== undefined) return relayed;
    const runner = command === undefined ? undefined : COMMAND_RUNNERS.get(command);
    if (runner) return await runner(rest, io);
    switch (command) {
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
