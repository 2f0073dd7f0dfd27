import { decodeTime, isValid, ulidToUUID } from 'ulid';
import { describe, expect, it } from 'vitest';
import { ExecutionId } from '../../contracts/common.js';
import { deriveExecutionId, encodeUlid, newExecutionId } from './execution-id.js';

const ENTROPY = Uint8Array.from([0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc]);

describe('encodeUlid', () => {
  it('encodes the time as the ULID spec example does', () => {
    // https://github.com/ulid/spec: 1469918176385 → 01ARYZ6S41
    expect(encodeUlid(1469918176385, new Uint8Array(10)).slice(0, 10)).toBe('01ARYZ6S41');
  });

  it('produces ULIDs the reference implementation reads back (time and all 80 random bits)', () => {
    for (const t of [0, 1, 1469918176385, Date.parse('2024-01-01T00:00:00Z'), 2 ** 48 - 1]) {
      const id = encodeUlid(t, ENTROPY);
      expect(id).toHaveLength(26);
      expect(isValid(id)).toBe(true);
      expect(decodeTime(id)).toBe(t);
      expect(ulidToUUID(id).replaceAll('-', '').slice(12).toLowerCase()).toBe('0123456789abcdeffedc');
    }
  });

  it('sorts by time', () => {
    const a = encodeUlid(Date.parse('2024-01-01T00:00:00Z'), ENTROPY);
    const b = encodeUlid(Date.parse('2024-01-01T00:00:00.001Z'), new Uint8Array(10));
    expect(a < b).toBe(true);
  });
});

describe('newExecutionId', () => {
  it('is <workflow_id>-<ULID> and a valid execution id', () => {
    const id = newExecutionId('blog_test_workflow', new Date('2024-01-01T00:00:00Z'), ENTROPY);
    expect(id).toMatch(/^blog_test_workflow-[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(ExecutionId.safeParse(id).success).toBe(true);
  });

  it('cuts a long workflow id so the whole stays within 48 characters', () => {
    const id = newExecutionId('w'.repeat(64), new Date(), ENTROPY);
    expect(id).toHaveLength(48);
    expect(ExecutionId.safeParse(id).success).toBe(true);
  });

  it('differs between two calls at the same time (random entropy by default)', () => {
    const now = new Date();
    expect(newExecutionId('wf', now)).not.toBe(newExecutionId('wf', now));
  });
});

describe('deriveExecutionId', () => {
  const T = new Date('2024-05-05T05:05:05.000Z');

  it('gives the same id for the same workflow, seed and time', () => {
    expect(deriveExecutionId('wf', 'request:abc', T)).toBe(deriveExecutionId('wf', 'request:abc', T));
  });

  it('gives different ids for different seeds or workflows', () => {
    const a = deriveExecutionId('wf', 'request:abc', T);
    expect(deriveExecutionId('wf', 'request:abd', T)).not.toBe(a);
    // Same time, so only the 80 bits derived from the workflow and the seed can tell them apart.
    expect(deriveExecutionId('wf2', 'request:abc', T).slice(-16)).not.toBe(a.slice(-16));
  });

  it('dates the id with the given time', () => {
    const id = deriveExecutionId('wf', 'schedule:2024-05-05T05:05:05Z', T);
    expect(decodeTime(id.slice(-26))).toBe(T.getTime());
  });
});
