/**
 * The DynamoDB and SQS side of the harness's billable usage: the request counter's snapshot summed
 * the way test/bench/aws-cost.ts prices it (SQS requests by operation and empty receives; DynamoDB
 * read and write units by caller and by request, failed conditional writes apart).
 */
import type { AwsRequestCounter } from '../sim/aws-requests.js';

const WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);

/** Sums a request counter's snapshot by service, operation and caller. */
export function tallyRequests(snapshot: ReturnType<AwsRequestCounter['snapshot']>) {
  const sqsByOperation: Record<string, number> = {};
  let sqsRequests = 0;
  let emptyReceives = 0;
  const byCaller: Record<string, { wru: number; rru: number }> = {};
  const byRequest: Record<string, { requests: number; units: number }> = {};
  let wru = 0;
  let rru = 0;
  let failedWriteUnits = 0;
  for (const r of snapshot) {
    if (r.service === 'SQS') {
      sqsRequests += r.requests;
      emptyReceives += r.empty;
      sqsByOperation[r.operation] = (sqsByOperation[r.operation] ?? 0) + r.requests;
    } else if (r.service === 'DynamoDB') {
      const c = byCaller[r.caller] ?? { wru: 0, rru: 0 };
      byCaller[r.caller] = c;
      byRequest[`${r.caller} ${r.operation}`] = { requests: r.requests, units: r.units + r.failedUnits };
      if (WRITES.has(r.operation)) {
        c.wru += r.units + r.failedUnits;
        wru += r.units;
        failedWriteUnits += r.failedUnits;
      } else {
        c.rru += r.units;
        rru += r.units;
      }
    }
  }
  return { sqsRequests, emptyReceives, sqsByOperation, byCaller, byRequest, wru, rru, failedWriteUnits };
}
