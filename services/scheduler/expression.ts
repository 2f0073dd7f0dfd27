/**
 * EventBridge Scheduler expressions evaluated here, so that a workflow's `schedule` fires on one
 * machine (`rsqlo serve`) exactly when it would on AWS. The rules implemented, from the AWS
 * documents quoted in expression.test.ts:
 *
 * - `cron(minutes hours day-of-month month day-of-week year)`: minutes 0-59, hours 0-23,
 *   day-of-month 1-31, month 1-12 or JAN-DEC, day-of-week 1-7 or SUN-SAT (1 = Sunday), year
 *   1970-2199; wildcards `, - * /` everywhere, `? L W` in day-of-month, `? L #` in day-of-week;
 *   one of the two day fields must be `?`.
 * - `rate(value unit)`: minutes, hours or days (a day is 24 hours); with no start date the first
 *   invocation is at once, then every `value unit`.
 * - `at(yyyy-mm-ddThh:mm:ss)`: once, at that wall-clock time in the schedule's time zone.
 * - Time zones: expressions are read in the schedule's IANA time zone (default UTC). When clocks go
 *   forward, a time that does not exist that day is skipped; when they go back, a time that occurs
 *   twice fires once (at its first occurrence).
 * - Precision is one minute: cron and at() times fall on whole minutes.
 */

/** A schedule expression this module cannot evaluate; the message names the problem. */
export class ScheduleExpressionError extends Error {
  override name = 'ScheduleExpressionError';
}

interface Wall {
  year: number;
  month: number; // 1-12
  day: number; // 1-31
  hour: number;
  minute: number;
  second: number;
}

type DayOfMonthRule =
  | { kind: 'any' }
  | { kind: 'set'; values: Set<number> }
  | { kind: 'last' }
  | { kind: 'lastWeekday' }
  | { kind: 'nearestWeekday'; day: number };

type DayOfWeekRule =
  | { kind: 'any' }
  | { kind: 'set'; values: Set<number> }
  | { kind: 'lastOf'; dow: number }
  | { kind: 'nth'; dow: number; n: number };

export type ParsedExpression =
  | {
      kind: 'cron';
      minutes: Set<number>;
      hours: Set<number>;
      dom: DayOfMonthRule;
      months: Set<number>;
      dow: DayOfWeekRule;
      years: Set<number>;
    }
  | { kind: 'rate'; everyMs: number }
  | { kind: 'at'; wall: Wall };

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
const MIN_YEAR = 1970;
const MAX_YEAR = 2199;

function number(text: string, field: string, lo: number, hi: number, names?: string[]): number {
  const upper = text.toUpperCase();
  const named = names?.indexOf(upper) ?? -1;
  const n = named >= 0 ? named + 1 : /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(n) || n < lo || n > hi)
    throw new ScheduleExpressionError(`cron(): ${field} "${text}" is not in ${lo}-${hi}`);
  return n;
}

/** A field of values (`, - * /`, names where the field has them); ranges may wrap (FRI-MON). */
function valueSet(text: string, field: string, lo: number, hi: number, names?: string[]): Set<number> {
  const out = new Set<number>();
  for (const item of text.split(',')) {
    if (item === '') throw new ScheduleExpressionError(`cron(): ${field} has an empty list item`);
    const [range = '', stepText] = item.split('/');
    if (item.split('/').length > 2)
      throw new ScheduleExpressionError(`cron(): ${field} "${item}" has two "/"`);
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) < 1)
        throw new ScheduleExpressionError(`cron(): ${field} step "${stepText}" must be a whole number ≥ 1`);
      step = Number(stepText);
    }
    let from: number;
    let to: number;
    if (range === '*') {
      from = lo;
      to = hi;
    } else if (range.includes('-')) {
      const [a = '', b = ''] = range.split('-');
      from = number(a, field, lo, hi, names);
      to = number(b, field, lo, hi, names);
    } else {
      from = number(range, field, lo, hi, names);
      // `a/n` runs from a to the end of the field (`1/10` in minutes: 1, 11, 21, …).
      to = stepText !== undefined ? hi : from;
    }
    const span = to >= from ? to - from : hi - from + (to - lo) + 1;
    for (let i = 0; i <= span; i += step) out.add(((from - lo + i) % (hi - lo + 1)) + lo);
  }
  return out;
}

