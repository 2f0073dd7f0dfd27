/**
 * One database session over the PostgreSQL wire protocol, simple-query protocol, one statement per Query
 * message: `pg` connects (TLS, authentication), then the session reads and writes the socket itself
 * (wire.ts). Statements may be pipelined: {@link Session.submit} writes the Query at
 * once and calls back, in order, when the server answered — the interpreter only pipelines runs of plain
 * SQL whose handling cannot change what is sent next (see interpreter.ts), so the observable behaviour is
 * the same as one-by-one execution, minus a network round trip per statement.
 */
import type * as Pg from 'pg';
import { type ConnectParams, clientConfig, connectErrorText } from './conninfo.js';
import type { Column } from './format.js';
import { loadPgDriver } from './pg-driver.js';
import { RawRows } from './raw-rows.js';
import {
  COPY_DONE,
  copyDataHeader,
  copyFailMessage,
  cstring,
  MessageFramer,
  MSG,
  parseResponseFields,
  parseRowDescription,
  queryMessage,
  type ResponseFields,
  uint32At,
} from './wire.js';

// Moved to conninfo.ts; re-exported for the modules that import them from here.
export {
  type ConnectParams,
  ConninfoError,
  clientConfig,
  parseConnectionUri,
  parseConninfo,
} from './conninfo.js';

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

/** A server message's fields as pg's notices/errors and our wire reader both give them. */
type RawMessage = ResponseFields;

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

/** A statement sent and not yet ended by its ReadyForQuery. */
interface Pending {
  opts: SubmitOptions;
  done: (o: StatementOutcome) => void;
  started: number;
  columns: Column[] | undefined;
  /** The current result set's rows, as received (decoded at the end unless the submitter wants bytes). */
  raw: RawRows | undefined;
  tag: string | undefined;
  error: ServerMessage | undefined;
  /** Set once the statement ended (error or ReadyForQuery): a COPY source stops producing. */
  finished: boolean;
}

/** The connected socket, as the session uses it (a net.Socket or, with TLS, a tls.TLSSocket). */
type Socket = NodeJS.ReadWriteStream & {
  writable: boolean;
  writableNeedDrain?: boolean;
  destroy(): void;
};

/** Size of a buffer of batched Query messages (a longer statement is written on its own). */
const QUERY_BATCH = 64 * 1024;

/** Sends COPY data in pieces of this size (the server's own COPY reads use 64 kB). */
const COPY_CHUNK = 64 * 1024;

/**
 * A connected session. `pg` opens the connection (TLS, authentication, start-up parameters); then the
 * session reads and writes the socket itself (rsql/wire.ts): one Query message per statement and a reader
 * that hands each statement its RowDescription, its DataRows as bytes (raw-rows.ts), its CommandComplete,
 * errors and notices, and completes it at its ReadyForQuery — after the transaction status it carries is
 * recorded, so whoever acts on an outcome reads the state after that statement.
 */
export class Session {
  private inFlight = 0;
  private waiters: { below: number; resolve: () => void }[] = [];
  /** Statements sent, oldest first; the server answers them in order. */
  private readonly queue: Pending[] = [];
  /** Set when the connection dropped; later submits fail at once. */
  lostReason: string | undefined;
  /** The server's transaction status at the last ReadyForQuery: I idle, T in a transaction, E failed one. */
  transactionStatus: 'I' | 'T' | 'E' = 'I';
  private ended = false;
  /** Query messages of this tick not yet written: `out[outStart, outEnd)` (see queueQuery). */
  private out: Buffer = Buffer.alloc(0);
  private outStart = 0;
  private outEnd = 0;
  private flushQueued = false;
  /** The last RowDescription received (its body) and its columns. */
  private lastRowDescription: { bytes: Buffer; columns: Column[] } | undefined;
  private readonly framer = new MessageFramer((buf, start, end) => this.onMessages(buf, start, end));

  private constructor(
    private readonly client: Pg.Client,
    private readonly stream: Socket,
    readonly info: { host: string; port: number; user: string; database: string },
    private readonly params: Map<string, string>,
    private readonly onNotice: (m: ServerMessage) => void,
  ) {}

