import { describe, expect, it } from 'vitest';
import { BLOG_WORKFLOW as BLOG_EXAMPLE } from '../../contracts/examples.js';
import {
  validateDefinition,
  type WorkflowDefinition,
  type WorkflowDefinitionInput,
} from '../../contracts/workflow.js';
import { BLOG_WORKFLOW, parallel, sequential, workflow } from '../testing/fixtures.js';
import {
  ATTEMPT_OVERHEAD_SECONDS,
  deadlineAt,
  MAX_RUN_DEADLINE_SECONDS,
  runDeadlineAt,
  runDeadlineSeconds,
} from './deadline.js';
import { planRun } from './plan.js';

const NOW = new Date('2024-03-01T12:00:00.250Z');

function def(input: WorkflowDefinitionInput): WorkflowDefinition {
  const r = validateDefinition(input);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.definition;
}

const MIXED = workflow(
  'mixed',
  [
    sequential(['a.sh', { script: 'b.sh', timeout_seconds: 50, retries: 2 }]),
    parallel(['c.sh', { script: 'd.sh', timeout_seconds: 900 }, 'e.sh'], { maxConcurrency: 2 }),
    sequential(['never.sh'], { enabled: false }),
    parallel(['f.sh', 'g.sh']),
  ],
  { defaults: { timeout_seconds: 100, retry_backoff_seconds: 7, retry_backoff_rate: 2 } },
);

describe('deadlineAt', () => {
  it('rounds up to a whole second, written without fractions ("2024-08-18T17:33:00Z" form)', () => {
    expect(deadlineAt('2024-03-01T12:00:00.250Z', 60)).toBe('2024-03-01T12:01:01Z');
    expect(deadlineAt('2024-03-01T12:00:00.000Z', 60)).toBe('2024-03-01T12:01:00Z');
  });

  it('never goes past 364 days (a Standard execution lasts at most a year) and refuses a bad start', () => {
    const far = deadlineAt('2024-01-01T00:00:00Z', 10 * MAX_RUN_DEADLINE_SECONDS);
    expect(Date.parse(far) - Date.parse('2024-01-01T00:00:00Z')).toBe(MAX_RUN_DEADLINE_SECONDS * 1000);
    expect(() => deadlineAt('yesterday', 1)).toThrow(/not a timestamp/);
  });
});

describe('runDeadlineAt: the deadline from the stored run and job rows', () => {
  it.each([
    ['the blog', BLOG_WORKFLOW],
    ['retries, a concurrency limit and a disabled stage', MIXED],
  ])('equals the definition deadline from the run start (%s)', (_, input) => {
    const d = def(input);
    const p = planRun({ definition: d, workflowExecutionId: 'r1', now: NOW, parameters: {} });
    expect(runDeadlineAt(p.run, p.jobs)).toBe(deadlineAt(NOW.toISOString(), runDeadlineSeconds(d)));
  });

  it('depends on the rows policy only: progress, retries and row order change nothing', () => {
    const p = planRun({ definition: def(MIXED), workflowExecutionId: 'r1', now: NOW, parameters: {} });
    const moved = p.jobs
      .map((j, i) =>
        i % 2 === 0 ? { ...j, execution_status: 'Completed' as const, attempt: j.max_attempts } : j,
      )
      .reverse();
    expect(runDeadlineAt(p.run, moved)).toBe(runDeadlineAt(p.run, p.jobs));
  });

  it('counts each attempt at its full timeout plus the overhead, and the backoffs', () => {
    const d = def(workflow('one', [sequential([{ script: 'a.sh', timeout_seconds: 100, retries: 1 }])]));
    const p = planRun({ definition: d, workflowExecutionId: 'r1', now: NOW, parameters: {} });
    // Two attempts and the default backoff before the second (jobPolicy, retryDelaySeconds).
    const backoff = (p.jobs[0]?.retry_backoff_seconds ?? 0) as number;
    const seconds = 2 * (100 + ATTEMPT_OVERHEAD_SECONDS) + backoff;
    expect(runDeadlineAt(p.run, p.jobs)).toBe(deadlineAt(NOW.toISOString(), seconds));
  });
});

describe('runDeadlineSeconds of a definition', () => {
  const job = (timeout: number) => timeout + ATTEMPT_OVERHEAD_SECONDS;

  it('adds sequential jobs and takes the longest parallel job when every job has a slot', () => {
    // The blog: stage 1 sequential (2 jobs), stages 2 and 3 parallel (2 jobs each), 24 h defaults.
    expect(runDeadlineSeconds(def(BLOG_EXAMPLE))).toBe(2 * job(86_400) + job(86_400) + job(86_400));
  });

  it("counts every attempt and the backoff between them (the aggregator's retryDelaySeconds)", () => {
    const d = def({
      workflow_id: 'w',
      defaults: { timeout_seconds: 100, retries: 2, retry_backoff_seconds: 10, retry_backoff_rate: 3 },
      workflow_stages: [{ execution_flag: 'y', execution_type: 'sequential', scripts: ['a.sh'] }],
    });
    expect(runDeadlineSeconds(d)).toBe(3 * job(100) + 10 + 30);
  });

  it("bounds parallel stages with fewer slots than jobs by Graham's bound, and skips disabled stages", () => {
    const d = def({
      workflow_id: 'w',
      workflow_stages: [
        {
          execution_flag: 'y',
          execution_type: 'parallel',
          max_concurrency: 2,
          scripts: [
            { script: 'a.sh', timeout_seconds: 1000 },
            { script: 'b.sh', timeout_seconds: 100 },
            { script: 'c.sh', timeout_seconds: 100 },
          ],
        },
        { execution_flag: 'n', execution_type: 'sequential', scripts: ['never.sh'] },
      ],
    });
    const jobs = [job(1000), job(100), job(100)];
    const sum = jobs.reduce((a, b) => a + b, 0);
    expect(runDeadlineSeconds(d)).toBe(Math.ceil((sum - job(1000)) / 2) + job(1000));
  });
});
