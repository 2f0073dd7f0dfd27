import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { jobRunName } from '../../contracts/jobs.js';
import { routeEvent } from '../../events/routing.js';
import { dynamoLocal } from '../support/dynamodb-local.js';
import { stages, workspace } from '../support/workspace.js';
import { comparable } from './compare.js';
import { type AwsHarness, createAwsHarness } from './harness.js';

const ddb = dynamoLocal('test/aws/duplicates.test.ts');

/** Every script records that it ran (job key and attempt) in its host's TEST_OUT. */
const RAN = 'echo "$RSQLO_JOB_KEY a$RSQLO_ATTEMPT" >> "$TEST_OUT/ran"';

function mixedWorkflow() {
  const ws = workspace('rsqlo-aws-dup-');
  for (const s of ['a', 'b', 'c', 'd', 'e', 'f']) ws.script(`${s}.sh`, `${RAN}\necho ${s} done`);
  ws.script(
    'flaky.sh',
    `${RAN}\nif [ "$RSQLO_ATTEMPT" = 1 ]; then echo "flaky: first attempt fails" >&2; exit 1; fi\necho recovered`,
  );
  ws.script('bad.sh', `${RAN}\necho "bad: always fails" >&2\nexit 4`);
  ws.script('never.sh', `${RAN}`);
  const definition = {
    workflow_id: 'aws_dup',
    defaults: { retry_backoff_seconds: 1 },
    workflow_stages: stages(
      ['sequential', ['a.sh', 'b.sh']],
      ['parallel', ['c.sh', 'd.sh', 'e.sh'], { max_concurrency: 2 }],
      ['sequential', [{ script: 'flaky.sh', retries: 1 }]],
      ['parallel', ['f.sh', 'bad.sh']],
      ['sequential', ['never.sh']],
    ),
  };
  return { ws, definition };
}

/** What ran, over every host: one line per job attempt. */
function ran(h: AwsHarness): string[] {
  return h.hosts
    .flatMap((x) => {
      const f = path.join(x.dir, 'out', 'ran');
      return existsSync(f) ? readFileSync(f, 'utf8').split('\n') : [];
    })
    .filter(Boolean)
    .sort();
}

describe.skipIf(!ddb.endpoint)('AWS path: duplicated deliveries at every hop', () => {
  let h: AwsHarness | undefined;
  afterEach(async () => {
    await h?.dispose();
    h = undefined;
  });

  it('every bus event, queue message, stream record, SSM command and task invocation delivered twice: the same final audit records, every attempt run once', async () => {
    const exec = 'dup-1';
    const once = async (duplicate: boolean) => {
      const w = mixedWorkflow();
      h = await createAwsHarness({
        endpoint: ddb.endpoint as string,
        scriptRoot: w.ws.scripts,
        duplicate,
        ssmMode: 'in-process',
      });
      await h.putDefinition(w.definition);
      h.request({ workflow_id: 'aws_dup', workflow_execution_id: exec });
      const result = await h.finished(exec);
      const harness = h;
      expect(await harness.problems()).toEqual([]);
      const lines = ran(harness);
      const stats = {
        routed: harness.bus.envelopes.reduce((n, e) => n + routeEvent(e).length, 0),
        busInvocations: ['starter', 'planner', 'recorder', 'trigger'].reduce(
          (n, f) => n + harness.fn(f as 'starter').invocations,
          0,
        ),
        queueBatches: harness.sqsSource.batches,
        dispatcherInvocations: harness.fn('dispatcher').invocations,
        streamBatches: harness.stream.batches,
        aggregatorInvocations: harness.fn('aggregator').invocations,
        commands: harness.ssm.commands.length,
        commandRuns: harness.ssm.runs.length,
        duplicateSubmits: harness.ssm.runs.filter((r) => r.output.includes('was submitted before')).length,
        taskInvocations: harness.wrapper.executions().reduce((n, e) => n + e.invocations, 0),
        executions: harness.wrapper.executions().length,
        alertRules: harness.bus.alerts.length,
        notifierInvocations: harness.fn('notifier').invocations,
        alerts: harness.sns.published.map((p) => p.subject).sort(),
        oneCommandPerAttempt: harness.wrapper
          .executions()
          .every((e) => harness.commandsFor(e.name).length <= 1),
      };
      await harness.dispose();
      h = undefined;
      return { result, lines, stats };
    };

    const plain = await once(false);
    const doubled = await once(true);

    expect(plain.result.run.execution_status).toBe('Failed');
    expect(plain.result.jobs.map((j) => [j.job_key, j.execution_status, j.attempt])).toEqual([
      ['1.1', 'Completed', 1],
      ['1.2', 'Completed', 1],
      ['2.1', 'Completed', 1],
      ['2.2', 'Completed', 1],
      ['2.3', 'Completed', 1],
      ['3.1', 'Completed', 2],
      ['4.1', 'Completed', 1],
      ['4.2', 'Failed', 1],
      ['5.1', 'Skipped', 1],
    ]);
    // The same outcome, counters, attempts, errors and skip reasons with every delivery doubled.
    expect(comparable(doubled.result.run, doubled.result.jobs)).toEqual(
      comparable(plain.result.run, plain.result.jobs),
    );
    // Each attempt of each job ran exactly once either way.
    const expected = [
      '1.1 a1',
      '1.2 a1',
      '2.1 a1',
      '2.2 a1',
      '2.3 a1',
      '3.1 a1',
      '3.1 a2',
      '4.1 a1',
      '4.2 a1',
    ];
    expect(plain.lines).toEqual(expected);
    expect(doubled.lines).toEqual(expected);
    // The duplicates did happen: every bus event was delivered twice, every SSM command ran twice
    // (the second submit a no-op), every task was invoked twice; still one command per attempt.
    const d = doubled.stats;
    expect(plain.stats.busInvocations).toBe(plain.stats.routed);
    expect(d.busInvocations).toBe(2 * d.routed);
    expect(d.dispatcherInvocations).toBe(2 * d.queueBatches);
    expect(d.aggregatorInvocations).toBe(2 * d.streamBatches);
    expect(plain.stats.aggregatorInvocations).toBe(plain.stats.streamBatches);
    expect(d.commandRuns).toBe(2 * d.commands);
    expect(d.duplicateSubmits).toBe(d.commands);
    expect(d.taskInvocations).toBe(2 * d.executions);
    expect(d.oneCommandPerAttempt).toBe(true);
    // Every alert event reached the notifier twice; each alert went out once.
    expect(d.notifierInvocations).toBe(2 * d.alertRules);
    expect(plain.stats.notifierInvocations).toBe(plain.stats.alertRules);
    expect(plain.stats.alerts.length).toBe(plain.stats.alertRules);
    expect(d.alerts).toEqual(plain.stats.alerts);
    expect(plain.stats.commands).toBe(9);
    expect(d.commands).toBe(9);
    expect(jobRunName(exec, '3.1', 2)).toBe('dup-1--3-1--a2');
  });
});
