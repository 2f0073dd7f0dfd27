/**
 * Query result formatting like psql's printTable (rsql-spec.md §7): aligned (border 0/1/2, psql's `+`
 * continuation markers for multi-line values, numeric columns right-aligned, centred headers, title,
 * `(N rows)` footer and blank line), unaligned (`|` separated), tuples-only and expanded (`\x`) variants.
 * Byte-compatible with psql 15 for the cases covered by format.test.ts.
 */

/** Output settings (`\pset`), with psql's defaults. */
export interface PrintSettings {
  format: 'aligned' | 'unaligned';
  border: 0 | 1 | 2;
  tuplesOnly: boolean;
  expanded: boolean;
  footer: boolean;
  title: string | undefined;
  nullDisplay: string;
  fieldSep: string;
  recordSep: string;
  /** RSQL `\rset titledashes`: the dashes line under the column titles (aligned). Default true. */
  titleDashes: boolean;
}

/** psql's defaults. */
export const DEFAULT_PRINT_SETTINGS: Readonly<PrintSettings> = {
  format: 'aligned',
  border: 1,
  tuplesOnly: false,
  expanded: false,
  footer: true,
  title: undefined,
  nullDisplay: '',
  fieldSep: '|',
  recordSep: '\n',
  titleDashes: true,
};

/** A result column: name and type OID (numeric types are right-aligned), and the type modifier. */
export interface Column {
  name: string;
  typeId: number;
  /** atttypmod (varchar length + 4, numeric precision/scale); -1 or absent when none. */
  typeMod?: number;
}

/** Type OIDs psql right-aligns: int2/4/8, oid, xid, cid, float4/8, money, numeric, xid8. */
const NUMERIC_TYPES = new Set([20, 21, 23, 26, 28, 29, 700, 701, 790, 1700, 5069]);

/** True when psql right-aligns values of this type. */
export function isNumericType(typeId: number): boolean {
  return NUMERIC_TYPES.has(typeId);
}

// eslint-disable-next-line no-control-regex
const ASCII = /^[\x00-\x7f]*$/;

/** East Asian wide / fullwidth ranges (display width 2). */
const WIDE: readonly (readonly [number, number])[] = [
  [0x1100, 0x115f],
  [0x2e80, 0x303e],
  [0x3041, 0x33ff],
  [0x3400, 0x4dbf],
  [0x4e00, 0x9fff],
  [0xa000, 0xa4cf],
  [0xac00, 0xd7a3],
  [0xf900, 0xfaff],
  [0xfe30, 0xfe4f],
  [0xff00, 0xff60],
  [0xffe0, 0xffe6],
  [0x1f300, 0x1f64f],
  [0x1f900, 0x1f9ff],
  [0x20000, 0x2fffd],
  [0x30000, 0x3fffd],
];

function charWidth(cp: number): number {
  if (cp === 0) return 0;
  if (cp < 32 || (cp >= 0x7f && cp < 0xa0)) return 0;
  // combining marks
  if ((cp >= 0x300 && cp <= 0x36f) || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0xfe00 && cp <= 0xfe0f))
    return 0;
  for (const [lo, hi] of WIDE) {
    if (cp < lo) return 1;
    if (cp <= hi) return 2;
  }
  return 1;
}

/** Display width of a single-line string in a terminal (wide CJK characters count 2). */
export function displayWidth(s: string): number {
  if (ASCII.test(s)) return s.length;
  let w = 0;
  for (const ch of s) w += charWidth(ch.codePointAt(0) as number);
  return w;
}

const SPACES: string[] = [];
for (let i = 0; i <= 256; i++) SPACES.push(' '.repeat(i));

function spaces(n: number): string {
  if (n <= 0) return '';
  return n <= 256 ? (SPACES[n] as string) : ' '.repeat(n);
}

/** Types whose text output is always single-line ASCII (width = length). */
const ASCII_TYPES = new Set([16, 20, 21, 23, 26, 28, 29, 700, 701, 1082, 1083, 1114, 1184, 1700, 5069]);

