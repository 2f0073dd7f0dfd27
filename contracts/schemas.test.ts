import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { afterAll, describe, expect, it } from 'vitest';
import { DETAIL_TYPES, EVENT_SCHEMAS } from './events.js';
import { BLOG_WORKFLOW, EVENT_EXAMPLES } from './examples.js';
import { validateDefinition } from './workflow.js';
import { canonicalSchema, renderSchemas, SCHEMAS_DIR, schemaDrift, writeSchemas } from './write-schemas.js';

const tmpDirs: string[] = [];
function tmp(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'rsqlo-schemas-'));
  tmpDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

describe('committed JSON Schemas', () => {
  it('match what the zod schemas generate (no file missing, extra or stale)', () => {
    expect(schemaDrift(SCHEMAS_DIR), 'contracts/schemas is stale: run npm run schemas').toEqual([]);
  });

  it('are one file per detail-type plus the workflow definition', () => {
    expect([...renderSchemas().keys()].sort()).toEqual(
      ['workflow-definition.json', ...DETAIL_TYPES.map((dt) => `events/${dt}.json`)].sort(),
    );
  });
});

describe('schemaDrift', () => {
  it('finds a stale, a missing and an extra file', () => {
    const dir = tmp();
    writeSchemas(dir);
    expect(schemaDrift(dir)).toEqual([]);

    const stale = path.join(dir, 'events/StageReady.json');
    writeFileSync(stale, readFileSync(stale, 'utf8').replace('"stage"', '"stage_no"'));
    unlinkSync(path.join(dir, 'workflow-definition.json'));
    writeFileSync(path.join(dir, 'events/OldEvent.json'), '{}\n');
    expect(schemaDrift(dir)).toEqual([
      'extra events/OldEvent.json',
      'missing workflow-definition.json',
      'stale events/StageReady.json',
    ]);

    const { removed } = writeSchemas(dir);
    expect(removed).toEqual(['events/OldEvent.json']);
    expect(schemaDrift(dir)).toEqual([]);
  });

  it('reports a whitespace-only difference too (files must be byte-identical)', () => {
    const dir = tmp();
    writeSchemas(dir);
    const file = path.join(dir, 'events/JobStarted.json');
    writeFileSync(file, readFileSync(file, 'utf8').trimEnd());
    expect(schemaDrift(dir)).toEqual(['stale events/JobStarted.json']);
  });

  it('reports every file missing when the folder does not exist', () => {
    expect(schemaDrift(path.join(tmp(), 'nope'))).toHaveLength(renderSchemas().size);
  });
});

