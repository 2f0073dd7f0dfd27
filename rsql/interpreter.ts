/**
 * The RSQL interpreter: runs lexed scripts against a {@link Session} — status variables, conditionals,
 * `\goto`, output, error handling and exit codes per rsql-spec.md §3–§11. Every behaviour the spec marks
 * [U] is a documented choice in rsql/README.md and, where it matters, a runner variable (`RSQL_*`, initial
 * value from env `RSQLO_RSQL_*`).
 */
import type * as ChildProcess from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { builtin } from './builtin.js';
import { firstKeyword, isRedshiftVersion, rewriteForPostgres } from './compat.js';
import { ExpressionError, evaluateExpression, parseBoolean } from './expression.js';
import {
  type Column,
  formatAlignedRawBytes,
  formatResult,
  formatTiming,
  type PrintSettings,
} from './format.js';
import { interpolateMetaText, interpolateSegments, type MetaArg, parseMetaArgs } from './interpolate.js';
import { canonicalCommand, type MetaItem, rawText, ScriptLexer, type SqlItem } from './lexer.js';
import { BufferedWriter, type ByteWriter, FileWriter, type Writer } from './output.js';
import { startRedshiftSession } from './redshift/session.js';
import { RedshiftS3, redactSecrets } from './s3/index.js';
import { decodeScript, escapeControls, ScriptEncodingError } from './script-text.js';
import {
  ConnectionError,
  type ConnectParams,
  ConninfoError,
  parseConnectionUri,
  parseConninfo,
  type ServerMessage,
  Session,
  type StatementOutcome,
  type SubmitOptions,
} from './session.js';

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
class ExitSignal {
  constructor(
    readonly code: number,
    /** A normal end (`\q`, `\exit` without code): `-1` still commits. */
    readonly normal = false,
  ) {}
}

/** The interpreter's I/O. */
export interface InterpreterIo {
  stdout: Writer;
  stderr: Writer;
  env: Record<string, string | undefined>;
  cwd: string;
  /** True when stdout/stderr are this process's own (shell commands then inherit them directly). */
  inheritStdio: boolean;
  /** Reads all of stdin (only called when there is no -f/-c input); bytes are checked to be UTF-8 text. */
  readStdin: () => Promise<string | Buffer>;
}

/** An input to run, in order. */
export type InterpreterInput =
  | { kind: 'file'; path: string }
  | { kind: 'command'; text: string }
  | { kind: 'stdin' };

/** Start-up configuration (from the command line). */
export interface InterpreterConfig {
  connect: ConnectParams;
  /** Initial variables (env knobs, -v, flags), in the order they were given. */
  variables: { name: string; value: string | undefined }[];
  print: PrintSettings;
  /** `-P name=value` applied like `\pset` (immediately, before the script). */
  pset: { name: string; value: string | undefined }[];
  output?: string;
  singleTransaction: boolean;
}

type CondState = 'true' | 'false' | 'ignored' | 'else-true' | 'else-false';

interface Frame {
  state: CondState;
  line: number;
}

interface FileCtx {
  /** Display name in messages: path as given, `<stdin>`, `<command line>`. */
  name: string;
  dir: string;
  lexer: ScriptLexer;
  cond: Frame[];
  goto?: { label: string; delta: number; line: number };
  depth: number;
}

/** The `\export` state. */
interface ExportState {
  path: string;
  file: FileWriter;
}

const MAX_INCLUDE_DEPTH = 32;

/** Pipelining keeps at most this many statements in flight, then waits until LOW are left. */
const PIPELINE_HIGH = 256;
const PIPELINE_LOW = 64;

const VAR_NAME = /^[A-Za-z0-9_\u0080-\uffff]+$/;

/** Normalises a label for matching (case-insensitive, trailing blanks ignored). */
function labelKey(s: string): string {
  return s.trim().toUpperCase();
}

/** ACTIVITYCOUNT / ROW_COUNT from a command tag (DDL, SET, BEGIN… → 0). */
export function countFromTag(tag: string | undefined): string {
  if (!tag) return '0';
  const m = /^(INSERT \d+|UPDATE|DELETE|MERGE|COPY|SELECT|FETCH|MOVE) (\d+)$/.exec(tag);
  return m ? (m[2] as string) : '0';
}

/**
 * Runs scripts on one session at a time (`\\connect` replaces it). Construct with the start-up config,
 * then {@link Interpreter.run} the inputs; it never throws for script or SQL problems, it returns the exit
 * code (README "Errors and exit codes").
 */
export class Interpreter {
  readonly vars = new Map<string, string>();
  private session: Session | undefined;
  private connParams: ConnectParams;
  private compat = false;
  private readonly out: BufferedWriter;
  private queryFile: FileWriter | undefined;
  private exportState: ExportState | undefined;
  private base: PrintSettings;
  private rformatSettings: PrintSettings;
  private rformat = false;
  private rsetWidth = 75;
  private rsetHeading: string | undefined;
  private rsetRtitle: string | undefined;
  private timing = false;
  private readonly errorLevels = new Map<string, number>();
  private errorLevelOn = true;
  private maxError = 0;
  /** Errors with severity > 0 so far (SQL, \gset, failed meta-commands, missing labels). */
  private errorCount = 0;
  private pendingExit: number | undefined;
  private internalError: unknown;
  private lastQuery: string | undefined;
  private readonly childEnv: Record<string, string | undefined>;
  private cwd: string;
  /** Redshift COPY/UNLOAD with a local S3, stl_load_errors (compatibility layer; one per connection). */
  private s3: RedshiftS3 | undefined;

  constructor(
    private readonly io: InterpreterIo,
    private readonly config: InterpreterConfig,
  ) {
    this.out = new BufferedWriter(io.stdout);
    this.connParams = { ...config.connect };
    this.base = { ...config.print };
    this.rformatSettings = { ...config.print };
    this.childEnv = { ...io.env };
    this.cwd = io.cwd;
    this.initVariables();
  }

  // =========================================================================================================
  // variables

  private initVariables(): void {
    const v = this.vars;
    v.set('ERROR', this.errorText(false));
    v.set('ERRORCODE', '00000');
    v.set('SQLSTATE', '00000');
    v.set('ROW_COUNT', '0');
    v.set('ACTIVITYCOUNT', '0');
    v.set('LAST_ERROR_MESSAGE', '');
    v.set('LAST_ERROR_SQLSTATE', '00000');
    v.set('ERRORLEVEL', '0');
    v.set('VERSION_NAME', 'rsqlo');
    // runner knobs from the environment: RSQLO_RSQL_X → RSQL_X
    for (const [k, val] of Object.entries(this.io.env)) {
      if (k.startsWith('RSQLO_RSQL_') && val !== undefined) v.set(k.slice('RSQLO_'.length), val);
    }
    for (const { name, value } of this.config.variables) {
      if (value === undefined) v.delete(name);
      else v.set(name, value);
    }
    // the ERROR text follows RSQL_ERROR_VALUES once it is known
    v.set('ERROR', this.errorText(false));
  }

  private lookup = (name: string): string | undefined => this.vars.get(name);

  private flag(name: string): boolean {
    const v = this.vars.get(name);
    return v !== undefined && parseBoolean(v) === true;
  }

  private get quiet(): boolean {
    return this.flag('QUIET');
  }

  private errorText(failed: boolean): string {
    const mode = (this.vars.get('RSQL_ERROR_VALUES') ?? 'boolean').toLowerCase();
    if (mode === 'numeric') return failed ? '1' : '0';
    return failed ? 'true' : 'false';
  }

