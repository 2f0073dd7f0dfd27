/**
 * `rsqlo <command> --help`, "did you mean" for mistyped options and commands, and the command
 * table shell completion is generated from.
 */

const DB = '[--database-url URL | --no-database] [--forget-lost]';

/** Every command: its usage lines, what it does, and its options (for completion). */
export const COMMANDS: Record<string, { usage: string; about: string; options: string[] }> = {
  run: {
    usage: `rsqlo run <definition.json | folder> [--param KEY=VALUE]... [--scripts DIR] [--execution-id ID]\n          [--home DIR] [--json] ${DB}`,
    about:
      'Runs a workflow and follows it to its end. --param KEY=VALUE (repeatable) sets a parameter for\n' +
      'this run (over the definition\'s "parameters", checked the same way); a restart reuses it.',
    options: [
      '--param',
      '--scripts',
      '--execution-id',
      '--home',
      '--json',
      '--database-url',
      '--no-database',
      '--forget-lost',
    ],
  },
  validate: {
    usage: 'rsqlo validate <definition.json | folder>... [--scripts DIR] [--workflows DIR]',
    about:
      'Checks definitions and their scripts without running anything: the JSON, every field, that\n' +
      'each script exists inside the script folder as a regular file, is executable when run\n' +
      'directly, and that shell scripts have no CRLF line endings. --workflows DIR checks a whole\n' +
      'folder as rsqlo serve loads it: its calendars/, and across the definitions every trigger.after\n' +
      'known, no dependency cycle (named: wf_a → wf_b → wf_a), every calendar known. Exit 2 when\n' +
      'anything is wrong.',
    options: ['--scripts', '--workflows'],
  },
  plan: {
    usage: 'rsqlo plan <definition.json | folder> [--param KEY=VALUE]... [--scripts DIR] [--json]',
    about:
      'Shows the stages and jobs as they would run — resolved script paths, how each runs, its\n' +
      'policy (timeout, heartbeat, retries), what is disabled, the parameters — without running anything.',
    options: ['--param', '--scripts', '--json'],
  },
  calendar: {
    usage: 'rsqlo calendar <name> [--workflows DIR] [--workflow ID] [--next N] [--from TIME] [--json]',
    about:
      'Lists the next N (default 10) days of the business calendar DIR/calendars/<name>.json (DIR\n' +
      'default "."), from the date of --from (default now, UTC). With --workflow ID (a definition in\n' +
      "DIR, as rsqlo serve --workflows loads them), the next firings of that workflow's schedule that\n" +
      "fall on calendar days, read in the schedule's time zone (correct across DST changes).",
    options: ['--workflows', '--workflow', '--next', '--from', '--json'],
  },
  init: {
    usage: 'rsqlo init <folder> [--workflow-id ID]',
    about:
      'Creates a workflow folder to start from: workflow.json, an RSQL heredoc wrapper in the AWS\n' +
      "sample's style, a .sql script and a README. `rsqlo run <folder>` runs it at once.",
    options: ['--workflow-id'],
  },
  status: {
    usage: 'rsqlo status <execution-id> [--home DIR] [--json]',
    about: "Shows a run: its stages and jobs, each job's status, duration and exit code.",
    options: ['--home', '--json'],
  },
  history: {
    usage: 'rsqlo history <workflow_id> [--home DIR] [--json] [--limit N]',
    about: 'Lists the runs of a workflow, newest first (default 20).',
    options: ['--home', '--json', '--limit'],
  },
  logs: {
    usage: 'rsqlo logs <execution-id> [job_key] [--attempt N] [--tail N] [--follow] [--home DIR]',
    about:
      "Streams the jobs' logs (any size); --tail N starts at the last N lines of each, --follow keeps\n" +
      'printing while the run (or the job) runs and ends when it ends. A job that completed in an\n' +
      "earlier run (and was skipped by a restart) shows that run's log, and says so.",
    options: ['--attempt', '--tail', '--follow', '--home'],
  },
  restart: {
    usage: `rsqlo restart <execution-id> [--same-definition | --definition FILE] [--scripts DIR]\n          [--param KEY=VALUE]... [--execution-id ID] [--home DIR] [--json] ${DB}`,
    about:
      'Starts a new run of a Failed or Cancelled run: jobs that completed are Skipped, the rest run.\n' +
      'It runs the definition file the run came from when it still validates, and prints what\n' +
      'changed since the run ("2.1 timeout_seconds 6 → 60"); --same-definition runs the definition\n' +
      'stored with the run instead; --definition FILE another file. The parameters the run was\n' +
      'given (--param) are reused. A run is restarted once: restarting it again is refused (exit 3),\n' +
      'naming the run that restarted it; restart the latest run of the chain instead.',
    options: [
      '--same-definition',
      '--definition',
      '--scripts',
      '--param',
      '--execution-id',
      '--home',
      '--json',
      '--database-url',
      '--no-database',
      '--forget-lost',
    ],
  },
  resume: {
    usage: `rsqlo resume [--home DIR] [--json] ${DB}`,
    about:
      'Finishes the runs an engine left unfinished (a crash, a second Ctrl-C) without running a completed job again.',
    options: ['--home', '--json', '--database-url', '--no-database', '--forget-lost'],
  },
  kill: {
    usage: 'rsqlo kill <execution-id> [--home DIR]',
    about: 'Cancels a run: its running jobs are killed (everything they started), the rest never start.',
    options: ['--home'],
  },
  'set-ok': {
    usage: `rsqlo set-ok <execution-id> <job_key> --reason TEXT [--home DIR] [--json] ${DB}`,
    about:
      'Marks a Failed or TimedOut job Completed (set OK, with your name and the reason in the audit);\n' +
      'if the run Failed because of it, the run goes on from there under the same execution id.',
    options: ['--reason', '--home', '--json', '--database-url', '--no-database', '--forget-lost'],
  },
  rerun: {
    usage: `rsqlo rerun <execution-id> <job_key> [--reason TEXT] [--home DIR] [--json] ${DB}`,
    about:
      'Runs one job of a finished run again, as a new attempt in the same run (the audit keeps\n' +
      "every attempt); the run's status is recomputed from its jobs when it ends.",
    options: ['--reason', '--home', '--json', '--database-url', '--no-database', '--forget-lost'],
  },
  bypass: {
    usage: `rsqlo bypass <execution-id> <job_key> --reason TEXT [--home DIR] [--json] ${DB}`,
    about:
      'Skips a job that has not started (skip_reason "bypassed: TEXT"); the run continues as if it\n' +
      'had completed.',
    options: ['--reason', '--home', '--json', '--database-url', '--no-database', '--forget-lost'],
  },
  hold: {
    usage: `rsqlo hold <workflow_id | execution-id> [--reason TEXT] [--run | --workflow] [--home DIR] ${DB}`,
    about:
      'Holds a run (no new job starts; running ones finish) or every new run of a workflow (they are\n' +
      'accepted and wait as Held) until rsqlo free. An id that is a run is a run; --run/--workflow force it.',
    options: [
      '--reason',
      '--run',
      '--workflow',
      '--home',
      '--database-url',
      '--no-database',
      '--forget-lost',
    ],
  },
  free: {
    usage: `rsqlo free <workflow_id | execution-id> [--reason TEXT] [--run | --workflow] [--home DIR] [--json] ${DB}`,
    about:
      "Ends a hold: a freed run goes on (followed to its end, as rsqlo run does); a freed workflow's\n" +
      'held runs go on.',
    options: [
      '--reason',
      '--run',
      '--workflow',
      '--home',
      '--json',
      '--database-url',
      '--no-database',
      '--forget-lost',
    ],
  },
  pool: {
    usage:
      'rsqlo pool set NAME SLOTS [--reason TEXT] [--home DIR]\n       rsqlo pool list [--json] [--home DIR]',
    about:
      'Resource pools cap how many jobs of every workflow of the home run at once ("pool": "NAME" on a\n' +
      'stage or a script). set gives a pool SLOTS (0‥1000; 0 drains: running jobs finish, none starts);\n' +
      "list shows each pool's slots, slots in use and jobs waiting.",
    options: ['--reason', '--home', '--json'],
  },
  runs: {
    usage: 'rsqlo runs [--workflow ID] [--status S] [--limit N] [--home DIR] [--json]',
    about: 'Lists every run of the home, newest first, filtered by workflow and status.',
    options: ['--workflow', '--status', '--limit', '--home', '--json'],
  },
  serve: {
    usage: `rsqlo serve [--home DIR] [--host 127.0.0.1] [--port 8686] [--workflows DIR] ${DB}`,
    about:
      'One long-running engine for the home: runs any number of workflows at once, fires the\n' +
      'schedules of the definitions in --workflows, and shows every run at http://HOST:PORT/. While\n' +
      'it runs, run/restart/kill/status/runs/history/logs on the home go to it.',
    options: [
      '--home',
      '--host',
      '--port',
      '--workflows',
      '--database-url',
      '--no-database',
      '--forget-lost',
    ],
  },
  sql: {
    usage: 'rsqlo sql [--home DIR] [--database-url URL] [--install-compat] [rsql options and arguments]',
    about:
      "Runs the RSQL-compatible runner against the engine's database (the embedded PostgreSQL,\n" +
      'started if needed): rsqlo sql -c "select 1", rsqlo sql -f script.sql, or a script on stdin.\n' +
      "--install-compat (re)installs Redshift's functions and system views there first. The runner's\n" +
      'own options: rsql --help.',
    options: ['--home', '--database-url', '--install-compat', '-c', '-f', '-v'],
  },
  completion: {
    usage: 'rsqlo completion bash|zsh',
    about:
      'Prints a shell completion script: eval "$(rsqlo completion bash)" in ~/.bashrc, or\n' +
      'eval "$(rsqlo completion zsh)" in ~/.zshrc.',
    options: [],
  },
  definitions: {
    usage:
      'rsqlo definitions push <folder> --aws [--stack NAME] [--region R] [--profile P]\n' +
      '       rsqlo definitions list --aws [--json] [--stack NAME] [--region R] [--profile P]',
    about:
      "push validates every definition in the folder and stores them in the stack's config table\n" +
      '(all or none, as a deploy does; runs in flight keep their slots); list shows what it stores.',
    options: ['--aws', '--stack', '--region', '--profile', '--json'],
  },
};

