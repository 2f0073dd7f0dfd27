import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  ContractError,
  ExecutionId,
  formatPath,
  isReservedEnvName,
  JobKey,
  MAX_EXECUTION_ID_LENGTH,
  Parameters,
  parseContract,
  Timestamp,
  toContractIssues,
  WorkflowId,
} from './common.js';

function errorOf(schema: z.ZodType, value: unknown): z.ZodError {
  const r = schema.safeParse(value);
  if (r.success) throw new Error(`expected a failure for ${JSON.stringify(value)}`);
  return r.error;
}

describe('formatPath', () => {
  it.each([
    [[], '(root)'],
    [['workflow_id'], 'workflow_id'],
    [['workflow_stages', 0, 'scripts', 1], 'workflow_stages[0].scripts[1]'],
    [[0, 'script'], '[0].script'],
    [['parameters', 'LOAD-DATE'], 'parameters["LOAD-DATE"]'],
    [['detail-type'], '["detail-type"]'],
    [['a', 'has space', 'b'], 'a["has space"].b'],
    [['a', '"quoted"'], 'a["\\"quoted\\""]'],
    [['_private', '1x'], '_private["1x"]'],
  ])('%j → %s', (path, expected) => {
    expect(formatPath(path as PropertyKey[])).toBe(expected);
  });

  it('renders a symbol key by its description instead of throwing', () => {
    expect(formatPath(['a', Symbol('s')])).toBe('a["Symbol(s)"]');
  });
});

describe('toContractIssues', () => {
  const Ref = z.union([z.string().min(1, { error: 'must not be empty' }), z.object({ script: z.string() })], {
    error: 'must be a name or an object',
  });
  const Doc = z.object({ items: z.array(Ref) });

  it('turns each issue into a JSON path and message', () => {
    const issues = toContractIssues(
      errorOf(z.object({ a: z.number(), b: z.object({ c: z.string() }) }), { a: 'x', b: {} }),
    );
    expect(issues.map((i) => i.path)).toEqual(['a', 'b.c']);
    expect(issues[0]!.message).toContain('expected number');
  });

  it('prefixes a base path (an envelope reports detail fields as detail.<field>)', () => {
    const issues = toContractIssues(errorOf(z.object({ stage: z.number() }), {}), ['detail']);
    expect(issues).toHaveLength(1);
    expect(issues[0]!.path).toBe('detail.stage');
  });

  it('reports a union failure from the branch that matched the shape, at its deepest path', () => {
    expect(toContractIssues(errorOf(Doc, { items: ['ok', { scrip: 'x' }] }))).toEqual([
      { path: 'items[1].script', message: 'Invalid input: expected string, received undefined' },
    ]);
  });

  it('reports a refinement of the string branch when the value was a string', () => {
    expect(toContractIssues(errorOf(Doc, { items: [''] }))).toEqual([
      { path: 'items[0]', message: 'must not be empty' },
    ]);
  });

  it('falls back to the union message when no branch matched the type at all', () => {
    expect(toContractIssues(errorOf(Doc, { items: [7, null] }))).toEqual([
      { path: 'items[0]', message: 'must be a name or an object' },
      { path: 'items[1]', message: 'must be a name or an object' },
    ]);
  });

  it('drops exact duplicates', () => {
    const Twice = z.string().superRefine((_, ctx) => {
      ctx.addIssue({ code: 'custom', message: 'same' });
      ctx.addIssue({ code: 'custom', message: 'same' });
      ctx.addIssue({ code: 'custom', message: 'other' });
    });
    expect(toContractIssues(errorOf(Twice, 'x'))).toEqual([
      { path: '(root)', message: 'same' },
      { path: '(root)', message: 'other' },
    ]);
  });
});

describe('ContractError and parseContract', () => {
  it('parseContract returns the parsed value (with transforms and defaults applied)', () => {
    const schema = z.object({ n: z.number().default(1), s: z.string().transform((s) => s.toUpperCase()) });
    expect(parseContract(schema, { s: 'x' }, 'thing')).toEqual({ n: 1, s: 'X' });
  });

  it('parseContract throws a ContractError naming what was parsed and every problem', () => {
    let caught: unknown;
    try {
      parseContract(z.object({ a: z.number(), b: z.string() }), { a: '1' }, 'job message');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ContractError);
    const err = caught as ContractError;
    expect(err.name).toBe('ContractError');
    expect(err.what).toBe('job message');
    expect(err.issues.map((i) => i.path)).toEqual(['a', 'b']);
    expect(err.message).toMatch(/^job message: a: .*expected number.*; b: .*expected string/);
  });
});

describe('identifiers', () => {
  it.each(['blog_test_workflow', 'a', 'A-1.b_2', 'blog_test_workflow-01J9ZQ3V4K8M2N5P7R9S1T3V5X'])(
    'accepts %j as a workflow id and an execution id',
    (id) => {
      expect(WorkflowId.safeParse(id).success).toBe(true);
      expect(ExecutionId.safeParse(id).success).toBe(true);
    },
  );

  it.each(['', '.', '..', 'a b', 'a/b', 'a:b', 'é', 'a\nb', 'a$b'])('refuses %j as an id', (id) => {
    expect(WorkflowId.safeParse(id).success).toBe(false);
    expect(ExecutionId.safeParse(id).success).toBe(false);
  });

  it('bounds execution ids at 48 characters and workflow ids at 64', () => {
    expect(MAX_EXECUTION_ID_LENGTH).toBe(48);
    expect(ExecutionId.safeParse('e'.repeat(48)).success).toBe(true);
    expect(toContractIssues(errorOf(ExecutionId, 'e'.repeat(49)))).toEqual([
      { path: '(root)', message: 'must be at most 48 characters' },
    ]);
    expect(WorkflowId.safeParse('w'.repeat(64)).success).toBe(true);
    expect(WorkflowId.safeParse('w'.repeat(65)).success).toBe(false);
  });

  it.each([
    ['1.1', true],
    ['2.10', true],
    ['12.345', true],
    ['0.1', false],
    ['1.0', false],
    ['01.1', false],
    ['1', false],
    ['1.1.1', false],
    ['1-1', false],
    [' 1.1', false],
  ])('job key %j valid: %s', (key, ok) => {
    expect(JobKey.safeParse(key).success).toBe(ok);
  });

  it.each([
    ['2024-01-31T23:59:59.123Z', true],
    ['2024-01-31T23:59:59Z', true],
    ['2024-02-30T00:00:00Z', false],
    ['2024-01-31T23:59:59+01:00', false],
    ['2024-01-31 23:59:59Z', false],
    ['2024-01-31', false],
  ])('timestamp %j valid: %s', (ts, ok) => {
    expect(Timestamp.safeParse(ts).success).toBe(ok);
  });
});

describe('parameters', () => {
  it('accepts env-safe names with string values', () => {
    const p = { LOAD_DATE: '2024-01-01', _x: '', lower_case1: 'y' };
    expect(Parameters.parse(p)).toEqual(p);
  });

  it.each([
    ['PGPASSWORD', true],
    ['PATH', true],
    ['RSPASSWORD', true],
    ['RSQLO_', true],
    ['RSQLO_JOB_KEY', true],
    ['RSQLO', false],
    ['rsqlo_x', false],
    ['PGPASSWORD_FILE', false],
    ['LOAD_DATE', false],
  ])('%s reserved: %s', (name, reserved) => {
    expect(isReservedEnvName(name)).toBe(reserved);
  });
});
