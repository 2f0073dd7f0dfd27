import { describe, expect, it } from 'vitest';
import type { ContractIssue } from './common.js';
import { BLOG_WORKFLOW } from './examples.js';
import {
  DefinitionError,
  listScripts,
  parseDefinitionText,
  scheduleExpressionProblem,
  scriptName,
  scriptPathProblem,
  validateDefinition,
  type WorkflowDefinition,
} from './workflow.js';

/** The blog's config item (seed), exactly as a user would paste it: it must validate unchanged. */
const SEED_TEXT = `{
  "workflow_id": "blog_test_workflow",
  "workflow_description": "Test Workflow for Blog",
  "workflow_stages": [
    {
      "execution_flag": "y",
      "execution_type": "sequential",
      "stage_description": "Schema & Table Creation Stage",
      "scripts": ["rsql_blog_script_1.sh", "rsql_blog_script_2.sh"]
    },
    {
      "execution_flag": "y",
      "execution_type": "parallel",
      "stage_description": "Data Insertion Stage 1",
      "scripts": ["rsql_blog_script_3.sh", "rsql_blog_script_4.sh"]
    },
    {
      "execution_flag": "y",
      "execution_type": "parallel",
      "stage_description": "Data Insertion Stage 2",
      "scripts": ["rsql_blog_script_5.sh", "rsql_blog_script_6.sh"]
    }
  ]
}`;

const seed = (): Record<string, unknown> => JSON.parse(SEED_TEXT);

/** The smallest valid definition, for tests that change one thing. */
const minimal = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  workflow_id: 'wf',
  workflow_stages: [{ execution_flag: 'y', execution_type: 'sequential', scripts: ['a.sh'] }],
  ...over,
});

const stage = (over: Record<string, unknown>): Record<string, unknown> =>
  minimal({
    workflow_stages: [{ execution_flag: 'y', execution_type: 'sequential', scripts: ['a.sh'], ...over }],
  });

function valid(value: unknown): WorkflowDefinition {
  const r = validateDefinition(value);
  if (!r.ok) throw new Error(`expected valid, got ${JSON.stringify(r.issues)}`);
  return r.definition;
}

function issues(value: unknown): ContractIssue[] {
  const r = validateDefinition(value);
  if (r.ok) throw new Error(`expected invalid: ${JSON.stringify(value)}`);
  return r.issues;
}

/** The only issue of an invalid definition (most cases have exactly one). */
function onlyIssue(value: unknown): ContractIssue {
  const all = issues(value);
  expect(all).toHaveLength(1);
  return all[0]!;
}

describe('the seed config item', () => {
  it('validates unchanged: the parsed definition equals the item, nothing added or rewritten', () => {
    const r = parseDefinitionText(SEED_TEXT);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.definition).toStrictEqual(seed());
    expect(r.definition.workflow_stages).toHaveLength(3);
    expect(r.definition.workflow_stages.map((s) => s.execution_type)).toEqual([
      'sequential',
      'parallel',
      'parallel',
    ]);
  });

  it('validates as an already-parsed value (a DynamoDB item) too', () => {
    expect(valid(seed())).toStrictEqual(seed());
  });

  it('is the example the generated JSON Schema shows', () => {
    expect(BLOG_WORKFLOW).toStrictEqual(seed());
  });

  it('lists its six scripts with the JSON path each was named at', () => {
    const scripts = listScripts(valid(seed()));
    expect(scripts).toHaveLength(6);
    expect(scripts[0]).toEqual({ script: 'rsql_blog_script_1.sh', path: 'workflow_stages[0].scripts[0]' });
    expect(scripts[5]).toEqual({ script: 'rsql_blog_script_6.sh', path: 'workflow_stages[2].scripts[1]' });
  });

  it.each(['y', 'Y', 'n', 'N'])('accepts execution_flag %j and normalizes it to lower case', (flag) => {
    const def = valid(stage({ execution_flag: flag }));
    expect(def.workflow_stages[0]!.execution_flag).toBe(flag.toLowerCase());
  });

  it.each(['Sequential', 'PARALLEL', 'parallel'])('accepts execution_type %j in any case', (type) => {
    const def = valid(stage({ execution_type: type }));
    expect(def.workflow_stages[0]!.execution_type).toBe(type.toLowerCase());
  });
});

