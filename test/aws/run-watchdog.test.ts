/**
 * The run watchdog on the AWS path: its deployed definition (infra/constructs/run-watchdog.ts),
 * started by WorkflowStarted through its rule's input transformer, waiting the run's deadline and
 * reading the run from DynamoDB Local. What it costs (its transitions, its one read) is what the
 * `aws.*` bench counts, so these tests pin the path it takes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { EVENT_SOURCE } from '../../contracts/events.js';
import { validateDefinition } from '../../contracts/workflow.js';
import { RUN_OVERDUE_ERROR } from '../../infra/constructs/run-watchdog.js';
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

  async function harness() {
    const ws = workspace('rsqlo-aws-watchdog-');
    ws.script('ok.sh', OK);
    h = await createAwsHarness({
      endpoint: ddb.endpoint as string,
      scriptRoot: ws.scripts,
      hosts: 1,
      ssmMode: 'in-process',
    });
    await h.putDefinition(DEFINITION);
    return h;
  }

  it('a run that ended: its watchdog waits until the deadline, reads the run once and ends quietly', async () => {
    const h = await harness();
    h.request({ workflow_id: 'aws_watchdog', workflow_execution_id: 'wd-ok-1' });
    const { run } = await h.finished('wd-ok-1');
    expect(run.execution_status).toBe('Completed');

    // One execution per WorkflowStarted, its input from the rule's input transformer; the deadline
    // is the one the starter computed from the run's definition, counted from the run's start.
    const [started, ...more] = h.watchdog.executions();
    expect(more).toEqual([]);
    const input = JSON.parse(started?.input ?? '{}');
    const checked = validateDefinition(DEFINITION);
    if (!checked.ok) throw new Error('invalid test definition');
    expect(input).toEqual({
      workflow_id: 'aws_watchdog',
      workflow_execution_id: 'wd-ok-1',
      started_at: run.execution_start_ts,
      deadline_at: deadlineAt(run.execution_start_ts, runDeadlineSeconds(checked.definition)),
    });
    // The run's deadline (at least one attempt's 300 s overhead) has not passed: it still waits,
    // and has not read the run yet.
    expect(started?.status).toBe('RUNNING');
    expect(started?.path.map((p) => p.state)).toEqual(['WaitForDeadline']);
    const watchdogReads = () =>
      h.requests.snapshot().filter((r) => r.caller === 'run-watchdog' && r.service === 'DynamoDB');
    expect(watchdogReads()).toEqual([]);

    const [ended] = await h.elapseRunDeadlines();
    expect(ended?.status).toBe('SUCCEEDED');
    expect(ended?.path.map((p) => p.state)).toEqual([
      'WaitForDeadline',
      'ReadRun',
      'IsStillRunning',
      'RunEnded',
    ]);
    // Billed: one transition per state entered (no retries here).
    expect(ended?.transitions).toBe(4);
    expect(h.usage().watchdogTransitions).toBe(4);
    // One strongly consistent GetItem of a small item: 1 read request unit, as DynamoDB Local
    // reports it.
    const reads = watchdogReads();
    expect(reads.map((r) => [r.operation, r.requests, r.units])).toEqual([['GetItem', 1, 1]]);
    expect(h.usage().dynamo.byCaller['run-watchdog']).toEqual({ wru: 0, rru: 1 });
    expect(await h.problems()).toEqual([]);
  });

  it('a run still Running past its deadline: the watchdog fails with RunOverdue', async () => {
    const h = await harness();
    // The job's Dispatch never gets going: the run stays Running.
    const stuck = h.fn('dispatcherTask').hold(() => true);
    h.request({ workflow_id: 'aws_watchdog', workflow_execution_id: 'wd-stuck-1' });
    await stuck.reached;
    expect((await h.run('wd-stuck-1'))?.execution_status).toBe('Running');

    const [overdue] = await h.elapseRunDeadlines();
    expect(overdue?.status).toBe('FAILED');
    expect(overdue?.error).toBe(RUN_OVERDUE_ERROR);
    expect(overdue?.path.at(-1)?.state).toBe('RunOverdue');
    expect(JSON.parse(overdue?.input ?? '{}').workflow_execution_id).toBe('wd-stuck-1');
    expect((await h.problems()).join('\n')).toMatch(/watchdog execution .* failed: RunOverdue/);

    stuck.release();
    await h.finished('wd-stuck-1');
  });

  it('a WorkflowStarted without a deadline starts no watchdog (its Wait could only fail)', async () => {
    const h = await harness();
    const detail = {
      version: 1,
      event_id: 'WorkflowStarted:old-1',
      occurred_at: new Date().toISOString(),
      workflow_id: 'aws_watchdog',
      workflow_execution_id: 'old-1',
      restart_of: null,
      stage_count: 1,
      job_count: 0,
      stages: [],
      parameter_names: [],
    };
    const entry = { Source: EVENT_SOURCE, DetailType: 'WorkflowStarted', EventBusName: 'rsqlo' };
    // The same event with a deadline (already past) beside it: the rule matches that one only.
    h.bus.putEvents({ Entries: [{ ...entry, Detail: JSON.stringify(detail) }] }, 'test');
    h.bus.putEvents(
      {
        Entries: [
          {
            ...entry,
            Detail: JSON.stringify({
              ...detail,
              event_id: 'WorkflowStarted:marker-1',
              workflow_execution_id: 'marker-1',
              deadline_at: '2020-01-01T00:00:00Z',
            }),
          },
        ],
      },
      'test',
    );
    // Its deadline is past: it reads its (missing) run at once and ends quietly.
    await h.until(async () => h.watchdog.executions().some((e) => e.status !== 'RUNNING'), 'the marker');
    const inputs = h.watchdog.executions().map((e) => JSON.parse(e.input).workflow_execution_id);
    expect(inputs).toEqual(['marker-1']);
    expect(h.watchdog.executions()[0]?.status).toBe('SUCCEEDED');
  });
});
