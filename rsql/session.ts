/**
 * One database session over the PostgreSQL wire protocol (the `pg` package), simple-query protocol, one
 * statement per Query message. Statements may be pipelined: {@link Session.submit} writes the Query at
 * once and calls back, in order, when the server answered — the interpreter only pipelines runs of plain
 * SQL whose handling cannot change what is sent next (see interpreter.ts), so the observable behaviour is
 * the same as one-by-one execution, minus a network round trip per statement.
 */
import type * as Pg from 'pg';
import type { Column } from './format.js';
import { loadPgDriver, pgDriver } from './pg-driver.js';
import { interceptDataRows, RawRows } from './raw-rows.js';

/** Where to connect (password from the caller: env RSPASSWORD/PGPASSWORD, never argv). */
export interface ConnectParams {
  host?: string;
  port?: number;
  user?: string;
  password?: string;
  database?: string;
  /** libpq-style sslmode: disable/allow/prefer (no TLS), require (TLS, no verification), verify-ca/verify-full. */
  sslmode?: string;
  applicationName?: string;
  connectTimeoutSeconds?: number;
}

/** An error or notice reported by the server. */
export interface ServerMessage {
  severity: string;
  code: string;
  message: string;
  detail?: string;
  hint?: string;
  position?: string;
  where?: string;
}

/** What one statement produced. */
export interface StatementOutcome {
  /** Present when the statement returned a row description (SELECT, RETURNING, SHOW…). */
  columns?: Column[];
  /** The rows (with {@link SubmitOptions.rawRows}: decoded from {@link raw} on first read). */
  rows: (string | null)[][];
  /** With {@link SubmitOptions.rawRows}, when the session could keep them: the rows as received. */
  raw?: RawRows;
  /** Command tag (`INSERT 0 1`, `SELECT 3`, `CREATE TABLE`); undefined for an empty query or an error. */
  tag?: string;
  /** Set when the server rejected the statement. */
  error?: ServerMessage;
  /** Set when the connection failed while the statement was outstanding. */
  lost?: string;
  /** Milliseconds from submit to completion. */
  elapsedMs: number;
  /**
   * ACTIVITYCOUNT as Redshift reports COPY and UNLOAD (rows loaded or unloaded); ROW_COUNT is then 0
   * ("ROW_COUNT doesn't report a count … for SELECT, COPY or UNLOAD", RSQL variables page).
   */
  activityCount?: number;
}

/** Per-statement options. */
export interface SubmitOptions {
  /** Data for `COPY … FROM STDIN`; without it such a COPY fails cleanly. */
  copyIn?: string | Buffer | CopySource;
  /** Receives `COPY … TO STDOUT` data; a returned Promise pauses the socket until it settles. */
  onCopyOut?: (chunk: Buffer) => unknown;
  /**
   * Keep the rows as the server's bytes ({@link StatementOutcome.raw}) instead of strings: for output that
   * is printed and dropped. Default false (the session falls back to strings where it cannot intercept).
   */
  rawRows?: boolean;
}

/**
 * Data for `COPY … FROM STDIN` produced as it is sent, with backpressure: `sink.write` resolves once the
 * socket has room, so a file of any size goes through in constant memory. The source ends normally
 * (CopyDone) or throws (CopyFail with its message; the server then rolls the COPY back). `sink.closed()`
 * turns true when the server has already ended the statement (an error): stop producing.
 */
export type CopySource = (sink: CopySink) => Promise<void>;

/** Where a {@link CopySource} writes. */
export interface CopySink {
  write(chunk: Buffer): Promise<void> | undefined;
  closed(): boolean;
}

/** The connection could not be established (exit code 2 territory). */
export class ConnectionError extends Error {
  override name = 'ConnectionError';
}

interface RawMessage {
  severity?: string;
  code?: string;
  message?: string;
  detail?: string;
  hint?: string;
  position?: string;
  where?: string;
}

interface CopyConnection {
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  sendCopyFail(msg: string): void;
  stream: NodeJS.WritableStream & NodeJS.ReadableStream & { writableNeedDrain?: boolean };
}