/** What --aws adds to the commands that also work on a deployed stack (cli/aws-commands.ts). */
export const AWS_HELP =
  '\nWith --aws [--stack NAME] [--region R] [--profile P] it works on a deployed stack (default\n' +
  'stack rsqlo; region and credentials as the AWS CLI finds them): names come from the stack\n' +
  'outputs, requests go on its bus, runs are read from its audit tables and logs from CloudWatch.\n';

/**
 * The commands that take --aws (cli/aws-commands.ts runs them; `serve --aws` is cli/serve.ts),
 * and the options it brings.
 */
export const AWS_ENABLED = [
  'run',
  'restart',
  'kill',
  'status',
  'history',
  'runs',
  'logs',
  'validate',
  'definitions',
  'serve',
  'set-ok',
  'rerun',
  'bypass',
  'hold',
  'free',
  'pool',
] as const;
for (const name of AWS_ENABLED) {
  const options = COMMANDS[name]?.options;
  for (const o of ['--aws', '--stack', '--region', '--profile'])
    if (options && !options.includes(o)) options.push(o);
}

const EXITS =
  'Exit codes: 0 Completed; 1 Failed or cancelled; 2 usage or definition errors (nothing is written);\n' +
  '3 refused (another run active, a run restarted already, a home in use); 130 interrupted.\n';

