import type { ContractIssue } from '../contracts/common.js';
import { validateDefinition, type WorkflowDefinition } from '../contracts/workflow.js';

/**
 * `--param KEY=VALUE` (repeatable) → the parameters of one run. The value is everything after the
 * first `=` (it may be empty or contain `=`); a key given twice keeps the last value, as a shell's
 * assignments do. Malformed ones are returned as issues naming the flag.
 */
export function parseParams(list: readonly string[] | undefined): {
  params: Record<string, string>;
  issues: ContractIssue[];
} {
  const params: Record<string, string> = {};
  const issues: ContractIssue[] = [];
  for (const item of list ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0) {
      issues.push({ path: `--param ${item}`, message: 'must be KEY=VALUE' });
      continue;
    }
    params[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return { params, issues };
}

/**
 * Checks run parameters exactly as the definition's `parameters` are checked (names usable as
 * environment variables and not rsqlo's own, no NUL, within the size limits), by validating the
 * definition with them merged in. Issues name the flag: `--param RSQLO_X: "RSQLO_X" is set by rsqlo…`.
 */
export function checkParams(def: WorkflowDefinition, params: Record<string, string>): ContractIssue[] {
  if (Object.keys(params).length === 0) return [];
  const r = validateDefinition({ ...def, parameters: { ...(def.parameters ?? {}), ...params } });
  if (r.ok) return [];
  return r.issues.map((i) => {
    const m = /^parameters\.?(.*)$/.exec(i.path);
    const key = m?.[1]?.replace(/^\["?|"?\]$/g, '');
    return key && key in params ? { path: `--param ${key}`, message: i.message } : i;
  });
}
