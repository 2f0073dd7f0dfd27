import { describe, expect, it } from 'vitest';
import { packBySize } from './batches.js';

const limits = {
  maxEntries: 3,
  maxBytes: 10,
  sizeOf: (s: string) => s.length,
  tooLarge: (s: string, size: number) => new Error(`${s} is ${size}`),
};

describe('packBySize', () => {
  it('keeps order and starts a new batch at the entry limit or when the next item would pass the byte limit', () => {
    expect(packBySize(['a', 'b', 'c', 'd'], limits)).toEqual([['a', 'b', 'c'], ['d']]);
    // 4 + 6 = 10 fits exactly (inclusive); one more byte does not.
    expect(packBySize(['aaaa', 'bbbbbb', 'c'], limits)).toEqual([['aaaa', 'bbbbbb'], ['c']]);
    expect(packBySize([], limits)).toEqual([]);
  });

  it('refuses an item larger than a whole request with the caller’s error, sending nothing', () => {
    expect(() => packBySize(['ok', 'x'.repeat(11)], limits)).toThrow(`${'x'.repeat(11)} is 11`);
    expect(packBySize(['x'.repeat(10)], limits)).toEqual([['x'.repeat(10)]]);
  });
});
