/** Time a test moves by hand, for the scheduler (runtime/local/scheduler.ts): no real waiting. */
import type { Timers } from '../../runtime/local/scheduler.js';

/** A clock the test moves, and timers that fire only when the test advances past them. */
export function fakeTime(start: string) {
  let now = new Date(start).getTime();
  const pending = new Map<number, { at: number; fn: () => void }>();
  let ids = 0;
  const timers: Timers = {
    set(fn, ms) {
      const id = ++ids;
      pending.set(id, { at: now + ms, fn });
      return id;
    },
    clear(h) {
      pending.delete(h as number);
    },
  };
  return {
    clock: { now: () => new Date(now) },
    timers,
    /** Moves the clock, firing timers in order as their times come. */
    advanceTo(iso: string) {
      const end = new Date(iso).getTime();
      for (;;) {
        const due = [...pending.entries()]
          .filter(([, t]) => t.at <= end)
          .sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        pending.delete(due[0]);
        now = Math.max(now, due[1].at);
        due[1].fn();
      }
      now = end;
    },
    pendingCount: () => pending.size,
  };
}
