import { describe, expect, it } from 'vitest';
import { lineColumn, scanJsonText } from './json-text.js';

describe('scanJsonText', () => {
  it('accepts what JSON.parse accepts and reports the nesting depth', () => {
    for (const text of ['0', '"a"', '[]', '{}', ' {"a": [1, {"b": null}], "c": true} ', '[[[]]]']) {
      expect(() => JSON.parse(text)).not.toThrow();
      expect(scanJsonText(text).error).toBeUndefined();
    }
    expect(scanJsonText('{"a": [1, {"b": [null]}]}').depth).toBe(4);
    expect(scanJsonText('[[[]]]').depth).toBe(3);
  });

  it('names every key written twice with its path, wherever it is', () => {
    const text = '{"s": [{"x": 1}, {"a": 1, "b": 2, "a": 3}], "p": {"K": "1", "K": "2", "K": "3"}, "s": 0}';
    const found = scanJsonText(text).duplicates.map((d) => ({
      path: d.path,
      at: text.slice(d.offset, d.offset + 3),
    }));
    expect(found).toEqual([
      { path: ['s', 1, 'a'], at: '"a"' },
      { path: ['p', 'K'], at: '"K"' },
      { path: ['p', 'K'], at: '"K"' },
      { path: ['s'], at: '"s"' },
    ]);
  });

  it('compares keys as JSON reads them (escapes decoded)', () => {
    expect(scanJsonText('{"ab": 1, "\\u0061b": 2}').duplicates).toHaveLength(1);
    expect(scanJsonText('{"ab": 1, "aB": 2}').duplicates).toHaveLength(0);
  });

  it('scans 200,000 levels of nesting without overflowing the stack', () => {
    const n = 200_000;
    const open = '['.repeat(n);
    expect(scanJsonText(open + ']'.repeat(n))).toEqual({ duplicates: [], depth: n });
    expect(scanJsonText(open).error).toEqual({ offset: n, expected: 'a value' });
    const objects = '{"a":'.repeat(n);
    expect(scanJsonText(objects).error).toEqual({ offset: n * 5, expected: 'a value' });
  });
});

describe('lineColumn', () => {
  it('counts from 1', () => {
    expect(lineColumn('abc', 0)).toEqual({ line: 1, column: 1 });
    expect(lineColumn('ab\ncd\nef', 4)).toEqual({ line: 2, column: 2 });
    expect(lineColumn('ab\n', 3)).toEqual({ line: 2, column: 1 });
  });
});
