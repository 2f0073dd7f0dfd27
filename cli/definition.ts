import {
  closeSync,
  existsSync,
  openSync,
  readFileSync,
  readSync,
  realpathSync,
  type Stats,
  statSync,
} from 'node:fs';
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
    } else {
      const problem = scriptProblem(script, real);
      if (problem) issues.push({ path: at, message: problem });
    }
  }
  return issues;
}

/** What a stat says a path is, for "is a FIFO, not a regular file". */
function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a named pipe (FIFO)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

/** How much of a shell script is read for CRLF line endings (scripts are small; 4 MiB is plenty). */
const SHELL_SCAN_BYTES = 4 * 1024 * 1024;

/**
 * Why a script that exists inside the root will break when it runs, or undefined: it is not a
 * regular file (a folder, a FIFO that would block the job), a script run directly (neither `.sh`
 * nor `.sql`) lacks the exec bit, or a shell script has CRLF line endings (bash reads the `\r` as
 * part of each command: `$'\r': command not found`, `cd: $'/data\r'`…).
 */
export function scriptProblem(script: string, real: string): string | undefined {
  const st = statSync(real);
  if (!st.isFile()) return `"${script}" is ${kindOf(st)}, not a regular file (${real})`;
  const ext = path.extname(real).toLowerCase();
  if (ext !== '.sh' && ext !== '.sql' && (st.mode & 0o111) === 0)
    return `"${script}" is not executable (${real}): scripts other than .sh and .sql are run directly; chmod +x it, or name it .sh to run it with bash`;
  const head = readHead(real, SHELL_SCAN_BYTES);
  if (ext !== '.sh' && !/^#![^\n]*\b(?:ba|da|k|z)?sh\b/.test(head)) return undefined;
  const lines = head.split('\n');
  const crlf: number[] = [];
  for (let i = 0; i < lines.length - 1; i++) if ((lines[i] as string).endsWith('\r')) crlf.push(i + 1);
  if (crlf.length === 0) return undefined;
  const more = crlf.length > 1 ? ` (and ${crlf.length - 1} more line${crlf.length > 2 ? 's' : ''})` : '';
  return `"${script}" has Windows (CRLF) line endings at line ${crlf[0]}${more} (${real}): bash would read the \\r as part of each command; convert it with dos2unix or sed -i 's/\\r$//'`;
}

function readHead(file: string, max: number): string {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(Math.min(max, statSync(file).size));
    const n = readSync(fd, buf, 0, buf.length, 0);
    return buf.toString('latin1', 0, n);
  } finally {
    closeSync(fd);
  }
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