  /**
   * Connects; `onNotice` receives server NOTICE/INFO/WARNING messages as they arrive (in protocol order,
   * i.e. before the completion of the statement that raised them).
   */
  static async connect(params: ConnectParams, onNotice: (m: ServerMessage) => void): Promise<Session> {
    const client = new (await loadPgDriver()).Client(clientConfig(params));
    let session: Session | undefined;
    // the socket's end and errors still reach pg's listeners, which report them as the client's events
    client.on('error', (e: Error) => {
      if (session) session.markLost(e.message);
    });
    client.on('end', () => {
      if (session && !session.ended) session.markLost('server closed the connection unexpectedly');
    });
    client.on('notice', (m: RawMessage) => onNotice(toServerMessage(m, 'NOTICE')));
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
    const stream = (client.connection as unknown as { stream: Socket }).stream;
    const c = client as unknown as { host: string; port: number; user: string; database: string };
    const s = new Session(
      client,
      stream,
      { host: c.host, port: c.port, user: c.user, database: c.database },
      serverParams,
      onNotice,
    );
    // from here on the statement path reads the socket: pg's parser (its only data listener) is taken off
    stream.removeAllListeners('data');
    stream.on('data', (chunk: Buffer) => s.framer.push(chunk));
    session = s;
    return s;
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
    const reason = this.lostReason ?? (this.ended ? 'Connection terminated' : undefined);
    if (reason !== undefined) {
      queueMicrotask(() => done({ rows: [], lost: reason, elapsedMs: 0 }));
      return;
    }
    this.inFlight++;
    this.queue.push({
      opts,
      done,
      started: nowMs(),
      columns: undefined,
      raw: undefined,
      tag: undefined,
      error: undefined,
      finished: false,
    });
    // a socket already closing fails the statement through markLost (its close event follows)
    if (this.stream.writable) this.queueQuery(sql);
  }

  /**
   * Adds a Query message to the batch of this tick, written to the socket as one chunk at the end of the
   * tick (or before anything else the session writes): one stream write per batch, not one per statement.
   * Written bytes are never reused (the stream may hold them until the socket takes them).
   */
  private queueQuery(sql: string): void {
    const room = 6 + sql.length * 3; // UTF-8: at most 3 bytes per UTF-16 unit
    if (this.out.length - this.outEnd < room) {
      this.flushQueries();
      if (room > QUERY_BATCH) {
        this.stream.write(queryMessage(sql));
        return;
      }
      this.out = Buffer.allocUnsafe(QUERY_BATCH);
      this.outStart = 0;
      this.outEnd = 0;
    }
    const o = this.out;
    const at = this.outEnd;
    const len = o.write(sql, at + 5, 'utf8');
    o[at] = 0x51; // Q
    o.writeUInt32BE(5 + len, at + 1);
    o[at + 5 + len] = 0;
    this.outEnd = at + 6 + len;
    if (!this.flushQueued) {
      this.flushQueued = true;
      process.nextTick(() => this.flushQueries());
    }
  }

