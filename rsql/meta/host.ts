/**
 * What a meta-command handler (rsql/meta/*.ts) may use of the interpreter that runs it: the session,
 * the variables, the print settings, output and error reporting. The interpreter implements
 * {@link MetaHost}; the handlers see nothing else, so the command table stays a list of small
 * functions and the interpreter keeps the language core (statements, pipelining, status variables).
 */
import type * as ChildProcess from 'node:child_process';
import { builtin } from '../builtin.js';
import type { ConnectParams } from '../conninfo.js';
import type { PrintSettings } from '../format.js';
import type { ScriptLexer, SqlItem } from '../lexer.js';
import type { BufferedWriter, ByteWriter, FileWriter, Writer } from '../output.js';
import type { ServerMessage, Session, StatementOutcome } from '../session.js';

/** Exit codes the runner itself produces (psql's where psql has one). */
export const EXIT = {
  ok: 0,
  /** fatal client error: bad input file, malformed script (default), internal error */
  fatal: 1,
  /** connection failed at start, on `\connect`, or was lost */
  connection: 2,
  /** an error while ON_ERROR_STOP is on */
  onErrorStop: 3,
} as const;

/** Default severity of an error not listed in `\rset errorlevel` (BTEQ's "user error"). */
export const DEFAULT_SEVERITY = 8;

/** Unwinds the interpreter with an exit code. */
export class ExitSignal {
  constructor(
    readonly code: number,
    /** A normal end (`\q`, `\exit` without code): `-1` still commits. */
    readonly normal = false,
  ) {}
}

/** State of one `\if` block: which branch runs, or `ignored` inside a skipped branch. */
export type CondState = 'true' | 'false' | 'ignored' | 'else-true' | 'else-false';

/** One open `\if` block. */
export interface Frame {
  state: CondState;
  line: number;
}

/** One input being run (a file, stdin, a `-c` string, an `\i`/`\run` file): its own `\if` blocks and labels. */
export interface FileCtx {
  /** Display name in messages: path as given, `<stdin>`, `<command line>`. */
  name: string;
  dir: string;
  lexer: ScriptLexer;
  cond: Frame[];
  goto?: { label: string; delta: number; line: number };
  depth: number;
}

/** The `\export` state. */
export interface ExportState {
  path: string;
  file: FileWriter;
}

/** Where a statement's result goes instead of the screen: `\gset PREFIX` or `\g FILE`. */
export interface SendTarget {
  gset?: string;
  gfile?: string;
}

/** Deepest `\i`/`\run` nesting (psql has no limit; a file including itself must still stop). */
export const MAX_INCLUDE_DEPTH = 32;

/** Variable names psql accepts (`\set`, `\gset`). */
export const VAR_NAME = /^[A-Za-z0-9_\u0080-\uffff]+$/;

/**
 * The interpreter as the meta-commands see it. Fields are the interpreter's own state, changed in place
 * by the commands that own them (`\pset`/`\rset` the print settings, `\o` the query output, …).
 */
export interface MetaHost {
  readonly io: {
    readonly stdout: Writer;
    readonly stderr: Writer;
    readonly env: Record<string, string | undefined>;
    /** True when stdout/stderr are this process's own (shell commands then inherit them directly). */
    readonly inheritStdio: boolean;
  };
  /** The runner's variables (`\set`, status variables). */
  readonly vars: Map<string, string>;
  readonly session: Session | undefined;
  /** Where the next `\connect` starts from. */
  readonly connParams: ConnectParams;
  /** stdout, buffered. */
  readonly out: BufferedWriter;
  /** The `\o` file, when one is open. */
  queryFile: FileWriter | undefined;
  exportState: ExportState | undefined;
  /** Print settings in force while RFORMAT is off (and the ones `\a \t \x \f` change at once). */
  readonly base: PrintSettings;
  /** Print settings of RFORMAT on (where deferred `\pset` changes wait). */
  readonly rformatSettings: PrintSettings;
  rformat: boolean;
  rsetWidth: number;
  rsetHeading: string | undefined;
  rsetRtitle: string | undefined;
  timing: boolean;
  /** `\rset errorlevel`: SQLSTATE or class (or UNKNOWN) → severity. */
  readonly errorLevels: Map<string, number>;
  errorLevelOn: boolean;
  maxError: number;
  /** The last statement sent (`\p`, `\g` without a pending statement). */
  readonly lastQuery: string | undefined;
  /** Environment of shell commands (`\setenv`). */
  readonly childEnv: Record<string, string | undefined>;
  /** Working directory of files and shell commands (`\cd`). */
  cwd: string;
  /** QUIET: informational messages are not printed. */
  readonly quiet: boolean;
  /** `\o` target, else stdout. */
  readonly queryOut: ByteWriter;

  lookup(name: string): string | undefined;
  /** A backquoted command's output (interpolation of meta-command arguments and `\if`). */
  backquote(cmd: string): string;
  print(text: string): void;
  printErr(text: string): void;
  /** ERROR's text for failed/succeeded (RSQL_ERROR_VALUES). */
  errorText(failed: boolean): string;
  /** Whether the current `\if` branch runs. */
  active(ctx: FileCtx): boolean;
  /** A message about the script itself: `rsql: <file>:<line>: <msg>`. */
  scriptMessage(ctx: FileCtx, line: number, msg: string): void;
  /** A malformed script: stops the run (or goes on, counted, with RSQL_ON_SCRIPT_ERROR=continue). */
  scriptError(ctx: FileCtx, line: number, msg: string): void;
  /** A meta-command that could not do its job: message, counted as an error of the default severity. */
  commandFailed(ctx: FileCtx, line: number, msg: string): void;
  countError(severity: number): void;
  /** Sets the status variables of a failed statement and prints its error. */
  statementFailed(ctx: FileCtx, line: number, err: ServerMessage, sql: string | undefined): void;
  /** Sets the status variables of a statement that succeeded (ACTIVITYCOUNT = count). */
  statementSucceeded(count: string, rowCount?: string): void;
  /** Throws when an earlier error asked to stop (ON_ERROR_STOP, MAXERROR, connection lost). */
  checkStop(): void;
  /** Exit code of a normal end (RSQL_EXIT_ON_UNHANDLED_ERROR). */
  normalEndCode(): number;
  execSql(ctx: FileCtx, item: SqlItem, send: SendTarget | undefined): Promise<void>;
  /** Handles a statement's outcome as for a statement of the script (status variables, printing). */
  onOutcome(ctx: FileCtx, line: number, sql: string, o: StatementOutcome): void;
  makeCtx(name: string, dir: string, text: string, depth: number): FileCtx;
  runFile(ctx: FileCtx): Promise<'eof' | 'quit'>;
  connect(params: ConnectParams, ctx: FileCtx | undefined): Promise<void>;
  openQueryFile(path: string): void;
}

/** `node:child_process`, loaded by the first shell command (`\!`, `\os`, a backquote). */
export function childProcess(): typeof ChildProcess {
  return builtin<typeof ChildProcess>('node:child_process');
}
