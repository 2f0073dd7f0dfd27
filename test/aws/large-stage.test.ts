import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { jobRunName } from '../../contracts/jobs.js';
import { dynamoLocal } from '../support/dynamodb-local.js';
import { stages, workspace } from '../support/workspace.js';
import { type AwsHarness, createAwsHarness } from './harness.js';

const ddb = dynamoLocal('test/aws/large-stage.test.ts');

const JOBS = 1_000;
const MAX_CONCURRENCY = 25;

/** The most jobs running at one instant, from the audit rows' start and end times. */
function peakOverlap(intervals: Array<[start: number, end: number]>): number {
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

describe.skipIf(!ddb.endpoint)('AWS path: a 1,000-job parallel stage', () => {
  let h: AwsHarness | undefined;
  afterEach(async () => {
    await h?.dispose();
    h = undefined;
  });

  it(`runs ${JOBS} jobs with max_concurrency ${MAX_CONCURRENCY}: each once, the limit held and used, every AWS request within its limits`, async () => {
    const ws = workspace('rsqlo-aws-large-');
    // A barrier instead of a sleep: the first jobs wait until half the limit have started (or, if the
    // pipeline never gets that far, until a shared deadline), so the overlap below is caused, not timed.
    const started = path.join(ws.dir, 'started');
    ws.script(
      'work.sh',
      [
        `mkdir -p '${started}'; touch '${started}/$RSQLO_JOB_KEY'`,
        `[ -e '${started}.deadline' ] || echo $(( $(date +%s) + 60 )) > '${started}.deadline'`,
        `while [ $(ls '${started}' | wc -l) -lt ${Math.ceil(MAX_CONCURRENCY / 2)} ] && [ $(date +%s) -lt $(cat '${started}.deadline') ]; do sleep 0.05; done`,
        'echo "$RSQLO_JOB_KEY done"',
      ].join('\n'),
    );
    const definition = {
      workflow_id: 'aws_large_stage',
      workflow_stages: stages(
        ['parallel', Array.from({ length: JOBS }, () => 'work.sh'), { max_concurrency: MAX_CONCURRENCY }],
        ['sequential', ['work.sh']],
      ),
    };
    h = await createAwsHarness({
      endpoint: ddb.endpoint as string,
      scriptRoot: ws.scripts,
      hosts: 4,
      agentMaxConcurrency: 16,
      ssmMode: 'in-process',
      logLevel: 'WARN',
    });
    await h.putDefinition(definition);
    const exec = 'large-1';
    h.request({ workflow_id: definition.workflow_id, workflow_execution_id: exec });
    const { run, jobs } = await h.finished(exec, 600_000);

    expect(run).toMatchObject({
      execution_status: 'Completed',
      counts: { total: JOBS + 1, completed: JOBS + 1 },
    });
    expect(run.stages.map((s) => s.status)).toEqual(['Completed', 'Completed']);
    expect(jobs).toHaveLength(JOBS + 1);
    const stage1 = jobs.filter((j) => j.stage === 1);
    expect(stage1).toHaveLength(JOBS);
    expect(
      stage1.every((j) => j.execution_status === 'Completed' && j.attempt === 1 && j.exit_code === 0),
    ).toBe(true);

    // max_concurrency held, and used (not one at a time).
    const peak = peakOverlap(
      stage1.map((j) => [Date.parse(j.execution_start_ts ?? ''), Date.parse(j.execution_end_ts ?? '')]),
    );
    expect(peak).toBeLessThanOrEqual(MAX_CONCURRENCY);
    // The first jobs held each other up until half the limit ran at once: a pipeline that
    // dispatched one at a time, or held slots, would have stayed below it.
    expect(peak).toBeGreaterThanOrEqual(MAX_CONCURRENCY / 2);
    // Stage 2 started after the last job of stage 1 ended.
    const last = Math.max(...stage1.map((j) => Date.parse(j.execution_end_ts ?? '')));
    const next = jobs.find((j) => j.stage === 2);
    expect(Date.parse(next?.execution_start_ts ?? '')).toBeGreaterThanOrEqual(last);

    // Each attempt: one wrapper execution, one SSM command, spread over every host; one JobStarted
    // and one JobFinished; the stage completed once.
    const names = jobs.map((j) => jobRunName(exec, j.job_key, 1));
    expect(h.wrapper.executions().filter((e) => e.status === 'SUCCEEDED')).toHaveLength(JOBS + 1);
    expect(new Set(h.ssm.commands.map((c) => c.parameters.job?.[0])).size).toBe(JOBS + 1);
    expect(h.ssm.commands).toHaveLength(JOBS + 1);
    const perHost = new Map<string, number>();
    for (const j of jobs) perHost.set(j.instance_id ?? '', (perHost.get(j.instance_id ?? '') ?? 0) + 1);
    expect([...perHost.keys()].sort()).toEqual(h.hosts.map((x) => x.instanceId).sort());
    expect(h.bus.events('JobStarted')).toHaveLength(JOBS + 1);
    expect(h.bus.events('JobFinished')).toHaveLength(JOBS + 1);
    expect(h.bus.events('StageCompleted').map((e) => (e.detail as { stage: number }).stage)).toEqual([1, 2]);
    expect(h.bus.events('WorkflowFinished')).toHaveLength(1);
    for (const n of names) expect(h.logs.text(n), n).toContain('done');

    // The run record stays one item within DynamoDB's 400 KB even with 1,001 jobs.
    expect(Buffer.byteLength(JSON.stringify(run))).toBeLessThan(400 * 1024);
    // Every PutEvents request ≤ 10 entries and accepted; every PutLogEvents within its limits, no
    // dead letter, no ERROR log (problems() checks these; fauxqs refuses a batch over 10).
    expect(h.bus.requests.every((r) => r.entries >= 1 && r.entries <= 10 && !r.rejected)).toBe(true);
    expect(await h.problems()).toEqual([]);
  }, 900_000);
});
