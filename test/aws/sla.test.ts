/**
 * SLA lines on the AWS path (issue 15): the starter arms one EventBridge Scheduler one-time
 * schedule per line of a run's `sla` (runtime/aws/scheduler-run-watch.ts, checked by the simulator
 * against Scheduler's API model), invoking the watchdog function at the line; the SLA check marks
 * the run item in DynamoDB Local with a conditional write and publishes SlaMissed once, which the
 * alert rule sends to the notifier and SNS. Time is moved with a faked Date, as Scheduler would
 * invoke at the line and not before.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { deriveExecutionId } from '../../services/starter/execution-id.js';
import { dynamoLocal } from '../support/dynamodb-local.js';
import { until } from '../support/processes.js';
import { stages, workspace } from '../support/workspace.js';
import { OK } from './fixtures.js';
import { type AwsHarness, createAwsHarness } from './harness.js';

const ddb = dynamoLocal('test/aws/sla.test.ts');
const SLA_DEF = {
  workflow_id: 'aws_sla',
  workflow_stages: stages(['sequential', ['ok.sh']]),
  sla: { max_duration_seconds: 3600 },
};
const USUAL_DEF = { workflow_id: 'aws_usual', workflow_stages: stages(['sequential', ['ok.sh']]), sla: {} };
// A scheduled workflow whose firing must have started by 02:30 UTC (the firing is due at 02:00).
const START_DEF = {
  workflow_id: 'aws_start',
  workflow_stages: stages(['sequential', ['ok.sh']]),
  schedule: 'cron(0 2 * * ? *)',
  sla: { start_by: '02:30', timezone: 'UTC' },
};
const FIRING = '2026-03-02T02:00:00.000Z';
const FIRING_EXEC = deriveExecutionId('aws_start', `schedule:${FIRING}`, new Date(FIRING));
const PLAIN_DEF = { workflow_id: 'aws_plain', workflow_stages: stages(['sequential', ['ok.sh']]) };

describe.skipIf(!ddb.endpoint)('AWS path: SLA lines', () => {
  let h: AwsHarness | undefined;
  afterEach(async () => {
    vi.useRealTimers();
    await h?.dispose();
    h = undefined;
  });

  async function harness(opts: { duplicate?: boolean } = {}) {
    const ws = workspace('rsqlo-aws-sla-');
    ws.script('ok.sh', OK);
    h = await createAwsHarness({
      endpoint: ddb.endpoint as string,
      scriptRoot: ws.scripts,
      hosts: 1,
      ssmMode: 'in-process',
      ...opts,
    });
    await h.putDefinition(SLA_DEF);
    await h.putDefinition(PLAIN_DEF);
    await h.putDefinition(USUAL_DEF);
    await h.putDefinition(START_DEF);
    return h;
  }

  it('a run still Running past max_duration_seconds: one SlaMissed, even when its schedule fires again', async () => {
    const h = await harness();
    const stuck = h.fn('dispatcherTask').hold(() => true);
    h.request({ workflow_id: 'aws_sla', workflow_execution_id: 'sla-stuck-1' });
    await stuck.reached;
    const run = await h.run('sla-stuck-1');
    expect(run?.execution_status).toBe('Running');
    const names = h.scheduler.requests.map((r) => r.Name).sort();
    expect(names).toEqual(['run-sla-stuck-1', 'sla-max-sla-stuck-1']);
    const line = h.scheduler.requests.find((r) => r.Name === 'sla-max-sla-stuck-1');
    const lineAt = new Date(
      Math.ceil((Date.parse(run?.execution_start_ts as string) + 3_600_000) / 1000) * 1000,
    )
      .toISOString()
      .replace('.000Z', 'Z');
    expect(line).toMatchObject({
      GroupName: 'rsqlo-runs',
      ScheduleExpression: `at(${lineAt.slice(0, 19)})`,
      ActionAfterCompletion: 'DELETE',
    });
    expect(JSON.parse(line?.Target?.Input ?? '{}')).toEqual({
      workflow_id: 'aws_sla',
      workflow_execution_id: 'sla-stuck-1',
      kind: 'max_duration',
      line_at: lineAt,
      line: '3600 s',
      started_at: run?.execution_start_ts,
    });

    // An hour and a minute later, as Scheduler would invoke it.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.parse(lineAt) + 60_000);
    const fired = await h.elapseRunDeadlines();
    const sla = fired.find((f) => f.name === 'sla-max-sla-stuck-1');
    expect(sla?.result).toMatchObject({
      outcome: 'missed',
      kind: 'max_duration',
      event_id: 'SlaMissed:sla-stuck-1:max_duration',
    });
    // A duplicate invocation of the same line (Scheduler's at-least-once, or a replayed schedule).
    const again = await h.fn('watchdog').invoke(JSON.parse(line?.Target?.Input ?? '{}'));
    expect(again).toMatchObject({ outcome: 'already', kind: 'max_duration' });
    // The job is held, so the harness never settles: wait for the alert to reach SNS.
    await until(() => h.sns.published.some((p) => p.subject?.includes('SLA missed')), 'the SLA alert');
    const missed = h.bus.events('SlaMissed');
    expect(missed).toHaveLength(1);
    expect(missed[0]?.detail).toMatchObject({
      kind: 'max_duration',
      line_at: lineAt,
      workflow_execution_id: 'sla-stuck-1',
    });
    expect(h.bus.alerts.filter((a) => a.rule === 'alert-sla-missed')).toHaveLength(1);
    expect(h.sns.published.filter((p) => p.subject?.includes('SLA missed'))).toHaveLength(1);
    expect(await h.run('sla-stuck-1')).toMatchObject({
      sla_missed_max_duration: expect.any(String),
      sla_sent_max_duration: true,
    });

    vi.useRealTimers();
    stuck.release();
    await h.finished('sla-stuck-1');
  });

  it('a run finishing in time: its line fires, finds it Completed, and emits nothing', async () => {
    const h = await harness();
    h.request({ workflow_id: 'aws_sla', workflow_execution_id: 'sla-ok-1' });
    const { run } = await h.finished('sla-ok-1');
    expect(run.execution_status).toBe('Completed');
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.parse(run.execution_start_ts) + 3_700_000);
    const fired = await h.elapseRunDeadlines();
    expect(fired.find((f) => f.name === 'sla-max-sla-ok-1')?.result).toMatchObject({ outcome: 'ended' });
    await h.settle();
    expect(h.bus.events('SlaMissed')).toEqual([]);
  });

  it('a run without an sla arms nothing but its deadline check, and reads no history', async () => {
    const h = await harness();
    h.request({ workflow_id: 'aws_plain', workflow_execution_id: 'plain-1' });
    await h.finished('plain-1');
    expect(h.scheduler.requests.map((r) => r.Name)).toEqual(['run-plain-1']);
    expect(h.requests.snapshot().filter((r) => r.caller === 'starter' && r.operation === 'Query')).toEqual(
      [],
    );
  });

  it('RunLongerThanUsual after 20 Completed runs (an sla block), not with 19; once', async () => {
    const h = await harness();
    // History through the real services and DynamoDB Local: 20 runs of the workflow.
    for (let i = 0; i < 20; i++) {
      h.request({ workflow_id: 'aws_usual', workflow_execution_id: `usual-${i}` });
      expect((await h.finished(`usual-${i}`)).run.execution_status).toBe('Completed');
    }
    // Run 20 (index 19) had 19 Completed runs before it: no usual line; every other line kind none.
    const armed = h.scheduler.requests.map((r) => r.Name).filter((n) => n?.startsWith('sla-'));
    expect(armed).toEqual([]);
    const stuck = h.fn('dispatcherTask').hold(() => true);
    h.request({ workflow_id: 'aws_usual', workflow_execution_id: 'usual-20' });
    await stuck.reached;
    const line = h.scheduler.requests.find((r) => r.Name === 'sla-usual-usual-20');
    const input = JSON.parse(line?.Target?.Input ?? '{}');
    expect(input).toMatchObject({ kind: 'longer_than_usual', workflow_execution_id: 'usual-20' });
    expect(input.p90_seconds).toBeGreaterThan(0);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.parse(input.line_at) + 60_000);
    const fired = await h.elapseRunDeadlines();
    expect(fired.find((f) => f.name === 'sla-usual-usual-20')?.result).toMatchObject({ outcome: 'missed' });
    expect(await h.fn('watchdog').invoke(input)).toMatchObject({ outcome: 'already' });
    await until(() => h.bus.events('RunLongerThanUsual').length > 0, 'the event');
    const usual = h.bus.events('RunLongerThanUsual');
    expect(usual).toHaveLength(1);
    expect(usual[0]?.detail).toMatchObject({
      event_id: 'RunLongerThanUsual:usual-20',
      p90_seconds: input.p90_seconds,
      history_runs: 20,
    });
    vi.useRealTimers();
    stuck.release();
    await h.finished('usual-20');
  }, 600_000);

  // start_by (issue 15): the firing's WorkflowRequested (what the workflow's Scheduler schedule puts
  // on the bus: its scheduled_time, no execution id) arms `sla-start-<the firing's execution id>`
  // before the starter can refuse it; at the line the watchdog looks for that run.
  async function refusedFiring(opts: { duplicate?: boolean }) {
    const h = await harness(opts);
    const stuck = h.fn('dispatcherTask').hold(() => true);
    h.request({ workflow_id: 'aws_start', workflow_execution_id: 'start-manual-1' });
    await stuck.reached;
    h.request({ workflow_id: 'aws_start', scheduled_time: FIRING });
    await until(() => h.bus.events('WorkflowRejected').length > 0, 'the refusal');
    expect(h.bus.events('WorkflowRejected')[0]?.detail).toMatchObject({
      reason: 'ActiveRunLimit',
      workflow_execution_id: FIRING_EXEC,
    });
    await until(
      () => h.scheduler.requests.some((r) => r.Name === `sla-start-${FIRING_EXEC}`),
      'the start_by schedule',
    );
    return { h, stuck };
  }

  async function expectOneStartByMiss(h: AwsHarness) {
    const schedule = h.scheduler.requests.find((r) => r.Name === `sla-start-${FIRING_EXEC}`);
    const input = JSON.parse(schedule?.Target?.Input ?? '{}');
    expect(input).toEqual({
      workflow_id: 'aws_start',
      workflow_execution_id: FIRING_EXEC,
      kind: 'start_by',
      line_at: '2026-03-02T02:30:00Z',
      line: '02:30 UTC',
      started_at: null,
    });
    expect(schedule).toMatchObject({ GroupName: 'rsqlo-runs', ActionAfterCompletion: 'DELETE' });
    // The line is long past: the schedule was set a minute ahead (Scheduler's precision).
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 120_000);
    const fired = await h.elapseRunDeadlines();
    expect(fired.filter((f) => f.name === `sla-start-${FIRING_EXEC}`).map((f) => f.result)).toEqual([
      expect.objectContaining({ outcome: 'missed', kind: 'start_by' }),
    ]);
    // Scheduler invokes at least once: a second invocation publishes nothing.
    expect(await h.fn('watchdog').invoke(input)).toMatchObject({ outcome: 'already', kind: 'start_by' });
    await until(() => h.sns.published.some((p) => p.subject?.includes('SLA missed')), 'the SLA alert');
    const missed = h.bus.events('SlaMissed');
    expect(new Set(missed.map((e) => (e.detail as { event_id: string }).event_id))).toEqual(
      new Set([`SlaMissed:${FIRING_EXEC}:start_by`]),
    );
    expect(missed[0]?.detail).toMatchObject({
      kind: 'start_by',
      workflow_execution_id: FIRING_EXEC,
      line_at: '2026-03-02T02:30:00Z',
      started_at: null,
    });
    expect(h.sns.published.filter((p) => p.subject?.includes('SLA missed'))).toHaveLength(1);
    return missed.length;
  }

  it('start_by: a firing refused by max_active_runs gives one SlaMissed at its line', async () => {
    const { h, stuck } = await refusedFiring({});
    expect(await expectOneStartByMiss(h)).toBe(1);
    expect(h.scheduler.requests.filter((r) => r.Name === `sla-start-${FIRING_EXEC}`)).toHaveLength(1);
    vi.useRealTimers();
    stuck.release();
    await h.finished('start-manual-1');
  });

  it('start_by: the firing delivered twice arms one schedule and gives one SlaMissed', async () => {
    const { h, stuck } = await refusedFiring({ duplicate: true });
    await until(
      () => h.scheduler.requests.filter((r) => r.Name === `sla-start-${FIRING_EXEC}`).length === 2,
      'the second delivery asking for the schedule',
    );
    // Both deliveries asked; the second got ConflictException: one schedule exists.
    expect(h.scheduler.pending().filter((k) => k.endsWith(`sla-start-${FIRING_EXEC}`))).toHaveLength(1);
    await expectOneStartByMiss(h);
    vi.useRealTimers();
    stuck.release();
    await h.finished('start-manual-1');
  });

  it('start_by: a firing whose run starts in time emits nothing', async () => {
    const h = await harness();
    h.request({ workflow_id: 'aws_start', scheduled_time: FIRING });
    const { run } = await h.finished(FIRING_EXEC);
    expect(run.execution_status).toBe('Completed');
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 120_000);
    const fired = await h.elapseRunDeadlines();
    expect(fired.find((f) => f.name === `sla-start-${FIRING_EXEC}`)?.result).toMatchObject({
      outcome: 'ended',
      kind: 'start_by',
    });
    await h.settle();
    expect(h.bus.events('SlaMissed')).toEqual([]);
  });

  it('a scheduled request of a workflow without start_by arms no start_by line', async () => {
    const h = await harness();
    h.request({ workflow_id: 'aws_plain', scheduled_time: FIRING });
    const exec = deriveExecutionId('aws_plain', `schedule:${FIRING}`, new Date(FIRING));
    await h.finished(exec);
    expect(h.scheduler.requests.map((r) => r.Name)).toEqual([`run-${exec}`]);
  });
});
