/**
 * Reading a job attempt's log back from CloudWatch Logs (the agent ships it there: one stream per
 * attempt, cloudwatch-logs.ts), for `rsqlo logs --aws` and the run view served from a stack.
 * GetLogEvents pages forward from the head (`startFromHead`) or back from the end; "If you have
 * reached the end of the stream, it returns the same token you passed in" (its API reference), which
 * is how the end of what is there now is known.
 */
import { type CloudWatchLogsClient, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { retried } from './dynamo-operations.js';

/** Where a job's log is: `cloudwatch:<group>:<stream>` (cloudwatch-logs.ts logLocation). */
export function parseLogLocation(location: string): { group: string; stream: string } | undefined {
  const m = /^cloudwatch:([^:]+):(.+)$/.exec(location);
  return m ? { group: m[1] as string, stream: m[2] as string } : undefined;
}

/** One page of a stream: its messages in order and the token that continues after them. */
export interface LogPage {
  messages: string[];
  /** Pass back as `token` to read on (the same token again: nothing new yet). */
  next: string | undefined;
  /** The stream does not exist (not created yet, or expired). */
  missing: boolean;
}

/** GetLogEvents' most events per call (its API reference: "up to 10,000 log events"). */
export const MAX_GET_LOG_EVENTS = 10_000;

export interface CloudWatchLogReader {
  /**
   * One page: from `token` when given, else from the head, or with `tail` the last `tail` events.
   * At most `limit` events (default and most: 10,000, or 1 MB, whichever GetLogEvents reaches first).
   */
  page(
    group: string,
    stream: string,
    opts: { token?: string; tail?: number; limit?: number },
  ): Promise<LogPage>;
}

export function createCloudWatchLogReader(client: CloudWatchLogsClient): CloudWatchLogReader {
  return {
    async page(group, stream, opts) {
      const tail = opts.token === undefined && opts.tail !== undefined;
      try {
        const out = await retried(`read log ${stream}`, () =>
          client.send(
            new GetLogEventsCommand({
              logGroupName: group,
              logStreamName: stream,
              ...(opts.token !== undefined ? { nextToken: opts.token } : {}),
              startFromHead: !tail,
              limit: Math.min(
                MAX_GET_LOG_EVENTS,
                Math.max(1, tail ? (opts.tail as number) : (opts.limit ?? MAX_GET_LOG_EVENTS)),
              ),
            }),
          ),
        );
        return {
          messages: (out.events ?? []).map((e) => e.message ?? ''),
          next: out.nextForwardToken,
          missing: false,
        };
      } catch (err) {
        if (err instanceof Error && err.name === 'ResourceNotFoundException')
          return { messages: [], next: opts.token, missing: true };
        throw err;
      }
    },
  };
}
