/**
 * An attempt's log file: made (from a pool of blank files, where one is kept) and opened in append
 * mode for the job's stdout and stderr, appended to when the job cannot start, and read back at
 * its end for the last lines worth showing in an alert.
 */
import {
  closeSync,
  fstatSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { JobSpec } from './job-spec.js';

/** How much of the log's end is read back for `errorTail`. */
const LOG_TAIL_BYTES = 4096;
const ERROR_TAIL_LINES = 10;
const ERROR_TAIL_CHARS = 2000;

/** Appends to the log, never failing the job: a full disk costs output, not the outcome. */
export function appendQuietly(fd: number, data: string | Buffer): void {
  try {
    if (typeof data === 'string') writeSync(fd, data);
    else writeSync(fd, data);
  } catch {
    // disk full / I/O error: the log loses output, the job's outcome does not
  }
}

const pools = new Map<string, BlankFiles>();

/** Empty files made ahead of time in a folder, taken one per job (see JobSpec.logPool). */
class BlankFiles {
  private readonly ready: string[] = [];
  private filling = false;
  private seq = 0;

  constructor(
    private readonly dir: string,
    private readonly target = 8,
  ) {
    try {
      // Blanks left by an earlier process are as good as new ones.
      for (const name of readdirSync(dir)) this.ready.push(join(dir, name));
    } catch {
      // no pool yet
    }
  }

  take(): string | undefined {
    const blank = this.ready.pop();
    if (this.ready.length === 0) this.refill(this.target);
    return blank;
  }

  /**
   * Makes up to `count` blanks (default 2) toward the target, right after this turn: called when a
   * job ended, so the work overlaps the engine deciding what runs next.
   */
  refill(count = 2): void {
    if (this.filling || this.ready.length >= this.target) return;
    this.filling = true;
    setImmediate(() => {
      try {
        mkdirSync(this.dir, { recursive: true });
        for (let i = 0; i < count && this.ready.length < this.target; i++) {
          const blank = join(this.dir, `${process.pid}-${Date.now()}-${++this.seq}`);
          closeSync(openSync(blank, 'wx'));
          this.ready.push(blank);
        }
      } catch {
        // a full or read-only disk: logs are then created directly
      }
      this.filling = false;
    });
  }
}

/**
 * Opens the attempt's log, creating it. With a pool, by linking a blank into place (a link fails
 * when the log exists, which keeps `exclusive` exact); without one, or when the pool is empty or
 * elsewhere, by creating it. Throws EEXIST when `exclusive` and the log exists.
 */
export function openLog(spec: JobSpec): number {
  if (spec.logPool) {
    let pool = pools.get(spec.logPool);
    if (!pool) {
      pool = new BlankFiles(spec.logPool);
      pools.set(spec.logPool, pool);
    }
    const blank = pool.take();
    if (blank) {
      try {
        linkSync(blank, spec.logFile);
        setImmediate(() => {
          try {
            unlinkSync(blank);
          } catch {
            // another process took it too; its link stands on its own
          }
        });
        return openSync(spec.logFile, 'a+');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EEXIST' && spec.exclusive) throw err;
        // EEXIST (append to it), ENOENT (someone else took the blank), EXDEV: open directly.
      }
    }
  }
  return openSync(spec.logFile, spec.exclusive ? 'ax+' : 'a+');
}

/** Makes a few blanks for the next jobs after one ended (see JobSpec.logPool); no pool, nothing. */
export function refillLogPool(dir: string): void {
  pools.get(dir)?.refill();
}

/**
 * The end of this attempt's output (from offset `from` of the log), for `errorTail`: at most
 * ERROR_TAIL_LINES lines and ERROR_TAIL_CHARS characters, carriage returns made visible.
 */
export function logTail(fd: number, from: number): string {
  return lastLines(readLogTail(fd, from));
}

/** The last ERROR_TAIL_LINES non-trailing-blank lines, at most ERROR_TAIL_CHARS, trimmed. */
function lastLines(text: string): string {
  const lines = text.split('\n');
  while (lines.length > 0 && lines[lines.length - 1]?.trim() === '') lines.pop();
  let out = visibleCarriageReturns(lines.slice(-ERROR_TAIL_LINES).join('\n'));
  if (out.length > ERROR_TAIL_CHARS) out = out.slice(-ERROR_TAIL_CHARS);
  return out.trim();
}

/**
 * A job's error lines with every carriage return written as the two characters `\r`: a raw one
 * would make a terminal overwrite the line (`cd: $'/data\r'` showing as a garbled `cd:` line), and
 * a CRLF script is the usual cause of the failure, so it must be seen.
 */
export function visibleCarriageReturns(text: string): string {
  return text.includes('\r') ? text.replaceAll('\r', '\\r') : text;
}

/** Bounded read of this attempt's part of the log: at most LOG_TAIL_BYTES from its end. */
function readLogTail(fd: number, from: number): string {
  try {
    const size = fstatSync(fd).size;
    const start = Math.max(from, size - LOG_TAIL_BYTES);
    const length = size - start;
    if (length <= 0) return '';
    const buf = Buffer.allocUnsafe(length);
    const n = readSync(fd, buf, 0, length, start);
    let text = buf.toString('utf8', 0, n);
    // The first line is probably cut (and may start mid-character): drop it.
    if (start > from) text = text.slice(text.indexOf('\n') + 1);
    return text;
  } catch {
    return '';
  }
}
