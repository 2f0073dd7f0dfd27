/**
 * Packing items, in order, into the batches of an AWS batch API: at most `maxEntries` per request
 * and at most `maxBytes` of counted size per request (each API counts size its own way). An item
 * that could never fit a request alone is refused with the caller's error instead of being sent to
 * fail. Used by the EventBridge publisher (PutEvents) and the SQS job queue (SendMessageBatch).
 */
export interface PackLimits<T> {
  maxEntries: number;
  /** Largest total size a request may have (inclusive). */
  maxBytes: number;
  sizeOf(item: T): number;
  /** The error for an item larger than `maxBytes` on its own. */
  tooLarge(item: T, size: number): Error;
}

export function packBySize<T>(items: readonly T[], limits: PackLimits<T>): T[][] {
  const out: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = limits.sizeOf(item);
    if (size > limits.maxBytes) throw limits.tooLarge(item, size);
    if (current.length === limits.maxEntries || bytes + size > limits.maxBytes) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) out.push(current);
  return out;
}
