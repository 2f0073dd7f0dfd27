/**
 * Per-connection settings that make a PostgreSQL session read SQL as Redshift does, applied by the
 * runner when the compatibility layer is on (README "Redshift functions, types and system views").
 */
import type { Session } from '../session.js';

/**
 * - Backslash escapes in ordinary string literals, as on Redshift (`'\\.'` is `\.`, `'it\'s'` is a
 *   string; see the REGEXP_* and LIKE examples in the Redshift reference): standard_conforming_strings
 *   off, without PostgreSQL's warning for every such literal. The runner's lexer follows the reported
 *   setting.
 * - Time zone UTC, Redshift's default ("the current session time zone (UTC by default)", GETDATE), whatever
 *   the server's default is (initdb takes the machine's). A script's own SET TIME ZONE still applies.
 */
export async function startRedshiftSession(session: Session): Promise<void> {
  await session.run(
    "SET standard_conforming_strings = off; SET escape_string_warning = off; SET TimeZone = 'UTC'",
  );
}
