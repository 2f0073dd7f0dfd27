import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BLOG_WORKFLOW } from '../contracts/examples.js';
import { validateDefinition, type WorkflowDefinition } from '../contracts/workflow.js';
import { PROJECT_ROOT } from './rsqlo-stack.js';
import {
  ATTEMPT_OVERHEAD_SECONDS,
  loadWorkflowFolder,
  runDeadlineSeconds,
  WorkflowFolderError,
} from './workflows.js';

const dirs: string[] = [];
function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'rsqlo-workflows-'));
  dirs.push(dir);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function def(value: unknown): WorkflowDefinition {
  const r = validateDefinition(value);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.definition;
}

describe('loadWorkflowFolder', () => {
  it('finds every example (blog, tickit) and keeps the file as written', () => {
    const found = loadWorkflowFolder(path.join(PROJECT_ROOT, 'examples'));
    expect(found.map((w) => w.file)).toContain('blog/workflow.json');
    expect(found.map((w) => w.file)).toContain('tickit/workflow.json');
    const blog = found.filter((w) => w.file === 'blog/workflow.json');
    expect(blog.map((w) => w.definition.workflow_id)).toEqual(['blog_test_workflow']);
    expect(blog[0]?.raw).toEqual(
      JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'examples/blog/workflow.json'), 'utf8')),
    );
  });

  it('stops on an invalid definition, naming the file and the JSON path', () => {
    const dir = folder({
      'ok.json': JSON.stringify(BLOG_WORKFLOW),
      'team/bad/workflow.json': JSON.stringify({
        workflow_id: 'bad',
        workflow_stages: [{ execution_flag: 'y', execution_type: 'sideways', scripts: ['a.sh'] }],
      }),
    });
    expect(() => loadWorkflowFolder(dir)).toThrow(WorkflowFolderError);
    expect(() => loadWorkflowFolder(dir)).toThrow(
      /team\/bad\/workflow\.json: invalid workflow definition[\s\S]*workflow_stages\[0\]\.execution_type/,
    );
  });

  it('says where a file is not JSON, and refuses duplicate workflow ids', () => {
    expect(() => loadWorkflowFolder(folder({ 'a.json': '{\n  "workflow_id": \n}' }))).toThrow(
      /a\.json[\s\S]*line 3, column 1/,
    );
    const dup = folder({
      'a.json': JSON.stringify(BLOG_WORKFLOW),
      'b/workflow.json': JSON.stringify(BLOG_WORKFLOW),
    });
    expect(() => loadWorkflowFolder(dup)).toThrow(
      /b\/workflow\.json: workflow_id "blog_test_workflow" is already defined in a\.json/,
    );
  });

  it('skips node_modules and non-JSON files; a missing folder is an error', () => {
    const dir = folder({
      'w.json': JSON.stringify(BLOG_WORKFLOW),
      'node_modules/x/package.json': '{"name":"x"}',
      'scripts/a.sh': 'echo',
    });
    expect(loadWorkflowFolder(dir).map((w) => w.file)).toEqual(['w.json']);
    expect(() => loadWorkflowFolder(path.join(dir, 'nope'))).toThrow(/does not exist/);
  });
});

describe('runDeadlineSeconds', () => {
  const job = (timeout: number) => timeout + ATTEMPT_OVERHEAD_SECONDS;

  it('adds sequential jobs and takes the longest parallel job when every job has a slot', () => {
    // The blog: stage 1 sequential (2 jobs), stages 2 and 3 parallel (2 jobs each), 24 h defaults.
    expect(runDeadlineSeconds(def(BLOG_WORKFLOW))).toBe(2 * job(86_400) + job(86_400) + job(86_400));
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
