import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { type Calendar, parseCalendarText } from '../contracts/calendar.js';
import { dependencyIssues } from '../contracts/dependencies.js';
import { parseDefinitionText, type WorkflowDefinition } from '../contracts/workflow.js';

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
