/**
 * The RSQL interpreter: runs lexed scripts against a {@link Session} — status variables, conditionals,
 * `\goto`, output, error handling and exit codes per rsql-spec.md §3–§11. Every behaviour the spec marks
 * [U] is a documented choice in rsql/README.md and, where it matters, a runner variable (`RSQL_*`, initial
 * value from env `RSQLO_RSQL_*`).
 */
import { resolve } from 'node:path';
import { compatLayerFor, firstKeyword, rewriteForPostgres } from './compat.js';
import type { ConnectParams } from './conninfo.js';
import { parseBoolean } from './expression.js';
import {
  type Column,
  formatAlignedRawBytes,
  formatResult,
  formatTiming,
  type PrintSettings,
} from './format.js';
import { interpolateSegments, parseMetaArgs } from './interpolate.js';
import { canonicalCommand, type MetaItem, rawText, ScriptLexer, type SqlItem } from './lexer.js';
import { skipForGoto } from './meta/flow.js';
import { applyPset } from './meta/formatting.js';
import {
  childProcess,
  DEFAULT_SEVERITY,
  EXIT,
  ExitSignal,
  type ExportState,
  type FileCtx,
  type MetaHost,
  type SendTarget,
} from './meta/host.js';
import { applyGset } from './meta/query.js';
import { lookupMetaCommand } from './meta/table.js';
import { BufferedWriter, type ByteWriter, FileWriter, type Writer } from './output.js';
import { startRedshiftSession } from './redshift/session.js';
import { RedshiftS3, redactSecrets } from './s3/index.js';
import { escapeControls, readScriptInput, ScriptEncodingError, ScriptReadError } from './script-text.js';
import {
  ConnectionError,
  type ServerMessage,
  Session,
  type StatementOutcome,
  type SubmitOptions,
} from './session.js';

export { DEFAULT_SEVERITY, EXIT } from './meta/host.js';

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

/** Pipelining keeps at most this many statements in flight, then waits until LOW are left. */
const PIPELINE_HIGH = 256;
const PIPELINE_LOW = 64;

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
export class Interpreter implements MetaHost {
  readonly vars = new Map<string, string>();
  session: Session | undefined;
  connParams: ConnectParams;
  private compat = false;
  readonly out: BufferedWriter;
  queryFile: FileWriter | undefined;
  exportState: ExportState | undefined;
  readonly base: PrintSettings;
  readonly rformatSettings: PrintSettings;
  rformat = false;
  rsetWidth = 75;
  rsetHeading: string | undefined;
  rsetRtitle: string | undefined;
  timing = false;
  readonly errorLevels = new Map<string, number>();
  errorLevelOn = true;
  maxError = 0;
  /** Errors with severity > 0 so far (SQL, \gset, failed meta-commands, missing labels). */
  private errorCount = 0;
  private pendingExit: number | undefined;
  private internalError: unknown;
  lastQuery: string | undefined;
  readonly childEnv: Record<string, string | undefined>;
  cwd: string;
  /** Redshift COPY/UNLOAD with a local S3, stl_load_errors (compatibility layer; one per connection). */
  private s3: RedshiftS3 | undefined;