/** `(1 row)` / `(N rows)`. */
export function rowCountFooter(n: number): string {
  return n === 1 ? '(1 row)' : `(${n} rows)`;
}

interface Cell {
  lines: string[];
  widths: number[];
}

/** Printable ASCII only: shown as is, one line, width = length. */
const PRINTABLE = /^[\x20-\x7e]*$/;
const CONTROL = /[\x00-\x1f\x7f-\x9f]/;

/**
 * One line of a cell as psql's aligned output shows it (pg_wcsformat in psql's mbprint.c): a tab becomes
 * spaces up to the next multiple of 8 columns (counted from the start of the cell line), `\r` becomes the
 * two characters `\r`, other ASCII control characters `\xNN`, C1 controls (U+0080–U+009F) `\uNNNN`.
 */
function displayLine(line: string): { text: string; width: number } {
  if (!CONTROL.test(line)) return { text: line, width: displayWidth(line) };
  let text = '';
  let width = 0;
  for (const ch of line) {
    const cp = ch.codePointAt(0) as number;
    if (cp === 9) {
      do {
        text += ' ';
        width++;
      } while (width % 8 !== 0);
    } else if (cp === 13) {
      text += '\\r';
      width += 2;
    } else if (cp < 32 || cp === 0x7f) {
      text += `\\x${cp.toString(16).toUpperCase().padStart(2, '0')}`;
      width += 4;
    } else if (cp >= 0x80 && cp < 0xa0) {
      text += `\\u${cp.toString(16).toUpperCase().padStart(4, '0')}`;
      width += 6;
    } else {
      text += ch;
      width += charWidth(cp);
    }
  }
  return { text, width };
}

function cellOf(value: string): Cell {
  if (PRINTABLE.test(value)) return { lines: [value], widths: [value.length] };
  const lines: string[] = [];
  const widths: number[] = [];
  for (const raw of value.split('\n')) {
    const d = displayLine(raw);
    lines.push(d.text);
    widths.push(d.width);
  }
  return { lines, widths };
}

/**
 * Formats one result set. `rows` hold text values (null = SQL NULL). Returns the text to print, ending
 * with a newline (psql's exact layout, including the blank line after aligned tables).
 */
export function formatResult(
  columns: readonly Column[],
  rows: readonly (string | null)[][],
  s: PrintSettings,
): string {
  if (s.expanded)
    return s.format === 'aligned' ? expandedAligned(columns, rows, s) : expandedUnaligned(columns, rows, s);
  if (s.format === 'unaligned') return unaligned(columns, rows, s);
  return aligned(columns, rows, s);
}

function unaligned(columns: readonly Column[], rows: readonly (string | null)[][], s: PrintSettings): string {
  const parts: string[] = [];
  const rs = s.recordSep;
  if (!s.tuplesOnly) {
    if (s.title !== undefined) parts.push(s.title, rs);
    parts.push(columns.map((c) => c.name).join(s.fieldSep), rs);
  }
  const nul = s.nullDisplay;
  for (const row of columns.length === 0 ? [] : rows) {
    let line = '';
    for (let j = 0; j < row.length; j++) {
      if (j > 0) line += s.fieldSep;
      const v = row[j];
      line += v ?? nul;
    }
    parts.push(line, rs);
  }
  if (!s.tuplesOnly && s.footer) parts.push(rowCountFooter(rows.length), '\n');
  return parts.join('');
}

/** The title line, centred over the table's total width (psql's print_aligned_text). */
function pushTitle(out: string[], widths: readonly number[], s: PrintSettings): void {
  if (s.title === undefined || s.tuplesOnly) return;
  const ncol = widths.length;
  const border = s.border;
  const sum = widths.reduce((a, b) => a + b, 0);
  // psql's width_total (print_aligned_text): border 0 counts one column per field, not ncol - 1
  const totalWidth =
    ncol === 0 ? 0 : sum + (border === 0 ? ncol : border === 1 ? 3 * ncol - 1 : 3 * ncol + 1);
  const tw = displayWidth(s.title);
  out.push(tw >= totalWidth ? s.title : spaces(Math.floor((totalWidth - tw) / 2)) + s.title, '\n');
}