describe('the extensions of ARCHITECTURE.md §2', () => {
  it('accepts a schedule as a string (cron, rate, at)', () => {
    for (const schedule of [
      'cron(0 2 * * ? *)',
      'cron(15 10 ? * MON-FRI *)',
      'rate(1 hour)',
      'rate(5 minutes)',
    ]) {
      expect(valid(minimal({ schedule })).schedule).toBe(schedule);
    }
    expect(valid(minimal({ schedule: 'at(2030-01-31T23:00:00)' })).schedule).toBe('at(2030-01-31T23:00:00)');
  });

  it('accepts a schedule object with a time zone and an enabled switch', () => {
    const schedule = { expression: 'cron(0 2 * * ? *)', timezone: 'Europe/Paris', enabled: false };
    expect(valid(minimal({ schedule })).schedule).toEqual(schedule);
  });

  it('accepts max_concurrency on a parallel stage', () => {
    const def = valid(stage({ execution_type: 'parallel', max_concurrency: 3 }));
    expect(def.workflow_stages[0]!.max_concurrency).toBe(3);
  });

  it('accepts script objects with args, timeout, heartbeat and retries beside plain names', () => {
    const obj = {
      script: 'etl/load.sh',
      args: ['--day', '2024-01-01'],
      timeout_seconds: 600,
      heartbeat_seconds: 60,
      retries: 2,
    };
    const def = valid(stage({ scripts: ['a.sh', obj, { script: 'b.sh' }] }));
    expect(def.workflow_stages[0]!.scripts).toEqual(['a.sh', obj, { script: 'b.sh' }]);
    expect(def.workflow_stages[0]!.scripts.map(scriptName)).toEqual(['a.sh', 'etl/load.sh', 'b.sh']);
    expect(listScripts(def)[1]).toEqual({
      script: 'etl/load.sh',
      path: 'workflow_stages[0].scripts[1].script',
    });
  });

  it('accepts defaults, max_active_runs and parameters', () => {
    const ext = {
      defaults: {
        timeout_seconds: 3600,
        heartbeat_seconds: 120,
        retries: 1,
        retry_backoff_seconds: 60,
        retry_backoff_rate: 1.5,
      },
      max_active_runs: 2,
      parameters: { LOAD_DATE: '2024-01-01', _schema: 'rsql_blog' },
    };
    expect(valid(minimal(ext))).toMatchObject(ext);
  });

  it('accepts every extension at once on top of the seed', () => {
    const base = seed();
    (base.workflow_stages as Record<string, unknown>[])[1]!.max_concurrency = 1;
    const def = {
      ...base,
      schedule: { expression: 'rate(1 day)', timezone: 'UTC' },
      defaults: { retries: 0 },
      max_active_runs: 1,
      parameters: { ENV: 'dev' },
    };
    expect(valid(def)).toStrictEqual(def);
  });

  it('accepts sub-folders and harmless dot segments that stay under the root', () => {
    for (const p of ['sub/dir/x.sh', './x.sh', 'a/../x.sh', 'x..sh', '..x.sh']) {
      expect(scriptPathProblem(p), p).toBeUndefined();
    }
  });
});

