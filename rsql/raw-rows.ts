/**
 * Result rows kept as the server sent them (DataRow payloads, text format), for the runner's hot path: a
 * statement's rows are copied into one growing buffer instead of becoming a string per field, an array per
 * row and a message object per row (what `pg` builds), and the common table layout is written from those
 * bytes (format.ts `formatAlignedRaw`). On a 1,000-SELECT script that garbage was most of the runner's
 * time after start-up. Rows are decoded to strings only when something needs them (`\gset`, a layout the
 * byte path does not cover), the way `pg` decodes them (UTF-8, NULL as null).
 */

/** Buffers of released {@link RawRows}, reused by the next statements (a fresh ArrayBuffer per statement costs GC work). */
const spare: Buffer[] = [];
const SPARE_MAX = 4;
/** A buffer bigger than this is not kept for reuse. */
const SPARE_LARGEST = 1024 * 1024;

/**
 * The DataRow messages of one result set, whole and back to back: per row `D`, int32 length, int16 field
 * count, then per field int32 length (-1 = NULL) and the bytes.
 */
export class RawRows {
  /** Rows held. */
  count = 0;
  private buf: Buffer = spare.pop() ?? Buffer.allocUnsafe(0);
  private used = 0;
  private decoded: (string | null)[][] | undefined;
  private released = false;

  /** Copies `rows` whole DataRow messages (`bytes[start, end)`, headers included). */
  append(bytes: Buffer, start: number, end: number, rows: number): void {
    if (this.released) throw new Error('RawRows used after release()');
    const len = end - start;
    if (this.used + len > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(16 * 1024, this.buf.length * 2, this.used + len));
      this.buf.copy(next, 0, 0, this.used);
      this.buf = next;
    }
    bytes.copy(this.buf, this.used, start, end);
    this.used += len;
    this.count += rows;
    this.decoded = undefined;
  }

  /** The messages (valid until the next append or release). */
  bytes(): Buffer {
    if (this.released) throw new Error('RawRows used after release()');
    return this.buf.subarray(0, this.used);
  }

  /** Done with the rows (printed): the buffer goes to the next statement; any later read throws. */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (spare.length < SPARE_MAX && this.buf.length > 0 && this.buf.length <= SPARE_LARGEST)
      spare.push(this.buf);
    this.buf = Buffer.allocUnsafe(0);
    this.used = 0;
  }

  /** The rows as `pg` would give them: UTF-8 strings, null for NULL. Decoded once. */
  rows(): (string | null)[][] {
    if (this.decoded) return this.decoded;
    if (this.released) throw new Error('RawRows used after release()');
    const out = new Array<(string | null)[]>(this.count);
    const b = this.buf;
    let p = 0;
    for (let r = 0; r < this.count; r++) {
      const n = b.readInt16BE(p + 5);
      p += 7;
      const row = new Array<string | null>(n);
      for (let j = 0; j < n; j++) {
        const len = b.readInt32BE(p);
        p += 4;
        if (len < 0) row[j] = null;
        else {
          row[j] = b.toString('utf8', p, p + len);
          p += len;
        }
      }
      out[r] = row;
    }
    this.decoded = out;
    return out;
  }
}

/** Backend message type byte of a DataRow. */
const DATA_ROW = 0x44;

/**
 * Puts a message framer in front of `pg`'s parser on a connected socket: each run of consecutive complete
 * DataRow messages for which `claim(bytes, start, end, rows)` returns true (the messages are
 * `bytes[start, end)`, headers included, valid only during the call) is taken away from `pg`; every other
 * message reaches `pg`'s own parser unchanged, whole and in order. `claim` is asked after `pg` has seen
 * every message before the run (so its active query is the rows' statement: only a ReadyForQuery, never
 * a DataRow, changes it).
 *
 * Installed only when the socket has exactly one `data` listener (pg's parser, attached at connect);
 * returns false and changes nothing otherwise. Call it between statements (nothing half-received).
 */
export function interceptDataRows(
  stream: NodeJS.EventEmitter,
  claim: (bytes: Buffer, start: number, end: number, rows: number) => boolean,
): boolean {
  const listeners = stream.listeners('data');
  if (listeners.length !== 1) return false;
  const pgListener = listeners[0] as (chunk: Buffer) => void;
  /**
   * The message split across chunks: its first bytes, then (once its length is known) a buffer of its
   * exact size being filled. Only that message is copied, never the rest of a chunk; a 20 MB row is
   * copied once.
   */
  let carry: Buffer | undefined;
  let carried = 0;
  /** Frames the whole messages of `buf[start, end)`; returns where the first incomplete one begins. */
  const frame = (buf: Buffer, start: number, end: number): number => {
    /** Start of the run of messages not yet handed to pg. */
    let runStart = start;
    let p = start;
    while (p + 5 <= end) {
      let next = p + 1 + buf.readUInt32BE(p + 1);
      if (next > end) break;
      if (buf[p] === DATA_ROW) {
        // hand pg what came before first: its state (the active query) must be current
        if (runStart < p) {
          pgListener(buf.subarray(runStart, p));
          runStart = p;
        }
        // the complete DataRows that follow belong to the same statement
        let rows = 1;
        while (next + 5 <= end && buf[next] === DATA_ROW) {
          const after = next + 1 + buf.readUInt32BE(next + 1);
          if (after > end) break;
          next = after;
          rows++;
        }
        if (claim(buf, p, next, rows)) runStart = next;
      }
      p = next;
    }
    if (runStart < p) pgListener(buf.subarray(runStart, p));
    return p;
  };
  const onData = (chunk: Buffer): void => {
    let off = 0;
    if (carry) {
      if (carried < 5) {
        // the length is not known yet: gather the header first
        const take = Math.min(5 - carried, chunk.length);
        chunk.copy(carry, carried, 0, take);
        carried += take;
        off = take;
        if (carried < 5) return;
        const size = 1 + carry.readUInt32BE(1);
        const whole = Buffer.allocUnsafe(size);
        carry.copy(whole, 0, 0, 5);
        carry = whole;
      }
      const take = Math.min(carry.length - carried, chunk.length - off);
      chunk.copy(carry, carried, off, off + take);
      carried += take;
      off += take;
      if (carried < carry.length) return;
      const whole = carry;
      carry = undefined;
      carried = 0;
      frame(whole, 0, whole.length);
    }
    const p = frame(chunk, off, chunk.length);
    if (p < chunk.length) {
      const rest = chunk.length - p;
      carry = Buffer.allocUnsafe(rest >= 5 ? 1 + chunk.readUInt32BE(p + 1) : 5);
      chunk.copy(carry, 0, p, chunk.length);
      carried = rest;
    }
  };
  stream.removeListener('data', pgListener);
  stream.on('data', onData);
  return true;
}
