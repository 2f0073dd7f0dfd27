import { describe, expect, it } from 'vitest';
import { MinHeap } from './min-heap.js';

describe('MinHeap', () => {
  it('pops every pushed time in ascending order, duplicates included, against a sort', () => {
    // A seeded sequence (no Math.random): the same numbers every run.
    let seed = 7;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % 1000;
    };
    const heap = new MinHeap();
    const pushed: number[] = [];
    const popped: number[] = [];
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 20; i++) {
        const x = next();
        heap.push(x);
        pushed.push(x);
      }
      // Interleave pops with pushes: the heap must stay a heap between them.
      for (let i = 0; i < 10; i++) {
        const top = heap.peek();
        const x = heap.pop();
        expect(x).toBe(top);
        popped.push(x as number);
      }
    }
    while (heap.size > 0) popped.push(heap.pop() as number);
    expect(heap.pop()).toBeUndefined();
    expect(heap.peek()).toBeUndefined();
    expect([...popped].sort((a, b) => a - b)).toEqual([...pushed].sort((a, b) => a - b));
    // Between pushes, each pop was the least of what was in the heap.
    const inHeap: number[] = [];
    let p = 0;
    let q = 0;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 20; i++) inHeap.push(pushed[p++] as number);
      for (let i = 0; i < 10; i++) {
        const least = Math.min(...inHeap);
        expect(popped[q++]).toBe(least);
        inHeap.splice(inHeap.indexOf(least), 1);
      }
    }
  });
});
