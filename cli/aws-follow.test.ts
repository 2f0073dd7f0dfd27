import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { JobAuditRecord, WorkflowAuditRecord } from '../contracts/audit.js';
import { derivedEvents, followRun } from './aws-follow.js';
import { lineProgress } from './progress.js';

const T0 = '2026-01-01T00:00:00.000Z';
const T1 = '2026-01-01T00:00:01.000Z';
const T2 = '2026-01-01T00:00:02.000Z';

function run(status: string, stage: Partial<Record<string, unknown>> = {}): WorkflowAuditRecord {
  return {
    workflow_id: 'wf',
    workflow_execution_id: 'e1',
    execution_status: status,
    execution_start_ts: T0,
    execution_end_ts: status === 'Running' ? null : T2,
    restart_of: null,
    counts: {
      total: 1,
      completed: status === 'Completed' ? 1 : 0,
      failed: 0,
      timed_out: 0,
      cancelled: 0,
      skipped: 0,
    },
    stages: [
      {
        stage: 1,
        execution_type: 'sequential',
        status: 'Running',
        started_at: T0,
        finished_at: null,
        total: 1,
        completed: 0,
        failed: 0,
        timed_out: 0,
        cancelled: 0,
        skipped: 0,
        ...stage,
      },
    ],
  } as unknown as WorkflowAuditRecord;
}

function job(over: Partial<JobAuditRecord>): JobAuditRecord {
  return {
    workflow_execution_id: 'e1',
    job_key: '1.1',
    job_name: 'a.sh',
    stage: 1,
    job_no: 1,
    attempt: 1,
    execution_status: 'Pending',
    execution_start_ts: null,
    execution_end_ts: null,
    exit_code: null,
    error_message: null,
    previous_attempts: [],
    ...over,
  } as JobAuditRecord;
}

const types = (es: ReturnType<typeof derivedEvents>) =>
  es.map(
    (e) =>
      `${e['detail-type']}${(e.detail as { attempt?: number }).attempt ? ` a${(e.detail as { attempt: number }).attempt}` : ''}`,
  );

