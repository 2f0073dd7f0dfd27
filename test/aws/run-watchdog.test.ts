/**
 * The run watchdog on the AWS path: the starter creates one EventBridge Scheduler one-time schedule
 * per run (runtime/aws/scheduler-run-watch.ts; the simulator checks the request against Scheduler's
 * API model), which at the run's deadline invokes the watchdog function (services/watchdog), reading
 * the run from DynamoDB Local. What it costs (one schedule invocation, one Lambda invocation, one
 * read) is what the `aws.*` bench counts, so these tests pin the path it takes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RUN_OVERDUE_ERROR } from '../../contracts/run-watch.js';
import { validateDefinition } from '../../contracts/workflow.js';
import { deadlineAt, runDeadlineSeconds } from '../../services/starter/deadline.js';
import { dynamoLocal } from '../support/dynamodb-local.js';
import { stages, workspace } from '../support/workspace.js';
import { OK } from './fixtures.js';
import { type AwsHarness, createAwsHarness } from './harness.js';

const ddb = dynamoLocal('test/aws/run-watchdog.test.ts');
const DEFINITION = { workflow_id: 'aws_watchdog', workflow_stages: stages(['sequential', ['ok.sh']]) };

describe.skipIf(!ddb.endpoint)('AWS path: the run watchdog', () => {
  let h: AwsHarness | undefined;
  afterEach(async () => {
    await h?.dispose();
    h = undefined;
  });

  async function harness(opts: { duplicate?: boolean } = {}) {
    const ws = workspace('rsqlo-aws-watchdog-');
    ws.script('ok.sh', OK);
    h = await createAwsHarness({
      endpoint: ddb.endpoint as string,
      scriptRoot: ws.scripts,
      hosts: 1,
      ssmMode: 'in-process',
      ...opts,
    });
    await h.putDefinition(DEFINITION);
    return h;
  }

  const watchdogReads = (h: AwsHarness) =>
    h.requests.snapshot().filter((r) => r.caller === 'watchdog' && r.service === 'DynamoDB');

  it('a run that ended: its schedule fires at the deadline, reads the run once and ends quietly', async () => {
    const h = await harness();
    h.request({ workflow_id: 'aws_watchdog', workflow_execution_id: 'wd-ok-1' });
    const { run } = await h.finished('wd-ok-1');
    expect(run.execution_status).toBe('Completed');

    // One schedule per run, the deadline the starter computed from the run's definition, counted
    // from the run's start; nothing has been invoked before the deadline.
    const checked = validateDefinition(DEFINITION);
    if (!checked.ok) throw new Error('invalid test definition');
    const deadline = deadlineAt(run.execution_start_ts, runDeadlineSeconds(checked.definition));
    expect(h.scheduler.requests).toHaveLength(1);
    const [req] = h.scheduler.requests;
    expect(req).toMatchObject({
      Name: 'run-wd-ok-1',
      GroupName: 'rsqlo-runs',
      ScheduleExpression: `at(${deadline.slice(0, 19)})`,
      ScheduleExpressionTimezone: 'UTC',
      FlexibleTimeWindow: { Mode: 'OFF' },
      ActionAfterCompletion: 'DELETE',
      State: 'ENABLED',
    });
    expect(JSON.parse(req?.Target?.Input ?? '{}')).toEqual({
      workflow_id: 'aws_watchdog',
      workflow_execution_id: 'wd-ok-1',
      started_at: run.execution_start_ts,
      deadline_at: deadline,
    });
    expect(h.scheduler.pending()).toEqual(['rsqlo-runs/run-wd-ok-1']);
    expect(h.scheduler.invocations).toBe(0);
    expect(watchdogReads(h)).toEqual([]);

    const fired = await h.elapseRunDeadlines();
    expect(fired.map((f) => [f.name, f.result, f.attempts])).toEqual([
      ['run-wd-ok-1', { outcome: 'ended', workflow_execution_id: 'wd-ok-1', status: 'Completed' }, 1],
    ]);
    // ActionAfterCompletion DELETE: nothing is left to fire.
    expect(h.scheduler.pending()).toEqual([]);
    // Billed: one Scheduler invocation, one watchdog invocation, one strongly consistent GetItem of
    // a projected attribute (1 read unit, as DynamoDB Local reports it).
    expect(h.usage()).toMatchObject({ schedulesCreated: 1, schedulerInvocations: 1 });
    expect(h.usage().lambda.watchdog?.invocations).toBe(1);
    expect(watchdogReads(h).map((r) => [r.operation, r.requests, r.units])).toEqual([['GetItem', 1, 1]]);
    expect(await h.problems()).toEqual([]);
  });

  it('a run still Running past its deadline: the watchdog logs RunOverdue, naming the run', async () => {
    const h = await harness();
    // The job's Dispatch never gets going: the run stays Running.
    const stuck = h.fn('dispatcherTask').hold(() => true);
    h.request({ workflow_id: 'aws_watchdog', workflow_execution_id: 'wd-stuck-1' });
    await stuck.reached;
    expect((await h.run('wd-stuck-1'))?.execution_status).toBe('Running');

    const [overdue, ...more] = await h.elapseRunDeadlines();
    expect(more).toEqual([]);
    expect(overdue?.result).toEqual({ outcome: 'overdue', workflow_execution_id: 'wd-stuck-1' });
    // The line the runs-overdue alarm's metric filter counts ({ $.error_name = "RunOverdue" }).
    const line = h.handlerLogs.lines.find((l) => l.error_name === RUN_OVERDUE_ERROR);
    expect(line).toMatchObject({
      level: 'ERROR',
      service: 'rsqlo-watchdog',
      workflow_execution_id: 'wd-stuck-1',
      workflow_id: 'aws_watchdog',
    });
    expect((await h.problems()).join('\n')).toMatch(/handler ERROR: run overdue/);

    stuck.release();
    await h.finished('wd-stuck-1');
  });

  it('every delivery doubled: still one schedule per run (ConflictException = made already), one check', async () => {
    const h = await harness({ duplicate: true });
    h.request({ workflow_id: 'aws_watchdog', workflow_execution_id: 'wd-dup-1' });
    await h.finished('wd-dup-1');
    // The starter ran more than once for the run, each asking for the same schedule.
    const names = h.scheduler.requests.map((r) => r.Name);
    expect(names.length).toBeGreaterThan(1);
    expect(new Set(names)).toEqual(new Set(['run-wd-dup-1']));
    expect(h.scheduler.created).toBe(1);
    const fired = await h.elapseRunDeadlines();
    expect(fired.map((f) => f.name)).toEqual(['run-wd-dup-1']);
    expect(h.scheduler.violations).toEqual([]);
  });
});
