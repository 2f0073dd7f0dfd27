/**
 * A workflow's service-level lines (issue 15): `"sla": {"finish_by": "06:00", "start_by": "02:30",
 * "timezone": "Europe/Berlin", "max_duration_seconds": 3600}`, each optional. Crossing a line while
 * a run is active emits `SlaMissed` (contracts/events.ts) once per run and kind; services/sla says
 * how each line is placed in time (midnight, DST). Strict like the rest of the definition: a
 * misspelt field is refused, not ignored.
 */
import { z } from 'zod';

/** A wall-clock time `HH:MM` (24 h, leading zeros), as a schedule's users write it. */
export const WallClock = z
  .string({ error: 'must be a time "HH:MM" (24-hour clock)' })
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, {
    error: (iss) => `must be a time "HH:MM" (24-hour clock, 00:00–23:59), got ${JSON.stringify(iss.input)}`,
  });

/** Longest max_duration_seconds: a run's deadline is at most 364 days (services/starter/deadline.ts). */
export const MAX_SLA_DURATION_SECONDS = 364 * 86_400;

/** Whether `tz` is an IANA time zone this runtime knows (Intl). */
export function isIanaTimeZone(tz: string): boolean {
  if (tz.length === 0) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export const Sla = z.strictObject(
  {
    /** The run must have finished by the next occurrence of this wall-clock time after its start. */
    finish_by: WallClock.optional(),
    /** A scheduled run must have started by this wall-clock time on the day its schedule was due. */
    start_by: WallClock.optional(),
    /** The zone the wall-clock times are read in (IANA name); default UTC. */
    timezone: z
      .string({ error: 'must be an IANA time zone name such as "Europe/Berlin"' })
      .refine(isIanaTimeZone, {
        error: (iss) =>
          `unknown time zone ${JSON.stringify(iss.input)} (an IANA name such as "Europe/Berlin")`,
      })
      .optional(),
    /** The run must have finished this many seconds after it started. */
    max_duration_seconds: z
      .number({ error: 'max_duration_seconds must be a number of seconds' })
      .int({ error: 'max_duration_seconds must be a whole number of seconds' })
      .positive({ error: 'max_duration_seconds must be at least 1' })
      .max(MAX_SLA_DURATION_SECONDS, {
        error: `max_duration_seconds must be at most ${MAX_SLA_DURATION_SECONDS} (364 days)`,
      })
      .optional(),
  },
  {
    error: (iss) =>
      iss.code === 'unrecognized_keys'
        ? `unknown field ${iss.keys.map((k) => JSON.stringify(k)).join(', ')} (sla takes finish_by, start_by, timezone, max_duration_seconds)`
        : 'must be an object such as { "finish_by": "06:00", "timezone": "Europe/Berlin" }',
  },
);
export type Sla = z.infer<typeof Sla>;

/** The kinds of SlaMissed. */
export const SLA_KINDS = ['finish_by', 'start_by', 'max_duration'] as const;
export type SlaKind = (typeof SLA_KINDS)[number];
