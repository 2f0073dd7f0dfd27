import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord, SQSRecord } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import { InvalidInputError } from '../../services/errors.js';
import { parallel, workflow } from '../../services/testing/fixtures.js';
import { jobToItem } from './dynamo-items.js';
import {
  createLambdaLogger,
  loggerPort,
  logSummary,
  readBusEvent,
  readJobChange,
  readJobMessage,
  readTaskRequest,
  redactToken,
} from './lambda-io.js';
import { captureLogs, lambdaContext } from './testing/lambda-harness.js';
import { planned } from './testing/port-scenario.js';

function logger() {
  const l = createLambdaLogger('test');
  const error = vi.spyOn(l, 'error').mockImplementation(() => {});
  return { l, error };
}

const stageReady = {
  version: '0',
  id: 'env-1',
  'detail-type': 'StageReady',
  source: 'rsqlo',
  time: '2024-01-01T00:00:00Z',
  detail: {
    version: 1,
    event_id: 'StageReady:r1:1:start',
    occurred_at: '2024-01-01T00:00:00.000Z',
    workflow_id: 'wf',
    workflow_execution_id: 'r1',
    stage: 1,
  },
};

describe('readBusEvent', () => {
  it('parses an envelope of an accepted detail-type', () => {
    const { l, error } = logger();
    const env = readBusEvent(stageReady, ['StageReady'], l);
    expect([env.id, env.detailType, env.detail.stage]).toEqual(['env-1', 'StageReady', 1]);
    expect(error).not.toHaveBeenCalled();
  });

  it.each([
    ['another source', { ...stageReady, source: 'aws.s3' }, /expected "rsqlo"/],
    ['an unknown detail-type', { ...stageReady, 'detail-type': 'Nope' }, /unknown detail-type/],
    ['a wrong detail', { ...stageReady, detail: { ...stageReady.detail, stage: 0 } }, /detail\.stage/],
    ['not an object', 'hello', /event envelope/],
    ['a type this function does not handle', { ...stageReady }, /handles JobStarted, not StageReady/],
  ])('rejects %s with one clear log line', (_what, event, message) => {
    const { l, error } = logger();
    const accepted = _what.startsWith('a type') ? (['JobStarted'] as const) : (['StageReady'] as const);
    expect(() => readBusEvent(event, accepted, l)).toThrow(InvalidInputError);
    expect(() => readBusEvent(event, accepted, l)).toThrow(message);
    expect(error).toHaveBeenCalledWith(
      'rejected malformed event',
      expect.objectContaining({ rejected: 'event' }),
    );
  });
});

describe('readJobMessage', () => {
  const record = (body: string) => ({ messageId: 'm-1', body }) as SQSRecord;

  it('parses a JobMessage and rejects bad JSON and wrong shapes', () => {
    const { l, error } = logger();
    const msg = { version: 1, workflow_id: 'wf', workflow_execution_id: 'r1', job_key: '1.1', attempt: 1 };
    expect(readJobMessage(record(JSON.stringify(msg)), l)).toEqual(msg);
    expect(() => readJobMessage(record('{not json'), l)).toThrow(/body is not JSON/);
    expect(() => readJobMessage(record(JSON.stringify({ ...msg, job_key: 'x' })), l)).toThrow(/job_key/);
    expect(error).toHaveBeenCalledTimes(2);
    expect(error.mock.calls[1]?.[1]).toMatchObject({ message_id: 'm-1', problems: [{ path: 'job_key' }] });
  });
});

describe('readJobChange', () => {
  const p = planned(workflow('wf', [parallel(['a.sh'])]), 'r1');
  const job = p.jobs[0];
  if (!job) throw new Error('no job');
  const record = (image: Record<string, unknown> | undefined) =>
    ({
      eventID: 'e-1',
      eventName: 'MODIFY',
      dynamodb: { SequenceNumber: '1', ...(image ? { NewImage: marshall(image) } : {}) },
    }) as unknown as DynamoDBRecord;

  it('reads the new image back as the job row', () => {
    const { l } = logger();
    expect(readJobChange(record(jobToItem(job)), l)).toEqual(job);
  });

  it('rejects a record without an image or with a row that breaks the contract', () => {
    const { l, error } = logger();
    expect(() => readJobChange(record(undefined), l)).toThrow(/no NewImage/);
    expect(() => readJobChange(record({ ...jobToItem(job), attempt: 0 }), l)).toThrow(/attempt/);
    expect(error).toHaveBeenCalledTimes(2);
  });
});

