import { describe, expect, it } from 'vitest';
import {
  type JobAuditRecord,
  JobAuditRecord as JobAuditRecordSchema,
  WorkflowAuditRecord,
} from '../../contracts/audit.js';
import {
  validateDefinition,
  type WorkflowDefinition,
  type WorkflowDefinitionInput,
} from '../../contracts/workflow.js';
import { BLOG_WORKFLOW, parallel, sequential, workflow } from '../testing/fixtures.js';
import { jobPolicy, planRun } from './plan.js';

const NOW = new Date('2024-03-01T12:00:00.000Z');

function def(input: WorkflowDefinitionInput): WorkflowDefinition {
  const r = validateDefinition(input);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.definition;
}

function plan(
  input: WorkflowDefinitionInput,
  restart?: Parameters<typeof planRun>[0]['restart'],
  exec = 'run-2',
) {
  return planRun({ definition: def(input), workflowExecutionId: exec, now: NOW, parameters: {}, restart });
}

describe('planRun', () => {
  it('plans the seed workflow: one Pending row per script, stage 1 running', () => {
    const p = plan(BLOG_WORKFLOW, undefined, 'blog-1');
    expect(p.jobs.map((j) => [j.job_key, j.job_name, j.execution_status])).toEqual([
      ['1.1', 'rsql_blog_script_1.sh', 'Pending'],
      ['1.2', 'rsql_blog_script_2.sh', 'Pending'],
      ['2.1', 'rsql_blog_script_3.sh', 'Pending'],
      ['2.2', 'rsql_blog_script_4.sh', 'Pending'],
    ]);
    expect(p.firstStage).toBe(1);
    expect(p.run.execution_status).toBe('Running');
    expect(p.run.current_stage).toBe(1);
    expect(p.run.rsql_jobs).toEqual(p.jobs.map((j) => j.job_name));
    expect(p.run.stages.map((s) => [s.status, s.execution_type, s.total, s.started_at])).toEqual([
      ['Running', 'sequential', 2, NOW.toISOString()],
      ['Pending', 'parallel', 2, null],
    ]);
    expect(p.run.counts).toEqual({
      total: 4,
      completed: 0,
      failed: 0,
      timed_out: 0,
      cancelled: 0,
      skipped: 0,
    });
    expect(WorkflowAuditRecord.safeParse(p.run).success).toBe(true);
    for (const j of p.jobs) expect(JobAuditRecordSchema.safeParse(j).success).toBe(true);
  });

  it('skips the jobs of a disabled stage from the start, counted, with the reason', () => {
    const p = plan(
      workflow('wf', [
        sequential(['a.sh'], { enabled: false }),
        parallel(['b.sh', 'c.sh']),
        sequential(['d.sh']),
      ]),
    );
    const a = p.jobs[0] as JobAuditRecord;
    expect(a.execution_status).toBe('Skipped');
    expect(a.skip_reason).toBe('stage 1 is disabled (execution_flag "n")');
    expect(a.counted).toBe(true);
    expect(p.firstStage).toBe(2);
    expect(p.run.current_stage).toBe(2);
    expect(p.run.stages.map((s) => s.status)).toEqual(['Skipped', 'Running', 'Pending']);
    expect(p.run.stages[0]).toMatchObject({ pre_skipped: 1, skipped: 1, enabled: false });
    expect(p.run.counts.skipped).toBe(1);
  });

  it('ends a run with nothing to run at once, Completed', () => {
    const p = plan(
      workflow('wf', [sequential(['a.sh'], { enabled: false }), parallel(['b.sh'], { enabled: false })]),
    );
    expect(p.firstStage).toBeNull();
    expect(p.run.execution_status).toBe('Completed');
    expect(p.run.execution_end_ts).toBe(NOW.toISOString());
    expect(p.run.current_stage).toBeNull();
    expect(p.jobs.every((j) => j.execution_status === 'Skipped' && j.counted)).toBe(true);
  });

  it('on restart skips what completed in the run restarted and plans the rest', () => {
    const wf = workflow('wf', [sequential(['a.sh', 'b.sh']), parallel(['c.sh', 'd.sh'])]);
    const first = plan(wf, undefined, 'run-1');
    const prevJobs = first.jobs.map((j) =>
      j.job_key === '1.1'
        ? { ...j, execution_status: 'Completed' as const }
        : j.job_key === '1.2'
          ? { ...j, execution_status: 'Failed' as const }
          : { ...j, execution_status: 'Skipped' as const, skip_reason: 'not started: stage 1 failed' },
    );
    const p = plan(wf, { run: { ...first.run, execution_status: 'Failed' }, jobs: prevJobs });
    expect(p.jobs.map((j) => [j.job_key, j.execution_status, j.skip_reason])).toEqual([
      ['1.1', 'Skipped', 'completed in run run-1'],
      ['1.2', 'Pending', null],
      ['2.1', 'Pending', null],
      ['2.2', 'Pending', null],
    ]);
    expect(p.run.restart_of).toBe('run-1');
    expect(p.run.stages[0]).toMatchObject({ status: 'Running', pre_skipped: 1, skipped: 1 });
  });

  it('follows a chain of restarts to the run a job really completed in', () => {
    const wf = workflow('wf', [sequential(['a.sh', 'b.sh', 'c.sh'])]);
    const base = plan(wf, undefined, 'run-2').jobs;
    const prevJobs = base.map((j) =>
      j.job_key === '1.1'
        ? { ...j, execution_status: 'Skipped' as const, skip_reason: 'completed in run run-1' }
        : j.job_key === '1.2'
          ? { ...j, execution_status: 'Completed' as const }
          : { ...j, execution_status: 'Failed' as const },
    );
    const p = plan(
      wf,
      { run: { ...plan(wf, undefined, 'run-2').run, execution_status: 'Failed' }, jobs: prevJobs },
      'run-3',
    );
    expect(p.jobs.map((j) => j.skip_reason)).toEqual([
      'completed in run run-1',
      'completed in run run-2',
      null,
    ]);
  });

  it('runs a job again when the script at its position changed since the run restarted', () => {
    const before = workflow('wf', [sequential(['a.sh', 'b.sh'])]);
    const after = workflow('wf', [sequential(['a_v2.sh', 'b.sh'])]);
    const prev = plan(before, undefined, 'run-1');
    const done = prev.jobs.map((j) => ({ ...j, execution_status: 'Completed' as const }));
    const p = plan(after, { run: { ...prev.run, execution_status: 'Cancelled' }, jobs: done });
    expect(p.jobs.map((j) => [j.job_name, j.execution_status])).toEqual([
      ['a_v2.sh', 'Pending'],
      ['b.sh', 'Skipped'],
    ]);
  });
});

