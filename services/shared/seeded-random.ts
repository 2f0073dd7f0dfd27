/**
 * A small seeded PRNG (mulberry32): the same seed gives the same shuffles and delays.
 *
 * Why one copy: the embedded engine's chaos switch (runtime/local/engine.ts) and the in-memory
 * simulation (services/testing/) both reorder and delay deliveries from a seed; a test that
 * replays a seed must get the same sequence wherever it runs. Returns numbers in [0, 1).
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
