/**
 * AgentFleet on SSM Run Command (ARCHITECTURE.md §4): the dispatcher picks ONE online agent host and sends
 * the rsqlo document to exactly that host, so one job attempt runs once. SSM's MaxConcurrency only
 * limits how many of a command's targets run at once; it never chooses among hosts for us.
 *
 * - pick: DescribeInstanceInformation filtered to the configured instance ids (≤ 100 per filter)
 *   and/or the agent tag, PingStatus Online, paginated (MaxResults 50); among the online hosts the
 *   one at hash(job run name) mod n, which spreads jobs evenly and picks the same host again for a
 *   repeated request. The list is reused for a few seconds (the describe API's rate is low).
 * - send: SendCommand to that one instance with the job as base64 JSON in parameter `job`, checked
 *   against the document's allowedPattern first; MaxConcurrency/MaxErrors "1". cancel: the same,
 *   carrying a JobCancel (the agent kills that attempt). SendCommand is not
 *   idempotent, so only throttling (a refused request) is retried here; give this fleet an SSM
 *   client without SDK retries (compose.ts does) so a timed-out request is never sent twice.
 *
 * Sources: AWS Systems Manager API reference, DescribeInstanceInformation (MaxResults 5–50, filter
 * Values 1–100, PingStatus Online | ConnectionLost | Inactive, `tag:<key>` filters) and SendCommand
 * (Comment ≤ 100 characters, TimeoutSeconds 30–2,592,000).
 */