describe('invalid definitions name the JSON path and say what is wrong', () => {
  it('scripts that are not an array', () => {
    expect(onlyIssue(stage({ scripts: 'a.sh' }))).toEqual({
      path: 'workflow_stages[0].scripts',
      message: 'must be an array of scripts',
    });
  });

  it('execution_flag that is a number, or not y/n', () => {
    expect(onlyIssue(stage({ execution_flag: 1 }))).toEqual({
      path: 'workflow_stages[0].execution_flag',
      message: 'must be "y" or "n"',
    });
    const bad = onlyIssue(stage({ execution_flag: 'yes' }));
    expect(bad.path).toBe('workflow_stages[0].execution_flag');
    expect(bad.message).toContain('"yes"');
  });

  it('an unknown execution_type, quoting the bad value', () => {
    const issue = onlyIssue(stage({ execution_type: 'batch' }));
    expect(issue.path).toBe('workflow_stages[0].execution_type');
    expect(issue.message).toContain('"sequential" or "parallel"');
    expect(issue.message).toContain('"batch"');
  });

  it('a missing required field', () => {
    const { execution_type: _, ...rest } = (seed().workflow_stages as Record<string, unknown>[])[0]!;
    const issue = onlyIssue({ ...seed(), workflow_stages: [rest] });
    expect(issue.path).toBe('workflow_stages[0].execution_type');
  });

  it('no stages, or a stage with no scripts', () => {
    expect(onlyIssue(minimal({ workflow_stages: [] }))).toEqual({
      path: 'workflow_stages',
      message: 'a workflow needs at least one stage',
    });
    expect(onlyIssue(stage({ scripts: [] }))).toEqual({
      path: 'workflow_stages[0].scripts',
      message: 'a stage needs at least one script',
    });
  });

  it('a stage that is not an object, in the right place of a longer list', () => {
    const def = seed();
    (def.workflow_stages as unknown[])[2] = 'stage three';
    const issue = onlyIssue(def);
    expect(issue.path).toBe('workflow_stages[2]');
    expect(issue.message).toMatch(/expected object/);
  });

  it.each([
    ['../x.sh', 'escapes the script root'],
    ['a/../../x.sh', 'escapes the script root'],
    ['..', 'escapes the script root'],
    ['/etc/x.sh', 'is absolute'],
    ['a\\b.sh', 'must use "/"'],
    ['..\\x.sh', 'must use "/"'],
    ['sub/', 'names a folder'],
    ['a/..', 'names a folder'],
    ['x\0.sh', 'NUL'],
  ])('script path %j is refused (%s)', (script, what) => {
    const issue = onlyIssue(stage({ scripts: ['ok.sh', script] }));
    expect(issue.path).toBe('workflow_stages[0].scripts[1]');
    expect(issue.message).toContain(what);
    expect(scriptPathProblem(script)).toBe(issue.message);
  });

  it('a script object escaping the root points at its "script" field', () => {
    expect(onlyIssue(stage({ scripts: [{ script: '../x.sh', retries: 1 }] }))).toEqual({
      path: 'workflow_stages[0].scripts[0].script',
      message: '"../x.sh" escapes the script root; script paths must stay inside it',
    });
  });

  it('a script object missing "script" points at the missing field, not at the union', () => {
    expect(onlyIssue(stage({ scripts: [{ args: ['x'] }] }))).toEqual({
      path: 'workflow_stages[0].scripts[0].script',
      message: 'must be a string naming a script',
    });
  });

  it('a script object with a bad field points at that field', () => {
    expect(onlyIssue(stage({ scripts: [{ script: 'a.sh', args: 'x' }] }))).toEqual({
      path: 'workflow_stages[0].scripts[0].args',
      message: 'must be an array of strings',
    });
    expect(onlyIssue(stage({ scripts: [{ script: 'a.sh', timeout_seconds: 1.5 }] }))).toEqual({
      path: 'workflow_stages[0].scripts[0].timeout_seconds',
      message: 'timeout_seconds must be a whole number of seconds',
    });
    expect(onlyIssue(stage({ scripts: [{ script: 'a.sh', retries: 11 }] }))).toEqual({
      path: 'workflow_stages[0].scripts[0].retries',
      message: 'retries must be at most 10',
    });
  });

  it('a script entry that is neither a name nor an object gets the union message', () => {
    expect(onlyIssue(stage({ scripts: [42] }))).toEqual({
      path: 'workflow_stages[0].scripts[0]',
      message: 'must be a script name or an object { "script": "...", ... }',
    });
  });

  it.each([
    ['blog workflow', 'may only contain letters, digits'],
    ['wf/../x', 'may only contain letters, digits'],
    ['', 'must not be empty'],
    ['..', 'must not be "." or ".."'],
    ['w'.repeat(65), 'must be at most 64 characters'],
  ])('workflow_id %j is refused', (id, what) => {
    const all = issues(minimal({ workflow_id: id }));
    expect(all.every((i) => i.path === 'workflow_id')).toBe(true);
    expect(all[0]!.message).toContain(what);
  });

  it('a workflow_id of exactly 64 safe characters is fine', () => {
    expect(valid(minimal({ workflow_id: 'w'.repeat(64) })).workflow_id).toHaveLength(64);
  });

  it('unknown fields are named, wherever they are', () => {
    const typo = onlyIssue(stage({ execution_type: 'parallel', max_concurency: 2 }));
    expect(typo.path).toBe('workflow_stages[0]');
    expect(typo.message).toBe('unknown field "max_concurency"');

    const top = onlyIssue(minimal({ max_active_run: 2 }));
    expect(top).toEqual({ path: '(root)', message: 'unknown field "max_active_run"' });

    expect(onlyIssue(stage({ scripts: [{ script: 'a.sh', timeout: 5 }] }))).toEqual({
      path: 'workflow_stages[0].scripts[0]',
      message: 'unknown field "timeout"',
    });
    expect(onlyIssue(minimal({ defaults: { retry: 1 } }))).toEqual({
      path: 'defaults',
      message: 'unknown field "retry"',
    });
    expect(onlyIssue(minimal({ schedule: { expression: 'rate(1 day)', tz: 'UTC' } }))).toEqual({
      path: 'schedule',
      message: 'unknown field "tz"',
    });
  });

  it('max_concurrency on a sequential stage, or not a positive whole number', () => {
    expect(onlyIssue(stage({ max_concurrency: 2 }))).toEqual({
      path: 'workflow_stages[0].max_concurrency',
      message: 'applies to parallel stages only (a sequential stage runs one script at a time)',
    });
    expect(onlyIssue(stage({ execution_type: 'parallel', max_concurrency: 0 }))).toEqual({
      path: 'workflow_stages[0].max_concurrency',
      message: 'must be at least 1',
    });
  });

  it.each([
    ['cron(0 12 * * ?)', 'cron() takes 6 fields', 'got 5'],
    ['cron(0 12 * * * *)', 'one of day-of-month or day-of-week must be "?"', ''],
    ['cron(0 12 ? * ? *)', 'cannot both be "?"', ''],
    ['rate(1 hours)', 'use the singular unit for 1', 'rate(1 hour)'],
    ['rate(5 minute)', 'use the plural unit for 5', 'rate(5 minutes)'],
    ['rate(0 minutes)', 'at least 1', ''],
    ['rate(5 weeks)', 'EventBridge syntax', ''],
    ['every day at 2', 'EventBridge syntax', ''],
    ['0 2 * * *', 'EventBridge syntax', ''],
  ])('schedule %j is refused: %s', (expr, what, hint) => {
    const issue = onlyIssue(minimal({ schedule: expr }));
    expect(issue.path).toBe('schedule');
    expect(issue.message).toContain(what);
    expect(issue.message).toContain(hint);
    expect(scheduleExpressionProblem(expr)).toBe(issue.message);
  });

  it('a bad expression or unknown time zone in a schedule object points inside it', () => {
    const expr = onlyIssue(minimal({ schedule: { expression: 'rate(2 hour)' } }));
    expect(expr.path).toBe('schedule.expression');
    expect(expr.message).toContain('plural');

    expect(
      onlyIssue(minimal({ schedule: { expression: 'rate(1 day)', timezone: 'Mars/Olympus_Mons' } })),
    ).toEqual({
      path: 'schedule.timezone',
      message: 'unknown time zone "Mars/Olympus_Mons"',
    });
  });

  it('a schedule of the wrong type gets the union message', () => {
    expect(onlyIssue(minimal({ schedule: 5 }))).toEqual({
      path: 'schedule',
      message: 'must be an EventBridge expression or { "expression": "...", "timezone": "..." }',
    });
  });

  it('parameter names that are not env-safe or are reserved, each at its own path', () => {
    const all = issues(
      minimal({ parameters: { 'LOAD-DATE': 'x', '1X': 'x', PGPASSWORD: 'x', RSQLO_X: 'x', PATH: 'x' } }),
    );
    expect(all.map((i) => i.path)).toEqual([
      'parameters["LOAD-DATE"]',
      'parameters["1X"]',
      'parameters.PGPASSWORD',
      'parameters.RSQLO_X',
      'parameters.PATH',
    ]);
    expect(all[0]!.message).toContain('environment variable names');
    expect(all[2]!.message).toBe('"PGPASSWORD" is set by rsqlo and cannot be a parameter');
    expect(all[3]!.message).toBe('"RSQLO_X" is set by rsqlo and cannot be a parameter');
  });

  it('parameter values that are not strings', () => {
    expect(onlyIssue(minimal({ parameters: { DAYS: 3 } }))).toEqual({
      path: 'parameters.DAYS',
      message: 'parameter values must be strings',
    });
  });

  it('bad defaults, one issue per field', () => {
    const all = issues(
      minimal({
        defaults: { timeout_seconds: 0, heartbeat_seconds: 1.5, retries: -1, retry_backoff_rate: 0.5 },
      }),
    );
    expect(all).toEqual([
      { path: 'defaults.timeout_seconds', message: 'timeout_seconds must be at least 1' },
      { path: 'defaults.heartbeat_seconds', message: 'heartbeat_seconds must be a whole number of seconds' },
      { path: 'defaults.retries', message: 'retries must be 0 or more' },
      { path: 'defaults.retry_backoff_rate', message: 'must be at least 1' },
    ]);
  });

  it('max_active_runs must be a positive whole number', () => {
    expect(onlyIssue(minimal({ max_active_runs: 0 }))).toEqual({
      path: 'max_active_runs',
      message: 'must be at least 1',
    });
    expect(onlyIssue(minimal({ max_active_runs: '2' }))).toEqual({
      path: 'max_active_runs',
      message: 'must be a number',
    });
  });

  it('reports every problem at once, in document order', () => {
    const all = issues({
      workflow_id: 'bad id',
      workflow_stages: [
        { execution_flag: 'x', execution_type: 'sequential', scripts: ['../a.sh'] },
        { execution_flag: 'y', execution_type: 'parallel', scripts: [] },
      ],
    });
    expect(all.map((i) => i.path)).toEqual([
      'workflow_id',
      'workflow_stages[0].execution_flag',
      'workflow_stages[0].scripts[0]',
      'workflow_stages[1].scripts',
    ]);
  });

  it.each([
    ['[]', 'array'],
    ['42', 'number'],
    ['null', 'null'],
    ['"blog_test_workflow"', 'string'],
  ])('JSON %s at the root is refused at (root)', (text, got) => {
    const r = parseDefinitionText(text);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.issues).toHaveLength(1);
    expect(r.issues[0]!.path).toBe('(root)');
    expect(r.issues[0]!.message).toContain('expected object');
    expect(r.issues[0]!.message).toContain(got);
  });
});