function toServerMessage(m: RawMessage, fallbackSeverity: string): ServerMessage {
  const out: ServerMessage = {
    severity: m.severity ?? fallbackSeverity,
    code: m.code ?? '',
    message: m.message ?? '',
  };
  if (m.detail) out.detail = m.detail;
  if (m.hint) out.hint = m.hint;
  if (m.position) out.position = m.position;
  if (m.where) out.where = m.where;
  return out;
}

/** Milliseconds from an arbitrary origin (process.hrtime: `performance` loads perf_hooks at first use). */
function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** The pg Query subclass, made on first use: `pg` is loaded only when a connection is opened. */
let statementQueryClass: ReturnType<typeof defineStatementQuery> | undefined;

function newStatementQuery(
  sql: string,
  opts: SubmitOptions,
  done: (o: StatementOutcome) => void,
): InstanceType<ReturnType<typeof defineStatementQuery>> {
  statementQueryClass ??= defineStatementQuery(pgDriver());
  return new statementQueryClass(sql, opts, done);
}

function defineStatementQuery(pg: typeof Pg) {
  /** A pg Query whose handlers collect raw text rows (no type parsing, no Result objects). */
  return class StatementQuery extends pg.Query {
    columns: Column[] | undefined;
    /** Named rowData: pg.Query uses `rows` for its fetch size. */
    rowData: (string | null)[][] = [];
    /** The rows as received, when the submitter asked for them and the session intercepts DataRows. */
    raw: RawRows | undefined;
    tag: string | undefined;
    private finished = false;
    private readonly started = nowMs();

    constructor(
      sql: string,
      private readonly opts: SubmitOptions,
      private readonly done: (o: StatementOutcome) => void,
    ) {
      super({ text: sql });
    }

    handleRowDescription(msg: {
      fields: { name: string; dataTypeID: number; dataTypeModifier: number }[];
    }): void {
      this.columns = msg.fields.map((f) => ({
        name: f.name,
        typeId: f.dataTypeID,
        typeMod: f.dataTypeModifier,
      }));
      this.rowData = [];
      if (this.opts.rawRows) this.raw = new RawRows();
    }

    /** DataRows taken from pg's parser (raw-rows.ts): kept as bytes when this statement wants that. */
    rawRows(bytes: Buffer, start: number, end: number, rows: number): boolean {
      if (!this.raw) return false;
      this.raw.append(bytes, start, end, rows);
      return true;
    }

    handleDataRow(msg: { fields: (string | null)[] }): void {
      if (this.raw) {
        // pg parsed this row itself (no interception on this socket): strings from here on, after any
        // rows kept as bytes before
        this.rowData = this.raw.rows().slice();
        this.raw = undefined;
      }
      this.rowData.push(msg.fields);
    }

    handleCommandComplete(msg: { text: string }): void {
      this.tag = msg.text;
    }

    handleEmptyQuery(): void {}

    handlePortalSuspended(): void {}

    handleCopyInResponse(connection: unknown): void {
      const con = connection as CopyConnection;
      const data = this.opts.copyIn;
      if (typeof data === 'function') {
        this.streamCopyIn(con, data);
        return;
      }
      if (data === undefined) {
        con.sendCopyFail('COPY FROM STDIN needs data: put it after the statement, ended by a line \\.');
        return;
      }
      const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      const chunk = 64 * 1024;
      for (let i = 0; i < buf.length; i += chunk) con.sendCopyFromChunk(buf.subarray(i, i + chunk));
      con.endCopyFrom();
    }

    /** Runs a {@link CopySource}, waiting for the socket to drain whenever it is full. */
    private streamCopyIn(con: CopyConnection, source: CopySource): void {
      const stream = con.stream;
      const sink: CopySink = {
        write: (chunk) => {
          if (this.finished) return undefined;
          con.sendCopyFromChunk(chunk);
          if (!stream.writableNeedDrain) return undefined;
          // a socket that dies while full never drains: its close (or error) also wakes the producer,
          // which then finds the statement finished (the connection's loss ends it)
          return new Promise<void>((resolve) => {
            const wake = () => {
              stream.off('drain', wake);
              stream.off('close', wake);
              stream.off('error', wake);
              resolve();
            };
            stream.once('drain', wake);
            stream.once('close', wake);
            stream.once('error', wake);
          });
        },
        closed: () => this.finished,
      };
      source(sink).then(
        () => {
          if (!this.finished) con.endCopyFrom();
        },
        (err: unknown) => {
          if (!this.finished) con.sendCopyFail(err instanceof Error ? err.message : String(err));
        },
      );
    }

    handleCopyData(msg: { chunk: Buffer }, connection?: unknown): void {
      const wait = this.opts.onCopyOut?.(msg.chunk);
      if (wait instanceof Promise) {
        // the consumer is behind (a slow disk, a gzip stream): stop reading the socket until it catches up
        const stream = (connection as CopyConnection | undefined)?.stream;
        if (stream) {
          stream.pause();
          void wait.finally(() => stream.resume());
        }
      }
    }

    handleError(err: Error & RawMessage): void {
      if (this.finished) return;
      this.finished = true;
      const elapsedMs = nowMs() - this.started;
      if (
        err instanceof pgDriver().DatabaseError ||
        (typeof err.severity === 'string' && typeof err.code === 'string')
      ) {
        this.done({ rows: [], error: toServerMessage(err, 'ERROR'), elapsedMs });
      } else {
        this.done({ rows: [], lost: err.message || String(err), elapsedMs });
      }
    }

    handleReadyForQuery(): void {
      if (this.finished) return;
      this.finished = true;
      const elapsedMs = nowMs() - this.started;
      const raw = this.raw;
      const o: StatementOutcome = raw
        ? {
            raw,
            get rows() {
              return raw.rows();
            },
            elapsedMs,
          }
        : { rows: this.rowData, elapsedMs };
      if (this.columns) o.columns = this.columns;
      if (this.tag !== undefined) o.tag = this.tag;
      this.done(o);
    }
  };
}

