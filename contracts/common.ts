import { z } from 'zod';

/**
 * Identifiers travel into Step Functions execution names, CloudWatch log stream names and file
 * paths, so both ids are limited to a charset every one of those accepts.
 */
export const SAFE_ID_PATTERN = /^[A-Za-z0-9_.-]+$/;

/** Longest workflow_id; long enough for real names, short enough for derived names. */
export const MAX_WORKFLOW_ID_LENGTH = 64;

/** Longest workflow_execution_id (ARCHITECTURE.md §1: it becomes part of Step Functions execution names). */
export const MAX_EXECUTION_ID_LENGTH = 48;

export const WorkflowId = z
  .string({ error: 'must be a string' })
  .min(1, { error: 'must not be empty' })
  .max(MAX_WORKFLOW_ID_LENGTH, { error: `must be at most ${MAX_WORKFLOW_ID_LENGTH} characters` })
  .regex(SAFE_ID_PATTERN, { error: 'may only contain letters, digits, "_", "." and "-"' })
  .refine((s) => s !== '.' && s !== '..', { error: 'must not be "." or ".."' });

export const ExecutionId = z
  .string({ error: 'must be a string' })
  .min(1, { error: 'must not be empty' })
  .max(MAX_EXECUTION_ID_LENGTH, { error: `must be at most ${MAX_EXECUTION_ID_LENGTH} characters` })
  .regex(SAFE_ID_PATTERN, { error: 'may only contain letters, digits, "_", "." and "-"' })
  .refine((s) => s !== '.' && s !== '..', { error: 'must not be "." or ".."' });

/** ISO-8601 UTC timestamp with milliseconds, as produced by `Date.prototype.toISOString`. */
export const Timestamp = z.iso.datetime({ offset: false, error: 'must be an ISO-8601 UTC timestamp' });

/** `<stage_no>.<job_no>`, both 1-based (ARCHITECTURE.md §1). */
export const JobKey = z.string().regex(/^[1-9][0-9]*\.[1-9][0-9]*$/, { error: 'must look like "2.1"' });

export const PositiveInt = z.number().int().positive();
export const NonNegativeInt = z.number().int().nonnegative();

/** Names usable as environment variables in a job's process. */
export const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Environment names the engine itself sets for every job; workflow parameters may not shadow them.
 */
export const RESERVED_ENV_NAMES = [
  'PATH',
  'HOME',
  'BASH_ENV',
  'PGHOST',
  'PGPORT',
  'PGUSER',
  'PGDATABASE',
  'PGPASSWORD',
  'HOST',
  'USER',
  'DB',
  'RSPASSWORD',
] as const;

/** Whether a parameter name collides with what the engine sets (RSQLO_* is reserved too). */
export function isReservedEnvName(name: string): boolean {
  return name.startsWith('RSQLO_') || (RESERVED_ENV_NAMES as readonly string[]).includes(name);
}

export const Parameters = z
  .record(
    z.string(),
    z.string({ error: 'parameter values must be strings' }).refine((v) => !v.includes('\0'), {
      error: 'must not contain a NUL character (an environment variable cannot hold one)',
    }),
  )
  .superRefine((params, ctx) => {
    for (const name of Object.keys(params)) {
      if (!ENV_NAME_PATTERN.test(name)) {
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: 'parameter names must be usable as environment variable names ([A-Za-z_][A-Za-z0-9_]*)',
        });
      } else if (isReservedEnvName(name)) {
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: `"${name}" is set by rsqlo and cannot be a parameter`,
        });
      }
    }
  });
export type Parameters = z.infer<typeof Parameters>;

/** Renders a zod issue path the way a user reads JSON: `workflow_stages[0].scripts[1]`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (typeof part === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(part))
      out += out ? `.${part}` : part;
    else out += `[${JSON.stringify(String(part))}]`;
  }
  return out || '(root)';
}

/** One validation problem: where (JSON path) and what. */
export interface ContractIssue {
  path: string;
  message: string;
}

/** Turns zod issues into path + message pairs, unwrapping unions to their most useful branch. */
export function toContractIssues(
  error: z.ZodError,
  basePath: ReadonlyArray<PropertyKey> = [],
): ContractIssue[] {
  const out: ContractIssue[] = [];
  for (const issue of error.issues) {
    const path = [...basePath, ...issue.path];
    if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      // Prefer the branch that got furthest (most specific path), else report the union message.
      const branches = issue.errors.map((errs) =>
        errs.filter((e) => e.code !== 'invalid_type' || e.path.length > 0),
      );
      const best = branches.find((b) => b.length > 0);
      if (best) {
        for (const e of best) out.push({ path: formatPath([...path, ...e.path]), message: e.message });
        continue;
      }
    }
    out.push({ path: formatPath(path), message: issue.message });
  }
  return dedupeIssues(out);
}

function dedupeIssues(issues: ContractIssue[]): ContractIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = `${i.path}\u0000${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** Raised when something at a boundary does not satisfy its contract; lists every problem. */
export class ContractError extends Error {
  override name = 'ContractError';
  constructor(
    readonly what: string,
    readonly issues: ContractIssue[],
  ) {
    super(`${what}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
  }
}

/** Parses `unknown` into a contract type or throws a ContractError naming every problem. */
export function parseContract<T extends z.ZodType>(schema: T, value: unknown, what: string): z.infer<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw new ContractError(what, toContractIssues(result.error));
  return result.data;
}
