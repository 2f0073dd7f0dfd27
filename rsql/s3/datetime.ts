/**
 * COPY's DATEFORMAT and TIMEFORMAT (https://docs.aws.amazon.com/redshift/latest/dg/r_DATEFORMAT_and_TIMEFORMAT_strings.html):
 * format strings made of YY, YYYY, MM, MON (abbreviated or full month name), DD, HH or HH24, HH12, MI,
 * SS (with fractional seconds to the microsecond) and AM/PM, plus separators; `'auto'`
 * (https://docs.aws.amazon.com/redshift/latest/dg/automatic-recognition.html); `'epochsecs'` and
 * `'epochmillisecs'` for TIMEFORMAT. Defaults: YYYY-MM-DD, YYYY-MM-DD HH:MI:SS, and
 * YYYY-MM-DD HH:MI:SSOF for TIMESTAMPTZ. "In DATEFORMAT and TIMEFORMAT strings for COPY, HH is the
 * same as HH24."
 */

/** A parsed date/time: calendar fields, microseconds, and a UTC offset in minutes when one was given. */
export interface DateTimeValue {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  micros: number;
  offsetMinutes: number | undefined;
}

type Part =
  | { kind: 'YYYY' | 'YY' | 'MM' | 'MON' | 'DD' | 'HH24' | 'HH12' | 'MI' | 'SS' | 'AMPM' }
  | { kind: 'lit'; text: string };

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const MONTH_NAMES = [
  'january',
  'february',
  'march',
  'april',
  'may',
  'june',
  'july',
  'august',
  'september',
  'october',
  'november',
  'december',
];

/** A format string as parts; unknown letters are literal text. */
export function compileFormat(format: string): Part[] {
  const parts: Part[] = [];
  let i = 0;
  const up = format.toUpperCase();
  const tokens: [string, Part['kind']][] = [
    ['YYYY', 'YYYY'],
    ['YY', 'YY'],
    ['MON', 'MON'],
    ['MM', 'MM'],
    ['DD', 'DD'],
    ['HH24', 'HH24'],
    ['HH12', 'HH12'],
    ['HH', 'HH24'],
    ['MI', 'MI'],
    ['SS', 'SS'],
    ['AM', 'AMPM'],
    ['PM', 'AMPM'],
  ];
  outer: while (i < format.length) {
    for (const [tok, kind] of tokens) {
      if (up.startsWith(tok, i)) {
        parts.push({ kind } as Part);
        i += tok.length;
        continue outer;
      }
    }
    const last = parts[parts.length - 1];
    if (last?.kind === 'lit') last.text += format[i];
    else parts.push({ kind: 'lit', text: format[i] as string });
    i++;
  }
  return parts;
}

function daysInMonth(y: number, m: number): number {
  return [
    31,
    y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28,
    31,
    30,
    31,
    30,
    31,
    31,
    30,
    31,
    30,
    31,
  ][m - 1] as number;
}