  private echoMode(): string {
    return (this.vars.get('ECHO') ?? 'none').toLowerCase();
  }

  private canPipeline(): boolean {
    const p = this.vars.get('RSQL_PIPELINE');
    if (p !== undefined && parseBoolean(p) === false) return false;
    if (this.flag('ON_ERROR_STOP') || this.maxError > 0 || this.timing) return false;
    const echo = this.echoMode();
    return echo !== 'all' && echo !== 'queries';
  }

  // =========================================================================================================
  // output helpers

  private get queryOut(): ByteWriter {
    return this.queryFile ?? this.out;
  }

  private print(text: string): void {
    this.out.write(text);
  }

  private printErr(text: string): void {
    this.out.flush();
    this.queryFile?.flush();
    this.io.stderr.write(text);
  }

  private settings(): PrintSettings {
    return this.rformat ? this.rformatSettings : this.base;
  }

  private errorPrefix(ctx: { name: string } | undefined, line: number | undefined): string {
    const p = this.vars.get('RSQL_ERROR_PREFIX') ?? 'rsql: ';
    return p.replaceAll('%f', ctx?.name ?? '').replaceAll('%l', line === undefined ? '' : String(line));
  }

  /** A message about the script itself: `rsql: <file>:<line>: <msg>`. */
  private scriptMessage(ctx: FileCtx, line: number, msg: string): void {
    this.printErr(`rsql: ${ctx.name}:${line}: ${escapeControls(msg)}\n`);
  }

  // =========================================================================================================
  // running

  /** Connects (unless already connected), runs the inputs and returns the exit code. */
  async run(inputs: InterpreterInput[]): Promise<number> {
    let code: number;
    try {
      if (!this.session) await this.connect(this.connParams, undefined);
      for (const p of this.config.pset) {
        const err = this.applyPset(p.name, p.value, true, true);
        if (err) this.printErr(`rsql: ${err}\n`);
      }
      if (this.config.output) this.openQueryFile(this.config.output);
      if (this.config.singleTransaction) await this.silent('BEGIN');
      for (const input of inputs) {
        const ctx = await this.openInput(input);
        await this.runFile(ctx);
      }
      await this.drain();
      if (this.config.singleTransaction) await this.silent('COMMIT');
      code = this.normalEndCode();
    } catch (e) {
      if (!(e instanceof ExitSignal)) throw e;
      code = e.code;
      // statements still in flight (pipelined) finish and print before we exit
      if (this.session && this.session.pending > 0) await this.session.drain();
      if (e.normal && this.config.singleTransaction) {
        try {
          await this.silent('COMMIT');
        } catch (e2) {
          if (!(e2 instanceof ExitSignal)) throw e2;
          code = e2.code;
        }
      }
    } finally {
      this.out.flush();
      this.queryFile?.close();
      this.exportState?.file.close();
    }
    await this.session?.close();
    await this.s3?.close();
    return code;
  }

  /** Exit code of a normal end (end of input, `\q`, `\exit` without code): RSQL_EXIT_ON_UNHANDLED_ERROR. */
  private normalEndCode(): number {
    if (this.errorCount === 0) return EXIT.ok;
    const mode = (this.vars.get('RSQL_EXIT_ON_UNHANDLED_ERROR') ?? '0').trim().toLowerCase();
    if (mode === 'severity' || mode === 'errorlevel') return Number(this.vars.get('ERRORLEVEL') ?? '0') & 255;
    if (/^\d+$/.test(mode)) return Number(mode) & 255;
    const b = parseBoolean(mode);
    if (b === true) return DEFAULT_SEVERITY;
    return EXIT.ok;
  }

  private async openInput(input: InterpreterInput): Promise<FileCtx> {
    if (input.kind === 'command') return this.makeCtx('<command line>', this.cwd, input.text, 0);
    if (input.kind === 'stdin') {
      const data = await this.io.readStdin();
      return this.makeCtx('<stdin>', this.cwd, this.scriptText(data, '<stdin>'), 0);
    }
    const path = resolve(this.cwd, input.path);
    let data: Buffer;
    try {
      data = readFileSync(path);
    } catch (e) {
      this.printErr(`rsql: error: ${input.path}: ${fsErrorText(e)}\n`);
      throw new ExitSignal(EXIT.fatal);
    }
    return this.makeCtx(input.path, dirname(path), this.scriptText(data, input.path), 0);
  }

  /** A whole input's text; one that is not UTF-8 text stops the run before any of it runs (exit 1). */
  private scriptText(data: string | Buffer, name: string): string {
    if (typeof data === 'string') return data;
    try {
      return decodeScript(data, name);
    } catch (e) {
      if (!(e instanceof ScriptEncodingError)) throw e;
      this.printErr(`rsql: ${e.message}\n`);
      throw new ExitSignal(EXIT.fatal);
    }
  }

  private makeCtx(name: string, dir: string, text: string, depth: number): FileCtx {
    const lexer = new ScriptLexer(text.startsWith('\ufeff') ? text.slice(1) : text);
    lexer.standardStrings = this.session?.parameter('standard_conforming_strings') !== 'off';
    return { name, dir, lexer, cond: [], depth };
  }

  private active(ctx: FileCtx): boolean {
    const top = ctx.cond[ctx.cond.length - 1];
    return !top || top.state === 'true' || top.state === 'else-true';
  }

  /** Throws when a statement callback asked to stop (ON_ERROR_STOP, MAXERROR, connection lost). */
  private checkStop(): void {
    if (this.internalError !== undefined) {
      const e = this.internalError;
      this.internalError = undefined;
      throw e;
    }
    if (this.pendingExit !== undefined) throw new ExitSignal(this.pendingExit);
  }

  private async drain(): Promise<void> {
    if (this.session && this.session.pending > 0) await this.session.drain();
    this.checkStop();
  }

  /** Runs one input to its end; 'quit' when `\q` ended it. */
  private async runFile(ctx: FileCtx): Promise<'eof' | 'quit'> {
    const lexer = ctx.lexer;
    for (;;) {
      this.checkStop();
      const item = lexer.next();
      if (!item) break;
      if (item.kind === 'error') {
        await this.drain();
        this.scriptError(ctx, item.line, item.message);
        continue;
      }
      if (this.echoMode() === 'all') {
        this.print(
          `${item.kind === 'sql' ? rawText(item.segments) : `\\${item.name}${item.args ? ` ${item.args.trim()}` : ''}`}\n`,
        );
      }
      if (ctx.goto) {
        this.skipForGoto(ctx, item.kind === 'meta' ? item : undefined);
        continue;
      }
      if (item.kind === 'sql') {
        if (this.active(ctx)) await this.execSql(ctx, item, undefined);
        continue;
      }
      const r = await this.execMeta(ctx, item);
      if (r === 'quit') return 'quit';
    }
    await this.drain();
    if (ctx.goto) {
      const g = ctx.goto;
      ctx.goto = undefined;
      this.printErr(`${this.errorPrefix(ctx, g.line)}ERROR: \\goto label "${g.label}" not found\n`);
      this.countError(DEFAULT_SEVERITY);
      return 'eof';
    }
    const open = ctx.cond[ctx.cond.length - 1];
    if (open) {
      ctx.cond.length = 0;
      this.scriptError(
        ctx,
        lexer.currentLine,
        `reached end of file without finding closing \\endif (\\if at line ${open.line})`,
      );
    }
    return 'eof';
  }

