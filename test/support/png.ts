import { inflateSync } from 'node:zlib';

/** A decoded PNG: 8-bit RGBA pixels, row by row. */
export interface Image {
  width: number;
  height: number;
  /** width × height × 4 bytes */
  rgba: Uint8Array;
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * Decodes the PNGs a browser's screenshot produces: 8-bit greyscale, RGB or RGBA (with or without
 * alpha), not interlaced (PNG spec, ISO/IEC 15948, sections 6–9: chunks, zlib stream, per-row
 * filters None/Sub/Up/Average/Paeth). Anything else is refused by name.
 */
export function decodePng(buf: Buffer): Image {
  if (!buf.subarray(0, 8).equals(SIGNATURE)) throw new Error('not a PNG (bad signature)');
  let pos = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  while (pos < buf.length) {
    const len = buf.readUInt32BE(pos);
    const type = buf.toString('latin1', pos + 4, pos + 8);
    const data = buf.subarray(pos + 8, pos + 8 + len);
    pos += 12 + len;
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const depth = data[8];
      const color = data[9];
      const interlace = data[12];
      if (depth !== 8) throw new Error(`unsupported PNG bit depth ${depth}`);
      if (interlace !== 0) throw new Error('unsupported interlaced PNG');
      const byColor: Record<number, number> = { 0: 1, 2: 3, 4: 2, 6: 4 };
      channels = byColor[color as number] ?? 0;
      if (!channels) throw new Error(`unsupported PNG colour type ${color}`);
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
  }
  if (!width || !height) throw new Error('PNG without IHDR');
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  if (raw.length < height * (stride + 1)) throw new Error('PNG data too short');
  const px = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const src = y * (stride + 1) + 1;
    const out = y * stride;
    for (let x = 0; x < stride; x++) {
      const v = raw[src + x] as number;
      const a = x >= channels ? (px[out + x - channels] as number) : 0;
      const b = y > 0 ? (px[out - stride + x] as number) : 0;
      const c = x >= channels && y > 0 ? (px[out - stride + x - channels] as number) : 0;
      let pred = 0;
      if (filter === 1) pred = a;
      else if (filter === 2) pred = b;
      else if (filter === 3) pred = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else if (filter !== 0) throw new Error(`bad PNG filter ${filter} on row ${y}`);
      px[out + x] = (v + pred) & 0xff;
    }
  }
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    const s = i * channels;
    if (channels >= 3) {
      rgba[i * 4] = px[s] as number;
      rgba[i * 4 + 1] = px[s + 1] as number;
      rgba[i * 4 + 2] = px[s + 2] as number;
    } else {
      rgba[i * 4] = rgba[i * 4 + 1] = rgba[i * 4 + 2] = px[s] as number;
    }
    rgba[i * 4 + 3] = channels === 4 ? (px[s + 3] as number) : channels === 2 ? (px[s + 1] as number) : 255;
  }
  return { width, height, rgba };
}

/** How much of an image is more than its background: distinct colours, and pixels unlike the most common one. */
export function imageStats(img: Image): { distinctColours: number; nonBackground: number; fraction: number } {
  const counts = new Map<number, number>();
  const n = img.width * img.height;
  for (let i = 0; i < n; i++) {
    const k =
      ((img.rgba[i * 4] as number) << 16) |
      ((img.rgba[i * 4 + 1] as number) << 8) |
      (img.rgba[i * 4 + 2] as number);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const background = Math.max(...counts.values());
  return { distinctColours: counts.size, nonBackground: n - background, fraction: (n - background) / n };
}
