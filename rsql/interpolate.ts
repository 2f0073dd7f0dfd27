/**
 * Variable interpolation and meta-command argument parsing, psql-style (rsql-spec.md §2, §4.1):
 * `:x` raw value, `:'x'` SQL literal, `:"x"` identifier, `:{?x}` TRUE/FALSE; an undefined variable stays
 * as written; nothing inside quotes is interpolated (the lexer only records references outside quotes).
 */
import type { Segment } from './lexer.js';

/** Looks a variable up; undefined when it is not set. */
export type VarLookup = (name: string) => string | undefined;

/** Runs a backquoted shell command and returns its output (trailing newline removed). */
export type ShellRunner = (command: string) => string;

/** A value as an SQL string literal (libpq PQescapeLiteral: `E'…'` with a leading space when backslashes). */
export function quoteLiteral(value: string): string {
  const body = value.replaceAll("'", "''");
  if (value.includes('\\')) return ` E'${body.replaceAll('\\', '\\\\')}'`;
  return `'${body}'`;
}

/** A value as a quoted SQL identifier. */
export function quoteIdent(value: string): string {
  return `"${value.replaceAll('"', '""')}"`;
}

/** Renders statement segments with the current variable values. */
export function interpolateSegments(segments: readonly Segment[], lookup: VarLookup): string {
  let out = '';
  for (const seg of segments) {
    if (typeof seg === 'string') {
      out += seg;
      continue;
    }
    if (seg.kind === 'defined') {
      out += lookup(seg.name) === undefined ? 'FALSE' : 'TRUE';
      continue;
    }
    const v = lookup(seg.name);
    if (v === undefined) out += seg.text;
    else if (seg.kind === 'raw') out += v;
    else if (seg.kind === 'literal') out += quoteLiteral(v);
    else out += quoteIdent(v);
  }
  return out;
}

/** Options of {@link parseMetaArgs}. */
export interface MetaArgOptions {
  /** Variable values; when undefined (inactive branch) nothing is interpolated. */
  lookup?: VarLookup;
  /** Backquote runner; when undefined backquotes are kept literally. */
  shell?: ShellRunner;
  /** Strip double quotes from `"…"` (RSQL's own commands: `\rset heading "Title"`). Default false (psql). */
  stripDoubleQuotes?: boolean;
}

/** A meta-command argument with whether any part of it was quoted. */
export interface MetaArg {
  value: string;
  quoted: boolean;
}

/** True for characters psql allows in variable names. */
function isVarChar(ch: string): boolean {
  return /[A-Za-z0-9_\u0080-\uffff]/.test(ch);
}

/** Reads a variable reference at `raw[i] === ':'`; returns [replacement, nextIndex] or undefined. */
function readVarRef(raw: string, i: number, lookup: VarLookup): [string, number] | undefined {
  const c1 = raw[i + 1];
  if (c1 === "'" || c1 === '"') {
    let q = i + 2;
    while (q < raw.length && isVarChar(raw[q] ?? '')) q++;
    if (q > i + 2 && raw[q] === c1) {
      const name = raw.slice(i + 2, q);
      const v = lookup(name);
      const text = raw.slice(i, q + 1);
      if (v === undefined) return [text, q + 1];
      return [c1 === "'" ? quoteLiteral(v).trimStart() : quoteIdent(v), q + 1];
    }
    return undefined;
  }
  if (c1 === '{' && raw[i + 2] === '?') {
    let q = i + 3;
    while (q < raw.length && isVarChar(raw[q] ?? '')) q++;
    if (q > i + 3 && raw[q] === '}') {
      return [lookup(raw.slice(i + 3, q)) === undefined ? 'FALSE' : 'TRUE', q + 1];
    }
    return undefined;
  }
  if (c1 !== undefined && isVarChar(c1)) {
    let q = i + 1;
    while (q < raw.length && isVarChar(raw[q] ?? '')) q++;
    const v = lookup(raw.slice(i + 1, q));
    return [v ?? raw.slice(i, q), q];
  }
  return undefined;
}

