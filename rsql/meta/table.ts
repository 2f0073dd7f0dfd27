/**
 * The meta-command table: every backslash command the runner knows, one entry each with its names, how
 * its arguments are read, its documentation and its handler (the handlers live in this folder, grouped
 * by what they act on). The interpreter looks a command up here; there is no other list.
 *
 * psql commands the runner does not implement (describe commands `\d…`, `\l`, `\z`, `\H`, editors,
 * large objects, …; rsql-spec.md §3 A, README "Known gaps") are refused by {@link REFUSED_COMMANDS} with
 * "is not supported by this runner", counted as a failed meta-command (README U7); any other unknown
 * name is a malformed script (U6).
 */
import type { MetaCommand } from './command.js';
import { CONDITIONAL_COMMANDS } from './conditionals.js';
import { CONNECTION_COMMANDS } from './connection.js';
import { FLOW_COMMANDS } from './flow.js';
import { FORMATTING_COMMANDS } from './formatting.js';
import { OUTPUT_COMMANDS } from './output.js';
import { QUERY_COMMANDS } from './query.js';
import { VARIABLE_COMMANDS } from './variables.js';

export type { ArgMode, MetaCall, MetaCommand, MetaHandler, MetaResult } from './command.js';

/** The text of `\?`. */
export const HELP_TEXT = `General
  \\q, \\quit, \\exit [N]     quit (\\exit N: with exit code N)
Query buffer
  \\g [FILE], \\gx, \\gset [PREFIX], \\p, \\r
Input/Output
  \\echo, \\qecho, \\warn, \\remark TEXT, \\o [FILE], \\i FILE, \\ir FILE, \\run file=F [skip=N]
  \\copy ..., \\export report file='F' | reset
Conditional / flow
  \\if EXPR, \\elseif EXPR, \\else, \\endif, \\goto LABEL, \\label LABEL
Formatting
  \\a, \\t, \\x, \\f SEP, \\pset NAME [VALUE], \\timing [on|off], \\rset NAME [VALUE]
Variables
  \\set [NAME [VALUE]], \\unset NAME, \\setenv NAME [VALUE], \\getenv VAR ENVVAR
Connection / OS
  \\c, \\connect, \\logon [DBNAME|- USER|- HOST|- PORT|-], \\conninfo, \\!, \\os COMMAND, \\cd DIR
`;

/** Every meta-command, in the order of `\?`. */
export const META_COMMANDS: readonly MetaCommand[] = [
  ...FLOW_COMMANDS,
  ...QUERY_COMMANDS,
  ...OUTPUT_COMMANDS,
  ...CONDITIONAL_COMMANDS,
  ...FORMATTING_COMMANDS,
  ...VARIABLE_COMMANDS,
  ...CONNECTION_COMMANDS,
  {
    names: ['?'],
    usage: '\\?',
    summary: 'list the meta-commands',
    args: 'none',
    run(host) {
      host.print(HELP_TEXT);
    },
  },
];

/**
 * psql commands refused with a clear message (matched on the name as written, as a prefix: `\dt+`,
 * `\lo_import`, …): describe and list commands, editors, help, prompts, large objects, `\gexec`,
 * `\bind`, `\H`, `\T`, `\C`, `\crosstabview`.
 */
export const REFUSED_COMMANDS =
  /^(d|l|z|sf|sv|ef|ev|H|s|e|w|h|help|prompt|password|lo_|crosstabview|gexec|bind|T|C)/;

const BY_NAME: ReadonlyMap<string, MetaCommand> = (() => {
  const m = new Map<string, MetaCommand>();
  for (const c of META_COMMANDS) {
    for (const n of c.names) {
      if (m.has(n)) throw new Error(`meta-command \\${n} is in the table twice`);
      m.set(n, c);
    }
  }
  return m;
})();

/** What a meta-command name is: a command of the table, a refused psql command, or unknown. */
export type MetaLookup =
  | { kind: 'command'; command: MetaCommand }
  | { kind: 'refused'; message: string }
  | { kind: 'unknown'; message: string };

/**
 * Looks up a meta-command by its canonical name (lexer.ts `canonicalCommand`); `written` is the name as
 * in the script (the refusal and its message use it).
 */
export function lookupMetaCommand(canonical: string, written: string = canonical): MetaLookup {
  const command = BY_NAME.get(canonical);
  if (command) return { kind: 'command', command };
  if (REFUSED_COMMANDS.test(written)) {
    return { kind: 'refused', message: `\\${written} is not supported by this runner` };
  }
  return { kind: 'unknown', message: `invalid command \\${written}` };
}