/** Everything an aligned table prints above its rows (title, frame, column titles, dashes); ncol > 0. */
function pushHead(
  out: string[],
  headers: readonly Cell[],
  widths: readonly number[],
  s: PrintSettings,
): void {
  const ncol = widths.length;
  const border = s.border;
  const lastCol = ncol - 1;
  const lead = border === 2 ? '| ' : border === 1 ? ' ' : '';
  const sep = border === 0 ? '' : '| '; // after the marker character
  const tail = border === 2 ? '|' : '';
  const frame = border === 2 ? `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+` : '';
  pushTitle(out, widths, s);
  if (border === 2 && !s.tuplesOnly) out.push(frame, '\n');
  if (s.tuplesOnly) return;
  const hlines = Math.max(...headers.map((h) => h.lines.length));
  for (let l = 0; l < hlines; l++) {
    let line = lead;
    for (let j = 0; j < ncol; j++) {
      const h = headers[j] as Cell;
      const text = h.lines[l] ?? '';
      const tw = h.widths[l] ?? 0;
      const w = widths[j] as number;
      const left = Math.floor((w - tw) / 2);
      line += spaces(left) + text + spaces(w - tw - left);
      line += l < h.lines.length - 1 ? '+' : ' ';
      if (j < lastCol) line += sep;
    }
    out.push(line + tail, '\n');
  }
  if (s.titleDashes) {
    if (border === 2) out.push(frame, '\n');
    else if (border === 1) out.push(widths.map((w) => '-'.repeat(w + 2)).join('+'), '\n');
    else out.push(widths.map((w) => '-'.repeat(w)).join(' '), '\n');
  }
}

function aligned(columns: readonly Column[], rows: readonly (string | null)[][], s: PrintSettings): string {
  const ncol = columns.length;
  const border = s.border;
  const nul = s.nullDisplay;
  const nulW = Math.max(...cellOf(nul).widths);
  const widths = new Array<number>(ncol).fill(0);
  const right = columns.map((c) => isNumericType(c.typeId));
  const headers = columns.map((c) => cellOf(c.name));
  // psql sizes columns by their headers even when the headers are not printed (-t)
  for (let j = 0; j < ncol; j++) widths[j] = Math.max(...(headers[j] as Cell).widths);
  // fast path: single-line printable ASCII values
  let simple = PRINTABLE.test(nul);
  for (let j = 0; j < ncol; j++) {
    const asciiType = ASCII_TYPES.has((columns[j] as Column).typeId);
    let max = widths[j] as number;
    for (const row of rows) {
      const v = row[j];
      let w: number;
      if (v === null || v === undefined) w = nulW;
      else if (asciiType || PRINTABLE.test(v)) w = v.length;
      else {
        simple = false;
        const c = cellOf(v);
        w = Math.max(...c.widths);
      }
      if (w > max) max = w;
    }
    widths[j] = max;
  }
  const out: string[] = [];
  const lastCol = ncol - 1;
  const lead = border === 2 ? '| ' : border === 1 ? ' ' : '';
  const sep = border === 0 ? '' : '| '; // after the marker character
  const tail = border === 2 ? '|' : '';
  const frame = border === 2 ? `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+` : '';
  if (ncol === 0) {
    // psql prints a bare dashes line and the footer for a zero-column result
    pushTitle(out, widths, s);
    if (border === 2 && !s.tuplesOnly) out.push(frame, '\n');
    if (!s.tuplesOnly) out.push('--\n');
    if (!s.tuplesOnly && s.footer) out.push(rowCountFooter(rows.length), '\n');
    out.push('\n');
    return out.join('');
  }
  pushHead(out, headers, widths, s);
  if (simple && border === 1) {
    // hot path: one flat string per row, joined once
    const lines = new Array<string>(rows.length);
    for (let r = 0; r < rows.length; r++) {
      const row = rows[r] as (string | null)[];
      let line = ' ';
      for (let j = 0; j < ncol; j++) {
        const v = row[j] ?? nul;
        const w = widths[j] as number;
        if (right[j]) line += spaces(w - v.length) + v;
        else if (j < lastCol) line += `${v}${spaces(w - v.length)} | `;
        else line += v;
        if (right[j] && j < lastCol) line += ' | ';
      }
      lines[r] = line;
    }
    if (lines.length > 0) out.push(lines.join('\n'), '\n');
  } else {
    for (const row of rows) {
      const cells = new Array<Cell>(ncol);
      let nlines = 1;
      for (let j = 0; j < ncol; j++) {
        const v = row[j];
        const c = cellOf(v ?? nul);
        cells[j] = c;
        if (c.lines.length > nlines) nlines = c.lines.length;
      }
      for (let l = 0; l < nlines; l++) {
        let line = lead;
        for (let j = 0; j < ncol; j++) {
          const c = cells[j] as Cell;
          const w = widths[j] as number;
          const has = l < c.lines.length;
          const text = has ? (c.lines[l] as string) : '';
          const tw = has ? (c.widths[l] as number) : 0;
          const more = l < c.lines.length - 1;
          if (!has && j === lastCol && border !== 2) {
            // nothing after the last column once its lines are exhausted
          } else if (right[j]) line += spaces(w - tw) + text;
          else if (j < lastCol || more || border === 2) line += text + spaces(w - tw);
          else line += text;
          if (j < lastCol) line += (more ? '+' : ' ') + sep;
          else if (more) line += '+';
          else if (border === 2) line += ' ';
        }
        out.push(line + tail, '\n');
      }
    }
  }
  if (border === 2) out.push(frame, '\n');
  if (!s.tuplesOnly && s.footer) out.push(rowCountFooter(rows.length), '\n');
  out.push('\n');
  return out.join('');
}