/** `rsqlo <command> --help`. */
export function commandHelp(name: string, invoked: string): string | undefined {
  const c = COMMANDS[name];
  if (!c) return undefined;
  const usage = c.usage.replaceAll('rsqlo ', `${invoked} `);
  return `Usage: ${usage}\n\n${c.about}\n${(AWS_ENABLED as readonly string[]).includes(name) ? AWS_HELP : ''}\n${EXITS}Engine state lives in --home (default .rsqlo/, or $RSQLO_HOME).\n`;
}

/** Edit distance (insert, delete, substitute, swap neighbours), for "did you mean". */
export function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number) => (d[i] as number[])[j] as number;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, at(i - 2, j - 2) + 1);
      (d[i] as number[])[j] = v;
    }
  }
  return at(a.length, b.length);
}

/** The closest candidate to a mistyped word, if one is close enough to be what was meant. */
export function didYouMean(typed: string, candidates: readonly string[]): string | undefined {
  const bare = typed.split('=')[0] as string;
  let best: { c: string; d: number } | undefined;
  for (const c of candidates) {
    const dd = c.startsWith(bare) && bare.length >= 3 ? 0 : distance(bare, c);
    if (!best || dd < best.d) best = { c, d: dd };
  }
  if (!best) return undefined;
  const limit = Math.max(1, Math.floor(bare.replace(/^-+/, '').length / 3));
  return best.d <= limit ? best.c : undefined;
}
