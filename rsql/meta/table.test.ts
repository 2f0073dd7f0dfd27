/**
 * The meta-command table against rsql-spec.md §3: every command the spec documents is in the table or
 * refused with a clear message, RSQL's names match in any case, the table is well formed (canonical,
 * unique names; docs), and `\?` names only commands the table has.
 */
import { describe, expect, it } from 'vitest';
import { CASE_INSENSITIVE_COMMANDS, canonicalCommand } from '../lexer.js';
import { HELP_TEXT, lookupMetaCommand, META_COMMANDS } from './table.js';

const lookup = (written: string) => lookupMetaCommand(canonicalCommand(written), written);

/** rsql-spec.md §3 A ("psql-inherited commands documented on the RSQL page") that the runner implements. */
const SPEC_A_IMPLEMENTED = ['i', 'q', 'timing', '?'];
/** §3 A commands the runner refuses (describe/list commands, HTML output; README "Known gaps"). */
const SPEC_A_REFUSED = [
  'd',
  'dS+',
  'dC+',
  'dd',
  'de',
  'df',
  'dfanptw',
  'dL',
  'dm',
  'dn',
  'dp',
  'dt',
  'dt+',
  'du',
  'dv',
  'H',
  'l',
  'l+',
  'sv',
  'sv+',
  'z',
];
/** §3 B, RSQL's extensions, as the spec spells them (and `\elif`, §3 B note). */
const SPEC_B = [
  'EXIT',
  'REMARK',
  'GOTO',
  'LABEL',
  'IF',
  'ELSEIF',
  'ELSE',
  'ENDIF',
  'RSET',
  'EXPORT',
  'RUN',
  'OS',
];
const SPEC_B_LOWER = [...SPEC_B.map((n) => n.toLowerCase()), 'logon', 'elif'];
/** §3 C, the psql set that matters for scripts. */
const SPEC_C = [
  'set',
  'unset',
  'echo',
  'qecho',
  'warn',
  'gset',
  'g',
  'o',
  'i',
  'ir',
  'c',
  'connect',
  'q',
  'quit',
  'pset',
  'a',
  't',
  'x',
  'f',
  'timing',
  '!',
  'conninfo',
];

describe('the meta-command table', () => {
  it('has every command rsql-spec.md §3 documents as implemented', () => {
    for (const name of [...SPEC_A_IMPLEMENTED, ...SPEC_B, ...SPEC_B_LOWER, ...SPEC_C]) {
      expect(lookup(name), `\\${name}`).toMatchObject({ kind: 'command' });
    }
  });

  it('refuses the documented commands it does not implement, naming them', () => {
    for (const name of SPEC_A_REFUSED) {
      expect(lookup(name), `\\${name}`).toEqual({
        kind: 'refused',
        message: `\\${name} is not supported by this runner`,
      });
    }
  });

  it('matches RSQL names in any case, psql names only as written', () => {
    expect(lookup('LOGON')).toMatchObject({ kind: 'command' });
    expect(lookup('Exit')).toEqual(lookup('exit'));
    expect(lookup('ElseIf')).toEqual(lookup('elseif'));
    // psql distinguishes \H (HTML) from \h (help) and \C (title) from \c (connect)
    expect(lookup('c')).toMatchObject({ kind: 'command' });
    expect(lookup('C')).toMatchObject({ kind: 'refused' });
    expect(lookup('Q')).toEqual({ kind: 'unknown', message: 'invalid command \\Q' });
  });

  it('calls anything else an invalid command', () => {
    for (const name of ['frobnicate', 'Echo2', 'ifx', 'x1', '']) {
      expect(lookup(name), `\\${name}`).toEqual({ kind: 'unknown', message: `invalid command \\${name}` });
    }
  });

  it('holds canonical, unique names, each documented', () => {
    const names = META_COMMANDS.flatMap((c) => c.names);
    expect(new Set(names).size).toBe(names.length);
    for (const c of META_COMMANDS) {
      expect(c.usage, c.names[0]).toMatch(/^\\/);
      expect(c.summary.length, c.names[0]).toBeGreaterThan(5);
      for (const n of c.names) {
        // a name the lexer would canonicalise differently could never be looked up
        expect(canonicalCommand(n), n).toBe(n);
        expect(lookup(n)).toEqual({ kind: 'command', command: c });
      }
    }
    // every case-insensitive name of the lexer is a command (or it matches in any case for nothing)
    for (const n of CASE_INSENSITIVE_COMMANDS) expect(lookup(n), n).toMatchObject({ kind: 'command' });
  });

  it('runs only the conditionals in skipped branches; \\g, \\gx and \\gset send the query buffer', () => {
    const always = META_COMMANDS.filter((c) => c.always).flatMap((c) => c.names);
    expect(always.sort()).toEqual(['elif', 'else', 'elseif', 'endif', 'if']);
    const sending = META_COMMANDS.filter((c) => c.sendsQuery).flatMap((c) => c.names);
    expect(sending.sort()).toEqual(['g', 'gset', 'gx']);
  });

  it('reads raw text where interpolation would change it, and strips quotes only for \\rset', () => {
    const mode = (n: string) => {
      const r = lookup(n);
      return r.kind === 'command' ? r.command.args : r.kind;
    };
    expect(['if', 'elseif', 'goto', '!', 'os', 'copy'].map(mode)).toEqual(Array(6).fill('line'));
    expect(mode('rset')).toBe('rsql-words');
    expect(META_COMMANDS.filter((c) => c.args === 'rsql-words').flatMap((c) => c.names)).toEqual(['rset']);
  });

  it('lists in \\? only commands of the table', () => {
    const named = [...HELP_TEXT.matchAll(/\\([a-z_!?]+)/g)].map((m) => m[1] as string);
    expect(named.length).toBeGreaterThan(30);
    for (const n of named) expect(lookup(n), `\\${n} in \\?`).toMatchObject({ kind: 'command' });
  });
});
