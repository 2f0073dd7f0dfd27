/**
 * `rsqlo runs [--workflow ID] [--status S] [--limit N] [--json]`: every run of a home, newest
 * first. It reads the engine state read-only (the run view's read model), so it works the same
 * whether an engine or a server is running on the home or not.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { WorkflowStatus } from '../contracts/audit.js';
import { WorkflowId } from '../contracts/common.js';
import { MAX_RUN_LIST_LIMIT, type RunSummary } from '../contracts/run-view.js';
import { createLocalRunViewSource } from '../runtime/local/run-view-source.js';
import { EXIT, type Io } from './drive.js';

export const RUNS_USAGE = `Usage: rsqlo runs [--workflow ID] [--status S] [--limit N] [--home DIR] [--json]

Every run of the home, newest first (default: the last 20).
  --workflow ID   only this workflow's runs
  --status S      only runs in this status (${WorkflowStatus.options.join(', ')})
  --limit N       at most N runs (1-${MAX_RUN_LIST_LIMIT})
  --json          a JSON array of runs (id, workflow, status, times, restart_of, job counts)
`;

function usage(io: Io, message: string): number {
  io.stderr.write(`rsqlo runs: ${message}\n\n${RUNS_USAGE}`);
  return EXIT.usage;
}

export async function runsCommand(argv: string[], io: Io): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    const parsed = parseArgs({
      args: argv,
      options: {
        workflow: { type: 'string' },
        status: { type: 'string' },
        limit: { type: 'string' },
        home: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    });
    if (parsed.positionals.length > 0) return usage(io, `unexpected argument "${parsed.positionals[0]}"`);
    values = parsed.values;
  } catch (err) {
    return usage(
      io,
      err instanceof Error ? err.message.replace(/^TypeError \[[A-Z_]+\]: /, '') : String(err),
    );
  }
  if (values.help) {
    io.stdout.write(RUNS_USAGE);
    return 0;
  }
  const workflow = values.workflow as string | undefined;
  if (workflow !== undefined && !WorkflowId.safeParse(workflow).success)
    return usage(io, `--workflow: "${workflow}" is not a valid workflow_id`);
  const status = values.status as string | undefined;
  const st = status === undefined ? undefined : WorkflowStatus.safeParse(status);
  if (st && !st.success)
    return usage(io, `--status must be one of ${WorkflowStatus.options.join(', ')}, got "${status}"`);
  const limitText = (values.limit as string | undefined) ?? '20';
  const limit = Number(limitText);
  if (!/^\d+$/.test(limitText) || limit < 1 || limit > MAX_RUN_LIST_LIMIT)
    return usage(io, `--limit must be a whole number from 1 to ${MAX_RUN_LIST_LIMIT}`);
  const home = path.resolve((values.home as string | undefined) ?? process.env.RSQLO_HOME ?? '.rsqlo');
  const source = createLocalRunViewSource({ home });
  let runs: RunSummary[];
  try {
    runs = (await source.listRuns({ workflow_id: workflow, status: st?.data, limit })).runs;
  } finally {
    source.close();
  }
  if (values.json) {
    io.stdout.write(`${JSON.stringify(runs, null, 2)}\n`);
    return 0;
  }
  if (runs.length === 0) {
    const filters = [workflow && `of ${workflow}`, status && `${status}`].filter(Boolean).join(' ');
    io.stdout.write(`no ${filters ? `${filters} ` : ''}runs in ${home}\n`);
    return 0;
  }
  for (const r of runs) io.stdout.write(runLine(r));
  return 0;
}

/** One line per run, as `rsqlo runs` and `rsqlo history` print it. */
export function runLine(r: {
  execution_start_ts: string;
  execution_end_ts?: string | null | undefined;
  workflow_execution_id: string;
  execution_status: string;
  counts: { completed: number; total: number };
  restart_of?: string | null | undefined;
}): string {
  const dur = r.execution_end_ts
    ? `${((Date.parse(r.execution_end_ts) - Date.parse(r.execution_start_ts)) / 1000).toFixed(1)} s`
    : 'running';
  const c = r.counts;
  return `${r.execution_start_ts}  ${r.workflow_execution_id.padEnd(48)} ${r.execution_status.padEnd(10)} ${dur.padStart(9)}  ${c.completed}/${c.total} completed${r.restart_of ? `  restart of ${r.restart_of}` : ''}\n`;
}
