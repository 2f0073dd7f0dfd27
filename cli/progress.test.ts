import { describe, expect, it } from 'vitest';
import type { JobAuditRecord, WorkflowAuditRecord } from '../contracts/audit.js';
import { toEnvelope } from '../events/envelope.js';
import { planRun } from '../services/starter/plan.js';
import { jobStatusText, lineProgress, liveProgress, runStatusText } from './progress.js';
import { statusText } from './read-commands.js';

const plan = planRun({
  definition: {
    workflow_id: 'wf',
    workflow_stages: [
      { execution_flag: 'y', execution_type: 'sequential', scripts: ['a.sh', 'b.sh'] },
      { execution_flag: 'n', execution_type: 'parallel', scripts: ['c.sh'] },
    ],
  },
  workflowExecutionId: 'wf-1',
  now: new Date('2026-01-01T00:00:00.000Z'),
  parameters: {},
});

function finished(key: string, status: 'Completed' | 'Failed', exit: number, error: string | null) {
  return toEnvelope(
    {
      detailType: 'JobFinished',
      detail: {
        version: 1,
        event_id: `JobFinished:wf-1:${key}:a1`,
        occurred_at: '2026-01-01T00:00:01.250Z',
        workflow_id: 'wf',
        workflow_execution_id: 'wf-1',
        job_key: key,
        job_name: 'a.sh',
        stage: 1,
        attempt: 1,
        status,
        exit_code: exit,
        error_message: error,
        started_at: '2026-01-01T00:00:00.000Z',
        finished_at: '2026-01-01T00:00:01.250Z',
        duration_ms: 1250,
        instance_id: 'local',
        ssm_command_id: null,
        log_location: '/x.log',
        reported_by: 'agent',
      },
    },
    { id: `env-${key}` },
  );
}

describe('line progress', () => {
  it('prints one line per event, once per event id, with the last error line of a failure', () => {
    let out = '';
    const p = lineProgress((s) => {
      out += s;
    });
    p.event(finished('1.1', 'Completed', 0, null));
    p.event(finished('1.1', 'Completed', 0, null)); // a duplicate delivery
    p.event(finished('1.2', 'Failed', 12, 'first line\nERROR: relation "x" does not exist'));
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^00:00:01\.250 {2}job 1\.1 a\.sh Completed exit 0 1\.25 s$/);
    expect(lines[1]).toContain('job 1.2 a.sh Failed exit 12 1.25 s: ERROR: relation "x" does not exist');
  });
});

describe('live progress', () => {
  it('draws stages and the running stage jobs, then redraws in place only when something changed', () => {
    let out = '';
    const p = liveProgress(
      (s) => {
        out += s;
      },
      () => 40,
    );
    const run: WorkflowAuditRecord = plan.run;
    const jobs: JobAuditRecord[] = plan.jobs.map((j) =>
      j.job_key === '1.1'
        ? { ...j, execution_status: 'Running', execution_start_ts: '2026-01-01T00:00:00.000Z' }
        : j,
    );
    p.refresh(run, () => jobs);
    const first = out;
    expect(first).toContain('wf  wf-1');
    expect(first).toMatch(/stage 1 {2}sequential/);
    expect(first).toMatch(/1\.1 +a\.sh/);
    expect(first).toMatch(/stage 2 {2}parallel/);
    expect(first).not.toContain('\u001b[1A'); // nothing to move over yet
    const lines = first.trim().split('\n').length;
    const done = jobs.map((j) =>
      j.job_key === '1.1'
        ? { ...j, execution_status: 'Completed' as const, execution_end_ts: '2026-01-01T00:00:01.000Z' }
        : j,
    );
    const ended = { ...run, execution_end_ts: '2026-01-01T00:00:02.000Z' };
    p.refresh(ended, () => done);
    const second = out.slice(first.length);
    // The view is redrawn in place: cursor up over the old one, clear, then the new one.
    expect(second.startsWith(`\u001b[${lines}A\u001b[J`)).toBe(true);
    expect(second).toMatch(/1\.1 +a\.sh +\S*Completed/);
    p.refresh(ended, () => done);
    expect(out.length).toBe(first.length + second.length); // nothing changed: nothing written
  });
});

