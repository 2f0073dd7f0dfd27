/**
 * Command-line parsing for the `rsql` runner (rsql-spec.md §1): the flags RSQL scripts and wrappers use
 * (`-h -U -d -p -f -c -v -A -t -q -a -P --version`), the other common psql flags, long forms, `--x=v` and
 * `-xVALUE` spellings, and psql's positional `[DBNAME [USERNAME]]`.
 */

/** One input, processed in command-line order: a script file or a `-c` command string. */
export type ScriptInput = { kind: 'file'; path: string } | { kind: 'command'; text: string };

/** Parsed command line. */
export interface RsqlOptions {
  host?: string;
  port?: number;
  user?: string;
  /** Database name, or a `postgres://` URI / `key=value` conninfo string (psql `-d` accepts both). */
  dbname?: string;
  /** RSQL `-D DSN`: resolved from $ODBCINI. */
  dsn?: string;
  inputs: ScriptInput[];
  /** `-v/--set/--variable name=value` in order; value undefined means "unset". */
  variables: { name: string; value: string | undefined }[];
  /** `-P name=value` in order. */
  pset: { name: string; value: string | undefined }[];
  unaligned: boolean;
  tuplesOnly: boolean;
  quiet: boolean;
  expanded: boolean;
  /** ECHO mode from -a (all), -e (queries), -b (errors). */
  echo?: 'all' | 'queries' | 'errors';
  fieldSep?: string;
  recordSep?: string;
  /** `-o FILE`: query output goes there (like `\o FILE`). */
  output?: string;
  /** `-1`: wrap the run in one transaction. */
  singleTransaction: boolean;
  help: boolean;
  version: boolean;
  /** Non-fatal remarks (e.g. ignored extra arguments), printed to stderr. */
  warnings: string[];
}

/** The command line is invalid; the message is printed with a usage hint, exit code 1. */
export class UsageError extends Error {
  override name = 'UsageError';
}

interface FlagSpec {
  short?: string;
  long: string[];
  takesValue: boolean;
  apply: (o: RsqlOptions, v: string) => void;
}

function splitAssignment(v: string): { name: string; value: string | undefined } {
  const eq = v.indexOf('=');
  if (eq < 0) return { name: v, value: undefined };
  return { name: v.slice(0, eq), value: v.slice(eq + 1) };
}

const noop = () => {};

