import { describe, expect, it, vi } from 'vitest';
import type { JobMessage, TaskRequest } from '../../contracts/jobs.js';
import { NoAgentAvailableError, StaleTaskError } from '../errors.js';
import { parallel, sequential, workflow } from '../testing/fixtures.js';
import {
  compareUnderChaos,
  createSimulation,
  type Scenario,
  type Simulation,
  type SimulationOptions,
} from '../testing/in-memory.js';
import { createDispatcherService } from './service.js';

async function expectSameUnderChaos(
  opts: SimulationOptions,
  scenario: Scenario,
  execs: string[],
): Promise<Simulation> {
  const { clean, differences } = await compareUnderChaos(opts, scenario, execs);
  expect(differences).toEqual([]);
  return clean;
}

const WF = workflow(
  'wf',
  [
    sequential([
      { script: 'load.sh', args: ['--day', 'mon'], timeout_seconds: 120, heartbeat_seconds: 600 },
      'b.sh',
    ]),
  ],
  { parameters: { ENV: 'test' } },
);

function message(jobKey = '1.1', attempt = 1, exec = 'r1'): JobMessage {
  return { version: 1, workflow_id: 'wf', workflow_execution_id: exec, job_key: jobKey, attempt };
}

/** A run whose first job was claimed (Queued) and nothing delivered yet. */
async function queuedRun(): Promise<Simulation> {
  const sim = createSimulation({ definitions: [WF] });
  const planned = await sim.startAndPlan('wf', 'r1');
  expect(planned.queued).toEqual(['1.1']);
  return sim;
}

function taskFor(sim: Simulation, name: string): TaskRequest {
  const run = sim.wrapper.runs.get(name);
  if (!run) throw new Error(`no wrapper run ${name}`);
  return { task_token: `token:${name}`, job: run.input };
}

describe('dispatcher: queue messages', () => {
  it('starts the wrapper named after the attempt, with the job policy, and marks the job Dispatched', async () => {
    const sim = await queuedRun();
    expect(await sim.services.dispatcher.handleMessage(message())).toEqual({ ack: true, note: 'dispatched' });
    const run = sim.wrapper.runs.get('r1--1-1--a1');
    expect(run?.input).toEqual({
      version: 1,
      job_run_name: 'r1--1-1--a1',
      workflow_id: 'wf',
      workflow_execution_id: 'r1',
      job_key: '1.1',
      job_name: 'load.sh',
      stage: 1,
      attempt: 1,
      timeout_seconds: 120,
      // A heartbeat at or above the timeout would never fire: the plan clamps it strictly below
      // (Step Functions requires HeartbeatSeconds < TimeoutSeconds; contracts/limits.ts).
      heartbeat_seconds: 119,
    });
    expect(sim.job('r1', '1.1')?.execution_status).toBe('Dispatched');
  });

  it('starts the wrapper once however often the message comes', async () => {
    const sim = await queuedRun();
    await sim.services.dispatcher.handleMessage(message());
    // A repeat finds the job Dispatched (marked after its wrapper started): acked, nothing read or started.
    const runReads = sim.store.calls.get('getRun');
    expect(await sim.services.dispatcher.handleMessage(message())).toEqual({
      ack: true,
      note: 'job is Dispatched',
    });
    expect(sim.store.calls.get('getRun')).toBe(runReads);
    expect(sim.wrapper.starts.map((s) => s.result)).toEqual(['started']);
    expect(sim.wrapper.runs.size).toBe(1);
  });

  it('drops messages for unknown jobs, past attempts and jobs no longer queued', async () => {
    const sim = await queuedRun();
    const d = sim.services.dispatcher;
    expect(await d.handleMessage(message('1.1', 1, 'ghost'))).toEqual({ ack: true, note: 'unknown job' });
    expect(await d.handleMessage(message('1.1', 2))).toEqual({
      ack: true,
      note: 'stale: job is at attempt 1',
    });
    expect(await d.handleMessage(message('1.2'))).toEqual({ ack: true, note: 'job is Pending' });
    expect(sim.wrapper.starts).toEqual([]);
  });

  it("holds a message back until the job's not_before (retry backoff)", async () => {
    const sim = await queuedRun();
    const notBefore = new Date(sim.clock.millis + 42_500).toISOString();
    await sim.store.jobs().transition({
      workflowExecutionId: 'r1',
      jobKey: '1.1',
      expect: { attempt: 1, statuses: ['Queued'] },
      set: { not_before: notBefore },
    });
    expect(await sim.services.dispatcher.handleMessage(message())).toEqual({
      ack: false,
      retryAfterSeconds: 43,
    });
    expect(sim.wrapper.starts).toEqual([]);
    sim.clock.advance(42_500);
    expect(await sim.services.dispatcher.handleMessage(message())).toEqual({ ack: true, note: 'dispatched' });
  });

  it('cancels a queued job of a run being cancelled instead of starting it', async () => {
    const sim = await queuedRun();
    await sim.store.runs().requestCancel('r1');
    expect(await sim.services.dispatcher.handleMessage(message())).toEqual({
      ack: true,
      note: 'run is not accepting work',
    });
    expect(sim.job('r1', '1.1')).toMatchObject({
      execution_status: 'Cancelled',
      error_message: 'the run was cancelled before this job started',
    });
    expect(sim.wrapper.starts).toEqual([]);
  });
});

