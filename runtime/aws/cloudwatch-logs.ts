/**
 * Ships a job attempt's log file to CloudWatch Logs (ARCHITECTURE.md §4): one log stream per attempt in the
 * log group (default `/ops/rsql-logs/`), PutLogEvents batches within the service's limits.
 *
 * The shipper is resumable: it reads the file from a byte offset the caller keeps (the agent
 * keeps it in its spool, per stream) and returns the offset it reached, so a restarted daemon
 * carries on where the last one stopped. Lines are shipped once complete; the last, unterminated
 * line only when the caller says the job ended (`final`). Delivery is at-least-once: a crash
 * between a successful PutLogEvents and the caller saving the offset ships those lines again.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import {
  type CloudWatchLogsClient,
  CreateLogStreamCommand,
  PutLogEventsCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import type { Logger } from '../../services/ports.js';
import type { RetryOptions } from './retry.js';
import { errorText, retryTransient, rootError } from './task-callbacks.js';

/** Where job logs go unless configured otherwise (the seed's log group). */
export const DEFAULT_LOG_GROUP = '/ops/rsql-logs/';

/**
 * PutLogEvents limits, from the API reference
 * (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html):
 * a batch is at most 1,048,576 bytes, counted as the UTF-8 bytes of every message plus 26 bytes
 * per event; at most 10,000 events; in chronological order; spanning at most 24 hours; and each
 * event at most 256 KB. The newest revision of that page allows 1 MB events, but 256 KB is what
 * every region has accepted for years, so we keep it; the 26 bytes are counted against it too, as
 * the CloudWatch agent and Fluent Bit do (a message of at most 262,118 bytes).
 */
export const PUT_LOG_EVENTS_LIMITS = {
  maxBatchBytes: 1_048_576,
  eventOverheadBytes: 26,
  maxBatchEvents: 10_000,
  maxBatchSpanMs: 24 * 60 * 60 * 1000,
  maxEventBytes: 262_144,
} as const;

export type PutLogEventsLimits = { -readonly [K in keyof typeof PUT_LOG_EVENTS_LIMITS]: number };

/**
 * Log stream names: 1-512 characters, no `:` or `*`
 * (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogStream.html).
 */
export const MAX_LOG_STREAM_NAME = 512;

/** One log event as PutLogEvents takes it. */
export interface LogEvent {
  timestamp: number;
  message: string;
}

/**
 * The log stream of one job attempt: its job run name (`<execution>--<stage>-<job>--a<attempt>`),
 * which is unique per attempt and already within the charset; anything outside `[^:*]` is
 * replaced by `_`, and a name longer than 512 characters is cut and suffixed with a hash so two
 * long names stay distinct.
 */
export function logStreamName(jobRunName: string): string {
  let name = jobRunName.replace(/[:*]/g, '_').replace(/[\u0000-\u001f]/g, '_');
  if (name === '') name = '_';
  if (name.length > MAX_LOG_STREAM_NAME) {
    let h = 0x811c9dc5;
    for (let i = 0; i < jobRunName.length; i++) h = Math.imul(h ^ jobRunName.charCodeAt(i), 0x01000193);
    const suffix = `~${(h >>> 0).toString(16).padStart(8, '0')}`;
    name = name.slice(0, MAX_LOG_STREAM_NAME - suffix.length) + suffix;
  }
  return name;
}

/** How an agent event names where a job's log is: `cloudwatch:<group>:<stream>` (`:` is in neither). */
export function logLocation(logGroup: string, stream: string): string {
  return `cloudwatch:${logGroup}:${stream}`;
}

/** Largest message (UTF-8 bytes) one event may carry under `limits`. */
export function maxMessageBytes(limits: PutLogEventsLimits = PUT_LOG_EVENTS_LIMITS): number {
  return limits.maxEventBytes - limits.eventOverheadBytes;
}

/** Length of the longest prefix of `buf[0..end)` that does not cut a UTF-8 character. */
function charBoundary(buf: Buffer, end: number): number {
  if (end >= buf.length) return buf.length;
  let cut = end;
  // Step back over continuation bytes (10xxxxxx), at most 3, to the start of the cut character.
  while (cut > 0 && end - cut < 3 && ((buf[cut] ?? 0) & 0xc0) === 0x80) cut--;
  return ((buf[cut] ?? 0) & 0xc0) === 0x80 ? end : cut;
}

/**
 * Splits a message into pieces of at most `maxBytes` UTF-8 bytes each, never inside a character.
 * A message within the limit comes back as it is.
 */
export function splitMessage(message: string, maxBytes: number = maxMessageBytes()): string[] {
  if (maxBytes < 4) throw new RangeError('maxBytes must be at least 4 (one UTF-8 character)');
  if (Buffer.byteLength(message) <= maxBytes) return [message];
  const buf = Buffer.from(message, 'utf8');
  const out: string[] = [];
  for (let at = 0; at < buf.length; ) {
    const end = at + charBoundary(buf.subarray(at), maxBytes);
    out.push(buf.toString('utf8', at, end));
    at = end;
  }
  return out;
}