const FLAGS: FlagSpec[] = [
  {
    short: 'h',
    long: ['host'],
    takesValue: true,
    apply: (o, v) => {
      o.host = v;
    },
  },
  {
    short: 'p',
    long: ['port'],
    takesValue: true,
    apply: (o, v) => {
      if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 65535) throw new UsageError(`invalid port "${v}"`);
      o.port = Number(v);
    },
  },
  {
    short: 'U',
    long: ['username', 'user'],
    takesValue: true,
    apply: (o, v) => {
      o.user = v;
    },
  },
  {
    short: 'd',
    long: ['dbname'],
    takesValue: true,
    apply: (o, v) => {
      o.dbname = v;
    },
  },
  {
    short: 'D',
    long: ['dsn'],
    takesValue: true,
    apply: (o, v) => {
      o.dsn = v;
    },
  },
  {
    short: 'f',
    long: ['file'],
    takesValue: true,
    apply: (o, v) => {
      o.inputs.push({ kind: 'file', path: v });
    },
  },
  {
    short: 'c',
    long: ['command'],
    takesValue: true,
    apply: (o, v) => {
      o.inputs.push({ kind: 'command', text: v });
    },
  },
  {
    short: 'v',
    long: ['set', 'variable'],
    takesValue: true,
    apply: (o, v) => {
      const a = splitAssignment(v);
      if (a.name === '') throw new UsageError(`invalid variable assignment "${v}"`);
      o.variables.push(a);
    },
  },
  {
    short: 'P',
    long: ['pset'],
    takesValue: true,
    apply: (o, v) => {
      const a = splitAssignment(v);
      if (a.name === '') throw new UsageError(`invalid \\pset assignment "${v}"`);
      o.pset.push(a);
    },
  },
  {
    short: 'A',
    long: ['no-align'],
    takesValue: false,
    apply: (o) => {
      o.unaligned = true;
    },
  },
  {
    short: 't',
    long: ['tuples-only'],
    takesValue: false,
    apply: (o) => {
      o.tuplesOnly = true;
    },
  },
  {
    short: 'q',
    long: ['quiet'],
    takesValue: false,
    apply: (o) => {
      o.quiet = true;
    },
  },
  {
    short: 'x',
    long: ['expanded'],
    takesValue: false,
    apply: (o) => {
      o.expanded = true;
    },
  },
  {
    short: 'a',
    long: ['echo-all'],
    takesValue: false,
    apply: (o) => {
      o.echo = 'all';
    },
  },
  {
    short: 'e',
    long: ['echo-queries'],
    takesValue: false,
    apply: (o) => {
      o.echo = 'queries';
    },
  },
  {
    short: 'b',
    long: ['echo-errors'],
    takesValue: false,
    apply: (o) => {
      o.echo = 'errors';
    },
  },
  {
    short: 'F',
    long: ['field-separator'],
    takesValue: true,
    apply: (o, v) => {
      o.fieldSep = v;
    },
  },
  {
    short: 'R',
    long: ['record-separator'],
    takesValue: true,
    apply: (o, v) => {
      o.recordSep = v;
    },
  },
  {
    short: 'o',
    long: ['output'],
    takesValue: true,
    apply: (o, v) => {
      o.output = v;
    },
  },
  {
    short: '1',
    long: ['single-transaction'],
    takesValue: false,
    apply: (o) => {
      o.singleTransaction = true;
    },
  },
  // accepted for psql compatibility, no effect in batch mode
  { short: 'X', long: ['no-psqlrc'], takesValue: false, apply: noop },
  { short: 'w', long: ['no-password'], takesValue: false, apply: noop },
  { short: 'W', long: ['password'], takesValue: false, apply: noop },
  { short: 'n', long: ['no-readline'], takesValue: false, apply: noop },
  { short: 'E', long: ['echo-hidden'], takesValue: false, apply: noop },
  { short: 's', long: ['single-step'], takesValue: false, apply: noop },
  { short: 'S', long: ['single-line'], takesValue: false, apply: noop },
  { short: 'L', long: ['log-file'], takesValue: true, apply: noop },
  { short: 'H', long: ['html'], takesValue: false, apply: noop },
  {
    long: ['csv'],
    takesValue: false,
    apply: (o) => {
      o.unaligned = true;
    },
  },
  {
    // Redshift COPY/UNLOAD's local S3: `s3://bucket/key` is DIR/bucket/key (the RSQL_S3_ROOT variable)
    long: ['s3-root'],
    takesValue: true,
    apply: (o, v) => {
      o.variables.push({ name: 'RSQL_S3_ROOT', value: v });
    },
  },
  {
    short: 'V',
    long: ['version'],
    takesValue: false,
    apply: (o) => {
      o.version = true;
    },
  },
  {
    short: '?',
    long: ['help'],
    takesValue: false,
    apply: (o) => {
      o.help = true;
    },
  },
];

const BY_SHORT = new Map(FLAGS.filter((f) => f.short).map((f) => [f.short as string, f]));
const BY_LONG = new Map(FLAGS.flatMap((f) => f.long.map((l) => [l, f] as const)));

