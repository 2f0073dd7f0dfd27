/**
 * The exit journal: one file per run where each attempt's wrapper appends `<key>\tstarted`, then
 * its exit status (`<key>\t<code>` or `<key>\tsignal:SIG…`), and where a reclaimed attempt's late
 * wrapper appends `<key>\tlost`. What survives every crash of ours; read back after one.
 */
import { appendFileSync, linkSync, readFileSync, renameSync, unlinkSync } from 'node:fs';

/**
 * Our copy of the exit status: one line appended to the journal, written only when the wrapper
 * itself died of a signal (a SIGKILL leaves it no time to write its own).
 */
export function writeExitFile(
  path: string,
  key: string,
  code: number | null,
  signal: NodeJS.Signals | null,
): void {
  try {
    appendFileSync(path, `${key}\t${code !== null ? String(code) : `signal:${signal ?? 'unknown'}`}\n`);
  } catch {
    // the journal's directory is gone: nothing useful to do, `done` carries the outcome
  }
}

/**
 * An attempt's exit status from the exit journal after a crash: `{ exitCode }`, `{ signal }` (e.g.
 * `SIGTERM`), or undefined when it has none (still running, never ran, or its wrapper was
 * SIGKILLed with nobody left to write). The last readable line for the key wins.
 */
export function readExitFile(
  path: string,
  key: string,
): { exitCode: number } | { signal: string } | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const prefix = `${key}\t`;
  let found: { exitCode: number } | { signal: string } | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const status = line.slice(prefix.length).trim();
    if (/^-?\d+$/.test(status)) found = { exitCode: Number(status) };
    else {
      const m = /^signal:(SIG[A-Z0-9+-]+)$/.exec(status);
      if (m?.[1] !== undefined) found = { signal: m[1] };
    }
  }
  return found;
}

/**
 * What the exit journal says about an attempt: its exit status (see {@link readExitFile}), whether
 * its wrapper started (the last of its `started` / `lost` lines is `started`), and whether its claim
 * was taken back (that line is `lost`).
 */
export function readJournal(
  path: string,
  key: string,
): { status: { exitCode: number } | { signal: string } | undefined; started: boolean; lost: boolean } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return { status: undefined, started: false, lost: false };
  }
  const prefix = `${key}\t`;
  let mark: 'started' | 'lost' | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const rest = line.slice(prefix.length).trim();
    if (rest === 'started' || rest === 'lost') mark = rest;
  }
  return { status: readExitFile(path, key), started: mark === 'started', lost: mark === 'lost' };
}

/**
 * After a crash: an attempt whose log exists (it was claimed) but whose process never showed up
 * and that has no exit status. Decides, exactly, whether it may be started again:
 *
 * - `ran`: its wrapper had started (the journal says so): it ran and vanished without a status
 *   (its wrapper was SIGKILLed with nobody of ours alive); the outcome is unknown, never re-run.
 * - `reclaimed`: it never started — the runner that claimed it died before the fork. Its log is
 *   renamed away (`<log>.abandoned-<ms>`), so a wrapper still on its way finds its claim gone and
 *   runs nothing (see the wrapper); the log path is free, start the attempt now.
 * - `raced`: a wrapper started just as the log was renamed: the log is put back; look again (it
 *   runs, or it says `lost` and the next look reclaims it).
 */
export function reclaimAbandonedAttempt(a: {
  logFile: string;
  exitFile: string;
  exitKey?: string;
}): 'ran' | 'reclaimed' | 'raced' {
  const key = a.exitKey ?? a.logFile;
  if (readJournal(a.exitFile, key).started) return 'ran';
  const aside = `${a.logFile}.abandoned-${Date.now()}`;
  try {
    renameSync(a.logFile, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (!readJournal(a.exitFile, key).started) return 'reclaimed';
  try {
    linkSync(aside, a.logFile);
    unlinkSync(aside);
  } catch {
    // the path was taken meanwhile: the started wrapper writes to the renamed file
  }
  return 'raced';
}
