import { describe, expect, it } from 'vitest';
import { dependencyIssues, dependentsIndex, triggerCycles } from './dependencies.js';
import { validateDefinition } from './workflow.js';

const wf = (id: string, after?: string[], calendar?: string) => ({
  workflow_id: id,
  ...(after ? { trigger: { after } } : {}),
  ...(calendar ? { calendar } : {}),
});

describe('trigger dependencies across definitions', () => {
  it('a cycle is an error naming it', () => {
    const issues = dependencyIssues([wf('wf_a', ['wf_b']), wf('wf_b', ['wf_a']), wf('wf_c', ['wf_a'])]);
    expect(issues.map((i) => i.message)).toEqual([
      'dependency cycle wf_a → wf_b → wf_a: each would wait for the other',
    ]);
  });

  it('finds a self-dependency and a longer cycle, each once', () => {
    expect(triggerCycles([wf('x', ['x'])])).toEqual([['x', 'x']]);
    expect(triggerCycles([wf('c', ['b']), wf('b', ['a']), wf('a', ['c']), wf('d', ['a'])])).toEqual([
      ['a', 'b', 'c', 'a'],
    ]);
  });

  it('an after naming an unknown workflow is an error; so is an unknown calendar', () => {
    const issues = dependencyIssues(
      [wf('wf_a'), wf('wf_b', ['wf_a', 'wf_zz'], 'biz')],
      new Set(['holidays']),
    );
    expect(issues).toEqual([
      {
        workflow_id: 'wf_b',
        path: 'trigger.after[1]',
        message: 'names workflow "wf_zz", which is not among the loaded definitions',
      },
      {
        workflow_id: 'wf_b',
        path: 'calendar',
        message: 'names calendar "biz", but there is no calendars/biz.json (known: holidays)',
      },
    ]);
  });

  it('a diamond is no cycle; the reverse index says who waits for whom', () => {
    const defs = [wf('a'), wf('b', ['a']), wf('c', ['a']), wf('d', ['b', 'c'])];
    expect(dependencyIssues(defs)).toEqual([]);
    expect(Object.fromEntries(dependentsIndex(defs))).toEqual({ a: ['b', 'c'], b: ['d'], c: ['d'] });
  });
});

describe('trigger and calendar fields of a definition', () => {
  const base = {
    workflow_id: 'down',
    workflow_stages: [{ execution_flag: 'y', execution_type: 'sequential', scripts: ['a.sh'] }],
  };
  const problems = (extra: Record<string, unknown>) => {
    const r = validateDefinition({ ...base, ...extra });
    return r.ok ? [] : r.issues.map((i) => `${i.path}: ${i.message}`);
  };

  it('accepts after + within_hours and a calendar name', () => {
    expect(problems({ trigger: { after: ['a', 'b'], within_hours: 24 }, calendar: 'business-days' })).toEqual(
      [],
    );
  });

  it('is strict', () => {
    expect(problems({ trigger: { after: [] } })).toEqual(['trigger.after: names at least one workflow']);
    expect(problems({ trigger: { after: ['a', 'a'] } })).toEqual(['trigger.after[1]: names "a" twice']);
    expect(problems({ trigger: { after: ['a'], within: 3 } })).toEqual(['trigger: unknown field "within"']);
    expect(problems({ trigger: { after: ['a'], within_hours: 0 } })).toEqual([
      'trigger.within_hours: must be more than 0',
    ]);
    expect(problems({ calendar: '../x' })).toEqual([
      'calendar: may only contain letters, digits, "_" and "-"',
    ]);
  });
});
