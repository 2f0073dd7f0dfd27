/**
 * How a runtime retries a delivery a service failed on (a bus event, a queue message, a change
 * record): the embedded engine (runtime/local/engine.ts) and the in-memory simulation
 * (services/testing/) apply the same rule, so a scenario dead-letters after the same number of
 * tries in both. On AWS the equivalents are the deployed retry policies (EventBridge targets, the
 * queue's maxReceiveCount, the stream mapping), set in infra/.
 */

/** Tries of one delivery before it goes to the dead letters (default for both runtimes: 8). */
export const MAX_DELIVERY_ATTEMPTS = 8;

/** Longest pause before a failed delivery is tried again. */
const MAX_REDELIVERY_DELAY_MS = 30_000;

/**
 * The pause before the next try of a delivery that failed `attempts` times already (0 for the
 * first failure): 100 ms doubling per try, at most 30 s.
 */
export function redeliveryDelayMs(attempts: number): number {
  return Math.min(MAX_REDELIVERY_DELAY_MS, 100 * 2 ** attempts);
}
