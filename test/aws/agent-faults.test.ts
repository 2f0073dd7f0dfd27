import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { jobRunName } from '../../contracts/jobs.js';
import { isSameProcessAlive } from '../../platform/processes.js';
import { dynamoLocal } from '../support/dynamodb-local.js';
import { stages, workspace } from '../support/workspace.js';
import { type AwsHarness, createAwsHarness } from './harness.js';

const ddb = dynamoLocal('test/aws/agent-faults.test.ts');

describe.skipIf(!ddb.endpoint)('AWS path: agent faults', () => {
  let h: AwsHarness | undefined;
  afterEach(async () => {
    await h?.dispose();
    h = undefined;
  });

  it('the agent daemon killed mid-job: the heartbeat times the job out, the workflow fails, the next daemon kills the orphan, a restart completes it', async () => {
    const ws = workspace('rsqlo-aws-crash-');
    ws.script(
      'long.sh',
      [
        'if [ -f "$(dirname "$0")/fast" ]; then echo "fast this time"; exit 0; fi',
        'echo $$ > "$TEST_OUT/long.pid"',
        'sleep 300 &',
        'echo $! > "$TEST_OUT/long.child"',
        'wait',
      ].join('\n'),
    );
    ws.script('after.sh', 'echo after');
    h = await createAwsHarness({
      endpoint: ddb.endpoint as string,
      scriptRoot: ws.scripts,
      hosts: 1,
      agentMode: 'process',
      heartbeatEverySeconds: 0.5,
      ssmMode: 'in-process',
    });
    await h.putDefinition({
      workflow_id: 'aws_crash',
      workflow_stages: stages(['sequential', [{ script: 'long.sh', heartbeat_seconds: 3 }, 'after.sh']]),
    });
    const host = h.hosts[0];
    if (!host) throw new Error('no host');
    h.request({ workflow_id: 'aws_crash', workflow_execution_id: 'crash-1' });
    const childFile = path.join(host.dir, 'out', 'long.child');
    await h.until(
      async () => existsSync(childFile) && (await h?.job('crash-1', '1.1'))?.execution_status === 'Running',
      'the job to run',
    );
    const pids = [path.join(host.dir, 'out', 'long.pid'), childFile].map((f) =>
      Number(readFileSync(f, 'utf8')),
    );
    const beats = () => h?.wrapper.callbacks.filter((c) => c.command === 'SendTaskHeartbeat').length ?? 0;
    await h.until(async () => beats() > 0, 'a heartbeat');

    await host.kill();
    // The job outlives the daemon (its job host keeps it), but nobody heartbeats it any more.
    expect(pids.every((p) => isSameProcessAlive(p, undefined))).toBe(true);
    const first = await h.finished('crash-1');
    expect(first.run.execution_status).toBe('Failed');
    expect(first.jobs.map((j) => [j.job_key, j.execution_status, j.error_message])).toEqual([
      ['1.1', 'TimedOut', 'no heartbeat from the agent for 3 s: the agent or its host was lost'],
      ['1.2', 'Skipped', null],
    ]);
    const name = jobRunName('crash-1', '1.1', 1);
    const wrapper = h.wrapper.execution(name);
    expect(wrapper).toMatchObject({ status: 'FAILED', error: 'JobTimedOut' }); // never a reserved States.* name
    expect(wrapper?.path.map((p) => p.state)).toEqual(['Dispatch', 'ReportHeartbeatLost', 'TimedOut']);
    expect(pids.every((p) => isSameProcessAlive(p, undefined))).toBe(true);

    // The next daemon adopts the orphan; its first heartbeat hears TaskTimedOut and it kills the
    // job's process group, reporting nothing (the wrapper reported the attempt).
    await host.start();
    await h.until(
      async () => pids.every((p) => !isSameProcessAlive(p, undefined)),
      'the orphaned job to be killed',
    );
    expect(host.log).toContainEqual(expect.objectContaining({ message: 'adopted a running job' }));
    expect(host.log).toContainEqual(
      expect.objectContaining({
        message: 'the orchestrator no longer waits for this job; killing it',
        fields: { job_run_name: name, reason: 'TaskTimedOut' },
      }),
    );
    expect(h.wrapper.callbacks).toContainEqual({
      command: 'SendTaskHeartbeat',
      exec: name,
      outcome: 'TaskTimedOut',
    });

    writeFileSync(path.join(ws.scripts, 'fast'), '');
    h.request({ workflow_id: 'aws_crash', workflow_execution_id: 'crash-2', restart_of: 'crash-1' });
    const second = await h.finished('crash-2');
    expect(second.run).toMatchObject({ execution_status: 'Completed', restart_of: 'crash-1' });
    expect(second.jobs.map((j) => [j.job_key, j.execution_status])).toEqual([
      ['1.1', 'Completed'],
      ['1.2', 'Completed'],
    ]);
    expect(h.logs.text(jobRunName('crash-2', '1.1', 1))).toContain('fast this time');
    // crash-1's job was reported once, by the wrapper; the killed attempt left no agent report.
    const reports = h.bus
      .events('JobFinished')
      .map((e) => e.detail as Record<string, unknown>)
      .filter((d) => d.workflow_execution_id === 'crash-1');
    expect(reports.map((d) => [d.job_key, d.status, d.reported_by])).toEqual([
      ['1.1', 'TimedOut', 'wrapper'],
    ]);
    expect(await h.problems()).toEqual([]);
  });

  it('a report made while the events endpoint is down is kept and delivered once it is back', async () => {
    const ws = workspace('rsqlo-aws-outage-');
    ws.script('gate.sh', 'while [ ! -f "$(dirname "$0")/go" ]; do sleep 0.1; done\necho "through the gate"');
    ws.script('after.sh', 'echo after');
    h = await createAwsHarness({
      endpoint: ddb.endpoint as string,
      scriptRoot: ws.scripts,
      hosts: 1,
      ssmMode: 'in-process',
    });
    await h.putDefinition({
      workflow_id: 'aws_outage',
      workflow_stages: stages(['sequential', ['gate.sh', 'after.sh']]),
    });
    const host = h.hosts[0];
    if (!host) throw new Error('no host');
    h.request({ workflow_id: 'aws_outage', workflow_execution_id: 'outage-1' });
    await h.until(
      async () => (await h?.job('outage-1', '1.1'))?.execution_status === 'Running',
      'the job to run',
    );

    h.bus.setOutage(true);
    writeFileSync(path.join(ws.scripts, 'go'), '');
    const name = jobRunName('outage-1', '1.1', 1);
    // The job ends; its task result reaches Step Functions, but JobFinished cannot be put: the agent
    // keeps it in its spool and keeps trying.
    await h.until(async () => h?.wrapper.execution(name)?.status === 'SUCCEEDED', 'the task result');
    const rejected = () => h?.bus.requests.filter((r) => r.rejected && r.caller === 'sdk').length ?? 0;
    await h.until(async () => rejected() >= 3, 'several refused attempts');
    expect(host.active()).toEqual([
      expect.objectContaining({ name, phase: 'finished', pendingReports: ['finished'] }),
    ]);
    expect((await h.job('outage-1', '1.1'))?.execution_status).toBe('Running');
    expect(h.bus.events('JobFinished')).toEqual([]);

    h.bus.setOutage(false);
    const { run, jobs } = await h.finished('outage-1');
    expect(run.execution_status).toBe('Completed');
    expect(jobs.map((j) => [j.job_key, j.execution_status, j.exit_code])).toEqual([
      ['1.1', 'Completed', 0],
      ['1.2', 'Completed', 0],
    ]);
    const delivered = h.bus
      .events('JobFinished')
      .filter((e) => (e.detail as { job_key: string }).job_key === '1.1');
    expect(delivered.map((e) => (e.detail as { reported_by: string }).reported_by)).toEqual(['agent']);
    expect(host.log).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        message: 'report not delivered; will retry',
        fields: expect.objectContaining({ report: 'finished' }),
      }),
    );
    expect(await h.problems()).toEqual([]);
  });
});
