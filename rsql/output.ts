/**
 * Buffered output: results are collected and written in large chunks (never one write per row); stdout is
 * flushed before anything goes to stderr, before shell commands and before exit, so a combined `2>&1` log
 * keeps the order in which things happened — and at most {@link FLUSH_AFTER_MS} after it was produced, so a
 * log tailed while a long statement runs shows everything printed before it.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

/** Anything with a `write(string)` (process.stdout, a test collector). */
export interface Writer {
  write(chunk: string): unknown;
}

/** Flush threshold in characters. Default 64 Ki. */
export const FLUSH_AT = 64 * 1024;

/** Longest time buffered output waits while the process is idle (e.g. waiting for the server). */
export const FLUSH_AFTER_MS = 50;

/** A buffer in front of a writer. */
export class BufferedWriter implements Writer {
  private chunks: string[] = [];
  private size = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly target: Writer,
    private readonly limit = FLUSH_AT,
  ) {}

  write(chunk: string): void {
    if (chunk === '') return;
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.size >= this.limit) this.flush();
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
    if (this.chunks.length === 0) return;
    const text = this.chunks.length === 1 ? (this.chunks[0] as string) : this.chunks.join('');
    this.chunks = [];
    this.size = 0;
    this.target.write(text);
  }
}

/** A file opened for writing (truncated or appended), written synchronously in buffered chunks. */
export class FileWriter implements Writer {
  private readonly fd: number;
  private readonly buf: BufferedWriter;
  private closed = false;

  constructor(path: string, append = false) {
    this.fd = openSync(path, append ? 'a' : 'w');
    this.buf = new BufferedWriter({ write: (s: string) => writeSync(this.fd, s) });
  }

  write(chunk: string): void {
    this.buf.write(chunk);
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