/** The connection string is not a valid libpq `key=value` conninfo. */
export class ConninfoError extends Error {
  override name = 'ConninfoError';
}

/**
 * Parses a libpq `key=value` conninfo (`host=h port=5432 dbname='my db' user=u`; values may be single-quoted
 * with `\\'` and `\\\\` escapes). Known keys: host/hostaddr, port, dbname, user, password, sslmode,
 * application_name, connect_timeout; others are ignored, like unknown-but-valid libpq options.
 */
export function parseConninfo(text: string): ConnectParams {
  const out: ConnectParams = {};
  let i = 0;
  const n = text.length;
  while (i < n) {
    while (i < n && /\s/.test(text[i] as string)) i++;
    if (i >= n) break;
    const eq = text.indexOf('=', i);
    if (eq < 0) throw new ConninfoError(`missing "=" after "${text.slice(i)}" in connection info string`);
    const key = text.slice(i, eq).trim();
    i = eq + 1;
    while (i < n && /\s/.test(text[i] as string)) i++;
    let value = '';
    if (text[i] === "'") {
      i++;
      let closed = false;
      while (i < n) {
        const c = text[i] as string;
        if (c === '\\' && i + 1 < n) {
          value += text[i + 1];
          i += 2;
          continue;
        }
        if (c === "'") {
          closed = true;
          i++;
          break;
        }
        value += c;
        i++;
      }
      if (!closed) throw new ConninfoError('unterminated quoted string in connection info string');
    } else {
      while (i < n && !/\s/.test(text[i] as string)) {
        if (text[i] === '\\' && i + 1 < n) i++;
        value += text[i];
        i++;
      }
    }
    switch (key) {
      case 'host':
      case 'hostaddr':
        out.host = value;
        break;
      case 'port':
        if (!/^\d+$/.test(value)) throw new ConninfoError(`invalid port number: "${value}"`);
        out.port = Number(value);
        break;
      case 'dbname':
        out.database = value;
        break;
      case 'user':
        out.user = value;
        break;
      case 'password':
        out.password = value;
        break;
      case 'sslmode':
        out.sslmode = value;
        break;
      case 'application_name':
        out.applicationName = value;
        break;
      case 'connect_timeout':
        if (/^\d+$/.test(value)) out.connectTimeoutSeconds = Number(value);
        break;
      default:
        break;
    }
  }
  return out;
}

/**
 * Parses a `postgres://` / `postgresql://` URI (user, password, host, port, database, and the query
 * parameters host, port, dbname, user, password, sslmode, application_name, connect_timeout).
 */
