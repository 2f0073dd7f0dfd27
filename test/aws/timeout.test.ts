import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { jobRunName } from '../../contracts/jobs.js';
import { isSameProcessAlive } from '../../platform/processes.js';
import { dynamoLocal } from '../support/dynamodb-local.js';
import { stages, workspace } from '../support/workspace.js';
import { type AwsHarness, createAwsHarness } from './harness.js';

const ddb = dynamoLocal('test/aws/timeout.test.ts');

describe.skipIf(!ddb.endpoint)('AWS path: a job that runs past its timeout', () => {
  let h: AwsHarness | undefined;
  afterEach(async () => {
    await h?.dispose();
    h = undefined;
  });

  it('the wrapper times it out and reports TimedOut from its Catch; the agent kills the process group when its next heartbeat gets TaskTimedOut', async () => {
    const ws = workspace('rsqlo-aws-timeout-');
    ws.script(
      'sleepy.sh',
      [
        'echo $$ > "$TEST_OUT/sleepy.pid"',
        'sleep 300 &',
        'echo $! > "$TEST_OUT/sleepy.child"',
        'echo sleeping',
        'wait',
      ].join('\n'),
    );
    ws.script('after.sh', 'echo after');
    const definition = {
      workflow_id: 'aws_timeout',
      // heartbeat_seconds below timeout_seconds: the ASL spec requires HeartbeatSeconds < TimeoutSeconds.
      workflow_stages: stages([
        'sequential',
        [{ script: 'sleepy.sh', timeout_seconds: 6, heartbeat_seconds: 5 }, 'after.sh'],
      ]),
    };
    // SSM takes 3 s to deliver the command, so the job starts ~3 s after the wrapper's timer did:
    // the wrapper gives up (6 s) well before the agent's own timer for the job would (6 s after it
    // started), and the agent, beating every 0.2 s, hears TaskTimedOut first.
    h = await createAwsHarness({
      endpoint: ddb.endpoint as string,
      scriptRoot: ws.scripts,
      hosts: 1,
      heartbeatEverySeconds: 0.2,
      ssmDeliveryDelayMs: 3000,
      ssmMode: 'in-process',
    });
    await h.putDefinition(definition);
    const exec = 'timeout-1';
    const name = jobRunName(exec, '1.1', 1);
    h.request({ workflow_id: 'aws_timeout', workflow_execution_id: exec });
    const out = h.hosts[0]?.dir as string;
    const pidFile = path.join(out, 'out', 'sleepy.pid');
    const childFile = path.join(out, 'out', 'sleepy.child');
    await h.until(async () => existsSync(childFile), 'the job to start');
    const pids = [pidFile, childFile].map((f) => Number(readFileSync(f, 'utf8')));

    const { run, jobs } = await h.finished(exec);
    expect(run.execution_status).toBe('Failed');
    expect(jobs.map((j) => [j.job_key, j.execution_status, j.error_message, j.skip_reason])).toEqual([
      ['1.1', 'TimedOut', 'timed out after 6 s (timeout_seconds)', null],
      ['1.2', 'Skipped', null, 'not started: stage 1 failed'],
    ]);

    // The wrapper's Catch path (States.Timeout → ReportTimedOut → TimedOut, raising JobTimedOut) put the JobFinished,
    // its fields evaluated from the deployed definition (States.Format, $$.State.EnteredTime).
    const wrapper = h.wrapper.execution(name);
    expect(wrapper).toMatchObject({ status: 'FAILED', error: 'JobTimedOut' }); // never a reserved States.* name
    expect(wrapper?.path.map((p) => p.state)).toEqual(['Dispatch', 'ReportTimedOut', 'TimedOut']);
    const finished = h.bus.events('JobFinished').map((e) => e.detail as Record<string, unknown>);
    expect(finished).toEqual([
      expect.objectContaining({
        event_id: `JobFinished:${exec}:1.1:a1`,
        occurred_at: wrapper?.path[1]?.enteredTime,
        finished_at: wrapper?.path[1]?.enteredTime,
        status: 'TimedOut',
        reported_by: 'wrapper',
        error_message: 'timed out after 6 s (timeout_seconds)',
        job_name: 'sleepy.sh',
        stage: 1,
        attempt: 1,
      }),
    ]);

    // The agent's next heartbeat got TaskTimedOut; it killed the job's whole process group and
    // reported nothing more (no task result, no second JobFinished).
    const answers = h.wrapper.callbacks.filter((c) => c.exec === name);
    expect(answers).toContainEqual({ command: 'SendTaskHeartbeat', exec: name, outcome: 'TaskTimedOut' });
    expect(answers.filter((c) => c.command !== 'SendTaskHeartbeat')).toEqual([]);
    await h.until(
      async () => pids.every((p) => !isSameProcessAlive(p, undefined)),
      'the job processes to die',
    );
    expect(h.agentLog()).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        message: 'the orchestrator no longer waits for this job; killing it',
        fields: { job_run_name: name, reason: 'TaskTimedOut' },
      }),
    );
    await h.settle();
    expect(h.logs.text(name)).toContain(
      'the orchestrator no longer waits for this attempt (TaskTimedOut); killing the job',
    );
    expect(h.bus.alerts.map((a) => a.rule).sort()).toEqual(['alert-job-failed', 'alert-workflow-failed']);
    expect(await h.problems()).toEqual([]);
  });
});