/** The rows of one result set as the server sent them: whole DataRow messages (rsql/raw-rows.ts `RawRows`). */
export interface RawRowData {
  readonly count: number;
  bytes(): Buffer;
}

/** Output buffer of {@link formatAlignedRawBytes}, reused statement after statement. */
let tableOut: Buffer = Buffer.allocUnsafe(16 * 1024);
/** Per-column scratch of the byte formatter (widths, right-aligned, always-ASCII flags), grown as needed. */
let colWidths = new Int32Array(64);
let colRight = new Uint8Array(64);
/** Per column: 1 when its type's text is always printable ASCII (ASCII_TYPES), so pass 1 need not check it. */
let colAscii = new Uint8Array(64);
/** The last head made (UTF-8), reused while the column names, widths and settings are the same. */
let lastHead:
  | {
      names: string[];
      widths: Int32Array;
      title: string | undefined;
      tuplesOnly: boolean;
      titleDashes: boolean;
      bytes: Buffer;
    }
  | undefined;
/** The null display as bytes, for the last one seen. */
let nulCache: { text: string; bytes: Buffer } = { text: '', bytes: Buffer.alloc(0) };

/** Signed 32-bit big-endian integer at `p` (a field length: -1 is NULL). */
function int32At(b: Uint8Array, p: number): number {
  return (
    ((b[p] as number) << 24) |
    ((b[p + 1] as number) << 16) |
    ((b[p + 2] as number) << 8) |
    (b[p + 3] as number)
  );
}

/**
 * Pass 1 over the DataRows: checks that every value is printable ASCII (but in `ascii` columns, whose type
 * prints nothing else) and that every row has `ncol` fields, and widens `widths` to the widest value of each
 * column. Returns the total length of the last column's values (NULL counted as `nulLen`), or -1 when the
 * rows are not for the byte path.
 *
 * Small and typed on purpose: V8 compiles it early and cheaply, and it never sees a second shape.
 */
