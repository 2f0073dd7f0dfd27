/**
 * How results look: `\pset` (and `-P`), `\a \t \x \f`, `\timing`, and RSQL's `\rset` (rsql-spec.md §9:
 * ERRORLEVEL, MAXERROR, HEADING, RTITLE, RFORMAT, TITLEDASHES, WIDTH). While RFORMAT is off, `\pset`
 * changes wait for it (README U16) unless RSQL_PSET_DEFERRED is off.
 */
import { parseBoolean } from '../expression.js';
import type { PrintSettings } from '../format.js';
import type { MetaArg } from '../interpolate.js';
import type { MetaCommand } from './command.js';
import type { FileCtx, MetaHost } from './host.js';

/** Applies a change to both sets of print settings (the toggles always apply at once). */
function toggleBoth(host: MetaHost, f: (s: PrintSettings) => void): void {
  f(host.base);
  f(host.rformatSettings);
}

/**
 * `\pset name [value]` (and -P). While RFORMAT is off the change is kept for when it is switched on
 * (RSQL), unless RSQL_PSET_DEFERRED is off; `immediate` (command line) applies to both at once.
 * Returns the error message of a bad name or value (nothing is changed then).
 */
export function applyPset(
  host: MetaHost,
  name: string,
  value: string | undefined,
  immediate: boolean,
  silent: boolean,
): string | undefined {
  const deferred =
    !immediate && !host.rformat && parseBoolean(host.vars.get('RSQL_PSET_DEFERRED') ?? 'on') !== false;
  const targets = immediate || !deferred ? [host.base, host.rformatSettings] : [host.rformatSettings];
  const s = host.rformatSettings;
  const boolArg = (cur: boolean): boolean | undefined => (value === undefined ? !cur : parseBoolean(value));
  let msg: string;
  switch (name) {
    case 'format': {
      const v = (value ?? '').toLowerCase();
      let fmt: PrintSettings['format'] | undefined;
      if ('aligned'.startsWith(v) && v !== '') fmt = 'aligned';
      else if ('unaligned'.startsWith(v) && v !== '') fmt = 'unaligned';
      else if (v === 'wrapped') fmt = 'aligned';
      else if (v === 'csv') fmt = 'unaligned';
      else if (value === undefined) fmt = s.format;
      if (!fmt) return `\\pset: allowed formats are aligned, unaligned, wrapped`;
      const f = fmt;
      for (const t of targets) t.format = f;
      msg = `Output format is ${value !== undefined && v === 'wrapped' ? 'wrapped' : f}.`;
      break;
    }
    case 'border': {
      const n = value === undefined ? 1 : Number(value);
      if (!Number.isInteger(n) || n < 0) return `\\pset: invalid border "${value}"`;
      const b = Math.min(n, 2) as 0 | 1 | 2;
      for (const t of targets) t.border = b;
      msg = `Border style is ${b}.`;
      break;
    }
    case 't':
    case 'tuples_only': {
      const b = boolArg(s.tuplesOnly);
      if (b === undefined) return `\\pset: unrecognized value "${value}" for "tuples_only"`;
      for (const t of targets) t.tuplesOnly = b;
      msg = `Tuples only is ${b ? 'on' : 'off'}.`;
      break;
    }
    case 'x':
    case 'expanded': {
      const b = value?.toLowerCase() === 'auto' ? false : boolArg(s.expanded);
      if (b === undefined) return `\\pset: unrecognized value "${value}" for "expanded"`;
      for (const t of targets) t.expanded = b;
      msg = `Expanded display is ${b ? 'on' : 'off'}.`;
      break;
    }
    case 'footer': {
      const b = boolArg(s.footer);
      if (b === undefined) return `\\pset: unrecognized value "${value}" for "footer"`;
      for (const t of targets) t.footer = b;
      msg = `Default footer is ${b ? 'on' : 'off'}.`;
      break;
    }
    case 'title':
    case 'C':
      for (const t of targets) t.title = value;
      msg = value === undefined ? 'Title is unset.' : `Title is "${value}".`;
      break;
    case 'null':
      for (const t of targets) t.nullDisplay = value ?? '';
      msg = `Null display is "${value ?? ''}".`;
      break;
    case 'fieldsep':
      for (const t of targets) t.fieldSep = value ?? '|';
      msg = `Field separator is "${value ?? '|'}".`;
      break;
    case 'recordsep':
      for (const t of targets) t.recordSep = value ?? '\n';
      msg =
        value === undefined || value === '\n'
          ? 'Record separator is <newline>.'
          : `Record separator is "${value}".`;
      break;
    case 'pager':
      msg = 'Pager usage is off.';
      break;
    case 'numericlocale':
    case 'linestyle':
    case 'unicode_border_linestyle':
    case 'unicode_column_linestyle':
    case 'unicode_header_linestyle':
    case 'columns':
    case 'tableattr':
    case 'T':
    case 'pager_min_lines':
    case 'csv_fieldsep':
    case 'xheader_width':
    case 'fieldsep_zero':
    case 'recordsep_zero':
      msg = `${name} is ignored by this runner.`;
      break;
    default:
      return `\\pset: unknown option: ${name}`;
  }
  if (!silent && !host.quiet) {
    host.print(deferred ? `${msg} (Changes will take effect after RFORMAT is switched ON)\n` : `${msg}\n`);
  }
  return undefined;
}

