import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Calendar } from '../../contracts/calendar.js';
import type { WorkflowDefinition } from '../../contracts/workflow.js';
import type { Clock } from '../../services/ports.js';
import { firesOnCalendarDay, nextCalendarFireTime } from '../../services/scheduler/calendar.js';
import {
  firingsBetween,
  nextFireTime,
  parseScheduleExpression,
  type ScheduleSpec,
} from '../../services/scheduler/expression.js';

/** A workflow's schedule as the local scheduler reads it from the definition. */
export interface LocalSchedule extends ScheduleSpec {
  workflow_id: string;
  catchup: boolean;
  /** The workflow's `calendar`: the schedule fires only on its days (in the schedule's time zone). */
  calendar?: Calendar;
}

/**
 * The schedule a definition asks for (undefined: none, or switched off with `enabled: false`),
 * with its calendar from `calendars` when it names one.
 */
export function scheduleOf(
  def: WorkflowDefinition,
  calendars?: ReadonlyMap<string, Calendar>,
): LocalSchedule | undefined {
  const s = def.schedule;
  if (s === undefined) return undefined;
  const calendar = def.calendar !== undefined ? calendars?.get(def.calendar) : undefined;
  const withCalendar = calendar ? { calendar } : {};
  if (typeof s === 'string')
    return { workflow_id: def.workflow_id, expression: s, catchup: false, ...withCalendar };
  if (s.enabled === false) return undefined;
  return {
    workflow_id: def.workflow_id,
    expression: s.expression,
    timezone: s.timezone,
    catchup: s.catchup === true,
    ...withCalendar,
  };
}

/** The firings in (`after`, `until`] on calendar days (all of them without a calendar). */
function calendarFiringsBetween(
  schedule: LocalSchedule,
  after: Date,
  until: Date,
  anchor: Date,
  limit: number,
): Date[] {
  const all = firingsBetween(schedule, after, until, anchor, limit);
  const cal = schedule.calendar;
  return cal ? all.filter((d) => firesOnCalendarDay(cal, d, schedule.timezone)) : all;
}

/** What the scheduler keeps between servers (`<home>/schedules.json`), per workflow. */
interface Kept {
  expression: string;
  timezone: string | null;
  /** When a rate schedule started (its firings are this plus whole periods). */
  anchor: string;
  /** Every firing up to this time was handled (fired, or found missed). */
  handled_until: string;
}

export interface Timers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export interface LocalSchedulerOptions {
  clock: Clock;
  /** Where firings handled are kept, so a restarted server knows what it missed. */
  stateFile: string;
  /**
   * Starts a run for a firing (a WorkflowRequested with `scheduled_time`). `late` is true for a
   * catch-up run of a firing missed while no server ran.
   */
  fire(schedule: LocalSchedule, scheduledTime: Date, late: boolean): void;
  /** Lines for the server's output. */
  notify(line: string): void;
  /** Default: the real setTimeout. Tests pass none and call `tick()` themselves. */
  timers?: Timers;
  /** Longest sleep between two looks at the clock (default 60 s: a clock change is noticed). */
  maxSleepMs?: number;
}

interface Entry {
  schedule: LocalSchedule;
  anchor: Date;
  next: Date | undefined;
}

/**
 * Fires workflow schedules while `rsqlo serve` runs, with EventBridge Scheduler's semantics (see
 * services/scheduler/expression.ts). A firing puts a request with its `scheduled_time`, so the
 * execution id is derived from it (the same firing never starts two runs) and a firing while
 * earlier runs are active is refused by the starter per `max_active_runs`, as on AWS.
 *
 * Firings missed while no server ran are not run late, unless the schedule says `catchup: true`:
 * then the latest missed firing runs once when the server starts (as a systemd timer with
 * Persistent=true does). A schedule seen for the first time (or changed) starts afresh: a rate
 * schedule fires at once, as a new EventBridge schedule without a start date does.
 */
export class LocalScheduler {
  private readonly entries = new Map<string, Entry>();
  private timer: unknown;
  private stopped = false;

  constructor(private readonly opts: LocalSchedulerOptions) {}

  /** Checks every schedule's expression and time zone; throws ScheduleExpressionError. */
  static check(schedule: LocalSchedule): void {
    parseScheduleExpression(schedule.expression);
    nextFireTime(schedule, new Date(0));
  }

  /**
   * Takes the schedules of these definitions (each with its calendar from `calendars`), handles
   * what was missed, and arms the timer.
   */
  load(defs: readonly WorkflowDefinition[], calendars?: ReadonlyMap<string, Calendar>): void {
    const now = this.opts.clock.now();
    const kept = this.read();
    for (const def of defs) {
      const schedule = scheduleOf(def, calendars);
      if (!schedule) continue;
      const prev = kept[schedule.workflow_id];
      let anchor: Date;
      let from: Date;
      if (prev && prev.expression === schedule.expression && prev.timezone === (schedule.timezone ?? null)) {
        anchor = new Date(prev.anchor);
        from = new Date(prev.handled_until);
        this.missed(schedule, anchor, from, now);
        from = now;
      } else {
        anchor = now;
        // A new rate schedule fires at its start (now); a cron or at() one at its next time.
        from =
          parseScheduleExpression(schedule.expression).kind === 'rate' ? new Date(now.getTime() - 1) : now;
      }
      this.entries.set(schedule.workflow_id, {
        schedule,
        anchor,
        next: nextCalendarFireTime(schedule, schedule.calendar, from, anchor),
      });
      kept[schedule.workflow_id] = this.keep(schedule, anchor, from);
    }
    this.write(kept);
    this.tick();
  }

