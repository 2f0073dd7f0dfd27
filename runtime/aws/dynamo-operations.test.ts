import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import {
  batchGetAll,
  cancellationReasons,
  chunk,
  conditionalUpdate,
  isRetryableDynamoError,
  MAX_TRANSACT_ITEMS,
  mapLimit,
  queryAll,
  transactWrite,
  UnprocessedKeysError,
} from './dynamo-operations.js';
import { RetriesExhaustedError } from './retry.js';

const noWait = { sleep: async () => {} };

function canceled(...codes: string[]): Error {
  return Object.assign(new Error('Transaction cancelled'), {
    name: 'TransactionCanceledException',
    CancellationReasons: codes.map((Code) => ({ Code })),
  });
}

/** A stand-in client answering each send from a script (the DynamoDB Local tests cover the real thing). */
function scripted(answers: Array<(input: Record<string, unknown>) => unknown>) {
  const inputs: Array<Record<string, unknown>> = [];
  const client = {
    async send(command: { input: Record<string, unknown> }) {
      inputs.push(command.input);
      const next = answers.shift();
      if (!next) throw new Error('unexpected call');
      return next(command.input);
    },
  } as unknown as DynamoDBDocumentClient;
  return { client, inputs };
}

const item = { Put: { TableName: 't', Item: { k: 1 } } };

describe('transactWrite', () => {
  it('retries conflicts and throttling with a fresh token each time, then commits', async () => {
    const { client, inputs } = scripted([
      () => {
        throw canceled('None', 'TransactionConflict');
      },
      () => {
        throw Object.assign(new Error('slow down'), { name: 'ThrottlingException' });
      },
      () => ({}),
    ]);
    expect(await transactWrite(client, [item, item], 'w', noWait)).toEqual({ ok: true });
    expect(inputs).toHaveLength(3);
    const tokens = new Set(inputs.map((i) => i.ClientRequestToken));
    expect(tokens.size).toBe(3);
  });

  it('answers a failed condition with the per-item reasons, without retrying', async () => {
    const { client, inputs } = scripted([
      () => {
        throw canceled('None', 'ConditionalCheckFailed', 'TransactionConflict');
      },
    ]);
    expect(await transactWrite(client, [item, item, item], 'w', noWait)).toEqual({
      ok: false,
      reasons: ['None', 'ConditionalCheckFailed', 'TransactionConflict'],
    });
    expect(inputs).toHaveLength(1);
  });

  it('gives up after the bounded attempts, rethrows request errors, refuses more than 100 actions', async () => {
    const conflicts = Array.from({ length: 3 }, () => () => {
      throw canceled('TransactionConflict');
    });
    await expect(
      transactWrite(scripted(conflicts).client, [item], 'w', { ...noWait, maxAttempts: 3 }),
    ).rejects.toBeInstanceOf(RetriesExhaustedError);
    const invalid = scripted([
      () => {
        throw canceled('ValidationError');
      },
    ]);
    await expect(transactWrite(invalid.client, [item], 'w', noWait)).rejects.toThrow('Transaction cancelled');
    await expect(
      transactWrite(scripted([]).client, Array(MAX_TRANSACT_ITEMS + 1).fill(item), 'w'),
    ).rejects.toThrow(/101 actions in one transaction; DynamoDB allows 100/);
    expect(await transactWrite(scripted([]).client, [], 'w')).toEqual({ ok: true });
  });
});

describe('conditionalUpdate', () => {
  it('returns the new item, undefined on a failed condition, and retries single-item conflicts', async () => {
    const { client, inputs } = scripted([
      () => {
        throw Object.assign(new Error('in a transaction'), { name: 'TransactionConflictException' });
      },
      () => ({ Attributes: { a: 1 } }),
      () => {
        throw Object.assign(new Error('no'), { name: 'ConditionalCheckFailedException' });
      },
    ]);
    expect(await conditionalUpdate(client, { TableName: 't', Key: {} }, 'u', noWait)).toEqual({ a: 1 });
    expect(inputs[1]?.ReturnValues).toBe('ALL_NEW');
    expect(await conditionalUpdate(client, { TableName: 't', Key: {} }, 'u', noWait)).toBeUndefined();
  });
});

