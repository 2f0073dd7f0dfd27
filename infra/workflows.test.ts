import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BLOG_WORKFLOW } from '../contracts/examples.js';
import { PROJECT_ROOT } from './rsqlo-stack.js';
import { bundleScripts, loadWorkflowFolder, SCRIPT_BUNDLE_FORMAT, WorkflowFolderError } from './workflows.js';

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

describe('bundleScripts', () => {
  const wf = (id: string, scripts: string[]) =>
    JSON.stringify({
      workflow_id: id,
      workflow_stages: [{ execution_flag: 'y', execution_type: 'sequential', scripts }],
    });
  const decode = (b: Buffer) =>
    JSON.parse(b.toString('utf8')) as {
      format: string;
      workflows: Record<string, Record<string, { mode: number; base64: string }>>;
    };

  it('packs each workflow from its scripts/ folder or its own folder, never another workflow or a definition', () => {
    const dir = folder({
      'a/workflow.json': wf('wf_a', ['load.sh']),
      'a/scripts/load.sh': 'echo a',
      'a/scripts/lib/common.sql': 'select 1;',
      'b/workflow.json': wf('wf_b', ['run.sh']),
      'b/run.sh': 'echo b',
      'b/notes.txt': 'kept: beside the scripts',
      'b/nested/workflow.json': wf('wf_c', ['c.sh']),
      'b/nested/c.sh': 'echo c',
    });
    const b = bundleScripts(dir, loadWorkflowFolder(dir));
    const body = decode(b.bytes);
    expect(body.format).toBe(SCRIPT_BUNDLE_FORMAT);
    expect(Object.keys(body.workflows)).toEqual(['wf_a', 'wf_b', 'wf_c']);
    expect(Object.keys(body.workflows.wf_a ?? {})).toEqual(['lib/common.sql', 'load.sh']);
    // wf_b's root is its own folder: its definition and wf_c's folder stay out.
    expect(Object.keys(body.workflows.wf_b ?? {})).toEqual(['notes.txt', 'run.sh']);
    expect(Object.keys(body.workflows.wf_c ?? {})).toEqual(['c.sh']);
    expect(Buffer.from(body.workflows.wf_a?.['load.sh']?.base64 ?? '', 'base64').toString()).toBe('echo a');
    expect(b.version).toBe(createHash('sha256').update(b.bytes).digest('hex'));
  });

  it('is deterministic, and any change to a script is a new version', () => {
    const dir = folder({ 'a/workflow.json': wf('wf_a', ['x.sh']), 'a/scripts/x.sh': 'echo 1' });
    const one = bundleScripts(dir, loadWorkflowFolder(dir));
    expect(bundleScripts(dir, loadWorkflowFolder(dir)).version).toBe(one.version);
    writeFileSync(path.join(dir, 'a/scripts/x.sh'), 'echo 2');
    expect(bundleScripts(dir, loadWorkflowFolder(dir)).version).not.toBe(one.version);
  });

  it('leaves a workflow without any script beside it to rsql_script_path, and refuses one with only some', () => {
    const dir = folder({ 'a/workflow.json': wf('wf_a', ['x.sh', 'y.sh']) });
    const none = bundleScripts(dir, loadWorkflowFolder(dir));
    expect(none.workflows).toEqual([]);
    expect(none.notShipped).toEqual([
      { workflowId: 'wf_a', reason: 'none of its scripts is in a or a/scripts' },
    ]);
    writeFileSync(path.join(dir, 'a/x.sh'), 'echo x');
    expect(() => bundleScripts(dir, loadWorkflowFolder(dir))).toThrow(
      /a\/workflow\.json: scripts not found in a or a\/scripts: y\.sh/,
    );
  });

  it('ships the examples (blog and tickit) from their scripts/ folders', () => {
    const dir = path.join(PROJECT_ROOT, 'examples');
    const b = bundleScripts(dir, loadWorkflowFolder(dir));
    expect(b.workflows.map((w) => [w.workflowId, path.relative(dir, w.root)])).toEqual([
      ['blog_test_workflow', 'blog/scripts'],
      ['tickit_daily_load', 'tickit/scripts'],
    ]);
  });
});