function dayOfMonth(text: string): DayOfMonthRule {
  if (text === '?') return { kind: 'any' };
  if (text === 'L') return { kind: 'last' };
  if (text === 'LW') return { kind: 'lastWeekday' };
  const w = /^(\d+)W$/.exec(text);
  if (w) return { kind: 'nearestWeekday', day: number(w[1] ?? '', 'day-of-month', 1, 31) };
  if (/[LW#]/i.test(text))
    throw new ScheduleExpressionError(`cron(): day-of-month "${text}": use L, LW or nW on their own`);
  return { kind: 'set', values: valueSet(text, 'day-of-month', 1, 31) };
}

function dayOfWeek(text: string): DayOfWeekRule {
  if (text === '?') return { kind: 'any' };
  if (text.toUpperCase() === 'L') return { kind: 'set', values: new Set([7]) };
  const last = /^([A-Za-z]{3}|\d)L$/.exec(text);
  if (last) return { kind: 'lastOf', dow: number(last[1] ?? '', 'day-of-week', 1, 7, DAYS) };
  if (text.includes('#')) {
    const nth = /^([A-Za-z]{3}|\d)#(\d)$/.exec(text);
    if (!nth)
      throw new ScheduleExpressionError(
        `cron(): day-of-week "${text}": "#" takes one expression only, like 3#2 (the second Tuesday)`,
      );
    const n = Number(nth[2]);
    if (n < 1 || n > 5)
      throw new ScheduleExpressionError(`cron(): day-of-week "${text}": the week must be 1-5`);
    return { kind: 'nth', dow: number(nth[1] ?? '', 'day-of-week', 1, 7, DAYS), n };
  }
  if (/L/i.test(text.replace(/[A-Za-z]{3}/g, (m) => (DAYS.includes(m.toUpperCase()) ? '' : m))))
    throw new ScheduleExpressionError(`cron(): day-of-week "${text}": use L or nL on their own`);
  return { kind: 'set', values: valueSet(text, 'day-of-week', 1, 7, DAYS) };
}

/** Parses an EventBridge Scheduler expression; throws ScheduleExpressionError naming the problem. */
export function parseScheduleExpression(expression: string): ParsedExpression {
  const cron = /^cron\((.*)\)$/.exec(expression.trim());
  if (cron) {
    const fields = (cron[1] ?? '').trim().split(/\s+/);
    if (fields.length !== 6)
      throw new ScheduleExpressionError(
        `cron() takes 6 fields (minutes hours day-of-month month day-of-week year), got ${fields.length}`,
      );
    const [mi = '', h = '', dom = '', mo = '', dow = '', y = ''] = fields;
    if ((dom === '?') === (dow === '?'))
      throw new ScheduleExpressionError(
        'cron(): exactly one of day-of-month and day-of-week must be "?" (the other says which days)',
      );
    return {
      kind: 'cron',
      minutes: valueSet(mi, 'minutes', 0, 59),
      hours: valueSet(h, 'hours', 0, 23),
      dom: dayOfMonth(dom),
      months: valueSet(mo, 'month', 1, 12, MONTHS),
      dow: dayOfWeek(dow),
      years: valueSet(y, 'year', MIN_YEAR, MAX_YEAR),
    };
  }
  const rate = /^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$/.exec(expression.trim());
  if (rate) {
    const n = Number(rate[1]);
    if (n < 1) throw new ScheduleExpressionError('rate(): the value must be at least 1');
    const unit = (rate[2] ?? '').replace(/s$/, '');
    const ms = unit === 'minute' ? 60_000 : unit === 'hour' ? 3_600_000 : 86_400_000;
    return { kind: 'rate', everyMs: n * ms };
  }
  const at = /^at\((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\)$/.exec(expression.trim());
  if (at) {
    const [, y, mo, d, h, mi, s] = at.map(Number) as number[];
    const wall = {
      year: y as number,
      month: mo as number,
      day: d as number,
      hour: h as number,
      minute: mi as number,
      second: s as number,
    };
    const probe = new Date(
      Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute, wall.second),
    );
    if (
      probe.getUTCMonth() !== wall.month - 1 ||
      probe.getUTCDate() !== wall.day ||
      wall.hour > 23 ||
      wall.minute > 59 ||
      wall.second > 59
    )
      throw new ScheduleExpressionError(`at(): ${expression} is not a real date and time`);
    return { kind: 'at', wall };
  }
  throw new ScheduleExpressionError(
    'must be "cron(...)", "rate(...)" or "at(yyyy-mm-ddThh:mm:ss)" in EventBridge syntax',
  );
}

// ---- time zones ----------------------------------------------------------------------------

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone: tz,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch {
      throw new ScheduleExpressionError(`unknown time zone "${tz}"`);
    }
    formatters.set(tz, f);
  }
  return f;
}

/** The wall-clock time at an instant in a time zone. */
export function wallTime(instant: number, tz: string): Wall {
  const parts: Record<string, number> = {};
  for (const p of formatter(tz).formatToParts(new Date(instant)))
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  return {
    year: parts.year ?? 0,
    month: parts.month ?? 0,
    day: parts.day ?? 0,
    hour: (parts.hour ?? 0) % 24,
    minute: parts.minute ?? 0,
    second: parts.second ?? 0,
  };
}

function wallUtc(w: Wall): number {
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
}

/**
 * The first instant whose wall-clock time in `tz` is `w`, or undefined when there is none (the
 * clocks jumped over it). Offsets a day either side cover any one transition.
 */