  /** Handles an item while `\goto` skips forward. */
  private skipForGoto(ctx: FileCtx, meta: MetaItem | undefined): void {
    const g = ctx.goto;
    if (!g || !meta) return;
    const name = canonicalCommand(meta.name);
    if (name === 'if') g.delta++;
    else if (name === 'endif') g.delta--;
    else if (name === 'label') {
      const label = meta.args.trim();
      if (labelKey(label) === labelKey(g.label)) {
        if (!this.quiet) this.print(`\\label ${label} processed\n`);
        if (g.delta < 0) ctx.cond.splice(Math.max(0, ctx.cond.length + g.delta));
        for (let i = 0; i < g.delta; i++) ctx.cond.push({ state: 'true', line: meta.line });
        ctx.goto = undefined;
      } else if (!this.quiet) {
        this.print(`\\label ${label} ignored\n`);
      }
    }
  }

  // =========================================================================================================
  // errors

  /** Severity of an error with this SQLSTATE (`\rset errorlevel`), default 8. */
  private severityOf(code: string): number {
    if (!this.errorLevelOn) return DEFAULT_SEVERITY;
    const exact = this.errorLevels.get(code.toUpperCase());
    if (exact !== undefined) return exact;
    const cls = this.errorLevels.get(code.slice(0, 2).toUpperCase());
    if (cls !== undefined) return cls;
    return this.errorLevels.get('UNKNOWN') ?? DEFAULT_SEVERITY;
  }

  /** Counts an error of the given severity: ERRORLEVEL, ON_ERROR_STOP, MAXERROR. */
  private countError(severity: number): void {
    const level = Number(this.vars.get('ERRORLEVEL') ?? '0');
    if (severity > level) this.vars.set('ERRORLEVEL', String(severity));
    if (severity <= 0) return;
    this.errorCount++;
    if (this.pendingExit !== undefined) return;
    if (this.flag('ON_ERROR_STOP')) {
      this.pendingExit = EXIT.onErrorStop;
      return;
    }
    if (this.maxError > 0 && severity > this.maxError) {
      this.printErr(`rsql: error severity ${severity} exceeds MAXERROR ${this.maxError}; exiting\n`);
      this.pendingExit = severity & 255;
    }
  }

  /** A malformed script (unknown command, unmatched conditional, unterminated quote): stop or go on. */
  private scriptError(ctx: FileCtx, line: number, msg: string): void {
    this.scriptMessage(ctx, line, msg);
    const mode = (this.vars.get('RSQL_ON_SCRIPT_ERROR') ?? 'stop').toLowerCase();
    if (mode === 'continue') {
      this.countError(DEFAULT_SEVERITY);
      this.checkStop();
      return;
    }
    throw new ExitSignal(EXIT.fatal);
  }

  /** A meta-command that could not do its job (psql: message, go on; counted as an error). */
  private commandFailed(ctx: FileCtx, line: number, msg: string): void {
    this.scriptMessage(ctx, line, msg);
    this.countError(DEFAULT_SEVERITY);
    this.checkStop();
  }

  /** Sets the status variables for a failed statement and prints the error. */
  private statementFailed(ctx: FileCtx, line: number, err: ServerMessage, sql: string | undefined): void {
    let text = `${this.errorPrefix(ctx, line)}${err.severity}: ${err.message}\n`;
    if (err.detail) text += `DETAIL: ${err.detail}\n`;
    if (err.hint) text += `HINT: ${err.hint}\n`;
    if (sql !== undefined && this.echoMode() === 'errors') text += `STATEMENT: ${sql}\n`;
    this.printErr(text);
    const v = this.vars;
    v.set('ERROR', this.errorText(true));
    v.set('ERRORCODE', err.code);
    v.set('SQLSTATE', err.code);
    v.set('LAST_ERROR_SQLSTATE', err.code);
    v.set('LAST_ERROR_MESSAGE', err.message);
    v.set('ROW_COUNT', '0');
    v.set('ACTIVITYCOUNT', '0');
    this.countError(this.severityOf(err.code));
  }

  private statementSucceeded(count: string, rowCount = count): void {
    const v = this.vars;
    v.set('ERROR', this.errorText(false));
    v.set('ERRORCODE', '00000');
    v.set('SQLSTATE', '00000');
    v.set('ROW_COUNT', rowCount);
    v.set('ACTIVITYCOUNT', count);
  }

  private connectionLost(reason: string): void {
    if (this.pendingExit !== undefined && this.pendingExit !== EXIT.onErrorStop) return;
    this.printErr(`rsql: error: connection to server was lost: ${reason}\n`);
    this.pendingExit = EXIT.connection;
  }

  // =========================================================================================================
  // SQL

  private async silent(sql: string): Promise<void> {
    if (!this.session) return;
    const o = await this.session.run(sql);
    if (o.lost) this.connectionLost(o.lost);
    this.checkStop();
  }

  /**
   * Sends one statement. Pipelined (not awaited) when nothing that follows can depend on its outcome before
   * the next drain: no ON_ERROR_STOP/MAXERROR/timing/echo, not a COPY, not \gset/\g.
   */
  private async execSql(
    ctx: FileCtx,
    item: SqlItem,
    send: { gset?: string; gfile?: string } | undefined,
  ): Promise<void> {
    let sql: string;
    if (item.hasVars) {
      await this.drain();
      sql = interpolateSegments(item.segments, this.lookup);
    } else {
      sql = item.segments.length === 1 ? (item.segments[0] as string) : (item.segments as string[]).join('');
    }
    this.lastQuery = sql;
    if (this.compat)
      sql = rewriteForPostgres(sql, {
        standardStrings: this.session?.parameter('standard_conforming_strings') !== 'off',
      }).sql;
    const session = this.session;
    if (!session) {
      this.connectionLost('not connected');
      this.checkStop();
      return;
    }
    const s3 = this.compat ? this.s3?.classify(sql) : undefined;
    if (s3 === 'copy' || s3 === 'unload') {
      await this.execS3(ctx, item.line, sql, session, send);
      return;
    }
    if (s3 === 'references') {
      await this.drain();
      sql = await (this.s3 as RedshiftS3).prepare(
        sql,
        session.parameter('standard_conforming_strings') !== 'off',
      );
    }
    const kw = firstKeyword(sql);
    let wire = sql;
    if (this.compat && kw === 'TRUNCATE') {
      // Redshift: "TRUNCATE commits the transaction in which it is run" (redshift/README)
      await this.drain();
      if (session.transactionStatus === 'T') wire = `COMMIT; ${sql}`;
    }
    const isCopy = kw === 'COPY';
    let copyIn: string | undefined;
    if (isCopy && /\bfrom\s+(stdin|pstdin)\b/i.test(sql)) copyIn = ctx.lexer.readCopyData();
    const echo = this.echoMode();
    if (echo === 'queries') this.print(`${sql}\n`);
    const line = item.line;
    const target = send?.gfile ? new FileWriter(resolve(this.cwd, send.gfile)) : undefined;
    const copyOutTarget = target ?? this.queryOut;
    const opts: SubmitOptions = isCopy
      ? {
          ...(copyIn !== undefined ? { copyIn } : {}),
          onCopyOut: (chunk: Buffer) => copyOutTarget.write(chunk.toString('utf8')),
        }
      : // rows that are printed and dropped stay bytes (raw-rows.ts); \gset decodes its one row
        { rawRows: true };
    const pipelined = !send && !isCopy && this.canPipeline();
    session.submit(
      wire,
      (o) => {
        try {
          this.onOutcome(ctx, line, sql, o, send, target);
        } catch (e) {
          if (this.internalError === undefined) this.internalError = e;
        } finally {
          target?.close();
        }
      },
      opts,
    );
    if (!pipelined) {
      await this.drain();
    } else if (session.pending >= PIPELINE_HIGH) {
      await session.waitBelow(PIPELINE_LOW);
      this.checkStop();
    }
  }

