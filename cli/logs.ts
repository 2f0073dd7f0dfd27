/**
 * `rsqlo logs`: a job's log, streamed. A log can be far larger than memory (a chatty script writes
 * gigabytes), so it is copied from the file to stdout in fixed-size chunks with stdout's
 * backpressure respected: memory stays the same whatever the size. `--tail N` starts at the last N
 * lines (found by reading backwards from the end); `--follow` keeps printing what the jobs append
 * while they run and ends when they end.
 */

import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import { isTerminalJobStatus, type JobAuditRecord, type WorkflowAuditRecord } from '../contracts/audit.js';
import { isSameProcessAlive } from '../platform/processes.js';
import { LocalStore } from '../runtime/local/store.js';
import type { Io } from './drive.js';
import { homeArg } from './errors.js';
import { command } from './invocation.js';

/** Bytes read and written at a time: the whole of what `logs` holds of a log. */
export const LOG_CHUNK_BYTES = 64 * 1024;
/** How often `--follow` looks for new output and for the jobs' end. */
export const FOLLOW_POLL_MS = 200;

export interface LogsRequest {
  home: string;
  exec: string;
  /** A job_key or job_name; all jobs of the run when absent. */
  job?: string;
  attempt?: number;
  /** Start at the last N lines of each log. */
  tail?: number;
  follow?: boolean;
  pollMs?: number;
}

/** The outcome, for the caller to print (messages) and exit with (code). */
export interface LogsResult {
  code: number;
  /** Said on stderr, e.g. "no run X". */
  error?: string;
}

interface Attempt {
  job: JobAuditRecord;
  attempt: number;
  status: string;
  log: string | null;
  /** The earlier run whose log this is (the job completed there and was Skipped in this one). */
  from?: string;
}

/**
 * A job Skipped because it completed in an earlier run has no log of its own: its log is that
 * run's (`completed in run X`), so that is what `logs` shows, saying so in the header.
 */
function completedEarlier(
  store: LocalStore,
  jobs: JobAuditRecord[],
): Array<JobAuditRecord & { from?: string }> {
  return jobs.map((j) => {
    const m =
      j.execution_status === 'Skipped' && !j.log_location
        ? /^completed in run (\S+)/.exec(j.skip_reason ?? '')
        : null;
    if (!m) return j;
    const there = store.listJobsSync(m[1] as string).find((x) => x.job_key === j.job_key);
    return there?.log_location ? { ...there, from: m[1] as string } : j;
  });
}

function attemptsOf(
  jobs: Array<JobAuditRecord & { from?: string }>,
  wantAttempt: number | undefined,
): Attempt[] {
  const out: Attempt[] = [];
  for (const j of jobs) {
    const from = j.from !== undefined ? { from: j.from } : {};
    const all = [
      ...j.previous_attempts.map((a) => ({
        job: j,
        attempt: a.attempt,
        status: a.execution_status as string,
        log: a.log_location,
        ...from,
      })),
      { job: j, attempt: j.attempt, status: j.execution_status as string, log: j.log_location, ...from },
    ];
    for (const a of all) if (wantAttempt === undefined || a.attempt === wantAttempt) out.push(a);
  }
  return out;
}

/** Writes to stdout, waiting for it to drain; false once stdout is gone (EPIPE: `| head`). */
class Sink {
  closed = false;
  lastByte = 0x0a;
  private readonly onError = () => {
    this.closed = true;
  };
  constructor(private readonly out: NodeJS.WritableStream) {
    out.on('error', this.onError);
  }
  async write(chunk: Buffer | string): Promise<boolean> {
    if (this.closed) return false;
    if (chunk.length === 0) return true;
    const last = typeof chunk === 'string' ? chunk.charCodeAt(chunk.length - 1) : chunk[chunk.length - 1];
    this.lastByte = last ?? this.lastByte;
    if (!this.out.write(chunk)) {
      await Promise.race([once(this.out, 'drain'), once(this.out, 'error'), once(this.out, 'close')]);
    }
    return !this.closed;
  }
  /** A header on a line of its own, even when the previous log did not end with a newline. */
  async header(text: string): Promise<boolean> {
    return this.write(`${this.lastByte === 0x0a ? '' : '\n'}${text}\n`);
  }
  dispose() {
    this.out.off('error', this.onError);
  }
}

/** Copies bytes [start, end) of a file to the sink, one chunk at a time. Returns the end reached. */
async function copyRange(file: string, start: number, end: number, sink: Sink): Promise<number> {
  const fh = await open(file, 'r');
  try {
    let pos = start;
    while (pos < end) {
      // A fresh buffer per chunk: a stream may keep the one it was given until it is flushed.
      const buf = Buffer.allocUnsafe(Math.min(LOG_CHUNK_BYTES, end - pos));
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break; // truncated meanwhile
      pos += bytesRead;
      if (!(await sink.write(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead)))) break;
    }
    return pos;
  } finally {
    await fh.close();
  }
}

/**
 * Where the last `lines` lines of a file start, reading backwards from `size` a chunk at a time.
 * A final newline ends the last line; it does not start an empty one.
 */
export async function tailOffset(file: string, size: number, lines: number): Promise<number> {
  if (lines <= 0) return size;
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(LOG_CHUNK_BYTES);
    let end = size;
    // Skip the newline that ends the file.
    if (size > 0) {
      await fh.read(buf, 0, 1, size - 1);
      if (buf[0] === 0x0a) end = size - 1;
    }
    let seen = 0;
    while (end > 0) {
      const from = Math.max(0, end - LOG_CHUNK_BYTES);
      const { bytesRead } = await fh.read(buf, 0, end - from, from);
      for (let k = bytesRead - 1; k >= 0; k--) {
        if (buf[k] === 0x0a && ++seen === lines) return from + k + 1;
      }
      end = from;
    }
    return 0;
  } finally {
    await fh.close();
  }
}

