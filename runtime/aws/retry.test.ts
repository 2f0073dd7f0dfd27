import { describe, expect, it } from 'vitest';
import { backoffDelay, isServerError, isThrottling, RetriesExhaustedError, withRetries } from './retry.js';

function named(name: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(name), { name }, extra);
}

describe('withRetries', () => {
  it('retries what is retryable, with growing jittered waits, and gives up after maxAttempts', async () => {
    const waits: number[] = [];
    let calls = 0;
    const fail = withRetries(
      'thing',
      async () => {
        calls++;
        throw named('ThrottlingException');
      },
      isThrottling,
      {
        maxAttempts: 4,
        baseDelayMs: 10,
        maxDelayMs: 25,
        sleep: async (ms) => void waits.push(ms),
        random: () => 0.999,
      },
    );
    await expect(fail).rejects.toBeInstanceOf(RetriesExhaustedError);
    await expect(fail).rejects.toThrow('thing: still failing after 4 attempts: ThrottlingException');
    expect(calls).toBe(4);
    // Full jitter under a ceiling of min(25, 10·2^(n-1)): 9, 19, 24 with random ≈ 1.
    expect(waits).toEqual([9, 19, 24]);
  });

  it('rethrows at once what is not retryable, and returns the first success', async () => {
    let calls = 0;
    await expect(
      withRetries(
        'x',
        async () => {
          calls++;
          throw named('ValidationException');
        },
        isThrottling,
        { sleep: async () => {} },
      ),
    ).rejects.toThrow('ValidationException');
    expect(calls).toBe(1);
    let n = 0;
    const value = await withRetries(
      'x',
      async (attempt) => {
        n = attempt;
        if (attempt < 3) throw named('ProvisionedThroughputExceededException');
        return 'ok';
      },
      isThrottling,
      { sleep: async () => {} },
    );
    expect([value, n]).toEqual(['ok', 3]);
  });

  it('backoffDelay never exceeds its ceiling', () => {
    for (let a = 1; a < 20; a++)
      expect(backoffDelay(a, { baseDelayMs: 25, maxDelayMs: 2000, random: () => 0.9999 })).toBeLessThan(2000);
    expect(backoffDelay(1, { random: () => 0 })).toBe(0);
  });
});

describe('error classification', () => {
  it('knows throttling by name or by the SDK’s flag, and server faults by status', () => {
    expect(isThrottling(named('ThrottlingException'))).toBe(true);
    expect(isThrottling(named('Whatever', { $retryable: { throttling: true } }))).toBe(true);
    expect(isThrottling(named('ConditionalCheckFailedException'))).toBe(false);
    expect(isThrottling('ThrottlingException')).toBe(false);
    expect(isServerError(named('InternalServerError', { $metadata: { httpStatusCode: 500 } }))).toBe(true);
    expect(isServerError(named('X', { $fault: 'server' }))).toBe(true);
    expect(isServerError(named('X', { $metadata: { httpStatusCode: 400 } }))).toBe(false);
  });
});