  /** Redshift `COPY … FROM 's3://…'` / `UNLOAD`: run by rsql/s3 after everything before it. */
  private async execS3(
    ctx: FileCtx,
    line: number,
    sql: string,
    session: Session,
    send: { gset?: string; gfile?: string } | undefined,
  ): Promise<void> {
    await this.drain();
    if (this.echoMode() === 'queries') {
      // the values of CREDENTIALS, SECRET_ACCESS_KEY … are keys: never into the job's log
      this.print(`${redactSecrets(sql, session.parameter('standard_conforming_strings') !== 'off')}\n`);
    }
    const o = await (this.s3 as RedshiftS3).run(sql, session);
    this.onOutcome(ctx, line, sql, o, send, undefined);
    this.checkStop();
  }

  /** Handles a statement's outcome: status variables, printing, \gset. Runs in submission order. */
  private onOutcome(
    ctx: FileCtx,
    line: number,
    sql: string,
    o: StatementOutcome,
    send: { gset?: string; gfile?: string } | undefined,
    target: ByteWriter | undefined,
  ): void {
    if (o.lost !== undefined) {
      this.connectionLost(o.lost);
      return;
    }
    if (o.error) {
      this.statementFailed(ctx, line, o.error, sql);
      if (o.error.severity === 'FATAL' || o.error.severity === 'PANIC') this.connectionLost(o.error.message);
      return;
    }
    const count = o.columns ? String(o.raw ? o.raw.count : o.rows.length) : countFromTag(o.tag);
    if (send?.gset !== undefined) {
      this.applyGset(ctx, line, send.gset, o);
      return;
    }
    if (o.activityCount !== undefined) this.statementSucceeded(String(o.activityCount), '0');
    else this.statementSucceeded(count);
    const out = target ?? this.queryOut;
    if (o.columns) {
      this.printRows(o.columns, o, out);
      o.raw?.release(); // printed: its buffer serves the next statement
      if (!this.quiet && o.tag && /^(INSERT|UPDATE|DELETE|MERGE)\b/.test(o.tag)) out.write(`${o.tag}\n`);
    } else if (o.tag !== undefined && !this.quiet) {
      out.write(`${o.tag}\n`);
    }
    if (this.timing) this.print(`${formatTiming(o.elapsedMs)}\n`);
  }

  private printRows(columns: Column[], o: StatementOutcome, out: ByteWriter): void {
    const settings = this.settings();
    const to = this.exportState ? this.exportState.file : out;
    // the common table straight from the server's bytes, written out as bytes (format.ts)
    const bytes = o.raw && formatAlignedRawBytes(columns, o.raw, settings);
    if (bytes) to.writeBytes(bytes);
    else to.write(formatResult(columns, o.rows, settings));
    if (this.exportState) this.print(`(exported ${o.raw ? o.raw.count : o.rows.length} rows)\n`);
  }

  private applyGset(ctx: FileCtx, line: number, prefix: string, o: StatementOutcome): void {
    const rows = o.rows;
    if (!o.columns || rows.length !== 1) {
      const none = !o.columns || rows.length === 0;
      const err: ServerMessage = {
        severity: 'ERROR',
        code: none ? '02000' : '21000',
        message: none ? 'no rows returned for \\gset' : 'more than one row returned for \\gset',
      };
      this.statementFailed(ctx, line, err, undefined);
      this.vars.set('ACTIVITYCOUNT', String(rows.length));
      this.vars.set('ROW_COUNT', String(rows.length));
      return;
    }
    this.statementSucceeded('1');
    const row = rows[0] as (string | null)[];
    o.columns.forEach((c, i) => {
      const name = prefix + c.name;
      if (!VAR_NAME.test(name)) {
        this.printErr(`rsql: ${ctx.name}:${line}: invalid variable name: "${name}"\n`);
        return;
      }
      const v = row[i];
      if (v === null || v === undefined) this.vars.delete(name);
      else this.vars.set(name, v);
    });
    if (this.timing) this.print(`${formatTiming(o.elapsedMs)}\n`);
  }

  // =========================================================================================================
  // meta-commands

  /** A meta-command's arguments, interpolated; an unclosed quote is reported (psql) and the text used. */
  private args(ctx: FileCtx, item: MetaItem, opts: { stripDoubleQuotes?: boolean } = {}): MetaArg[] {
    const r = parseMetaArgs(item.args, { lookup: this.lookup, shell: (cmd) => this.backquote(cmd), ...opts });
    if (r.problem) this.scriptMessage(ctx, item.line, `\\${item.name}: ${r.problem}`);
    return r.args;
  }

  private backquote(cmd: string): string {
    this.out.flush();
    const r = childProcess().spawnSync('sh', ['-c', cmd], {
      cwd: this.cwd,
      env: this.childEnv,
      encoding: 'utf8',
    });
    return (r.stdout ?? '').replace(/\n$/, '');
  }

