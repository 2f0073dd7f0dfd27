/**
 * Pieces of the AWS-path harness's wiring that no simulator owns: the job queue and its
 * dead-letter queue on fauxqs as the stack deploys them, the secret the agents read, the agent
 * hosts, and the events a test puts on the bus.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { FauxqsServer } from 'fauxqs';
import type { OPERATOR_REQUEST_TYPES, WorkflowRequested } from '../../../contracts/events.js';
import type { PgConnectionInfo } from '../../../rsql/embedded-postgres.js';
import { AgentHost, type AgentHostOptions } from '../sim/agents.js';

/** The job queue with its redrive to the dead-letter queue, and an SQS client for them. */
export function createJobQueues(server: FauxqsServer, region: string) {
  const dlq = server.createQueue('rsqlo-job-queue-dlq');
  // The deployed visibility timeout is 6 × the function timeout (180 s); 10 s here so a message a
  // handler failed on comes back within a test.
  const jobs = server.createQueue('rsqlo-job-queue', {
    attributes: {
      VisibilityTimeout: '10',
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.queueArn, maxReceiveCount: '5' }),
    },
  });
  // The endpoint the queue URLs name (sqs.<region>.localhost, resolved by interceptLocalhostDns),
  // so the SDK never warns that a QueueUrl's host differs from its endpoint.
  const sqsEndpoint = new URL(jobs.queueUrl).origin;
  const sqs = new SQSClient({
    region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    endpoint: sqsEndpoint,
  });
  return { queues: { jobs, dlq }, sqsEndpoint, sqs };
}

/** Secrets Manager's content: the database secret (as RDS/Redshift shape it) when there is a database. */
export function databaseSecrets(secretId: string, db: PgConnectionInfo | undefined): Record<string, string> {
  if (!db) return {};
  return {
    [secretId]: JSON.stringify({
      engine: 'postgres',
      username: db.user,
      password: db.password,
      host: db.host,
      port: db.port,
      dbname: db.database,
    }),
  };
}

/** A WorkflowRequested entry, as a user, schedule or the CLI would put it. */
export function requestEntry(
  busName: string,
  detail: Omit<WorkflowRequested, 'version'> & { version?: number },
) {
  return {
    EventBusName: busName,
    Source: 'rsqlo',
    DetailType: 'WorkflowRequested',
    Detail: JSON.stringify({ version: 1, requested_by: 'test', ...detail }),
  };
}

/** A WorkflowCancelRequested entry, as `rsqlo kill` or an operator would put it. */
export function cancelEntry(busName: string, workflowId: string, exec: string, reason?: string) {
  return {
    EventBusName: busName,
    Source: 'rsqlo',
    DetailType: 'WorkflowCancelRequested',
    Detail: JSON.stringify({
      version: 1,
      workflow_id: workflowId,
      workflow_execution_id: exec,
      requested_by: 'test',
      ...(reason ? { reason } : {}),
    }),
  };
}

/** The identity the harness's operator requests carry (what `--aws` reads from STS). */
export const OPERATOR_PRINCIPAL = 'iam:arn:aws:iam::123456789012:user/night-operator';

/**
 * An operator request entry (set-ok, rerun, bypass, hold, free, pool resize), as `rsqlo <action>
 * --aws` puts it: `occurred_at` now and a fresh `event_id` unless given.
 */
export function operatorEntry(
  busName: string,
  detailType: (typeof OPERATOR_REQUEST_TYPES)[number],
  detail: Record<string, unknown>,
) {
  return {
    EventBusName: busName,
    Source: 'rsqlo',
    DetailType: detailType,
    Detail: JSON.stringify({
      version: 1,
      event_id: `${detailType}:${randomUUID()}`,
      occurred_at: new Date().toISOString(),
      requested_by: OPERATOR_PRINCIPAL,
      ...detail,
    }),
  };
}

/**
 * Starts one agent host per instance id, each in its own folder under `root`; each is added to
 * `hosts` before it starts, so disposing the harness stops a host that failed half-way.
 */
export async function startAgentHosts(
  instanceIds: readonly string[],
  root: string,
  hosts: AgentHost[],
  options: Omit<AgentHostOptions, 'instanceId' | 'dir'>,
): Promise<void> {
  for (const instanceId of instanceIds) {
    const host = new AgentHost({ instanceId, dir: path.join(root, instanceId), ...options });
    hosts.push(host);
    await host.start();
  }
}
