/**
 * The embedded server's named errors. Every failure of rsql/embedded-postgres.ts is one of these, with a
 * one-line message that never holds the password.
 */

/** The embedded server could not be created, started or stopped; the message says why. */
export class EmbeddedPostgresError extends Error {
  override name = 'EmbeddedPostgresError';
}

/** The server's OS user cannot reach the data directory or the binaries (root only). */
export class EmbeddedPostgresPermissionError extends EmbeddedPostgresError {
  override name = 'EmbeddedPostgresPermissionError';
}

/** An error's message for our one-line messages. */
export function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