export function firstInstantOf(w: Wall, tz: string): number | undefined {
  const guess = wallUtc(w);
  const found: number[] = [];
  for (const probe of [guess - 86_400_000, guess, guess + 86_400_000]) {
    const offset = wallUtc(wallTime(probe, tz)) - Math.floor(probe / 1000) * 1000;
    const t = guess - offset;
    if (wallUtc(wallTime(t, tz)) === guess) found.push(t);
  }
  return found.length ? Math.min(...found) : undefined;
}

// ---- next firing ---------------------------------------------------------------------------

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** 1 = Sunday … 7 = Saturday, as EventBridge numbers days of the week. */
function weekday(year: number, month: number, day: number): number {
  return new Date(Date.UTC(year, month - 1, day)).getUTCDay() + 1;
}

function nearestWeekday(year: number, month: number, target: number): number {
  const last = daysIn(year, month);
  const d = Math.min(target, last);
  const wd = weekday(year, month, d);
  if (wd >= 2 && wd <= 6) return d;
  // Saturday: the Friday before, unless that leaves the month (then the Monday after).
  if (wd === 7) return d > 1 ? d - 1 : d + 2;
  // Sunday: the Monday after, unless that leaves the month (then the Friday before).
  return d < last ? d + 1 : d - 2;
}

function dayMatches(
  p: Extract<ParsedExpression, { kind: 'cron' }>,
  y: number,
  m: number,
  d: number,
): boolean {
  const last = daysIn(y, m);
  switch (p.dom.kind) {
    case 'any':
      break;
    case 'set':
      if (!p.dom.values.has(d)) return false;
      break;
    case 'last':
      if (d !== last) return false;
      break;
    case 'lastWeekday':
      if (d !== nearestWeekday(y, m, last)) return false;
      break;
    case 'nearestWeekday':
      if (p.dom.day > last || d !== nearestWeekday(y, m, p.dom.day)) return false;
      break;
  }
  const wd = weekday(y, m, d);
  switch (p.dow.kind) {
    case 'any':
      return true;
    case 'set':
      return p.dow.values.has(wd);
    case 'lastOf':
      return wd === p.dow.dow && d + 7 > last;
    case 'nth':
      return wd === p.dow.dow && Math.ceil(d / 7) === p.dow.n;
  }
}

export interface ScheduleSpec {
  expression: string;
  /** IANA time zone the expression is read in (default UTC). */
  timezone?: string;
}

/**
 * The first firing strictly after `after`, or undefined when there is none (an `at()` in the past,
 * a cron whose years are over). `anchor` is when a rate schedule started (default: `after`, so
 * the next firing is one period on).
 */
export function nextFireTime(spec: ScheduleSpec, after: Date, anchor?: Date): Date | undefined {
  const p = parseScheduleExpression(spec.expression);
  const tz = spec.timezone ?? 'UTC';
  const t = after.getTime();
  if (p.kind === 'rate') {
    const a = (anchor ?? after).getTime();
    if (a > t) return new Date(a);
    return new Date(a + (Math.floor((t - a) / p.everyMs) + 1) * p.everyMs);
  }
  if (p.kind === 'at') {
    const at = firstInstantOf(p.wall, tz);
    return at !== undefined && at > t ? new Date(at) : undefined;
  }
  const start = wallTime(t, tz);
  let y = start.year;
  let m = start.month;
  let d = start.day;
  let first = true;
  while (y <= MAX_YEAR) {
    if (!p.years.has(y)) {
      y++;
      m = 1;
      d = 1;
      first = false;
      continue;
    }
    if (!p.months.has(m) || d > daysIn(y, m)) {
      m++;
      d = 1;
      if (m > 12) {
        m = 1;
        y++;
      }
      first = false;
      continue;
    }
    if (dayMatches(p, y, m, d)) {
      for (let h = first ? start.hour : 0; h < 24; h++) {
        if (!p.hours.has(h)) continue;
        for (let mi = 0; mi < 60; mi++) {
          if (!p.minutes.has(mi)) continue;
          const at = firstInstantOf({ year: y, month: m, day: d, hour: h, minute: mi, second: 0 }, tz);
          // Not there (clocks went forward), or already past: its repeat after clocks go back
          // does not fire again.
          if (at !== undefined && at > t) return new Date(at);
        }
      }
    }
    d++;
    first = false;
  }
  return undefined;
}

/**
 * Every firing in (`after`, `until`], oldest first, at most `limit` (what a server that was down
 * missed).
 */
export function firingsBetween(
  spec: ScheduleSpec,
  after: Date,
  until: Date,
  anchor?: Date,
  limit = 1000,
): Date[] {
  const out: Date[] = [];
  let cursor = after;
  while (out.length < limit) {
    const next = nextFireTime(spec, cursor, anchor);
    if (!next || next.getTime() > until.getTime()) break;
    out.push(next);
    cursor = next;
  }
  return out;
}
