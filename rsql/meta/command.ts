/**
 * The shape of one entry of the meta-command table (table.ts): its names, how its arguments are read,
 * its documentation and its handler. Kept apart from the table so that the handler files can import
 * the types without importing each other.
 */
import type { MetaArg } from '../interpolate.js';
import type { MetaItem } from '../lexer.js';
import type { FileCtx, MetaHost } from './host.js';

/**
 * How the dispatcher reads a command's arguments before calling its handler:
 * - `none`: not read at all (backquotes in them never run);
 * - `line`: the raw text, the handler reads it (`\if` expressions, `\goto` labels, `\!` commands, `\copy`);
 * - `words`: psql's argument parsing with variable and backquote interpolation;
 * - `rsql-words`: the same, and `"…"` loses its quotes (RSQL's own `\rset heading "Title"`).
 */
export type ArgMode = 'none' | 'line' | 'words' | 'rsql-words';

/** One call of a meta-command. */
export interface MetaCall {
  ctx: FileCtx;
  item: MetaItem;
  /** The canonical name (lowercased for the case-insensitive commands, lexer.ts). */
  name: string;
  line: number;
  /** The parsed arguments (`words`, `rsql-words`); empty for `none` and `line`. */
  args: MetaArg[];
}

/** What a handler returns: `quit` ends the current input (`\q` inside an `\i` file). */
export type MetaResult = 'quit' | undefined;

/** A meta-command's behaviour; it may throw an ExitSignal (host.ts) to end the run. */
export type MetaHandler = (
  host: MetaHost,
  call: MetaCall,
  // biome-ignore lint/suspicious/noConfusingVoidType: most handlers return nothing; only \q returns 'quit'
) => MetaResult | void | Promise<MetaResult | void>;

/** One entry of the meta-command table. */
export interface MetaCommand {
  /** Canonical names, the first one the command's own (the others aliases). */
  names: readonly string[];
  /** Synopsis, as in `\?`. */
  usage: string;
  /** What it does, one line (and the spec's section where it has one). */
  summary: string;
  args: ArgMode;
  /**
   * Parsed arguments the command needs (`words` modes); with fewer it fails with `\NAME: missing
   * required argument` before its handler runs. Default 0.
   */
  minArgs?: number;
  /** Runs in a skipped `\if` branch too: only the conditionals themselves. Default false. */
  always?: boolean;
  /** Sends the query buffer: in a skipped branch its pending statement is dropped, like skipped SQL. */
  sendsQuery?: boolean;
  run: MetaHandler;
}
