import { describe, expect, it } from 'vitest';
import {
  countField,
  emptyCounts,
  IN_FLIGHT_JOB_STATUSES,
  isForwardTransition,
  isTerminalJobStatus,
  JOB_STATUSES,
  type JobAuditRecord,
  JobAuditRecord as JobAuditRecordSchema,
  type JobStatus,
  jobKey,
  parseJobKey,
  TERMINAL_JOB_STATUSES,
  WorkflowAuditRecord,
} from './audit.js';

const LIFECYCLE: JobStatus[] = ['Pending', 'Queued', 'Dispatched', 'Running'];
const FINAL: JobStatus[] = ['Completed', 'Failed', 'TimedOut', 'Cancelled', 'Skipped'];

const at = (attempt: number, status: JobStatus) => ({ attempt, status });

describe('job statuses', () => {
  it('splits into the in-flight lifecycle and the final statuses', () => {
    expect([...JOB_STATUSES]).toEqual([...LIFECYCLE, ...FINAL]);
    expect([...TERMINAL_JOB_STATUSES]).toEqual(FINAL);
    for (const s of JOB_STATUSES) expect(isTerminalJobStatus(s), s).toBe(FINAL.includes(s));
    expect([...IN_FLIGHT_JOB_STATUSES]).toEqual(['Queued', 'Dispatched', 'Running']);
  });
});

describe('isForwardTransition within one attempt', () => {
  it('moves forward along Pending → Queued → Dispatched → Running → a final status, skipping steps allowed', () => {
    const order = [...LIFECYCLE];
    for (let i = 0; i < order.length; i++) {
      for (let j = i + 1; j < order.length; j++) {
        expect(isForwardTransition(at(1, order[i]!), at(1, order[j]!)), `${order[i]} → ${order[j]}`).toBe(
          true,
        );
      }
      for (const f of FINAL)
        expect(isForwardTransition(at(1, order[i]!), at(1, f)), `${order[i]} → ${f}`).toBe(true);
    }
  });

  it('never moves backwards or stays put (a duplicate write is a no-op)', () => {
    for (let i = 0; i < LIFECYCLE.length; i++) {
      for (let j = 0; j <= i; j++) {
        expect(
          isForwardTransition(at(2, LIFECYCLE[i]!), at(2, LIFECYCLE[j]!)),
          `${LIFECYCLE[i]} → ${LIFECYCLE[j]}`,
        ).toBe(false);
      }
    }
  });

  it('never leaves a final status, not even for another final status', () => {
    for (const from of FINAL) {
      for (const to of JOB_STATUSES) {
        expect(isForwardTransition(at(1, from), at(1, to)), `${from} → ${to}`).toBe(false);
      }
    }
  });

  it('a late JobStarted (Running) after JobFinished changes nothing', () => {
    expect(isForwardTransition(at(1, 'Completed'), at(1, 'Running'))).toBe(false);
    expect(isForwardTransition(at(1, 'TimedOut'), at(1, 'Running'))).toBe(false);
  });
});

describe('isForwardTransition across attempts', () => {
  it('a retry (a later attempt) may only follow a Failed or TimedOut attempt', () => {
    for (const from of JOB_STATUSES) {
      const expected = from === 'Failed' || from === 'TimedOut';
      expect(isForwardTransition(at(1, from), at(2, 'Pending')), `${from} → attempt 2`).toBe(expected);
    }
  });

  it('a Completed, Cancelled or Skipped job never runs again', () => {
    for (const from of ['Completed', 'Cancelled', 'Skipped'] as const) {
      for (const to of JOB_STATUSES)
        expect(isForwardTransition(at(1, from), at(2, to)), `${from} → ${to}@2`).toBe(false);
    }
  });

  it('reports for an attempt the job has left behind change nothing', () => {
    for (const from of JOB_STATUSES) {
      for (const to of JOB_STATUSES)
        expect(isForwardTransition(at(3, from), at(2, to)), `${from}@3 ← ${to}@2`).toBe(false);
    }
  });

  it('an attempt still in flight is never replaced by a later one', () => {
    for (const from of LIFECYCLE)
      expect(isForwardTransition(at(1, from), at(2, 'Pending')), from).toBe(false);
  });

  it('the later attempt may arrive in any status (reordered deliveries)', () => {
    for (const to of JOB_STATUSES) expect(isForwardTransition(at(1, 'Failed'), at(2, to)), to).toBe(true);
  });
});