  private async execMeta(ctx: FileCtx, item: MetaItem): Promise<'quit' | undefined> {
    const name = canonicalCommand(item.name);
    const line = item.line;
    // every meta-command runs after the statements before it have been answered (and printed)
    await this.drain();
    // conditionals are tracked even in inactive branches
    switch (name) {
      case 'if':
        if (!this.active(ctx)) ctx.cond.push({ state: 'ignored', line });
        else {
          ctx.cond.push({ state: this.condition(ctx, item) ? 'true' : 'false', line });
        }
        return;
      case 'elif':
      case 'elseif': {
        const top = ctx.cond[ctx.cond.length - 1];
        if (!top) {
          this.scriptError(ctx, line, `\\${item.name}: no matching \\if`);
          return;
        }
        if (top.state === 'else-true' || top.state === 'else-false') {
          this.scriptError(ctx, line, `\\${item.name}: cannot occur after \\else`);
          return;
        }
        if (top.state === 'true') top.state = 'ignored';
        else if (top.state === 'false') {
          if (this.condition(ctx, item)) top.state = 'true';
        }
        return;
      }
      case 'else': {
        const top = ctx.cond[ctx.cond.length - 1];
        if (!top) {
          this.scriptError(ctx, line, '\\else: no matching \\if');
          return;
        }
        if (top.state === 'else-true' || top.state === 'else-false') {
          this.scriptError(ctx, line, '\\else: cannot occur after \\else');
          return;
        }
        top.state = top.state === 'false' ? 'else-true' : 'else-false';
        return;
      }
      case 'endif':
        if (ctx.cond.length === 0) {
          this.scriptError(ctx, line, '\\endif: no matching \\if');
          return;
        }
        ctx.cond.pop();
        return;
    }
    if (!this.active(ctx)) {
      // a skipped query-sending command discards the pending statement, like its SQL
      if (name === 'g' || name === 'gset' || name === 'gx') ctx.lexer.takePending();
      return;
    }
    switch (name) {
      case 'exit':
        this.cmdExit(ctx, item);
        return;
      case 'q':
      case 'quit':
        if (ctx.depth > 0) return 'quit';
        throw new ExitSignal(this.normalEndCode(), true);
      case 'goto': {
        const label = item.args.trim();
        if (label === '') {
          this.scriptError(ctx, line, '\\goto: missing label');
          return;
        }
        ctx.goto = { label, delta: 0, line };
        return;
      }
      case 'label':
        return;
      case 'echo':
      case 'qecho':
      case 'warn':
      case 'remark':
        this.cmdEcho(ctx, name, item);
        return;
      case 'set':
        this.cmdSet(ctx, item);
        return;
      case 'unset': {
        const a = this.args(ctx, item);
        if (!a[0]) {
          this.commandFailed(ctx, line, '\\unset: missing required argument');
          return;
        }
        this.vars.delete(a[0].value);
        return;
      }
      case 'g':
      case 'gx':
      case 'gset':
        await this.cmdSend(ctx, item, name);
        return;
      case 'i':
      case 'include':
      case 'ir':
      case 'include_relative': {
        const a = this.args(ctx, item);
        if (!a[0]) {
          this.commandFailed(ctx, line, `\\${item.name}: missing required argument`);
          return;
        }
        const base = name === 'ir' || name === 'include_relative' ? ctx.dir : this.cwd;
        await this.include(ctx, line, resolve(base, a[0].value), a[0].value, 0);
        return;
      }
      case 'run':
        await this.cmdRun(ctx, item);
        return;
      case 'o':
        this.cmdOutput(ctx, item);
        return;
      case 'timing': {
        const a = this.args(ctx, item)[0];
        if (a) {
          const b = parseBoolean(a.value);
          if (b === undefined) {
            this.commandFailed(ctx, line, `\\timing: unrecognized value "${a.value}"`);
            return;
          }
          this.timing = b;
        } else this.timing = !this.timing;
        if (!this.quiet) this.print(`Timing is ${this.timing ? 'on' : 'off'}.\n`);
        return;
      }
      case 'pset': {
        const a = this.args(ctx, item);
        if (!a[0]) {
          this.commandFailed(ctx, line, '\\pset: missing required argument');
          return;
        }
        const err = this.applyPset(a[0].value, a[1]?.value, false, false);
        if (err) this.commandFailed(ctx, line, err);
        return;
      }
      case 'a':
        this.toggleBoth((s) => {
          s.format = s.format === 'aligned' ? 'unaligned' : 'aligned';
        });
        if (!this.quiet) this.print(`Output format is ${this.base.format}.\n`);
        return;
      case 't':
        this.toggleBoth((s) => {
          s.tuplesOnly = !s.tuplesOnly;
        });
        if (!this.quiet) this.print(`Tuples only is ${this.base.tuplesOnly ? 'on' : 'off'}.\n`);
        return;
      case 'x':
        this.toggleBoth((s) => {
          s.expanded = !s.expanded;
        });
        if (!this.quiet) this.print(`Expanded display is ${this.base.expanded ? 'on' : 'off'}.\n`);
        return;
      case 'f': {
        const a = this.args(ctx, item)[0];
        if (a)
          this.toggleBoth((s) => {
            s.fieldSep = a.value;
          });
        if (!this.quiet) this.print(`Field separator is "${this.base.fieldSep}".\n`);
        return;
      }
      case 'rset':
        this.cmdRset(ctx, item);
        return;
      case 'export':
        this.cmdExport(ctx, item);
        return;
      case 'c':
      case 'connect':
      case 'logon':
        await this.cmdConnect(ctx, item, name === 'logon');
        return;
      case 'conninfo': {
        const s = this.session?.info;
        if (s) {
          this.print(
            `You are connected to database "${s.database}" as user "${s.user}" on host "${s.host}" at port "${s.port}".\n`,
          );
        }
        return;
      }
      case '!':
      case 'os':
        this.cmdShell(ctx, item);
        return;
      case 'setenv': {
        const a = this.args(ctx, item);
        if (!a[0]) {
          this.commandFailed(ctx, line, '\\setenv: missing required argument');
          return;
        }
        if (a[1] === undefined) delete this.childEnv[a[0].value];
        else this.childEnv[a[0].value] = a[1].value;
        return;
      }
      case 'getenv': {
        const a = this.args(ctx, item);
        if (!a[0] || !a[1]) {
          this.commandFailed(ctx, line, '\\getenv: missing required argument');
          return;
        }
        const v = this.childEnv[a[1].value];
        if (v !== undefined) this.vars.set(a[0].value, v);
        return;
      }
      case 'cd': {
        const a = this.args(ctx, item)[0];
        this.cwd = resolve(this.cwd, a?.value ?? this.childEnv.HOME ?? '/');
        return;
      }
      case 'encoding':
        this.print(`${this.session?.parameter('client_encoding') ?? 'UTF8'}\n`);
        return;
      case 'r':
        ctx.lexer.resetBuffer();
        if (!this.quiet) this.print('Query buffer reset (cleared).\n');
        return;
      case 'p': {
        const pending = this.lastQuery;
        this.print(pending ? `${pending}\n` : 'Query buffer is empty.\n');
        return;
      }
      case 'copy':
        await this.cmdCopy(ctx, item);
        return;
      case '?':
        this.print(HELP_TEXT);
        return;
      default:
        if (
          /^(d|l|z|sf|sv|ef|ev|H|s|e|w|h|help|prompt|password|lo_|crosstabview|gexec|bind|T|C)/.test(
            item.name,
          )
        ) {
          this.commandFailed(ctx, line, `\\${item.name} is not supported by this runner`);
          return;
        }
        this.scriptError(ctx, line, `invalid command \\${item.name}`);
        return;
    }
  }

  private condition(ctx: FileCtx, item: MetaItem): boolean {
    const text = interpolateMetaText(item.args, this.lookup, (cmd) => this.backquote(cmd));
    try {
      return evaluateExpression(text);
    } catch (e) {
      if (e instanceof ExpressionError) {
        this.scriptMessage(ctx, item.line, `\\${item.name}: ${e.message}`);
        return false;
      }
      throw e;
    }
  }

  private cmdExit(ctx: FileCtx, item: MetaItem): never {
    const a = this.args(ctx, item)[0];
    if (!a || a.value === '') throw new ExitSignal(this.normalEndCode(), true);
    const v = a.value.trim();
    if (/^[+-]?\d+$/.test(v)) {
      const n = Number(BigInt(v) % 256n);
      throw new ExitSignal((n + 256) % 256);
    }
    if (v.toUpperCase() === 'ERRORLEVEL')
      throw new ExitSignal(Number(this.vars.get('ERRORLEVEL') ?? '0') & 255);
    this.scriptMessage(ctx, item.line, `\\${item.name}: invalid exit code "${v}"`);
    throw new ExitSignal(EXIT.fatal);
  }

  private cmdEcho(ctx: FileCtx, name: string, item: MetaItem): void {
    const a = this.args(ctx, item).map((x) => x.value);
    let newline = true;
    if (name !== 'remark' && a[0] === '-n') {
      newline = false;
      a.shift();
    }
    let text = a.join(' ');
    if (name === 'remark') text = text.replaceAll('//', '\n');
    if (newline) text += '\n';
    if (name === 'qecho') this.queryOut.write(text);
    else if (name === 'warn') this.printErr(text);
    else this.print(text);
  }

  private cmdSet(ctx: FileCtx, item: MetaItem): void {
    const a = this.args(ctx, item);
    if (a.length === 0) {
      const names = [...this.vars.keys()].sort();
      for (const n of names) this.print(`${n} = '${this.vars.get(n)}'\n`);
      return;
    }
    const name = (a[0] as MetaArg).value;
    if (!VAR_NAME.test(name)) {
      this.commandFailed(ctx, item.line, `\\set: invalid variable name: "${name}"`);
      return;
    }
    this.vars.set(
      name,
      a
        .slice(1)
        .map((x) => x.value)
        .join(''),
    );
    if (name === 'RSQL_ERROR_VALUES') {
      const cur = this.vars.get('ERROR');
      const failed = cur === 'true' || cur === '1';
      this.vars.set('ERROR', this.errorText(failed));
    }
  }

