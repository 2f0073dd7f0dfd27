import { createHash, randomBytes } from 'node:crypto';
import { MAX_EXECUTION_ID_LENGTH } from '../../contracts/common.js';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const ULID_LENGTH = 26;

/** Encodes a ULID (48-bit ms time + 80 bits) from a time and 10 bytes of entropy. */
export function encodeUlid(time: number, entropy: Uint8Array): string {
  let out = '';
  let t = Math.floor(time);
  for (let i = 0; i < 10; i++) {
    out = CROCKFORD[t % 32] + out;
    t = Math.floor(t / 32);
  }
  let bits = 0;
  let value = 0;
  let rnd = '';
  for (let i = 0; i < 10; i++) {
    value = (value << 8) | (entropy[i] ?? 0);
    bits += 8;
    while (bits >= 5) {
      rnd += CROCKFORD[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  return out + rnd;
}

/**
 * `<workflow_id>-<ULID>`, the workflow id cut so the whole stays within 48 characters. ULIDs sort by
 * time, so `history` lists runs in start order.
 */
export function newExecutionId(workflowId: string, now: Date, entropy: Uint8Array = randomBytes(10)): string {
  const prefix = workflowId.slice(0, MAX_EXECUTION_ID_LENGTH - ULID_LENGTH - 1);
  return `${prefix}-${encodeUlid(now.getTime(), entropy)}`;
}

/**
 * A deterministic execution id for a request that did not carry one: the same request (same
 * event id, or the same scheduled time) always maps to the same run, so a redelivered request
 * never starts a second one.
 */
export function deriveExecutionId(workflowId: string, seed: string, time: Date): string {
  const digest = createHash('sha256').update(`${workflowId}\u0000${seed}`).digest();
  return newExecutionId(workflowId, time, digest.subarray(0, 10));
}
