/**
 * Operator actions on the AWS path (issue 14): set-ok, rerun, bypass, hold and free go on the bus as
 * requests (as `rsqlo <action> --aws` sends them), the starter applies them with conditional writes on
 * DynamoDB Local, the choreography carries the run on, and the audit records who, when and why.
 * Every action duplicated (every hop twice, each request sent twice) gives the same audit.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { WorkflowAuditRecord } from '../../contracts/audit.js';
import { eventIds } from '../../contracts/events.js';
import { jobRunName } from '../../contracts/jobs.js';
import { dynamoLocal } from '../support/dynamodb-local.js';
import { stages, workspace } from '../support/workspace.js';
import { comparable } from './compare.js';
import { failingWorkflow, GATED, openGate, readLedger } from './fixtures.js';
import { OPERATOR_PRINCIPAL } from './harness/wiring.js';
import { type AwsHarness, createAwsHarness } from './harness.js';

const ddb = dynamoLocal('test/aws/operator-actions.test.ts');

/** A workflow of GATED scripts: stage 1 sequential a, b; stage 2 parallel c, d. */
function gatedWorkflow(id: string) {
  const ws = workspace(`rsqlo-aws-ops-${id}-`);
  for (const n of ['a', 'b', 'c', 'd']) ws.script(`${n}.sh`, GATED);
  const definition = {
    workflow_id: id,
    workflow_description: 'gated scripts for operator tests',
    workflow_stages: stages(['sequential', ['a.sh', 'b.sh']], ['parallel', ['c.sh', 'd.sh']]),
  };
  return { ws, definition, scripts: ws.scripts };
}

async function harness(scriptRoot: string, duplicate = false): Promise<AwsHarness> {
  return createAwsHarness({ endpoint: ddb.endpoint as string, scriptRoot, ssmMode: 'in-process', duplicate });
}

/** Waits until the run's audit row satisfies `ok`, then until everything settled. */
async function runUntil(h: AwsHarness, exec: string, ok: (r: WorkflowAuditRecord) => boolean, what: string) {
  await h.until(async () => {
    const r = await h.run(exec);
    return r && ok(r) ? r : undefined;
  }, what);
  await h.settle();
  return { run: (await h.run(exec)) as WorkflowAuditRecord, jobs: await h.jobs(exec) };
}

/** The distinct event ids of `type` on the bus, in first-seen order (duplicated hops repeat them). */
const distinct = (h: AwsHarness, type: string) => [
  ...new Set(h.bus.events(type).map((e) => (e.detail as { event_id: string }).event_id)),
];

/**
 * Puts an operator request on the bus as `rsqlo <action> --aws` does; with `duplicate`, the same
 * request (same event id) twice, as a CLI retry or a redelivery would.
 */
let sent = 0;
function send(
  h: AwsHarness,
  duplicate: boolean,
  type: Parameters<AwsHarness['operator']>[0],
  detail: Record<string, unknown>,
): void {
  const withId = { event_id: `${type}:t${++sent}`, occurred_at: new Date().toISOString(), ...detail };
  h.operator(type, withId);
  if (duplicate) h.operator(type, withId);
}

const ids = (h: AwsHarness, type: string) =>
  h.bus.events(type).map((e) => (e.detail as { event_id: string }).event_id);