/** UTF-8 bytes an event counts for in a batch. */
export function eventSize(e: LogEvent, limits: PutLogEventsLimits = PUT_LOG_EVENTS_LIMITS): number {
  return Buffer.byteLength(e.message) + limits.eventOverheadBytes;
}

/**
 * Groups events into PutLogEvents batches: sorted by timestamp (stable, so lines with the same
 * time keep their order), each batch within the byte and event-count limits and spanning at most
 * 24 hours. Events must already fit the per-event limit ({@link splitMessage}); one that does not
 * throws a RangeError.
 */
export function planBatches<E extends LogEvent>(
  events: readonly E[],
  limits: PutLogEventsLimits = PUT_LOG_EVENTS_LIMITS,
): E[][] {
  const sorted = events
    .map((e, i) => ({ e, i }))
    .sort((a, b) => a.e.timestamp - b.e.timestamp || a.i - b.i)
    .map((x) => x.e);
  const batches: E[][] = [];
  let batch: E[] = [];
  let bytes = 0;
  let first = 0;
  for (const e of sorted) {
    const size = eventSize(e, limits);
    if (size > limits.maxEventBytes)
      throw new RangeError(`a log event of ${size} bytes exceeds the ${limits.maxEventBytes}-byte limit`);
    if (
      batch.length > 0 &&
      (bytes + size > limits.maxBatchBytes ||
        batch.length >= limits.maxBatchEvents ||
        e.timestamp - first > limits.maxBatchSpanMs)
    ) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    if (batch.length === 0) first = e.timestamp;
    batch.push(e);
    bytes += size;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

/** What one {@link LogShipper.ship} call should send. */
export interface ShipRequest {
  /** Log stream (see {@link logStreamName}). */
  stream: string;
  /** The attempt's log file. */
  file: string;
  /** Bytes of the file already shipped (0 at first). */
  offset: number;
  /** The job ended: ship the last line even without its newline. Default false. */
  final?: boolean;
  /** Blanks secrets in each message (the agent's, known once a job has its credentials); default deps.redact. */
  redact?: (message: string) => string;
}

/** Shipping stopped part-way; `offset` says how far it got (save it, retry later from there). */
export class LogShippingError extends Error {
  override name = 'LogShippingError';
  constructor(
    message: string,
    readonly offset: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The port the agent ships logs through; {@link createCloudWatchLogShipper} implements it. */
export interface LogShipper {
  /**
   * Ships the file's new lines from `offset` and returns the offset reached. Throws
   * {@link LogShippingError} (with the offset reached so far) when CloudWatch Logs cannot be
   * reached after retries.
   */
  ship(req: ShipRequest): Promise<number>;
}

export interface LogShipperDeps {
  client: CloudWatchLogsClient;
  /** Default {@link DEFAULT_LOG_GROUP}. The group itself is created by the infrastructure. */
  logGroup?: string;
  /** Default AGENT_RETRY (runtime/aws/task-callbacks.ts). */
  retry?: RetryOptions;
  /** Applied to every message before it is sized and shipped (the agent blanks known secrets). */
  redact?: (message: string) => string;
  /** Event timestamps (ms); default Date.now. */
  now?: () => number;
  /** Bytes read from the file per step (bounded memory); default 1 MiB. */
  readChunkBytes?: number;
  /** Default {@link PUT_LOG_EVENTS_LIMITS} (tests shrink them). */
  limits?: PutLogEventsLimits;
  log?: Logger;
}

interface ShippedEvent extends LogEvent {
  /** File offset just after this event's bytes. */
  end: number;
}

const NEWLINE = 0x0a;

/**
 * A log shipper over CloudWatch Logs (AWS SDK v3). Each stream is created on first use
 * (CreateLogStream; ResourceAlreadyExistsException is fine) and again if PutLogEvents says it is
 * gone. Batches go in file order; a batch that fails after retries stops the call, and the offset
 * reached so far is in the error. Lines are stamped with the time they are read (never going
 * backwards per stream), since the job writes its log directly and leaves no timestamps we could
 * trust; blank lines are skipped (CloudWatch refuses empty messages).
 */
export function createCloudWatchLogShipper(deps: LogShipperDeps): LogShipper {
  const logGroup = deps.logGroup ?? DEFAULT_LOG_GROUP;
  const limits = deps.limits ?? { ...PUT_LOG_EVENTS_LIMITS };
  const maxMsg = maxMessageBytes(limits);
  const chunkBytes = Math.max(deps.readChunkBytes ?? 1024 * 1024, maxMsg + 1);
  const now = deps.now ?? Date.now;
  const defaultRedact = deps.redact ?? ((m: string) => m);
  const created = new Set<string>();
  const lastTimestamp = new Map<string, number>();

  async function createStream(stream: string): Promise<void> {
    try {
      await retryTransient(
        'CreateLogStream',
        () => deps.client.send(new CreateLogStreamCommand({ logGroupName: logGroup, logStreamName: stream })),
        deps.retry,
      );
    } catch (err) {
      if ((rootError(err) as { name?: string }).name !== 'ResourceAlreadyExistsException') throw err;
    }
    created.add(stream);
  }

  async function put(stream: string, events: LogEvent[]): Promise<void> {
    const send = () =>
      retryTransient(
        'PutLogEvents',
        () =>
          deps.client.send(
            new PutLogEventsCommand({
              logGroupName: logGroup,
              logStreamName: stream,
              logEvents: events.map((e) => ({ timestamp: e.timestamp, message: e.message })),
            }),
          ),
        deps.retry,
      );
    let out: Awaited<ReturnType<typeof send>>;
    try {
      out = await send();
    } catch (err) {
      if ((rootError(err) as { name?: string }).name !== 'ResourceNotFoundException') throw err;
      // The stream was deleted (or never made by this process): make it and try once more.
      created.delete(stream);
      await createStream(stream);
      out = await send();
    }
    const rejected = out.rejectedLogEventsInfo;
    if (rejected) {
      // Too old / too new events cannot be fixed by sending them again.
      deps.log?.warn('CloudWatch Logs rejected some log events', {
        log_stream: stream,
        too_new_start: rejected.tooNewLogEventStartIndex,
        too_old_end: rejected.tooOldLogEventEndIndex,
        expired_end: rejected.expiredLogEventEndIndex,
      });
    }
  }

  /** Turns one line's bytes into events (redacted, split to the event limit). */
  function lineEvents(
    line: Buffer,
    end: number,
    timestamp: number,
    redact: (m: string) => string,
    out: ShippedEvent[],
  ): void {
    let len = line.length;
    if (len > 0 && line[len - 1] === 0x0d) len--; // CRLF
    if (len === 0) return;
    const text = redact(line.toString('utf8', 0, len));
    if (text.trim() === '') return;
    const pieces = splitMessage(text, maxMsg);
    for (const message of pieces) out.push({ timestamp, message, end });
  }

  /** Reads the next chunk and returns the events it completes and the offset after them. */
  function readEvents(
    file: string,
    offset: number,
    final: boolean,
    timestamp: number,
    redact: (m: string) => string,
  ) {
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { events: [], next: offset };
      throw err;
    }
    try {
      const buf = Buffer.allocUnsafe(chunkBytes);
      const n = readSync(fd, buf, 0, chunkBytes, offset);
      const data = buf.subarray(0, n);
      const events: ShippedEvent[] = [];
      let start = 0;
      for (let nl = data.indexOf(NEWLINE); nl >= 0; nl = data.indexOf(NEWLINE, start)) {
        lineEvents(data.subarray(start, nl), offset + nl + 1, timestamp, redact, events);
        start = nl + 1;
      }
      const rest = data.subarray(start);
      const atEof = n < chunkBytes;
      if (rest.length > 0) {
        if (final && atEof) {
          lineEvents(rest, offset + n, timestamp, redact, events);
          start = n;
        } else if (start === 0 && rest.length >= maxMsg) {
          // A line longer than an event and still growing: ship the full pieces now.
          let at = 0;
          while (rest.length - at >= maxMsg) {
            const end = at + charBoundary(rest.subarray(at), maxMsg);
            const piece = redact(rest.toString('utf8', at, end));
            for (const message of splitMessage(piece, maxMsg))
              if (message.trim() !== '') events.push({ timestamp, message, end: offset + end });
            at = end;
          }
          start = at;
        }
      }
      return { events, next: offset + start };
    } finally {
      closeSync(fd);
    }
  }

  return {
    async ship({ stream, file, offset, final = false, redact = defaultRedact }) {
      let reached = offset;
      try {
        for (;;) {
          const prev = lastTimestamp.get(stream) ?? 0;
          const timestamp = Math.max(now(), prev);
          const { events, next } = readEvents(file, reached, final, timestamp, redact);
          if (next === reached) break;
          if (events.length > 0) {
            lastTimestamp.set(stream, timestamp);
            if (!created.has(stream)) await createStream(stream);
            for (const batch of planBatches(events, limits)) {
              await put(stream, batch);
              reached = (batch[batch.length - 1] as ShippedEvent).end;
            }
          }
          reached = next;
        }
      } catch (err) {
        throw new LogShippingError(
          `shipping ${file} to log group ${logGroup}, stream ${stream} failed: ${errorText(rootError(err))}`,
          reached,
          { cause: err },
        );
      }
      return reached;
    },
  };
}
