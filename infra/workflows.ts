import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
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
  return out;
}

function listJson(root: string, rel = ''): string[] {
  const out: string[] = [];
  const entries = readdirSync(path.join(root, rel), { withFileTypes: true }).sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
  for (const e of entries) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) {
      if (!SKIPPED_DIRS.has(e.name)) out.push(...listJson(root, p));
    } else if (e.isFile() && e.name.endsWith('.json')) out.push(p);
  }
  return out;
}
