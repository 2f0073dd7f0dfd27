import { describe, expect, it } from 'vitest';
import { type Calendar, parseCalendarText, validateCalendar } from '../../contracts/calendar.js';
import {
  dateIn,
  firesOnCalendarDay,
  isCalendarDay,
  nextCalendarDays,
  nextCalendarFireTime,
  nextCalendarFireTimes,
} from './calendar.js';

const businessDays: Calendar = {
  weekdays: ['mon', 'tue', 'wed', 'thu', 'fri'],
  exclude: ['2026-03-27', '2026-10-26', '2026-12-25'],
  include: ['2026-10-24'],
};

const iso = (ds: Date[]) => ds.map((d) => d.toISOString());

describe('calendar days', () => {
  it('weekdays minus exclude plus include', () => {
    expect(isCalendarDay(businessDays, '2026-03-26')).toBe(true); // Thursday
    expect(isCalendarDay(businessDays, '2026-03-27')).toBe(false); // Friday, excluded
    expect(isCalendarDay(businessDays, '2026-03-28')).toBe(false); // Saturday
    expect(isCalendarDay(businessDays, '2026-10-24')).toBe(true); // Saturday, included
  });

  it('defaults to all seven weekdays, so exclude alone is a holiday list', () => {
    const holidays: Calendar = { exclude: ['2026-12-25'] };
    expect(isCalendarDay(holidays, '2026-12-26')).toBe(true);
    expect(isCalendarDay(holidays, '2026-12-25')).toBe(false);
  });

  it('reads the day in the schedule time zone, not UTC', () => {
    // 23:30 UTC on 24 Dec is 00:30 on 25 Dec in Berlin.
    const at = new Date('2026-12-24T23:30:00Z');
    expect(dateIn(at, 'Europe/Berlin')).toBe('2026-12-25');
    expect(dateIn(at)).toBe('2026-12-24');
    expect(firesOnCalendarDay(businessDays, at, 'Europe/Berlin')).toBe(false);
    expect(firesOnCalendarDay(businessDays, at)).toBe(true);
  });

  it('lists the next calendar days from a date (inclusive)', () => {
    expect(nextCalendarDays(businessDays, '2026-12-23', 4)).toEqual([
      '2026-12-23',
      '2026-12-24',
      '2026-12-28',
      '2026-12-29',
    ]);
  });
});

describe('schedule firings on calendar days', () => {
  const spec = { expression: 'cron(30 6 ? * * *)', timezone: 'Europe/Berlin' };

  it('skips excluded and non-weekdays across the spring DST change (Berlin, 29 Mar 2026)', () => {
    const got = nextCalendarFireTimes(spec, businessDays, new Date('2026-03-25T00:00:00Z'), 5);
    expect(iso(got)).toEqual([
      '2026-03-25T05:30:00.000Z', // CET, UTC+1
      '2026-03-26T05:30:00.000Z',
      // 27 excluded, 28/29 weekend; clocks go forward on the 29th
      '2026-03-30T04:30:00.000Z', // CEST, UTC+2
      '2026-03-31T04:30:00.000Z',
      '2026-04-01T04:30:00.000Z',
    ]);
  });

  it('across the autumn DST change (Berlin, 25 Oct 2026), with an included Saturday', () => {
    const got = nextCalendarFireTimes(spec, businessDays, new Date('2026-10-22T12:00:00Z'), 4);
    expect(iso(got)).toEqual([
      '2026-10-23T04:30:00.000Z', // Friday, CEST
      '2026-10-24T04:30:00.000Z', // Saturday, included
      // Sunday 25th (clocks go back), Monday 26th excluded
      '2026-10-27T05:30:00.000Z', // CET
      '2026-10-28T05:30:00.000Z',
    ]);
  });

  it('a rate schedule fires only on calendar days, keeping its anchor', () => {
    const anchor = new Date('2026-03-27T22:00:00Z');
    const got = nextCalendarFireTime(
      { expression: 'rate(6 hours)' },
      businessDays,
      new Date('2026-03-27T22:00:00Z'),
      anchor,
    );
    // Friday 27 is excluded, the weekend too: the first firing of Monday 30 Mar (UTC).
    expect(got?.toISOString()).toBe('2026-03-30T04:00:00.000Z');
  });

  it('without a calendar, every firing counts', () => {
    const got = nextCalendarFireTimes(spec, undefined, new Date('2026-03-27T00:00:00Z'), 2);
    expect(iso(got)).toEqual(['2026-03-27T05:30:00.000Z', '2026-03-28T05:30:00.000Z']);
  });

  it('a calendar whose days never meet the schedule ends instead of looping', () => {
    const sundaysOnly: Calendar = { weekdays: ['sun'] };
    const weekdaysCron = { expression: 'cron(0 6 ? * MON-FRI *)' };
    expect(nextCalendarFireTime(weekdaysCron, sundaysOnly, new Date('2026-01-01T00:00:00Z'))).toBeUndefined();
  });
});

describe('calendar contract', () => {
  it('accepts the documented shape', () => {
    expect(validateCalendar(businessDays).ok).toBe(true);
  });

  it('refuses unknown fields, bad weekdays, unreal dates, contradictions and empty calendars', () => {
    const problems = (v: unknown) => {
      const r = validateCalendar(v);
      return r.ok ? [] : r.issues.map((i) => `${i.path}: ${i.message}`);
    };
    expect(problems({ weekday: ['mon'] })).toEqual(['(root): unknown field "weekday"']);
    expect(problems({ weekdays: ['monday'] })[0]).toMatch(/^weekdays\[0\]: must be one of mon, tue/);
    expect(problems({ exclude: ['2026-02-30'] })).toEqual([
      'exclude[0]: must be a real date "yyyy-mm-dd", got "2026-02-30"',
    ]);
    expect(problems({ exclude: ['2026-12-25'], include: ['2026-12-25'] })).toEqual([
      'include[0]: 2026-12-25 is also in "exclude"',
    ]);
    expect(problems({ weekdays: [] })).toEqual([
      'weekdays: the calendar has no days: name weekdays, or dates in "include"',
    ]);
  });

  it('refuses a key written twice and broken JSON', () => {
    const dup = parseCalendarText('{"exclude": ["2026-12-25"], "exclude": []}');
    expect(dup.ok).toBe(false);
    const broken = parseCalendarText('{"exclude": [');
    expect(broken.ok ? '' : broken.issues[0]?.message).toMatch(/not valid JSON at line 1/);
  });
});
