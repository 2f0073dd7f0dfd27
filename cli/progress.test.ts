import { describe, expect, it } from 'vitest';
import type { JobAuditRecord, WorkflowAuditRecord } from '../contracts/audit.js';
import { toEnvelope } from '../events/envelope.js';
import { planRun } from '../services/starter/plan.js';
import { lineProgress, liveProgress } from './progress.js';

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