function scanRaw(
  b: Uint8Array,
  count: number,
  ncol: number,
  widths: Int32Array,
  ascii: Uint8Array,
  nulLen: number,
): number {
  const lastCol = ncol - 1;
  let lastSum = 0;
  let p = 0;
  for (let r = 0; r < count; r++) {
    if ((((b[p + 5] as number) << 8) | (b[p + 6] as number)) !== ncol) return -1;
    p += 7;
    for (let j = 0; j < ncol; j++) {
      const len = int32At(b, p);
      p += 4;
      let w = nulLen;
      if (len >= 0 && ascii[j] === 1) {
        p += len;
        w = len;
      } else if (len >= 0) {
        const end = p + len;
        for (; p < end; p++) {
          const c = b[p] as number;
          if (c < 0x20 || c > 0x7e) return -1;
        }
        w = len;
      }
      if (w > (widths[j] as number)) widths[j] = w;
      if (j === lastCol) lastSum += w;
    }
  }
  return lastSum;
}

/**
 * Pass 2: the rows as psql's aligned border-1 layout into `o` from `q` on (room checked by the caller): ' ',
 * then per column but the last its value padded to the width (before it when right-aligned) and ' | '; the
 * last column is padded only when right-aligned. Returns where it stopped.
 */
function writeRaw(
  b: Uint8Array,
  count: number,
  ncol: number,
  widths: Int32Array,
  right: Uint8Array,
  nul: Uint8Array,
  o: Uint8Array,
  q: number,
): number {
  const lastCol = ncol - 1;
  const nulLen = nul.length;
  let p = 0;
  for (let r = 0; r < count; r++) {
    p += 7;
    o[q++] = 0x20;
    for (let j = 0; j < ncol; j++) {
      const len = int32At(b, p);
      p += 4;
      const n = len >= 0 ? len : nulLen;
      let pad = (widths[j] as number) - n;
      const padLeft = right[j] !== 0;
      if (padLeft) for (; pad > 0; pad--) o[q++] = 0x20;
      if (len > 32) {
        o.set(b.subarray(p, p + len), q);
        q += len;
        p += len;
      } else if (len >= 0) {
        for (const e = p + len; p < e; p++) o[q++] = b[p] as number;
      } else for (let k = 0; k < nulLen; k++) o[q++] = nul[k] as number;
      if (j < lastCol) {
        if (!padLeft) for (; pad > 0; pad--) o[q++] = 0x20;
        o[q] = 0x20;
        o[q + 1] = 0x7c;
        o[q + 2] = 0x20;
        q += 3;
      }
    }
    o[q++] = 0x0a;
  }
  return q;
}

/** `(N rows)` / `(1 row)`, a newline and the blank line, as bytes into `o` at `q`; returns where it stopped. */
function writeFooter(count: number, o: Uint8Array, q: number): number {
  const text = `${rowCountFooter(count)}\n\n`;
  for (let i = 0; i < text.length; i++) o[q++] = text.charCodeAt(i);
  return q;
}

/** The head of a byte-path table: the last one again while the column names, widths and settings are the same. */
function headOf(columns: readonly Column[], widths: Int32Array, s: PrintSettings): Buffer {
  const ncol = columns.length;
  const last = lastHead;
  if (
    last !== undefined &&
    last.title === s.title &&
    last.tuplesOnly === s.tuplesOnly &&
    last.titleDashes === s.titleDashes &&
    last.names.length === ncol
  ) {
    let same = true;
    for (let j = 0; j < ncol && same; j++)
      same = last.widths[j] === widths[j] && last.names[j] === (columns[j] as Column).name;
    if (same) return last.bytes;
  }
  const out: string[] = [];
  const w = Array.from(widths.subarray(0, ncol));
  pushHead(
    out,
    columns.map((c) => cellOf(c.name)),
    w,
    s,
  );
  const bytes = Buffer.from(out.join(''), 'utf8');
  lastHead = {
    names: columns.map((c) => c.name),
    widths: Int32Array.from(w),
    title: s.title,
    tuplesOnly: s.tuplesOnly,
    titleDashes: s.titleDashes,
    bytes,
  };
  return bytes;
}