describe.skipIf(!ddb.endpoint)('AWS path: operator actions', () => {
  let h: AwsHarness | undefined;
  /** The harness the current scenario made (a closure read: TypeScript does not narrow it away). */
  const live = (): AwsHarness => {
    if (!h) throw new Error('no harness');
    return h;
  };
  afterEach(async () => {
    await h?.dispose();
    h = undefined;
  });

  /** set-ok of the failed job of a Failed run: the run goes on under the same id and ends Completed. */
  async function setOkScenario(duplicate: boolean) {
    const f = failingWorkflow();
    h = await harness(f.ws.scripts, duplicate);
    await h.putDefinition(f.definition);
    h.request({ workflow_id: 'aws_fail_restart', workflow_execution_id: 'ok-1' });
    const failed = await h.finished('ok-1');
    expect(failed.run.execution_status).toBe('Failed');
    const detail = {
      event_id: 'JobSetOkRequested:ok-1-1.2',
      workflow_id: 'aws_fail_restart',
      workflow_execution_id: 'ok-1',
      job_key: '1.2',
      attempt: 1,
      reason: 'input loaded by hand',
    };
    h.operator('JobSetOkRequested', detail);
    if (duplicate) h.operator('JobSetOkRequested', detail);
    return runUntil(h, 'ok-1', (r) => r.execution_status === 'Completed', 'ok-1 Completed after set-ok');
  }

  it('set-ok on the failed job of a Failed run: the run continues and ends Completed; the audit says set OK, by whom and why', async () => {
    const { run, jobs } = await setOkScenario(false);
    expect(run).toMatchObject({
      execution_status: 'Completed',
      generation: 1,
      counts: { total: 5, completed: 5, failed: 0, skipped: 0 },
      failed_jobs: [],
    });
    expect(jobs.map((j) => [j.job_key, j.execution_status, j.attempt])).toEqual([
      ['1.1', 'Completed', 1],
      ['1.2', 'Completed', 1],
      ['1.3', 'Completed', 1],
      ['2.1', 'Completed', 1],
      ['2.2', 'Completed', 1],
    ]);
    const setOk = jobs[1];
    expect(setOk?.exit_code).toBe(3); // what happened is kept; the status is the operator's word
    expect(setOk?.operator_actions).toEqual([
      expect.objectContaining({
        action: 'set_ok',
        attempt: 1,
        previous_status: 'Failed',
        reason: 'input loaded by hand',
        requested_by: OPERATOR_PRINCIPAL,
      }),
    ]);
    expect(run.operator_actions?.map((a) => [a.action, a.job_key])).toEqual([['set_ok', '1.2']]);
    // The jobs after it ran (their wrappers started) under the same execution id.
    for (const key of ['1.3', '2.1', '2.2'])
      expect(live().wrapper.execution(jobRunName('ok-1', key, 1))?.status).toBe('SUCCEEDED');
    expect(ids(live(), 'JobSetOk')).toEqual([eventIds.jobSetOk('ok-1', '1.2', 1)]);
    expect(ids(live(), 'WorkflowFinished')).toEqual([
      eventIds.workflowFinished('ok-1'),
      eventIds.workflowFinished('ok-1', 1),
    ]);
    expect(await live().problems()).toEqual([]);
  });

  it('set-ok with every hop and the request duplicated gives the same audit and one outcome event', async () => {
    const clean = await setOkScenario(false);
    await h?.dispose();
    h = undefined;
    const dup = await setOkScenario(true);
    expect(comparable(dup.run, dup.jobs)).toEqual(comparable(clean.run, clean.jobs));
    expect(new Set(ids(live(), 'JobSetOk'))).toEqual(new Set([eventIds.jobSetOk('ok-1', '1.2', 1)]));
    expect(await live().problems()).toEqual([]);
  });

  for (const duplicate of [false, true]) {
    const dup = duplicate ? ' (every hop and the request duplicated)' : '';
    it(`rerun of one job of a Completed run runs only that job, as attempt 2, and the run ends Completed again${dup}`, async () => {
      const w = gatedWorkflow('aws_rerun');
      openGate(w.scripts, 'all');
      h = await harness(w.scripts, duplicate);
      await h.putDefinition(w.definition);
      h.request({ workflow_id: 'aws_rerun', workflow_execution_id: 'rr-1' });
      expect((await h.finished('rr-1')).run.execution_status).toBe('Completed');
      expect(readLedger(w.scripts).started).toHaveLength(4);

      send(h, duplicate, 'JobRerunRequested', {
        workflow_id: 'aws_rerun',
        workflow_execution_id: 'rr-1',
        job_key: '1.2',
        attempt: 1,
        reason: 'source table reloaded',
      });
      const { run, jobs } = await runUntil(
        h,
        'rr-1',
        (r) => r.execution_status === 'Completed' && (r.generation ?? 0) === 1,
        'rr-1 Completed after the rerun',
      );
      // Only that job ran again (the ledger has one new start, for 1.2 attempt 2).
      expect(readLedger(w.scripts).started.slice(4)).toEqual(['rr-1/1.2/a2']);
      const rerun = jobs.find((j) => j.job_key === '1.2');
      expect(rerun).toMatchObject({ execution_status: 'Completed', attempt: 2 });
      expect(rerun?.previous_attempts).toEqual([
        expect.objectContaining({ attempt: 1, execution_status: 'Completed' }),
      ]);
      expect(rerun?.operator_actions).toEqual([
        expect.objectContaining({ action: 'rerun', attempt: 1, reason: 'source table reloaded' }),
      ]);
      expect(run.counts).toMatchObject({ total: 4, completed: 4, failed: 0 });
      expect(distinct(h, 'JobRerunStarted')).toEqual([eventIds.jobRerunStarted('rr-1', '1.2', 2)]);
      expect(distinct(h, 'WorkflowFinished')).toEqual([
        eventIds.workflowFinished('rr-1'),
        eventIds.workflowFinished('rr-1', 1),
      ]);
      expect(await h.problems()).toEqual([]);
    });

    it(`hold on a running run: the running job finishes, nothing new starts; free: the run finishes${dup}`, async () => {
      const w = gatedWorkflow('aws_hold');
      h = await harness(w.scripts, duplicate);
      await h.putDefinition(w.definition);
      h.request({ workflow_id: 'aws_hold', workflow_execution_id: 'hd-1' });
      await h.until(async () => readLedger(w.scripts).started.includes('hd-1/1.1/a1'), '1.1 started');
      send(h, duplicate, 'HoldRequested', {
        workflow_id: 'aws_hold',
        workflow_execution_id: 'hd-1',
        reason: 'Redshift patching',
      });
      await h.until(async () => (await h?.run('hd-1'))?.hold_state?.held === true, 'hd-1 held');
      openGate(w.scripts, '1.1');
      await h.until(
        async () => (await h?.job('hd-1', '1.1'))?.execution_status === 'Completed',
        '1.1 Completed',
      );
      await h.settle();
      // Held: 1.1 finished, 1.2 never started (no wrapper, no ledger line); the run is still Running.
      expect(readLedger(w.scripts).lines).toEqual(['+hd-1/1.1/a1', '-hd-1/1.1/a1']);
      expect(h.wrapper.execution(jobRunName('hd-1', '1.2', 1))).toBeUndefined();
      expect(['Pending', 'Queued']).toContain((await h.job('hd-1', '1.2'))?.execution_status);
      expect(await h.run('hd-1')).toMatchObject({
        execution_status: 'Running',
        hold_state: {
          held: true,
          scope: 'run',
          reason: 'Redshift patching',
          requested_by: OPERATOR_PRINCIPAL,
        },
      });

      send(h, duplicate, 'FreeRequested', { workflow_id: 'aws_hold', workflow_execution_id: 'hd-1' });
      openGate(w.scripts, 'all');
      const { run } = await runUntil(h, 'hd-1', (r) => r.execution_status !== 'Running', 'hd-1 ended');
      expect(run.execution_status).toBe('Completed');
      expect(run.hold_state?.held).toBe(false);
      expect(run.operator_actions?.map((a) => a.action)).toEqual(['hold', 'free']);
      expect(distinct(h, 'RunHeld')).toHaveLength(1);
      expect(distinct(h, 'RunFreed')).toHaveLength(1);
      expect(await h.problems()).toEqual([]);
    });

    it(`a held workflow: a new request is accepted and waits Held, starting nothing, until freed${dup}`, async () => {
      const w = gatedWorkflow('aws_wf_hold');
      openGate(w.scripts, 'all');
      h = await harness(w.scripts, duplicate);
      await h.putDefinition(w.definition);
      send(h, duplicate, 'HoldRequested', { workflow_id: 'aws_wf_hold', reason: 'cluster resize' });
      await h.until(async () => h && distinct(h, 'RunHeld').length === 1, 'the workflow held');
      h.request({ workflow_id: 'aws_wf_hold', workflow_execution_id: 'wh-1' });
      await h.until(async () => (await h?.run('wh-1'))?.hold_state?.held === true, 'wh-1 created held');
      await h.settle();
      expect(await h.run('wh-1')).toMatchObject({
        execution_status: 'Running',
        hold_state: { held: true, scope: 'workflow', reason: 'cluster resize' },
      });
      expect(readLedger(w.scripts).lines).toEqual([]);
      expect(h.wrapper.execution(jobRunName('wh-1', '1.1', 1))).toBeUndefined();

      send(h, duplicate, 'FreeRequested', { workflow_id: 'aws_wf_hold' });
      const { run } = await runUntil(h, 'wh-1', (r) => r.execution_status !== 'Running', 'wh-1 ended');
      expect(run.execution_status).toBe('Completed');
      expect(readLedger(w.scripts).started).toHaveLength(4);
      expect(await h.problems()).toEqual([]);
    });

    it(`bypass of a job that has not started: it is Skipped "bypassed: …" and the run goes on as if it had completed${dup}`, async () => {
      const w = gatedWorkflow('aws_bypass');
      h = await harness(w.scripts, duplicate);
      await h.putDefinition(w.definition);
      h.request({ workflow_id: 'aws_bypass', workflow_execution_id: 'bp-1' });
      await h.until(async () => readLedger(w.scripts).started.includes('bp-1/1.1/a1'), '1.1 started');
      send(h, duplicate, 'JobBypassRequested', {
        workflow_id: 'aws_bypass',
        workflow_execution_id: 'bp-1',
        job_key: '1.2',
        attempt: 1,
        reason: 'not needed tonight',
      });
      await h.until(
        async () => (await h?.job('bp-1', '1.2'))?.execution_status === 'Skipped',
        '1.2 bypassed',
      );
      openGate(w.scripts, 'all');
      const { run, jobs } = await runUntil(h, 'bp-1', (r) => r.execution_status !== 'Running', 'bp-1 ended');
      expect(run.execution_status).toBe('Completed');
      expect(jobs.find((j) => j.job_key === '1.2')).toMatchObject({
        execution_status: 'Skipped',
        skip_reason: 'bypassed: not needed tonight',
      });
      expect(readLedger(w.scripts).started.sort()).toEqual(['bp-1/1.1/a1', 'bp-1/2.1/a1', 'bp-1/2.2/a1']);
      expect(distinct(h, 'JobBypassed')).toEqual([eventIds.jobBypassed('bp-1', '1.2', 1)]);
      expect(await h.problems()).toEqual([]);
    });
  }
});

// Keeps the helpers honest: the ledger reader counts overlap from the order of its lines.
describe('readLedger', () => {
  it('counts the most entries open at once', () => {
    const ws = workspace('rsqlo-ledger-');
    const lines = ['+a', '+b', '-a', '+c', '+d', '-b', '-c', '-d'];
    expect(readLedger(ws.scripts)).toEqual({ lines: [], started: [], peak: 0 });
    writeFileSync(path.join(ws.scripts, 'ledger'), `${lines.join('\n')}\n`);
    expect(readLedger(ws.scripts)).toMatchObject({ peak: 3, started: ['a', 'b', 'c', 'd'] });
  });
});
