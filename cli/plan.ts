import path from 'node:path';
import type { Calendar } from '../contracts/calendar.js';
import type { WorkflowDefinition } from '../contracts/workflow.js';
import { scriptName } from '../contracts/workflow.js';
import { nextCalendarFireTimes } from '../services/scheduler/calendar.js';
import { jobPolicy } from '../services/starter/plan.js';

/** One job as it would run. */
export interface PlannedJob {
  job_key: string;
  script: string;
  /** The script's absolute path. */
  path: string;
  /** How it is started: bash for .sh, the RSQL runner for .sql, else executed directly. */
  runs_with: string;
  args: string[];
  timeout_seconds: number;
  heartbeat_seconds: number;
  retries: number;
  retry_backoff_seconds: number;
  retry_backoff_rate: number;
  /** Why it would not run (its stage is disabled), else null. */
  skipped: string | null;
}

export interface PlannedWorkflow {
  workflow_id: string;
  workflow_description: string | null;
  file: string;
  script_root: string;
  max_active_runs: number;
  schedule: unknown;
  /** The calendar the schedule fires on (its days only), or null. */
  calendar: string | null;
  /** The schedule's next firings (on calendar days), ISO; empty without a schedule. */
  next_fire_times: string[];
  /** `trigger.after` (runs once each of these has Completed), or null. */
  trigger: WorkflowDefinition['trigger'] | null;
  parameters: Record<string, string>;
  stages: Array<{
    stage: number;
    execution_type: string;
    enabled: boolean;
    max_concurrency: number | null;
    stage_description: string | null;
    jobs: PlannedJob[];
  }>;
}

/**
 * `rsqlo plan`: the stages and jobs of a definition as a run would execute them — resolved paths,
 * how each script is started, its effective policy (its own over the workflow defaults over
 * rsqlo's), what is disabled — computed with the same code the starter plans runs with.
 */
export function planWorkflow(
  def: WorkflowDefinition,
  file: string,
  scriptRoot: string,
  params: Record<string, string>,
  firings: { calendar?: Calendar; from?: Date; count?: number } = {},
): PlannedWorkflow {
  const s = def.schedule;
  const spec =
    s === undefined || (typeof s === 'object' && s.enabled === false)
      ? undefined
      : typeof s === 'string'
        ? { expression: s }
        : { expression: s.expression, timezone: s.timezone };
  const next = spec
    ? nextCalendarFireTimes(spec, firings.calendar, firings.from ?? new Date(), firings.count ?? 5)
    : [];
  return {
    workflow_id: def.workflow_id,
    workflow_description: def.workflow_description ?? null,
    file,
    script_root: scriptRoot,
    max_active_runs: def.max_active_runs ?? 1,
    schedule: def.schedule ?? null,
    calendar: def.calendar ?? null,
    next_fire_times: next.map((t) => t.toISOString()),
    trigger: def.trigger ?? null,
    parameters: { ...(def.parameters ?? {}), ...params },
    stages: def.workflow_stages.map((st, si) => {
      const enabled = st.execution_flag === 'y';
      return {
        stage: si + 1,
        execution_type: st.execution_type,
        enabled,
        max_concurrency: st.max_concurrency ?? null,
        stage_description: st.stage_description ?? null,
        jobs: st.scripts.map((ref, ji) => {
          const p = jobPolicy(def, si, ji);
          const script = scriptName(ref);
          const ext = path.extname(script).toLowerCase();
          return {
            job_key: `${si + 1}.${ji + 1}`,
            script,
            path: path.resolve(scriptRoot, script),
            runs_with: ext === '.sh' ? 'bash' : ext === '.sql' ? 'rsql -f' : 'executed directly',
            args: p.args,
            timeout_seconds: p.timeout_seconds,
            heartbeat_seconds: p.heartbeat_seconds,
            retries: p.max_attempts - 1,
            retry_backoff_seconds: p.retry_backoff_seconds,
            retry_backoff_rate: p.retry_backoff_rate,
            skipped: enabled ? null : `stage ${si + 1} is disabled (execution_flag "n")`,
          };
        }),
      };
    }),
  };
}

/** The plan as people read it. */
export function formatPlan(p: PlannedWorkflow, fromParams: ReadonlySet<string>): string {
  const out: string[] = [];
  out.push(`${p.workflow_id}${p.workflow_description ? ` — ${p.workflow_description}` : ''}`);
  out.push(`  definition ${p.file}`);
  out.push(`  scripts    ${p.script_root}`);
  out.push(
    `  max_active_runs ${p.max_active_runs}; schedule ${p.schedule === null ? 'none' : JSON.stringify(p.schedule)}`,
  );
  if (p.calendar !== null) out.push(`  calendar   ${p.calendar} (the schedule fires on its days only)`);
  if (p.next_fire_times.length > 0) out.push(`  next fires ${p.next_fire_times.join(', ')}`);
  if (p.trigger)
    out.push(
      `  trigger    runs once each of ${p.trigger.after.join(', ')} has Completed${p.trigger.within_hours !== undefined ? ` (within ${p.trigger.within_hours} h of each other)` : ''}`,
    );
  const names = Object.keys(p.parameters).sort();
  out.push(
    `  parameters ${names.length === 0 ? 'none' : names.map((k) => `${k}=${JSON.stringify(p.parameters[k])}${fromParams.has(k) ? ' (--param)' : ''}`).join(', ')}`,
  );
  const total = p.stages.reduce((n, s) => n + s.jobs.length, 0);
  const running = p.stages.filter((s) => s.enabled).reduce((n, s) => n + s.jobs.length, 0);
  out.push(`  ${p.stages.length} stage(s), ${total} job(s), ${running} would run`);
  for (const s of p.stages) {
    const how =
      s.execution_type === 'parallel'
        ? `parallel${s.max_concurrency !== null ? ` (at most ${s.max_concurrency} at once)` : ' (all at once)'}`
        : 'sequential (one at a time, in order)';
    out.push('');
    out.push(
      `stage ${s.stage} ${how}${s.stage_description ? ` — ${s.stage_description}` : ''}${s.enabled ? '' : '  DISABLED (execution_flag "n"): its jobs are Skipped'}`,
    );
    for (const j of s.jobs) {
      const args = j.args.length > 0 ? ` ${j.args.map((a) => JSON.stringify(a)).join(' ')}` : '';
      out.push(`  ${j.job_key.padEnd(6)} ${j.skipped ? '(skipped) ' : ''}${j.runs_with} ${j.path}${args}`);
      out.push(
        `         timeout ${j.timeout_seconds} s, heartbeat ${j.heartbeat_seconds} s, retries ${j.retries}${j.retries > 0 ? ` (backoff ${j.retry_backoff_seconds} s × ${j.retry_backoff_rate})` : ''}`,
      );
    }
  }
  return `${out.join('\n')}\n`;
}
