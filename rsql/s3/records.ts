/**
 * COPY's input, split into records and fields the way Redshift reads text files
 * (https://docs.aws.amazon.com/redshift/latest/dg/copy-parameters-data-format.html,
 * https://docs.aws.amazon.com/redshift/latest/dg/copy-parameters-data-conversion.html).
 *
 * Records are found in bytes, chunk by chunk, so a file of any size streams through in constant
 * memory: a line feed ends a record, except after an odd run of backslashes with ESCAPE ("you can use
 * this parameter to escape … an embedded newline character") and inside a quoted CSV field. With CSV a
 * carriage return before the line feed is part of the line end; in delimited text it is data, as in
 * Redshift (the ESCAPE notes tell Windows users to escape or remove it). IGNOREHEADER skips whole lines.
 */

/** One record: its bytes (line end excluded), the line it starts on, and whether its CSV quote is open. */
export interface RawRecord {
  line: number;
  bytes: Buffer;
  /** A CSV quoted field was still open at the end of the file. */
  unterminated?: boolean;
}

const LF = 10;
const CR = 13;
const BACKSLASH = 92;

/** How records end. */
export interface SplitOptions {
  csv: boolean;
  /** CSV quote byte. */
  quote: number;
  escape: boolean;
  /** Lines to skip at the start of the file (IGNOREHEADER). */
  ignoreHeader: number;
}

/** Splits one file's bytes into records; feed chunks with {@link push}, then call {@link end}. */
export class RecordSplitter {
  private pending: Buffer[] = [];
  private line = 1;
  private recordLine = 1;
  private skip: number;
  private inQuote = false;
  private backslashes = 0;
  private readonly scan: boolean;

  constructor(private readonly o: SplitOptions) {
    this.skip = o.ignoreHeader;
    this.scan = o.csv || o.escape;
  }

  /** The records completed by this chunk. */
  push(chunk: Buffer): RawRecord[] {
    const out: RawRecord[] = [];
    let pos = 0;
    const n = chunk.length;
    while (pos < n && this.skip > 0) {
      const lf = chunk.indexOf(LF, pos);
      if (lf < 0) return out; // still inside a header line
      this.skip--;
      this.line++;
      this.recordLine = this.line;
      pos = lf + 1;
    }
    if (!this.scan) {
      for (;;) {
        const lf = chunk.indexOf(LF, pos);
        if (lf < 0) break;
        out.push({ line: this.recordLine, bytes: this.take(chunk, pos, lf) });
        this.line++;
        this.recordLine = this.line;
        pos = lf + 1;
      }
    } else {
      const quote = this.o.quote;
      const csv = this.o.csv;
      let start = pos;
      for (let i = pos; i < n; i++) {
        const b = chunk[i] as number;
        if (csv) {
          if (b === quote) this.inQuote = !this.inQuote;
          else if (b === LF) {
            if (this.inQuote) {
              this.line++;
              continue;
            }
            out.push({ line: this.recordLine, bytes: this.take(chunk, start, i) });
            this.line++;
            this.recordLine = this.line;
            start = i + 1;
          }
          continue;
        }
        // ESCAPE: a line feed after an odd number of backslashes is data
        if (b === BACKSLASH) {
          this.backslashes++;
          continue;
        }
        if (b === LF) {
          if (this.backslashes % 2 === 1) {
            this.backslashes = 0;
            this.line++;
            continue;
          }
          out.push({ line: this.recordLine, bytes: this.take(chunk, start, i) });
          this.line++;
          this.recordLine = this.line;
          start = i + 1;
        }
        this.backslashes = 0;
      }
      pos = start;
    }
    if (pos < n) this.pending.push(chunk.subarray(pos));
    return out;
  }

  /** The last record (a file need not end with a line feed). */
  end(): RawRecord[] {
    if (this.skip > 0 || this.pending.length === 0) return [];
    const bytes = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending);
    this.pending = [];
    if (bytes.length === 0) return [];
    const r: RawRecord = { line: this.recordLine, bytes: this.trimCr(bytes) };
    if (this.o.csv && this.inQuote) r.unterminated = true;
    return [r];
  }

  private take(chunk: Buffer, from: number, to: number): Buffer {
    let bytes = chunk.subarray(from, to);
    if (this.pending.length > 0) {
      this.pending.push(bytes);
      bytes = Buffer.concat(this.pending);
      this.pending = [];
    }
    return this.trimCr(bytes);
  }

  private trimCr(bytes: Buffer): Buffer {
    return this.o.csv && bytes.length > 0 && bytes[bytes.length - 1] === CR ? bytes.subarray(0, -1) : bytes;
  }
}

