/**
 * Business calendars on the command line: where a definition's calendars are found
 * (`calendars/<name>.json` beside the definitions: in the definition's folder or the one above it,
 * which covers both `DIR/*.json` and `DIR/*\/workflow.json`), and `rsqlo calendar NAME`, which
 * lists the next calendar days, or with `--workflow ID` the next firings of that workflow's
 * schedule on calendar days (in the schedule's time zone, across DST changes).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { type Calendar, parseCalendarText } from '../contracts/calendar.js';
import type { WorkflowDefinition } from '../contracts/workflow.js';
import { dateIn, nextCalendarDays, nextCalendarFireTimes } from '../services/scheduler/calendar.js';
import { parse, UsageError } from './command-kit.js';
import { EXIT, type Io } from './drive.js';

/** The folder beside the definitions that holds the calendars. */
export const CALENDARS_DIR = 'calendars';

export type CalendarsResult =
  | { ok: true; calendars: Map<string, Calendar> }
  | { ok: false; problems: string[] };

/** Every calendar in `<dir>/calendars/*.json` (none when there is no such folder), all valid or the problems. */
export function loadCalendars(dir: string): CalendarsResult {
  const folder = path.join(dir, CALENDARS_DIR);
  let names: string[];
  try {
    names = readdirSync(folder, { withFileTypes: true })
      .filter((e) => e.isFile() && e.name.endsWith('.json'))
      .map((e) => e.name)
      .sort();
  } catch {
    return { ok: true, calendars: new Map() };
  }
  const calendars = new Map<string, Calendar>();
  const problems: string[] = [];
  for (const n of names) {
    const file = path.join(folder, n);
    const name = n.slice(0, -'.json'.length);
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) {
      problems.push(`${file}: a calendar's name may only contain letters, digits, "_" and "-"`);
      continue;
    }
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      problems.push(`${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      continue;
    }
    const r = parseCalendarText(text);
    if (r.ok) calendars.set(name, r.calendar);
    else
      problems.push(
        `${file}: invalid calendar\n${r.issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`,
      );
  }
  return problems.length ? { ok: false, problems } : { ok: true, calendars };
}

/**
 * The calendar a definition read from `file` names: `calendars/<name>.json` in the file's folder
 * or the one above. Undefined when the definition names none; an error message when it cannot be
 * found or is invalid.
 */
export function calendarFor(
  def: WorkflowDefinition,
  file: string,
): { calendar: Calendar | undefined } | { error: string } {
  if (def.calendar === undefined) return { calendar: undefined };
  const here = path.dirname(path.resolve(file));
  for (const dir of [here, path.dirname(here)]) {
    const r = loadCalendars(dir);
    if (!r.ok) return { error: r.problems.join('\n') };
    const c = r.calendars.get(def.calendar);
    if (c) return { calendar: c };
  }
  return {
    error: `${file}: calendar: names calendar "${def.calendar}", but there is no ${CALENDARS_DIR}/${def.calendar}.json beside the definition (in ${here} or ${path.dirname(here)})`,
  };
}

const WEEKDAY = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

/** `rsqlo calendar NAME [--workflows DIR] [--workflow ID] [--next N] [--from TIME] [--json]`. */
export async function calendarCommand(argv: string[], io: Io): Promise<number> {
  const { positionals, values } = parse(argv, {
    workflows: { type: 'string' },
    workflow: { type: 'string' },
    next: { type: 'string' },
    from: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (positionals.length !== 1) throw new UsageError('calendar takes one calendar name');
  const name = positionals[0] as string;
  const dir = (values.workflows as string | undefined) ?? '.';
  const count = Number(values.next ?? '10');
  if (!Number.isInteger(count) || count < 1 || count > 1000)
    throw new UsageError(`--next must be a whole number from 1 to 1000, got "${values.next}"`);
  const from = values.from === undefined ? new Date() : new Date(values.from as string);
  if (Number.isNaN(from.getTime()))
    throw new UsageError(`--from must be a time like 2026-03-25T00:00:00Z, got "${values.from}"`);

  const loaded = loadCalendars(dir);
  if (!loaded.ok) {
    io.stderr.write(`${loaded.problems.join('\n')}\n`);
    return EXIT.usage;
  }
  const calendar = loaded.calendars.get(name);
  if (!calendar) {
    const known = [...loaded.calendars.keys()];
    io.stderr.write(
      `rsqlo: no calendar "${name}" in ${path.join(dir, CALENDARS_DIR)}${known.length ? ` (there: ${known.join(', ')})` : ''}\n`,
    );
    return EXIT.usage;
  }

  const workflowId = values.workflow as string | undefined;
  if (workflowId === undefined) {
    // No schedule to combine with: the calendar's own days, from the day of --from in UTC.
    const days = nextCalendarDays(calendar, dateIn(from), count);
    if (values.json === true) io.stdout.write(`${JSON.stringify({ calendar: name, days }, null, 2)}\n`);
    else {
      io.stdout.write(`calendar ${name}: the next ${days.length} calendar day(s) from ${dateIn(from)}\n`);
      for (const d of days) io.stdout.write(`  ${d} ${WEEKDAY[new Date(`${d}T00:00:00Z`).getUTCDay()]}\n`);
    }
    return 0;
  }

  // The workflow's schedule: from the folder's definitions (as `rsqlo serve --workflows` loads them).
  const { loadWorkflows } = await import('./serve.js');
  const wf = loadWorkflows(dir);
  if (!wf.ok) {
    io.stderr.write(`${wf.problems.join('\n')}\n`);
    return EXIT.usage;
  }
  const def = wf.loaded.find((l) => l.definition.workflow_id === workflowId)?.definition;
  if (!def) {
    io.stderr.write(`rsqlo: no workflow "${workflowId}" in ${dir}\n`);
    return EXIT.usage;
  }
  const s = def.schedule;
  if (s === undefined) {
    io.stderr.write(`rsqlo: workflow ${workflowId} has no schedule\n`);
    return EXIT.usage;
  }
  const spec = typeof s === 'string' ? { expression: s } : { expression: s.expression, timezone: s.timezone };
  const times = nextCalendarFireTimes(spec, calendar, from, count);
  const tz = spec.timezone ?? 'UTC';
  if (values.json === true)
    io.stdout.write(
      `${JSON.stringify({ calendar: name, workflow_id: workflowId, expression: spec.expression, timezone: tz, fire_times: times.map((t) => t.toISOString()) }, null, 2)}\n`,
    );
  else {
    io.stdout.write(
      `${workflowId} (${spec.expression} ${tz}) on calendar ${name}: the next ${times.length} firing(s)\n`,
    );
    for (const t of times) io.stdout.write(`  ${t.toISOString()}  ${localTime(t, tz)}\n`);
  }
  return 0;
}

/** `2026-03-30 06:00 Mon CEST`: the firing as read in its time zone. */
export function localTime(t: Date, tz: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-GB', {
      timeZone: tz,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      weekday: 'short',
      timeZoneName: 'short',
      hourCycle: 'h23',
    })
      .formatToParts(t)
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute} ${parts.weekday} ${parts.timeZoneName} (${tz})`;
}
