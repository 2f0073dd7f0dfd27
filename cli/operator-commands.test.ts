import { describe, expect, it } from 'vitest';
import type { JobAuditRecord, WorkflowAuditRecord } from '../contracts/audit.js';
import { EVENT_SCHEMAS, eventIds } from '../contracts/events.js';
import { toEnvelope } from '../events/envelope.js';
import { requesterFromArn } from '../runtime/aws/caller-identity.js';
import { operatorOutcome } from '../runtime/local/control.js';
import { UsageError } from './command-kit.js';
import { EXIT, type Io } from './drive.js';
import {
  checkedJob,
  holdRequest,
  jobRequest,
  newRequestId,
  parseHold,
  parseJobAction,
  parsePool,
  parsePoolName,
  parseSlots,
  poolRequest,
  poolTable,
} from './operator-commands.js';

const now = new Date('2026-03-01T02:03:04.005Z');
const job = { workflow_id: 'wf', workflow_execution_id: 'wf-1', job_key: '1.2', attempt: 3 };

describe('operator requests', () => {
  it('are the contract detail, about the current attempt, from the given requester, with a <type>:<ULID> id', () => {
    const r = jobRequest('set_ok', job, 'fixed by hand', 'user:alice', now);
    expect(r.detailType).toBe('JobSetOkRequested');
    expect(r.detail).toEqual({
      version: 1,
      event_id: expect.stringMatching(/^JobSetOkRequested:01[0-9A-HJKMNP-TV-Z]{24}$/),
      occurred_at: '2026-03-01T02:03:04.005Z',
      requested_by: 'user:alice',
      workflow_id: 'wf',
      workflow_execution_id: 'wf-1',
      job_key: '1.2',
      attempt: 3,
      reason: 'fixed by hand',
    });
    expect(EVENT_SCHEMAS.JobSetOkRequested.parse(r.detail)).toEqual(r.detail);
    // A rerun's reason is optional: absent, not null.
    const rerun = jobRequest('rerun', job, undefined, 'user:alice', now);
    expect(rerun.detailType).toBe('JobRerunRequested');
    expect('reason' in rerun.detail).toBe(false);
    expect(jobRequest('bypass', job, 'r', 'u', now).detailType).toBe('JobBypassRequested');
    // Holds carry occurred_at (ordered by it); a workflow hold has no execution id.
    const wf = holdRequest(
      'hold',
      { workflow_id: 'wf', workflow_execution_id: null },
      undefined,
      'user:bob',
      now,
    );
    expect(wf.detail).toEqual({
      version: 1,
      event_id: expect.stringMatching(/^HoldRequested:/),
      occurred_at: '2026-03-01T02:03:04.005Z',
      requested_by: 'user:bob',
      workflow_id: 'wf',
    });
    expect(EVENT_SCHEMAS.HoldRequested.parse(wf.detail)).toBeTruthy();
    const free = holdRequest(
      'free',
      { workflow_id: 'wf', workflow_execution_id: 'wf-1' },
      'done',
      'user:bob',
      now,
    );
    expect(free.detail).toMatchObject({ workflow_execution_id: 'wf-1', reason: 'done' });
    const pool = poolRequest('wlm', 0, 'maintenance', 'user:bob', now);
    expect(EVENT_SCHEMAS.PoolResizeRequested.parse(pool.detail)).toMatchObject({ pool: 'wlm', slots: 0 });
    // Ids sort by time and never repeat.
    const ids = new Set(Array.from({ length: 100 }, () => newRequestId('X', now)));
    expect(ids.size).toBe(100);
    expect(newRequestId('X', new Date(now.getTime() + 1)) > newRequestId('X', now)).toBe(true);
  });

  it('are answered by their own outcome or refusal only', () => {
    const r = jobRequest('set_ok', job, 'x', 'user:a', now);
    const id = String(r.detail.event_id);
    const env = (detailType: string, detail: Record<string, unknown>) =>
      toEnvelope({ detailType, detail } as Parameters<typeof toEnvelope>[0], { id: 'e' });
    expect(
      operatorOutcome(r, env('JobSetOk', { ...job, event_id: eventIds.jobSetOk('wf-1', '1.2', 3) })),
    ).toEqual({
      kind: 'applied',
    });
    // Another attempt's, another job's, another request's refusal: not this one's answer.
    expect(operatorOutcome(r, env('JobSetOk', { ...job, attempt: 2 }))).toBeUndefined();
    expect(operatorOutcome(r, env('JobSetOk', { ...job, job_key: '1.1' }))).toBeUndefined();
    expect(
      operatorOutcome(
        r,
        env('OperatorActionRejected', {
          event_id: eventIds.operatorActionRejected('other'),
          reason: 'NotAllowed',
          message: 'm',
        }),
      ),
    ).toBeUndefined();
    expect(
      operatorOutcome(
        r,
        env('OperatorActionRejected', {
          event_id: eventIds.operatorActionRejected(id),
          reason: 'NotAllowed',
          message: 'no',
        }),
      ),
    ).toEqual({ kind: 'rejected', reason: 'NotAllowed', message: 'no' });
    // A rerun's outcome is about the next attempt.
    const rerun = jobRequest('rerun', job, undefined, 'user:a', now);
    expect(operatorOutcome(rerun, env('JobRerunStarted', { ...job, attempt: 4 }))).toEqual({
      kind: 'applied',
    });
    expect(operatorOutcome(rerun, env('JobRerunStarted', { ...job, attempt: 3 }))).toBeUndefined();
    const hold = holdRequest(
      'hold',
      { workflow_id: 'wf', workflow_execution_id: 'wf-1' },
      undefined,
      'user:a',
      now,
    );
    const heldId = eventIds.runHeld(
      { workflow_id: 'wf', workflow_execution_id: 'wf-1' },
      String(hold.detail.event_id),
    );
    expect(operatorOutcome(hold, env('RunHeld', { event_id: heldId }))).toEqual({ kind: 'applied' });
    expect(operatorOutcome(hold, env('RunHeld', { event_id: `${heldId}x` }))).toBeUndefined();
    const pool = poolRequest('wlm', 2, undefined, 'user:a', now);
    const resized = eventIds.poolResized('wlm', String(pool.detail.event_id));
    expect(operatorOutcome(pool, env('PoolResized', { event_id: resized }))).toEqual({ kind: 'applied' });
  });
});

