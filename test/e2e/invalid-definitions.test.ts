import { spawnSync } from 'node:child_process';
import { existsSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, stages, workspace } from '../support/workspace.js';

const good = (over: Record<string, unknown> = {}) => ({
  workflow_id: 'bad_input',
  workflow_stages: stages(['sequential', ['a.sh']]),
  ...over,
});

/** Each case: the definition text, the JSON path the error must name, and words it must contain. */
const CASES: Array<{ name: string; text: (dir: string) => string; path: string; says: RegExp }> = [
  {
    name: 'wrong type',
    text: () =>
      JSON.stringify(
        good({ workflow_stages: [{ execution_flag: 'y', execution_type: 'sequential', scripts: 'a.sh' }] }),
      ),
    path: 'workflow_stages[0].scripts',
    says: /array/,
  },
  {
    name: 'unknown execution_type',
    text: () =>
      JSON.stringify(
        good({ workflow_stages: [{ execution_flag: 'y', execution_type: 'paralel', scripts: ['a.sh'] }] }),
      ),
    path: 'workflow_stages[0].execution_type',
    says: /"sequential" or "parallel", got "paralel"/,
  },
  {
    name: 'empty stages',
    text: () => JSON.stringify(good({ workflow_stages: [] })),
    path: 'workflow_stages',
    says: /at least one stage/,
  },
  {
    name: 'script escaping the script root',
    text: () => JSON.stringify(good({ workflow_stages: stages(['sequential', ['../outside.sh']]) })),
    path: 'workflow_stages[0].scripts[0]',
    says: /escapes the script root/,
  },
  {
    name: 'missing script file',
    text: () => JSON.stringify(good({ workflow_stages: stages(['parallel', ['a.sh', 'nope.sh']]) })),
    path: 'workflow_stages[0].scripts[1]',
    says: /"nope.sh" not found/,
  },
  {
    name: 'workflow_id outside the safe charset',
    text: () => JSON.stringify(good({ workflow_id: 'my workflow;rm' })),
    path: 'workflow_id',
    says: /letters, digits/,
  },
  {
    name: 'text that is not JSON',
    text: () => '{\n  "workflow_id": "x",\n  "workflow_stages": [\n}',
    path: '(root)',
    says: /not valid JSON at line 4/,
  },
  {
    name: 'a symlink leaving the script root',
    text: (dir) => {
      symlinkSync('/bin/true', path.join(dir, 'scripts', 'link.sh'));
      return JSON.stringify(good({ workflow_stages: stages(['sequential', ['link.sh']]) }));
    },
    path: 'workflow_stages[0].scripts[0]',
    says: /outside the script root/,
  },
  // Definitions that used to pass validate and fail at run time (issue 10, class 8).
  {
    name: 'a NUL character in args',
    text: () =>
      JSON.stringify(
        good({ workflow_stages: stages(['sequential', [{ script: 'a.sh', args: ['ok', 'x\0y'] }]]) }),
      ),
    path: 'workflow_stages[0].scripts[0].args[1]',
    says: /NUL character/,
  },
  {
    name: 'a NUL character in a parameters value',
    text: () => JSON.stringify(good({ parameters: { FINE: 'a', BAD: 'a\0b' } })),
    path: 'parameters.BAD',
    says: /NUL character/,
  },
  {
    name: 'a key written twice (the last one would win)',
    text: () =>
      '{"workflow_id": "bad_input", "workflow_stages": [\n' +
      '  {"execution_flag": "n", "execution_type": "sequential",\n' +
      '   "execution_flag": "y", "scripts": ["a.sh"]}]}',
    path: 'workflow_stages[0].execution_flag',
    says: /duplicate key "execution_flag" at line 3, column 4 \(first at line 2, column 4\)/,
  },
  {
    name: 'a key written twice, once through an escape',
    text: () => '{"workflow_id": "bad_input", "workflow_\\u0069d": "other", "workflow_stages": []}',
    path: 'workflow_id',
    says: /duplicate key "workflow_id"/,
  },
  {
    name: 'JSON nested very deep and left open',
    text: () => `{"workflow_id": "bad_input", "workflow_stages": ${'['.repeat(500_000)}`,
    path: '(root)',
    says: /not valid JSON at line 1, column 500049: expected a value, found the end of the text/,
  },
  {
    name: 'JSON nested very deep and well formed',
    text: () =>
      `{"workflow_id": "bad_input", "workflow_stages": [{"execution_flag": "y", "execution_type": "sequential", "scripts": ["a.sh"]}], "parameters": ${'['.repeat(500_000)}${']'.repeat(500_000)}}`,
    path: 'parameters',
    says: /expected record/,
  },
];

describe('invalid definitions are refused by validate and run, naming the JSON path; nothing is written', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const ws = workspace();
      ws.script('a.sh', 'true');
      const file = path.join(ws.dir, 'workflow.json');
      writeFileSync(file, c.text(ws.dir));
      const v = await cli(['validate', file]);
      expect(v.code).toBe(2);
      expect(v.stderr).toContain(`${c.path}: `);
      expect(v.stderr).toMatch(c.says);
      expect(v.stderr).not.toMatch(/\n\s+at .*\(.*:\d+:\d+\)/); // no stack trace

      const r = await cli(['run', ws.dir, '--home', ws.home]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`${c.path}: `);
      expect(r.stderr).toMatch(c.says);
      expect(existsSync(ws.home)).toBe(false);
    });
  }

  it('a real rsqlo process refuses a stage written "n" then "y" and runs none of its scripts', () => {
    const ws = workspace();
    const marker = path.join(ws.dir, 'ran');
    ws.script('a.sh', `touch '${marker}'`);
    ws.workflow(
      '{"workflow_id": "dup_flag", "workflow_stages": [{"execution_flag": "n",' +
        ' "execution_type": "sequential", "execution_flag": "y", "scripts": ["a.sh"]}]}',
    );
    const bin = path.resolve('bin/rsqlo.js');
    const r = spawnSync(process.execPath, [bin, 'run', ws.dir, '--home', ws.home, '--no-database'], {
      encoding: 'utf8',
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/workflow_stages\[0\]\.execution_flag: duplicate key "execution_flag"/);
    expect(existsSync(marker)).toBe(false);
    expect(existsSync(ws.home)).toBe(false);
  });

  it('lists every problem at once', async () => {
    const ws = workspace();
    const file = ws.workflow({
      workflow_id: 'x y',
      workflow_stages: [{ execution_flag: 'maybe', execution_type: 'sideways', scripts: [] }],
    });
    const v = await cli(['validate', file]);
    expect(v.code).toBe(2);
    for (const p of [
      'workflow_id',
      'workflow_stages[0].execution_flag',
      'workflow_stages[0].execution_type',
      'workflow_stages[0].scripts',
    ]) {
      expect(v.stderr).toContain(`${p}: `);
    }
  });

  it('accepts the seed item unchanged and reports ok', async () => {
    const v = await cli(['validate', 'examples/blog']);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/ok \(blog_test_workflow, 3 stages\)/);
  });

  it('usage errors exit 2 with the usage text and write nothing', async () => {
    const ws = workspace();
    expect((await cli(['run'])).code).toBe(2);
    expect((await cli(['frobnicate'])).stderr).toMatch(/unknown command "frobnicate"/);
    const bad = await cli(['run', 'examples/blog', '--home', ws.home, '--execution-id', 'has space']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--execution-id/);
    expect(existsSync(ws.home)).toBe(false);
    const unknown = await cli(['run', 'examples/blog', '--bogus']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/bogus/);
  });
});