/** The next quote or backslash inside a single-quoted argument. */
const SINGLE_QUOTED_SPECIAL = /['\\]/g;

/**
 * Decodes psql's escapes inside a single-quoted meta-command argument. Plain runs are copied as slices,
 * not character by character: a 20 MB `\set x '…'` costs a few copies of 20 MB, not a rope of 20 million
 * one-character strings.
 */
function readSingleQuoted(raw: string, i: number): [string, number, boolean] {
  const parts: string[] = [];
  let p = i + 1;
  while (p < raw.length) {
    SINGLE_QUOTED_SPECIAL.lastIndex = p;
    const m = SINGLE_QUOTED_SPECIAL.exec(raw);
    if (!m) {
      parts.push(raw.slice(p));
      p = raw.length;
      break;
    }
    if (m.index > p) parts.push(raw.slice(p, m.index));
    p = m.index;
    const c = raw[p] as string;
    if (c === "'") {
      if (raw[p + 1] === "'") {
        parts.push("'");
        p += 2;
        continue;
      }
      return [parts.join(''), p + 1, true];
    }
    if (p + 1 >= raw.length) {
      parts.push(c);
      p++;
      break;
    }
    const e = raw[p + 1] as string;
    p += 2;
    switch (e) {
      case 'n':
        parts.push('\n');
        break;
      case 't':
        parts.push('\t');
        break;
      case 'b':
        parts.push('\b');
        break;
      case 'r':
        parts.push('\r');
        break;
      case 'f':
        parts.push('\f');
        break;
      case 'x': {
        const hex = /^[0-9A-Fa-f]{1,2}/.exec(raw.slice(p, p + 2));
        if (hex) {
          parts.push(String.fromCharCode(Number.parseInt(hex[0], 16)));
          p += hex[0].length;
        } else parts.push('x');
        break;
      }
      default:
        if (e >= '0' && e <= '7') {
          const oct = /^[0-7]{1,3}/.exec(raw.slice(p - 1, p + 2)) as RegExpExecArray;
          parts.push(String.fromCharCode(Number.parseInt(oct[0], 8)));
          p += oct[0].length - 1;
        } else parts.push(e);
    }
  }
  return [parts.join(''), p, false];
}

/** What ends a plain run in an unquoted argument. */
const UNQUOTED_SPECIAL = /[\s'"`:]/g;

/** Error in a meta-command's arguments (unterminated quote). The parsed args are still usable. */
export class MetaArgError extends Error {
  override name = 'MetaArgError';
}

/**
 * Splits meta-command arguments like psql's OT_NORMAL: whitespace-separated words; `'…'` with C-like
 * escapes; `"…"` kept with its quotes (unless stripDoubleQuotes); `` `cmd` `` replaced by the command's
 * output; variable references in unquoted parts. Returns the words and, when a quote was not closed, the
 * problem (the text up to end of line is used).
 */
export function parseMetaArgs(raw: string, opts: MetaArgOptions = {}): { args: MetaArg[]; problem?: string } {
  const args: MetaArg[] = [];
  let problem: string | undefined;
  let i = 0;
  const n = raw.length;
  while (i < n) {
    while (i < n && /\s/.test(raw[i] as string)) i++;
    if (i >= n) break;
    let word = '';
    let quoted = false;
    while (i < n && !/\s/.test(raw[i] as string)) {
      const c = raw[i] as string;
      if (c === "'") {
        const [text, next, closed] = readSingleQuoted(raw, i);
        if (!closed) problem = 'unterminated quoted string';
        word += text;
        quoted = true;
        i = next;
        continue;
      }
      if (c === '"') {
        let p = i + 1;
        while (p < n) {
          if (raw[p] === '"') {
            if (raw[p + 1] === '"') {
              p += 2;
              continue;
            }
            break;
          }
          p++;
        }
        if (p >= n) problem = 'unterminated quoted string';
        const body = raw.slice(i + 1, Math.min(p, n));
        word += opts.stripDoubleQuotes ? body.replaceAll('""', '"') : `"${body}"`;
        quoted = true;
        i = Math.min(p + 1, n);
        continue;
      }
      if (c === '`') {
        const close = raw.indexOf('`', i + 1);
        const end = close < 0 ? n : close;
        if (close < 0) problem = 'unterminated quoted string';
        let cmd = raw.slice(i + 1, end);
        if (opts.shell && opts.lookup) {
          const lookup = opts.lookup;
          cmd = cmd.replace(/:([A-Za-z0-9_]+)/g, (m, name: string) => lookup(name) ?? m);
          word += opts.shell(cmd);
        } else {
          word += raw.slice(i, Math.min(end + 1, n));
        }
        quoted = true;
        i = Math.min(end + 1, n);
        continue;
      }
      if (c === ':' && opts.lookup) {
        const r = readVarRef(raw, i, opts.lookup);
        if (r) {
          word += r[0];
          i = r[1];
          continue;
        }
      }
      // a plain run up to the next quote, colon or blank, copied as one slice
      UNQUOTED_SPECIAL.lastIndex = i + 1;
      const m = UNQUOTED_SPECIAL.exec(raw);
      const end = m ? m.index : n;
      word += raw.slice(i, end);
      i = end;
    }
    args.push({ value: word, quoted });
  }
  return problem ? { args, problem } : { args };
}

/**
 * Interpolates variables in a meta-command's argument text while keeping quotes as written — the input of
 * the `\if` expression parser (spec §5: expressions are evaluated after interpolation of the line).
 */
export function interpolateMetaText(raw: string, lookup: VarLookup, shell?: ShellRunner): string {
  let out = '';
  let i = 0;
  const n = raw.length;
  while (i < n) {
    const c = raw[i] as string;
    if (c === "'" || c === '"') {
      let p = i + 1;
      while (p < n) {
        if (raw[p] === '\\' && c === "'") {
          p += 2;
          continue;
        }
        if (raw[p] === c) {
          if (raw[p + 1] === c) {
            p += 2;
            continue;
          }
          break;
        }
        p++;
      }
      out += raw.slice(i, Math.min(p + 1, n));
      i = p + 1;
      continue;
    }
    if (c === '`' && shell) {
      const close = raw.indexOf('`', i + 1);
      const end = close < 0 ? n : close;
      out += shell(raw.slice(i + 1, end));
      i = end + 1;
      continue;
    }
    if (c === ':') {
      const r = readVarRef(raw, i, lookup);
      if (r) {
        out += r[0];
        i = r[1];
        continue;
      }
    }
    META_TEXT_SPECIAL.lastIndex = i + 1;
    const m = META_TEXT_SPECIAL.exec(raw);
    const end = m ? m.index : n;
    out += raw.slice(i, end);
    i = end;
  }
  return out;
}

/** What ends a plain run in {@link interpolateMetaText}. */
const META_TEXT_SPECIAL = /['"`:]/g;
