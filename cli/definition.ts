import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import type { ContractIssue } from '../contracts/common.js';
import { listScripts, parseDefinitionText, type WorkflowDefinition } from '../contracts/workflow.js';

/** The file a definition argument names: the file itself, or `workflow.json` inside a folder. */
export function definitionFile(arg: string): string {
  const p = path.resolve(arg);
  if (existsSync(p) && statSync(p).isDirectory()) return path.join(p, 'workflow.json');
  return p;
}

export type LoadResult =
  | { ok: true; file: string; definition: WorkflowDefinition; scriptRoot: string }
  | { ok: false; file: string; issues: ContractIssue[] };

function inside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * Checks that every script exists under `root` as a file and does not leave it through a symlink.
 * Returns one issue per bad script, at the JSON path that names it.
 */
export function checkScripts(def: WorkflowDefinition, root: string): ContractIssue[] {
  const issues: ContractIssue[] = [];
  let realRoot: string;
  try {
    realRoot = realpathSync(root);
  } catch {
    return [{ path: '(scripts)', message: `script folder ${root} does not exist` }];
  }
  for (const { script, path: at } of listScripts(def)) {
    const p = path.resolve(root, script);
    if (!existsSync(p)) {
      issues.push({ path: at, message: `script "${script}" not found (looked for ${p})` });
      continue;
    }
    const real = realpathSync(p);
    if (!inside(realRoot, real)) {
      issues.push({
        path: at,
        message: `script "${script}" resolves to ${real}, outside the script root ${realRoot}`,
      });
    } else if (!statSync(real).isFile()) {
      issues.push({ path: at, message: `"${script}" is not a file` });
    }
  }
  return issues;
}

/**
 * Reads, parses and validates a definition and finds its scripts: under `scriptsDir` when given,
 * else the definition's folder, else its `scripts/` subfolder (the first holding every script).
 */
export function loadDefinition(arg: string, scriptsDir?: string): LoadResult {
  const file = definitionFile(arg);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a folder' : (code ?? String(err));
    return { ok: false, file, issues: [{ path: '(file)', message: `cannot read ${file}: ${why}` }] };
  }
  const parsed = parseDefinitionText(text);
  if (!parsed.ok) return { ok: false, file, issues: parsed.issues };
  const def = parsed.definition;
  if (scriptsDir !== undefined) {
    const root = path.resolve(scriptsDir);
    const issues = checkScripts(def, root);
    return issues.length
      ? { ok: false, file, issues }
      : { ok: true, file, definition: def, scriptRoot: root };
  }
  const folder = path.dirname(file);
  const candidates = [folder, path.join(folder, 'scripts')].filter((r) => existsSync(r));
  // The root is the first candidate holding every script; failing that, the one missing fewest.
  let best: { root: string; issues: ContractIssue[]; missing: number } | undefined;
  for (const root of candidates) {
    const issues = checkScripts(def, root);
    const missing = issues.filter((i) => i.message.includes(' not found ')).length;
    if (!best || missing < best.missing) best = { root, issues, missing };
    if (missing === 0) break;
  }
  if (!best)
    return {
      ok: false,
      file,
      issues: [{ path: '(scripts)', message: `no script folder found next to ${file}` }],
    };
  if (best.issues.length === 0) return { ok: true, file, definition: def, scriptRoot: best.root };
  const where = candidates.join(' or ');
  const issues = best.issues.map((i) =>
    i.message.includes(' not found ')
      ? { ...i, message: i.message.replace(/ \(looked for .*\)$/, ` (looked in ${where})`) }
      : i,
  );
  return { ok: false, file, issues };
}

/** How a list of issues reads on a terminal. */
export function formatIssues(file: string, issues: ContractIssue[]): string {
  return `${file}: invalid workflow definition\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`;
}
