/**
 * Workflows and scripts the AWS-path scenarios share, written into a throwaway workspace
 * (test/support/workspace.ts) so the same folder serves as the agents' script root and as the
 * local engine's workflow folder.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { PgConnectionInfo } from '../../rsql/embedded-postgres.js';
import { stages, type Workspace, workspace } from '../support/workspace.js';
import { type AwsHarness, createAwsHarness } from './harness.js';

/** A script that succeeds and says so. */
export const OK = 'echo "$RSQLO_JOB_KEY ok (attempt $RSQLO_ATTEMPT)"';

/**
 * The failing workflow: stage 1 runs ok_1, then `fix_me` (fails with exit 3 and an error line until
 * a file `fixed` sits beside it), then ok_2; stage 2 runs two more in parallel. A first run fails at
 * 1.2 (1.3 and stage 2 never start); its restart skips 1.1 and runs the rest.
 */
export function failingWorkflow(ws: Workspace = workspace('rsqlo-aws-fail-')) {
  for (const name of ['ok_1.sh', 'ok_2.sh', 'ok_3.sh', 'ok_4.sh']) ws.script(name, OK);
  ws.script(
    'fix_me.sh',
    [
      'if [ -f "$(dirname "$0")/fixed" ]; then echo "input found"; exit 0; fi',
      'echo "loading the input file"',
      'echo "ERROR: input file /data/in.csv is missing" >&2',
      'exit 3',
    ].join('\n'),
  );
  const definition = {
    workflow_id: 'aws_fail_restart',
    workflow_description: 'fails at 1.2 until fixed',
    workflow_stages: stages(
      ['sequential', ['ok_1.sh', 'fix_me.sh', 'ok_2.sh']],
      ['parallel', ['ok_3.sh', 'ok_4.sh']],
    ),
  };
  const file = ws.workflow(definition);
  return {
    ws,
    definition,
    file,
    /** Makes fix_me.sh succeed from now on. */
    fix: () => writeFileSync(path.join(ws.scripts, 'fixed'), ''),
  };
}

/** The most jobs running at one instant, from audit rows' start and end times (ms). */
export function peakOverlap(intervals: Array<[start: number, end: number]>): number {
  const points = intervals.flatMap(([s, e]) => [
    [s, 1],
    [e, -1],
  ]);
  // Ends before starts at the same millisecond: a job that ended as another started did not overlap it.
  points.sort((a, b) => (a[0] as number) - (b[0] as number) || (a[1] as number) - (b[1] as number));
  let now = 0;
  let peak = 0;
  for (const [, d] of points) {
    now += d as number;
    peak = Math.max(peak, now);
  }
  return peak;
}

/**
 * The blog workflow (examples/blog, its RSQL against `database`) on a fresh AWS-path harness with
 * the functions logging at their deployed level, requested as `exec`: what the cost bench and the
 * pinned request counts both measure.
 */
export async function requestBlogRun(o: {
  endpoint: string;
  database: PgConnectionInfo | undefined;
  exec: string;
}): Promise<AwsHarness> {
  const blog = path.resolve('examples/blog');
  const definition = JSON.parse(readFileSync(path.join(blog, 'workflow.json'), 'utf8'));
  const h = await createAwsHarness({
    endpoint: o.endpoint,
    scriptRoot: path.join(blog, 'scripts'),
    database: o.database,
    ssmMode: 'in-process',
    logLevel: 'deployed',
  });
  await h.putDefinition(definition);
  h.request({ workflow_id: definition.workflow_id, workflow_execution_id: o.exec });
  return h;
}

/**
 * A script for operator tests: appends `+<exec>/<key>/a<attempt>` to `ledger` beside it when it
 * starts, waits until its gate file exists (`gate_<key>` or `gate_all` beside it; the tests open
 * gates, nothing waits on the clock), then appends `-<exec>/<key>/a<attempt>`. The ledger is the
 * order of starts and ends as the hosts saw them: overlap and "what ran" come from it.
 */
export const GATED = [
  'd="$(cd "$(dirname "$0")" && pwd)"',
  'me="$RSQLO_EXECUTION_ID/$RSQLO_JOB_KEY/a$RSQLO_ATTEMPT"',
  'echo "+$me" >> "$d/ledger"',
  'while [ ! -f "$d/gate_$RSQLO_JOB_KEY" ] && [ ! -f "$d/gate_all" ]; do sleep 0.05; done',
  'echo "-$me" >> "$d/ledger"',
].join('\n');

/** The ledger GATED scripts write: its lines, and the most entries open at once. */
export function readLedger(scripts: string): { lines: string[]; started: string[]; peak: number } {
  let lines: string[] = [];
  try {
    lines = readFileSync(path.join(scripts, 'ledger'), 'utf8').split('\n').filter(Boolean);
  } catch {
    lines = [];
  }
  let open = 0;
  let peak = 0;
  for (const l of lines) {
    open += l.startsWith('+') ? 1 : -1;
    peak = Math.max(peak, open);
  }
  return { lines, started: lines.filter((l) => l.startsWith('+')).map((l) => l.slice(1)), peak };
}

/** Opens a GATED script's gate (`key`, or `all`). */
export function openGate(scripts: string, key: string): void {
  writeFileSync(path.join(scripts, `gate_${key}`), '');
}

/**
 * The operator-parity workflow: stage 1 runs ok_1 and ok_2 in parallel in pool `p1` of 1 slot (so
 * one after the other), stage 2 runs `fix_me` (exit 3 until fixed), stage 3 runs ok_3. A first run
 * fails in stage 2; set-ok of 2.1 continues it; a rerun of 1.2 runs that one job again.
 */
export function opsParityWorkflow(ws: Workspace = workspace('rsqlo-aws-ops-parity-')) {
  const f = failingWorkflow(ws);
  const definition = {
    workflow_id: 'ops_parity',
    workflow_description: 'set-ok, rerun, hold/free and a pool on both runtimes',
    pools: { p1: 1 },
    workflow_stages: stages(
      ['parallel', ['ok_1.sh', 'ok_2.sh'], { pool: 'p1' }],
      ['sequential', ['fix_me.sh']],
      ['sequential', ['ok_3.sh']],
    ),
  };
  return { ws, definition, file: ws.workflow(definition), fix: f.fix };
}
