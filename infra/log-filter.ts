/**
 * The part of CloudWatch Logs filter-pattern syntax rsqlo's metric filters use, evaluated the way
 * CloudWatch Logs does, so a test can run a metric filter against the log lines a handler really
 * writes. From "Filter pattern syntax for metric filters" (CloudWatch Logs user guide), JSON log
 * events: "{ PropertySelector EqualityOperator String }" — the selector starts with `$.` and names
 * a field of the JSON event; `=` compares strings exactly; a string is in double quotes.
 * Anything else is refused rather than guessed.
 */
export function matchesJsonFilter(pattern: string, line: string): boolean {
  const m = /^\{\s*\$\.([A-Za-z0-9_.]+)\s*=\s*"([^"]*)"\s*\}$/.exec(pattern.trim());
  if (!m) throw new Error(`filter pattern not supported here: ${pattern}`);
  let event: unknown;
  try {
    event = JSON.parse(line);
  } catch {
    return false; // a JSON pattern matches JSON log events only
  }
  let v: unknown = event;
  for (const key of (m[1] as string).split('.')) {
    if (typeof v !== 'object' || v === null) return false;
    v = (v as Record<string, unknown>)[key];
  }
  return v === m[2];
}
