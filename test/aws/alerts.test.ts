import { afterEach, describe, expect, it } from 'vitest';
import type { EventEnvelope } from '../../events/envelope.js';
import { DEFAULT_LOG_GROUP } from '../../runtime/aws/cloudwatch-logs.js';
import { dynamoLocal } from '../support/dynamodb-local.js';
import { stages, workspace } from '../support/workspace.js';
import { type AwsHarness, createAwsHarness } from './harness.js';

const ddb = dynamoLocal('test/aws/alerts.test.ts');

/**
 * What the failing script writes to stderr (and so the job's error_message): quotes, a backslash
 * path, two lines, non-ASCII (accents, CJK, an emoji outside the BMP). An input transformer put
 * such a value into its template unescaped; the notifier writes it as it is.
 */
const ERROR_LINES = [
  'ERROR:  relation "sales"."daily" does not exist',
  `LINE 1: copy "sales"."daily" from 'C:\\temp\\in.csv' -- Zürich 東京 😀`,
];

function alertingWorkflow() {
  const ws = workspace('rsqlo-aws-alerts-');
  ws.script('ok.sh', 'echo ok');
  ws.script('bad.sh', `cat >&2 <<'EOF'\n${ERROR_LINES.join('\n')}\nEOF\nexit 3`);
  const definition = {
    workflow_id: 'aws_alerts',
    workflow_stages: stages(['sequential', ['ok.sh', 'bad.sh']]),
  };
  return { ws, definition };
}

describe.skipIf(!ddb.endpoint)('AWS path: alerts from the notifier', () => {
  let h: AwsHarness | undefined;
  afterEach(async () => {
    await h?.dispose();
    h = undefined;
  });

  it('publishes one readable alert per failure, and a replay delivering each 3 times, reordered, publishes nothing more', async () => {
    const w = alertingWorkflow();
    h = await createAwsHarness({
      endpoint: ddb.endpoint as string,
      scriptRoot: w.ws.scripts,
      ssmMode: 'in-process',
    });
    const harness = h;
    await harness.putDefinition(w.definition);
    harness.request({ workflow_id: 'aws_alerts', workflow_execution_id: 'alert-1' });
    const { run, jobs } = await harness.finished('alert-1');
    expect(run.execution_status).toBe('Failed');
    expect(jobs.map((j) => [j.job_key, j.execution_status, j.exit_code])).toEqual([
      ['1.1', 'Completed', 0],
      ['1.2', 'Failed', 3],
    ]);
    expect(jobs[1]?.error_message).toBe(ERROR_LINES.join('\n'));

    // The two facts that page: the failed job and the failed run. One Publish each.
    const jobFailed = harness.bus
      .events('JobFinished')
      .find((e) => (e.detail as { status: string }).status === 'Failed') as EventEnvelope<
      Record<string, string | number>
    >;
    const runFailed = harness.bus.events('WorkflowFinished')[0] as EventEnvelope<Record<string, unknown>>;
    expect(harness.bus.events('JobFinished')).toHaveLength(2);
    expect(harness.bus.events('WorkflowFinished')).toHaveLength(1);
    expect(harness.fn('notifier').invocations).toBe(2);
    const published = harness.sns.published;
    expect(published.map((p) => p.subject).sort()).toEqual([
      'rsqlo: job bad.sh Failed in aws_alerts',
      'rsqlo: workflow aws_alerts Failed',
    ]);

    // The job's alert, line by line: readable text, every value as the script wrote it.
    const d = jobFailed.detail;
    const jobAlert = published.find((p) => p.subject?.startsWith('rsqlo: job'));
    expect(jobAlert?.message.split('\n')).toEqual([
      'rsqlo: job bad.sh Failed in aws_alerts',
      '',
      'workflow:  aws_alerts',
      'execution: alert-1',
      'job:       1.2 bad.sh (stage 1, attempt 1)',
      'status:    Failed (exit code 3, reported by agent)',
      'error:     ERROR:  relation "sales"."daily" does not exist',
      `           LINE 1: copy "sales"."daily" from 'C:\\temp\\in.csv' -- Zürich 東京 😀`,
      `instance:  ${d.instance_id} (SSM command ${d.ssm_command_id})`,
      `log:       ${d.log_location} (CloudWatch Logs group ${DEFAULT_LOG_GROUP})`,
      expect.stringMatching(/^audit: {5}DynamoDB \S+ \/ \S+, workflow_execution_id = alert-1$/),
      `time:      ${jobFailed.time} (us-east-1, account 123456789012)`,
      `event id:  ${d.event_id}`,
    ]);
    const runAlert = published.find((p) => p.subject?.startsWith('rsqlo: workflow'));
    expect(runAlert?.message).toContain(
      `error:     ${ERROR_LINES[0]}\n           ${ERROR_LINES[1]}\nlog:       ${d.log_location}`,
    );
    // Publish's limits (Subject: one line, less than 100 characters; Message: at most 262,144
    // bytes), also enforced by the SNS simulator, which refused nothing.
    for (const p of published) {
      expect(p.subject).toMatch(/^[^\r\n]{1,99}$/);
      expect(Buffer.byteLength(p.message, 'utf8')).toBeLessThan(262_144);
    }

    // A replay from the archive: both completion events, each 3 times, newest first and interleaved
    // (a replay does not keep the archive's order), all delivered at once.
    const before = { run: await harness.run('alert-1'), jobs: await harness.jobs('alert-1') };
    harness.bus.replay('after-outage', [runFailed, jobFailed, runFailed, jobFailed, jobFailed, runFailed]);
    await harness.settle();
    expect(harness.bus.replayed).toHaveLength(6);
    expect(new Set(harness.bus.replayed.map((e) => e.id)).size).toBe(6);
    // Every copy reached the notifier (none lost, none dead-lettered) ...
    expect(harness.fn('notifier').invocations).toBe(2 + 6);
    // ... and none published again.
    expect(harness.sns.published).toHaveLength(2);
    const outcomes = harness.handlerLogs.lines
      .filter((l) => l.service === 'rsqlo-notifier' && typeof l.outcome === 'string')
      .map((l) => l.outcome);
    expect(outcomes.filter((o) => o === 'published')).toHaveLength(2);
    expect(outcomes.filter((o) => o === 'duplicate')).toHaveLength(6);
    // The other consumers took the replay in their stride: the audit records did not move.
    expect({ run: await harness.run('alert-1'), jobs: await harness.jobs('alert-1') }).toEqual(before);
    expect(await harness.problems()).toEqual([]);
  });
});
