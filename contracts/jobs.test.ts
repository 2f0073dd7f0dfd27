import { describe, expect, it } from 'vitest';
import { toContractIssues } from './common.js';
import {
  type JobCommand,
  JobCommand as JobCommandSchema,
  JobMessage,
  JobRunInput,
  jobRunName,
  TaskRequest,
} from './jobs.js';
import { MAX_RETRIES } from './workflow.js';

/** Step Functions execution names: at most 80 characters, none of whitespace or `<>{}[]?*"#%\^|~`$&,;:/`. */
const SFN_NAME = /^[^\s<>{}[\]?*"#%\\^|~`$&,;:/]{1,80}$/;

const exec48 = `blog_test_workflow-${'0'.repeat(48 - 'blog_test_workflow-'.length)}`;

describe('jobRunName', () => {
  it('is <execution>--<stage>-<job>--a<attempt>', () => {
    expect(jobRunName('demo_test_26', '2.1', 1)).toBe('demo_test_26--2-1--a1');
    expect(jobRunName('demo_test_26', '12.34', 3)).toBe('demo_test_26--12-34--a3');
  });

  it('is deterministic and distinct per job and attempt (starting it twice is harmless)', () => {
    expect(jobRunName('e', '1.1', 1)).toBe(jobRunName('e', '1.1', 1));
    const names = new Set([
      jobRunName('e', '1.1', 1),
      jobRunName('e', '1.1', 2),
      jobRunName('e', '1.11', 1),
      jobRunName('e', '11.1', 1),
      jobRunName('e2', '1.1', 1),
    ]);
    expect(names.size).toBe(5);
  });

  it('stays within 80 characters for a 48-character execution id, large stage/job numbers and the last retry', () => {
    expect(exec48).toHaveLength(48);
    const name = jobRunName(exec48, '99999.99999', MAX_RETRIES + 1);
    expect(name.length).toBeLessThanOrEqual(80);
    expect(name).toMatch(SFN_NAME);
    expect(JobRunInput.shape.job_run_name.safeParse(name).success).toBe(true);
  });

  it('leaves room for up to 12 digits per number with two-digit attempts', () => {
    expect(jobRunName(exec48, `${'9'.repeat(12)}.${'9'.repeat(12)}`, 10)).toHaveLength(80);
  });
});

describe('queue and wrapper messages', () => {
  const input = {
    version: 1,
    job_run_name: 'demo_test_26--2-1--a1',
    workflow_id: 'blog_test_workflow',
    workflow_execution_id: 'demo_test_26',
    job_key: '2.1',
    job_name: 'rsql_blog_script_3.sh',
    stage: 2,
    attempt: 1,
    timeout_seconds: 86_400,
    heartbeat_seconds: 300,
  };

  it('a JobMessage is small and strict about identity', () => {
    const msg = { version: 1, workflow_id: 'wf', workflow_execution_id: 'wf-1', job_key: '1.1', attempt: 1 };
    expect(JobMessage.parse(msg)).toEqual(msg);
    const bad = JobMessage.safeParse({ ...msg, job_key: '1', attempt: 0 });
    expect(bad.success).toBe(false);
    if (!bad.success) expect(toContractIssues(bad.error).map((i) => i.path)).toEqual(['job_key', 'attempt']);
  });

  it('a TaskRequest needs a token and a valid job run input', () => {
    expect(TaskRequest.parse({ task_token: 'tok', job: input }).job).toEqual(input);
    const bad = TaskRequest.safeParse({ task_token: '', job: { ...input, job_run_name: 'x'.repeat(81) } });
    expect(bad.success).toBe(false);
    if (!bad.success)
      expect(toContractIssues(bad.error).map((i) => i.path)).toEqual(['task_token', 'job.job_run_name']);
  });
});

describe('JobCommand', () => {
  const command: JobCommand = {
    version: 1,
    task_token: 'AQCEAAAAKgAAAAMAAAAAAAAAA',
    job_run_name: 'demo_test_26--2-1--a1',
    workflow_id: 'blog_test_workflow',
    workflow_execution_id: 'demo_test_26',
    job_key: '2.1',
    job_name: 'rsql_blog_script_3.sh',
    stage: 2,
    attempt: 1,
    script: 'rsql_blog_script_3.sh',
    args: ['--day', '2024-01-01'],
    timeout_seconds: 86_400,
    heartbeat_seconds: 300,
    parameters: { LOAD_DATE: '2024-01-01' },
  };

  it('parses a complete command', () => {
    expect(JobCommandSchema.parse(command)).toEqual(command);
  });

  it.each(['../x.sh', 'a/../../x.sh', '/bin/sh', 'a\\..\\x.sh'])(
    'refuses script %j escaping the root',
    (script) => {
      const r = JobCommandSchema.safeParse({ ...command, script });
      expect(r.success).toBe(false);
      if (!r.success) {
        const issues = toContractIssues(r.error);
        expect(issues).toHaveLength(1);
        expect(issues[0]!.path).toBe('script');
      }
    },
  );

  it('refuses reserved parameter names (a command cannot smuggle PGPASSWORD into the environment)', () => {
    const r = JobCommandSchema.safeParse({ ...command, parameters: { PGPASSWORD: 'x' } });
    expect(r.success).toBe(false);
    if (!r.success) expect(toContractIssues(r.error)[0]!.path).toBe('parameters.PGPASSWORD');
  });
});