/**
 * {@link formatResult} straight from the server's bytes for the layout nearly every script prints — aligned,
 * border 1, not expanded, every value single-line printable ASCII (so bytes = characters = display width) —
 * without a string per field or per row: widths from the field lengths, then head, rows and footer copied
 * into one reused buffer, which the caller writes out as the bytes they are (UTF-8; never decoded to a string
 * and encoded again). The same text as formatResult (raw-rows.test.ts compares them); undefined when the
 * result is not of that kind, and the caller formats the decoded rows instead.
 *
 * The result is a view of a buffer the next call overwrites: write it out (copy it) before formatting
 * another result.
 */
export function formatAlignedRawBytes(
  columns: readonly Column[],
  raw: RawRowData,
  s: PrintSettings,
): Buffer | undefined {
  const ncol = columns.length;
  if (s.format !== 'aligned' || s.expanded || s.border !== 1 || ncol === 0) return undefined;
  const nul = s.nullDisplay;
  if (!PRINTABLE.test(nul)) return undefined;
  if (colWidths.length < ncol) {
    colWidths = new Int32Array(ncol);
    colRight = new Uint8Array(ncol);
    colAscii = new Uint8Array(ncol);
  }
  const widths = colWidths;
  const right = colRight;
  for (let j = 0; j < ncol; j++) {
    const c = columns[j] as Column;
    // psql sizes columns by their headers too; a printable name is one line of its length
    widths[j] = PRINTABLE.test(c.name) ? c.name.length : Math.max(...cellOf(c.name).widths);
    right[j] = isNumericType(c.typeId) ? 1 : 0;
    colAscii[j] = ASCII_TYPES.has(c.typeId) ? 1 : 0;
  }
  const b = raw.bytes();
  const count = raw.count;
  const lastSum = scanRaw(b, count, ncol, widths, colAscii, nul.length);
  if (lastSum < 0) return undefined;
  const head = headOf(columns, widths, s);
  // a row: lead and newline, every column but the last padded plus ' | ', the last padded only when
  // right-aligned; the footer is at most `(2147483647 rows)` and two newlines
  const lastCol = ncol - 1;
  let fixed = 2;
  for (let j = 0; j < lastCol; j++) fixed += (widths[j] as number) + 3;
  const size =
    head.length + count * fixed + (right[lastCol] === 1 ? count * (widths[lastCol] as number) : lastSum) + 32;
  if (tableOut.length < size) tableOut = Buffer.allocUnsafe(Math.max(size, tableOut.length * 2));
  const o = tableOut;
  o.set(head, 0);
  let q = head.length;
  if (count > 0) {
    if (nulCache.text !== nul) nulCache = { text: nul, bytes: Buffer.from(nul, 'latin1') };
    q = writeRaw(b, count, ncol, widths, right, nulCache.bytes, o, q);
  }
  if (!s.tuplesOnly && s.footer) q = writeFooter(count, o, q);
  else o[q++] = 0x0a;
  return o.subarray(0, q);
}

/** {@link formatAlignedRawBytes} as a string (tests, and callers that print text). */
export function formatAlignedRaw(
  columns: readonly Column[],
  raw: RawRowData,
  s: PrintSettings,
): string | undefined {
  return formatAlignedRawBytes(columns, raw, s)?.toString('utf8');
}

/**
 * psql's print_aligned_vertical_line (psql 15, ascii line style): the line above a record — with its
 * `[ RECORD n ]` label when `record` > 0 — and the bottom rule of border 2. The label overwrites the dashes
 * of the header column and, when longer, those of the divider and data column.
 */
