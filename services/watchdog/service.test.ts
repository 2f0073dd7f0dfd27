/**
 * The run watchdog on its own (its AWS wiring is test/aws/run-watchdog.test.ts): what one check
 * says for each state a run can be in at its deadline, and what it refuses as input. The schedule's
 * Input is written by our own adapter, but a hand-made or replayed schedule is input like any other.
 */
import { describe, expect, it } from 'vitest';
import type { WorkflowStatus } from '../../contracts/audit.js';
import { ContractError, parseContract } from '../../contracts/common.js';
import { RUN_OVERDUE_ERROR, SlaLineInput, WatchedRunInput } from '../../contracts/run-watch.js';
import type { Logger, RunStatusReader } from '../ports.js';
import { createWatchdogService } from './service.js';

const RUN = {
  workflow_id: 'nightly',
  workflow_execution_id: 'nightly-2026-12-06',
  started_at: '2026-12-06T01:00:00.000Z',
  deadline_at: '2026-12-06T07:00:00.000Z',
};

function recordingLogger() {
  const lines: Array<{ level: string; message: string; fields?: Record<string, unknown> }> = [];
  const log: Logger = {
    info: (message, fields) => void lines.push({ level: 'info', message, ...(fields ? { fields } : {}) }),
    warn: (message, fields) => void lines.push({ level: 'warn', message, ...(fields ? { fields } : {}) }),
    error: (message, fields) => void lines.push({ level: 'error', message, ...(fields ? { fields } : {}) }),
  };
  return { log, lines };
}

function readerOf(status: WorkflowStatus | undefined | Error) {
  const asked: string[] = [];
  const runs: RunStatusReader = {
    async status(exec) {
      asked.push(exec);
      if (status instanceof Error) throw status;
      return status;
    },
  };
  return { runs, asked };
}

describe('run watchdog: one check at the deadline', () => {
  it('a run still Running: one RunOverdue error line naming the run, read once', async () => {
    const { log, lines } = recordingLogger();
    const { runs, asked } = readerOf('Running');
    const result = await createWatchdogService({ runs, log }).check(RUN);
    expect(result).toEqual({ outcome: 'overdue', workflow_execution_id: RUN.workflow_execution_id });
    expect(asked).toEqual([RUN.workflow_execution_id]);
    expect(lines).toHaveLength(1);
    expect(lines[0]?.level).toBe('error');
    expect(lines[0]?.fields).toEqual({ error_name: RUN_OVERDUE_ERROR, ...RUN });
  });

  it('a held run (issue 14): a WARN "held past its deadline", not RunOverdue', async () => {
    const { log, lines } = recordingLogger();
    const hold = {
      held: true,
      scope: 'run' as const,
      reason: 'Redshift patching',
      requested_by: 'user:alice',
      requested_at: '2026-12-06T02:00:00.000Z',
      request_id: 'h1',
    };
    const runs = {
      ...readerOf('Running').runs,
      read: async () => ({ status: 'Running' as const, hold_state: hold }),
    };
    const result = await createWatchdogService({ runs, log }).check(RUN);
    expect(result).toEqual({ outcome: 'held', workflow_execution_id: RUN.workflow_execution_id });
    expect(lines).toEqual([
      {
        level: 'warn',
        message: expect.stringContaining('held past its deadline'),
        fields: {
          ...RUN,
          held_by: 'user:alice',
          held_at: '2026-12-06T02:00:00.000Z',
          hold_scope: 'run',
        },
      },
    ]);
    // Freed (held: false kept on the row) and still Running past the deadline: overdue again.
    const freed = {
      ...runs,
      read: async () => ({ status: 'Running' as const, hold_state: { ...hold, held: false } }),
    };
    expect(await createWatchdogService({ runs: freed, log }).check(RUN)).toMatchObject({
      outcome: 'overdue',
    });
  });

  it.each(['Completed', 'Failed', 'Cancelled'] as const)('a run that ended %s: quiet', async (status) => {
    const { log, lines } = recordingLogger();
    const result = await createWatchdogService({ runs: readerOf(status).runs, log }).check(RUN);
    expect(result).toEqual({ outcome: 'ended', workflow_execution_id: RUN.workflow_execution_id, status });
    expect(lines).toEqual([]);
  });

  it('a run that does not exist (deleted, or a schedule made by hand): quiet, said in the result', async () => {
    const { log, lines } = recordingLogger();
    const result = await createWatchdogService({ runs: readerOf(undefined).runs, log }).check(RUN);
    expect(result).toEqual({ outcome: 'unknown-run', workflow_execution_id: RUN.workflow_execution_id });
    expect(lines).toEqual([]);
  });

  it('a failed read fails the check (Scheduler retries it), never a quiet pass', async () => {
    const { log, lines } = recordingLogger();
    const check = createWatchdogService({ runs: readerOf(new Error('throttled')).runs, log }).check(RUN);
    await expect(check).rejects.toThrow('throttled');
    expect(lines).toEqual([]);
  });
});

describe('run watchdog input (the schedule Input)', () => {
  it.each([
    ['no deadline', { ...RUN, deadline_at: undefined }, 'deadline_at'],
    ['an unknown field', { ...RUN, extra: 1 }, 'extra'],
    ['an execution id with a slash', { ...RUN, workflow_execution_id: 'a/b' }, 'workflow_execution_id'],
    ['an empty start', { ...RUN, started_at: '' }, 'started_at'],
  ])('refuses %s, naming the field', (_what, input, field) => {
    let err: unknown;
    try {
      parseContract(WatchedRunInput, input, 'run check');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ContractError);
    expect(String((err as Error).message)).toContain(field);
  });

  it.each([null, 'run', 42, []])('refuses %j outright', (input) => {
    expect(() => parseContract(WatchedRunInput, input, 'run check')).toThrow(ContractError);
  });
});

describe('SLA line check input (an SLA schedule Input)', () => {
  const LINE = {
    workflow_id: 'nightly',
    workflow_execution_id: 'nightly-2026-12-06',
    kind: 'max_duration',
    line_at: '2026-12-06T02:00:00Z',
    line: '3600 s',
    started_at: '2026-12-06T01:00:00.000Z',
  };

  it('accepts a line as the starter writes it, and a start_by one without a start', () => {
    expect(parseContract(SlaLineInput, LINE, 'SLA line check')).toEqual(LINE);
    expect(
      parseContract(SlaLineInput, { ...LINE, kind: 'start_by', started_at: null }, 'x').started_at,
    ).toBeNull();
  });

  it.each([
    ['an unknown kind', { ...LINE, kind: 'whenever' }, 'kind'],
    ['an unknown field', { ...LINE, extra: 1 }, 'extra'],
    ['an execution id with a slash', { ...LINE, workflow_execution_id: 'a/b' }, 'workflow_execution_id'],
    ['no line time', { ...LINE, line_at: undefined }, 'line_at'],
    ['a negative percentile', { ...LINE, p90_seconds: -1 }, 'p90_seconds'],
  ])('refuses %s, naming the field', (_what, input, field) => {
    let err: unknown;
    try {
      parseContract(SlaLineInput, input, 'SLA line check');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ContractError);
    expect(String((err as Error).message)).toContain(field);
  });
});