  private async cmdSend(ctx: FileCtx, item: MetaItem, name: string): Promise<void> {
    const pending = ctx.lexer.takePending();
    const a = this.args(ctx, item);
    let stmt: SqlItem | undefined = pending;
    if (!stmt && this.lastQuery !== undefined) {
      stmt = { kind: 'sql', segments: [this.lastQuery], hasVars: false, line: item.line };
    }
    if (!stmt) {
      this.commandFailed(ctx, item.line, `\\${item.name}: no query to send`);
      return;
    }
    if (name === 'gset') {
      await this.execSql(ctx, stmt, { gset: a[0]?.value ?? '' });
      return;
    }
    const saved = this.base.expanded;
    const savedR = this.rformatSettings.expanded;
    if (name === 'gx') {
      this.base.expanded = true;
      this.rformatSettings.expanded = true;
    }
    try {
      await this.execSql(ctx, stmt, a[0] ? { gfile: a[0].value } : {});
    } finally {
      this.base.expanded = saved;
      this.rformatSettings.expanded = savedR;
    }
  }

  private async include(
    ctx: FileCtx,
    line: number,
    path: string,
    shown: string,
    skip: number,
  ): Promise<void> {
    if (ctx.depth + 1 > MAX_INCLUDE_DEPTH) {
      this.commandFailed(ctx, line, `${shown}: too many nested \\i/\\run files (limit ${MAX_INCLUDE_DEPTH})`);
      return;
    }
    let text: string;
    try {
      text = decodeScript(readFileSync(path), shown);
    } catch (e) {
      if (e instanceof ScriptEncodingError) {
        // like a missing file: reported, counted, and the including script goes on
        this.printErr(`rsql: ${e.message}\n`);
        this.countError(DEFAULT_SEVERITY);
        this.checkStop();
      } else this.commandFailed(ctx, line, `${shown}: ${fsErrorText(e)}`);
      return;
    }
    if (skip > 0) {
      const lines = text.split('\n');
      text = lines.slice(skip).join('\n');
      if (!this.quiet) this.print(`${skip} records skipped in RUN file.\n`);
    }
    const child = this.makeCtx(shown, dirname(path), text, ctx.depth + 1);
    await this.runFile(child);
  }

  private async cmdRun(ctx: FileCtx, item: MetaItem): Promise<void> {
    const a = this.args(ctx, item);
    let file: string | undefined;
    let skip = 0;
    for (const { value } of a) {
      const m = /^([A-Za-z]+)=(.*)$/s.exec(value);
      if (m) {
        const key = (m[1] as string).toLowerCase();
        if (key === 'file') file = m[2];
        else if (key === 'skip') {
          if (!/^\d+$/.test(m[2] as string)) {
            this.commandFailed(ctx, item.line, `\\run: invalid skip "${m[2]}"`);
            return;
          }
          skip = Number(m[2]);
        } else {
          this.commandFailed(ctx, item.line, `\\run: unknown option "${m[1]}"`);
          return;
        }
      } else if (file === undefined) file = value;
      else {
        this.commandFailed(ctx, item.line, `\\run: unexpected argument "${value}"`);
        return;
      }
    }
    if (!file) {
      this.commandFailed(ctx, item.line, '\\run: missing file=NAME');
      return;
    }
    await this.include(ctx, item.line, resolve(this.cwd, file), file, skip);
    return;
  }

  private openQueryFile(path: string): void {
    this.queryFile?.close();
    this.queryFile = new FileWriter(resolve(this.cwd, path));
  }

  private cmdOutput(ctx: FileCtx, item: MetaItem): void {
    const a = this.args(ctx, item)[0];
    this.out.flush();
    if (!a) {
      this.queryFile?.close();
      this.queryFile = undefined;
      return;
    }
    if (a.value.startsWith('|')) {
      this.commandFailed(ctx, item.line, '\\o |command is not supported');
      return;
    }
    try {
      this.openQueryFile(a.value);
    } catch (e) {
      this.queryFile = undefined;
      this.commandFailed(ctx, item.line, `${a.value}: ${fsErrorText(e)}`);
    }
  }

  private toggleBoth(f: (s: PrintSettings) => void): void {
    f(this.base);
    f(this.rformatSettings);
  }

  /**
   * `\pset name [value]` (and -P). While RFORMAT is off the change is kept for when it is switched on
   * (RSQL), unless RSQL_PSET_DEFERRED is off; `immediate` (command line) applies to both at once.
   */
  private applyPset(
    name: string,
    value: string | undefined,
    immediate: boolean,
    silent: boolean,
  ): string | undefined {
    const deferred =
      !immediate && !this.rformat && parseBoolean(this.vars.get('RSQL_PSET_DEFERRED') ?? 'on') !== false;
    const targets = immediate || !deferred ? [this.base, this.rformatSettings] : [this.rformatSettings];
    const s = this.rformatSettings;
    const boolArg = (cur: boolean): boolean | undefined => (value === undefined ? !cur : parseBoolean(value));
    let msg: string;
    switch (name) {
      case 'format': {
        const v = (value ?? '').toLowerCase();
        let fmt: PrintSettings['format'] | undefined;
        if ('aligned'.startsWith(v) && v !== '') fmt = 'aligned';
        else if ('unaligned'.startsWith(v) && v !== '') fmt = 'unaligned';
        else if (v === 'wrapped') fmt = 'aligned';
        else if (v === 'csv') fmt = 'unaligned';
        else if (value === undefined) fmt = s.format;
        if (!fmt) return `\\pset: allowed formats are aligned, unaligned, wrapped`;
        const f = fmt;
        for (const t of targets) t.format = f;
        msg = `Output format is ${value !== undefined && v === 'wrapped' ? 'wrapped' : f}.`;
        break;
      }
      case 'border': {
        const n = value === undefined ? 1 : Number(value);
        if (!Number.isInteger(n) || n < 0) return `\\pset: invalid border "${value}"`;
        const b = Math.min(n, 2) as 0 | 1 | 2;
        for (const t of targets) t.border = b;
        msg = `Border style is ${b}.`;
        break;
      }
      case 't':
      case 'tuples_only': {
        const b = boolArg(s.tuplesOnly);
        if (b === undefined) return `\\pset: unrecognized value "${value}" for "tuples_only"`;
        for (const t of targets) t.tuplesOnly = b;
        msg = `Tuples only is ${b ? 'on' : 'off'}.`;
        break;
      }
      case 'x':
      case 'expanded': {
        const b = value?.toLowerCase() === 'auto' ? false : boolArg(s.expanded);
        if (b === undefined) return `\\pset: unrecognized value "${value}" for "expanded"`;
        for (const t of targets) t.expanded = b;
        msg = `Expanded display is ${b ? 'on' : 'off'}.`;
        break;
      }
      case 'footer': {
        const b = boolArg(s.footer);
        if (b === undefined) return `\\pset: unrecognized value "${value}" for "footer"`;
        for (const t of targets) t.footer = b;
        msg = `Default footer is ${b ? 'on' : 'off'}.`;
        break;
      }
      case 'title':
      case 'C':
        for (const t of targets) t.title = value;
        msg = value === undefined ? 'Title is unset.' : `Title is "${value}".`;
        break;
      case 'null':
        for (const t of targets) t.nullDisplay = value ?? '';
        msg = `Null display is "${value ?? ''}".`;
        break;
      case 'fieldsep':
        for (const t of targets) t.fieldSep = value ?? '|';
        msg = `Field separator is "${value ?? '|'}".`;
        break;
      case 'recordsep':
        for (const t of targets) t.recordSep = value ?? '\n';
        msg =
          value === undefined || value === '\n'
            ? 'Record separator is <newline>.'
            : `Record separator is "${value}".`;
        break;
      case 'pager':
        msg = 'Pager usage is off.';
        break;
      case 'numericlocale':
      case 'linestyle':
      case 'unicode_border_linestyle':
      case 'unicode_column_linestyle':
      case 'unicode_header_linestyle':
      case 'columns':
      case 'tableattr':
      case 'T':
      case 'pager_min_lines':
      case 'csv_fieldsep':
      case 'xheader_width':
      case 'fieldsep_zero':
      case 'recordsep_zero':
        msg = `${name} is ignored by this runner.`;
        break;
      default:
        return `\\pset: unknown option: ${name}`;
    }
    if (!silent && !this.quiet) {
      this.print(deferred ? `${msg} (Changes will take effect after RFORMAT is switched ON)\n` : `${msg}\n`);
    }
    return undefined;
  }

