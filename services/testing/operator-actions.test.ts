/**
 * Operator actions end to end through the services (issue 14, plan §12): requests published on the
 * simulated bus, handled by the starter, moved on by the planner, dispatcher, agents and aggregator.
 * The scripted agent's timeline is the ledger of which jobs ran. Every scenario is played clean and
 * again with every delivery duplicated and shuffled (six seeds), each request also sent twice (an
 * operator pressing the button again): the outcome and the audit must be the same.
 */
import { describe, expect, it } from 'vitest';
import type { DetailOf, RsqloEvent } from '../../contracts/events.js';
import { sequential, workflow } from './fixtures.js';
import { compareUnderChaos, createSimulation, type Scenario, type Simulation } from './in-memory.js';

const wf = workflow('ops', [sequential(['a.sh', 'b.sh']), sequential(['c.sh'])]);
const WHO = 'user:alice';
const T0 = Date.parse('2024-01-01T00:00:00.000Z');
/** Request times: fixed (not the clock, which chaos moves), so the audit compares exactly. */
const at = (s: number) => new Date(T0 + s * 1000).toISOString();

type OperatorRequestType =
  | 'JobSetOkRequested'
  | 'JobRerunRequested'
  | 'JobBypassRequested'
  | 'HoldRequested'
  | 'FreeRequested';

/** Publishes an operator request twice (the same request id), as an impatient operator would. */
function send<T extends OperatorRequestType>(
  sim: Simulation,
  detailType: T,
  detail: Omit<DetailOf<T>, 'version' | 'workflow_id' | 'requested_by'>,
): void {
  const event = {
    detailType,
    detail: { version: 1, workflow_id: 'ops', requested_by: WHO, ...detail },
  } as RsqloEvent;
  sim.publish([event, event]);
}

const ran = (sim: Simulation, exec: string) => sim.intervals(exec).map((i) => `${i.job_key}.a${i.attempt}`);

async function sameUnderChaos(scenario: Scenario, execs = ['r1']): Promise<Simulation> {
  const { clean, differences } = await compareUnderChaos({ definitions: [wf] }, scenario, execs);
  expect(differences).toEqual([]);
  return clean;
}