/** A field: its text after quotes and escapes are removed, and its text as written. */
export interface Field {
  value: string;
  raw: string;
  quoted: boolean;
}

/** How fields are read. */
export interface FieldOptions {
  csv: boolean;
  delimiter: string;
  quote: string;
  escape: boolean;
  removeQuotes: boolean;
}

/** The record could not be split into fields (bad quoting). */
export class FieldSyntaxError extends Error {
  override name = 'FieldSyntaxError';
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(message);
  }
}

/** Splits a record's text into fields. */
export function splitFields(text: string, o: FieldOptions): Field[] {
  if (o.csv) return csvFields(text, o);
  if (!o.escape && !o.removeQuotes)
    return text.split(o.delimiter).map((v) => ({ value: v, raw: v, quoted: false }));
  return textFields(text, o);
}

/** Delimited text with ESCAPE and/or REMOVEQUOTES (character by character). */
function textFields(text: string, o: FieldOptions): Field[] {
  const out: Field[] = [];
  const n = text.length;
  let i = 0;
  for (;;) {
    const start = i;
    let value = '';
    let quoted = false;
    const q = text[i];
    if (o.removeQuotes && (q === '"' || q === "'")) {
      // "Removes surrounding quotation marks … All characters within the quotation marks, including
      // delimiters, are retained"
      quoted = true;
      i++;
      let closed = false;
      while (i < n) {
        const c = text[i] as string;
        if (o.escape && c === '\\' && i + 1 < n) {
          value += text[i + 1];
          i += 2;
          continue;
        }
        if (c === q) {
          closed = true;
          i++;
          break;
        }
        value += c;
        i++;
      }
      if (!closed) throw new FieldSyntaxError('Missing closing quote (REMOVEQUOTES)', start);
      // text after the closing quote up to the delimiter is kept
      while (i < n && text[i] !== o.delimiter) value += text[i++];
    } else {
      while (i < n) {
        const c = text[i] as string;
        if (o.escape && c === '\\' && i + 1 < n) {
          value += text[i + 1];
          i += 2;
          continue;
        }
        if (c === o.delimiter) break;
        value += c;
        i++;
      }
    }
    out.push({ value, raw: text.slice(start, i), quoted });
    if (i >= n) break;
    i++; // the delimiter
    if (i === n) {
      out.push({ value: '', raw: '', quoted: false });
      break;
    }
  }
  return out;
}

/** CSV: quoted fields (doubled quote = quote), blanks between a delimiter and a quote ignored. */
function csvFields(text: string, o: FieldOptions): Field[] {
  const out: Field[] = [];
  const n = text.length;
  const d = o.delimiter;
  const q = o.quote;
  let i = 0;
  for (;;) {
    const start = i;
    let j = i;
    while (j < n && (text[j] === ' ' || text[j] === '\t') && text[j] !== d) j++;
    if (text[j] === q) {
      // "When a field is enclosed in quotation marks, white space between the delimiters and the
      // quotation mark characters is ignored."
      let value = '';
      let p = j + 1;
      let closed = false;
      while (p < n) {
        const next = text.indexOf(q, p);
        if (next < 0) {
          value += text.slice(p);
          p = n;
          break;
        }
        value += text.slice(p, next);
        if (text[next + 1] === q) {
          value += q;
          p = next + 2;
          continue;
        }
        p = next + 1;
        closed = true;
        break;
      }
      if (!closed) throw new FieldSyntaxError('Unterminated quoted field (CSV)', start);
      while (p < n && text[p] !== d) {
        if (text[p] !== ' ' && text[p] !== '\t') {
          throw new FieldSyntaxError('Invalid quote formatting for CSV', p);
        }
        p++;
      }
      out.push({ value, raw: text.slice(start, p), quoted: true });
      i = p;
    } else {
      const next = text.indexOf(d, i);
      const end = next < 0 ? n : next;
      const v = text.slice(i, end);
      out.push({ value: v, raw: v, quoted: false });
      i = end;
    }
    if (i >= n) break;
    i++;
    if (i === n) {
      out.push({ value: '', raw: '', quoted: false });
      break;
    }
  }
  return out;
}