/**
 * `\a`, `\t`, `\x`: flip one setting in both sets of print settings at once and say its new value
 * (unless QUIET). `flip` changes one set and returns the message; the message of the base set is printed.
 */
function toggle(name: string, summary: string, flip: (s: PrintSettings) => string): MetaCommand {
  return {
    names: [name],
    usage: `\\${name}`,
    summary,
    args: 'none',
    run(host) {
      const said = flip(host.base);
      flip(host.rformatSettings);
      if (!host.quiet) host.print(`${said}\n`);
    },
  };
}

/** `\rset NAME [VALUE…]`: RSQL's report and error-handling settings. */
function rset(host: MetaHost, ctx: FileCtx, line: number, a: string[]): void {
  const what = (a[0] ?? '').toLowerCase();
  const say = (s: string) => {
    if (!host.quiet) host.print(`${s}\n`);
  };
  switch (what) {
    case 'errorlevel': {
      // \rset errorlevel [on|off] | <SQLSTATE|class|UNKNOWN|(a, b)> severity <n>
      const rest = a.slice(1).join(' ');
      const onOff = parseBoolean(rest);
      if (rest === '' || onOff !== undefined) {
        if (onOff !== undefined) host.errorLevelOn = onOff;
        say(`Errorlevel is ${host.errorLevelOn ? 'on' : 'off'}.`);
        return;
      }
      const m = /^(.*?)\s+severity\s+(\d+)\s*$/i.exec(rest);
      if (!m) {
        host.commandFailed(ctx, line, '\\rset errorlevel: expected <sqlstate> severity <n>');
        return;
      }
      const codes = (m[1] as string)
        .replace(/[()]/g, ' ')
        .split(/[\s,]+/)
        .filter(Boolean);
      for (const c of codes) host.errorLevels.set(c.toUpperCase(), Number(m[2]));
      host.errorLevelOn = true;
      say('Errorlevel is on.');
      return;
    }
    case 'maxerror': {
      const v = a[1];
      if (v === undefined || !/^\d+$/.test(v)) {
        host.commandFailed(ctx, line, '\\rset maxerror: expected a number');
        return;
      }
      host.maxError = Number(v);
      say(host.maxError === 0 ? 'Maxerror is default.' : `Maxerror is ${host.maxError}.`);
      return;
    }
    case 'heading':
      host.rsetHeading = a.slice(1).join(' ');
      say(`Heading is set to: ${host.rsetHeading}`);
      return;
    case 'rtitle':
      host.rsetRtitle = a.slice(1).join(' ');
      say(
        `Rtitle is set to: &DATE||${host.rsetRtitle}${host.rformat ? '' : ' (Changes will take effect after RFORMAT is switched ON)'}`,
      );
      return;
    case 'rformat': {
      const v = a[1];
      if (v === undefined) host.rformat = !host.rformat;
      else {
        const b = parseBoolean(v);
        if (b === undefined) {
          host.commandFailed(ctx, line, `\\rset rformat: unrecognized value "${v}"`);
          return;
        }
        host.rformat = b;
      }
      say(`Rformat is ${host.rformat ? 'on' : 'off'}.`);
      return;
    }
    case 'titledashes': {
      const v = a[1];
      const b = v === undefined ? !host.base.titleDashes : parseBoolean(v);
      if (b === undefined) {
        host.commandFailed(ctx, line, `\\rset titledashes: unrecognized value "${v}"`);
        return;
      }
      host.base.titleDashes = b;
      host.rformatSettings.titleDashes = b;
      say(`Titledashes is ${b ? 'on' : 'off'}.`);
      return;
    }
    case 'width': {
      const v = a[1];
      if (v !== undefined) {
        if (!/^\d+$/.test(v)) {
          host.commandFailed(ctx, line, '\\rset width: expected a number');
          return;
        }
        host.rsetWidth = Number(v);
      }
      say(`Target width is ${host.rsetWidth}.`);
      return;
    }
    default:
      host.commandFailed(ctx, line, `\\rset: unknown setting "${a[0] ?? ''}"`);
      return;
  }
}