describe('dispatcher: wrapper tasks', () => {
  it('sends one command with the job, its arguments, the run parameters and the token to one agent', async () => {
    const sim = await queuedRun();
    await sim.services.dispatcher.handleMessage(message());
    const result = await sim.services.dispatcher.handleTask(taskFor(sim, 'r1--1-1--a1'));
    expect(result).toEqual({ instanceId: 'i-sim-1', commandId: 'cmd-r1--1-1--a1' });
    expect(sim.agent.sends).toHaveLength(1);
    expect(sim.agent.sends[0]?.command).toMatchObject({
      task_token: 'token:r1--1-1--a1',
      job_run_name: 'r1--1-1--a1',
      script: 'load.sh',
      args: ['--day', 'mon'],
      parameters: { ENV: 'test' },
      timeout_seconds: 120,
      heartbeat_seconds: 119,
    });
    // The host is on the row; the command id comes with the agent's JobStarted (one write less).
    expect(sim.job('r1', '1.1')).toMatchObject({
      execution_status: 'Dispatched',
      instance_id: 'i-sim-1',
      ssm_command_id: null,
    });
    await sim.advance(0);
    expect(sim.job('r1', '1.1')).toMatchObject({
      execution_status: 'Running',
      instance_id: 'i-sim-1',
      ssm_command_id: 'cmd-r1--1-1--a1',
    });
  });

  it('reads the run once and writes the job row once per dispatch', async () => {
    const sim = await queuedRun();
    await sim.services.dispatcher.handleMessage(message());
    const runs = sim.store.runs();
    const jobs = sim.store.jobs();
    const getRun = vi.spyOn(runs, 'getRun');
    const getJob = vi.spyOn(jobs, 'getJob');
    const transition = vi.spyOn(jobs, 'transition');
    const d = createDispatcherService({
      runs,
      jobs,
      orchestrator: { start: async () => 'started' as const, stop: async () => {} },
      agents: sim.agent,
      pools: sim.store.pools(),
      clock: { now: () => new Date() },
      log: { info() {}, warn() {}, error() {} },
    });
    await d.handleTask(taskFor(sim, 'r1--1-1--a1'));
    expect(sim.agent.sends).toHaveLength(1);
    expect([getJob.mock.calls.length, getRun.mock.calls.length, transition.mock.calls.length]).toEqual([
      1, 1, 1,
    ]);
    expect(transition.mock.calls[0]?.[0].set).toEqual({
      execution_status: 'Dispatched',
      instance_id: 'i-sim-1',
    });
  });

  it('does not send a second command, nor refuse, when the wrapper calls again for a job already sent', async () => {
    const sim = await queuedRun();
    await sim.services.dispatcher.handleMessage(message());
    const task = taskFor(sim, 'r1--1-1--a1');
    const first = await sim.services.dispatcher.handleTask(task);
    // The repeat names the host; the command id is on the row once the agent reported it.
    expect(await sim.services.dispatcher.handleTask(task)).toEqual({
      instanceId: first.instanceId,
      commandId: null,
    });
    // Still answered after the agent reported the start: the script is running, the attempt is alive.
    await sim.advance(0);
    expect(sim.job('r1', '1.1')?.execution_status).toBe('Running');
    expect(await sim.services.dispatcher.handleTask(task)).toEqual(first);
    expect(sim.agent.sends).toHaveLength(1);
    await sim.runUntilIdle();
    expect(sim.run('r1')?.execution_status).toBe('Completed');
  });

  it('refuses a token for an attempt the job has left behind (StaleTaskError)', async () => {
    const sim = await queuedRun();
    await sim.services.dispatcher.handleMessage(message());
    const task = taskFor(sim, 'r1--1-1--a1');
    const d = sim.services.dispatcher;
    await expect(d.handleTask({ ...task, job: { ...task.job, attempt: 2 } })).rejects.toBeInstanceOf(
      StaleTaskError,
    );
    await expect(d.handleTask({ ...task, job: { ...task.job, job_key: '9.9' } })).rejects.toThrow(
      /does not exist/,
    );
    // The attempt ended (e.g. the wrapper timed out meanwhile): a late token must not start the script.
    await sim.store.jobs().transition({
      workflowExecutionId: 'r1',
      jobKey: '1.1',
      expect: { attempt: 1, statuses: ['Dispatched'] },
      set: { execution_status: 'TimedOut' },
    });
    await expect(d.handleTask(task)).rejects.toBeInstanceOf(StaleTaskError);
    expect(sim.agent.sends).toEqual([]);
  });

  it('refuses a token for a run being cancelled, and settles the attempt Cancelled so the run can end', async () => {
    const sim = await queuedRun();
    await sim.services.dispatcher.handleMessage(message());
    expect(sim.job('r1', '1.1')?.execution_status).toBe('Dispatched');
    await sim.store.runs().requestCancel('r1');
    await expect(sim.services.dispatcher.handleTask(taskFor(sim, 'r1--1-1--a1'))).rejects.toThrow(
      /not running/,
    );
    expect(sim.agent.sends).toEqual([]);
    // Before, the job stayed Dispatched, uncounted: the wrapper ended quietly (Stale) and the run
    // stayed Running for ever.
    expect(sim.job('r1', '1.1')).toMatchObject({
      execution_status: 'Cancelled',
      error_message: 'the run was cancelled before this job started',
    });
    await sim.runUntilIdle();
    expect(sim.run('r1')).toMatchObject({
      execution_status: 'Cancelled',
      counts: { cancelled: 1, skipped: 1 },
    });
  });

  it('records the host before sending and then reads the run: a cancel landing in between stops the send', async () => {
    const sim = await queuedRun();
    await sim.services.dispatcher.handleMessage(message());
    // The cancel comes while the dispatcher picks an agent (before its claim and its read of the run).
    const pick = sim.agent.pick.bind(sim.agent);
    sim.agent.pick = async (name) => {
      await sim.store.runs().requestCancel('r1');
      return pick(name);
    };
    await expect(sim.services.dispatcher.handleTask(taskFor(sim, 'r1--1-1--a1'))).rejects.toThrow(
      /not running/,
    );
    expect(sim.agent.sends).toEqual([]);
    expect(sim.job('r1', '1.1')).toMatchObject({ execution_status: 'Cancelled', instance_id: 'i-sim-1' });
  });

  it('sends the live token of a retried Dispatch to the host that has the job, once per new token', async () => {
    const sim = await queuedRun();
    await sim.services.dispatcher.handleMessage(message());
    const first = taskFor(sim, 'r1--1-1--a1');
    const arn = 'arn:aws:states:us-east-1:123456789012:execution:w:r1--1-1--a1';
    await sim.services.dispatcher.handleTask({ ...first, dispatch: 0, execution_arn: arn });
    // The invocation failed after sending (Lambda.ServiceException); Step Functions retried Dispatch
    // with a new token. The command goes to the SAME host with the new token.
    const retried = { ...first, task_token: 'token:retry-1', dispatch: 1, execution_arn: arn };
    expect(await sim.services.dispatcher.handleTask(retried)).toEqual({
      instanceId: 'i-sim-1',
      commandId: 'cmd-r1--1-1--a1',
    });
    // Each command says which try issued its token: the agent never trades a later one for an earlier.
    expect(
      sim.agent.sends.map((x) => [
        x.instanceId,
        x.command.task_token,
        x.command.execution_arn,
        x.command.dispatch,
      ]),
    ).toEqual([
      ['i-sim-1', 'token:r1--1-1--a1', arn, 0],
      ['i-sim-1', 'token:retry-1', arn, 1],
    ]);
    // A repeat of the first invocation (same token) still sends nothing.
    await sim.services.dispatcher.handleTask({ ...first, dispatch: 0 });
    expect(sim.agent.sends).toHaveLength(2);
    expect(sim.job('r1', '1.1')).toMatchObject({ instance_id: 'i-sim-1' });
  });

  it.each([
    ['the first try claims first', false],
    ['the retry claims first', true],
  ])(
    'two Dispatch tries at once (the first still running when the retry starts) claim one host: %s',
    async (_, retryFirst) => {
      // Lambda.SdkClientException: the client lost the first invocation's answer while the function
      // still ran, so the retry (a new token) runs beside it. The set of online hosts changed in
      // between: each try picks another host. The row must name ONE host, and every command of the
      // attempt go to it (a cancel's kill, and the agent's token adoption, go by the row).
      const sim = await queuedRun();
      await sim.services.dispatcher.handleMessage(message());
      const first = taskFor(sim, 'r1--1-1--a1');
      const hosts = ['i-host-a', 'i-host-b'];
      let picks = 0;
      let release = () => {};
      const bothPicked = new Promise<void>((r) => {
        release = r;
      });
      sim.agent.pick = async () => {
        const mine = hosts[picks++] as string;
        if (picks === 2) release();
        await bothPicked; // both tries have read the row as unclaimed and picked their host
        return { instanceId: mine };
      };
      const retried = { ...first, task_token: 'token:retry-1', dispatch: 1 };
      const tries = [
        () => sim.services.dispatcher.handleTask({ ...first, dispatch: 0 }),
        () => sim.services.dispatcher.handleTask(retried),
      ];
      if (retryFirst) tries.reverse();
      await Promise.all(tries.map((t) => t()));
      const row = sim.job('r1', '1.1');
      expect(row?.execution_status).toBe('Dispatched');
      const sentTo = [...new Set(sim.agent.sends.map((x) => x.instanceId))];
      expect(sentTo).toEqual([row?.instance_id]);
      // The live token (the retry's) reached that host; the first try's, if it went, went there too.
      expect(sim.agent.sends.map((x) => x.command.dispatch)).toContain(1);
    },
  );

  it('lets the wrapper fail the attempt when no agent is online', async () => {
    const sim = await queuedRun();
    await sim.services.dispatcher.handleMessage(message());
    sim.agent.setOnline(false);
    await expect(sim.services.dispatcher.handleTask(taskFor(sim, 'r1--1-1--a1'))).rejects.toBeInstanceOf(
      NoAgentAvailableError,
    );
    expect(sim.job('r1', '1.1')?.instance_id).toBeNull();
    // Through the wrapper: it retries, then its Catch reports the attempt Failed and the run fails.
    await sim.runUntilIdle();
    expect(sim.job('r1', '1.1')).toMatchObject({ execution_status: 'Failed', exit_code: null });
    expect(sim.job('r1', '1.1')?.error_message).toMatch(/could not dispatch the job: NoAgentAvailableError/);
    expect(sim.run('r1')?.execution_status).toBe('Failed');
    expect(sim.timeline).toEqual([]);
  });
});

