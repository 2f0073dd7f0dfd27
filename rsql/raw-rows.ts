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