  private cmdRset(ctx: FileCtx, item: MetaItem): void {
    const a = this.args(ctx, item, { stripDoubleQuotes: true }).map((x) => x.value);
    const what = (a[0] ?? '').toLowerCase();
    const say = (s: string) => {
      if (!this.quiet) this.print(`${s}\n`);
    };
    switch (what) {
      case 'errorlevel': {
        // \rset errorlevel [on|off] | <SQLSTATE|class|UNKNOWN|(a, b)> severity <n>
        const rest = a.slice(1).join(' ');
        const onOff = parseBoolean(rest);
        if (rest === '' || onOff !== undefined) {
          if (onOff !== undefined) this.errorLevelOn = onOff;
          say(`Errorlevel is ${this.errorLevelOn ? 'on' : 'off'}.`);
          return;
        }
        const m = /^(.*?)\s+severity\s+(\d+)\s*$/i.exec(rest);
        if (!m) {
          this.commandFailed(ctx, item.line, '\\rset errorlevel: expected <sqlstate> severity <n>');
          return;
        }
        const codes = (m[1] as string)
          .replace(/[()]/g, ' ')
          .split(/[\s,]+/)
          .filter(Boolean);
        for (const c of codes) this.errorLevels.set(c.toUpperCase(), Number(m[2]));
        this.errorLevelOn = true;
        say('Errorlevel is on.');
        return;
      }
      case 'maxerror': {
        const v = a[1];
        if (v === undefined || !/^\d+$/.test(v)) {
          this.commandFailed(ctx, item.line, '\\rset maxerror: expected a number');
          return;
        }
        this.maxError = Number(v);
        say(this.maxError === 0 ? 'Maxerror is default.' : `Maxerror is ${this.maxError}.`);
        return;
      }
      case 'heading':
        this.rsetHeading = a.slice(1).join(' ');
        say(`Heading is set to: ${this.rsetHeading}`);
        return;
      case 'rtitle':
        this.rsetRtitle = a.slice(1).join(' ');
        say(
          `Rtitle is set to: &DATE||${this.rsetRtitle}${this.rformat ? '' : ' (Changes will take effect after RFORMAT is switched ON)'}`,
        );
        return;
      case 'rformat': {
        const v = a[1];
        if (v === undefined) this.rformat = !this.rformat;
        else {
          const b = parseBoolean(v);
          if (b === undefined) {
            this.commandFailed(ctx, item.line, `\\rset rformat: unrecognized value "${v}"`);
            return;
          }
          this.rformat = b;
        }
        say(`Rformat is ${this.rformat ? 'on' : 'off'}.`);
        return;
      }
      case 'titledashes': {
        const v = a[1];
        const b = v === undefined ? !this.base.titleDashes : parseBoolean(v);
        if (b === undefined) {
          this.commandFailed(ctx, item.line, `\\rset titledashes: unrecognized value "${v}"`);
          return;
        }
        this.base.titleDashes = b;
        this.rformatSettings.titleDashes = b;
        say(`Titledashes is ${b ? 'on' : 'off'}.`);
        return;
      }
      case 'width': {
        const v = a[1];
        if (v !== undefined) {
          if (!/^\d+$/.test(v)) {
            this.commandFailed(ctx, item.line, '\\rset width: expected a number');
            return;
          }
          this.rsetWidth = Number(v);
        }
        say(`Target width is ${this.rsetWidth}.`);
        return;
      }
      default:
        this.commandFailed(ctx, item.line, `\\rset: unknown setting "${a[0] ?? ''}"`);
        return;
    }
  }

  private cmdExport(ctx: FileCtx, item: MetaItem): void {
    const a = this.args(ctx, item).map((x) => x.value);
    const mode = (a[0] ?? '').toLowerCase();
    if (mode === 'reset') {
      this.exportState?.file.close();
      this.exportState = undefined;
      return;
    }
    if (mode !== 'report') {
      this.commandFailed(ctx, item.line, `\\export: unsupported mode "${a[0] ?? ''}" (use report or reset)`);
      return;
    }
    let path: string | undefined;
    for (const w of a.slice(1)) {
      const m = /^file=(.*)$/is.exec(w);
      if (m) path = m[1];
    }
    if (!path) {
      this.commandFailed(ctx, item.line, "\\export: missing file='name'");
      return;
    }
    this.exportState?.file.close();
    try {
      this.exportState = { path, file: new FileWriter(resolve(this.cwd, path)) };
    } catch (e) {
      this.exportState = undefined;
      this.commandFailed(ctx, item.line, `${path}: ${fsErrorText(e)}`);
      return;
    }
  }