describe('jobPolicy', () => {
  it('takes the script settings over the workflow defaults over rsqlo defaults', () => {
    const d = def(
      workflow(
        'wf',
        [
          sequential([
            'plain.sh',
            { script: 'own.sh', args: ['--full'], timeout_seconds: 60, heartbeat_seconds: 20, retries: 3 },
          ]),
        ],
        { defaults: { timeout_seconds: 600, retries: 1, retry_backoff_seconds: 7, retry_backoff_rate: 1.5 } },
      ),
    );
    expect(jobPolicy(d, 0, 0)).toEqual({
      args: [],
      timeout_seconds: 600,
      heartbeat_seconds: 300,
      max_attempts: 2,
      retry_backoff_seconds: 7,
      retry_backoff_rate: 1.5,
      pool: null,
      pool_slots_default: null,
    });
    expect(jobPolicy(d, 0, 1)).toEqual({
      args: ['--full'],
      timeout_seconds: 60,
      heartbeat_seconds: 20,
      max_attempts: 4,
      retry_backoff_seconds: 7,
      retry_backoff_rate: 1.5,
      pool: null,
      pool_slots_default: null,
    });
  });

  it('without settings, a job runs once with a day to finish', () => {
    const p = jobPolicy(def(workflow('wf', [sequential(['a.sh'])])), 0, 0);
    expect(p.max_attempts).toBe(1);
    expect(p.timeout_seconds).toBe(86_400);
  });

  it("takes a script's own pool over its stage's, sized by the workflow's pools, else 1 slot", () => {
    const d = def(
      workflow(
        'wf',
        [
          {
            ...parallel(['a.sh', { script: 'b.sh', pool: 'batch' }, { script: 'c.sh', pool: 'adhoc' }]),
            pool: 'wlm',
          },
          sequential(['d.sh', { script: 'e.sh', pool: 'constructor' }]),
        ],
        { pools: { wlm: 2, batch: 0 } },
      ),
    );
    const pools = [
      [0, 0],
      [0, 1],
      [0, 2],
      [1, 0],
      [1, 1],
    ].map(([s, j]) => {
      const p = jobPolicy(d, s ?? 0, j ?? 0);
      return [p.pool, p.pool_slots_default];
    });
    expect(pools).toEqual([
      ['wlm', 2], // the stage's pool, sized by the definition
      ['batch', 0], // the script's own wins; 0 (drained) is kept, not taken for "unset"
      ['adhoc', 1], // named nowhere in pools: 1 slot
      [null, null], // no pool anywhere
      ['constructor', 1], // an inherited property of {} is not a size
    ]);
  });
});

describe('planRun with pools', () => {
  it('copies pool and pool_slots_default onto the rows of jobs that have a pool, and only those', () => {
    const p = plan(
      workflow(
        'wf',
        [{ ...sequential(['a.sh', { script: 'b.sh', pool: 'adhoc' }]), pool: 'wlm' }, sequential(['c.sh'])],
        {
          pools: { wlm: 3 },
        },
      ),
    );
    expect(p.jobs.map((j) => [j.job_key, j.pool, j.pool_slots_default])).toEqual([
      ['1.1', 'wlm', 3],
      ['1.2', 'adhoc', 1],
      ['2.1', undefined, undefined],
    ]);
    // A pool-less row has no pool fields at all (rows of existing workflows are unchanged).
    expect(Object.keys(p.jobs[2] ?? {})).not.toContain('pool');
    for (const j of p.jobs) expect(JobAuditRecordSchema.parse(j)).toEqual(j);
  });

  it('keeps the pool on the rows a restart skips, so the row says where the job would have run', () => {
    const input = workflow('wf', [{ ...sequential(['a.sh', 'b.sh']), pool: 'wlm' }]);
    const first = plan(input, undefined, 'run-1');
    const done = first.jobs.map((j, i) =>
      i === 0
        ? { ...j, execution_status: 'Completed' as const }
        : { ...j, execution_status: 'Failed' as const },
    );
    const p = plan(input, { run: { ...first.run, execution_status: 'Failed' }, jobs: done });
    expect(p.jobs.map((j) => [j.execution_status, j.pool, j.pool_slots_default])).toEqual([
      ['Skipped', 'wlm', 1],
      ['Pending', 'wlm', 1],
    ]);
  });
});
