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
