import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseDefinitionText, type WorkflowDefinition } from '../contracts/workflow.js';
import { retryDelaySeconds } from '../services/aggregator/service.js';
import { jobPolicy } from '../services/starter/plan.js';

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

/**
 * Seconds added to every attempt for what happens outside the script's own timeout: the queue, the
 * wrapper's dispatch retries while no agent is online (2+4+…+64 s), the SSM round trip, reporting.
 */
export const ATTEMPT_OVERHEAD_SECONDS = 300;

/**
 * The longest a run of `def` can legitimately take, in seconds: the bound the run watchdog waits
 * before it checks whether the run is still Running (an older run is stuck: an event was lost or a
 * service keeps failing). Per job: every attempt at its full timeout plus the overhead, plus the
 * retry backoffs between attempts (the starter's `jobPolicy` and the aggregator's
 * `retryDelaySeconds`, so the bound follows the same rules as the run). Per stage: sequential
 * stages add their jobs; parallel ones take their longest job when every job has a slot, else
 * Graham's list-scheduling bound ((sum - longest) / slots + longest, at most the sum). Disabled stages add nothing. Stages add up.
 */
export function runDeadlineSeconds(def: WorkflowDefinition): number {
  let total = 0;
  def.workflow_stages.forEach((stage, si) => {
    if (stage.execution_flag !== 'y') return;
    const jobs = stage.scripts.map((_, ji) => {
      const p = jobPolicy(def, si, ji);
      let t = 0;
      for (let attempt = 1; attempt <= p.max_attempts; attempt++) {
        t += p.timeout_seconds + ATTEMPT_OVERHEAD_SECONDS;
        if (attempt < p.max_attempts) t += retryDelaySeconds(p, attempt);
      }
      return t;
    });
    const sum = jobs.reduce((a, b) => a + b, 0);
    if (stage.execution_type === 'sequential') total += sum;
    else {
      const slots = stage.max_concurrency ?? jobs.length;
      const longest = Math.max(...jobs);
      total += slots >= jobs.length ? longest : Math.min(sum, Math.ceil((sum - longest) / slots) + longest);
    }
  });
  return total;
}
