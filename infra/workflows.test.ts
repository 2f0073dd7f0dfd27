import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BLOG_WORKFLOW } from '../contracts/examples.js';
import { PROJECT_ROOT } from './rsqlo-stack.js';
import { loadWorkflowFolder, WorkflowFolderError } from './workflows.js';

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
