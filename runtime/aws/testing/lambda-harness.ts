/**
 * What the handler tests share: the environment a Lambda gets from the CDK app (pointing the SDK at
 * DynamoDB Local and fauxqs through the SDK's own AWS_ENDPOINT_URL_* variables), the Powertools log
 * lines a handler wrote, and EventBridge envelopes as rules deliver them.
 */
import { randomUUID } from 'node:crypto';
import { vi } from 'vitest';
import type { DetailType } from '../../../contracts/events.js';
import { ENV, type SettingName } from '../settings.js';

/** Sets the Lambda environment for a handler imported afterwards (undone by vi.unstubAllEnvs). */
export function stubLambdaEnv(
  settings: Partial<Record<SettingName, string>>,
  endpoints: { dynamodb: string; sqs?: string },
) {
  vi.stubEnv('AWS_REGION', 'us-east-1');
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'local');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'local');
  vi.stubEnv('AWS_ENDPOINT_URL_DYNAMODB', endpoints.dynamodb);
  if (endpoints.sqs) vi.stubEnv('AWS_ENDPOINT_URL_SQS', endpoints.sqs);
  vi.stubEnv('AWS_LAMBDA_FUNCTION_NAME', 'rsqlo-test');
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'INFO');
  for (const [name, value] of Object.entries(settings)) vi.stubEnv(ENV[name as SettingName], value);
}

/** Powertools' JSON lines (INFO to stdout, WARN and ERROR to stderr) written while capturing. */
export function captureLogs() {
  const lines: Array<Record<string, unknown>> = [];
  let raw = '';
  const capture = (chunk: string | Uint8Array) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    raw += text;
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not a log line
      }
    }
    return true;
  };
  const spies = [
    vi.spyOn(process.stdout, 'write').mockImplementation(capture),
    vi.spyOn(process.stderr, 'write').mockImplementation(capture),
  ];
  return {
    lines,
    /** Everything written, for "never appears" checks. */
    raw: () => raw,
    messages: () => lines.map((l) => `${l.level}: ${l.message}`),
    clear: () => {
      lines.length = 0;
      raw = '';
    },
    restore: () => {
      for (const s of spies) s.mockRestore();
    },
  };
}

/** An EventBridge envelope as a rule delivers it to Lambda. */
export function busEvent<D>(detailType: DetailType | string, detail: D, id = randomUUID()) {
  return {
    version: '0',
    id,
    'detail-type': detailType,
    source: 'rsqlo',
    account: '123456789012',
    time: '2024-01-01T00:00:00Z',
    region: 'us-east-1',
    resources: [],
    detail,
  };
}

/** A Lambda context good enough for Powertools (logger context, idempotency timeouts). */
export function lambdaContext(remainingMs = 30_000) {
  return {
    functionName: 'rsqlo-test',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:rsqlo-test',
    memoryLimitInMB: '256',
    awsRequestId: randomUUID(),
    logGroupName: '/aws/lambda/rsqlo-test',
    logStreamName: 'test',
    callbackWaitsForEmptyEventLoop: false,
    getRemainingTimeInMillis: () => remainingMs,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}
