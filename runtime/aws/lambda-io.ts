/**
 * What every Lambda entry (services/*\/handler.ts) shares: the Powertools logger behind the
 * services' Logger port, and the parsing of each AWS input into a contract type. A malformed input
 * is logged once, clearly (what it was, every contract problem, never a secret), and rejected with
 * an InvalidInputError, which never changes state: SQS and stream batches report it as that
 * record's failure (the rest of the batch goes on; redrive moves it to the dead-letter queue or the
 * stream's on-failure destination), a bus event's invocation fails into the function's
 * asynchronous on-failure destination, a wrapper task fails into its Catch.
 */
import { LogFormatter, LogItem, Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { LogAttributes, UnformattedAttributes } from '@aws-lambda-powertools/logger/types';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord, SQSRecord } from 'aws-lambda';
import { JobAuditRecord } from '../../contracts/audit.js';
import { ContractError, parseContract } from '../../contracts/common.js';
import type { DetailType } from '../../contracts/events.js';
import { JobMessage, TaskRequest } from '../../contracts/jobs.js';
import { type ParsedEnvelope, parseEnvelope } from '../../events/envelope.js';
import { InvalidInputError } from '../../services/errors.js';
import type { Logger } from '../../services/ports.js';
import { JOB_SEQUENCE_ATTRIBUTE } from './dynamo-items.js';

/**
 * The level the functions log at when nothing says otherwise: warnings and errors, plus one
 * summary line per invocation ({@link logSummary}). CloudWatch Logs bills every byte ingested
 * ($0.50/GB); at INFO the functions wrote about 18 KB per blog run (the `aws.*` bench), most of it
 * per-step detail nobody reads unless something is wrong — then set LOG_LEVEL (or
 * POWERTOOLS_LOG_LEVEL) to INFO or DEBUG on the function to get it back.
 */
export const DEFAULT_LAMBDA_LOG_LEVEL = 'WARN';

const LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT'] as const;
type LevelName = (typeof LEVELS)[number];

/** The level from POWERTOOLS_LOG_LEVEL or LOG_LEVEL (Powertools' own variables), else the default. */
export function lambdaLogLevel(env: NodeJS.ProcessEnv = process.env): LevelName {
  for (const v of [env.POWERTOOLS_LOG_LEVEL, env.LOG_LEVEL]) {
    const level = v?.trim().toUpperCase();
    if (level && (LEVELS as readonly string[]).includes(level)) return level as LevelName;
  }
  return DEFAULT_LAMBDA_LOG_LEVEL;
}

/**
 * The line format at the default level: what finds an invocation and says what it did — level,
 * message, timestamp, service, `function_name`, `function_request_id` (the id of Lambda's own
 * START/END/REPORT lines, which give its duration and memory), the X-Ray trace id when tracing is
 * on, and the fields the line was given (outcome, counts). Powertools' other context fields
 * (`function_arn`, `function_memory_size`, `cold_start`, `sampling_rate`: about 170 bytes on every
 * line) say nothing the log group and the REPORT line do not, and CloudWatch bills each byte.
 * A function set to INFO or DEBUG logs Powertools' full format again.
 */
export class CompactLogFormatter extends LogFormatter {
  formatAttributes(attributes: UnformattedAttributes, additional: LogAttributes): LogItem {
    const base: LogAttributes = {
      level: attributes.logLevel,
      message: attributes.message,
      timestamp: this.formatTimestamp(attributes.timestamp),
      service: attributes.serviceName,
      function_name: attributes.lambdaContext?.functionName,
      function_request_id: attributes.lambdaContext?.awsRequestId,
      xray_trace_id: attributes.xRayTraceId,
    };
    return new LogItem({ attributes: base }).addAttributes(additional);
  }
}

/**
 * A Powertools logger for one service (`rsqlo-<service>`). Level: POWERTOOLS_LOG_LEVEL or LOG_LEVEL,
 * default WARN ({@link DEFAULT_LAMBDA_LOG_LEVEL}); Lambda's own log-level control
 * (AWS_LAMBDA_LOG_LEVEL) still wins, as Powertools documents. At WARN and above its lines are in
 * the {@link CompactLogFormatter} format; at INFO and below, Powertools' full one.
 */
export function createLambdaLogger(service: string, env: NodeJS.ProcessEnv = process.env): PowertoolsLogger {
  const level = lambdaLogLevel(env);
  const compact = LEVELS.indexOf(level) >= LEVELS.indexOf('WARN');
  return new PowertoolsLogger({
    serviceName: `rsqlo-${service}`,
    logLevel: level,
    ...(compact ? { logFormatter: new CompactLogFormatter() } : {}),
  });
}