describe('operator actions, end to end (clean and under chaos)', () => {
  it('set OK: a Failed run continues and ends Completed under the same execution id, audited', async () => {
    const sim = await sameUnderChaos(async (sim) => {
      sim.script({ job: 'a.sh', attempt: 1 }, { outcome: 'fail', message: 'row count mismatch' });
      sim.request({ workflow_id: 'ops', workflow_execution_id: 'r1' });
      await sim.runUntilIdle();
      send(sim, 'JobSetOkRequested', {
        event_id: 'setok-1',
        occurred_at: at(100),
        workflow_execution_id: 'r1',
        job_key: '1.1',
        attempt: 1,
        reason: 'data fixed by hand',
      });
      await sim.runUntilIdle();
    });
    const run = sim.run('r1');
    expect(run?.execution_status).toBe('Completed');
    expect(run?.operator_actions).toEqual([
      expect.objectContaining({
        action: 'set_ok',
        job_key: '1.1',
        reason: 'data fixed by hand',
        requested_by: WHO,
      }),
    ]);
    expect(sim.job('r1', '1.1')).toMatchObject({
      execution_status: 'Completed',
      operator_actions: [expect.objectContaining({ action: 'set_ok', previous_status: 'Failed' })],
    });
    // The later stage ran; nothing ran twice.
    expect(ran(sim, 'r1')).toEqual(['1.1.a1', '1.2.a1', '2.1.a1']);
    expect(sim.eventsOf('WorkflowStarted')).toHaveLength(1);
    expect(sim.eventsOf('WorkflowFinished', 'r1').map((e) => e.status)).toEqual(['Failed', 'Completed']);
  });

  it('rerun: of a Completed run only that job runs again, as attempt 2 with attempt 1 kept', async () => {
    const sim = await sameUnderChaos(async (sim) => {
      sim.request({ workflow_id: 'ops', workflow_execution_id: 'r1' });
      await sim.runUntilIdle();
      send(sim, 'JobRerunRequested', {
        event_id: 'rerun-1',
        occurred_at: at(100),
        workflow_execution_id: 'r1',
        job_key: '1.2',
        attempt: 1,
        reason: 'source reloaded',
      });
      await sim.runUntilIdle();
    });
    expect(ran(sim, 'r1')).toEqual(['1.1.a1', '1.2.a1', '2.1.a1', '1.2.a2']);
    expect(sim.job('r1', '1.2')).toMatchObject({
      attempt: 2,
      execution_status: 'Completed',
      previous_attempts: [expect.objectContaining({ attempt: 1, execution_status: 'Completed' })],
    });
    expect(sim.run('r1')).toMatchObject({ execution_status: 'Completed', generation: 1 });
    expect(sim.eventsOf('WorkflowFinished', 'r1').map((e) => e.event_id)).toEqual([
      'WorkflowFinished:r1',
      'WorkflowFinished:r1:g1',
    ]);
  });

  it('bypass: a job that has not started is Skipped and never runs; the run completes', async () => {
    const sim = await sameUnderChaos(async (sim) => {
      sim.script('a.sh', { outcome: 'complete', durationSeconds: 30 });
      sim.request({ workflow_id: 'ops', workflow_execution_id: 'r1' });
      await sim.advance(5);
      send(sim, 'JobBypassRequested', {
        event_id: 'bypass-1',
        occurred_at: at(5),
        workflow_execution_id: 'r1',
        job_key: '1.2',
        attempt: 1,
        reason: 'table dropped upstream',
      });
      await sim.runUntilIdle();
    });
    expect(ran(sim, 'r1')).toEqual(['1.1.a1', '2.1.a1']);
    expect(sim.job('r1', '1.2')).toMatchObject({
      execution_status: 'Skipped',
      skip_reason: 'bypassed: table dropped upstream',
    });
    expect(sim.run('r1')?.execution_status).toBe('Completed');
  });

  it('hold a running run: nothing new starts while held (running ones finish); free: it finishes', async () => {
    const held: string[][] = [];
    const sim = await sameUnderChaos(async (sim) => {
      sim.script('a.sh', { outcome: 'complete', durationSeconds: 30 });
      sim.request({ workflow_id: 'ops', workflow_execution_id: 'r1' });
      await sim.advance(5);
      send(sim, 'HoldRequested', {
        event_id: 'hold-1',
        occurred_at: at(5),
        workflow_execution_id: 'r1',
        reason: 'redshift patching',
      });
      await sim.runUntilIdle();
      // Quiet: a.sh finished, nothing else started, the run waits held.
      held.push(ran(sim, 'r1'), [sim.job('r1', '1.2')?.execution_status ?? '?']);
      expect(sim.run('r1')?.hold_state?.held).toBe(true);
      send(sim, 'FreeRequested', { event_id: 'free-1', occurred_at: at(600), workflow_execution_id: 'r1' });
      await sim.runUntilIdle();
    });
    // Seven plays (clean + six seeds), each held with only a.sh run and b.sh still Pending.
    expect(held).toHaveLength(14);
    for (let i = 0; i < held.length; i += 2) {
      expect(held[i]).toEqual(['1.1.a1']);
      expect(held[i + 1]).toEqual(['Pending']);
    }
    expect(ran(sim, 'r1')).toEqual(['1.1.a1', '1.2.a1', '2.1.a1']);
    expect(sim.run('r1')).toMatchObject({ execution_status: 'Completed', hold_state: { held: false } });
    expect(sim.run('r1')?.operator_actions?.map((a) => a.action)).toEqual(['hold', 'free']);
  });

  it('a workflow hold: a new request waits Held (nothing runs); free: it runs to Completed', async () => {
    const waited: string[][] = [];
    const sim = await sameUnderChaos(async (sim) => {
      send(sim, 'HoldRequested', { event_id: 'wf-hold', occurred_at: at(0), reason: 'month-end freeze' });
      await sim.runUntilIdle();
      sim.request({ workflow_id: 'ops', workflow_execution_id: 'r1' });
      await sim.runUntilIdle();
      waited.push(ran(sim, 'r1'), [String(sim.run('r1')?.hold_state?.scope)]);
      send(sim, 'FreeRequested', { event_id: 'wf-free', occurred_at: at(60) });
      await sim.runUntilIdle();
    });
    for (let i = 0; i < waited.length; i += 2) {
      expect(waited[i]).toEqual([]);
      expect(waited[i + 1]).toEqual(['workflow']);
    }
    expect(ran(sim, 'r1')).toEqual(['1.1.a1', '1.2.a1', '2.1.a1']);
    expect(sim.run('r1')).toMatchObject({
      execution_status: 'Completed',
      hold_state: { held: false, scope: 'workflow', request_id: 'wf-free' },
    });
    expect(sim.eventsOf('RunHeld').map((e) => e.event_id)).toEqual(['RunHeld:wf:ops:wf-hold']);
    expect(sim.eventsOf('RunFreed').map((e) => e.event_id)).toEqual([
      'RunFreed:wf:ops:wf-free',
      'RunFreed:r1:wf-free',
    ]);
  });

  it('set OK, then bypass and rerun on one run, every request duplicated: one outcome each', async () => {
    const sim = await sameUnderChaos(async (sim) => {
      sim.script({ job: 'a.sh', attempt: 1 }, { outcome: 'fail' });
      sim.request({ workflow_id: 'ops', workflow_execution_id: 'r1' });
      await sim.runUntilIdle();
      // c.sh (stage 2) was skipped by the failure: bypass it, then set a.sh OK.
      send(sim, 'JobBypassRequested', {
        event_id: 'bp',
        occurred_at: at(50),
        workflow_execution_id: 'r1',
        job_key: '2.1',
        attempt: 1,
        reason: 'not needed',
      });
      await sim.runUntilIdle();
      send(sim, 'JobSetOkRequested', {
        event_id: 'ok',
        occurred_at: at(60),
        workflow_execution_id: 'r1',
        job_key: '1.1',
        attempt: 1,
        reason: 'checked by hand',
      });
      await sim.runUntilIdle();
      send(sim, 'JobRerunRequested', {
        event_id: 'again',
        occurred_at: at(70),
        workflow_execution_id: 'r1',
        job_key: '1.2',
        attempt: 1,
      });
      await sim.runUntilIdle();
    });
    expect(ran(sim, 'r1')).toEqual(['1.1.a1', '1.2.a1', '1.2.a2']);
    expect(sim.run('r1')).toMatchObject({ execution_status: 'Completed', generation: 2 });
    expect(sim.run('r1')?.counts).toMatchObject({ total: 3, completed: 2, skipped: 1, failed: 0 });
    expect(sim.run('r1')?.operator_actions?.map((a) => a.action)).toEqual(['bypass', 'set_ok', 'rerun']);
    for (const t of ['JobBypassed', 'JobSetOk', 'JobRerunStarted'] as const) {
      const ids = sim.eventsOf(t, 'r1').map((e) => e.event_id);
      expect(new Set(ids).size, t).toBe(1);
    }
    expect(sim.eventsOf('OperatorActionRejected')).toEqual([]);
  });
});

