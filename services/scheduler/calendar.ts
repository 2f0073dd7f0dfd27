/**
 * Business calendars over schedules (contracts/calendar.ts says what a calendar file holds): which
 * days are calendar days, and the firings of a schedule that fall on them. Pure: the local
 * scheduler, the starter (which refuses a scheduled request for a non-calendar day on AWS),
 * `rsqlo plan` and `rsqlo calendar` all ask here.
 *
 * The day of a firing is its date in the schedule's time zone (UTC when it names none), so a
 * 00:30 Europe/Berlin firing on 25 Dec is a 25 Dec firing although it is still 24 Dec in UTC.
 */
import { type Calendar, WEEKDAYS, type Weekday } from '../../contracts/calendar.js';
import { firstInstantOf, nextFireTime, type ScheduleSpec, wallTime } from './expression.js';

/** A date as a calendar names it: `yyyy-mm-dd`. */
export type IsoDate = string;

/** Days looked at before concluding a calendar has no further day (ten years). */
export const CALENDAR_HORIZON_DAYS = 3660;

function isoDate(y: number, m: number, d: number): IsoDate {
  return `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
}

function weekdayOf(date: IsoDate): Weekday {
  // getUTCDay: 0 = Sunday; WEEKDAYS starts on Monday.
  const day = new Date(`${date}T00:00:00Z`).getUTCDay();
  return WEEKDAYS[(day + 6) % 7] as Weekday;
}

/** The day after `date`. */
export function nextDate(date: IsoDate): IsoDate {
  const t = new Date(`${date}T00:00:00Z`);
  t.setUTCDate(t.getUTCDate() + 1);
  return t.toISOString().slice(0, 10);
}

/**
 * Whether `date` is a calendar day: listed in `include`, or on one of `weekdays` (default: all
 * seven) and not listed in `exclude`.
 */
export function isCalendarDay(calendar: Calendar, date: IsoDate): boolean {
  if (calendar.include?.includes(date)) return true;
  if (calendar.exclude?.includes(date)) return false;
  return (calendar.weekdays ?? WEEKDAYS).includes(weekdayOf(date));
}

/** The date of an instant in a time zone (default UTC). */
export function dateIn(instant: Date, timezone = 'UTC'): IsoDate {
  const w = wallTime(instant.getTime(), timezone);
  return isoDate(w.year, w.month, w.day);
}

/** The first instant of `date` in `timezone` (midnight, or the first hour that exists that day). */
function startOfDate(date: IsoDate, timezone: string): number {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  for (let hour = 0; hour < 24; hour++) {
    const t = firstInstantOf({ year: y, month: m, day: d, hour, minute: 0, second: 0 }, timezone);
    if (t !== undefined) return t;
  }
  throw new Error(`${date} has no hour in ${timezone}`);
}

/**
 * Whether a firing at `at` of a schedule in `timezone` falls on a calendar day (what the starter
 * checks of a scheduled request on AWS).
 */
export function firesOnCalendarDay(calendar: Calendar, at: Date, timezone?: string): boolean {
  return isCalendarDay(calendar, dateIn(at, timezone));
}

/**
 * The first firing of `spec` strictly after `after` that falls on a calendar day (any firing
 * without a calendar), or undefined when there is none within {@link CALENDAR_HORIZON_DAYS}. A
 * firing on a non-calendar day is skipped, and so is the rest of that day.
 */
export function nextCalendarFireTime(
  spec: ScheduleSpec,
  calendar: Calendar | undefined,
  after: Date,
  anchor?: Date,
): Date | undefined {
  const tz = spec.timezone ?? 'UTC';
  let cursor = after;
  const limit = after.getTime() + CALENDAR_HORIZON_DAYS * 86_400_000;
  for (;;) {
    const next = nextFireTime(spec, cursor, anchor);
    if (!next || !calendar) return next;
    const day = dateIn(next, tz);
    if (isCalendarDay(calendar, day)) return next;
    // Nothing more that day: look from the last millisecond before the next day starts.
    cursor = new Date(startOfDate(nextDate(day), tz) - 1);
    if (cursor.getTime() > limit) return undefined;
  }
}

/** The next `count` firings on calendar days, oldest first (fewer when the schedule ends). */
export function nextCalendarFireTimes(
  spec: ScheduleSpec,
  calendar: Calendar | undefined,
  after: Date,
  count: number,
  anchor?: Date,
): Date[] {
  const out: Date[] = [];
  let cursor = after;
  while (out.length < count) {
    const next = nextCalendarFireTime(spec, calendar, cursor, anchor);
    if (!next) break;
    out.push(next);
    cursor = next;
  }
  return out;
}

/**
 * The next `count` calendar days from `from` (inclusive), within {@link CALENDAR_HORIZON_DAYS}:
 * what `rsqlo calendar NAME` lists when no workflow's schedule is given.
 */
export function nextCalendarDays(calendar: Calendar, from: IsoDate, count: number): IsoDate[] {
  const out: IsoDate[] = [];
  let day = from;
  for (let i = 0; i < CALENDAR_HORIZON_DAYS && out.length < count; i++, day = nextDate(day))
    if (isCalendarDay(calendar, day)) out.push(day);
  return out;
}
