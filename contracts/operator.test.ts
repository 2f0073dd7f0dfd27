import { describe, expect, it } from 'vitest';
import {
  bypassRefusal,
  HoldState,
  holdRefusal,
  newerRequest,
  PoolName,
  PoolSlots,
  rerunRefusal,
  setOkRefusal,
} from './operator.js';

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

describe('the rules of the job actions (one wording for starter, CLI and web)', () => {
  const run = { workflow_execution_id: 'wf-1', execution_status: 'Failed' as const, restarted_as: null };
  const job = (execution_status: string, skip_reason: string | null = null) => ({
    job_key: '2.1',
    execution_status,
    attempt: 1,
    skip_reason,
  });

  it('set OK: only a Failed or TimedOut job, at the attempt asked about, of a run not restarted', () => {
    expect(setOkRefusal(run, job('Failed'))).toBeNull();
    expect(setOkRefusal({ ...run, execution_status: 'Running' }, job('TimedOut'))).toBeNull();
    expect(setOkRefusal(run, job('Completed'))).toEqual({
      reason: 'NotAllowed',
      message: 'job 2.1 is Completed: only a Failed or TimedOut job can be set OK',
    });
    expect(setOkRefusal(run, job('Failed'), 2)?.message).toBe(
      'job 2.1 is at attempt 1, not 2: the request is about an attempt that is over',
    );
    expect(setOkRefusal({ ...run, restarted_as: 'wf-2' }, job('Failed'))?.reason).toBe('RestartedAlready');
  });

  it('rerun: a finished, not Skipped job of a Completed or Failed run', () => {
    expect(rerunRefusal({ ...run, execution_status: 'Completed' }, job('Completed'))).toBeNull();
    expect(rerunRefusal(run, job('Failed'))).toBeNull();
    expect(rerunRefusal({ ...run, execution_status: 'Running' }, job('Completed'))?.reason).toBe(
      'NotAllowed',
    );
    expect(rerunRefusal({ ...run, execution_status: 'Cancelled' }, job('Completed'))?.message).toMatch(
      /restart it/,
    );
    expect(rerunRefusal(run, job('Skipped'))?.message).toMatch(/never ran/);
    expect(rerunRefusal(run, job('Queued'))?.message).toMatch(/only a finished job/);
  });

  it('bypass: not started in a Running run, or left never started by a Failed run; needs a reason', () => {
    const running = { ...run, execution_status: 'Running' as const };
    expect(bypassRefusal(running, job('Pending'))).toBeNull();
    expect(bypassRefusal(running, job('Queued'))).toBeNull();
    expect(bypassRefusal(run, job('Skipped', 'not started: stage 2 failed'))).toBeNull();
    expect(bypassRefusal(running, job('Skipped', 'not started: the run was cancelled'))?.message).toMatch(
      /Skipped already/,
    );
    expect(bypassRefusal(running, job('Running'))?.message).toMatch(/has started \(Running\)/);
    expect(bypassRefusal(running, job('Pending'), 1, null)?.message).toBe(
      'a bypass needs a reason (--reason TEXT)',
    );
    expect(bypassRefusal(run, job('Pending'))?.message).toMatch(/^run wf-1 is Failed/);
  });

  it('hold and free: a Running run only', () => {
    expect(holdRefusal({ ...run, execution_status: 'Running' }, 'hold')).toBeNull();
    expect(holdRefusal(run, 'free')).toEqual({
      reason: 'NotAllowed',
      message: 'run wf-1 is Failed: only a Running run can be freed',
    });
  });
});
