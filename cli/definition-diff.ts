import { scriptName, type WorkflowDefinition } from '../contracts/workflow.js';
import { type JobPolicy, jobPolicy } from '../services/starter/plan.js';

/** Most change lines listed (the audit keeps at most 100; the rest are counted in the last one). */
export const MAX_CHANGE_LINES = 100;

const show = (v: unknown): string => {
  if (v === undefined || v === null) return 'none';
  if (typeof v === 'string') return /^[\w./:@+-]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v);
};

/** The policy fields people set, as the definition names them. */
const POLICY_FIELDS: Array<[label: string, get: (p: JobPolicy) => unknown]> = [
  ['args', (p) => p.args],
  ['timeout_seconds', (p) => p.timeout_seconds],
  ['heartbeat_seconds', (p) => p.heartbeat_seconds],
  ['retries', (p) => p.max_attempts - 1],
  ['retry_backoff_seconds', (p) => p.retry_backoff_seconds],
  ['retry_backoff_rate', (p) => p.retry_backoff_rate],
];

/**
 * What changed from one definition to another, one line per change, in the words of the
 * definition: `2.1 timeout_seconds 6 → 60` (job 1 of stage 2, its effective policy: its own setting
 * over the workflow defaults over rsqlo's), `stage 2 execution_flag y → n`, `parameters.DAY
 * 2024-01-01 → 2024-01-02`, `3.1 added (load.sh)`. Empty when they run the same. At most
 * {@link MAX_CHANGE_LINES} lines; the last then says how many more there were.
 */
export function definitionChanges(before: WorkflowDefinition, after: WorkflowDefinition): string[] {
  const out: string[] = [];
  const field = (label: string, a: unknown, b: unknown) => {
    if (JSON.stringify(a ?? null) !== JSON.stringify(b ?? null)) out.push(`${label} ${show(a)} → ${show(b)}`);
  };
  field('workflow_description', before.workflow_description, after.workflow_description);
  field('max_active_runs', before.max_active_runs ?? 1, after.max_active_runs ?? 1);
  field('schedule', before.schedule, after.schedule);
  const pa = before.parameters ?? {};
  const pb = after.parameters ?? {};
  for (const k of [...new Set([...Object.keys(pa), ...Object.keys(pb)])].sort()) {
    if (!(k in pb)) out.push(`parameters.${k} removed (was ${show(pa[k])})`);
    else if (!(k in pa)) out.push(`parameters.${k} added (${show(pb[k])})`);
    else field(`parameters.${k}`, pa[k], pb[k]);
  }
  const stages = Math.max(before.workflow_stages.length, after.workflow_stages.length);
  for (let s = 0; s < stages; s++) {
    const sa = before.workflow_stages[s];
    const sb = after.workflow_stages[s];
    const n = s + 1;
    if (!sa || !sb) {
      const st = (sa ?? sb) as NonNullable<typeof sa>;
      out.push(`stage ${n} ${sa ? 'removed' : 'added'} (${st.scripts.map(scriptName).join(', ')})`);
      continue;
    }
    field(`stage ${n} execution_flag`, sa.execution_flag, sb.execution_flag);
    field(`stage ${n} execution_type`, sa.execution_type, sb.execution_type);
    field(`stage ${n} max_concurrency`, sa.max_concurrency, sb.max_concurrency);
    const jobs = Math.max(sa.scripts.length, sb.scripts.length);
    for (let j = 0; j < jobs; j++) {
      const key = `${n}.${j + 1}`;
      const ja = sa.scripts[j];
      const jb = sb.scripts[j];
      if (ja === undefined || jb === undefined) {
        out.push(`${key} ${ja === undefined ? 'added' : 'removed'} (${scriptName((ja ?? jb) as never)})`);
        continue;
      }
      field(`${key} script`, scriptName(ja), scriptName(jb));
      const a = jobPolicy(before, s, j);
      const b = jobPolicy(after, s, j);
      for (const [label, get] of POLICY_FIELDS) field(`${key} ${label}`, get(a), get(b));
    }
  }
  if (out.length > MAX_CHANGE_LINES) {
    const more = out.length - (MAX_CHANGE_LINES - 1);
    return [...out.slice(0, MAX_CHANGE_LINES - 1), `… and ${more} more changes`];
  }
  return out;
}
