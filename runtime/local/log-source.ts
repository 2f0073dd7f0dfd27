import { type FileHandle, open, stat } from 'node:fs/promises';
import type { AttemptRef, LogEvent } from '../../contracts/run-view.js';
import type { LogSource, LogStreamOptions } from '../../web/ports.js';
import type { AttemptLog } from './run-view-source.js';

export interface LocalLogSourceOptions {
  /** Where an attempt's log is and whether the attempt is over (the read model's `attemptLog`). */
  locate(ref: AttemptRef): AttemptLog | undefined;
  /** How often a followed log is checked for growth (default 250 ms). */
  pollMs?: number;
  /** Bytes read at a time; one `lines` event carries at most about this much (default 64 KiB). */
  chunkBytes?: number;
  /** A line longer than this is cut into pieces of this size (default 16 KiB). */
  maxLineBytes?: number;
  /** The most a tail reads back from the end, whatever the line count (default 1 MiB). */
  maxTailBytes?: number;
}

const NL = 0x0a;

/**
 * Job attempt logs of the local engine: the per-attempt files the agent writes. Reads are bounded
 * (one chunk and at most one unfinished line in memory), the tail is found by reading backwards
 * from the end, and following polls the file's size until the attempt is over and everything is
 * read. Cursors are byte offsets just after a complete line.
 */
export function createLocalLogSource(opts: LocalLogSourceOptions): LogSource {
  const pollMs = opts.pollMs ?? 250;
  const chunkBytes = opts.chunkBytes ?? 64 * 1024;
  const maxLineBytes = Math.min(opts.maxLineBytes ?? 16 * 1024, chunkBytes);
  const maxTailBytes = opts.maxTailBytes ?? 1024 * 1024;

  return {
    async *stream(ref: AttemptRef, so: LogStreamOptions): AsyncGenerator<LogEvent> {
      const signal = so.signal;
      const follow = so.follow === true;
      let loc = opts.locate(ref);
      let offset = so.cursor !== undefined ? parseCursor(so.cursor) : undefined;
      // Wait for the attempt to start (its log to exist), when following.
      let fh: FileHandle | undefined;
      try {
        for (;;) {
          if (signal?.aborted) return;
          if (!loc || (loc.file === null && loc.finished)) {
            yield { kind: 'end', reason: 'missing', cursor: null };
            return;
          }
          if (loc.file !== null) {
            fh = await openIfExists(loc.file);
            if (fh) break;
            if (loc.finished) {
              yield { kind: 'notice', message: `the log file ${loc.file} no longer exists` };
              yield { kind: 'end', reason: 'missing', cursor: null };
              return;
            }
          }
          if (!follow) {
            yield { kind: 'end', reason: 'not_started', cursor: null };
            return;
          }
          await sleep(pollMs, signal);
          loc = opts.locate(ref);
        }

        let size = (await fh.stat()).size;
        if (offset !== undefined && offset > size) {
          yield {
            kind: 'notice',
            message: 'the log is shorter than where this stream stopped; reading it from the start',
          };
          offset = 0;
        }
        if (offset === undefined) {
          if (so.tailLines !== undefined) {
            const t = await tailStart(fh, size, so.tailLines, maxTailBytes, chunkBytes);
            offset = t.offset;
            if (t.offset > 0)
              yield {
                kind: 'notice',
                message: t.capped
                  ? `showing the last ${formatBytes(size - t.offset)} of ${formatBytes(size)}`
                  : `showing the last ${so.tailLines} lines`,
              };
          } else offset = 0;
        }

        const buf = Buffer.allocUnsafe(chunkBytes);
        /** Bytes of an unfinished line carried over from the previous read (at most maxLineBytes). */
        let carry: Buffer = Buffer.alloc(0);
        /** File offset where `carry` starts (the cursor: everything before it was sent). */
        let sent = offset;
        let readAt = offset;
        let finishedSeen = false;
        for (;;) {
          if (signal?.aborted) return;
          const { bytesRead } = await fh.read(buf, 0, chunkBytes, readAt);
          if (bytesRead > 0) {
            readAt += bytesRead;
            const data =
              carry.length > 0
                ? Buffer.concat([carry, buf.subarray(0, bytesRead)])
                : buf.subarray(0, bytesRead);
            const lines: string[] = [];
            let start = 0;
            for (;;) {
              const nl = data.indexOf(NL, start);
              if (nl === -1) break;
              pushLine(lines, data.subarray(start, nl), maxLineBytes);
              start = nl + 1;
            }
            let rest = data.subarray(start);
            while (rest.length >= maxLineBytes) {
              const cut = utf8Boundary(rest, maxLineBytes);
              lines.push(decodeLine(rest.subarray(0, cut)));
              start += cut;
              rest = rest.subarray(cut);
            }
            carry = Buffer.from(rest);
            if (lines.length > 0) {
              sent += start;
              yield { kind: 'lines', lines, cursor: String(sent) };
            }
            continue;
          }
          // At the end of what is written so far.
          if (finishedSeen || !follow) {
            const over = finishedSeen || opts.locate(ref)?.finished !== false;
            if (over) {
              if (carry.length > 0) {
                sent += carry.length;
                yield { kind: 'lines', lines: [decodeLine(carry)], cursor: String(sent) };
              }
              yield { kind: 'end', reason: 'finished', cursor: String(sent) };
            } else {
              yield { kind: 'end', reason: 'eof', cursor: String(sent) };
            }
            return;
          }
          // Following: the attempt may be over now; read once more after seeing that, then stop.
          if (opts.locate(ref)?.finished !== false) {
            finishedSeen = true;
            continue;
          }
          await sleep(pollMs, signal);
          size = (await fh.stat()).size;
          if (size < readAt) {
            yield { kind: 'notice', message: 'the log was truncated; reading it from the start' };
            readAt = 0;
            sent = 0;
            carry = Buffer.alloc(0);
          }
        }
      } finally {
        await fh?.close();
      }
    },
  };
}