export function parseConnectionUri(uri: string): ConnectParams {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new ConninfoError(`invalid connection URI "${uri.replace(/:[^:@/]*@/, ':***@')}"`);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConninfoError(`invalid connection URI scheme "${url.protocol}"`);
  }
  const out: ConnectParams = {};
  const dec = (v: string) => decodeURIComponent(v);
  if (url.hostname) out.host = dec(url.hostname.replace(/^\[(.*)\]$/, '$1'));
  if (url.port) out.port = Number(url.port);
  if (url.username) out.user = dec(url.username);
  if (url.password) out.password = dec(url.password);
  const db = url.pathname.replace(/^\//, '');
  if (db) out.database = dec(db);
  const q = url.searchParams;
  const extra = [...q.entries()]
    .map(([k, v]) => `${k}='${v.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`)
    .join(' ');
  return extra ? { ...out, ...parseConninfo(extra) } : out;
}

/** Builds pg's client configuration from libpq-style parameters. */
export function clientConfig(p: ConnectParams): Pg.ClientConfig {
  const cfg: Pg.ClientConfig = { pipeline: true, application_name: p.applicationName ?? 'rsql' };
  if (p.host !== undefined) cfg.host = p.host;
  if (p.port !== undefined) cfg.port = p.port;
  if (p.user !== undefined) cfg.user = p.user;
  if (p.database !== undefined) cfg.database = p.database;
  // An empty password still fails authentication cleanly (pg rejects a missing one asynchronously).
  cfg.password = p.password ?? '';
  const mode = (p.sslmode ?? '').toLowerCase();
  if (mode === 'require') cfg.ssl = { rejectUnauthorized: false };
  else if (mode === 'verify-ca' || mode === 'verify-full') cfg.ssl = true;
  if (p.connectTimeoutSeconds) cfg.connectionTimeoutMillis = p.connectTimeoutSeconds * 1000;
  return cfg;
}

/** A connected session. */
export class Session {
  private inFlight = 0;
  private waiters: { below: number; resolve: () => void }[] = [];
  /** Set when the connection dropped; later submits fail at once. */
  lostReason: string | undefined;
  /** The server's transaction status at the last ReadyForQuery: I idle, T in a transaction, E failed one. */
  transactionStatus: 'I' | 'T' | 'E' = 'I';
  private ended = false;
  private corked = false;
  /**
   * Error outcomes held until the ReadyForQuery that ends their statement: pg reports an ErrorResponse
   * at once, and when the ReadyForQuery arrives in a later socket read, whoever awaited the error would
   * otherwise read a stale `transactionStatus` (still `T`, not `E`).
   */
  private afterReady: (() => void)[] = [];

  private constructor(
    private readonly client: Pg.Client,
    readonly info: { host: string; port: number; user: string; database: string },
    private readonly params: Map<string, string>,
  ) {}

  /**
   * Connects; `onNotice` receives server NOTICE/INFO/WARNING messages as they arrive (in protocol order,
   * i.e. before the completion of the statement that raised them).
   */
  static async connect(params: ConnectParams, onNotice: (m: ServerMessage) => void): Promise<Session> {
    const client = new (await loadPgDriver()).Client(clientConfig(params));
    let session: Session | undefined;
    client.on('error', (e: Error) => {
      if (session) session.markLost(e.message);
    });
    client.on('end', () => {
      if (session && !session.ended) session.markLost('server closed the connection unexpectedly');
    });
    client.on('notice', (m: RawMessage) => onNotice(toServerMessage(m, 'NOTICE')));
    client.connection.on('readyForQuery', (m: { status?: string }) => {
      if (!session) return;
      if (m.status === 'I' || m.status === 'T' || m.status === 'E') session.transactionStatus = m.status;
      session.flushAfterReady();
    });
    const serverParams = new Map<string, string>();
    client.connection.on('parameterStatus', (m: { parameterName: string; parameterValue: string }) => {
      serverParams.set(m.parameterName, m.parameterValue);
    });
    try {
      await client.connect();
    } catch (e) {
      await client.end().catch(() => {});
      throw new ConnectionError(connectErrorText(e, params));
    }
    // the rows of statements submitted with rawRows skip pg's per-field strings (raw-rows.ts)
    const pgClient = client as unknown as {
      _activeQuery?: unknown;
      connection: { stream?: NodeJS.EventEmitter; _emitMessage?: boolean };
    };
    const stream = pgClient.connection.stream;
    if (stream) {
      interceptDataRows(stream, (bytes, start, end, rows) => {
        if (pgClient.connection._emitMessage) return false;
        const q = pgClient._activeQuery as {
          rawRows?: (b: Buffer, s: number, e: number, n: number) => boolean;
        } | null;
        return typeof q?.rawRows === 'function' && q.rawRows(bytes, start, end, rows);
      });
    }
    const c = client as unknown as { host: string; port: number; user: string; database: string };
    session = new Session(
      client,
      { host: c.host, port: c.port, user: c.user, database: c.database },
      serverParams,
    );
    return session;
  }