describe('readTaskRequest', () => {
  it('parses the wrapper payload and never logs the token of a bad one', () => {
    const { l, error } = logger();
    const job = {
      version: 1,
      job_run_name: 'r1--1-1--a1',
      workflow_id: 'wf',
      workflow_execution_id: 'r1',
      job_key: '1.1',
      job_name: 'a.sh',
      stage: 1,
      attempt: 1,
      timeout_seconds: 60,
      heartbeat_seconds: 30,
    };
    expect(readTaskRequest({ task_token: 'secret-token-value', job }, l).job).toEqual(job);
    expect(() =>
      readTaskRequest({ task_token: 'secret-token-value', job: { ...job, stage: 'x' } }, l),
    ).toThrow(InvalidInputError);
    expect(JSON.stringify(error.mock.calls)).not.toContain('secret-token-value');
    expect(redactToken('secret-token-value')).toBe('secret-t…(18)');
    expect(redactToken('short')).toBe('…');
  });
});

describe('loggerPort', () => {
  it('hands each call to Powertools with its fields', () => {
    const l = createLambdaLogger('test');
    const info = vi.spyOn(l, 'info').mockImplementation(() => {});
    const warn = vi.spyOn(l, 'warn').mockImplementation(() => {});
    const port = loggerPort(l);
    port.info('a', { x: 1 });
    port.warn('b');
    expect(info).toHaveBeenCalledWith('a', { x: 1 });
    expect(warn).toHaveBeenCalledWith('b', {});
  });
});

describe('the summary line', () => {
  const context = { ...lambdaContext(), awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e812345678' };
  const fields = { event_id: 'e-1', applied: true, records: 3 };

  function summaryAt(env: NodeJS.ProcessEnv) {
    const logs = captureLogs();
    try {
      const l = createLambdaLogger('recorder', env);
      l.addContext(context as never);
      logSummary(l, 'job report recorded', fields);
      return { line: logs.lines[0] ?? {}, bytes: Buffer.byteLength(logs.raw()) };
    } finally {
      logs.restore();
    }
  }

  it('at the default level names the invocation and what it did, without the rest of the context', () => {
    const { line } = summaryAt({});
    expect(line).toEqual({
      level: 'INFO',
      message: 'job report recorded',
      timestamp: expect.any(String),
      service: 'rsqlo-recorder',
      function_name: 'rsqlo-test',
      function_request_id: 'c6af9ac6-7b61-11e6-9a41-93e812345678',
      ...fields,
    });
  });

  it('is smaller than the full format by the context fields it drops', () => {
    const compact = summaryAt({});
    const full = summaryAt({ LOG_LEVEL: 'INFO' });
    expect(full.line).toMatchObject({
      function_arn: context.invokedFunctionArn,
      function_memory_size: context.memoryLimitInMB,
      cold_start: expect.any(Boolean),
      function_request_id: context.awsRequestId,
      sampling_rate: 0,
    });
    const dropped = ['cold_start', 'function_arn', 'function_memory_size', 'sampling_rate']
      .map((k) => `"${k}":${JSON.stringify((full.line as Record<string, unknown>)[k])},`)
      .join('');
    expect(full.bytes - compact.bytes).toBe(Buffer.byteLength(dropped));
  });

  it('keeps the X-Ray trace id when tracing is on (it finds the invocation in X-Ray)', () => {
    // Powertools reads Lambda's trace header from the environment as each line is written.
    vi.stubEnv('_X_AMZN_TRACE_ID', 'Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1');
    try {
      expect(summaryAt({}).line.xray_trace_id).toBe('1-5759e988-bd862e3fe1be46a994272793');
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
