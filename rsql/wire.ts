/**
 * The PostgreSQL wire protocol (version 3) messages the runner's statement path reads and writes itself,
 * once a connection is established: the simple query protocol (Query, then RowDescription / DataRow /
 * CommandComplete / EmptyQueryResponse / ErrorResponse / NoticeResponse / COPY sub-protocol, ended by
 * ReadyForQuery). Why ours and not `pg`'s: the runner sends thousands of statements whose rows are
 * printed and dropped; `pg` makes a Query object, event emissions and a message object per row and per
 * field for each, which was most of the runner's per-statement time (rsql/README.md, "Speed").
 *
 * Message layouts: https://www.postgresql.org/docs/current/protocol-message-formats.html
 */

/** Backend message type bytes. */
export const MSG = {
  authentication: 0x52, // R
  backendKeyData: 0x4b, // K
  bindComplete: 0x32, // 2
  closeComplete: 0x33, // 3
  commandComplete: 0x43, // C
  copyBothResponse: 0x57, // W
  copyData: 0x64, // d
  copyDone: 0x63, // c
  copyInResponse: 0x47, // G
  copyOutResponse: 0x48, // H
  dataRow: 0x44, // D
  emptyQueryResponse: 0x49, // I
  errorResponse: 0x45, // E
  noData: 0x6e, // n
  noticeResponse: 0x4e, // N
  notificationResponse: 0x41, // A
  parameterDescription: 0x74, // t
  parameterStatus: 0x53, // S
  parseComplete: 0x31, // 1
  portalSuspended: 0x73, // s
  readyForQuery: 0x5a, // Z
  rowDescription: 0x54, // T
} as const;

/**
 * Cuts a backend byte stream into whole messages: `onMessages(buf, start, end)` receives runs of complete
 * messages (`buf[start, end)`, valid only during the call). A message split across socket reads is the only
 * thing copied — into a buffer of its exact size once its length is known — never the rest of a read, so
 * a 20 MB row costs one copy, not one per chunk.
 */
export class MessageFramer {
  /** The message split across reads: its first bytes, then (once its length is known) its whole buffer. */
  private carry: Buffer | undefined;
  private carried = 0;

  constructor(private readonly onMessages: (buf: Buffer, start: number, end: number) => void) {}

  /** True while part of a message is held (the stream ended mid-message if it closes now). */
  get partial(): boolean {
    return this.carry !== undefined;
  }

  /** Feeds one socket read. */
  push(chunk: Buffer): void {
    let off = 0;
    if (this.carry) {
      let carry = this.carry;
      if (this.carried < 5) {
        // the length is not known yet: gather the header first
        const take = Math.min(5 - this.carried, chunk.length);
        chunk.copy(carry, this.carried, 0, take);
        this.carried += take;
        off = take;
        if (this.carried < 5) return;
        const whole = Buffer.allocUnsafe(1 + carry.readUInt32BE(1));
        carry.copy(whole, 0, 0, 5);
        carry = whole;
        this.carry = whole;
      }
      const take = Math.min(carry.length - this.carried, chunk.length - off);
      chunk.copy(carry, this.carried, off, off + take);
      this.carried += take;
      off += take;
      if (this.carried < carry.length) return;
      this.carry = undefined;
      this.carried = 0;
      this.onMessages(carry, 0, carry.length);
    }
    // whole messages of the rest of the chunk
    let p = off;
    const end = chunk.length;
    while (p + 5 <= end) {
      const next = p + 1 + uint32At(chunk, p + 1);
      if (next > end) break;
      p = next;
    }
    if (p > off) this.onMessages(chunk, off, p);
    if (p < end) {
      const rest = end - p;
      const carry = Buffer.allocUnsafe(rest >= 5 ? 1 + chunk.readUInt32BE(p + 1) : 5);
      chunk.copy(carry, 0, p, end);
      this.carry = carry;
      this.carried = rest;
    }
  }
}

/**
 * The unsigned 32-bit big-endian integer at `p`, which the caller knows is inside `b` (a message length).
 * Inline byte reads: Buffer#readUInt32BE checks its arguments in JavaScript, per message.
 */
