/**
 * The read-only commands over the home's state: `status`, `history` and `logs` (`runs` is in
 * runs.ts).
 */
import type { JobAuditRecord, WorkflowAuditRecord } from '../contracts/audit.js';
import { WorkflowId } from '../contracts/common.js';
import { homeOf, parse, readStore, UsageError } from './command-kit.js';
import { EXIT, type Io, resultDocument } from './drive.js';
import { noRun } from './errors.js';
import { showLogs } from './logs.js';
import { jobStatusText, poolCreatedLine, runStatusText } from './progress.js';
import { runLine } from './runs.js';

/** `rsqlo status`: a run's stages and jobs. */
export function statusCommand(argv: string[], io: Io): number {
  const { positionals, values } = parse(argv, { home: { type: 'string' }, json: { type: 'boolean' } });
  if (positionals.length !== 1) throw new UsageError('status takes one execution id');
  const exec = positionals[0] as string;
  const home = homeOf(values as { home?: string });
  const found = readStore(home, (s) => {
    const run = s.getRunRecord(exec);
    return run ? { run, jobs: s.listJobsSync(exec) } : undefined;
  });
  if (!found) {
    io.stderr.write(`rsqlo: ${noRun(exec, home)}\n`);
    return EXIT.usage;
  }
  const { run, jobs } = found;
  if (values.json) {
    io.stdout.write(`${JSON.stringify(resultDocument(run, jobs), null, 2)}\n`);
    return 0;
  }
  io.stdout.write(statusText(run, jobs));
  return 0;
}

/** What `rsqlo status` prints for a run (locally and with --aws): the run, its stages and jobs. */
export function statusText(run: WorkflowAuditRecord, jobs: JobAuditRecord[]): string {
  const out: string[] = [];
  out.push(`${run.workflow_id}  ${run.workflow_execution_id}  ${runStatusText(run)}`);
  out.push(
    `  started ${run.execution_start_ts}${run.execution_end_ts ? `, ended ${run.execution_end_ts}` : ''}${run.restart_of ? `, restart of ${run.restart_of}` : ''}`,
  );
  const hold = run.hold_state;
  if (run.execution_status === 'Running' && hold?.held) {
    out.push(
      `  held by ${hold.requested_by} since ${hold.requested_at}${hold.reason ? ` (${hold.reason})` : ''}${hold.scope === 'workflow' ? ` with every new run of ${run.workflow_id}` : ''}: no new job starts until freed`,
    );
  }
  for (const p of run.pools_created ?? [])
    out.push(`  ${poolCreatedLine({ ...p, workflow_id: run.workflow_id })}`);
  for (const st of run.stages) {
    out.push(
      `  stage ${st.stage} ${st.execution_type} ${st.status}${st.stage_description ? ` — ${st.stage_description}` : ''}`,
    );
    for (const j of jobs.filter((x) => x.stage === st.stage)) {
      const dur =
        j.execution_start_ts && j.execution_end_ts
          ? ` ${((Date.parse(j.execution_end_ts) - Date.parse(j.execution_start_ts)) / 1000).toFixed(2)} s`
          : '';
      const shown = jobStatusText(j);
      const extra =
        shown !== j.execution_status
          ? ''
          : j.skip_reason
            ? ` (${j.skip_reason})`
            : j.exit_code !== null && j.exit_code !== 0
              ? ` (exit ${j.exit_code})`
              : '';
      out.push(
        `    ${j.job_key.padEnd(6)} ${j.job_name.padEnd(30)} ${shown.padEnd(10)}${dur}${extra}${j.attempt > 1 ? ` attempt ${j.attempt}` : ''}`,
      );
    }
  }
  const actions = run.operator_actions ?? [];
  if (actions.length > 0) {
    out.push('  operator actions:');
    for (const a of actions) {
      out.push(
        `    ${a.applied_at}  ${a.action.replace('_', ' ')}${a.job_key ? ` ${a.job_key}` : ''}${a.attempt ? ` (attempt ${a.attempt})` : ''} by ${a.requested_by}${a.reason ? `: ${a.reason}` : ''}`,
      );
    }
  }
  return `${out.join('\n')}\n`;
}

/** `rsqlo history`: a workflow's runs, newest first. */
export function historyCommand(argv: string[], io: Io): number {
  const { positionals, values } = parse(argv, {
    home: { type: 'string' },
    json: { type: 'boolean' },
    limit: { type: 'string' },
  });
  if (positionals.length !== 1) throw new UsageError('history takes one workflow_id');
  const wf = positionals[0] as string;
  if (!WorkflowId.safeParse(wf).success) throw new UsageError(`"${wf}" is not a valid workflow_id`);
  const limit = values.limit === undefined ? 20 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit must be a positive whole number');
  const home = homeOf(values as { home?: string });
  const runs = readStore(home, (s) => s.listRunsSync(wf, limit)) ?? [];
  if (values.json) {
    io.stdout.write(`${JSON.stringify(runs, null, 2)}\n`);
    return 0;
  }
  if (runs.length === 0) {
    io.stdout.write(`no runs of ${wf} in ${home}\n`);
    return 0;
  }
  for (const r of runs) io.stdout.write(runLine(r));
  return 0;
}

/** `rsqlo logs`: a run's (or a job's) logs, streamed. */
export async function logsCommand(argv: string[], io: Io): Promise<number> {
  const { positionals, values } = parse(argv, {
    home: { type: 'string' },
    attempt: { type: 'string' },
    tail: { type: 'string' },
    follow: { type: 'boolean', short: 'f' },
  });
  if (positionals.length < 1 || positionals.length > 2)
    throw new UsageError('logs takes an execution id and optionally a job_key');
  const [exec, job] = positionals as [string, string | undefined];
  const whole = (name: string, min: number): number | undefined => {
    const v = values[name];
    if (v === undefined) return undefined;
    const n = Number(v);
    if (typeof v !== 'string' || !/^\d+$/.test(v) || n < min)
      throw new UsageError(`--${name} must be a whole number${min > 0 ? ` of at least ${min}` : ''}`);
    return n;
  };
  const r = await showLogs(
    {
      home: homeOf(values as { home?: string }),
      exec,
      job,
      attempt: whole('attempt', 1),
      tail: whole('tail', 0),
      follow: values.follow === true,
    },
    io,
  );
  if (r.error) io.stderr.write(`rsqlo: ${r.error}\n`);
  return r.code;
}
