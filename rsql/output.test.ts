/**
 * BufferedWriter / FileWriter (output.ts): the buffer holds UTF-8 bytes, text and bytes keep the order in
 * which they were written, a target that takes bytes gets them as they are and one that takes only text
 * gets them decoded.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BufferedWriter, FileWriter, FLUSH_AFTER_MS, type Writer } from './output.js';

/** A target that records each write: text or bytes (copied: the chunk is only valid during the call). */
function recorder(bytes: boolean): Writer & { got: (string | Buffer)[] } {
  const got: (string | Buffer)[] = [];
  const w: Writer & { got: (string | Buffer)[] } = { got, write: (s: string) => got.push(s) };
  if (bytes) w.writeBytes = (b: Uint8Array) => got.push(Buffer.from(b));
  return w;
}

const joined = (got: (string | Buffer)[]) =>
  Buffer.concat(got.map((g) => (typeof g === 'string' ? Buffer.from(g, 'utf8') : g))).toString('utf8');

describe('BufferedWriter', () => {
  it('keeps text and bytes in the order written, and holds them until flushed', () => {
    const t = recorder(true);
    const w = new BufferedWriter(t);
    w.write('head ü€😀\n');
    w.writeBytes(Buffer.from(' 1 | a\n 2 | b\n'));
    w.write('(2 rows)\n');
    expect(t.got).toEqual([]);
    w.flush();
    expect(t.got).toHaveLength(1);
    expect(t.got[0]).toBeInstanceOf(Buffer);
    expect(joined(t.got)).toBe('head ü€😀\n 1 | a\n 2 | b\n(2 rows)\n');
    w.flush();
    expect(t.got).toHaveLength(1); // nothing more to write
  });

  it('gives a text-only target the same text, decoded', () => {
    const t = recorder(false);
    const w = new BufferedWriter(t);
    w.write('ä');
    w.writeBytes(Buffer.from('ß|\n'));
    w.write('Ω\n');
    w.flush();
    expect(t.got).toEqual(['äß|\nΩ\n']);
  });

  it('flushes at the limit and passes what is bigger than its buffer straight through, in order', () => {
    const t = recorder(true);
    const w = new BufferedWriter(t, 256);
    w.write('a'.repeat(200));
    w.write('b'.repeat(100)); // does not fit: the first 200 go out first
    expect(joined(t.got)).toBe('a'.repeat(200));
    w.writeBytes(Buffer.from('c'.repeat(1000))); // bigger than the buffer
    expect(joined(t.got)).toBe(`${'a'.repeat(200)}${'b'.repeat(100)}${'c'.repeat(1000)}`);
    w.write('€'.repeat(300)); // 900 bytes of text: straight through as text
    expect(t.got.at(-1)).toBe('€'.repeat(300));
    w.write('d'.repeat(300)); // bigger than the buffer as well
    expect(joined(t.got)).toBe(
      `${'a'.repeat(200)}${'b'.repeat(100)}${'c'.repeat(1000)}${'€'.repeat(300)}${'d'.repeat(300)}`,
    );
  });

  it('bytes written are copied in: the caller may reuse its buffer at once', () => {
    const t = recorder(true);
    const w = new BufferedWriter(t);
    const scratch = Buffer.from('first\n');
    w.writeBytes(scratch);
    scratch.write('XXXXX\n');
    w.flush();
    expect(joined(t.got)).toBe('first\n');
  });

  it('writes buffered output on its own after a short idle time', async () => {
    const t = recorder(true);
    const w = new BufferedWriter(t);
    w.writeBytes(Buffer.from('late\n'));
    const deadline = Date.now() + 5000;
    while (t.got.length === 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, FLUSH_AFTER_MS));
    expect(joined(t.got)).toBe('late\n');
  });
});

describe('FileWriter', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rsql-output-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes text and bytes in order, appending when asked', () => {
    const f = join(dir, 'out.txt');
    const w = new FileWriter(f);
    w.write('ä1\n');
    w.writeBytes(Buffer.from('2\n'));
    w.write('3\n');
    w.close();
    const a = new FileWriter(f, true);
    a.writeBytes(Buffer.from('4\n'));
    a.close();
    a.close(); // twice is harmless
    expect(readFileSync(f, 'utf8')).toBe('ä1\n2\n3\n4\n');
  });

  it('writes a chunk bigger than its buffer whole', () => {
    const f = join(dir, 'big.txt');
    const w = new FileWriter(f);
    const big = Buffer.alloc(300 * 1024, 0x78);
    w.write('<');
    w.writeBytes(big);
    w.write('>');
    w.close();
    expect(readFileSync(f, 'latin1')).toBe(`<${'x'.repeat(300 * 1024)}>`);
  });
});