/** Matches `value` against a compiled format; undefined when it does not match or is not a real date. */
export function matchFormat(
  value: string,
  parts: Part[],
  opts: { allowMissingTime: boolean; allowTrailingTime: boolean; allowOffset: boolean },
): DateTimeValue | undefined {
  const v: DateTimeValue = {
    year: 1,
    month: 1,
    day: 1,
    hour: 0,
    minute: 0,
    second: 0,
    micros: 0,
    offsetMinutes: undefined,
  };
  let pm: boolean | undefined;
  let hour12 = false;
  let i = 0;
  const n = value.length;
  const digits = (max: number, min = 1): number | undefined => {
    let j = i;
    while (j < n && j - i < max && value.charCodeAt(j) >= 48 && value.charCodeAt(j) <= 57) j++;
    if (j - i < min) return undefined;
    const x = Number(value.slice(i, j));
    i = j;
    return x;
  };
  for (let p = 0; p < parts.length; p++) {
    const part = parts[p] as Part;
    if (
      i >= n &&
      opts.allowMissingTime &&
      parts
        .slice(p)
        .every(
          (x) =>
            x.kind !== 'YYYY' && x.kind !== 'YY' && x.kind !== 'MM' && x.kind !== 'MON' && x.kind !== 'DD',
        )
    ) {
      // "If the source data for a TIMESTAMP column omits time information, 00:00:00 is used"
      break;
    }
    switch (part.kind) {
      case 'lit': {
        for (const ch of part.text) {
          if (/\s/.test(ch)) {
            if (i >= n || !/\s/.test(value[i] as string)) return undefined;
            while (i < n && /\s/.test(value[i] as string)) i++;
          } else if (value[i] === ch) i++;
          else return undefined;
        }
        break;
      }
      case 'YYYY': {
        const x = digits(4, 4);
        if (x === undefined) return undefined;
        v.year = x;
        break;
      }
      case 'YY': {
        const x = digits(2, 2);
        if (x === undefined) return undefined;
        v.year = x < 70 ? 2000 + x : 1900 + x;
        break;
      }
      case 'MM': {
        const x = digits(2);
        if (x === undefined) return undefined;
        v.month = x;
        break;
      }
      case 'MON': {
        const rest = value.slice(i).toLowerCase();
        const full = MONTH_NAMES.findIndex((m) => rest.startsWith(m));
        const abbr = full >= 0 ? full : MONTHS.findIndex((m) => rest.startsWith(m));
        if (abbr < 0) return undefined;
        v.month = abbr + 1;
        i += full >= 0 ? (MONTH_NAMES[full] as string).length : 3;
        break;
      }
      case 'DD': {
        const x = digits(2);
        if (x === undefined) return undefined;
        v.day = x;
        break;
      }
      case 'HH24':
      case 'HH12': {
        const x = digits(2);
        if (x === undefined) return undefined;
        v.hour = x;
        hour12 = part.kind === 'HH12';
        break;
      }
      case 'MI': {
        const x = digits(2);
        if (x === undefined) return undefined;
        v.minute = x;
        break;
      }
      case 'SS': {
        const x = digits(2);
        if (x === undefined) return undefined;
        v.second = x;
        // "The seconds (SS) field also supports fractional seconds up to a microsecond level of detail."
        if (value[i] === '.' && /[0-9]/.test(value[i + 1] ?? '')) {
          i++;
          const s = i;
          while (i < n && /[0-9]/.test(value[i] as string)) i++;
          const frac = value.slice(s, i);
          if (frac.length > 6) return undefined;
          v.micros = Number(frac.padEnd(6, '0'));
        }
        if (opts.allowOffset) {
          const off = /^\s*(?:([+-])(\d{1,2})(?::?(\d{2}))?|Z|UTC)/i.exec(value.slice(i));
          if (off) {
            v.offsetMinutes = off[1]
              ? (off[1] === '-' ? -1 : 1) * (Number(off[2]) * 60 + Number(off[3] ?? 0))
              : 0;
            i += off[0].length;
          }
        }
        break;
      }
      case 'AMPM': {
        const m = /^(a\.?m\.?|p\.?m\.?)/i.exec(value.slice(i));
        if (!m) return undefined;
        pm = (m[1] as string)[0]?.toLowerCase() === 'p';
        i += (m[1] as string).length;
        break;
      }
    }
  }
  if (i < n) {
    // "If the source data for a DATE column includes time information, the time component is truncated."
    if (!(opts.allowTrailingTime && /^[\sT]+\d{1,2}:\d{2}(:\d{2}(\.\d{1,6})?)?\s*$/.test(value.slice(i)))) {
      return undefined;
    }
  }
  if (hour12 || pm !== undefined) {
    if (v.hour < 1 || v.hour > 12) return undefined;
    if (pm === true && v.hour !== 12) v.hour += 12;
    if (pm === false && v.hour === 12) v.hour = 0;
  }
  if (v.month < 1 || v.month > 12 || v.day < 1 || v.day > daysInMonth(v.year, v.month)) return undefined;
  if (v.hour > 23 || v.minute > 59 || v.second > 59) return undefined;
  return v;
}

