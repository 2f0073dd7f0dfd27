import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodePng, imageStats } from './png.js';

function crcTable(): number[] {
  return Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
}
const TABLE = crcTable();
function crc(b: Buffer): number {
  let c = 0xffffffff;
  for (const x of b) c = (TABLE[(c ^ x) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const c = Buffer.alloc(4);
  c.writeUInt32BE(crc(td));
  return Buffer.concat([len, td, c]);
}
/** A 3×2 RGB PNG: row 0 red, red, blue with the Sub filter; row 1 red, red, white with the Up filter. */
function sample(): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(3, 0);
  ihdr.writeUInt32BE(2, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  // Sub: each byte minus the byte one pixel to the left. Up: minus the byte above.
  const row0 = [1, 255, 0, 0, 0, 0, 0, (0 - 255) & 0xff, 0, 255];
  const row1 = [2, 0, 0, 0, 0, 0, 0, 255, 255, 0];
  const raw = Buffer.from([...row0, ...row1]);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

describe('PNG decoding for screenshot checks', () => {
  it('undoes the row filters and counts colours', () => {
    const img = decodePng(sample());
    expect([img.width, img.height]).toEqual([3, 2]);
    const px = (i: number) => Array.from(img.rgba.subarray(i * 4, i * 4 + 4));
    expect(px(0)).toEqual([255, 0, 0, 255]);
    expect(px(1)).toEqual([255, 0, 0, 255]);
    expect(px(2)).toEqual([0, 0, 255, 255]);
    expect(px(3)).toEqual([255, 0, 0, 255]);
    expect(px(5)).toEqual([255, 255, 255, 255]);
    expect(imageStats(img)).toEqual({ distinctColours: 3, nonBackground: 2, fraction: 2 / 6 });
  });

  it('refuses what it cannot read', () => {
    expect(() => decodePng(Buffer.from('GIF89a'))).toThrow(/signature/);
  });
});