  private async cmdConnect(ctx: FileCtx, item: MetaItem, logon: boolean): Promise<void> {
    const a = this.args(ctx, item).map((x) => x.value);
    const cur = this.session?.info;
    const next: ConnectParams = { ...this.connParams };
    let hostGiven = false;
    if (a[0] && (/^postgres(ql)?:\/\//.test(a[0]) || a[0].includes('='))) {
      // a URI or conninfo: its values, the current connection's for the rest
      let info: ConnectParams;
      try {
        info = /^postgres(ql)?:\/\//.test(a[0]) ? parseConnectionUri(a[0]) : parseConninfo(a[0]);
      } catch (e) {
        if (e instanceof ConninfoError) {
          this.commandFailed(ctx, item.line, `\\${item.name}: ${e.message}`);
          return;
        }
        throw e;
      }
      Object.assign(next, info);
      if (cur) {
        if (info.host === undefined) next.host = cur.host;
        if (info.port === undefined) next.port = cur.port;
        if (info.user === undefined) next.user = cur.user;
        if (info.database === undefined) next.database = cur.database;
      }
      hostGiven = info.host !== undefined;
    } else {
      const keep = (v: string | undefined) => v === undefined || v === '-' || v === '';
      if (!keep(a[0])) next.database = a[0];
      else if (cur) next.database = cur.database;
      if (!keep(a[1])) next.user = a[1];
      else if (cur) next.user = cur.user;
      if (!keep(a[2])) {
        next.host = a[2];
        hostGiven = true;
      } else if (cur) next.host = cur.host;
      if (!keep(a[3])) {
        if (!/^\d+$/.test(a[3] as string)) {
          this.commandFailed(ctx, item.line, `\\${item.name}: invalid port "${a[3]}"`);
          return;
        }
        next.port = Number(a[3]);
      } else if (cur) next.port = cur.port;
      if (logon && a[4] !== undefined) next.password = a[4];
    }
    await this.connect(next, ctx);
    const s = this.session?.info;
    if (s && !this.quiet) {
      this.print(
        `You are now connected to database "${s.database}" as user "${s.user}"${hostGiven ? ` on host "${s.host}" at port "${s.port}"` : ''}.\n`,
      );
    }
  }

  /** (Re)connects: on failure at start or on \connect, exit 2 (psql in batch mode). */
  async connect(params: ConnectParams, ctx: FileCtx | undefined): Promise<void> {
    let session: Session;
    try {
      session = await Session.connect(params, (m) => this.onNotice(m));
    } catch (e) {
      const msg = e instanceof ConnectionError ? e.message : e instanceof Error ? e.message : String(e);
      if (ctx) this.scriptMessage(ctx, ctx.lexer.currentLine, `\\connect: ${msg}`);
      else this.printErr(`rsql: error: ${msg}\n`);
      throw new ExitSignal(EXIT.connection);
    }
    await this.session?.close();
    this.session = session;
    this.connParams = params;
    // PG_LAST_COPY_ID & co. are per session; stl_load_errors lives in the database connected to
    await this.s3?.close();
    this.s3 = new RedshiftS3({
      connectSide: () => Session.connect(params, () => {}),
      notice: (m) => this.onNotice(m),
      root: () => ({ variable: this.vars.get('RSQL_S3_ROOT'), env: this.io.env, cwd: this.cwd }),
    });
    const info = session.info;
    this.vars.set('DBNAME', info.database);
    this.vars.set('USER', info.user);
    this.vars.set('HOST', info.host);
    this.vars.set('PORT', String(info.port));
    this.vars.set('ENCODING', session.parameter('client_encoding') ?? 'UTF8');
    const sv = session.parameter('server_version');
    if (sv) this.vars.set('SERVER_VERSION_NAME', sv);
    await this.detectCompat(session);
    if (this.compat) await startRedshiftSession(session);
    if (ctx) ctx.lexer.standardStrings = session.parameter('standard_conforming_strings') !== 'off';
  }

  /** RSQL_COMPAT: on | off | auto (default: on unless `select version()` says Redshift). */
  private async detectCompat(session: Session): Promise<void> {
    const mode = (this.vars.get('RSQL_COMPAT') ?? 'auto').toLowerCase();
    const b = parseBoolean(mode);
    if (b !== undefined) {
      this.compat = b;
      return;
    }
    // Redshift reports server_version 8.0.2; a newer version is PostgreSQL, no need to ask
    const reported = Number.parseInt(session.parameter('server_version') ?? '', 10);
    if (reported >= 9) {
      this.compat = true;
      return;
    }
    const o = await session.run('select version()');
    const version = o.rows[0]?.[0] ?? '';
    this.compat = !isRedshiftVersion(version);
  }

  private onNotice(m: ServerMessage): void {
    let text = `${m.severity}:  ${m.message}\n`;
    if (m.detail) text += `DETAIL:  ${m.detail}\n`;
    if (m.hint) text += `HINT:  ${m.hint}\n`;
    this.printErr(text);
  }

  private cmdShell(ctx: FileCtx, item: MetaItem): void {
    const cmd = item.args.trim();
    if (cmd === '') {
      this.commandFailed(ctx, item.line, `\\${item.name}: missing command`);
      return;
    }
    this.out.flush();
    this.queryFile?.flush();
    const r = this.io.inheritStdio
      ? childProcess().spawnSync('sh', ['-c', cmd], {
          cwd: this.cwd,
          env: this.childEnv,
          stdio: ['ignore', 'inherit', 'inherit'],
        })
      : childProcess().spawnSync('sh', ['-c', cmd], {
          cwd: this.cwd,
          env: this.childEnv,
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
        });
    if (!this.io.inheritStdio) {
      if (r.stdout) this.io.stdout.write(String(r.stdout));
      if (r.stderr) this.io.stderr.write(String(r.stderr));
    }
    const code = r.status ?? (r.signal ? 128 : 127);
    this.vars.set('SHELL_EXIT_CODE', String(code));
    this.vars.set('SHELL_ERROR', code === 0 ? 'false' : 'true');
    if (r.error) this.commandFailed(ctx, item.line, `\\${item.name}: ${r.error.message}`);
  }

  /** `\copy table [(cols)] from|to 'file'|stdin|stdout [options]` over COPY … FROM STDIN / TO STDOUT. */
  private async cmdCopy(ctx: FileCtx, item: MetaItem): Promise<void> {
    const text = item.args.trim().replace(/;\s*$/, '');
    const m = /^(.*?)\s+(from|to)\s+('(?:[^']|'')*'|\S+)(.*)$/is.exec(text);
    if (!m) {
      this.commandFailed(ctx, item.line, '\\copy: parse error');
      return;
    }
    const [, target, dirRaw, fileRaw, rest] = m as unknown as [string, string, string, string, string];
    const dir = dirRaw.toLowerCase();
    const fileArg = fileRaw.startsWith("'") ? fileRaw.slice(1, -1).replaceAll("''", "'") : fileRaw;
    const lower = fileArg.toLowerCase();
    let sql: string;
    let copyIn: string | undefined;
    let outFile: FileWriter | undefined;
    if (dir === 'from') {
      sql = `COPY ${target} FROM STDIN${rest}`;
      if (lower === 'stdin' || lower === 'pstdin') copyIn = ctx.lexer.readCopyData();
      else {
        try {
          copyIn = readFileSync(resolve(this.cwd, fileArg), 'utf8');
        } catch (e) {
          this.commandFailed(ctx, item.line, `${fileArg}: ${fsErrorText(e)}`);
          return;
        }
      }
    } else {
      sql = `COPY ${target} TO STDOUT${rest}`;
      if (lower !== 'stdout' && lower !== 'pstdout') {
        try {
          outFile = new FileWriter(resolve(this.cwd, fileArg));
        } catch (e) {
          this.commandFailed(ctx, item.line, `${fileArg}: ${fsErrorText(e)}`);
          return;
        }
      }
    }
    const session = this.session;
    if (!session) return;
    const sink = outFile ?? this.queryOut;
    const o = await session.run(sql, {
      ...(copyIn !== undefined ? { copyIn } : {}),
      onCopyOut: (chunk) => sink.write(chunk.toString('utf8')),
    });
    outFile?.close();
    this.onOutcome(ctx, item.line, sql, o, undefined, undefined);
    this.checkStop();
  }
}

/** `node:child_process`, loaded by the first shell command (`\!`, `\os`, a backquote). */
function childProcess(): typeof ChildProcess {
  return builtin<typeof ChildProcess>('node:child_process');
}

function fsErrorText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'No such file or directory';
  if (code === 'EACCES') return 'Permission denied';
  if (code === 'EISDIR') return 'Is a directory';
  return e instanceof Error ? e.message : String(e);
}

const HELP_TEXT = `General
  \\q, \\quit, \\exit [N]     quit (\\exit N: with exit code N)
Query buffer
  \\g [FILE], \\gx, \\gset [PREFIX], \\p, \\r
Input/Output
  \\echo, \\qecho, \\warn, \\remark TEXT, \\o [FILE], \\i FILE, \\ir FILE, \\run file=F [skip=N]
  \\copy ..., \\export report file='F' | reset
Conditional / flow
  \\if EXPR, \\elseif EXPR, \\else, \\endif, \\goto LABEL, \\label LABEL
Formatting
  \\a, \\t, \\x, \\f SEP, \\pset NAME [VALUE], \\timing [on|off], \\rset NAME [VALUE]
Variables
  \\set [NAME [VALUE]], \\unset NAME, \\setenv NAME [VALUE], \\getenv VAR ENVVAR
Connection / OS
  \\c, \\connect, \\logon [DBNAME|- USER|- HOST|- PORT|-], \\conninfo, \\!, \\os COMMAND, \\cd DIR
`;
