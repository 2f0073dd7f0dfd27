/**
 * The deployed single-job wrapper (runtime/aws/wrapper-definition.ts, as infra deploys it), run by
 * the Step Functions simulator, on the paths where the States Language's rules decide the outcome:
 * which Catcher takes a heartbeat timeout, and a dispatch error without a Cause.
 */
import type { PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobRunInput } from '../../contracts/jobs.js';
import {
  deployedWrapperDefinitionString,
  substitutedWrapperDefinition,
} from '../../infra/constructs/job-wrapper.js';
import {
  DISPATCH_FAILED_ERROR,
  JOB_TIMED_OUT_ERROR,
  MISSING_CAUSE,
  wrapperDefinition,
} from '../../runtime/aws/wrapper-definition.js';
import { firstMatching } from './sim/asl.js';
import { type SimExecution, WrapperSimulator } from './sim/step-functions.js';

const FN = 'arn:aws:lambda:us-east-1:123456789012:function:dispatcher-task';
const SM = 'arn:aws:states:us-east-1:123456789012:stateMachine:rsqlo-job-wrapper';

const input = (over: Partial<JobRunInput> = {}): JobRunInput => ({
  version: 1,
  job_run_name: 'r1--1-1--a1',
  workflow_id: 'wf',
  workflow_execution_id: 'r1',
  job_key: '1.1',
  job_name: 'a.sh',
  stage: 1,
  attempt: 1,
  timeout_seconds: 30,
  heartbeat_seconds: 1,
  ...over,
});

const sims: WrapperSimulator[] = [];
afterEach(async () => {
  for (const s of sims.splice(0)) await s.dispose();
});

function simulator(onInvoke: (sim: WrapperSimulator, payload: { task_token: string }) => void) {
  const events: PutEventsRequestEntry[] = [];
  const sim: WrapperSimulator = new WrapperSimulator({
    definition: substitutedWrapperDefinition({
      dispatcherFunctionArn: FN,
      eventBusName: 'rsqlo',
      partition: 'aws',
    }),
    stateMachineArn: SM,
    invoke: async (_fn, payload) => {
      onInvoke(sim, payload as { task_token: string });
      return {};
    },
    putEvents: async (entries) => {
      events.push(...entries);
      return { FailedEntryCount: 0 };
    },
    retryScale: 0.01,
  });
  sims.push(sim);
  return { sim, events };
}

