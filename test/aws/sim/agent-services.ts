/**
 * The AWS services only the agent hosts call besides the bus and Step Functions: CloudWatch Logs
 * (job logs) and Secrets Manager (the database credentials).
 *
 * CloudWatch Logs checks every request against the service's limits (CloudWatch Logs API
 * reference, CreateLogStream and PutLogEvents): the log group is the configured one; stream names
 * 1–512 characters without `:` or `*`; a stream created twice is ResourceAlreadyExistsException,
 * events for a missing stream ResourceNotFoundException; a batch holds 1–10,000 events of non-empty
 * messages, at most 1,048,576 bytes counting 26 bytes per event, each event at most 256 KB, in
 * chronological order, spanning at most 24 hours, none more than 2 hours in the future or older
 * than 14 days. A request breaking a limit is refused (InvalidParameterException) and recorded.
 */
import {
  CloudWatchLogsServiceException,
  ResourceAlreadyExistsException,
  ResourceNotFoundException,
} from '@aws-sdk/client-cloudwatch-logs';
import { ResourceNotFoundException as SecretNotFound } from '@aws-sdk/client-secrets-manager';

const meta = { $metadata: { httpStatusCode: 400 } };

export class LogsSimulator {
  private readonly streams = new Map<string, Array<{ timestamp: number; message: string }>>();
  readonly violations: string[] = [];
  /** How many PutLogEvents requests were accepted. */
  puts = 0;
  /** Bytes accepted by PutLogEvents, counted as CloudWatch Logs does (message + 26 per event). */
  ingestedBytes = 0;

  constructor(private readonly logGroup: string) {}

  createLogStream(input: { logGroupName?: string; logStreamName?: string }) {
    const name = input.logStreamName ?? '';
    this.checkGroup('CreateLogStream', input.logGroupName);
    if (name.length < 1 || name.length > 512 || /[:*]/.test(name)) {
      this.violations.push(`CreateLogStream: invalid stream name ${JSON.stringify(name)}`);
      throw this.invalid('invalid log stream name');
    }
    if (this.streams.has(name))
      throw new ResourceAlreadyExistsException({
        message: 'The specified log stream already exists',
        ...meta,
      });
    this.streams.set(name, []);
    return {};
  }

  putLogEvents(input: {
    logGroupName?: string;
    logStreamName?: string;
    logEvents?: Array<{ timestamp?: number; message?: string }>;
  }) {
    this.checkGroup('PutLogEvents', input.logGroupName);
    const stream = this.streams.get(input.logStreamName ?? '');
    if (!stream)
      throw new ResourceNotFoundException({ message: 'The specified log stream does not exist.', ...meta });
    const events = input.logEvents ?? [];
    const problems: string[] = [];
    if (events.length < 1 || events.length > 10_000) problems.push(`${events.length} events (1–10,000)`);
    let bytes = 0;
    let prev = Number.NEGATIVE_INFINITY;
    const now = Date.now();
    for (const [i, e] of events.entries()) {
      const size = Buffer.byteLength(e.message ?? '', 'utf8') + 26;
      bytes += size;
      if (!e.message) problems.push(`event ${i}: empty message`);
      if (size > 262_144) problems.push(`event ${i}: ${size} bytes (256 KB per event)`);
      if (typeof e.timestamp !== 'number') problems.push(`event ${i}: no timestamp`);
      else {
        if (e.timestamp < prev) problems.push(`event ${i}: not in chronological order`);
        if (e.timestamp > now + 2 * 3600_000) problems.push(`event ${i}: more than 2 h in the future`);
        if (e.timestamp < now - 14 * 86_400_000) problems.push(`event ${i}: older than 14 days`);
        prev = Math.max(prev, e.timestamp);
      }
    }
    if (bytes > 1_048_576) problems.push(`${bytes} bytes (1,048,576 per batch)`);
    const stamps = events.map((e) => e.timestamp ?? 0);
    if (stamps.length && Math.max(...stamps) - Math.min(...stamps) > 24 * 3600_000)
      problems.push('batch spans more than 24 hours');
    if (problems.length) {
      this.violations.push(`PutLogEvents ${input.logStreamName}: ${problems.join('; ')}`);
      throw this.invalid(problems.join('; '));
    }
    for (const e of events) stream.push({ timestamp: e.timestamp as number, message: e.message as string });
    this.puts++;
    this.ingestedBytes += bytes;
    return { nextSequenceToken: String(this.puts) };
  }