/** Formatting commands. */
export const FORMATTING_COMMANDS: readonly MetaCommand[] = [
  {
    names: ['pset'],
    usage: '\\pset NAME [VALUE]',
    summary: 'set a print option (format, border, tuples_only, expanded, footer, title, null, …)',
    args: 'words',
    minArgs: 1,
    run(host, { ctx, line, args }) {
      const err = applyPset(host, (args[0] as MetaArg).value, args[1]?.value, false, false);
      if (err) host.commandFailed(ctx, line, err);
    },
  },
  toggle('a', 'toggle aligned / unaligned output', (s) => {
    s.format = s.format === 'aligned' ? 'unaligned' : 'aligned';
    return `Output format is ${s.format}.`;
  }),
  toggle('t', 'toggle tuples only (no header, no footer)', (s) => {
    s.tuplesOnly = !s.tuplesOnly;
    return `Tuples only is ${s.tuplesOnly ? 'on' : 'off'}.`;
  }),
  toggle('x', 'toggle expanded output', (s) => {
    s.expanded = !s.expanded;
    return `Expanded display is ${s.expanded ? 'on' : 'off'}.`;
  }),
  {
    names: ['f'],
    usage: '\\f [SEP]',
    summary: 'set (or show) the field separator of unaligned output',
    args: 'words',
    run(host, { args }) {
      const a = args[0];
      if (a)
        toggleBoth(host, (s) => {
          s.fieldSep = a.value;
        });
      if (!host.quiet) host.print(`Field separator is "${host.base.fieldSep}".\n`);
    },
  },
  {
    names: ['timing'],
    usage: '\\timing [on|off]',
    summary: 'print each statement\'s time ("Time: N ms"); without a value toggle',
    args: 'words',
    run(host, { ctx, line, args }) {
      const value = args[0]?.value;
      const b = value === undefined ? !host.timing : parseBoolean(value);
      if (b === undefined) {
        host.commandFailed(ctx, line, `\\timing: unrecognized value "${value}"`);
        return;
      }
      host.timing = b;
      if (!host.quiet) host.print(`Timing is ${host.timing ? 'on' : 'off'}.\n`);
    },
  },
  {
    names: ['rset'],
    usage: '\\rset NAME [VALUE]',
    summary: 'RSQL settings: errorlevel, maxerror, heading, rtitle, rformat, titledashes, width (§9)',
    args: 'rsql-words',
    run(host, { ctx, item, args }) {
      rset(
        host,
        ctx,
        item.line,
        args.map((x) => x.value),
      );
    },
  },
];
