import { describe, expect, it } from 'vitest';
import {
  firingsBetween,
  nextFireTime,
  parseScheduleExpression,
  ScheduleExpressionError,
} from './expression.js';

const at = (iso: string) => new Date(iso);
const next = (expression: string, after: string, timezone?: string) =>
  nextFireTime({ expression, timezone }, at(after))?.toISOString();

describe('EventBridge Scheduler expressions, evaluated locally', () => {
  // "Cron expressions have six required fields … Minutes 0-59 , - * / | Hours 0-23 , - * / |
  // Day-of-month 1-31 , - * ? / L W | Month 1-12 or JAN-DEC , - * / | Day-of-week 1-7 or SUN-SAT
  // , - * ? L # | Year 1970-2199 , - * /" — Amazon EventBridge User Guide, Cron expressions reference.
  it('reads the six fields, names, ranges, lists and steps', () => {
    expect(next('cron(0 10 * * ? *)', '2026-03-04T09:59:00Z')).toBe('2026-03-04T10:00:00.000Z');
    expect(next('cron(0 10 * * ? *)', '2026-03-04T10:00:00Z')).toBe('2026-03-05T10:00:00.000Z');
    expect(next('cron(15 12 * * ? *)', '2026-03-04T13:00:00Z')).toBe('2026-03-05T12:15:00.000Z');
    // "0 18 ? * MON-FRI *": 6:00 PM Monday through Friday. 2026-03-07 is a Saturday.
    expect(next('cron(0 18 ? * MON-FRI *)', '2026-03-06T18:00:00Z')).toBe('2026-03-09T18:00:00.000Z');
    // "0 8 1 * ? *": 8:00 AM on the first day of the month.
    expect(next('cron(0 8 1 * ? *)', '2026-03-01T08:00:00Z')).toBe('2026-04-01T08:00:00.000Z');
    // "In the Minutes field, you could enter 1/10 to specify every tenth minute, starting from the
    // first minute of the hour (for example, the 11th, 21st, and 31st minute, and so on)."
    expect(next('cron(1/10 * * * ? *)', '2026-03-04T10:01:00Z')).toBe('2026-03-04T10:11:00.000Z');
    expect(next('cron(1/10 * * * ? *)', '2026-03-04T10:51:00Z')).toBe('2026-03-04T11:01:00.000Z');
    // "In the Month field, JAN,FEB,MAR includes January, February, and March."
    expect(next('cron(0 0 1 JAN,FEB,MAR ? *)', '2026-03-02T00:00:00Z')).toBe('2027-01-01T00:00:00.000Z');
    // Day-of-week: 1 is Sunday ("1-7 or SUN-SAT").
    expect(next('cron(0 0 ? * 1 *)', '2026-03-04T00:00:00Z')).toBe('2026-03-08T00:00:00.000Z');
    // Years end the schedule.
    expect(next('cron(0 0 1 1 ? 2027)', '2027-01-01T00:00:00Z')).toBeUndefined();
  });

  it('L, W and #', () => {
    // "The L wildcard in the Day-of-month or Day-of-week fields specifies the last day of the month or week."
    expect(next('cron(0 0 L * ? *)', '2026-02-01T00:00:00Z')).toBe('2026-02-28T00:00:00.000Z');
    expect(next('cron(0 0 L * ? *)', '2028-02-01T00:00:00Z')).toBe('2028-02-29T00:00:00.000Z');
    expect(next('cron(0 0 ? * L *)', '2026-03-04T00:00:00Z')).toBe('2026-03-07T00:00:00.000Z'); // Saturday
    // "In the Day-of-month field, 3W specifies the weekday closest to the third day of the month."
    // 2026-05-03 is a Sunday: the closest weekday is Monday the 4th.
    expect(next('cron(0 0 3W * ? *)', '2026-04-30T00:00:00Z')).toBe('2026-05-04T00:00:00.000Z');
    // 2026-10-03 is a Saturday: Friday the 2nd.
    expect(next('cron(0 0 3W * ? *)', '2026-09-30T00:00:00Z')).toBe('2026-10-02T00:00:00.000Z');
    // 1W on a Saturday does not leave the month: Monday the 3rd (2026-08-01 is a Saturday).
    expect(next('cron(0 0 1W * ? *)', '2026-07-31T00:00:00Z')).toBe('2026-08-03T00:00:00.000Z');
    // "3#2 refers to the second Tuesday of the month: the 3 refers to Tuesday because it is the
    // third day of each week, and the 2 refers to the second day of that type within the month."
    expect(next('cron(0 0 ? * 3#2 *)', '2026-03-01T00:00:00Z')).toBe('2026-03-10T00:00:00.000Z');
    // 6L: the last Friday.
    expect(next('cron(0 0 ? * 6L *)', '2026-03-01T00:00:00Z')).toBe('2026-03-27T00:00:00.000Z');
  });

  it('refuses what EventBridge refuses, naming the problem', () => {
    const bad = (e: string) => () => parseScheduleExpression(e);
    // "You can't use * in both the Day-of-month and Day-of-week fields. If you use it in one, you must use ? in the other."
    expect(bad('cron(0 10 * * * *)')).toThrow(/exactly one of day-of-month and day-of-week/);
    expect(bad('cron(0 10 ? * ? *)')).toThrow(ScheduleExpressionError);
    expect(bad('cron(60 10 * * ? *)')).toThrow(/minutes "60" is not in 0-59/);
    expect(bad('cron(0 10 * * ? 2200)')).toThrow(/year "2200" is not in 1970-2199/);
    // "If you use the '#' character, you can define only one expression in the day-of-week field.
    // For example, "3#1,6#3" is not valid because it is interpreted as two expressions."
    expect(bad('cron(0 0 ? * 3#1,6#3 *)')).toThrow(/"#" takes one expression only/);
    expect(bad('cron(0 0 * * ?)')).toThrow(/6 fields/);
    expect(bad('at(2026-02-30T10:00:00)')).toThrow(/not a real date/);
    expect(bad('every day')).toThrow(/EventBridge syntax/);
    expect(() =>
      nextFireTime({ expression: 'rate(1 hour)', timezone: 'Mars/Olympus' }, new Date()),
    ).not.toThrow();
    expect(() =>
      nextFireTime({ expression: 'cron(0 0 * * ? *)', timezone: 'Mars/Olympus' }, new Date()),
    ).toThrow(/unknown time zone/);
  });

  it('reads cron in the schedule time zone', () => {
    // 09:00 in Tokyo (UTC+9, no daylight saving time) is 00:00 UTC.
    expect(next('cron(0 9 * * ? *)', '2026-03-04T00:00:00Z', 'Asia/Tokyo')).toBe('2026-03-05T00:00:00.000Z');
    // 02:00 in New York: 07:00 UTC in winter (EST), 06:00 UTC in summer (EDT).
    expect(next('cron(0 2 * * ? *)', '2026-01-10T00:00:00Z', 'America/New_York')).toBe(
      '2026-01-10T07:00:00.000Z',
    );
    expect(next('cron(0 2 * * ? *)', '2026-07-10T00:00:00Z', 'America/New_York')).toBe(
      '2026-07-10T06:00:00.000Z',
    );
  });

  // "When the time shifts forward in Spring, your schedule invocation gets skipped if the cron
  // expression falls on a non-existent date and time. When the time shifts back in the Fall, your
  // schedule runs only once and doesn't repeat its invocation." — AWS re:Post knowledge center,
  // eventbridge-scheduler-adjust-dst.
  it('daylight saving time: a time that does not exist is skipped, one that occurs twice fires once', () => {
    // 2026-03-08: New York clocks go from 02:00 to 03:00; 02:30 does not exist that day.
    expect(next('cron(30 2 * * ? *)', '2026-03-07T08:00:00Z', 'America/New_York')).toBe(
      '2026-03-09T06:30:00.000Z',
    );
    // 2026-11-01: clocks go from 02:00 back to 01:00; 01:30 happens at 05:30Z and 06:30Z.
    expect(next('cron(30 1 * * ? *)', '2026-11-01T04:00:00Z', 'America/New_York')).toBe(
      '2026-11-01T05:30:00.000Z',
    );
    // After the first 01:30, the repeat an hour later does not fire: the next is the day after.
    expect(next('cron(30 1 * * ? *)', '2026-11-01T05:30:00Z', 'America/New_York')).toBe(
      '2026-11-02T06:30:00.000Z',
    );
  });

  // "If you do not provide a StartDate for a rate-based schedule, your schedule starts invoking the
  // target immediately." … "days represents a 24-hour duration on the clock."
  it('rate: from its start, every period; a day is 24 hours whatever the clocks do', () => {
    const start = at('2026-03-07T12:00:00Z');
    const spec = { expression: 'rate(1 day)', timezone: 'America/New_York' };
    expect(nextFireTime(spec, at('2026-03-07T11:00:00Z'), start)?.toISOString()).toBe(
      '2026-03-07T12:00:00.000Z',
    );
    expect(nextFireTime(spec, start, start)?.toISOString()).toBe('2026-03-08T12:00:00.000Z');
    expect(nextFireTime(spec, at('2026-03-08T12:00:00Z'), start)?.toISOString()).toBe(
      '2026-03-09T12:00:00.000Z',
    );
    expect(nextFireTime({ expression: 'rate(5 minutes)' }, start, start)?.toISOString()).toBe(
      '2026-03-07T12:05:00.000Z',
    );
  });

  it('at(): once, in its time zone', () => {
    expect(next('at(2026-05-01T09:30:00)', '2026-04-01T00:00:00Z', 'Europe/Paris')).toBe(
      '2026-05-01T07:30:00.000Z',
    );
    expect(next('at(2026-05-01T09:30:00)', '2026-05-01T07:30:00Z', 'Europe/Paris')).toBeUndefined();
  });

  it('lists what a stopped server missed', () => {
    const missed = firingsBetween(
      { expression: 'cron(0 * * * ? *)' },
      at('2026-03-04T10:00:00Z'),
      at('2026-03-04T13:30:00Z'),
    );
    expect(missed.map((d) => d.toISOString())).toEqual([
      '2026-03-04T11:00:00.000Z',
      '2026-03-04T12:00:00.000Z',
      '2026-03-04T13:00:00.000Z',
    ]);
  });
});