  /** GetLogEvents requests answered. */
  reads = 0;

  /**
   * GetLogEvents (API reference): "By default, this operation returns as many log events as can
   * fit in a response size of 1MB, up to 10,000 log events"; without a token, `startFromHead`
   * false (the default) returns the latest events; the tokens page forward and backward, and "If
   * you have reached the end of the stream, it returns the same token you passed in." A missing
   * stream is ResourceNotFoundException. Tokens here are `f/<index>` and `b/<index>`.
   */
  getLogEvents(input: {
    logGroupName?: string;
    logStreamName?: string;
    nextToken?: string;
    startFromHead?: boolean;
    limit?: number;
  }) {
    this.checkGroup('GetLogEvents', input.logGroupName);
    this.reads++;
    const stream = this.streams.get(input.logStreamName ?? '');
    if (!stream)
      throw new ResourceNotFoundException({ message: 'The specified log stream does not exist.', ...meta });
    const limit = input.limit ?? 10_000;
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
      this.violations.push(`GetLogEvents: limit ${limit} (1–10,000)`);
      throw this.invalid('limit must be from 1 to 10000');
    }
    const token = input.nextToken;
    const m = token === undefined ? null : /^([fb])\/(\d+)$/.exec(token);
    if (token !== undefined && !m) {
      this.violations.push(`GetLogEvents: a token it never gave: ${token}`);
      throw this.invalid('The specified nextToken is invalid.');
    }
    let start: number;
    let end: number;
    if (m?.[1] === 'b') {
      end = Math.min(stream.length, Number(m[2]));
      start = Math.max(0, end - limit);
    } else if (m) {
      start = Math.min(stream.length, Number(m[2]));
      end = Math.min(stream.length, start + limit);
    } else if (input.startFromHead) {
      start = 0;
      end = Math.min(stream.length, limit);
    } else {
      end = stream.length;
      start = Math.max(0, end - limit);
    }
    // 1 MB per response, counted as PutLogEvents counts (message + 26 bytes).
    let bytes = 0;
    let cut = start;
    while (cut < end) {
      const size = Buffer.byteLength((stream[cut] as { message: string }).message, 'utf8') + 26;
      if (bytes + size > 1_048_576 && cut > start) break;
      bytes += size;
      cut++;
    }
    end = cut;
    const forward = `f/${end}`;
    const backward = `b/${start}`;
    return {
      events: stream.slice(start, end).map((e) => ({ ...e, ingestionTime: e.timestamp })),
      nextForwardToken: token !== undefined && m?.[1] === 'f' && end === start ? token : forward,
      nextBackwardToken: token !== undefined && m?.[1] === 'b' && end === start ? token : backward,
    };
  }

  /** Stream names created so far. */
  streamNames(): string[] {
    return [...this.streams.keys()];
  }

  /** A stream's messages, one per line. */
  text(stream: string): string {
    return (this.streams.get(stream) ?? []).map((e) => e.message).join('\n');
  }

  /** Every message of every stream (for "never shipped" checks). */
  allText(): string {
    return [...this.streams.keys()].map((s) => this.text(s)).join('\n');
  }

  private checkGroup(command: string, group: string | undefined) {
    if (group !== this.logGroup) {
      this.violations.push(`${command}: log group ${group} is not ${this.logGroup}`);
      throw new ResourceNotFoundException({ message: 'The specified log group does not exist.', ...meta });
    }
  }

  private invalid(message: string) {
    return new CloudWatchLogsServiceException({
      name: 'InvalidParameterException',
      $fault: 'client',
      message,
      ...meta,
    });
  }
}

/** Secrets Manager with a fixed set of secrets (SecretString values). */
export class SecretsSimulator {
  /** GetSecretValue calls, by secret id. */
  readonly reads: string[] = [];

  constructor(private readonly secrets: Record<string, string>) {}

  getSecretValue(input: { SecretId?: string }) {
    const id = input.SecretId ?? '';
    this.reads.push(id);
    const value = this.secrets[id];
    if (value === undefined)
      throw new SecretNotFound({ message: "Secrets Manager can't find the specified secret.", ...meta });
    return {
      ARN: `arn:aws:secretsmanager:us-east-1:123456789012:secret:${id}`,
      Name: id,
      SecretString: value,
    };
  }
}