  private missed(schedule: LocalSchedule, anchor: Date, from: Date, now: Date): void {
    if (from.getTime() >= now.getTime()) return;
    const missed = calendarFiringsBetween(schedule, from, now, anchor, 10_000);
    const latest = missed[missed.length - 1];
    if (!latest) return;
    const what = `${missed.length}${missed.length >= 10_000 ? ' or more' : ''} firing(s) of ${schedule.workflow_id}'s schedule (${schedule.expression}) while no server ran, the latest at ${latest.toISOString()}`;
    if (schedule.catchup) {
      this.opts.notify(`missed ${what}: running it now (catchup)`);
      this.fireSafely(schedule, latest, true);
    } else {
      this.opts.notify(`missed ${what}: not run late (set "catchup": true in the schedule to run it)`);
    }
  }

  /** When each schedule fires next (for the server's banner and tests). */
  upcoming(): Array<{ workflow_id: string; next: Date | undefined }> {
    return [...this.entries.values()].map((e) => ({ workflow_id: e.schedule.workflow_id, next: e.next }));
  }

  /**
   * Fires every schedule that is due now. When several firings of one schedule are due at once
   * (the machine slept), only the latest runs; the others are reported missed.
   */
  tick(): void {
    if (this.stopped) return;
    const now = this.opts.clock.now();
    const kept = this.read();
    let changed = false;
    for (const e of this.entries.values()) {
      if (!e.next || e.next.getTime() > now.getTime()) continue;
      const due = [e.next, ...calendarFiringsBetween(e.schedule, e.next, now, e.anchor, 10_000)];
      const latest = due[due.length - 1] as Date;
      if (due.length > 1)
        this.opts.notify(
          `${due.length - 1} earlier firing(s) of ${e.schedule.workflow_id} were due at once (the clock jumped); only the latest runs`,
        );
      this.fireSafely(e.schedule, latest, false);
      // The next firing on a calendar day (a non-calendar day's firings are skipped, not missed).
      e.next = nextCalendarFireTime(e.schedule, e.schedule.calendar, latest, e.anchor);
      kept[e.schedule.workflow_id] = this.keep(e.schedule, e.anchor, latest);
      changed = true;
    }
    if (changed) this.write(kept);
    this.arm();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.opts.timers?.clear(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    const timers = this.opts.timers;
    if (!timers || this.stopped) return;
    if (this.timer !== undefined) timers.clear(this.timer);
    this.timer = undefined;
    const nexts = [...this.entries.values()]
      .map((e) => e.next?.getTime())
      .filter((t): t is number => t !== undefined);
    if (nexts.length === 0) return;
    const wait = Math.min(...nexts) - this.opts.clock.now().getTime();
    this.timer = timers.set(() => this.tick(), Math.max(0, Math.min(wait, this.opts.maxSleepMs ?? 60_000)));
  }

  private fireSafely(schedule: LocalSchedule, at: Date, late: boolean): void {
    try {
      this.opts.fire(schedule, at, late);
    } catch (err) {
      this.opts.notify(
        `schedule of ${schedule.workflow_id} could not start its run for ${at.toISOString()}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }

  private keep(schedule: LocalSchedule, anchor: Date, handled: Date): Kept {
    return {
      expression: schedule.expression,
      timezone: schedule.timezone ?? null,
      anchor: anchor.toISOString(),
      handled_until: handled.toISOString(),
    };
  }

  private read(): Record<string, Kept> {
    try {
      const v = JSON.parse(readFileSync(this.opts.stateFile, 'utf8')) as unknown;
      return v && typeof v === 'object' ? (v as Record<string, Kept>) : {};
    } catch {
      return {};
    }
  }

  /** Whole or not at all (a crash mid-write leaves the previous file). */
  private write(kept: Record<string, Kept>): void {
    const tmp = `${this.opts.stateFile}.${process.pid}.tmp`;
    try {
      writeFileSync(tmp, `${JSON.stringify(kept, null, 2)}\n`);
      renameSync(tmp, this.opts.stateFile);
    } catch (err) {
      this.opts.notify(
        `cannot write ${this.opts.stateFile} (${err instanceof Error ? err.message : String(err)}): a restarted server may not know which firings it missed`,
      );
    }
  }
}

/** The real timers, unref'd (a schedule alone does not keep a process alive). */
export const realTimers: Timers = {
  set: (fn, ms) => setTimeout(fn, ms).unref(),
  clear: (h) => clearTimeout(h as NodeJS.Timeout),
};