describe('countField', () => {
  it('maps each final status to its counter, and every counter exists in JobCounts', () => {
    const counts = emptyCounts(5);
    const fields = TERMINAL_JOB_STATUSES.map(countField);
    expect(fields).toEqual(['completed', 'failed', 'timed_out', 'cancelled', 'skipped']);
    for (const f of fields) expect(counts[f]).toBe(0);
    expect(new Set(fields).size).toBe(fields.length);
  });

  it('emptyCounts starts every outcome at zero with the given total', () => {
    expect(emptyCounts()).toEqual({
      total: 0,
      completed: 0,
      failed: 0,
      timed_out: 0,
      cancelled: 0,
      skipped: 0,
    });
    expect(emptyCounts(7).total).toBe(7);
  });
});

describe('jobKey / parseJobKey', () => {
  it('formats <stage>.<job>', () => {
    expect(jobKey(2, 1)).toBe('2.1');
    expect(jobKey(10, 12)).toBe('10.12');
  });

  it('round-trips', () => {
    for (const [s, j] of [
      [1, 1],
      [2, 10],
      [123, 4567],
    ] as const) {
      expect(parseJobKey(jobKey(s, j))).toEqual({ stage: s, jobNo: j });
    }
  });

  it('orders numerically, not as text, once parsed', () => {
    const keys = ['1.10', '1.2', '10.1', '2.1'].map(parseJobKey);
    keys.sort((a, b) => a.stage - b.stage || a.jobNo - b.jobNo);
    expect(keys.map((k) => jobKey(k.stage, k.jobNo))).toEqual(['1.2', '1.10', '2.1', '10.1']);
  });
});