describe('events told from two reads of the audit tables', () => {
  it('a run seen first: started; a job started; then finished with its stage and the run', () => {
    const first = {
      run: run('Running'),
      jobs: [job({ execution_status: 'Running', execution_start_ts: T0 })],
    };
    expect(types(derivedEvents({ jobs: [] }, first))).toEqual(['WorkflowStarted', 'JobStarted a1']);
    expect(derivedEvents(first, first)).toEqual([]);
    const done = {
      run: run('Completed', { status: 'Completed', finished_at: T2, completed: 1 }),
      jobs: [
        job({ execution_status: 'Completed', execution_start_ts: T0, execution_end_ts: T1, exit_code: 0 }),
      ],
    };
    const out = derivedEvents(first, done);
    expect(types(out)).toEqual(['JobFinished a1', 'StageCompleted', 'WorkflowFinished']);
    expect(out[0]?.detail).toMatchObject({ status: 'Completed', exit_code: 0, duration_ms: 1000 });
  });

  it('a retry that happened between two reads: the failed attempt ends and the next one starts', () => {
    const before = {
      run: run('Running'),
      jobs: [job({ execution_status: 'Running', execution_start_ts: T0 })],
    };
    const after = {
      run: run('Running'),
      jobs: [
        job({
          attempt: 2,
          execution_status: 'Running',
          execution_start_ts: T2,
          previous_attempts: [
            {
              attempt: 1,
              execution_status: 'Failed',
              execution_start_ts: T0,
              execution_end_ts: T1,
              exit_code: 3,
              error_message: 'boom',
              instance_id: null,
              log_location: null,
            },
          ] as never,
        }),
      ],
    };
    const out = derivedEvents(before, after);
    expect(types(out)).toEqual(['JobFinished a1', 'JobStarted a2']);
    expect(out[0]?.detail).toMatchObject({ status: 'Failed', exit_code: 3, error_message: 'boom' });
    // Read again: nothing new.
    expect(derivedEvents(after, after)).toEqual([]);
  });

  it('skipped jobs are not told as finished; a disabled stage that never started is not told', () => {
    const out = derivedEvents(
      { jobs: [] },
      {
        run: run('Completed', { status: 'Skipped', started_at: null }),
        jobs: [job({ execution_status: 'Skipped', skip_reason: 'stage 1 is disabled' })],
      },
    );
    expect(types(out)).toEqual(['WorkflowStarted', 'WorkflowFinished']);
  });

  it('followRun prints each event once as the line view does, and gives up on a run that never starts', async () => {
    const reads = [
      undefined,
      { run: run('Running'), jobs: [job({ execution_status: 'Running', execution_start_ts: T0 })] },
      {
        run: run('Completed', { status: 'Completed', finished_at: T2, completed: 1 }),
        jobs: [
          job({ execution_status: 'Completed', execution_start_ts: T0, execution_end_ts: T1, exit_code: 0 }),
        ],
      },
    ];
    let i = 0;
    let current = reads[0];
    const stageReads: number[] = [];
    const reader = {
      async getRun() {
        current = reads[Math.min(i++, reads.length - 1)];
        return current?.run;
      },
      async getRunRecord() {
        return current?.run;
      },
      async listStageJobs(_e: string, stage: number) {
        stageReads.push(stage);
        return (current?.jobs ?? []).filter((j) => j.stage === stage);
      },
      async listJobs() {
        return current?.jobs ?? [];
      },
    };
    let out = '';
    const ended = await followRun(
      reader,
      'e1',
      lineProgress((s) => (out += s)),
      {
        pollMs: 1,
        startTimeoutMs: 10_000,
        cancel: async () => {},
      },
    );
    expect(ended).toMatchObject({ kind: 'ended', interrupted: false });
    expect(
      out
        .split('\n')
        .filter(Boolean)
        .map((l) => l.slice(14)),
    ).toEqual([
      'workflow wf started as e1: 1 jobs in 1 stages',
      'job 1.1 a.sh started (attempt 1)',
      'job 1.1 a.sh Completed exit 0 1.00 s',
      'stage 1 Completed: 1 completed, 0 failed, 0 skipped of 1',
      'workflow e1 Completed in 2.00 s: 1 completed, 0 failed, 0 timed out, 0 cancelled, 0 skipped',
    ]);
    // Stage 1 was read while it ran and once more when it had ended, then not again.
    expect(stageReads).toEqual([1, 1]);
    const never = await followRun(
      {
        getRun: async () => undefined,
        getRunRecord: async () => undefined,
        listStageJobs: async () => [],
        listJobs: async () => [],
      },
      'e2',
      lineProgress(() => {}),
      { pollMs: 1, startTimeoutMs: 20, cancel: async () => {} },
    );
    expect(never).toEqual({ kind: 'not-started', interrupted: false });
  });

  it('Ctrl-C cancels the run once and follows it to its end; a second Ctrl-C leaves it running', async () => {
    const running = {
      run: run('Running'),
      jobs: [job({ execution_status: 'Running', execution_start_ts: T0 })],
    };
    const cancelled = {
      run: run('Cancelled', { status: 'Cancelled', finished_at: T2 }),
      jobs: [job({ execution_status: 'Cancelled', execution_start_ts: T0, execution_end_ts: T1 })],
    };
    let state = running;
    const cancels: string[] = [];
    const reader = {
      getRun: async () => state.run,
      getRunRecord: async () => state.run,
      listStageJobs: async () => state.jobs,
      listJobs: async () => state.jobs,
    };
    const signals = new EventEmitter();
    const followed = followRun(
      reader,
      'e1',
      lineProgress(() => {}),
      {
        pollMs: 5,
        startTimeoutMs: 1000,
        signals,
        cancel: async () => {
          cancels.push('cancel');
          state = cancelled; // the stack cancels it
        },
      },
    );
    await new Promise((r) => setTimeout(r, 20));
    signals.emit('SIGINT');
    expect(await followed).toMatchObject({
      kind: 'ended',
      interrupted: true,
      run: { execution_status: 'Cancelled' },
    });
    expect(cancels).toEqual(['cancel']);
    expect(signals.listenerCount('SIGINT')).toBe(0);

    state = running;
    const left = followRun(
      reader,
      'e1',
      lineProgress(() => {}),
      {
        pollMs: 5,
        startTimeoutMs: 1000,
        signals,
        cancel: async () => {
          cancels.push('cancel again');
        },
      },
    );
    await new Promise((r) => setTimeout(r, 20));
    signals.emit('SIGINT');
    signals.emit('SIGTERM');
    expect(await left).toMatchObject({ kind: 'left' });
    expect(cancels).toEqual(['cancel', 'cancel again']);
  });

  it('a run that ended while some job rows are not final yet is followed until they are', async () => {
    const ended = run('Cancelled', { status: 'Cancelled', finished_at: T2 });
    const pending = job({ job_key: '1.2', job_no: 2, execution_status: 'Pending' });
    let reads = 0;
    const reader = {
      getRun: async () => ended,
      getRunRecord: async () => ended,
      listStageJobs: async () => [],
      // The skipped row lands on the third read.
      listJobs: async () =>
        ++reads < 3 ? [pending] : [{ ...pending, execution_status: 'Skipped' as const }],
    };
    const out = await followRun(
      reader,
      'e1',
      lineProgress(() => {}),
      {
        pollMs: 1,
        startTimeoutMs: 1000,
        cancel: async () => {},
      },
    );
    expect(out).toMatchObject({ kind: 'ended', jobs: [{ job_key: '1.2', execution_status: 'Skipped' }] });
    expect(reads).toBe(3);
  });
});