describe('queryAll', () => {
  it('follows LastEvaluatedKey, stops at max or when told', async () => {
    const pages = [
      { Items: [{ n: 1 }, { n: 2 }], LastEvaluatedKey: { k: 2 } },
      { Items: [{ n: 3 }], LastEvaluatedKey: { k: 3 } },
      { Items: [{ n: 4 }] },
    ];
    const all = scripted(pages.map((p) => () => p));
    expect(await queryAll(all.client, { TableName: 't' }, 'q')).toEqual([
      { n: 1 },
      { n: 2 },
      { n: 3 },
      { n: 4 },
    ]);
    expect(all.inputs.map((i) => i.ExclusiveStartKey)).toEqual([undefined, { k: 2 }, { k: 3 }]);
    const some = scripted(pages.map((p) => () => p));
    expect(await queryAll(some.client, { TableName: 't', Limit: 50 }, 'q', { max: 3 })).toEqual([
      { n: 1 },
      { n: 2 },
      { n: 3 },
    ]);
    expect(some.inputs.map((i) => i.Limit)).toEqual([3, 1]);
    const stopped = scripted(pages.map((p) => () => p));
    expect(
      await queryAll(stopped.client, { TableName: 't' }, 'q', { stop: (items) => items.length >= 2 }),
    ).toHaveLength(2);
  });
});

describe('helpers', () => {
  it('mapLimit keeps order and never has more than `limit` calls in flight', async () => {
    let inFlight = 0;
    let most = 0;
    const out = await mapLimit([5, 1, 4, 2, 3], 2, async (n) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, n));
      inFlight--;
      return n * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30]);
    expect(most).toBe(2);
    expect(chunk([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('classifies DynamoDB errors', () => {
    expect(cancellationReasons(canceled('None', 'ConditionalCheckFailed'))).toEqual([
      'None',
      'ConditionalCheckFailed',
    ]);
    expect(cancellationReasons(new Error('x'))).toEqual([]);
    expect(isRetryableDynamoError(canceled('None', 'ThrottlingError'))).toBe(true);
    expect(isRetryableDynamoError(canceled('ConditionalCheckFailed'))).toBe(false);
    expect(
      isRetryableDynamoError(Object.assign(new Error(), { name: 'ProvisionedThroughputExceededException' })),
    ).toBe(true);
    expect(isRetryableDynamoError(Object.assign(new Error(), { name: 'ValidationException' }))).toBe(false);
  });
});

describe('batchGetAll (readers of KEYS_ONLY global indexes)', () => {
  type Req = { RequestItems: Record<string, { Keys: Array<{ id: string }>; ConsistentRead?: boolean }> };
  const keysOf = (input: Record<string, unknown>) => (input as unknown as Req).RequestItems.t?.Keys ?? [];

  it("asks at most 100 keys per request, re-asks only the unprocessed ones, keeps the keys' order", async () => {
    // BatchGetItem API reference: "A single operation can retrieve up to 16 MB of data, which can
    // contain as many as 100 items" / "If you request more than 100 items, BatchGetItem returns a
    // ValidationException"; unprocessed keys come back in UnprocessedKeys, to be retried.
    const keys = Array.from({ length: 150 }, (_, n) => ({
      id: `r${String(n).padStart(3, '0')}`,
      other: 'x',
    }));
    const answer = (input: Record<string, unknown>, unprocessed: number) => {
      const asked = keysOf(input);
      if (asked.length > 100)
        throw Object.assign(new Error('Too many items'), { name: 'ValidationException' });
      const served = asked.slice(unprocessed);
      return {
        // Out of order, as DynamoDB may answer; one key has no item (deleted meanwhile).
        Responses: {
          t: served
            .filter((k) => k.id !== 'r007')
            .map((k) => ({ ...k, v: k.id }))
            .reverse(),
        },
        UnprocessedKeys: unprocessed ? { t: { Keys: asked.slice(0, unprocessed) } } : {},
      };
    };
    const { client, inputs } = scripted([(i) => answer(i, 3), (i) => answer(i, 0), (i) => answer(i, 0)]);
    const out = await batchGetAll(client, 't', keys, ['id'], 'read', { consistentRead: true, retry: noWait });
    expect(inputs.map((i) => keysOf(i).length)).toEqual([100, 3, 50]);
    expect(keysOf(inputs[1] ?? {})).toEqual([{ id: 'r000' }, { id: 'r001' }, { id: 'r002' }]);
    expect(inputs.every((i) => (i as unknown as Req).RequestItems.t?.ConsistentRead === true)).toBe(true);
    expect(out.map((i) => i.id)).toEqual(keys.map((k) => k.id).filter((id) => id !== 'r007'));
  });

  it('gives up with a named error when keys stay unprocessed', async () => {
    const stuck = (input: Record<string, unknown>) => ({ UnprocessedKeys: { t: { Keys: keysOf(input) } } });
    const { client, inputs } = scripted([stuck, stuck, stuck]);
    await expect(
      batchGetAll(client, 't', [{ id: 'a' }], ['id'], 'read runs', { retry: { ...noWait, maxAttempts: 3 } }),
    ).rejects.toBeInstanceOf(UnprocessedKeysError);
    expect(inputs).toHaveLength(3);
  });
});
