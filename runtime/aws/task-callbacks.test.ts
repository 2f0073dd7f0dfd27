import {
  InvalidToken,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
  TaskDoesNotExist,
  TaskTimedOut,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { NonRetriableError } from '../../services/errors.js';
import type { Logger } from '../../services/ports.js';
import {
  createTaskCallbacks,
  isTransientAwsError,
  redactToken,
  TASK_LIMITS,
  TaskCallbackRejectedError,
  TaskCallbackUnavailableError,
} from './task-callbacks.js';

const TOKEN = `AQCEAAAAKgAAAA${'x'.repeat(600)}SECRETTAIL`;

function awsError(
  name: string,
  status: number,
  fault: 'client' | 'server' = status >= 500 ? 'server' : 'client',
) {
  return Object.assign(new Error(`${name} happened`), {
    name,
    $fault: fault,
    $metadata: { httpStatusCode: status },
  });
}

function recordingLogger() {
  const lines: string[] = [];
  const log: Logger = {
    info: (m, f) => lines.push(JSON.stringify({ m, f })),
    warn: (m, f) => lines.push(JSON.stringify({ m, f })),
    error: (m, f) => lines.push(JSON.stringify({ m, f })),
  };
  return { lines, log };
}

const sfn = mockClient(SFNClient);

describe('task callbacks', () => {
  let sleeps: number[];
  beforeEach(() => {
    sfn.reset();
    sleeps = [];
  });
  const make = (log?: Logger) =>
    createTaskCallbacks({
      client: new SFNClient({ region: 'us-east-1' }),
      retry: { sleep: async (ms) => void sleeps.push(ms), random: () => 0.5 },
      log,
    });

  it('sends SendTaskSuccess with the output as JSON', async () => {
    sfn.on(SendTaskSuccessCommand).resolves({});
    const r = await make().success(TOKEN, { status: 'Completed', exit_code: 0 });
    expect(r).toEqual({ outcome: 'delivered' });
    expect(sfn.commandCalls(SendTaskSuccessCommand).map((c) => c.args[0].input)).toEqual([
      { taskToken: TOKEN, output: '{"status":"Completed","exit_code":0}' },
    ]);
  });

  it('sends SendTaskFailure with error JobFailed and the end of a long cause', async () => {
    sfn.on(SendTaskFailureCommand).resolves({});
    const cause = `${'a'.repeat(40_000)}THE END`;
    await make().failure(TOKEN, cause);
    const input = sfn.commandCalls(SendTaskFailureCommand)[0]?.args[0].input;
    expect(input?.taskToken).toBe(TOKEN);
    expect(input?.error).toBe('JobFailed');
    expect(input?.cause?.length).toBe(TASK_LIMITS.causeChars);
    expect(input?.cause?.endsWith('THE END')).toBe(true);
  });

  it('maps TaskTimedOut and TaskDoesNotExist to gave-up, without retrying', async () => {
    sfn.on(SendTaskHeartbeatCommand).rejects(new TaskTimedOut({ message: 'Task Timed Out', $metadata: {} }));
    sfn.on(SendTaskSuccessCommand).rejects(new TaskDoesNotExist({ message: 'no such task', $metadata: {} }));
    const cb = make();
    expect(await cb.heartbeat(TOKEN)).toEqual({ outcome: 'gave-up', reason: 'TaskTimedOut' });
    expect(await cb.success(TOKEN, {})).toEqual({ outcome: 'gave-up', reason: 'TaskDoesNotExist' });
    expect(sfn.commandCalls(SendTaskHeartbeatCommand)).toHaveLength(1);
    expect(sfn.commandCalls(SendTaskSuccessCommand)).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it('retries throttling, 5xx and network errors with growing jittered backoff', async () => {
    sfn
      .on(SendTaskHeartbeatCommand)
      .rejectsOnce(awsError('ThrottlingException', 400))
      .rejectsOnce(awsError('InternalServerError', 500))
      .rejectsOnce(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))
      .resolves({});
    expect(await make().heartbeat(TOKEN)).toEqual({ outcome: 'delivered' });
    expect(sfn.commandCalls(SendTaskHeartbeatCommand)).toHaveLength(4);
    // full jitter with random() = 0.5: half of 200, 400, 800 ms
    expect(sleeps).toEqual([100, 200, 400]);
  });

  it('throws TaskCallbackUnavailableError when retries run out, never quoting the token', async () => {
    const { lines, log } = recordingLogger();
    sfn.on(SendTaskSuccessCommand).rejects(awsError('ServiceUnavailable', 503));
    const err = await make(log)
      .success(TOKEN, {})
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskCallbackUnavailableError);
    expect(sfn.commandCalls(SendTaskSuccessCommand)).toHaveLength(5);
    expect((err as Error).message).toContain(redactToken(TOKEN));
    expect((err as Error).message).not.toContain(TOKEN);
    expect(lines.join('\n')).not.toContain('SECRETTAIL');
  });

  it('throws TaskCallbackRejectedError (non-retriable) for a bad token, blanking it from the message', async () => {
    sfn
      .on(SendTaskFailureCommand)
      .rejects(new InvalidToken({ message: `Invalid Token: '${TOKEN}'`, $metadata: {} }));
    const err = await make()
      .failure(TOKEN, 'boom')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskCallbackRejectedError);
    expect(err).toBeInstanceOf(NonRetriableError);
    expect((err as Error).message).not.toContain(TOKEN);
    expect(sfn.commandCalls(SendTaskFailureCommand)).toHaveLength(1);
  });

  it('logs gave-up with a shortened token only', async () => {
    const { lines, log } = recordingLogger();
    sfn.on(SendTaskHeartbeatCommand).rejects(new TaskTimedOut({ message: 'Task Timed Out', $metadata: {} }));
    await make(log).heartbeat(TOKEN);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join('\n')).not.toContain('SECRETTAIL');
  });

  it('classifies errors', () => {
    expect(isTransientAwsError(awsError('ThrottlingException', 400))).toBe(true);
    expect(isTransientAwsError(awsError('InternalFailure', 500))).toBe(true);
    expect(isTransientAwsError(awsError('TooManyRequests', 429))).toBe(true);
    expect(isTransientAwsError(Object.assign(new Error('ETIMEDOUT'), { code: 'ETIMEDOUT' }))).toBe(true);
    expect(isTransientAwsError(awsError('AccessDeniedException', 400))).toBe(false);
    expect(isTransientAwsError(awsError('InvalidOutput', 400))).toBe(false);
  });

  it('shortens tokens for logs', () => {
    expect(redactToken(TOKEN)).toBe(`AQCEAA…TAIL(${TOKEN.length} chars)`);
    expect(redactToken('short')).toBe('…(5 chars)');
  });
});