describe('dispatcher: end to end', () => {
  it('runs every attempt on exactly one agent, with deliveries repeated and reordered', async () => {
    const wf = workflow('many', [parallel(['a.sh', 'b.sh', 'c.sh', 'd.sh']), sequential(['e.sh'])], {
      defaults: { retries: 1, retry_backoff_seconds: 5 },
    });
    const scenario: Scenario = async (sim) => {
      sim.script({ job: 'b.sh', attempt: 1 }, { outcome: 'fail', exitCode: 3, durationSeconds: 4 });
      sim.request({ workflow_id: 'many', workflow_execution_id: 'r1' });
      await sim.runUntilIdle();
    };
    const { clean, differences } = await compareUnderChaos(
      { definitions: [wf], instances: ['i-a', 'i-b', 'i-c'] },
      scenario,
      ['r1'],
    );
    expect(differences).toEqual([]);
    for (let seed = 1; seed <= 4; seed++) {
      const sim = createSimulation({
        definitions: [wf],
        instances: ['i-a', 'i-b', 'i-c'],
        chaos: { duplicate: true, shuffle: true, seed },
      });
      await scenario(sim);
      // One accepted command per attempt; repeats (if any) went to the same instance and were ignored.
      const accepted = sim.agent.sends.filter((s) => s.accepted).map((s) => s.command.job_run_name);
      expect(accepted.sort()).toEqual([
        'r1--1-1--a1',
        'r1--1-2--a1',
        'r1--1-2--a2',
        'r1--1-3--a1',
        'r1--1-4--a1',
        'r1--2-1--a1',
      ]);
      for (const s of sim.agent.sends) {
        expect(s.instanceId).toBe(sim.agent.execution(s.command.job_run_name)?.instanceId);
      }
    }
    expect(clean.run('r1')?.execution_status).toBe('Completed');
  });

  it('starts attempt 2 only once its backoff has passed', async () => {
    const wf = workflow('wf', [sequential(['a.sh'])], {
      defaults: { retries: 1, retry_backoff_seconds: 45 },
    });
    const clean = await expectSameUnderChaos(
      { definitions: [wf] },
      async (sim) => {
        sim.script({ job: 'a.sh', attempt: 1 }, { outcome: 'fail', exitCode: 1, durationSeconds: 10 });
        sim.request({ workflow_id: 'wf', workflow_execution_id: 'r1' });
        await sim.runUntilIdle();
      },
      ['r1'],
    );
    const [a1, a2] = clean.intervals('r1');
    expect(a2?.attempt).toBe(2);
    expect((a2?.start ?? 0) - (a1?.end ?? 0)).toBe(45_000);
  });
});