const DEFAULT_DATE = compileFormat('YYYY-MM-DD');
const DEFAULT_TIMESTAMP = compileFormat('YYYY-MM-DD HH:MI:SS');
/** 'auto': ISO first, then the common forms of the automatic-recognition page. */
const AUTO = [
  'YYYY-MM-DD HH:MI:SS',
  'YYYY-MM-DDTHH:MI:SS',
  // ISO 8601 in UTC ("2019-02-11T05:09:12.195Z"), "19960108 040809", "960108 040809" (automatic-recognition)
  'YYYY-MM-DDTHH:MI:SSZ',
  'YYYYMMDD HHMISS',
  'YYMMDD HHMISS',
  'YYYY-MM-DD',
  'YYYYMMDD HH:MI:SS',
  'YYYYMMDD',
  'YYYY/MM/DD HH:MI:SS',
  'YYYY/MM/DD',
  'MM/DD/YYYY HH:MI:SS',
  'MM/DD/YYYY',
  'MM-DD-YYYY',
  'MM.DD.YYYY HH:MI:SS',
  'MM.DD.YYYY',
  'DD-MON-YYYY HH:MI:SS',
  'DD-MON-YYYY',
  'MON DD, YYYY HH:MI:SS',
  'MON DD, YYYY',
  'MON-DD-YYYY',
  'MON DD YYYY',
  'DD MON YYYY',
].map(compileFormat);

function pad(n: number, w: number): string {
  return String(n).padStart(w, '0');
}

/** PostgreSQL literal of a date. */
function dateLiteral(v: DateTimeValue): string {
  return `${pad(v.year, 4)}-${pad(v.month, 2)}-${pad(v.day, 2)}`;
}

/** PostgreSQL literal of a timestamp (with the offset when given). */
function timestampLiteral(v: DateTimeValue, withZone: boolean): string {
  let s = `${dateLiteral(v)} ${pad(v.hour, 2)}:${pad(v.minute, 2)}:${pad(v.second, 2)}`;
  if (v.micros) s += `.${pad(v.micros, 6)}`;
  if (withZone) {
    // "If no time zone is specified, Redshift assumes UTC" for TIMESTAMPTZ input without an offset
    const off = v.offsetMinutes ?? 0;
    const a = Math.abs(off);
    s += `${off < 0 ? '-' : '+'}${pad(Math.floor(a / 60), 2)}:${pad(a % 60, 2)}`;
  }
  return s;
}

/** A DATEFORMAT: parses a value to a PostgreSQL date literal, or undefined. */
export function dateParser(format: string | undefined): (value: string) => string | undefined {
  const formats = format === 'auto' ? AUTO : [format === undefined ? DEFAULT_DATE : compileFormat(format)];
  const opts = { allowMissingTime: false, allowTrailingTime: true, allowOffset: false };
  return (value) => {
    const t = value.trim();
    for (const f of formats) {
      const v = matchFormat(t, f, opts);
      if (v) return dateLiteral(v);
    }
    return undefined;
  };
}

/** A TIMEFORMAT: parses a value to a PostgreSQL timestamp[tz] literal, or undefined. */
export function timestampParser(
  format: string | undefined,
  withZone: boolean,
): (value: string) => string | undefined {
  if (format === 'epochsecs' || format === 'epochmillisecs') {
    const scale = format === 'epochsecs' ? 1000 : 1;
    return (value) => {
      const t = value.trim();
      if (!/^-?\d+(\.\d+)?$/.test(t)) return undefined;
      const d = new Date(Number(t) * scale);
      if (Number.isNaN(d.getTime())) return undefined;
      const iso = d.toISOString(); // UTC
      return `${iso.slice(0, 10)} ${iso.slice(11, 23)}${withZone ? '+00:00' : ''}`;
    };
  }
  const formats =
    format === 'auto' ? AUTO : [format === undefined ? DEFAULT_TIMESTAMP : compileFormat(format)];
  const opts = { allowMissingTime: true, allowTrailingTime: false, allowOffset: withZone };
  return (value) => {
    const t = value.trim();
    for (const f of formats) {
      const v = matchFormat(t, f, opts);
      if (v) return timestampLiteral(v, withZone);
    }
    return undefined;
  };
}

/** A format as the strftime-like text Redshift's load errors show (`[%Y-%m-%d %H:%M:%S]`). */
export function strftimeOf(format: string | undefined, fallback: string): string {
  if (format === undefined) return fallback;
  if (format === 'auto' || format.startsWith('epoch')) return format;
  const map: Record<string, string> = {
    YYYY: '%Y',
    YY: '%y',
    MM: '%m',
    MON: '%b',
    DD: '%d',
    HH24: '%H',
    HH12: '%I',
    MI: '%M',
    SS: '%S',
    AMPM: '%p',
  };
  return compileFormat(format)
    .map((p) => (p.kind === 'lit' ? p.text : map[p.kind]))
    .join('');
}