export function uint32At(b: Uint8Array, p: number): number {
  return (
    (((b[p] as number) << 24) |
      ((b[p + 1] as number) << 16) |
      ((b[p + 2] as number) << 8) |
      (b[p + 3] as number)) >>>
    0
  );
}

/** The fields of an ErrorResponse or NoticeResponse, by their one-letter codes. */
export interface ResponseFields {
  /** S: severity (localized). */
  severity?: string;
  /** C: SQLSTATE code. */
  code?: string;
  /** M: primary message. */
  message?: string;
  /** D: detail. */
  detail?: string;
  /** H: hint. */
  hint?: string;
  /** P: cursor position in the statement. */
  position?: string;
  /** W: context (call stack). */
  where?: string;
}

/** Reads the fields of an ErrorResponse/NoticeResponse whose body is `buf[start, end)`. */
export function parseResponseFields(buf: Buffer, start: number, end: number): ResponseFields {
  const out: ResponseFields = {};
  let p = start;
  while (p < end) {
    const type = buf[p] as number;
    if (type === 0) break;
    const zero = buf.indexOf(0, p + 1);
    const stop = zero < 0 || zero > end ? end : zero;
    const value = buf.toString('utf8', p + 1, stop);
    p = stop + 1;
    switch (type) {
      case 0x53: // S
        out.severity = value;
        break;
      case 0x43: // C
        out.code = value;
        break;
      case 0x4d: // M
        out.message = value;
        break;
      case 0x44: // D
        out.detail = value;
        break;
      case 0x48: // H
        out.hint = value;
        break;
      case 0x50: // P
        out.position = value;
        break;
      case 0x57: // W
        out.where = value;
        break;
      default:
        break;
    }
  }
  return out;
}

/** One column of a RowDescription. */
export interface FieldDescription {
  name: string;
  typeId: number;
  typeMod: number;
}

/** Reads a RowDescription whose body is `buf[start, end)`. */
export function parseRowDescription(buf: Buffer, start: number, end: number): FieldDescription[] {
  const n = buf.readInt16BE(start);
  const out = new Array<FieldDescription>(n);
  let p = start + 2;
  for (let i = 0; i < n; i++) {
    const zero = buf.indexOf(0, p);
    if (zero < 0 || zero + 19 > end) throw new Error('malformed RowDescription message');
    const name = buf.toString('utf8', p, zero);
    p = zero + 1;
    // table OID (4), column number (2), type OID (4), type size (2), type modifier (4), format (2)
    const typeId = buf.readUInt32BE(p + 6);
    const typeMod = buf.readInt32BE(p + 12);
    p += 18;
    out[i] = { name, typeId, typeMod };
  }
  return out;
}

/** The body of a CommandComplete / ParameterStatus string: `buf[start, end)` without its final NUL. */
export function cstring(buf: Buffer, start: number, end: number): string {
  const zero = buf.indexOf(0, start);
  return buf.toString('utf8', start, zero < 0 || zero > end ? end : zero);
}

/** A Query message (`Q`, length, the statement text, NUL). */
export function queryMessage(sql: string): Buffer {
  const len = Buffer.byteLength(sql, 'utf8');
  const out = Buffer.allocUnsafe(6 + len);
  out[0] = 0x51;
  out.writeUInt32BE(5 + len, 1);
  out.write(sql, 5, 'utf8');
  out[5 + len] = 0;
  return out;
}

/** The header of a CopyData message carrying `size` bytes (the data is written after it, uncopied). */
export function copyDataHeader(size: number): Buffer {
  const out = Buffer.allocUnsafe(5);
  out[0] = 0x64;
  out.writeUInt32BE(4 + size, 1);
  return out;
}

/** CopyDone. */
export const COPY_DONE: Buffer = Buffer.from([0x63, 0, 0, 0, 4]);

/** CopyFail with its reason (the server ends the COPY with an error quoting it). */
export function copyFailMessage(reason: string): Buffer {
  const len = Buffer.byteLength(reason, 'utf8');
  const out = Buffer.allocUnsafe(6 + len);
  out[0] = 0x66;
  out.writeUInt32BE(5 + len, 1);
  out.write(reason, 5, 'utf8');
  out[5 + len] = 0;
  return out;
}
