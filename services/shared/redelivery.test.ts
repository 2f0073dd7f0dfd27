import { describe, expect, it } from 'vitest';
import { MAX_DELIVERY_ATTEMPTS, redeliveryDelayMs } from './redelivery.js';
import { seededRandom } from './seeded-random.js';

describe('redelivery', () => {
  it('doubles from 100 ms and stops at 30 s', () => {
    expect([0, 1, 2, 3, 8, 9, 20].map(redeliveryDelayMs)).toEqual([
      100, 200, 400, 800, 25_600, 30_000, 30_000,
    ]);
  });

  it('gives up after 8 tries', () => {
    expect(MAX_DELIVERY_ATTEMPTS).toBe(8);
  });
});

describe('seededRandom', () => {
  it('replays the same sequence for the same seed (mulberry32), in [0, 1)', () => {
    const a = seededRandom(1);
    const b = seededRandom(1);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(Array.from({ length: 1000 }, () => b())).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    // mulberry32's published first output for seed 1: the engine's recorded chaos seeds rely on it.
    expect(seededRandom(1)()).toBeCloseTo(0.6270739405881613, 15);
    expect(seededRandom(2)()).not.toBe(xs[0]);
  });
});
