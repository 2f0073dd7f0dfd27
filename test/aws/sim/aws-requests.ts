/**
 * What the functions of the AWS-path harness ask of DynamoDB and SQS, seen at the SDK client: every
 * AWS SDK v3 client's `send` goes through `@smithy/core`'s `Client.prototype.send`, which this
 * wraps while a harness runs. Requests are attributed to the caller (the Lambda function, or the
 * SQS event source mapping's poller) with an AsyncLocalStorage that sim/lambda.ts sets around each
 * invocation; requests with no caller (the harness's own reads, test arrangement) are not counted.
 *
 * - DynamoDB: every request gets `ReturnConsumedCapacity: TOTAL`, so the units are those DynamoDB
 *   Local computes (AWS's own code): writes in write request units (1 per KB, 2 per KB in a
 *   transaction), reads in read request units (1 per 4 KB strongly consistent). A request that fails
 *   (a conditional check, a cancelled transaction) returns no ConsumedCapacity; AWS still charges a
 *   conditional write that fails, so each failed write is counted as 1 unit per item it names (the
 *   items here are under 1 KB; a larger one would be undercounted) and reported apart.
 * - SQS: requests by action (AWS bills each action, per 64 KB chunk); ReceiveMessage calls that
 *   returned nothing are counted apart (the poller's idle cost is per hour, not per job).
 *
 * `hold(match)` makes matching requests wait until released: the way tests force an interleaving
 * (a write that lands after another one) without sleeping.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createRequire } from 'node:module';
import { Client } from '@smithy/core/client';

/** Who is making a request: a function name, or `sqs-poller` (the event source mapping). */
export const caller = new AsyncLocalStorage<{ caller: string }>();

/** lib-dynamodb's document commands → the DynamoDB API operation they send. */
const DOCUMENT_COMMANDS: Record<string, string> = {
  GetCommand: 'GetItem',
  PutCommand: 'PutItem',
  UpdateCommand: 'UpdateItem',
  DeleteCommand: 'DeleteItem',
  QueryCommand: 'Query',
  ScanCommand: 'Scan',
  BatchGetCommand: 'BatchGetItem',
  BatchWriteCommand: 'BatchWriteItem',
  TransactGetCommand: 'TransactGetItems',
  TransactWriteCommand: 'TransactWriteItems',
};
const DYNAMO_WRITES = new Set([
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'BatchWriteItem',
  'TransactWriteItems',
]);
const DYNAMO_CAPACITY = new Set([
  ...DYNAMO_WRITES,
  'GetItem',
  'Query',
  'Scan',
  'BatchGetItem',
  'TransactGetItems',
]);

/** One request as a hold's predicate sees it. */
export interface SeenRequest {
  service: 'DynamoDB' | 'SQS' | string;
  /** API operation: `UpdateItem`, `SendMessageBatch`, … */
  operation: string;
  /** The command's input as the caller built it (lib-dynamodb: plain values, not AttributeValues). */
  input: Record<string, unknown>;
  caller: string | undefined;
}

export interface Hold {
  /** Resolves when a matching request is waiting. */
  reached: Promise<SeenRequest>;
  /** Lets the waiting request (and later matches) through. */
  release(): void;
}

/** Per caller and operation: requests, capacity units (DynamoDB), failures. */
export interface RequestCount {
  requests: number;
  units: number;
  failed: number;
  /** Units assumed for failed writes (see the file comment). */
  failedUnits: number;
  /** SQS ReceiveMessage calls that returned no message. */
  empty: number;
}

type Key = `${string}|${string}|${string}`;

export class AwsRequestCounter {
  private readonly counts = new Map<Key, RequestCount>();
  private readonly holds: Array<{
    match: (r: SeenRequest) => boolean;
    gate: Promise<void>;
    hit: (r: SeenRequest) => void;
  }> = [];
  private restore: (() => void) | undefined;

