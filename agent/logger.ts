import type { Logger } from '../services/ports.js';

/**
 * A Logger writing one JSON object per line (to stdout by default: journald keeps it under the
 * unit). Callers never pass secrets or task tokens in full; this sink does not filter.
 */
export function createJsonLogger(write: (line: string) => void = (l) => process.stdout.write(l)): Logger {
  const emit = (level: string, message: string, fields?: Record<string, unknown>) => {
    try {
      write(`${JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...fields })}\n`);
    } catch {
      // stdout closed: nothing better to do
    }
  };
  return {
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}
