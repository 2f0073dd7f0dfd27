/**
 * Holding AWS calls in the AWS-path harness: a test stops a matching call before the simulator
 * sees it, or stops its answer on the way back, until it releases the hold. The way tests force
 * "the reply to an old request arrives after X" without sleeping.
 */
import { createGate, holdIn } from './gate.js';

/** One AWS call as a hold's predicate sees it (`command` without `Command`). */
export interface AwsCallSeen {
  service: string;
  command: string;
  input: Record<string, unknown>;
}

interface CallHold {
  match: (c: AwsCallSeen) => boolean;
  when: 'request' | 'response';
  gate: Promise<void>;
  hit: (c: AwsCallSeen) => void;
  open: () => void;
}

/** The holds set on the harness's AWS calls (see {@link CallHolds.hold}). */
export class CallHolds {
  private readonly holds: CallHold[] = [];

  /**
   * Holds matching calls until released: `request` (default) holds the call before the simulator
   * sees it (it is answered as things stand at release), `response` lets the simulator answer now
   * and holds the answer (the caller learns it late). `reached` resolves when a call is held.
   */
  hold(
    match: (c: AwsCallSeen) => boolean,
    when: 'request' | 'response' = 'request',
  ): { reached: Promise<AwsCallSeen>; release(): void } {
    const g = createGate<AwsCallSeen>();
    const entry = { match, when, gate: g.gate, hit: g.hit, open: g.open };
    return { reached: g.reached, release: holdIn(this.holds, entry, g.open) };
  }

  /** Answers `seen` with `answer`, waiting at every hold that matches it (request, then response). */
  async through(seen: AwsCallSeen, answer: () => Promise<unknown>): Promise<unknown> {
    const holds = this.holds.filter((h) => h.match(seen));
    for (const h of holds)
      if (h.when === 'request') {
        h.hit(seen);
        await h.gate;
      }
    const after = holds.filter((h) => h.when === 'response');
    if (after.length === 0) return answer();
    const result = await answer().then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    for (const h of after) {
      h.hit(seen);
      await h.gate;
    }
    if (result.ok) return result.value;
    throw result.error;
  }

  /** Opens every hold (the harness is going away: nothing may stay blocked). */
  openAll(): void {
    for (const h of this.holds.splice(0)) h.open();
  }
}