describe('text that is not JSON', () => {
  function textIssue(text: string): ContractIssue {
    const r = parseDefinitionText(text);
    expect(r.ok).toBe(false);
    if (r.ok) throw new Error('unreachable');
    expect(r.issues).toHaveLength(1);
    expect(r.issues[0]!.path).toBe('(root)');
    expect(r.issues[0]!.message).toMatch(/^not valid JSON/);
    return r.issues[0]!;
  }

  it.each([
    // A missing value: Node 20's own message names no position.
    ['{\n  "workflow_id": "wf",\n  "workflow_stages": }', 3, 22],
    // A trailing comma in an array.
    ['{\n  "workflow_stages": [\n    "a",\n  ]\n}', 4, 3],
    // A trailing comma in an object.
    ['{\n  "workflow_id": "wf",\n}', 3, 1],
    // A missing comma between members.
    ['{\n  "a": 1\n  "b": 2\n}', 3, 3],
    // Single quotes.
    ["{'workflow_id': 'wf'}", 1, 2],
    // Text after the document.
    ['{"workflow_id": "wf"} x', 1, 23],
    // Truncated file: the error is at the end.
    ['{\n  "workflow_id": "wf",\n', 3, 1],
  ])('%j is reported at line %i, column %i', (text, line, column) => {
    const issue = textIssue(text);
    expect(issue.message).toMatch(new RegExp(`\\bline ${line}\\b.*\\bcolumn ${column}\\b`));
  });

  it('empty text is reported, not thrown', () => {
    expect(textIssue('').message).toMatch(/line 1\b.*column 1\b/);
  });

  it('the message does not echo the whole document back', () => {
    const text = `{"workflow_id": "wf", "workflow_description": "${'d'.repeat(500)}", "workflow_stages": }`;
    expect(textIssue(text).message.length).toBeLessThan(200);
  });
});