describe('rendering', () => {
  const files = renderSchemas();

  it('is byte-identical from one run to the next', () => {
    expect(renderSchemas()).toEqual(files);
  });

  it.each([...files.keys()])(
    '%s is draft 2020-12 with $id, title, description and a trailing newline',
    (file) => {
      const text = files.get(file)!;
      expect(text.endsWith('}\n')).toBe(true);
      expect(text.endsWith('\n\n')).toBe(false);
      const schema = JSON.parse(text);
      expect(Object.keys(schema).slice(0, 4)).toEqual(['$schema', '$id', 'title', 'description']);
      expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
      expect(schema.$id).toMatch(/^urn:rsqlo:schema:/);
      expect(schema.description.length).toBeGreaterThan(20);
      expect(text).toBe(`${JSON.stringify(JSON.parse(text), null, 2)}\n`);
    },
  );

  it('gives every file its own $id', () => {
    const ids = [...files.values()].map((t) => JSON.parse(t).$id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('canonical key order does not depend on the order keywords were emitted in', () => {
    const a = {
      properties: { b: { type: 'string', minLength: 1 }, a: { maxLength: 2, type: 'string' } },
      type: 'object',
    };
    const b = {
      type: 'object',
      properties: { b: { minLength: 1, type: 'string' }, a: { type: 'string', maxLength: 2 } },
    };
    expect(JSON.stringify(canonicalSchema(a))).toBe(JSON.stringify(canonicalSchema(b)));
    // Property names keep their declaration order; keywords follow the reading order.
    expect(JSON.stringify(canonicalSchema(a))).toBe(
      '{"type":"object","properties":{"b":{"type":"string","minLength":1},"a":{"type":"string","maxLength":2}}}',
    );
  });

  it('leaves data (examples, defaults, enums) untouched', () => {
    const s = { examples: [{ z: 1, a: 2 }], default: { z: 1, a: 2 }, enum: ['b', 'a'], type: 'object' };
    expect(JSON.stringify(canonicalSchema(s))).toBe(
      '{"type":"object","enum":["b","a"],"default":{"z":1,"a":2},"examples":[{"z":1,"a":2}]}',
    );
  });

  it('event schemas stay open to new fields (forward compatibility); the definition is closed', () => {
    for (const dt of DETAIL_TYPES)
      expect(files.get(`events/${dt}.json`)).not.toContain('"additionalProperties": false');
    expect(JSON.parse(files.get('workflow-definition.json')!).additionalProperties).toBe(false);
  });

  it('describe the input side: a defaulted field is optional and shows its default', () => {
    const requested = JSON.parse(files.get('events/WorkflowRequested.json')!);
    expect(requested.required).toEqual(['workflow_id']);
    expect(requested.properties.version.default).toBe(1);
  });
});

describe('the generated schemas validate documents (ajv, draft 2020-12)', () => {
  // date-time is also enforced by a pattern, so ajv need not know the format.
  const ajv = new Ajv2020({ strict: true, allErrors: true, formats: { 'date-time': true } });
  const compiled = new Map<string, ValidateFunction>();
  for (const [file, text] of renderSchemas()) compiled.set(file, ajv.compile(JSON.parse(text)));
  const check = (file: string, doc: unknown): boolean => compiled.get(file)!(doc);
  const definition = (doc: unknown) => check('workflow-definition.json', doc);

  it.each(DETAIL_TYPES)(
    '%s: the example validates, extra fields too; a missing required field does not',
    (dt) => {
      const file = `events/${dt}.json`;
      const example = EVENT_EXAMPLES[dt] as Record<string, unknown>;
      expect(check(file, example), JSON.stringify(compiled.get(file)!.errors)).toBe(true);
      expect(check(file, { ...example, added_later: true })).toBe(true);
      // Every event names a run or (pool events, which carry no run) a pool.
      const key = 'workflow_id' in example ? 'workflow_id' : 'pool';
      const { [key]: _, ...noKey } = example;
      expect(check(file, noKey)).toBe(false);
      expect(check(file, { ...example, occurred_at: '2024-05-01T12:00:00+02:00' })).toBe(false);
    },
  );

  it('an event with a value outside its enum is refused, as zod refuses it', () => {
    const bad = { ...EVENT_EXAMPLES.JobFinished, status: 'Succeeded' };
    expect(check('events/JobFinished.json', bad)).toBe(false);
    expect(EVENT_SCHEMAS.JobFinished.safeParse(bad).success).toBe(false);
  });

  it('the seed validates', () => {
    expect(definition(BLOG_WORKFLOW)).toBe(true);
  });

  const stage = (over: Record<string, unknown>) => ({
    workflow_id: 'wf',
    workflow_stages: [{ execution_flag: 'Y', execution_type: 'Parallel', scripts: ['a.sh'], ...over }],
  });

  /** Documents zod accepts: the JSON Schema must accept them too (it is never stricter). */
  const accepted: unknown[] = [
    BLOG_WORKFLOW,
    stage({
      max_concurrency: 2,
      scripts: ['a.sh', { script: 'sub/b.sh', args: ['x'], timeout_seconds: 60, retries: 1 }],
    }),
    {
      ...stage({}),
      schedule: 'cron(0 2 * * ? *)',
      max_active_runs: 2,
      parameters: { LOAD_DATE: 'x', _y: '' },
    },
    {
      ...stage({}),
      schedule: { expression: 'rate(5 minutes)', timezone: 'Europe/Paris' },
      defaults: { retries: 2 },
    },
    stage({ execution_type: 'SEQUENTIAL', execution_flag: 'n' }),
  ];

  /** Documents zod refuses whose mistake JSON Schema can express: editors catch them too. */
  const refusedByBoth: Array<[string, unknown]> = [
    ['unknown field', stage({ max_concurency: 2 })],
    ['unknown execution_type', stage({ execution_type: 'batch' })],
    ['execution_flag 1', stage({ execution_flag: 1 })],
    ['execution_flag "yes"', stage({ execution_flag: 'yes' })],
    ['no stages', { workflow_id: 'wf', workflow_stages: [] }],
    ['no scripts', stage({ scripts: [] })],
    ['absolute script', stage({ scripts: ['/bin/sh'] })],
    ['backslash script', stage({ scripts: [{ script: 'a\\b.sh' }] })],
    ['script object without script', stage({ scripts: [{ args: [] }] })],
    ['bad workflow_id', { ...stage({}), workflow_id: 'a b' }],
    ['reserved parameter', { ...stage({}), parameters: { PGPASSWORD: 'x' } }],
    ['RSQLO_ parameter', { ...stage({}), parameters: { RSQLO_X: 'x' } }],
    ['parameter name not env-safe', { ...stage({}), parameters: { 'A-B': 'x' } }],
    ['not a schedule expression', { ...stage({}), schedule: 'every day' }],
    ['array at the root', [stage({})]],
  ];

  /** Documents only zod refuses (rules JSON Schema cannot state). */
  const refusedByZodOnly: unknown[] = [
    stage({ scripts: ['../x.sh'] }),
    { ...stage({}), schedule: 'cron(0 12 * * ?)' },
    { ...stage({}), schedule: { expression: 'rate(1 day)', timezone: 'Mars/Base' } },
    stage({ execution_type: 'sequential', max_concurrency: 2 }),
  ];

  it.each(accepted.map((d, i) => [i, d]))('accepted document %i is accepted by both', (_, doc) => {
    expect(validateDefinition(doc).ok).toBe(true);
    expect(definition(doc), JSON.stringify(compiled.get('workflow-definition.json')!.errors)).toBe(true);
  });

  it.each(refusedByBoth)('%s is refused by both', (_, doc) => {
    expect(validateDefinition(doc).ok).toBe(false);
    expect(definition(doc)).toBe(false);
  });

  it('rules JSON Schema cannot state are left to zod, never made stricter than zod', () => {
    for (const doc of refusedByZodOnly) {
      expect(validateDefinition(doc).ok).toBe(false);
      expect(definition(doc)).toBe(true);
    }
  });
});