function parseCursor(cursor: string): number {
  if (!/^\d{1,15}$/.test(cursor)) return 0;
  return Number(cursor);
}

async function openIfExists(file: string): Promise<FileHandle | undefined> {
  try {
    const s = await stat(file);
    if (!s.isFile()) return undefined;
    return await open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Where the last `lines` lines start, reading backwards one chunk at a time: a final line without
 * its newline counts as a line. Reads at most `maxBytes` (then starts at the next line boundary
 * within them, or mid-line when a single line is longer).
 */
export async function tailStart(
  fh: FileHandle,
  size: number,
  lines: number,
  maxBytes: number,
  chunkBytes: number,
): Promise<{ offset: number; capped: boolean }> {
  if (lines <= 0) return { offset: size, capped: false };
  const buf = Buffer.allocUnsafe(chunkBytes);
  let pos = size;
  let seen = 0;
  // A newline as the very last byte ends the last line; it does not start another.
  let skipLast = true;
  const floor = Math.max(0, size - maxBytes);
  while (pos > floor) {
    const len = Math.min(chunkBytes, pos - floor);
    pos -= len;
    const { bytesRead } = await fh.read(buf, 0, len, pos);
    for (let i = bytesRead - 1; i >= 0; i--) {
      if (buf[i] !== NL) continue;
      if (skipLast && pos + i === size - 1) continue;
      seen++;
      if (seen === lines) return { offset: pos + i + 1, capped: false };
    }
    skipLast = false;
  }
  if (floor === 0) return { offset: 0, capped: false };
  // Capped: start at the first line boundary inside the window, if there is one.
  const { bytesRead } = await fh.read(buf, 0, Math.min(chunkBytes, size - floor), floor);
  const nl = buf.subarray(0, bytesRead).indexOf(NL);
  return { offset: nl === -1 || floor + nl + 1 >= size ? floor : floor + nl + 1, capped: true };
}

/** Adds one line, cut into pieces of at most `max` bytes. */
function pushLine(out: string[], line: Buffer, max: number): void {
  let rest = line;
  while (rest.length > max) {
    const cut = utf8Boundary(rest, max);
    out.push(decodeLine(rest.subarray(0, cut)));
    rest = rest.subarray(cut);
  }
  out.push(decodeLine(rest));
}

/** The largest cut ≤ max that does not split a UTF-8 character. */
function utf8Boundary(b: Buffer, max: number): number {
  let cut = max;
  while (cut > 0 && ((b[cut] as number) & 0xc0) === 0x80) cut--;
  return cut === 0 ? max : cut;
}

function decodeLine(b: Buffer): string {
  const s = b.toString('utf8');
  return s.endsWith('\r') ? s.slice(0, -1) : s;
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}