describe('DefinitionError', () => {
  it('lists every issue under the source it came from', () => {
    const r = validateDefinition(minimal({ workflow_id: 'a b', max_active_runs: 0 }));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const err = new DefinitionError('examples/blog/workflow.json', r.issues);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('DefinitionError');
    expect(err.message).toBe(
      'examples/blog/workflow.json: invalid workflow definition\n' +
        '  workflow_id: may only contain letters, digits, "_", "." and "-"\n' +
        '  max_active_runs: must be at least 1',
    );
  });
});

describe('resource pools (issue 14)', () => {
  it('accepts pool on a stage and on one script, and pools sizes at workflow level', () => {
    const def = valid({
      ...stage({ pool: 'wlm', scripts: ['a.sh', { script: 'b.sh', pool: 'heavy_q' }] }),
      pools: { wlm: 2, heavy_q: 0 },
    });
    expect(def.workflow_stages[0]?.pool).toBe('wlm');
    expect(def.workflow_stages[0]?.scripts[1]).toEqual({ script: 'b.sh', pool: 'heavy_q' });
    expect(def.pools).toEqual({ wlm: 2, heavy_q: 0 });
  });

  it('a definition without pools is unchanged (no field added)', () => {
    const def = valid(minimal());
    expect(def).not.toHaveProperty('pools');
    expect(def.workflow_stages[0]).not.toHaveProperty('pool');
  });

  it('refuses a pool name with characters that cannot be a key, naming the path', () => {
    expect(onlyIssue(stage({ pool: 'w l m' }))).toEqual({
      path: 'workflow_stages[0].pool',
      message: 'may only contain letters, digits, "_" and "-"',
    });
    expect(onlyIssue(stage({ scripts: [{ script: 'a.sh', pool: 'x'.repeat(65) }] }))).toEqual({
      path: 'workflow_stages[0].scripts[0].pool',
      message: 'must be at most 64 characters',
    });
  });

  it('refuses pool sizes that are negative, fractional or above 1000, naming the pool', () => {
    expect(onlyIssue(minimal({ pools: { wlm: -1 } }))).toEqual({
      path: 'pools.wlm',
      message: 'must be at least 0 (0 drains the pool)',
    });
    expect(onlyIssue(minimal({ pools: { wlm: 1.5 } })).message).toBe('must be a whole number');
    expect(onlyIssue(minimal({ pools: { wlm: 1001 } })).message).toBe('must be at most 1000');
    expect(onlyIssue(minimal({ pools: [] })).path).toBe('pools');
    expect(onlyIssue(minimal({ pools: { 'bad name': 1 } }))).toEqual({
      path: 'pools["bad name"]',
      message: 'is not a pool name: 1 to 64 letters, digits, "_" and "-"',
    });
  });
});