  /** Server parameter (e.g. `server_version`, `standard_conforming_strings`), when reported. */
  parameter(name: string): string | undefined {
    return this.params.get(name);
  }

  /** The server process serving this session (pg_backend_pid()). */
  get backendPid(): number {
    return Number((this.client as unknown as { processID: number | null }).processID ?? 0);
  }

  /** Statements submitted and not yet answered. */
  get pending(): number {
    return this.inFlight;
  }

  /** Sends one statement; `done` is called (in submission order) with its outcome. */
  submit(sql: string, done: (o: StatementOutcome) => void, opts: SubmitOptions = {}): void {
    if (this.lostReason !== undefined) {
      const reason = this.lostReason;
      queueMicrotask(() => done({ rows: [], lost: reason, elapsedMs: 0 }));
      return;
    }
    this.inFlight++;
    this.cork();
    const q = newStatementQuery(sql, opts, (o) => {
      const settle = () => {
        this.inFlight--;
        try {
          done(o);
        } finally {
          this.wake();
        }
      };
      if (o.error && this.lostReason === undefined) this.afterReady.push(settle);
      else settle();
    });
    this.client.query(q);
  }

  /** Batches the Query messages written in this tick into one socket write. */
  private cork(): void {
    if (this.corked) return;
    const stream = (
      this.client as unknown as {
        connection?: { stream?: NodeJS.WritableStream & { cork?: () => void; uncork?: () => void } };
      }
    ).connection?.stream;
    if (!stream?.cork || !stream.uncork) return;
    this.corked = true;
    stream.cork();
    process.nextTick(() => {
      this.corked = false;
      stream.uncork?.();
    });
  }

  /** Runs one statement and waits for it (and everything before it). */
  run(sql: string, opts: SubmitOptions = {}): Promise<StatementOutcome> {
    return new Promise((resolve) => this.submit(sql, resolve, opts));
  }

  /** Resolves when fewer than `below` statements are outstanding (0 = all answered). */
  waitBelow(below: number): Promise<void> {
    if (this.inFlight < Math.max(1, below) && (below > 0 || this.inFlight === 0)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ below, resolve }));
  }

  /** Resolves when every submitted statement has been answered. */
  drain(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ below: 0, resolve }));
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    const keep: typeof this.waiters = [];
    for (const w of this.waiters) {
      if ((w.below === 0 && this.inFlight === 0) || (w.below > 0 && this.inFlight < w.below)) w.resolve();
      else keep.push(w);
    }
    this.waiters = keep;
  }

  private markLost(reason: string): void {
    if (this.lostReason === undefined) this.lostReason = reason;
    this.flushAfterReady();
  }

  /** Settles the error outcomes waiting for their ReadyForQuery (or for the connection's end). */
  flushAfterReady(): void {
    const held = this.afterReady;
    if (held.length === 0) return;
    this.afterReady = [];
    for (const settle of held) settle();
  }

  /** Closes the connection (the server rolls back an open transaction). */
  async close(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    await this.client.end().catch(() => {});
    this.flushAfterReady();
  }
}

function connectErrorText(e: unknown, p: ConnectParams): string {
  const err = e as RawMessage & { code?: string; message?: string };
  const where = p.host?.startsWith('/')
    ? `socket "${p.host}"`
    : `server at "${p.host ?? 'localhost'}", port ${p.port ?? 5432}`;
  const msg = err?.message ?? String(e);
  if (err?.code === 'ECONNREFUSED') return `connection to ${where} failed: Connection refused`;
  if (err?.code === 'ENOTFOUND') return `could not translate host name "${p.host}" to address`;
  return `connection to ${where} failed: ${err?.severity ? `${err.severity}:  ` : ''}${msg}`;
}
