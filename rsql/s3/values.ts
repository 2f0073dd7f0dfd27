/**
 * COPY's conversion of a field to a column value, with Redshift's rules and load error codes
 * (https://docs.aws.amazon.com/redshift/latest/dg/copy-parameters-data-conversion.html,
 * https://docs.aws.amazon.com/redshift/latest/dg/r_Load_Error_Reference.html). A value that converts is
 * returned as PostgreSQL input text (or null); one that does not is a {@link ValueError} with the
 * Redshift error code, reason and position that stl_load_errors records.
 *
 * Error reasons: where the Redshift documentation shows one ("Char length exceeds DDL length",
 * "Extra column(s) found", "Error in Timestamp value or format [%Y-%m-%d %H:%M:%S]") it is used; the
 * others follow Redshift's `Invalid digit, Value 'x', Pos n, Type: Integer` style or the load error
 * reference's description of the code.
 */
import { dateParser, strftimeOf, timestampParser } from './datetime.js';

/** A column of the target table, as the catalog describes it. */
export interface ColumnInfo {
  name: string;
  /** pg_type.typname of the (base) type: int4, varchar, bpchar, numeric, … */
  typname: string;
  /** Declared length of char/varchar (characters in PostgreSQL, bytes in Redshift), or undefined. */
  length: number | undefined;
  precision: number | undefined;
  scale: number | undefined;
  notNull: boolean;
}

/** A field that does not convert. */
export class ValueError extends Error {
  override name = 'ValueError';
  constructor(
    readonly code: number,
    readonly reason: string,
    readonly position = 0,
  ) {
    super(reason);
  }
}

/** The conversion options of a COPY. */
export interface ConvertOptions {
  emptyAsNull: boolean;
  blanksAsNull: boolean;
  trimBlanks: boolean;
  truncateColumns: boolean;
  roundDec: boolean;
  acceptAnyDate: boolean;
  dateFormat: string | undefined;
  timeFormat: string | undefined;
}

/** Converts one field's text (already known not to be the NULL AS string) to input text or null. */
export type Converter = (value: string) => string | null;

const INT_RANGE: Record<string, [bigint, bigint, string]> = {
  int2: [-32768n, 32767n, 'Short'],
  int4: [-2147483648n, 2147483647n, 'Integer'],
  int8: [-9223372036854775808n, 9223372036854775807n, 'Long'],
};

const BLANK = /^\s*$/;

/** Redshift shows the offending value quoted and cut short. */
function shown(v: string): string {
  return v.length > 40 ? `${v.slice(0, 40)}…` : v;
}

/** The first character that is not a digit (after an optional sign), as Redshift's Invalid digit error. */
function invalidDigit(v: string, type: string, code: number): ValueError {
  let pos = 0;
  if (v[0] === '+' || v[0] === '-') pos = 1;
  while (pos < v.length && v[pos] !== undefined && /[0-9]/.test(v[pos] as string)) pos++;
  const ch = v[pos] ?? v;
  return new ValueError(code, `Invalid digit, Value '${ch}', Pos ${pos}, Type: ${type}`, pos);
}