async function finished(sim: WrapperSimulator, name: string): Promise<SimExecution> {
  for (let i = 0; i < 400; i++) {
    const e = sim.execution(name);
    if (e && e.status !== 'RUNNING') return e;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${name} did not finish`);
}

const detail = (e: PutEventsRequestEntry | undefined) =>
  JSON.parse(e?.Detail ?? '{}') as Record<string, unknown>;
const def = wrapperDefinition({ dispatcherFunctionArn: FN, eventBusName: 'rsqlo', partition: 'aws' });

describe('the wrapper on success', () => {
  it('ends in Dispatch itself: one billed state transition per successful job', async () => {
    // "Step Functions counts a state transition each time a step of your workflow is executed"
    // (aws.amazon.com/step-functions/pricing): a Succeed state after Dispatch would be a second.
    expect(def.States.Dispatch).toMatchObject({ End: true });
    expect(def.States.Dispatch).not.toHaveProperty('Next');
    const report = { exit_code: 0, instance_id: 'i-0abc' };
    const { sim, events } = simulator((s, p) => {
      setTimeout(() => s.sendTaskSuccess({ taskToken: p.task_token, output: JSON.stringify(report) }), 5);
    });
    sim.startExecution({ stateMachineArn: SM, name: 'r1--1-1--a1', input: JSON.stringify(input()) });
    const exec = await finished(sim, 'r1--1-1--a1');
    expect(exec.status).toBe('SUCCEEDED');
    expect(exec.path.map((p) => p.state)).toEqual(['Dispatch']);
    expect(exec.transitions).toBe(1);
    // The execution's output is Dispatch's: the job input with the agent's report at $.report.
    expect(JSON.parse(exec.output ?? '{}')).toEqual({ ...input(), report });
    expect(events).toEqual([]);
    expect(sim.violations).toEqual([]);
  });
});

describe('the wrapper under the States Language error rules', () => {
  it('catches a lost heartbeat as one (HeartbeatTimeout before Timeout: catchers go in order)', async () => {
    expect(firstMatching(def.States.Dispatch.Catch, 'States.HeartbeatTimeout')?.Next).toBe(
      'ReportHeartbeatLost',
    );
    expect(firstMatching(def.States.Dispatch.Catch, 'States.Timeout')?.Next).toBe('ReportTimedOut');
    // End to end: the agent never beats; the 1 s heartbeat expires long before the 30 s timeout.
    const { sim, events } = simulator(() => {});
    sim.startExecution({ stateMachineArn: SM, name: 'r1--1-1--a1', input: JSON.stringify(input()) });
    const exec = await finished(sim, 'r1--1-1--a1');
    expect(exec.path.map((p) => p.state)).toEqual(['Dispatch', 'ReportHeartbeatLost', 'TimedOut']);
    expect(detail(events[0])).toMatchObject({
      status: 'TimedOut',
      error_message: 'no heartbeat from the agent for 1 s: the agent or its host was lost',
      reported_by: 'wrapper',
    });
    expect(exec).toMatchObject({ status: 'FAILED', error: JOB_TIMED_OUT_ERROR });
  });

  it('reports a dispatch error without a Cause (optional in the spec) instead of failing on the report', async () => {
    const { sim, events } = simulator((s, p) => {
      // SendTaskFailure with an error name and no cause: the Error Output has no Cause field.
      setTimeout(() => s.sendTaskFailure({ taskToken: p.task_token, error: 'SsmUnavailable' }), 5);
    });
    sim.startExecution({ stateMachineArn: SM, name: 'r1--1-1--a1', input: JSON.stringify(input()) });
    const exec = await finished(sim, 'r1--1-1--a1');
    expect(exec.path.map((p) => p.state)).toEqual([
      'Dispatch',
      'DispatchErrorHasCause',
      'AddMissingCause',
      'ReportDispatchFailed',
      'DispatchFailed',
    ]);
    expect(detail(events[0])).toMatchObject({
      status: 'Failed',
      error_message: `could not dispatch the job: SsmUnavailable: ${MISSING_CAUSE}`,
    });
    expect(exec).toMatchObject({ status: 'FAILED', error: DISPATCH_FAILED_ERROR });
    expect(sim.violations).toEqual([]);
  });

  it('keeps the Cause when there is one', async () => {
    const { sim, events } = simulator((s, p) => {
      setTimeout(
        () => s.sendTaskFailure({ taskToken: p.task_token, error: 'SsmUnavailable', cause: 'throttled' }),
        5,
      );
    });
    sim.startExecution({
      stateMachineArn: SM,
      name: 'r1--1-1--a2',
      input: JSON.stringify(input({ attempt: 2 })),
    });
    const exec = await finished(sim, 'r1--1-1--a2');
    expect(exec.path.map((p) => p.state)).not.toContain('AddMissingCause');
    expect(detail(events[0])).toMatchObject({
      error_message: 'could not dispatch the job: SsmUnavailable: throttled',
    });
  });

  it('no Fail state raises a reserved States.* error name ("MUST NOT begin with the prefix States.")', () => {
    const fails = Object.entries(def.States).filter(([, s]) => (s as { Type: string }).Type === 'Fail');
    expect(fails.length).toBeGreaterThan(0);
    for (const [name, s] of fails) expect((s as { Error: string }).Error, name).not.toMatch(/^States\./);
  });

  it('names no partition: every resource ARN takes it from the substitution', () => {
    expect(deployedWrapperDefinitionString()).not.toMatch(/arn:aws:/);
    const gov = substitutedWrapperDefinition({
      dispatcherFunctionArn: FN,
      eventBusName: 'b',
      partition: 'aws-us-gov',
    });
    expect(gov).toContain('"arn:aws-us-gov:states:::lambda:invoke.waitForTaskToken"');
  });
});