import { createHash } from 'node:crypto';
import {
  DescribeInstanceInformationCommand,
  type InstanceInformationStringFilter,
  SendCommandCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { parseContract } from '../../contracts/common.js';
import { JobCancel, JobCommand } from '../../contracts/jobs.js';
import { NoAgentAvailableError, NonRetriableError } from '../../services/errors.js';
import type { AgentFleet, AgentRef, Clock } from '../../services/ports.js';
import { isServerError, isThrottling, type RetryOptions, withRetries } from './retry.js';
import { JOB_ALLOWED_PATTERN, JOB_MAX_CHARS, JOB_PARAMETER } from './ssm-document.js';

/** Most values in one DescribeInstanceInformation filter. */
export const MAX_FILTER_VALUES = 100;
/** Page size of DescribeInstanceInformation with filters (its maximum). */
export const DESCRIBE_PAGE_SIZE = 50;
/** Longest SendCommand Comment. */
export const MAX_COMMENT = 100;
/** How long a command may wait for its host to take it, unless configured (10 min; SSM allows 30 s – 30 d). */
export const DEFAULT_DELIVERY_TIMEOUT_SECONDS = 600;
/** How long the online list is reused, unless configured. */
export const DEFAULT_AGENT_CACHE_SECONDS = 15;

export interface SsmAgentFleetDeps {
  /** An SSM client; see the file comment about SDK retries. */
  client: SSMClient;
  /** Name (or ARN) of the rsqlo SSM document. */
  documentName: string;
  /** Instance ids that may run jobs. */
  instanceIds?: readonly string[];
  /** Instances carrying this tag may run jobs (besides `instanceIds`). */
  tag?: { key: string; value: string };
  /** SendCommand TimeoutSeconds: how long the command may wait to be delivered (default 600). */
  deliveryTimeoutSeconds?: number;
  /** Seconds the online list is reused (default 15; 0 asks every time). */
  cacheSeconds?: number;
  /** For the cache (default: the system clock). */
  clock?: Clock;
  /** Retries of throttled calls (default: 8 attempts, 25 ms … 2 s full jitter). */
  retry?: RetryOptions;
}

/** The job, encoded, does not fit the SSM document's parameter (parameters too large). */
export class JobCommandTooLargeError extends NonRetriableError {
  override name = 'JobCommandTooLargeError';
}

/** The fleet was configured with neither instance ids nor a tag. */
export class FleetConfigurationError extends Error {
  override name = 'FleetConfigurationError';
}

/** `key=value` → { key, value }. */
export function parseAgentTag(text: string): { key: string; value: string } {
  const i = text.indexOf('=');
  if (i <= 0 || i === text.length - 1)
    throw new FleetConfigurationError(`agent tag must be key=value, got "${text}"`);
  return { key: text.slice(0, i), value: text.slice(i + 1) };
}

/** Which of `n` hosts runs a job run: stable for a name, uniform over names. */
export function agentIndex(jobRunName: string, n: number): number {
  const h = createHash('sha256').update(jobRunName).digest();
  return h.readUInt32BE(0) % n;
}

/** The `job` parameter's value: base64 of the command's JSON. */
export function encodeJobCommand(command: JobCommand): string {
  return Buffer.from(JSON.stringify(command), 'utf8').toString('base64');
}

const JOB_PATTERN = new RegExp(JOB_ALLOWED_PATTERN);

/**
 * The agent fleet of the configured instance ids and/or tag (at least one is required): online list
 * reused 15 s, commands wait up to 600 s for their host, throttling retried (8 attempts).
 */
export function createSsmAgentFleet(deps: SsmAgentFleetDeps): AgentFleet {
  const { client, documentName, retry } = deps;
  const ids = [...new Set(deps.instanceIds ?? [])];
  if (ids.length === 0 && !deps.tag) {
    throw new FleetConfigurationError('the agent fleet needs instance ids or a tag');
  }
  const clock = deps.clock ?? { now: () => new Date() };
  const cacheMs = (deps.cacheSeconds ?? DEFAULT_AGENT_CACHE_SECONDS) * 1000;
  const timeout = Math.min(
    2_592_000,
    Math.max(30, deps.deliveryTimeoutSeconds ?? DEFAULT_DELIVERY_TIMEOUT_SECONDS),
  );
  let cache: { at: number; online: string[] } | undefined;

  const describeRetryable = (err: unknown) => isThrottling(err) || isServerError(err);

  async function describe(filters: InstanceInformationStringFilter[]): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    do {
      const page = await withRetries(
        'describe agent instances',
        () =>
          client.send(
            new DescribeInstanceInformationCommand({
              Filters: [...filters, { Key: 'PingStatus', Values: ['Online'] }],
              MaxResults: DESCRIBE_PAGE_SIZE,
              NextToken: token,
            }),
          ),
        describeRetryable,
        retry,
      );
      for (const info of page.InstanceInformationList ?? []) {
        if (info.InstanceId && info.PingStatus === 'Online') out.push(info.InstanceId);
      }
      token = page.NextToken;
    } while (token);
    return out;
  }

  async function online(): Promise<string[]> {
    const now = clock.now().getTime();
    if (cache && now - cache.at < cacheMs) return cache.online;
    const found = new Set<string>();
    for (let i = 0; i < ids.length; i += MAX_FILTER_VALUES) {
      for (const id of await describe([
        { Key: 'InstanceIds', Values: ids.slice(i, i + MAX_FILTER_VALUES) },
      ])) {
        found.add(id);
      }
    }
    if (deps.tag)
      for (const id of await describe([{ Key: `tag:${deps.tag.key}`, Values: [deps.tag.value] }]))
        found.add(id);
    const list = [...found].sort();
    // An empty list is never reused: the next job asks again.
    cache = list.length > 0 ? { at: now, online: list } : undefined;
    return list;
  }

  async function sendEncoded(
    agent: AgentRef,
    jobRunName: string,
    encoded: string,
    comment: string,
  ): Promise<{ commandId: string | null }> {
    if (encoded.length > JOB_MAX_CHARS || !JOB_PATTERN.test(encoded)) {
      throw new JobCommandTooLargeError(
        `job ${jobRunName}: the encoded command is ${encoded.length} characters; the SSM document's job parameter takes at most ${JOB_MAX_CHARS}`,
      );
    }
    try {
      const out = await withRetries(
        `send command for ${jobRunName}`,
        () =>
          client.send(
            new SendCommandCommand({
              DocumentName: documentName,
              InstanceIds: [agent.instanceId],
              Parameters: { [JOB_PARAMETER]: [encoded] },
              MaxConcurrency: '1',
              MaxErrors: '1',
              TimeoutSeconds: timeout,
              Comment: comment.slice(0, MAX_COMMENT),
            }),
          ),
        isThrottling,
        retry,
      );
      return { commandId: out.Command?.CommandId ?? null };
    } catch (err) {
      if (err instanceof Error && err.name === 'InvalidInstanceId') {
        // The host went away since it was listed: forget the list; the wrapper retries the dispatch.
        cache = undefined;
        throw new NoAgentAvailableError(`agent ${agent.instanceId} cannot take commands: ${err.message}`);
      }
      throw err;
    }
  }

  return {
    async pick(jobRunName: string): Promise<AgentRef> {
      // A reused list is never empty (an empty answer is not kept), so an empty one is fresh.
      const list = await online();
      if (list.length === 0) {
        throw new NoAgentAvailableError(
          `no rsqlo agent is online (${ids.length ? `instances ${ids.join(', ')}` : ''}${ids.length && deps.tag ? ' or ' : ''}${deps.tag ? `tag ${deps.tag.key}=${deps.tag.value}` : ''})`,
        );
      }
      return { instanceId: list[agentIndex(jobRunName, list.length)] as string };
    },

    async send(agent: AgentRef, command: JobCommand): Promise<{ commandId: string | null }> {
      const job = parseContract(JobCommand, command, 'job command');
      return sendEncoded(agent, job.job_run_name, encodeJobCommand(job), `rsqlo ${job.job_run_name}`);
    },

    async cancel(agent: AgentRef, cancel: JobCancel): Promise<{ commandId: string | null }> {
      const c = parseContract(JobCancel, cancel, 'job cancel');
      // The same document and parameter as a job: `rsqlo-agent submit` tells the two apart.
      return sendEncoded(
        agent,
        c.job_run_name,
        Buffer.from(JSON.stringify(c), 'utf8').toString('base64'),
        `rsqlo cancel ${c.job_run_name}`,
      );
    },
  };
}
