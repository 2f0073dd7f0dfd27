import { afterEach, describe, expect, it } from 'vitest';
import { jobRunName } from '../../contracts/jobs.js';
import { dynamoLocal } from '../support/dynamodb-local.js';
import { failingWorkflow } from './fixtures.js';
import { type AwsHarness, createAwsHarness } from './harness.js';

const ddb = dynamoLocal('test/aws/failure-restart.test.ts');

describe.skipIf(!ddb.endpoint)('AWS path: a failing workflow and its restart', () => {
  let h: AwsHarness | undefined;
  afterEach(async () => {
    await h?.dispose();
    h = undefined;
  });

  it('fails at the failing job, skips what never started, alerts; the restart skips completed jobs and runs the rest; a second restart is refused', async () => {
    const f = failingWorkflow();
    h = await createAwsHarness({
      endpoint: ddb.endpoint as string,
      scriptRoot: f.ws.scripts,
      ssmMode: 'shell',
    });
    await h.putDefinition(f.definition);

    h.request({ workflow_id: 'aws_fail_restart', workflow_execution_id: 'fail-1' });
    const first = await h.finished('fail-1');
    expect(first.run).toMatchObject({
      execution_status: 'Failed',
      counts: { total: 5, completed: 1, failed: 1, skipped: 3 },
    });
    expect(first.run.stages.map((s) => s.status)).toEqual(['Failed', 'Skipped']);
    expect(first.jobs.map((j) => [j.job_key, j.execution_status, j.exit_code, j.skip_reason])).toEqual([
      ['1.1', 'Completed', 0, null],
      ['1.2', 'Failed', 3, null],
      ['1.3', 'Skipped', null, 'not started: stage 1 failed'],
      ['2.1', 'Skipped', null, 'not started: stage 1 failed'],
      ['2.2', 'Skipped', null, 'not started: stage 1 failed'],
    ]);
    const failed = first.jobs[1];
    expect(failed?.error_message).toContain('ERROR: input file /data/in.csv is missing');
    expect(first.run.failed_jobs).toEqual([
      expect.objectContaining({
        job_key: '1.2',
        status: 'Failed',
        exit_code: 3,
        log_location: failed?.log_location,
      }),
    ]);
    // The job's log, shipped to CloudWatch, has what the script wrote to stdout and stderr.
    expect(h.logs.text(jobRunName('fail-1', '1.2', 1))).toContain('loading the input file');
    expect(h.logs.text(jobRunName('fail-1', '1.2', 1))).toContain(
      'ERROR: input file /data/in.csv is missing',
    );
    // The agent reported the failure (JobFinished + SendTaskFailure JobFailed); the wrapper ended
    // Failed without a second event. Jobs that never started never got a wrapper.
    const wrapper = h.wrapper.execution(jobRunName('fail-1', '1.2', 1));
    expect(wrapper).toMatchObject({ status: 'FAILED', error: 'JobFailed' });
    expect(wrapper?.path.map((p) => p.state)).toEqual(['Dispatch', 'JobFailed']);
    const finished = h.bus.events('JobFinished').map((e) => e.detail as Record<string, unknown>);
    expect(finished.filter((d) => d.job_key === '1.2').map((d) => [d.status, d.reported_by])).toEqual([
      ['Failed', 'agent'],
    ]);
    for (const key of ['1.3', '2.1', '2.2'])
      expect(h.wrapper.execution(jobRunName('fail-1', key, 1))).toBeUndefined();
    // The alert rules matched the failed job and the failed run (SNS on AWS).
    expect(h.bus.alerts.map((a) => a.rule).sort()).toEqual(['alert-job-failed', 'alert-workflow-failed']);

    f.fix();
    h.request({ workflow_id: 'aws_fail_restart', workflow_execution_id: 'fail-2', restart_of: 'fail-1' });
    const second = await h.finished('fail-2');
    expect(second.run).toMatchObject({
      execution_status: 'Completed',
      restart_of: 'fail-1',
      counts: { total: 5, completed: 4, skipped: 1, failed: 0 },
    });
    expect(second.jobs.map((j) => [j.job_key, j.execution_status, j.skip_reason])).toEqual([
      ['1.1', 'Skipped', 'completed in run fail-1'],
      ['1.2', 'Completed', null],
      ['1.3', 'Completed', null],
      ['2.1', 'Completed', null],
      ['2.2', 'Completed', null],
    ]);
    // Only the jobs that had not completed ran again.
    expect(h.wrapper.execution(jobRunName('fail-2', '1.1', 1))).toBeUndefined();
    expect(h.commandsFor(jobRunName('fail-2', '1.1', 1))).toEqual([]);
    for (const key of ['1.2', '1.3', '2.1', '2.2'])
      expect(h.wrapper.execution(jobRunName('fail-2', key, 1))?.status).toBe('SUCCEEDED');
    expect(h.logs.text(jobRunName('fail-2', '1.2', 1))).toContain('input found');

    // A run is restarted once: a second restart of fail-1 is refused, naming fail-2 and its status.
    expect((await h.run('fail-1'))?.restarted_as).toBe('fail-2');
    h.request({ workflow_id: 'aws_fail_restart', workflow_execution_id: 'fail-3', restart_of: 'fail-1' });
    await h.settle();
    expect(h.bus.events('WorkflowRejected').map((e) => e.detail)).toEqual([
      expect.objectContaining({
        workflow_execution_id: 'fail-3',
        reason: 'RestartNotAllowed',
        message: expect.stringContaining('run fail-1 was already restarted as fail-2 (Completed)'),
      }),
    ]);
    expect(await h.run('fail-3')).toBeUndefined();
    expect(await h.problems()).toEqual([]);
  });
});