  /** Starts counting (and holding): wraps Client.prototype.send until {@link uninstall}. */
  install(): void {
    if (this.restore) return;
    // The ESM and (when something loads it) the CommonJS build of @smithy/core are two classes.
    const protos = new Set<{ send: (...args: unknown[]) => unknown }>([
      Client.prototype as never,
      createRequire(import.meta.url)('@smithy/core/client').Client.prototype,
    ]);
    const undo: Array<() => void> = [];
    for (const proto of protos) {
      const original = proto.send;
      const counter = this;
      proto.send = function send(
        this: { config?: { serviceId?: string } },
        command: unknown,
        ...rest: unknown[]
      ) {
        return counter.around(this, command, () => original.call(this, command, ...rest));
      };
      undo.push(() => {
        proto.send = original;
      });
    }
    this.restore = () => {
      for (const u of undo) u();
    };
  }

  uninstall(): void {
    this.restore?.();
    this.restore = undefined;
    for (const h of this.holds.splice(0)) h.hit = () => {};
  }

  /**
   * Holds every request matching `match` (made by a function or the poller) until released.
   * Matching is on the request as the caller built it.
   */
  hold(match: (r: SeenRequest) => boolean): Hold {
    let release!: () => void;
    let hit!: (r: SeenRequest) => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const reached = new Promise<SeenRequest>((r) => {
      hit = r;
    });
    const entry = { match, gate, hit };
    this.holds.push(entry);
    return {
      reached,
      release: () => {
        const i = this.holds.indexOf(entry);
        if (i >= 0) this.holds.splice(i, 1);
        release();
      },
    };
  }

  /** Counts by caller, service and operation. */
  snapshot(): Array<{ caller: string; service: string; operation: string } & RequestCount> {
    return [...this.counts.entries()].map(([k, v]) => {
      const [c, service, operation] = k.split('|') as [string, string, string];
      return { caller: c, service, operation, ...v };
    });
  }

  reset(): void {
    this.counts.clear();
  }

  private async around(
    client: { config?: { serviceId?: string } },
    command: unknown,
    send: () => unknown,
  ): Promise<unknown> {
    const service = client.config?.serviceId ?? 'unknown';
    const who = caller.getStore()?.caller;
    const cmd = command as { constructor: { name: string }; input?: Record<string, unknown> };
    const name = cmd.constructor.name.replace(/Command$/, '');
    const operation = service === 'DynamoDB' ? (DOCUMENT_COMMANDS[`${name}Command`] ?? name) : name;
    const input = cmd.input ?? {};
    const seen: SeenRequest = { service, operation, input, caller: who };
    for (const h of [...this.holds])
      if (who !== undefined && h.match(seen)) {
        h.hit(seen);
        await h.gate;
      }
    if (who === undefined || (service !== 'DynamoDB' && service !== 'SQS')) return send();
    const counted = service === 'DynamoDB' && DYNAMO_CAPACITY.has(operation);
    if (counted) input.ReturnConsumedCapacity = 'TOTAL';
    const c = this.count(who, service, operation);
    c.requests++;
    try {
      const out = (await send()) as {
        ConsumedCapacity?: { CapacityUnits?: number } | Array<{ CapacityUnits?: number }>;
        Messages?: unknown[];
      };
      if (counted) for (const cc of [out.ConsumedCapacity ?? []].flat()) c.units += cc.CapacityUnits ?? 0;
      if (service === 'SQS' && operation === 'ReceiveMessage' && !out.Messages?.length) c.empty++;
      return out;
    } catch (err) {
      c.failed++;
      if (counted && DYNAMO_WRITES.has(operation)) {
        const items = (input.TransactItems as unknown[] | undefined)?.length ?? 1;
        c.failedUnits += operation === 'TransactWriteItems' ? 2 * items : items;
      }
      throw err;
    }
  }

  private count(who: string, service: string, operation: string): RequestCount {
    const k: Key = `${who}|${service}|${operation}`;
    let c = this.counts.get(k);
    if (!c) {
      c = { requests: 0, units: 0, failed: 0, failedUnits: 0, empty: 0 };
      this.counts.set(k, c);
    }
    return c;
  }
}