describe('audit records', () => {
  const job: JobAuditRecord = {
    job_name: 'rsql_blog_script_3.sh',
    workflow_execution_id: 'demo_test_26',
    workflow_id: 'blog_test_workflow',
    execution_start_ts: '2024-05-01T10:00:00.000Z',
    execution_end_ts: null,
    execution_status: 'Running',
    instance_id: 'i-0123456789abcdef0',
    ssm_command_id: 'c0ffee00-0000-4000-8000-000000000000',
    job_key: '2.1',
    stage: 2,
    job_no: 1,
    attempt: 1,
    max_attempts: 1,
    exit_code: null,
    error_message: null,
    log_location: '/ops/rsql-logs/demo_test_26/2.1/a1',
    skip_reason: null,
    args: [],
    timeout_seconds: 86_400,
    heartbeat_seconds: 300,
    retry_backoff_seconds: 30,
    retry_backoff_rate: 2,
    not_before: null,
    counted: false,
    previous_attempts: [],
  };

  it('a job row with the seed attribute names parses', () => {
    expect(JobAuditRecordSchema.parse(job)).toEqual(job);
  });

  it('a job row with an unknown status or a bad key is refused', () => {
    expect(JobAuditRecordSchema.safeParse({ ...job, execution_status: 'Succeeded' }).success).toBe(false);
    expect(JobAuditRecordSchema.safeParse({ ...job, job_key: '2' }).success).toBe(false);
    expect(JobAuditRecordSchema.safeParse({ ...job, attempt: 0 }).success).toBe(false);
  });

  it('a workflow row carries the seed attributes plus per-stage progress', () => {
    const stage = {
      stage: 1,
      stage_description: 'Schema & Table Creation Stage',
      execution_type: 'sequential' as const,
      enabled: true,
      max_concurrency: null,
      status: 'Running' as const,
      started_at: '2024-05-01T10:00:00.000Z',
      finished_at: null,
      cursor: 1,
      launched: 1,
      finished: 0,
      pre_skipped: 0,
      ...emptyCounts(2),
    };
    const run = {
      workflow_execution_id: 'demo_test_26',
      workflow_id: 'blog_test_workflow',
      execution_start_ts: '2024-05-01T10:00:00.000Z',
      execution_end_ts: null,
      execution_status: 'Running' as const,
      rsql_jobs: ['rsql_blog_script_1.sh', 'rsql_blog_script_2.sh'],
      workflow_description: 'Test Workflow for Blog',
      restart_of: null,
      current_stage: 1,
      cancel_requested: false,
      parameters: {},
      stages: [stage],
      counts: emptyCounts(2),
      failed_jobs: [],
    };
    expect(WorkflowAuditRecord.parse(run)).toEqual(run);
    expect(WorkflowAuditRecord.safeParse({ ...run, execution_status: 'Pending' }).success).toBe(false);
  });

  const setOk = {
    action_id: 'req-1',
    action: 'set_ok' as const,
    job_key: '2.1',
    attempt: 1,
    previous_status: 'Failed',
    reason: 'fixed by hand',
    requested_by: 'user:oncall',
    requested_at: '2024-05-01T11:00:00.000Z',
    applied_at: '2024-05-01T11:00:00.120Z',
  };

  it('a job row written before issue 14 (no pool, waiting_for or operator_actions) still parses', () => {
    const r = JobAuditRecordSchema.parse(job);
    expect(r).not.toHaveProperty('pool');
    expect(r).not.toHaveProperty('operator_actions');
  });

  it('a job row carries its pool, what it waits for and its operator actions', () => {
    const row = {
      ...job,
      execution_status: 'Queued' as const,
      pool: 'wlm',
      pool_slots_default: 2,
      waiting_for: 'pool:wlm',
      operator_actions: [setOk],
    };
    expect(JobAuditRecordSchema.parse(row)).toEqual(row);
    expect(JobAuditRecordSchema.parse({ ...row, waiting_for: 'hold' }).waiting_for).toBe('hold');
    expect(JobAuditRecordSchema.parse({ ...row, pool: null, waiting_for: null }).pool).toBeNull();
  });

  it('refuses a waiting_for that is neither hold nor pool:<NAME>, and a bad operator action', () => {
    const bad = (over: Record<string, unknown>) => {
      const r = JobAuditRecordSchema.safeParse({ ...job, ...over });
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(bad({ waiting_for: 'pool:' })).toEqual(['waiting_for: must be "hold" or "pool:<NAME>"']);
    expect(bad({ waiting_for: 'slot' })).toEqual(['waiting_for: must be "hold" or "pool:<NAME>"']);
    expect(bad({ operator_actions: [{ ...setOk, action: 'delete' }] })[0]).toMatch(
      /^operator_actions\.0\.action/,
    );
    expect(bad({ operator_actions: [{ ...setOk, requested_by: '' }] })).toEqual([
      'operator_actions.0.requested_by: must not be empty',
    ]);
    expect(bad({ operator_actions: Array(21).fill(setOk) })[0]).toMatch(/^operator_actions: /);
    expect(bad({ pool_slots_default: 1001 })[0]).toMatch(/^pool_slots_default: must be at most 1000/);
  });

  it('a run row carries its hold state, generation, operator actions and created pools', () => {
    const base = {
      workflow_execution_id: 'demo_test_26',
      workflow_id: 'blog_test_workflow',
      execution_start_ts: '2024-05-01T10:00:00.000Z',
      execution_end_ts: null,
      execution_status: 'Running' as const,
      rsql_jobs: [],
      workflow_description: null,
      restart_of: null,
      current_stage: 1,
      cancel_requested: false,
      parameters: {},
      stages: [],
      counts: emptyCounts(0),
      failed_jobs: [],
    };
    expect(WorkflowAuditRecord.parse(base)).not.toHaveProperty('hold_state');
    const run = {
      ...base,
      hold_state: {
        held: true,
        scope: 'workflow' as const,
        reason: 'patching',
        requested_by: 'user:oncall',
        requested_at: '2024-05-01T09:00:00.000Z',
        request_id: 'req-h',
      },
      generation: 1,
      operator_actions: [setOk],
      operator_action_count: 1,
      pools_created: [{ pool: 'wlm', slots: 2, source: 'definition' as const }],
    };
    expect(WorkflowAuditRecord.parse(run)).toEqual(run);
    expect(WorkflowAuditRecord.safeParse({ ...run, generation: -1 }).success).toBe(false);
    expect(WorkflowAuditRecord.safeParse({ ...run, hold_state: { held: true } }).success).toBe(false);
    expect(
      WorkflowAuditRecord.safeParse({ ...run, pools_created: [{ pool: 'wlm', slots: 2, source: 'x' }] })
        .success,
    ).toBe(false);
    expect(WorkflowAuditRecord.safeParse({ ...run, operator_actions: Array(51).fill(setOk) }).success).toBe(
      false,
    );
  });
});