describe('operator actions and pools in the progress views and status', () => {
  const ev = (detailType: string, detail: Record<string, unknown>, id: string) =>
    toEnvelope({ detailType, detail } as Parameters<typeof toEnvelope>[0], { id });

  it('says each outcome and refusal as one line, a new pool once (event or run), and no line for a freed slot', () => {
    let out = '';
    const p = lineProgress((s) => {
      out += s;
    });
    const at = '2026-01-01T00:00:02.000Z';
    p.event(
      ev(
        'JobSetOk',
        {
          event_id: 'JobSetOk:wf-1:1.2:a1',
          occurred_at: at,
          workflow_id: 'wf',
          workflow_execution_id: 'wf-1',
          job_key: '1.2',
          job_name: 'b.sh',
          previous_status: 'Failed',
          reason: 'fixed by hand',
          requested_by: 'user:alice',
          run_continues: true,
        },
        'e1',
      ),
    );
    p.event(
      ev(
        'OperatorActionRejected',
        {
          event_id: 'OperatorActionRejected:r1',
          occurred_at: at,
          action: 'bypass',
          job_key: '1.1',
          pool: null,
          reason: 'NotAllowed',
          message: 'job 1.1 has started (Running)',
        },
        'e2',
      ),
    );
    const created = {
      event_id: 'PoolCreated:wlm',
      occurred_at: at,
      pool: 'wlm',
      slots: 2,
      source: 'definition',
      workflow_id: 'wf',
      workflow_execution_id: 'wf-1',
    };
    p.event(ev('PoolCreated', created, 'e3'));
    p.event(ev('PoolSlotFreed', { event_id: 'PoolSlotFreed:wlm:x', occurred_at: at, pool: 'wlm' }, 'e4'));
    // The run says the same pool was created: not said again.
    p.refresh({ ...plan.run, pools_created: [{ pool: 'wlm', slots: 2, source: 'definition' }] }, () => []);
    const lines = out.trim().split('\n');
    expect(lines).toEqual([
      '00:00:02.000  job 1.2 b.sh set OK (was Failed) by user:alice: fixed by hand; the run goes on',
      '00:00:02.000  bypass of job 1.1 refused (NotAllowed): job 1.1 has started (Running)',
      '00:00:02.000  pool wlm created with 2 slots (from the definition of wf)',
    ]);
    // A follower that only reads the run (--aws) says it from pools_created, once.
    let aws = '';
    const q = lineProgress((s) => {
      aws += s;
    });
    const run = { ...plan.run, pools_created: [{ pool: 'etl', slots: 1, source: 'default' as const }] };
    q.refresh(run, () => []);
    q.refresh(run, () => []);
    expect(aws.match(/pool etl created with 1 slot \(the default/g)).toHaveLength(1);
  });

  it('shows Held, waiting for pool, set OK by whom and why, and bypassed', () => {
    expect(runStatusText({ execution_status: 'Running', hold_state: null })).toBe('Running');
    const hold = {
      held: true,
      scope: 'run' as const,
      reason: 'patching',
      requested_by: 'user:alice',
      requested_at: '2026-01-01T00:00:00.000Z',
      request_id: 'HoldRequested:1',
    };
    expect(runStatusText({ execution_status: 'Running', hold_state: hold })).toBe('Held');
    // A finished run is what it is, even if its last hold state says held.
    expect(runStatusText({ execution_status: 'Completed', hold_state: hold })).toBe('Completed');
    const job = plan.jobs[0] as JobAuditRecord;
    expect(jobStatusText({ ...job, execution_status: 'Queued', waiting_for: 'pool:wlm' })).toBe(
      'Queued — waiting for pool wlm',
    );
    expect(jobStatusText({ ...job, execution_status: 'Queued', waiting_for: 'hold' })).toBe('Queued — held');
    const setOk = {
      action_id: 'JobSetOkRequested:1',
      action: 'set_ok' as const,
      job_key: '1.1',
      attempt: 1,
      previous_status: 'Failed',
      reason: 'fixed by hand',
      requested_by: 'user:alice',
      requested_at: '2026-01-01T00:00:00.000Z',
      applied_at: '2026-01-01T00:00:00.100Z',
    };
    expect(jobStatusText({ ...job, execution_status: 'Completed', operator_actions: [setOk] })).toBe(
      'Completed (set OK by user:alice: fixed by hand)',
    );
    expect(jobStatusText({ ...job, execution_status: 'Completed' })).toBe('Completed');
    expect(
      jobStatusText({ ...job, execution_status: 'Skipped', skip_reason: 'bypassed: not needed today' }),
    ).toBe('Skipped (bypassed: not needed today)');
    expect(jobStatusText({ ...job, execution_status: 'Skipped', skip_reason: 'completed in run x' })).toBe(
      'Skipped',
    );
    // status prints them, the hold line and the operator actions of the run.
    const text = statusText(
      {
        ...plan.run,
        execution_status: 'Running',
        hold_state: hold,
        operator_actions: [{ ...setOk, action: 'hold' }],
      },
      [{ ...job, execution_status: 'Queued', waiting_for: 'pool:wlm' }],
    );
    expect(text).toMatch(/^wf {2}wf-1 {2}Held\n/);
    expect(text).toContain(
      '  held by user:alice since 2026-01-01T00:00:00.000Z (patching): no new job starts until freed',
    );
    expect(text).toMatch(/1\.1 +a\.sh +Queued — waiting for pool wlm/);
    expect(text).toContain('    2026-01-01T00:00:00.100Z  hold 1.1 (attempt 1) by user:alice: fixed by hand');
  });
});