function verticalLine(record: number, hw: number, dw: number, border: 0 | 1 | 2): string {
  const fill = border > 0 ? '-' : ' ';
  let out = border === 2 ? '+-' : border === 1 ? '-' : '';
  let reclen = 0;
  if (record > 0) {
    const label = border === 0 ? `* Record ${record}` : `[ RECORD ${record} ]`;
    out += label;
    reclen = label.length;
  }
  if (border !== 2) reclen++;
  if (reclen < hw) out += fill.repeat(hw - reclen);
  reclen -= hw;
  if (border > 0) {
    if (reclen-- <= 0) out += '-';
    if (reclen-- <= 0) out += '+';
    if (reclen-- <= 0) out += '-';
  } else if (reclen-- <= 0) out += ' ';
  if (reclen < 0) reclen = 0;
  if (reclen < dw) out += fill.repeat(dw - reclen);
  if (border === 2) out += '-+';
  return out;
}

function expandedAligned(
  columns: readonly Column[],
  rows: readonly (string | null)[][],
  s: PrintSettings,
): string {
  const out: string[] = [];
  const nul = s.nullDisplay;
  const border = s.border;
  if (columns.length === 0 || rows.length === 0) {
    if (!s.tuplesOnly) out.push(rowCountFooter(columns.length === 0 ? rows.length : 0), '\n');
    out.push('\n');
    return out.join('');
  }
  const headers = columns.map((c) => cellOf(c.name));
  let hw = 0;
  for (const h of headers) for (const w of h.widths) if (w > hw) hw = w;
  const cells = rows.map((row) => columns.map((_, j) => cellOf(row[j] ?? nul)));
  let dw = 0;
  for (const row of cells) for (const c of row) for (const w of c.widths) if (w > dw) dw = w;
  if (s.title !== undefined && !s.tuplesOnly) out.push(s.title, '\n');
  const sep = border === 0 ? ' ' : ' | ';
  cells.forEach((row, r) => {
    if (!s.tuplesOnly) out.push(verticalLine(r + 1, hw, dw, border), '\n');
    else if (r > 0 || border === 2) out.push(verticalLine(0, hw, dw, border), '\n');
    row.forEach((c, j) => {
      const h = headers[j] as Cell;
      const nlines = Math.max(c.lines.length, h.lines.length);
      for (let l = 0; l < nlines; l++) {
        const more = l < c.lines.length - 1;
        let line = border === 2 ? '| ' : '';
        const htext = h.lines[l] ?? '';
        line += htext + spaces(hw - (h.widths[l] ?? 0));
        line += sep;
        const text = c.lines[l] ?? '';
        const pad = spaces(dw - (c.widths[l] ?? 0));
        if (border === 2) line += `${text}${pad}${more ? '+' : ' '}|`;
        else line += more ? `${text}${pad}+` : text;
        out.push(line, '\n');
      }
    });
  });
  if (border === 2) out.push(verticalLine(0, hw, dw, border), '\n');
  out.push('\n');
  return out.join('');
}

function expandedUnaligned(
  columns: readonly Column[],
  rows: readonly (string | null)[][],
  s: PrintSettings,
): string {
  const out: string[] = [];
  const nul = s.nullDisplay;
  if (s.title !== undefined && !s.tuplesOnly) out.push(s.title, '\n');
  rows.forEach((row, r) => {
    if (r > 0) out.push('\n');
    columns.forEach((col, j) => {
      out.push(col.name, s.fieldSep, row[j] ?? nul, s.recordSep);
    });
  });
  return out.join('');
}

/** psql's `\timing` line: `Time: 1.234 ms`, with `(mm:ss.fff)` appended from one second on. */
export function formatTiming(ms: number): string {
  const base = `Time: ${ms.toFixed(3)} ms`;
  if (ms < 1000) return base;
  const totalSec = ms / 1000;
  const min = Math.floor(totalSec / 60);
  const sec = totalSec - min * 60;
  if (min < 60) return `${base} (${String(min).padStart(2, '0')}:${sec.toFixed(3).padStart(6, '0')})`;
  const h = Math.floor(min / 60);
  return `${base} (${String(h).padStart(2, '0')}:${String(min % 60).padStart(2, '0')}:${sec.toFixed(3).padStart(6, '0')})`;
}
