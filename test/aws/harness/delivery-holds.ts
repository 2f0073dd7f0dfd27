/**
 * Holding SSM deliveries in the AWS-path harness: a command was sent and SSM keeps it, as it may
 * for up to its delivery timeout, until the test releases it.
 */
import { createGate, holdIn } from './gate.js';

interface DeliveryHold {
  match: (job: Record<string, unknown>) => boolean;
  gate: Promise<void>;
  hit: () => void;
}

/** The holds set on SSM deliveries, matched on a command's decoded `job` parameter. */
export class DeliveryHolds {
  private readonly holds: DeliveryHold[] = [];

  /**
   * Holds the delivery of every command whose decoded `job` parameter (a JobCommand or a JobCancel)
   * matches, until released; `reached` resolves when one is held.
   */
  hold(match: (job: Record<string, unknown>) => boolean): { reached: Promise<void>; release(): void } {
    const g = createGate<void>();
    const entry = { match, gate: g.gate, hit: () => g.hit() };
    return { reached: g.reached, release: holdIn(this.holds, entry, g.open) };
  }

  /**
   * What the SSM simulator waits for before delivering a command with this (base64 JSON) `job`
   * parameter: the first matching hold's gate, or undefined to deliver now.
   */
  gateFor(encoded: string | undefined): Promise<void> | undefined {
    if (!encoded || this.holds.length === 0) return undefined;
    let job: Record<string, unknown>;
    try {
      job = JSON.parse(Buffer.from(encoded, 'base64').toString('utf8')) as Record<string, unknown>;
    } catch {
      return undefined;
    }
    const h = this.holds.find((x) => x.match(job));
    if (!h) return undefined;
    h.hit();
    return h.gate;
  }

  /** Drops every hold, resolving the `reached` of those never reached (the harness is going away). */
  clear(): void {
    for (const h of this.holds.splice(0)) h.hit();
  }
}
