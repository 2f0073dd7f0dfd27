/**
 * Formatting shared by the browser client and the server's tests: plain functions, no DOM, no
 * Node APIs (this folder is bundled for the browser).
 */

/** A duration as people read it: `850 ms`, `12.3 s`, `4 m 05 s`, `2 h 03 m`, `3 d 04 h`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.floor(s)} s`;
  const totalS = Math.floor(s);
  const m = Math.floor(totalS / 60);
  if (m < 60) return `${m} m ${String(totalS % 60).padStart(2, '0')} s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${String(m % 60).padStart(2, '0')} m`;
  return `${Math.floor(h / 24)} d ${String(h % 24).padStart(2, '0')} h`;
}

/** Milliseconds between two ISO times, or from `start` to `now` while `end` is null. */
export function elapsed(start: string | null, end: string | null, now: number): number | null {
  if (!start) return null;
  const a = Date.parse(start);
  const b = end ? Date.parse(end) : now;
  if (Number.isNaN(a) || Number.isNaN(b)) return null;
  return Math.max(0, b - a);
}

/** Removes terminal colour and cursor sequences (ESC [ … letter) from a log line for display. */
export function stripAnsi(line: string): string {
  return line.replace(/\u001b\[[0-?]*[ -/]*[@-~]/g, '').replace(/\u001b[()][A-Za-z0-9]/g, '');
}