async function sizeOf(file: string): Promise<number | NodeJS.ErrnoException> {
  try {
    return (await stat(file)).size;
  } catch (e) {
    return e as NodeJS.ErrnoException;
  }
}

function why(e: NodeJS.ErrnoException): string {
  return e.code === 'ENOENT' ? '(log file missing)' : `(cannot read the log: ${e.code ?? e.message})`;
}

/** The pid in `engine.lock` (its first number, whatever else the file holds), if that process lives. */
function engineAlive(home: string): boolean {
  let text: string;
  try {
    text = readFileSync(path.join(home, 'engine.lock'), 'utf8');
  } catch {
    return false;
  }
  const m = /\d+/.exec(text);
  return m !== null && isSameProcessAlive(Number(m[0]), undefined);
}

/** Prints the logs of a run (or one job); with `follow`, until the run (or job) ends. */
export async function showLogs(req: LogsRequest, io: Io): Promise<LogsResult> {
  const dbFile = path.join(req.home, 'rsqlo.db');
  if (!existsSync(dbFile)) return { code: 2, error: `no run ${req.exec} in ${req.home}` };
  const store = new LocalStore(dbFile);
  const sink = new Sink(io.stdout);
  try {
    const read = (): { run: WorkflowAuditRecord; jobs: JobAuditRecord[] } | undefined => {
      const run = store.getRunRecord(req.exec);
      if (!run) return undefined;
      const all = store.listJobsSync(req.exec);
      const chosen = req.job ? all.filter((j) => j.job_key === req.job || j.job_name === req.job) : all;
      return { run, jobs: completedEarlier(store, chosen) };
    };
    const first = read();
    if (!first) return { code: 2, error: `no run ${req.exec} in ${req.home}` };
    if (req.job && first.jobs.length === 0)
      return { code: 2, error: `run ${req.exec} has no job ${req.job}` };

    if (!req.follow) {
      for (const a of attemptsOf(first.jobs, req.attempt)) {
        if (!a.log) continue;
        if (
          !(await sink.header(
            `==> ${a.job.job_key} ${a.job.job_name} attempt ${a.attempt} (${a.status}${a.from ? ` in the earlier run ${a.from}: it was not run again in ${req.exec}` : ''}) ${a.log} <==`,
          ))
        )
          break;
        const size = await sizeOf(a.log);
        if (typeof size !== 'number') {
          await sink.write(`${why(size)}\n`);
          continue;
        }
        const start = req.tail === undefined ? 0 : await tailOffset(a.log, size, req.tail);
        await copyRange(a.log, start, size, sink);
      }
      return { code: 0 };
    }

    // --follow: print what each attempt's log gains, until what is followed has ended.
    const printed = new Map<string, number>();
    let current: string | undefined;
    let orphanPolls = 0;
    let snapshot = first;
    for (;;) {
      // Decide "ended" before reading the files: a job's output is all written before its end is.
      const ended = followEnded(snapshot.run, snapshot.jobs, req.attempt, req.job !== undefined);
      for (const a of attemptsOf(snapshot.jobs, req.attempt)) {
        if (!a.log) continue;
        const size = await sizeOf(a.log);
        if (typeof size !== 'number') continue; // not created yet
        let from = printed.get(a.log);
        if (from === undefined) from = req.tail === undefined ? 0 : await tailOffset(a.log, size, req.tail);
        if (size <= from && printed.has(a.log)) continue;
        if (current !== a.log) {
          if (
            !(await sink.header(
              `==> ${a.job.job_key} ${a.job.job_name} attempt ${a.attempt}${a.from ? ` (completed in the earlier run ${a.from})` : ''} ${a.log} <==`,
            ))
          )
            return { code: 0 };
          current = a.log;
        }
        printed.set(a.log, size > from ? await copyRange(a.log, from, size, sink) : from);
        if (sink.closed) return { code: 0 };
      }
      if (ended) return { code: 0 };
      // A run left Running by an engine that is gone would be followed forever: say so instead.
      orphanPolls = engineAlive(req.home) ? 0 : orphanPolls + 1;
      if (orphanPolls >= 3) {
        return {
          code: 1,
          error: `run ${req.exec} is ${snapshot.run.execution_status} but no engine is working on it; continue it with ${command(`resume${homeArg(req.home)}`)}`,
        };
      }
      await new Promise((r) => setTimeout(r, req.pollMs ?? FOLLOW_POLL_MS));
      snapshot = read() ?? snapshot;
    }
  } finally {
    sink.dispose();
    store.close();
  }
}

/** Whether what `--follow` follows is over: the run, or the chosen jobs (their last attempt). */
function followEnded(
  run: WorkflowAuditRecord,
  jobs: JobAuditRecord[],
  attempt: number | undefined,
  oneJob: boolean,
): boolean {
  if (run.execution_status !== 'Running') return true;
  if (!oneJob) return false;
  return jobs.every(
    (j) =>
      (attempt !== undefined && j.attempt > attempt) ||
      // counted: the aggregator took the final outcome; a job about to be retried is not counted.
      (isTerminalJobStatus(j.execution_status) && j.counted),
  );
}