describe('a hold meets the dispatcher', () => {
  it('a retry queued while the run is held is parked by the dispatcher and woken by free', async () => {
    const sim = createSimulation({
      definitions: [
        {
          workflow_id: 'ops',
          defaults: { retries: 1, retry_backoff_seconds: 60 },
          workflow_stages: [{ execution_flag: 'y', execution_type: 'sequential', scripts: ['a.sh', 'b.sh'] }],
        },
      ],
    });
    sim.script({ job: 'a.sh', attempt: 1 }, { outcome: 'fail', durationSeconds: 1 });
    sim.request({ workflow_id: 'ops', workflow_execution_id: 'r1' });
    await sim.advance(5);
    expect(sim.job('r1', '1.1')).toMatchObject({ attempt: 2, execution_status: 'Queued' });
    sim.publish([
      {
        detailType: 'HoldRequested',
        detail: {
          version: 1,
          workflow_id: 'ops',
          workflow_execution_id: 'r1',
          requested_by: 'u',
          occurred_at: '2024-01-01T00:00:00Z',
          event_id: 'h',
        },
      },
    ]);
    await sim.runUntilIdle();
    expect(sim.job('r1', '1.1')).toMatchObject({
      attempt: 2,
      execution_status: 'Queued',
      waiting_for: 'hold',
    });
    expect(sim.intervals('r1').map((i) => `${i.job_key}.a${i.attempt}`)).toEqual(['1.1.a1']);
    sim.publish([
      {
        detailType: 'FreeRequested',
        detail: {
          version: 1,
          workflow_id: 'ops',
          workflow_execution_id: 'r1',
          requested_by: 'u',
          occurred_at: '2024-01-01T00:00:01Z',
          event_id: 'f',
        },
      },
    ]);
    await sim.runUntilIdle();
    expect(sim.intervals('r1').map((i) => `${i.job_key}.a${i.attempt}`)).toEqual([
      '1.1.a1',
      '1.1.a2',
      '1.2.a1',
    ]);
    expect(sim.run('r1')?.execution_status).toBe('Completed');
    expect(sim.problems()).toEqual([]);
  });
});