  /** Writes the batched Query messages. */
  private flushQueries(): void {
    this.flushQueued = false;
    if (this.outEnd === this.outStart) return;
    const chunk = this.out.subarray(this.outStart, this.outEnd);
    this.outStart = this.outEnd;
    if (this.stream.writable) this.stream.write(chunk);
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

  /** Handles a run of whole backend messages (`buf[start, end)`). */
  private onMessages(buf: Buffer, start: number, end: number): void {
    let p = start;
    while (p < end) {
      const type = buf[p] as number;
      const next = p + 1 + uint32At(buf, p + 1);
      const body = p + 5;
      const s = this.queue[0];
      switch (type) {
        case MSG.dataRow: {
          // the DataRows that follow belong to the same result: one copy for the run
          let after = next;
          let rows = 1;
          while (after < end && buf[after] === MSG.dataRow) {
            after += 1 + uint32At(buf, after + 1);
            rows++;
          }
          if (!s) {
            this.protocolViolation('DataRow');
            return;
          }
          if (!s.error) {
            s.raw ??= new RawRows();
            s.raw.append(buf, p, after, rows);
          }
          p = after;
          continue;
        }
        case MSG.rowDescription:
          if (!s) {
            this.protocolViolation('RowDescription');
            return;
          }
          s.columns = this.rowDescription(buf, body, next);
          // a later result of a multi-statement string replaces the earlier one's rows
          s.raw?.release();
          s.raw = new RawRows();
          break;
        case MSG.commandComplete:
          if (s) s.tag = cstring(buf, body, next);
          break;
        case MSG.readyForQuery: {
          const status = String.fromCharCode(buf[body] as number);
          if (status === 'I' || status === 'T' || status === 'E') this.transactionStatus = status;
          if (s) this.complete(s);
          break;
        }
        case MSG.errorResponse: {
          const m = toServerMessage(parseResponseFields(buf, body, next), 'ERROR');
          if (!s) {
            // not about a statement (a FATAL before the server closes an idle session)
            this.markLost(m.message);
            break;
          }
          if (!s.error) {
            s.error = m;
            s.finished = true;
            s.raw?.release();
            s.raw = undefined;
          }
          break;
        }
        case MSG.noticeResponse:
          this.onNotice(toServerMessage(parseResponseFields(buf, body, next), 'NOTICE'));
          break;
        case MSG.parameterStatus: {
          const zero = buf.indexOf(0, body);
          if (zero >= body && zero < next) {
            this.params.set(buf.toString('utf8', body, zero), cstring(buf, zero + 1, next));
          }
          break;
        }
        case MSG.copyInResponse:
          if (s) this.copyIn(s);
          break;
        case MSG.copyData:
          if (s) this.copyOut(s, buf.subarray(body, next));
          break;
        default:
          // EmptyQueryResponse, CopyOutResponse, CopyDone, NotificationResponse (no LISTEN here)…
          break;
      }
      p = next;
    }
  }

  /**
   * The columns of a RowDescription (body `buf[start, end)`): the previous statement's array again when the
   * message is byte for byte the same (a script's SELECTs mostly are), so they are not parsed again.
   * Outcomes share it: it is read-only.
   */
  private rowDescription(buf: Buffer, start: number, end: number): Column[] {
    const len = end - start;
    const prev = this.lastRowDescription;
    if (prev && prev.bytes.length === len && buf.compare(prev.bytes, 0, len, start, end) === 0)
      return prev.columns;
    const columns = parseRowDescription(buf, start, end);
    if (len <= 4096) this.lastRowDescription = { bytes: Buffer.from(buf.subarray(start, end)), columns };
    return columns;
  }

  /** Ends the oldest statement at its ReadyForQuery. */
  private complete(s: Pending): void {
    this.queue.shift();
    s.finished = true;
    const elapsedMs = nowMs() - s.started;
    let o: StatementOutcome;
    const raw = s.raw;
    if (s.error) {
      o = { rows: [], error: s.error, elapsedMs };
    } else if (raw && s.opts.rawRows) {
      o = {
        raw,
        get rows() {
          return raw.rows();
        },
        elapsedMs,
      };
    } else {
      const rows = raw ? raw.rows() : [];
      raw?.release();
      o = { rows, elapsedMs };
    }
    if (!s.error) {
      if (s.columns) o.columns = s.columns;
      if (s.tag !== undefined) o.tag = s.tag;
    }
    this.settle(s, o);
  }

  private settle(s: Pending, o: StatementOutcome): void {
    this.inFlight--;
    try {
      s.done(o);
    } finally {
      this.wake();
    }
  }

  /** The server sent what the protocol does not allow here: the session cannot go on. */
  private protocolViolation(what: string): void {
    this.markLost(`Received unexpected ${what} message from backend.`);
    this.stream.destroy();
  }

  /** Answers a CopyInResponse with the statement's data (or a CopyFail when it has none). */
  private copyIn(s: Pending): void {
    const data = s.opts.copyIn;
    if (typeof data === 'function') {
      this.streamCopyIn(s, data);
      return;
    }
    if (data === undefined) {
      this.send(
        copyFailMessage('COPY FROM STDIN needs data: put it after the statement, ended by a line \\.'),
      );
      return;
    }
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    for (let i = 0; i < buf.length; i += COPY_CHUNK) this.sendCopyData(buf.subarray(i, i + COPY_CHUNK));
    this.send(COPY_DONE);
  }

  private send(b: Buffer): void {
    this.flushQueries(); // after the statements submitted before it
    if (this.stream.writable) this.stream.write(b);
  }

  private sendCopyData(chunk: Buffer): void {
    this.send(copyDataHeader(chunk.length));
    this.send(chunk);
  }

  /** Runs a {@link CopySource}, waiting for the socket to drain whenever it is full. */
  private streamCopyIn(s: Pending, source: CopySource): void {
    const stream = this.stream;
    const sink: CopySink = {
      write: (chunk) => {
        if (s.finished) return undefined;
        this.sendCopyData(chunk);
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
      closed: () => s.finished,
    };
    source(sink).then(
      () => {
        if (!s.finished) this.send(COPY_DONE);
      },
      (err: unknown) => {
        if (!s.finished) this.send(copyFailMessage(err instanceof Error ? err.message : String(err)));
      },
    );
  }

  /** Gives `COPY … TO STDOUT` data to the statement's consumer; a slow one pauses the socket. */
  private copyOut(s: Pending, chunk: Buffer): void {
    const wait = s.opts.onCopyOut?.(chunk);
    if (wait instanceof Promise) {
      // the consumer is behind (a slow disk, a gzip stream): stop reading the socket until it catches up
      this.stream.pause();
      void wait.finally(() => this.stream.resume());
    }
  }

  /** The connection is gone: every statement still outstanding ends, with its error if it had one. */
  private markLost(reason: string): void {
    if (this.lostReason === undefined) this.lostReason = reason;
    const lost = this.lostReason;
    while (this.queue.length > 0) {
      const s = this.queue.shift() as Pending;
      s.finished = true;
      s.raw?.release();
      const elapsedMs = nowMs() - s.started;
      this.settle(s, s.error ? { rows: [], error: s.error, elapsedMs } : { rows: [], lost, elapsedMs });
    }
  }

  /** Closes the connection (the server rolls back an open transaction). */
  async close(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.flushQueries(); // statements submitted in this tick go before the Terminate
    await this.client.end().catch(() => {});
    if (this.queue.length > 0) this.markLost('Connection terminated');
  }
}
