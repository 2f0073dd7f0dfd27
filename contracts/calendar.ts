/**
 * Business calendars: `calendars/<name>.json` beside the workflow definitions, named by a
 * workflow's `"calendar"`. A day is a calendar day when it is listed in `include`, or when its
 * weekday is in `weekdays` and it is not listed in `exclude`. The schedule of a workflow with a
 * calendar fires only on calendar days, the day read in the schedule's time zone
 * (services/scheduler/calendar.ts).
 */
import { z } from 'zod';
import { type ContractIssue, toContractIssues } from './common.js';
import { scanJsonText } from './json-text.js';
import { jsonErrorMessage } from './workflow.js';

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** Most dates one list may hold (a decade of holidays is a few hundred). */
export const MAX_CALENDAR_DATES = 5000;

function isRealDate(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const t = new Date(Date.UTC(y, mo - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d;
}

const CalendarDate = z.string({ error: 'must be a date "yyyy-mm-dd"' }).refine(isRealDate, {
  error: (iss) => `must be a real date "yyyy-mm-dd", got ${JSON.stringify(iss.input)}`,
});

const dates = z
  .array(CalendarDate, { error: 'must be an array of dates "yyyy-mm-dd"' })
  .max(MAX_CALENDAR_DATES, { error: `must hold at most ${MAX_CALENDAR_DATES} dates` });

const quote = (keys: readonly string[]) => keys.map((k) => JSON.stringify(k)).join(', ');

/**
 * `{"weekdays": ["mon", …], "exclude": ["2026-12-25"], "include": ["2026-12-27"]}`. `weekdays`
 * defaults to all seven (then `exclude` alone makes a holiday list); `weekdays: []` with `include`
 * makes a list of the only days. A date in both lists, or a calendar without any day, is refused.
 */
export const Calendar = z
  .strictObject(
    {
      description: z.string({ error: 'must be a string' }).optional(),
      weekdays: z
        .array(
          z.enum(WEEKDAYS, {
            error: (iss) => `must be one of ${WEEKDAYS.join(', ')}, got ${JSON.stringify(iss.input)}`,
          }),
          { error: `must be an array of weekdays (${WEEKDAYS.join(', ')})` },
        )
        .optional(),
      exclude: dates.optional(),
      include: dates.optional(),
    },
    { error: (iss) => (iss.code === 'unrecognized_keys' ? `unknown field ${quote(iss.keys)}` : undefined) },
  )
  .superRefine((c, ctx) => {
    const excluded = new Set(c.exclude ?? []);
    (c.include ?? []).forEach((d, i) => {
      if (excluded.has(d))
        ctx.addIssue({ code: 'custom', path: ['include', i], message: `${d} is also in "exclude"` });
    });
    const weekdays = c.weekdays ?? WEEKDAYS;
    if (weekdays.length === 0 && (c.include ?? []).length === 0)
      ctx.addIssue({
        code: 'custom',
        path: ['weekdays'],
        message: 'the calendar has no days: name weekdays, or dates in "include"',
      });
  });
export type Calendar = z.infer<typeof Calendar>;

export type CalendarResult = { ok: true; calendar: Calendar } | { ok: false; issues: ContractIssue[] };

/** Validates an already-parsed calendar (e.g. from the config table). */
export function validateCalendar(value: unknown): CalendarResult {
  const r = Calendar.safeParse(value);
  return r.success ? { ok: true, calendar: r.data } : { ok: false, issues: toContractIssues(r.error) };
}

/** Parses a calendar file's text; a duplicate key or broken JSON is an issue like any other. */
export function parseCalendarText(text: string): CalendarResult {
  const scan = scanJsonText(text);
  if (scan.error)
    return {
      ok: false,
      issues: [{ path: '(root)', message: jsonErrorMessage(text, new Error('not JSON')) }],
    };
  if (scan.duplicates.length > 0)
    return {
      ok: false,
      issues: scan.duplicates.map((d) => ({
        path: '(root)',
        message: `duplicate key ${JSON.stringify(d.key)}; JSON keeps only the last, so write it once`,
      })),
    };
  return validateCalendar(JSON.parse(text));
}