describe('operator command input', () => {
  it('takes a pool name and 0..1000 slots, saying what is wrong otherwise', () => {
    expect(parsePoolName('wlm_etl-1')).toBe('wlm_etl-1');
    expect(() => parsePoolName('wlm etl')).toThrow(UsageError);
    expect(() => parsePoolName('x'.repeat(65))).toThrow(/at most 64/);
    expect(parseSlots('0')).toBe(0);
    expect(parseSlots('1000')).toBe(1000);
    for (const bad of ['1001', '-1', '2.5', '2x', '', ' 3', '1e3'])
      expect(() => parseSlots(bad), bad).toThrow(UsageError);
  });

  it('parses the job, hold and pool commands once for both runtimes, naming what is wrong', () => {
    const local = { home: { type: 'string' } } as const;
    expect(
      parseJobAction('set-ok', ['wf-1', '1.2', '--reason', 'fixed', '--home', 'h'], local),
    ).toMatchObject({
      action: 'set_ok',
      exec: 'wf-1',
      jobKey: '1.2',
      reason: 'fixed',
      values: { home: 'h' },
    });
    expect(parseJobAction('rerun', ['wf-1', '1.2'], local).reason).toBeUndefined();
    expect(() => parseJobAction('bypass', ['wf-1', '1.2'], local)).toThrow(/bypass needs --reason TEXT/);
    expect(() => parseJobAction('rerun', ['wf-1'], local)).toThrow(
      /rerun takes an execution id and a job_key/,
    );
    expect(() => parseJobAction('rerun', ['../x', '1.1'], local)).toThrow(/"\.\.\/x" is not an execution id/);
    // An option of the other runtime is refused, not ignored.
    expect(() => parseJobAction('rerun', ['wf-1', '1.1', '--aws'], local)).toThrow(UsageError);

    expect(parseHold('hold', ['wf', '--reason', 'patch'], local)).toMatchObject({
      id: 'wf',
      reason: 'patch',
    });
    expect(() => parseHold('free', ['wf', '--run', '--workflow'], local)).toThrow(/cannot be used together/);
    expect(() => parseHold('free', [], local)).toThrow(/free takes one workflow_id or execution id/);

    expect(parsePool(['list'], local)).toMatchObject({ sub: 'list' });
    expect(parsePool(['set', 'wlm', '0'], local)).toMatchObject({ sub: 'set', pool: 'wlm', slots: 0 });
    expect(() => parsePool(['list', 'x'], local)).toThrow(/pool list takes no arguments/);
    expect(() => parsePool(['set', 'wlm'], local)).toThrow(
      /pool set takes a pool name and a number of slots/,
    );
    expect(() => parsePool(['drop'], local)).toThrow(/unknown pool command "drop"/);
    expect(() => parsePool([], local)).toThrow(/pool takes set or list/);
  });

  it('checks the job of an action: no run or no job is exit 2, a refusal exit 3, each said once', () => {
    const err: string[] = [];
    const io = {
      stdout: { write: () => true },
      stderr: { write: (t: string) => err.push(t) },
    } as unknown as Io;
    const run = { workflow_execution_id: 'wf-1', execution_status: 'Completed' } as WorkflowAuditRecord;
    const done = { job_key: '1.1', execution_status: 'Completed', attempt: 1 } as JobAuditRecord;
    const a = { action: 'set_ok', exec: 'wf-1', jobKey: '1.1', reason: 'x' } as const;
    expect(checkedJob(io, a, undefined, 'no run wf-1 in h')).toBe(EXIT.usage);
    expect(checkedJob(io, { ...a, jobKey: '9.9' }, { run, jobs: [done] }, '')).toBe(EXIT.usage);
    expect(checkedJob(io, a, { run, jobs: [done] }, '')).toBe(EXIT.rejected);
    expect(checkedJob(io, { ...a, action: 'rerun' }, { run, jobs: [done] }, '')).toBe(done);
    expect(err).toEqual([
      'rsqlo: no run wf-1 in h\n',
      'rsqlo: run wf-1 has no job 9.9 (its jobs: 1.1)\n',
      'rsqlo: request refused (NotAllowed): job 1.1 is Completed: only a Failed or TimedOut job can be set OK\n',
    ]);
  });

  it('lists pools as a table', () => {
    expect(poolTable([])).toMatch(/^no pools yet/);
    expect(
      poolTable([
        { pool: 'wlm', slots: 2, in_use: 2, waiting: 6, created_by: 'definition:wf_a' },
        { pool: 'etl_long_name', slots: 0, in_use: 0, waiting: 0, created_by: 'operator:user:bob' },
      ]),
    ).toBe(
      'POOL           SLOTS  IN USE  WAITING  CREATED BY\n' +
        'wlm                2       2        6  definition:wf_a\n' +
        'etl_long_name      0       0        0  operator:user:bob\n',
    );
  });
});

describe('iam requester', () => {
  it('is iam:<arn>, cut in the middle to the 256 characters the contract takes', () => {
    const arn = 'arn:aws:sts::123456789012:assumed-role/etl-operator/alice';
    expect(requesterFromArn(arn)).toBe(`iam:${arn}`);
    const long = `arn:aws:sts::123456789012:assumed-role/${'r'.repeat(300)}/session-name-end`;
    const cut = requesterFromArn(long);
    expect(cut).toHaveLength(256);
    expect(cut.startsWith('iam:arn:aws:sts::123456789012:assumed-role/')).toBe(true);
    expect(cut.endsWith('/session-name-end')).toBe(true);
  });
});
