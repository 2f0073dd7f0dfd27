import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { type Calendar, parseCalendarText } from '../contracts/calendar.js';
import { dependencyIssues } from '../contracts/dependencies.js';
import { listScripts, parseDefinitionText, type WorkflowDefinition } from '../contracts/workflow.js';

/** A workflow definition found in the deployed folder. */
export interface DeployedWorkflow {
  /** Path of the file, relative to the folder that was scanned. */
  file: string;
  /** The file's JSON exactly as written (what goes into the config table). */
  raw: Record<string, unknown>;
  /** The validated definition (defaults applied), for schedules and deadlines. */
  definition: WorkflowDefinition;
}

export class WorkflowFolderError extends Error {
  override name = 'WorkflowFolderError';
}

/** Folders never scanned for definitions. */
const SKIPPED_DIRS = new Set(['node_modules', '.git', 'cdk.out', '.rsqlo']);

/**
 * Every workflow definition under `folder`: each `*.json` file, recursively (a workflow folder
 * holds `workflow.json` beside its `scripts/`, like `examples/blog/`). Each file must be a valid
 * definition (contracts/workflow.ts) and every workflow_id unique; the error names the file, the
 * JSON path and what is wrong, so a bad definition stops the synth instead of the first run.
 */
export function loadWorkflowFolder(folder: string): DeployedWorkflow[] {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(folder);
  } catch {
    throw new WorkflowFolderError(`workflows folder ${folder} does not exist`);
  }
  if (!st.isDirectory()) throw new WorkflowFolderError(`workflows folder ${folder} is not a folder`);
  const files = listJson(folder);
  const out: DeployedWorkflow[] = [];
  const problems: string[] = [];
  const seen = new Map<string, string>();
  for (const file of files) {
    const text = readFileSync(path.join(folder, file), 'utf8');
    const result = parseDefinitionText(text);
    if (!result.ok) {
      problems.push(
        `${file}: invalid workflow definition\n${result.issues.map((i) => `    ${i.path}: ${i.message}`).join('\n')}`,
      );
      continue;
    }
    const id = result.definition.workflow_id;
    const other = seen.get(id);
    if (other) {
      problems.push(`${file}: workflow_id "${id}" is already defined in ${other}`);
      continue;
    }
    seen.set(id, file);
    out.push({ file, raw: JSON.parse(text) as Record<string, unknown>, definition: result.definition });
  }
  if (problems.length)
    throw new WorkflowFolderError(`workflows folder ${folder}:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  checkDependencies(folder, out, loadCalendarFolder(folder));
  return out;
}

/** A business calendar found in `<workflows folder>/calendars/`. */
export interface DeployedCalendar {
  /** Its name: the file name without `.json`. */
  name: string;
  /** Path of the file, relative to the workflows folder. */
  file: string;
  /** The file's JSON as written (what goes into the config table). */
  raw: Record<string, unknown>;
  calendar: Calendar;
}

/** The folder beside the definitions that holds the calendars (never scanned for definitions). */
export const CALENDARS_DIR = 'calendars';

/**
 * Every calendar in `<folder>/calendars/*.json` (none when there is no such folder), each valid
 * (contracts/calendar.ts); the error names the file and what is wrong.
 */
export function loadCalendarFolder(folder: string): DeployedCalendar[] {
  const dir = path.join(folder, CALENDARS_DIR);
  let names: string[];
  try {
    names = readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isFile() && e.name.endsWith('.json'))
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
  const out: DeployedCalendar[] = [];
  const problems: string[] = [];
  for (const n of names) {
    const file = `${CALENDARS_DIR}/${n}`;
    const name = n.slice(0, -'.json'.length);
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) {
      problems.push(`${file}: a calendar's name may only contain letters, digits, "_" and "-"`);
      continue;
    }
    const text = readFileSync(path.join(folder, file), 'utf8');
    const r = parseCalendarText(text);
    if (!r.ok) {
      problems.push(
        `${file}: invalid calendar\n${r.issues.map((i) => `    ${i.path}: ${i.message}`).join('\n')}`,
      );
      continue;
    }
    out.push({ name, file, raw: JSON.parse(text) as Record<string, unknown>, calendar: r.calendar });
  }
  if (problems.length)
    throw new WorkflowFolderError(`workflows folder ${folder}:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  return out;
}

/**
 * The checks across the folder's definitions: every `trigger.after` names a workflow of the folder,
 * the triggers form no cycle (named in full: `wf_a → wf_b → wf_a`), and every `calendar` names a
 * calendar of `calendars/`.
 */
export function checkDependencies(
  folder: string,
  workflows: readonly DeployedWorkflow[],
  calendars: readonly DeployedCalendar[],
): void {
  const issues = dependencyIssues(
    workflows.map((w) => w.definition),
    new Set(calendars.map((c) => c.name)),
  );
  if (issues.length === 0) return;
  const fileOf = new Map(workflows.map((w) => [w.definition.workflow_id, w.file]));
  throw new WorkflowFolderError(
    `workflows folder ${folder}:\n${issues.map((i) => `  ${fileOf.get(i.workflow_id) ?? i.workflow_id}: ${i.path}: ${i.message}`).join('\n')}`,
  );
}

function listJson(root: string, rel = ''): string[] {
  const out: string[] = [];
  const entries = readdirSync(path.join(root, rel), { withFileTypes: true }).sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
  for (const e of entries) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) {
      // calendars/ beside the definitions holds calendars (loadCalendarFolder), not definitions.
      if (!SKIPPED_DIRS.has(e.name) && !(rel === '' && e.name === CALENDARS_DIR))
        out.push(...listJson(root, p));
    } else if (e.isFile() && e.name.endsWith('.json')) out.push(p);
  }
  return out;
}

/** The scripts bundle's format (agent/script-cache.ts reads it). */
export const SCRIPT_BUNDLE_FORMAT = 'rsqlo-scripts/1';
/** Largest scripts bundle: every host downloads it whole, once per version. */
export const MAX_SCRIPT_BUNDLE_BYTES = 50 * 1024 * 1024;

/** The scripts of the deployed workflows, as one file whose SHA-256 is its version. */
export interface ScriptBundle {
  bytes: Buffer;
  /** SHA-256 (hex) of `bytes`. */
  version: string;
  /** The workflows it holds scripts for, and where each one's scripts were found. */
  workflows: Array<{ workflowId: string; root: string; files: number }>;
  /** Workflows whose scripts are not beside their definition: they run from `rsql_script_path`. */
  notShipped: Array<{ workflowId: string; reason: string }>;
}

/**
 * Packs the scripts of the definitions in `folder` (as loaded by {@link loadWorkflowFolder}): for
 * each, the first of its definition's folder or that folder's `scripts/` that holds every script
 * it names (the place `rsqlo run` looks too), with everything below it except other workflows'
 * folders and definition files. A workflow with none of its scripts there is not shipped (its
 * jobs keep running from the hosts' `rsql_script_path`); one with only some of them is an error.
 * Deterministic: the same files give the same bytes, hence the same version.
 */
export function bundleScripts(folder: string, workflows: readonly DeployedWorkflow[]): ScriptBundle {
  const definitionFiles = new Set(workflows.map((w) => path.resolve(folder, w.file)));
  const definitionDirs = new Set([...definitionFiles].map((f) => path.dirname(f)));
  const out: Record<string, Record<string, { mode: number; base64: string }>> = {};
  const shipped: ScriptBundle['workflows'] = [];
  const notShipped: ScriptBundle['notShipped'] = [];
  const problems: string[] = [];
  let total = 0;
  const sorted = [...workflows].sort((a, b) => cmp(a.definition.workflow_id, b.definition.workflow_id));
  for (const wf of sorted) {
    const id = wf.definition.workflow_id;
    const dir = path.dirname(path.resolve(folder, wf.file));
    const scripts = [...new Set(listScripts(wf.definition).map((s) => s.script))];
    const candidates = [dir, path.join(dir, 'scripts')];
    const found = candidates.map((root) => scripts.filter((s) => isFile(path.join(root, s))));
    const full = candidates.findIndex((_, i) => found[i]?.length === scripts.length);
    if (full < 0) {
      const best = Math.max(...found.map((f) => f.length));
      const where = candidates.map((c) => path.relative(folder, c) || '.').join(' or ');
      if (best === 0) {
        notShipped.push({ workflowId: id, reason: `none of its scripts is in ${where}` });
        continue;
      }
      const have = found.find((f) => f.length === best) ?? [];
      const missing = scripts.filter((s) => !have.includes(s));
      problems.push(`${wf.file}: scripts not found in ${where}: ${missing.join(', ')}`);
      continue;
    }
    const root = candidates[full] as string;
    const files: Record<string, { mode: number; base64: string }> = {};
    for (const rel of listFiles(root, root === dir ? definitionDirs : new Set(), definitionFiles)) {
      const abs = path.join(root, rel);
      const content = readFileSync(abs);
      total += content.length;
      files[rel] = { mode: statSync(abs).mode & 0o755, base64: content.toString('base64') };
    }
    out[id] = files;
    shipped.push({ workflowId: id, root, files: Object.keys(files).length });
  }
  if (problems.length)
    throw new WorkflowFolderError(`workflows folder ${folder}:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  if (total > MAX_SCRIPT_BUNDLE_BYTES)
    throw new WorkflowFolderError(
      `workflows folder ${folder}: the scripts take ${total} bytes, more than ${MAX_SCRIPT_BUNDLE_BYTES} (every host downloads them whole); keep data files out of the script folders`,
    );
  const bytes = Buffer.from(JSON.stringify({ format: SCRIPT_BUNDLE_FORMAT, workflows: out }));
  return { bytes, version: createHash('sha256').update(bytes).digest('hex'), workflows: shipped, notShipped };
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/** Regular files under `root` (sorted, `/`-separated), minus other workflows' folders and definitions. */
function listFiles(root: string, skipDirs: Set<string>, skipFiles: Set<string>, rel = ''): string[] {
  const out: string[] = [];
  const here = path.join(root, rel);
  const entries = readdirSync(here, { withFileTypes: true }).sort((a, b) => cmp(a.name, b.name));
  for (const e of entries) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    const abs = path.join(root, p);
    if (e.isDirectory() || (e.isSymbolicLink() && statSync(abs).isDirectory())) {
      if (SKIPPED_DIRS.has(e.name) || skipDirs.has(abs)) continue;
      out.push(...listFiles(root, skipDirs, skipFiles, p));
    } else if (isFile(abs) && !skipFiles.has(abs)) out.push(p);
  }
  return out;
}
