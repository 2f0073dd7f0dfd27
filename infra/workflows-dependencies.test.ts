import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadCalendarFolder, loadWorkflowFolder, WorkflowFolderError } from './workflows.js';

const dirs: string[] = [];
function folder(files: Record<string, unknown>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'rsqlo-workflows-deps-'));
  dirs.push(dir);
  for (const [rel, body] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), typeof body === 'string' ? body : JSON.stringify(body));
  }
  return dir;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const wf = (id: string, extra: Record<string, unknown> = {}) => ({
  workflow_id: id,
  workflow_stages: [{ execution_flag: 'y', execution_type: 'sequential', scripts: ['a.sh'] }],
  ...extra,
});

describe('the deployed folder: triggers and calendars', () => {
  it('loads calendars from calendars/ (never as definitions) and accepts a folder whose names all resolve', () => {
    const dir = folder({
      'a.json': wf('wf_a'),
      'b/workflow.json': wf('wf_b', { trigger: { after: ['wf_a'] }, calendar: 'business' }),
      'calendars/business.json': { weekdays: ['mon', 'tue', 'wed', 'thu', 'fri'], exclude: ['2026-12-25'] },
    });
    expect(loadWorkflowFolder(dir).map((w) => w.file)).toEqual(['a.json', 'b/workflow.json']);
    expect(loadCalendarFolder(dir).map((c) => [c.name, c.file])).toEqual([
      ['business', 'calendars/business.json'],
    ]);
  });

  it('a dependency cycle is an error naming the cycle', () => {
    const dir = folder({
      'a.json': wf('wf_a', { trigger: { after: ['wf_b'] } }),
      'b.json': wf('wf_b', { trigger: { after: ['wf_a'] } }),
    });
    expect(() => loadWorkflowFolder(dir)).toThrow(WorkflowFolderError);
    expect(() => loadWorkflowFolder(dir)).toThrow(
      'a.json: trigger.after: dependency cycle wf_a → wf_b → wf_a: each would wait for the other',
    );
  });

  it('an after naming an unknown workflow, and an unknown calendar, are errors naming the file', () => {
    const dir = folder({ 'a.json': wf('wf_a', { trigger: { after: ['wf_zz'] }, calendar: 'nope' }) });
    expect(() => loadWorkflowFolder(dir)).toThrow(
      /a\.json: trigger\.after\[0\]: names workflow "wf_zz", which is not among the loaded definitions\n {2}a\.json: calendar: names calendar "nope", but there is no calendars\/nope\.json/,
    );
  });

  it('an invalid calendar stops the synth, naming the file and the problem', () => {
    const dir = folder({ 'a.json': wf('wf_a'), 'calendars/bad.json': { exclude: ['2026-02-30'] } });
    expect(() => loadWorkflowFolder(dir)).toThrow(
      'calendars/bad.json: invalid calendar\n    exclude[0]: must be a real date "yyyy-mm-dd", got "2026-02-30"',
    );
  });
});
