/**
 * Buffered output: results are collected and written in large chunks (never one write per row); stdout is
 * flushed before anything goes to stderr, before shell commands and before exit, so a combined `2>&1` log
 * keeps the order in which things happened — and at most {@link FLUSH_AFTER_MS} after it was produced, so a
 * log tailed while a long statement runs shows everything printed before it.
 *
 * The buffer holds bytes (UTF-8): text is encoded into it once, and the table formatter's rows (format.ts
 * `formatAlignedRawBytes`) are copied in as the bytes they already are, never decoded to a string and
 * encoded again. A target that takes bytes ({@link Writer.writeBytes}: process.stdout, a file) gets them as
 * they are; one that takes only text (a test's collector) gets them decoded.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

/** Anything with a `write(string)` (process.stdout, a test collector). */
export interface Writer {
  write(chunk: string): unknown;
  /**
   * Optional: takes UTF-8 bytes as they are. The chunk is the caller's until this returns: a writer that
   * keeps it (a stream that queues it) must keep a copy.
   */
  writeBytes?(chunk: Uint8Array): unknown;
}

/** A writer that takes text and bytes: {@link BufferedWriter}, {@link FileWriter}. */
export interface ByteWriter extends Writer {
  writeBytes(chunk: Uint8Array): void;
}

/** Flush threshold in bytes. Default 64 Ki. */
export const FLUSH_AT = 64 * 1024;

/** Longest time buffered output waits while the process is idle (e.g. waiting for the server). */
export const FLUSH_AFTER_MS = 50;

/** A buffer in front of a writer. */
export class BufferedWriter implements ByteWriter {
  private buf: Buffer;
  private used = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly target: Writer,
    private readonly limit = FLUSH_AT,
  ) {
    this.buf = Buffer.allocUnsafe(Math.max(256, limit));
  }

  write(chunk: string): void {
    if (chunk === '') return;
    // UTF-8 takes at most 3 bytes per UTF-16 unit
    if (this.used + chunk.length * 3 > this.buf.length) {
      const n = Buffer.byteLength(chunk, 'utf8');
      if (this.used + n > this.buf.length) {
        this.flush();
        if (n > this.buf.length) {
          // bigger than the buffer: straight through as it is (a 20 MB \echo is not copied)
          this.target.write(chunk);
          return;
        }
      }
    }
    this.used += this.buf.write(chunk, this.used, 'utf8');
    this.written();
  }

  writeBytes(chunk: Uint8Array): void {
    const n = chunk.length;
    if (n === 0) return;
    if (this.used + n > this.buf.length) {
      this.flush();
      if (n > this.buf.length) {
        // bigger than the buffer: straight through (everything before it is out already)
        this.emit(chunk);
        return;
      }
    }
    this.buf.set(chunk, this.used);
    this.used += n;
    this.written();
  }

  private written(): void {
    if (this.used >= this.limit) this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), FLUSH_AFTER_MS);
      this.timer.unref();
    }
  }

  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.used === 0) return;
    const n = this.used;
    this.used = 0;
    this.emit(this.buf.subarray(0, n));
  }

  private emit(bytes: Uint8Array): void {
    const t = this.target;
    if (t.writeBytes) t.writeBytes(bytes);
    else t.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8'));
  }
}

/** A file opened for writing (truncated or appended), written synchronously in buffered chunks. */
export class FileWriter implements ByteWriter {
  private readonly fd: number;
  private readonly buf: BufferedWriter;
  private closed = false;

  constructor(path: string, append = false) {
    this.fd = openSync(path, append ? 'a' : 'w');
    const fd = this.fd;
    this.buf = new BufferedWriter({
      write: (s: string) => writeSync(fd, s),
      writeBytes: (b: Uint8Array) => {
        // writeSync may write less than asked (a full disk reports ENOSPC on the next call)
        for (let off = 0; off < b.length; ) off += writeSync(fd, b, off, b.length - off);
      },
    });
  }

  write(chunk: string): void {
    this.buf.write(chunk);
  }

  writeBytes(chunk: Uint8Array): void {
    this.buf.writeBytes(chunk);
  }

  flush(): void {
    this.buf.flush();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.buf.flush();
    closeSync(this.fd);
  }
}
