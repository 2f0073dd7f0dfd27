/**
 * Workflow dependencies and calendars on the AWS path: the real trigger and starter Lambda entries
 * over DynamoDB Local, behind the routing table's rules on the simulated bus (every delivery made
 * twice with `duplicate`), the config-table items the stack deploys (dependencyItems).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { WorkflowDefinitionInput } from '../../contracts/workflow.js';
import { deriveExecutionId } from '../../services/starter/execution-id.js';
import { dynamoLocal } from '../support/dynamodb-local.js';
import { stages, workspace } from '../support/workspace.js';
import { type AwsHarness, createAwsHarness } from './harness.js';

const ddb = dynamoLocal('test/aws/trigger.test.ts');

const wf = (
  id: string,
  script: string,
  extra: Partial<WorkflowDefinitionInput> = {},
): WorkflowDefinitionInput => ({
  workflow_id: id,
  workflow_stages: stages(['sequential', [script]]) as WorkflowDefinitionInput['workflow_stages'],
  ...extra,
});

describe.skipIf(!ddb.endpoint)('AWS path: trigger.after and calendars', () => {
  let h: AwsHarness | undefined;
  afterEach(async () => {
    await h?.dispose();
    h = undefined;
  });

  async function harness(
    defs: WorkflowDefinitionInput[],
    calendars: Array<{ name: string; raw: Record<string, unknown> }> = [],
  ) {
    const ws = workspace('rsqlo-aws-trigger-');
    ws.script('ok.sh', 'echo ok');
    ws.script('bad.sh', 'echo broken >&2; exit 3');
    h = await createAwsHarness({
      endpoint: ddb.endpoint as string,
      scriptRoot: ws.scripts,
      ssmMode: 'in-process',
      duplicate: true,
    });
    for (const d of defs) await h.putDefinition(d);
    await h.putDependencyItems(defs, calendars);
    return h;
  }

  /** Runs of `id` that started, by their WorkflowStarted events (each exec once). */
  const started = (x: AwsHarness, id: string) => [
    ...new Set(
      x.bus
        .events('WorkflowStarted')
        .filter((e) => (e.detail as { workflow_id: string }).workflow_id === id)
        .map((e) => (e.detail as { workflow_execution_id: string }).workflow_execution_id),
    ),
  ];

  it('a then b starts one run; a again starts none; duplicated and replayed (reordered) WorkflowFinished start no second run; a Failed run does not count', async () => {
    const x = await harness([
      wf('up_a', 'ok.sh'),
      wf('up_bad', 'bad.sh'),
      wf('up_b', 'ok.sh'),
      wf('down', 'ok.sh', { trigger: { after: ['up_a', 'up_b'] } }),
      wf('down_bad', 'ok.sh', { trigger: { after: ['up_bad', 'up_b'] } }),
    ]);
    x.request({ workflow_id: 'up_a', workflow_execution_id: 'up-a-1' });
    await x.finished('up-a-1');
    x.request({ workflow_id: 'up_bad', workflow_execution_id: 'up-bad-1' });
    expect((await x.finished('up-bad-1')).run.execution_status).toBe('Failed');
    await x.settle();
    expect(started(x, 'down')).toEqual([]);

    x.request({ workflow_id: 'up_b', workflow_execution_id: 'up-b-1' });
    await x.finished('up-b-1');
    const [down] = await x.until(async () => {
      const s = started(x, 'down');
      return s.length > 0 && s;
    }, 'the downstream run to start');
    const { run } = await x.finished(down as string);
    expect(run.execution_status).toBe('Completed');
    // Every event was delivered twice: the trigger ran for each copy, yet one request, one run.
    const requests = x.bus
      .events('WorkflowRequested')
      .filter((e) => String((e.detail as { requested_by?: string }).requested_by).startsWith('trigger:'));
    expect(new Set(requests.map((e) => (e.detail as { event_id: string }).event_id)).size).toBe(1);

    // a finishing again is half of a new round: nothing starts.
    x.request({ workflow_id: 'up_a', workflow_execution_id: 'up-a-2' });
    await x.finished('up-a-2');
    // The archive replays every WorkflowFinished so far, newest first (out of order, new envelope ids).
    x.bus.replay('replay-1', [...x.bus.events('WorkflowFinished')].reverse());
    await x.settle();
    expect(started(x, 'down')).toEqual([down]);
    expect(started(x, 'down_bad')).toEqual([]);
    expect(x.fn('trigger').invocations).toBeGreaterThanOrEqual(8);
    expect(await x.problems([/Failed/])).toEqual([]);
  }, 240_000);

  it('a scheduled request on a day the calendar excludes is skipped (no run, no rejection, no alert); the next calendar day runs', async () => {
    const def = wf('cal_wf', 'ok.sh', {
      schedule: { expression: 'cron(0 6 ? * MON-FRI *)', timezone: 'Europe/Berlin' },
      calendar: 'business',
    });
    const x = await harness(
      [def],
      [{ name: 'business', raw: { weekdays: ['mon', 'tue', 'wed', 'thu', 'fri'], exclude: ['2026-12-25'] } }],
    );
    // What the Scheduler target puts on the bus (infra/constructs/workflow-deployment.ts scheduledRequestDetail).
    const fire = (iso: string) => {
      x.request({ workflow_id: 'cal_wf', scheduled_time: iso, requested_by: 'schedule:rsqlo/cal_wf' });
      return deriveExecutionId('cal_wf', `schedule:${iso}`, new Date(iso));
    };
    const holiday = fire('2026-12-25T05:00:00Z'); // 06:00 in Berlin on Christmas Day, a Friday
    await x.settle();
    expect(await x.run(holiday)).toBeUndefined();
    expect(x.bus.events('WorkflowRejected')).toEqual([]);
    expect(x.sns.published).toEqual([]);
    expect(x.fn('starter').invocations).toBe(2); // delivered twice, skipped twice
    const monday = fire('2026-12-28T05:00:00Z');
    expect((await x.finished(monday)).run.execution_status).toBe('Completed');
    expect(await x.problems()).toEqual([]);
  }, 240_000);
});