function bytesOf(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/** The longest prefix of `s` of at most `max` UTF-8 bytes (TRUNCATECOLUMNS cuts at a character). */
function truncateBytes(s: string, max: number): string {
  if (bytesOf(s) <= max) return s;
  let out = '';
  let used = 0;
  for (const ch of s) {
    const b = bytesOf(ch);
    if (used + b > max) break;
    out += ch;
    used += b;
  }
  return out;
}

/** Rounds or truncates a decimal string to `scale` digits after the point. */
function fitScale(intPart: string, frac: string, scale: number, round: boolean, negative: boolean): string {
  if (frac.length <= scale) {
    return `${negative ? '-' : ''}${intPart}${scale > 0 || frac.length > 0 ? `.${frac.padEnd(scale, '0')}` : ''}`.replace(
      /\.$/,
      '',
    );
  }
  let digits = BigInt(intPart + frac.slice(0, scale) || '0');
  if (round && Number(frac[scale]) >= 5) digits += 1n;
  const s = digits.toString().padStart(scale + 1, '0');
  const i = s.length - scale;
  return `${negative ? '-' : ''}${s.slice(0, i)}${scale > 0 ? `.${s.slice(i)}` : ''}`;
}

/** The converter of one column. */
export function converterFor(col: ColumnInfo, o: ConvertOptions): Converter {
  const t = col.typname;
  const notNull = (v: string | null): string | null => {
    if (v === null && col.notNull) throw new ValueError(1213, 'Missing data for not-null field');
    return v;
  };
  if (t === 'varchar' || t === 'bpchar' || t === 'text' || t === 'name') {
    const isChar = t === 'bpchar';
    return (value) => {
      if (o.emptyAsNull && value === '') return notNull(null);
      if (o.blanksAsNull && value !== '' && BLANK.test(value)) return notNull(null);
      let v = value;
      if (o.trimBlanks && !isChar) v = v.replace(/\s+$/, '');
      if (isChar && /[^\x00-\x7f]/.test(v)) {
        const bad = [...v].find((c) => c.charCodeAt(0) > 127) as string;
        const hex = [...Buffer.from(bad, 'utf8')].map((b) => b.toString(16).padStart(2, '0')).join(' ');
        throw new ValueError(
          1220,
          `Multibyte character not supported for CHAR (Hint: try using VARCHAR). Invalid char: ${hex}`,
          v.indexOf(bad),
        );
      }
      if (col.length !== undefined && bytesOf(v) > col.length) {
        if (o.truncateColumns) v = truncateBytes(v, col.length);
        else {
          throw new ValueError(
            1204,
            isChar ? 'Char length exceeds DDL length' : 'String length exceeds DDL length',
            col.length,
          );
        }
      }
      return notNull(v);
    };
  }
  // "Empty fields for other data types, such as INT, are always loaded with NULL"; "Blank fields for
  // other data types, such as INT, are always loaded with NULL"
  const nonChar = (f: (v: string) => string): Converter => {
    return (value) => (BLANK.test(value) ? notNull(null) : notNull(f(value.trim())));
  };
  const range = INT_RANGE[t];
  if (range) {
    const [min, max, type] = range;
    return nonChar((v) => {
      if (!/^[+-]?[0-9]+$/.test(v)) throw invalidDigit(v, type, 1207);
      const n = BigInt(v);
      if (n < min || n > max)
        throw new ValueError(1222, `Overflow, Value '${shown(v)}', Pos 0, Type: ${type}`, 0);
      return n.toString();
    });
  }
  if (t === 'numeric') {
    return nonChar((v) => {
      const m = /^([+-]?)([0-9]*)(?:\.([0-9]*))?$/.exec(v);
      if (!m || (m[2] === '' && (m[3] ?? '') === '')) throw invalidDigit(v, 'Decimal', 1209);
      const negative = m[1] === '-';
      const intPart = (m[2] as string).replace(/^0+(?=\d)/, '') || '0';
      const frac = m[3] ?? '';
      if (col.precision === undefined) return `${negative ? '-' : ''}${intPart}${frac ? `.${frac}` : ''}`;
      // "By default, COPY truncates values when necessary to fit the scale of the column … If ROUNDEC is
      // specified, COPY rounds the value"
      const out = fitScale(intPart, frac, col.scale ?? 0, o.roundDec, negative);
      const digitsBefore = out.replace(/^-/, '').split('.')[0]?.replace(/^0+/, '').length ?? 0;
      if (digitsBefore > col.precision - (col.scale ?? 0)) {
        throw new ValueError(1204, `Numeric data overflow (result precision), Value '${shown(v)}'`, 0);
      }
      return out;
    });
  }
  if (t === 'float4' || t === 'float8') {
    return nonChar((v) => {
      if (
        !/^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/.test(v) &&
        !/^[+-]?(nan|inf|infinity)$/i.test(v)
      ) {
        throw new ValueError(
          1208,
          `Invalid digit, Value '${shown(v)}', Pos 0, Type: ${t === 'float4' ? 'Float' : 'Double'}`,
        );
      }
      return v;
    });
  }
  if (t === 'bool') {
    return nonChar((v) => {
      // r_Boolean_type.html: TRUE 't' 'true' 'y' 'yes' '1' / FALSE 'f' 'false' 'n' 'no' '0'
      const l = v.toLowerCase();
      if (['t', 'true', 'y', 'yes', '1'].includes(l)) return 't';
      if (['f', 'false', 'n', 'no', '0'].includes(l)) return 'f';
      throw new ValueError(1210, `Invalid boolean, Value '${shown(v)}', Pos 0, Type: Boolean`);
    });
  }
  if (t === 'date') {
    const parse = dateParser(o.dateFormat);
    const shownFormat = strftimeOf(o.dateFormat, '%Y-%m-%d');
    return (value) => {
      if (BLANK.test(value)) return notNull(null);
      const v = parse(value);
      if (v !== undefined) return notNull(v);
      // ACCEPTANYDATE: "If the date format for the data doesn't match the DATEFORMAT specification,
      // Amazon Redshift inserts a NULL value into that field."
      if (o.acceptAnyDate) return notNull(null);
      throw new ValueError(1205, `Error in Date value or format [${shownFormat}]`, 0);
    };
  }
  if (t === 'timestamp' || t === 'timestamptz') {
    const parse = timestampParser(o.timeFormat, t === 'timestamptz');
    const shownFormat = strftimeOf(o.timeFormat, '%Y-%m-%d %H:%M:%S');
    return (value) => {
      if (BLANK.test(value)) return notNull(null);
      const v = parse(value);
      if (v !== undefined) return notNull(v);
      if (o.acceptAnyDate) return notNull(null);
      throw new ValueError(1206, `Error in Timestamp value or format [${shownFormat}]`, 0);
    };
  }
  if (t === 'time' || t === 'timetz') {
    return nonChar((v) => {
      if (!/^\d{1,2}:\d{2}(:\d{2}(\.\d{1,6})?)?([+-]\d{1,2}(:?\d{2})?)?$/.test(v)) {
        throw new ValueError(1206, `Invalid time, Value '${shown(v)}', Pos 0, Type: Time`);
      }
      return v;
    });
  }
  if (t === 'json' || t === 'jsonb') {
    return nonChar((v) => {
      try {
        JSON.parse(v);
      } catch {
        throw new ValueError(1224, 'Invalid JSON object', 0);
      }
      return v;
    });
  }
  if (t === 'uuid') {
    return nonChar((v) => {
      if (!/^\{?[0-9a-f]{8}-?([0-9a-f]{4}-?){3}[0-9a-f]{12}\}?$/i.test(v)) {
        throw new ValueError(1223, `Invalid UUID, Value '${shown(v)}'`, 0);
      }
      return v;
    });
  }
  // anything else goes to PostgreSQL as written (its own input function is the judge)
  return (value) => notNull(value === '' ? null : value);
}

/** stl_load_errors.col_length: the declared length, `p,s` of a decimal, else 0. */
export function columnLength(col: ColumnInfo): string {
  if (col.length !== undefined) return String(col.length);
  if (col.precision !== undefined) return `${col.precision},${col.scale ?? 0}`;
  return '0';
}