/**
 * The one line an invocation writes when it went well: what it did, at INFO, written at the
 * default WARN level too (a quiet function still says what it handled), and dropped only when the
 * level is set to ERROR or above.
 */
export function logSummary(logger: PowertoolsLogger, message: string, fields: Record<string, unknown>) {
  const level = logger.getLevelName();
  if (level !== 'WARN') {
    logger.info(message, fields);
    return;
  }
  logger.setLogLevel('INFO');
  try {
    logger.info(message, fields);
  } finally {
    logger.setLogLevel('WARN');
  }
}

/** The services' Logger port over Powertools: one structured line per call. */
export function loggerPort(logger: PowertoolsLogger): Logger {
  return {
    info: (message, fields) => logger.info(message, fields ?? {}),
    warn: (message, fields) => logger.warn(message, fields ?? {}),
    error: (message, fields) => logger.error(message, fields ?? {}),
  };
}

/** A task token as logs may show it: its first 8 characters (it is a credential for the task). */
export function redactToken(token: string): string {
  return token.length <= 8 ? '…' : `${token.slice(0, 8)}…(${token.length})`;
}

function issuesOf(err: unknown): unknown {
  return err instanceof ContractError ? err.issues : err instanceof Error ? err.message : String(err);
}

function reject(
  logger: PowertoolsLogger,
  what: string,
  err: unknown,
  fields: Record<string, unknown>,
): never {
  const message = err instanceof Error ? err.message : String(err);
  logger.error(`rejected malformed ${what}`, { ...fields, rejected: what, problems: issuesOf(err) });
  throw new InvalidInputError(`malformed ${what}: ${message}`);
}

/** A bus event of one of `accepted` detail-types, or InvalidInputError (logged). */
export function readBusEvent<T extends DetailType>(
  event: unknown,
  accepted: readonly T[],
  logger: PowertoolsLogger,
): Extract<ParsedEnvelope, { detailType: T }> {
  const raw = event as { id?: unknown; 'detail-type'?: unknown } | null;
  const fields = { event_id: raw?.id, detail_type: raw?.['detail-type'] };
  let env: ParsedEnvelope;
  try {
    env = parseEnvelope(event);
  } catch (err) {
    return reject(logger, 'event', err, fields);
  }
  if (!(accepted as readonly string[]).includes(env.detailType)) {
    return reject(
      logger,
      'event',
      new Error(`this function handles ${accepted.join(', ')}, not ${env.detailType}`),
      fields,
    );
  }
  return env as Extract<ParsedEnvelope, { detailType: T }>;
}

/** An SQS record's JobMessage, or InvalidInputError (logged). */
export function readJobMessage(record: SQSRecord, logger: PowertoolsLogger): JobMessage {
  const fields = { message_id: record.messageId };
  let body: unknown;
  try {
    body = JSON.parse(record.body);
  } catch (err) {
    return reject(logger, 'queue message', new Error(`body is not JSON (${(err as Error).message})`), fields);
  }
  try {
    return parseContract(JobMessage, body, 'job message');
  } catch (err) {
    return reject(logger, 'queue message', err, fields);
  }
}

/** The job row of a stream record (its new image), or InvalidInputError (logged). */
export function readJobChange(record: DynamoDBRecord, logger: PowertoolsLogger): JobAuditRecord {
  const fields = { event_id: record.eventID, sequence_number: record.dynamodb?.SequenceNumber };
  const image = record.dynamodb?.NewImage;
  if (!image) return reject(logger, 'job change', new Error('the record has no NewImage'), fields);
  let item: Record<string, unknown>;
  try {
    item = unmarshall(image as Record<string, AttributeValue>);
  } catch (err) {
    return reject(logger, 'job change', err, fields);
  }
  const { [JOB_SEQUENCE_ATTRIBUTE]: _seq, ...row } = item;
  if (row.execution_start_ts === undefined) row.execution_start_ts = null;
  try {
    return parseContract(JobAuditRecord, row, 'job audit row');
  } catch (err) {
    return reject(logger, 'job change', err, fields);
  }
}

/** The wrapper's task request, or InvalidInputError (logged without the token). */
export function readTaskRequest(event: unknown, logger: PowertoolsLogger): TaskRequest {
  try {
    return parseContract(TaskRequest, event, 'task request');
  } catch (err) {
    const job = (event as { job?: { job_run_name?: unknown } } | null)?.job;
    return reject(logger, 'task request', err, { job_run_name: job?.job_run_name });
  }
}