/** Parses argv (without node and script). Throws {@link UsageError} for unknown flags or missing values. */
export function parseArgs(argv: readonly string[]): RsqlOptions {
  const o: RsqlOptions = {
    inputs: [],
    variables: [],
    pset: [],
    unaligned: false,
    tuplesOnly: false,
    quiet: false,
    expanded: false,
    singleTransaction: false,
    help: false,
    version: false,
    warnings: [],
  };
  const positional: string[] = [];
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i] as string;
    i++;
    if (arg === '--') {
      positional.push(...argv.slice(i));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const spec = BY_LONG.get(name);
      if (!spec) throw new UsageError(`unrecognized option '${arg}'`);
      if (spec.takesValue) {
        let v: string | undefined;
        if (eq >= 0) v = arg.slice(eq + 1);
        else {
          v = argv[i];
          i++;
        }
        if (v === undefined) throw new UsageError(`option '--${name}' requires an argument`);
        spec.apply(o, v);
      } else {
        if (eq >= 0) throw new UsageError(`option '--${name}' doesn't allow an argument`);
        spec.apply(o, '');
      }
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      // clustered short flags: -At, -qAt, -v x=1, -vX=1, -p5432
      let k = 1;
      while (k < arg.length) {
        const ch = arg[k] as string;
        const spec = BY_SHORT.get(ch);
        if (!spec) throw new UsageError(`invalid option -- '${ch}'`);
        k++;
        if (spec.takesValue) {
          let v: string | undefined;
          if (k < arg.length) v = arg.slice(k);
          else {
            v = argv[i];
            i++;
          }
          if (v === undefined) throw new UsageError(`option requires an argument -- '${ch}'`);
          spec.apply(o, v);
          break;
        }
        spec.apply(o, '');
      }
      continue;
    }
    positional.push(arg);
  }
  for (const p of positional) {
    if (o.dbname === undefined) o.dbname = p;
    else if (o.user === undefined) o.user = p;
    else o.warnings.push(`extra command-line argument "${p}" ignored`);
  }
  return o;
}

/** `rsql --help`. */
export const USAGE = `rsql is an Amazon Redshift RSQL-compatible runner over the PostgreSQL wire protocol (rsqlo).

Usage:
  rsql [OPTION]... [DBNAME [USERNAME]]

General options:
  -c, --command=COMMAND    run only single command (SQL or internal) and exit
  -d, --dbname=DBNAME      database name (or postgres:// URI / conninfo) to connect to
  -D, --dsn=DSN            connect using the ODBC DSN from $ODBCINI (Host, Port, Database, UID, PWD)
  -f, --file=FILENAME      execute commands from file, then exit
  -v, --set=, --variable=NAME=VALUE
                           set rsql variable NAME to VALUE (e.g. -v ON_ERROR_STOP=1)
  -1, --single-transaction execute as a single transaction
      --s3-root=DIR        local folder standing for S3 in COPY/UNLOAD (default: $RSQL_S3_ROOT,
                           $RSQLO_HOME/s3, or .rsqlo/s3)
  -V, --version            output version information, then exit
  -?, --help               show this help, then exit

Input and output options:
  -a, --echo-all           echo all input from script
  -b, --echo-errors        echo failed commands
  -e, --echo-queries       echo commands sent to server
  -o, --output=FILENAME    send query results to file
  -q, --quiet              run quietly (no command tags, no \\label/\\pset/\\rset messages)

Output format options:
  -A, --no-align           unaligned table output mode
  -F, --field-separator=STRING
                           field separator for unaligned output (default: "|")
  -P, --pset=VAR[=ARG]     set printing option VAR to ARG (see \\pset command)
  -R, --record-separator=STRING
                           record separator for unaligned output (default: newline)
  -t, --tuples-only        print rows only
  -x, --expanded           turn on expanded table output

Connection options:
  -h, --host=HOSTNAME      database server host or socket directory (default: $PGHOST or localhost)
  -p, --port=PORT          database server port (default: $PGPORT or 5432)
  -U, --username=USERNAME  database user name (default: $PGUSER or the OS user)
  Password: $RSPASSWORD, then $PGPASSWORD (then ~/.pgpass). Never on the command line.

Accepted and ignored: -X -w -W -n -E -s -S -L -H.
Runner settings (RSQL_COMPAT, RSQL_EXIT_ON_UNHANDLED_ERROR, …): see rsql/README.md.
`;
