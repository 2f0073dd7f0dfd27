/**
 * Reading what the AWS-path harness's simulators saw: the SSM commands sent for a job attempt,
 * everything a secret must never appear in, and the problems the queues and logs show.
 */
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { AwsHarness } from '../harness.js';
import type { AgentLogLine } from '../sim/agents.js';
import type { SsmSimulator } from '../sim/ssm.js';

/** The SSM commands sent for a job attempt (decoded `job` parameter), in order. */
export function commandsFor(ssm: SsmSimulator, jobRunName: string, kind: 'job' | 'cancel') {
  return ssm.commands.filter((c) => {
    const job = c.parameters.job?.[0];
    if (job === undefined) return false;
    const decoded = JSON.parse(Buffer.from(job, 'base64').toString('utf8'));
    return decoded.job_run_name === jobRunName && (decoded.kind === 'cancel') === (kind === 'cancel');
  });
}

/**
 * Everything a secret must never appear in: events, audit rows, handler and agent logs, shipped
 * job logs, SSM command parameters, task outputs (as the wrapper simulator received them).
 */
export async function everythingVisible(h: AwsHarness, execs: string[]): Promise<string> {
  const rows = [];
  for (const e of execs) rows.push(await h.run(e), await h.jobs(e));
  return [
    JSON.stringify(h.bus.envelopes),
    JSON.stringify(rows),
    h.handlerLogs.raw(),
    JSON.stringify(h.agentLog()),
    h.logs.allText(),
    JSON.stringify(h.ssm.runs),
  ].join('\n');
}

/**
 * The problems the queues and logs show: messages left in the job queue's dead-letter queue, and
 * every ERROR a handler or an agent logged, except those matching `allowErrors`.
 */
export async function queueAndLogProblems(
  sqs: SQSClient,
  dlqUrl: string,
  handlerLogLines: ReadonlyArray<Record<string, unknown>>,
  agentLog: readonly AgentLogLine[],
  allowErrors: RegExp[],
): Promise<string[]> {
  const out: string[] = [];
  const dlq = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['ApproximateNumberOfMessages'] }),
  );
  const inDlq = Number(dlq.Attributes?.ApproximateNumberOfMessages ?? 0);
  if (inDlq > 0) out.push(`${inDlq} message(s) in the job queue's dead-letter queue`);
  for (const l of handlerLogLines)
    if (l.level === 'ERROR' && !allowErrors.some((re) => re.test(String(l.message))))
      out.push(`handler ERROR: ${l.message} ${JSON.stringify(l).slice(0, 400)}`);
  for (const l of agentLog)
    if (l.level === 'error' && !allowErrors.some((re) => re.test(l.message)))
      out.push(`agent ${l.host} error: ${l.message} ${JSON.stringify(l.fields).slice(0, 300)}`);
  return out;
}