  constructor(
    readonly io: InterpreterIo,
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

  readonly lookup = (name: string): string | undefined => this.vars.get(name);

  private flag(name: string): boolean {
    const v = this.vars.get(name);
    return v !== undefined && parseBoolean(v) === true;
  }

  get quiet(): boolean {
    return this.flag('QUIET');
  }

  errorText(failed: boolean): string {
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

  get queryOut(): ByteWriter {
    return this.queryFile ?? this.out;
  }

  print(text: string): void {
    this.out.write(text);
  }

  printErr(text: string): void {
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
  scriptMessage(ctx: FileCtx, line: number, msg: string): void {
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
        const err = applyPset(this, p.name, p.value, true, true);
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
  normalEndCode(): number {
    if (this.errorCount === 0) return EXIT.ok;
    const mode = (this.vars.get('RSQL_EXIT_ON_UNHANDLED_ERROR') ?? '0').trim().toLowerCase();
    if (mode === 'severity' || mode === 'errorlevel') return Number(this.vars.get('ERRORLEVEL') ?? '0') & 255;
    if (/^\d+$/.test(mode)) return Number(mode) & 255;
    const b = parseBoolean(mode);
    if (b === true) return DEFAULT_SEVERITY;
    return EXIT.ok;
  }

  /** An input as a file context; one that cannot be read or is not UTF-8 text stops the run here (exit 1). */
  private async openInput(input: InterpreterInput): Promise<FileCtx> {
    try {
      const { name, dir, text } = await readScriptInput(input, this.cwd, () => this.io.readStdin());
      return this.makeCtx(name, dir, text, 0);
    } catch (e) {
      if (!(e instanceof ScriptReadError || e instanceof ScriptEncodingError)) throw e;
      this.printErr(`rsql: ${e.message}\n`);
      throw new ExitSignal(EXIT.fatal);
    }
  }

  makeCtx(name: string, dir: string, text: string, depth: number): FileCtx {
    const lexer = new ScriptLexer(text.startsWith('\ufeff') ? text.slice(1) : text);
    lexer.standardStrings = this.session?.parameter('standard_conforming_strings') !== 'off';
    return { name, dir, lexer, cond: [], depth };
  }

  active(ctx: FileCtx): boolean {
    const top = ctx.cond[ctx.cond.length - 1];
    return !top || top.state === 'true' || top.state === 'else-true';
  }

  /** Throws when a statement callback asked to stop (ON_ERROR_STOP, MAXERROR, connection lost). */
  checkStop(): void {
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
  async runFile(ctx: FileCtx): Promise<'eof' | 'quit'> {
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
        skipForGoto(this, ctx, item.kind === 'meta' ? item : undefined);
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
  countError(severity: number): void {
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
  scriptError(ctx: FileCtx, line: number, msg: string): void {
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
  commandFailed(ctx: FileCtx, line: number, msg: string): void {
    this.scriptMessage(ctx, line, msg);
    this.countError(DEFAULT_SEVERITY);
    this.checkStop();
  }

  /** Sets the status variables for a failed statement and prints the error. */
  statementFailed(ctx: FileCtx, line: number, err: ServerMessage, sql: string | undefined): void {
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

  statementSucceeded(count: string, rowCount = count): void {
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
  async execSql(ctx: FileCtx, item: SqlItem, send: SendTarget | undefined): Promise<void> {
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
    send: SendTarget | undefined,
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
  onOutcome(
    ctx: FileCtx,
    line: number,
    sql: string,
    o: StatementOutcome,
    send?: SendTarget,
    target?: ByteWriter,
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
      applyGset(this, ctx, line, send.gset, o);
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

  // =========================================================================================================
  // meta-commands (the table: rsql/meta/table.ts)

  /** A meta-command's arguments, interpolated; an unclosed quote is reported (psql) and the text used. */
  private args(ctx: FileCtx, item: MetaItem, opts: { stripDoubleQuotes?: boolean } = {}) {
    const r = parseMetaArgs(item.args, { lookup: this.lookup, shell: (cmd) => this.backquote(cmd), ...opts });
    if (r.problem) this.scriptMessage(ctx, item.line, `\\${item.name}: ${r.problem}`);
    return r.args;
  }

  backquote(cmd: string): string {
    this.out.flush();
    const r = childProcess().spawnSync('sh', ['-c', cmd], {
      cwd: this.cwd,
      env: this.childEnv,
      encoding: 'utf8',
    });
    return (r.stdout ?? '').replace(/\n$/, '');
  }

  /**
   * Runs one meta-command, after the statements before it have been answered (and printed). In a skipped
   * `\if` branch only the conditionals run; a skipped `\g`/`\gset` drops its pending statement.
   */
  private async execMeta(ctx: FileCtx, item: MetaItem): Promise<'quit' | undefined> {
    const name = canonicalCommand(item.name);
    const line = item.line;
    await this.drain();
    const found = lookupMetaCommand(name, item.name);
    const command = found.kind === 'command' ? found.command : undefined;
    if (!command?.always && !this.active(ctx)) {
      if (command?.sendsQuery) ctx.lexer.takePending();
      return undefined;
    }
    if (found.kind === 'refused') {
      this.commandFailed(ctx, line, found.message);
      return undefined;
    }
    if (found.kind === 'unknown') {
      this.scriptError(ctx, line, found.message);
      return undefined;
    }
    const cmd = found.command;
    const args =
      cmd.args === 'words' || cmd.args === 'rsql-words'
        ? this.args(ctx, item, cmd.args === 'rsql-words' ? { stripDoubleQuotes: true } : {})
        : [];
    if (args.length < (cmd.minArgs ?? 0)) {
      this.commandFailed(ctx, line, `\\${name}: missing required argument`);
      return undefined;
    }
    // synchronous handlers (most) are not awaited: no extra microtask per command, as before the table
    const result = cmd.run(this, { ctx, item, name, line, args });
    return (result instanceof Promise ? await result : result) ?? undefined;
  }

  openQueryFile(path: string): void {
    this.queryFile?.close();
    this.queryFile = new FileWriter(resolve(this.cwd, path));
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
    this.compat = await compatLayerFor(this.vars.get('RSQL_COMPAT'), session);
    if (this.compat) await startRedshiftSession(session);
    if (ctx) ctx.lexer.standardStrings = session.parameter('standard_conforming_strings') !== 'off';
  }

  private onNotice(m: ServerMessage): void {
    let text = `${m.severity}:  ${m.message}\n`;
    if (m.detail) text += `DETAIL:  ${m.detail}\n`;
    if (m.hint) text += `HINT:  ${m.hint}\n`;
    this.printErr(text);
  }
}
