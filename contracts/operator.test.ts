import { describe, expect, it } from 'vitest';
import { HoldState, newerRequest, PoolName, PoolSlots } from './operator.js';

const req = (requested_at: string, request_id: string) => ({ requested_at, request_id });

describe('newerRequest', () => {
  it('orders by requested_at first, whatever the ids say', () => {
    expect(newerRequest(req('2024-05-01T10:00:00.001Z', 'a'), req('2024-05-01T10:00:00.000Z', 'z'))).toBe(
      true,
    );
    expect(newerRequest(req('2024-05-01T10:00:00.000Z', 'z'), req('2024-05-01T10:00:00.001Z', 'a'))).toBe(
      false,
    );
  });

  it('breaks a tie of the same millisecond by request_id, so every process agrees', () => {
    const a = req('2024-05-01T10:00:00.000Z', 'req-a');
    const b = req('2024-05-01T10:00:00.000Z', 'req-b');
    expect(newerRequest(b, a)).toBe(true);
    expect(newerRequest(a, b)).toBe(false);
  });

  it('a duplicate (same time, same id) is not newer in either direction', () => {
    const a = req('2024-05-01T10:00:00.000Z', 'req-a');
    expect(newerRequest(a, { ...a })).toBe(false);
  });

  it('compares instants, not text (a timestamp without milliseconds is valid too)', () => {
    // As text, "…:00Z" sorts after "…:00.500Z" ('Z' > '.'), but it is the earlier instant.
    expect(newerRequest(req('2024-05-01T10:00:00.500Z', 'a'), req('2024-05-01T10:00:00Z', 'b'))).toBe(true);
    expect(newerRequest(req('2024-05-01T10:00:00Z', 'b'), req('2024-05-01T10:00:00.500Z', 'a'))).toBe(false);
  });
});

describe('pool and hold shapes', () => {
  it('PoolName takes the calendar charset and names the problem', () => {
    expect(PoolName.safeParse('wlm_etl-1').success).toBe(true);
    expect(PoolName.safeParse('wlm:1').error?.issues[0]?.message).toBe(
      'may only contain letters, digits, "_" and "-"',
    );
  });

  it('PoolSlots is 0..1000, whole', () => {
    expect(PoolSlots.safeParse(0).success).toBe(true);
    expect(PoolSlots.safeParse(-1).error?.issues[0]?.message).toBe('must be at least 0 (0 drains the pool)');
    expect(PoolSlots.safeParse(2.5).error?.issues[0]?.message).toBe('must be a whole number');
  });

  it('HoldState needs who and when and a scope', () => {
    const h = {
      held: false,
      scope: 'run',
      reason: null,
      requested_by: 'user:a',
      requested_at: '2024-05-01T10:00:00.000Z',
      request_id: 'r1',
    };
    expect(HoldState.parse(h)).toEqual(h);
    expect(HoldState.safeParse({ ...h, scope: 'stage' }).success).toBe(false);
    expect(HoldState.safeParse({ ...h, requested_at: 'yesterday' }).success).toBe(false);
  });
});
