/**
 * Where the AWS repositories send a state change's effects once its conditional write succeeded
 * (services/ports.ts: "the conditional write then the publish"): events to the bus, messages to the
 * job queue. A crash in between is repaired by redelivery: services re-derive events from state and
 * hand them to `ensurePublished`, and the job audit stream re-sends queue messages (aggregator).
 */
import type { Effects, EventPublisher, MessageQueue } from '../../services/ports.js';

/** Applies the effects of a committed change. */
export interface EffectsSink {
  apply(effects: Effects | undefined): Promise<void>;
}

/** A function was composed without a target its effects need (a wiring bug, never an input problem). */
export class MissingEffectTargetError extends Error {
  override name = 'MissingEffectTargetError';
}

/**
 * Events go to `events`, messages to `queue`, in parallel. Either may be left out by a function that
 * never produces that kind of effect (the recorder has neither); producing it anyway is then a
 * MissingEffectTargetError rather than a silent loss.
 */
export function createEffectsSink(deps: { events?: EventPublisher; queue?: MessageQueue }): EffectsSink {
  return {
    async apply(effects) {
      const events = effects?.events ?? [];
      const messages = effects?.messages ?? [];
      const work: Promise<void>[] = [];
      if (events.length > 0) {
        if (!deps.events)
          throw new MissingEffectTargetError('events were produced but no event bus is configured');
        work.push(deps.events.publish(events));
      }
      if (messages.length > 0) {
        if (!deps.queue)
          throw new MissingEffectTargetError('queue messages were produced but no job queue is configured');
        work.push(deps.queue.ensureSent(messages));
      }
      await Promise.all(work);
    },
  };
}
