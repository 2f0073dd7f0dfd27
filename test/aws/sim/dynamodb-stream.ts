/**
 * A reader of a table's DynamoDB stream, the way Lambda's poller reads it: DescribeStream for the
 * shards, GetShardIterator, GetRecords until the shard has nothing more. It keeps, per shard, the
 * last sequence number it returned and asks for a fresh iterator AFTER_SEQUENCE_NUMBER it on the
 * next read (TRIM_HORIZON before the first record), so a long pause never trips over an iterator
 * that expired or was handed out while the shard was still empty.
 *
 * No SDK client for DynamoDB Streams is installed, so it speaks the JSON protocol directly
 * (DynamoDB Local does not check signatures). Records come back shaped as Lambda's DynamoDBRecord.
 */
import type { DynamoDBRecord } from 'aws-lambda';

async function call(endpoint: string, target: string, body: unknown): Promise<Record<string, unknown>> {
  const r = await fetch(endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': `DynamoDBStreams_20120810.${target}`,
      authorization:
        'AWS4-HMAC-SHA256 Credential=local/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
    },
    body: JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`DynamoDB Streams ${target}: ${r.status} ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** Reads the stream `streamArn` from its start; `next()` returns what was written since the last call. */
export function streamReader(endpoint: string, streamArn: string) {
  const last = new Map<string, string>();
  const reader = {
    /**
     * Reads DynamoDB Local refused with TrimmedDataAccessException. It does so now and then for an
     * iterator handed out while the shard was empty or at its end; the position is ours (the last
     * sequence number), so the shard is simply read again on the next call. Nothing is lost.
     */
    trimmedRetries: 0,
    async next(): Promise<DynamoDBRecord[]> {
      const desc = (await call(endpoint, 'DescribeStream', { StreamArn: streamArn })) as {
        StreamDescription: { Shards: Array<{ ShardId: string }> };
      };
      const out: DynamoDBRecord[] = [];
      for (const shard of desc.StreamDescription.Shards) {
        try {
          await readShard(shard.ShardId, out);
        } catch (err) {
          if (!String((err as Error).message).includes('TrimmedDataAccessException')) throw err;
          reader.trimmedRetries++;
        }
      }
      return out;
    },
  };
  /** Appends the shard's records after the last one returned (a record is appended at most once). */
  async function readShard(shardId: string, out: DynamoDBRecord[]) {
    const after = last.get(shardId);
    let iterator: string | undefined = (
      (await call(endpoint, 'GetShardIterator', {
        StreamArn: streamArn,
        ShardId: shardId,
        ...(after
          ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: after }
          : { ShardIteratorType: 'TRIM_HORIZON' }),
      })) as { ShardIterator?: string }
    ).ShardIterator;
    while (iterator) {
      const page = (await call(endpoint, 'GetRecords', { ShardIterator: iterator, Limit: 1000 })) as {
        Records: DynamoDBRecord[];
        NextShardIterator?: string;
      };
      if (page.Records.length === 0) break;
      out.push(...page.Records);
      const seq = page.Records.at(-1)?.dynamodb?.SequenceNumber;
      if (seq) last.set(shardId, seq);
      iterator = page.NextShardIterator;
    }
  }
  return reader;
}
