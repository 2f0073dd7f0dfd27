/**
 * Script lexer: splits RSQL/psql input into SQL statements and backslash meta-commands, following psql's
 * rules (rsql-spec.md §2): quotes, E'' strings, dollar quotes, `--` and nested `/* *\/` comments, parentheses,
 * statements ended by an unquoted `;`, meta-commands anywhere on a line, variable references recorded (not
 * resolved) so the interpreter interpolates with the values current when the statement runs.
 *
 * The lexer is pull-based: {@link ScriptLexer.next} returns one item at a time, so conditionals and `\goto`
 * decide what happens to the following items while the rest of the input is still unread.
 */

/** How a variable reference is rendered: `:x` raw, `:'x'` SQL literal, `:"x"` identifier, `:{?x}` defined test. */
export type VarRefKind = 'raw' | 'literal' | 'ident' | 'defined';

/** A variable reference found outside quotes and comments. */
export interface VarRef {
  kind: VarRefKind;
  name: string;
  /** The reference as written (kept when the variable is undefined). */
  text: string;
}

/** Statement text: literal slices and variable references, in order. */
export type Segment = string | VarRef;

/** One SQL statement (ended by `;`, by a query-sending meta-command, or by end of input). */
export interface SqlItem {
  kind: 'sql';
  segments: Segment[];
  /** True when `segments` holds at least one variable reference. */
  hasVars: boolean;
  /** 1-based line of the statement's first significant character. */
  line: number;
}

/** One backslash meta-command. */
export interface MetaItem {
  kind: 'meta';
  /** Command name as written, without the backslash (e.g. `echo`, `IF`, `!`). */
  name: string;
  /** The argument text, unparsed (whole rest of line for whole-line commands). */
  args: string;
  line: number;
}

/** A lexical error at end of input (the statement cannot be completed). */
export interface LexErrorItem {
  kind: 'error';
  message: string;
  line: number;
}

/** What {@link ScriptLexer.next} returns. */
export type ScriptItem = SqlItem | MetaItem | LexErrorItem;

/** Meta-commands whose argument is the rest of the line, verbatim (psql OT_WHOLE_LINE). */
const WHOLE_LINE_COMMANDS = new Set(['!', 'os', 'copy', 'h', 'help']);

/** True for characters psql allows in variable names (letters, digits, `_`, non-ASCII). */
function isVarChar(c: number): boolean {
  return (
    (c >= 48 && c <= 57) || // 0-9
    (c >= 65 && c <= 90) || // A-Z
    (c >= 97 && c <= 122) || // a-z
    c === 95 || // _
    c >= 128
  );
}

/** True for characters that continue an identifier (so `$` after them does not start a dollar quote). */
function isIdentChar(c: number): boolean {
  return isVarChar(c) || c === 36; // $
}

const NL = 10;

/**
 * ASCII characters that mean nothing to the lexer inside a statement (1): everything but whitespace and
 * `- / \\ ; ' " $ ( ) :`. Runs of them (and of non-ASCII characters) are skipped in one tight loop — most of
 * a statement's text — instead of going through every test in {@link ScriptLexer.next} per character.
 */
const PLAIN = new Uint8Array(128);
for (let c = 33; c < 127; c++) PLAIN[c] = 1;
for (const ch of '-/\\;\'"$():') PLAIN[ch.charCodeAt(0)] = 0;

/** The end of the run of plain characters at `pos`. */
function skipPlain(text: string, pos: number, n: number): number {
  while (pos < n) {
    const c = text.charCodeAt(pos);
    if (c < 128 && PLAIN[c] === 0) break;
    pos++;
  }
  return pos;
}

/**
 * Lexer over one input text (a file, stdin or a `-c` string).
 * `standardStrings` mirrors the server's standard_conforming_strings (true: backslash is literal in '…').
 */
export class ScriptLexer {
  private pos = 0;
  private line = 1;
  /** Pending statement: segments collected so far. */
  private segs: Segment[] = [];
  private segStart = 0;
  private hasVars = false;
  private hasContent = false;
  private stmtLine = 0;
  private parenDepth = 0;
  standardStrings = true;

  constructor(private readonly text: string) {}

  /** Current 1-based line (where the next item starts). */
  get currentLine(): number {
    return this.line;
  }

  /** True when a statement has been started but not yet ended. */
  get hasPendingStatement(): boolean {
    return this.hasContent;
  }

  /**
   * Takes the pending (unterminated) statement, e.g. for `\g` / `\gset`; undefined when the buffer holds
   * only whitespace and comments.
   */
  takePending(): SqlItem | undefined {
    this.flushSlice(this.pos);
    const item = this.hasContent
      ? ({
          kind: 'sql',
          segments: trimSegments(this.segs),
          hasVars: this.hasVars,
          line: this.stmtLine,
        } as SqlItem)
      : undefined;
    this.resetStatement(this.pos);
    return item;
  }

  /** Discards the pending statement (`\r`). */
  resetBuffer(): void {
    this.resetStatement(this.pos);
  }

  /**
   * Reads raw lines (for `COPY … FROM STDIN` data) starting at the next line, up to a line `\.` or end of
   * input; the terminator line is consumed.
   */
  readCopyData(): string {
    const text = this.text;
    const eol = text.indexOf('\n', this.pos);
    if (eol < 0) {
      this.pos = text.length;
      this.segStart = this.pos;
      return '';
    }
    this.line++;
    const start = eol + 1;
    let p = start;
    while (p < text.length) {
      const e = text.indexOf('\n', p);
      const lineEnd = e < 0 ? text.length : e;
      if (text.slice(p, lineEnd).replace(/\r$/, '') === '\\.') {
        const data = text.slice(start, p);
        this.pos = e < 0 ? text.length : e + 1;
        this.segStart = this.pos;
        if (e >= 0) this.line++;
        return data;
      }
      if (e < 0) break;
      this.line++;
      p = e + 1;
    }
    this.pos = text.length;
    this.segStart = this.pos;
    return text.slice(start);
  }

  /** Returns the next item, or undefined at end of input. */
  next(): ScriptItem | undefined {
    const text = this.text;
    const n = text.length;
    while (this.pos < n) {
      const c = text.charCodeAt(this.pos);
      // whitespace
      if (c === NL) {
        this.line++;
        this.pos++;
        continue;
      }
      if (c === 32 || c === 9 || c === 13 || c === 12 || c === 11) {
        this.pos++;
        continue;
      }
      if (c === 45 /* - */ && text.charCodeAt(this.pos + 1) === 45) {
        const e = text.indexOf('\n', this.pos);
        this.pos = e < 0 ? n : e;
        continue;
      }
      if (c === 47 /* / */ && text.charCodeAt(this.pos + 1) === 42 /* * */) {
        const startLine = this.line;
        if (!this.skipBlockComment()) {
          return this.eofError(this.hasContent ? this.stmtLine : startLine, 'unterminated /* comment');
        }
        continue;
      }
      if (c === 92 /* \ */) {
        const meta = this.readMeta();
        if (meta) return meta;
        continue;
      }
      if (c === 59 /* ; */ && !this.hasContent) {
        this.pos++; // empty statement
        continue;
      }
      this.markContent();
      if (c === 39 /* ' */) {
        const startLine = this.line;
        const prev = this.pos > 0 ? text.charCodeAt(this.pos - 1) : 0;
        const prev2 = this.pos > 1 ? text.charCodeAt(this.pos - 2) : 0;
        const backslashEscapes =
          !this.standardStrings || ((prev === 69 || prev === 101) && !isIdentChar(prev2));
        if (!this.skipQuoted(39, backslashEscapes))
          return this.eofError(startLine, 'unterminated quoted string');
        continue;
      }
      if (c === 34 /* " */) {
        const startLine = this.line;
        if (!this.skipQuoted(34, false)) return this.eofError(startLine, 'unterminated quoted identifier');
        continue;
      }
      if (c === 36 /* $ */) {
        const prev = this.pos > 0 ? text.charCodeAt(this.pos - 1) : 0;
        if (!isIdentChar(prev)) {
          const m = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(
            text.slice(this.pos, this.pos + 64),
          );
          if (m) {
            const startLine = this.line;
            const delim = m[0];
            const close = text.indexOf(delim, this.pos + delim.length);
            if (close < 0) return this.eofError(startLine, 'unterminated dollar-quoted string');
            this.countLines(this.pos, close + delim.length);
            this.pos = close + delim.length;
            continue;
          }
        }
        this.pos++;
        continue;
      }
      if (c === 40 /* ( */) {
        this.parenDepth++;
        this.pos++;
        continue;
      }
      if (c === 41 /* ) */) {
        if (this.parenDepth > 0) this.parenDepth--;
        this.pos++;
        continue;
      }
      if (c === 59 /* ; */) {
        this.pos++;
        if (this.parenDepth === 0) return this.finishStatement();
        continue;
      }
      if (c === 58 /* : */) {
        this.readColon();
        continue;
      }
      this.pos = skipPlain(text, this.pos + 1, n);
    }
    // end of input: a lexically complete statement without `;` is still sent (psql does)
    if (this.hasContent) return this.finishStatement();
    return undefined;
  }

  // -------------------------------------------------------------------------------------------------------

  private markContent(): void {
    if (!this.hasContent) {
      this.hasContent = true;
      this.stmtLine = this.line;
      // leading whitespace/comments are dropped from the statement text
      this.segStart = this.pos;
    }
  }

  private resetStatement(at: number): void {
    this.segs = [];
    this.segStart = at;
    this.hasVars = false;
    this.hasContent = false;
    this.parenDepth = 0;
  }

  private flushSlice(end: number): void {
    if (this.hasContent && end > this.segStart) this.segs.push(this.text.slice(this.segStart, end));
    this.segStart = end;
  }

  private finishStatement(): SqlItem {
    this.flushSlice(this.pos);
    const item: SqlItem = {
      kind: 'sql',
      segments: trimSegments(this.segs),
      hasVars: this.hasVars,
      line: this.stmtLine,
    };
    this.resetStatement(this.pos);
    return item;
  }

  private eofError(line: number, message: string): LexErrorItem {
    this.pos = this.text.length;
    this.resetStatement(this.pos);
    return { kind: 'error', message, line };
  }

  private countLines(from: number, to: number): void {
    const text = this.text;
    let i = text.indexOf('\n', from);
    while (i >= 0 && i < to) {
      this.line++;
      i = text.indexOf('\n', i + 1);
    }
  }

  /** Skips a quoted string/identifier starting at pos; false when unterminated. */
  private skipQuoted(quote: number, backslashEscapes: boolean): boolean {
    const text = this.text;
    let p = this.pos + 1;
    const n = text.length;
    while (p < n) {
      const c = text.charCodeAt(p);
      if (c === quote) {
        if (text.charCodeAt(p + 1) === quote) {
          p += 2;
          continue;
        }
        this.countLines(this.pos, p);
        this.pos = p + 1;
        return true;
      }
      if (backslashEscapes && c === 92) {
        p += 2;
        continue;
      }
      p++;
    }
    return false;
  }

  /** Skips a (nested) block comment starting at pos; false when unterminated. */
  private skipBlockComment(): boolean {
    const text = this.text;
    let depth = 0;
    let p = this.pos;
    const n = text.length;
    while (p < n) {
      const c = text.charCodeAt(p);
      if (c === 47 && text.charCodeAt(p + 1) === 42) {
        depth++;
        p += 2;
        continue;
      }
      if (c === 42 && text.charCodeAt(p + 1) === 47) {
        depth--;
        p += 2;
        if (depth === 0) {
          this.countLines(this.pos, p);
          this.pos = p;
          return true;
        }
        continue;
      }
      p++;
    }
    return false;
  }

  /** At a `:`: a cast `::`, a variable reference, or a plain colon. */
  private readColon(): void {
    const text = this.text;
    const p = this.pos;
    const c1 = text.charCodeAt(p + 1);
    if (c1 === 58) {
      // `::type` — skip the cast and the following identifier
      this.pos = p + 2;
      return;
    }
    let ref: VarRef | undefined;
    let end = p;
    if (c1 === 39 || c1 === 34) {
      // :'name' / :"name"
      let q = p + 2;
      while (q < text.length && isVarChar(text.charCodeAt(q))) q++;
      if (q > p + 2 && text.charCodeAt(q) === c1) {
        end = q + 1;
        ref = { kind: c1 === 39 ? 'literal' : 'ident', name: text.slice(p + 2, q), text: text.slice(p, end) };
      }
    } else if (c1 === 123 && text.charCodeAt(p + 2) === 63) {
      // :{?name}
      let q = p + 3;
      while (q < text.length && isVarChar(text.charCodeAt(q))) q++;
      if (q > p + 3 && text.charCodeAt(q) === 125) {
        end = q + 1;
        ref = { kind: 'defined', name: text.slice(p + 3, q), text: text.slice(p, end) };
      }
    } else if (isVarChar(c1)) {
      let q = p + 1;
      while (q < text.length && isVarChar(text.charCodeAt(q))) q++;
      end = q;
      ref = { kind: 'raw', name: text.slice(p + 1, q), text: text.slice(p, end) };
    }
    if (!ref) {
      this.pos = p + 1;
      return;
    }
    this.flushSlice(p);
    this.segs.push(ref);
    this.hasVars = true;
    this.pos = end;
    this.segStart = end;
  }

  /** At an unquoted backslash: reads a meta-command (undefined for the `\\` separator). */
  private readMeta(): MetaItem | undefined {
    const text = this.text;
    const n = text.length;
    const start = this.pos;
    this.flushSlice(start);
    const line = this.line;
    let p = start + 1;
    // command name: up to whitespace or the next backslash
    while (p < n) {
      const c = text.charCodeAt(p);
      if (c === 32 || c === 9 || c === 10 || c === 13 || c === 92) break;
      p++;
    }
    const name = text.slice(start + 1, p);
    if (name === '') {
      // `\\` separator (or a lone backslash at end of line): skip it
      this.pos = text.charCodeAt(p) === 92 ? p + 1 : p;
      this.segStart = this.pos;
      return undefined;
    }
    let argsEnd: number;
    let next: number;
    if (WHOLE_LINE_COMMANDS.has(name.toLowerCase())) {
      const e = text.indexOf('\n', p);
      argsEnd = e < 0 ? n : e;
      next = argsEnd;
    } else {
      // arguments: up to end of line or an unquoted backslash
      let q = p;
      let quote = 0;
      while (q < n) {
        const c = text.charCodeAt(q);
        if (c === NL) break;
        if (quote) {
          if (c === 92 && quote === 39) {
            q += 2;
            continue;
          }
          if (c === quote) quote = 0;
          q++;
          continue;
        }
        if (c === 39 || c === 34 || c === 96) {
          quote = c;
          q++;
          continue;
        }
        if (c === 92) break;
        q++;
      }
      argsEnd = Math.min(q, n);
      next = argsEnd;
      // `\\` after a command separates it from SQL text on the same line
      if (text.charCodeAt(argsEnd) === 92 && text.charCodeAt(argsEnd + 1) === 92) next = argsEnd + 2;
    }
    this.pos = next;
    this.segStart = next;
    const args = text.slice(p, argsEnd).replace(/\r$/, '');
    return { kind: 'meta', name, args, line };
  }
}

/** Trims trailing whitespace of the last literal segment. */
function trimSegments(segs: Segment[]): Segment[] {
  for (;;) {
    const last = segs[segs.length - 1];
    if (typeof last !== 'string') return segs;
    const t = last.replace(/\s+$/, '');
    if (t !== '') {
      segs[segs.length - 1] = t;
      return segs;
    }
    segs.pop();
  }
}

/** The statement text with variable references left as written (for echo, errors and tests). */
export function rawText(segments: Segment[]): string {
  let s = '';
  for (const seg of segments) s += typeof seg === 'string' ? seg : seg.text;
  return s;
}

/** Lowercased meta-command names that match case-insensitively (RSQL: "lower or upper case"). */
export const CASE_INSENSITIVE_COMMANDS: ReadonlySet<string> = new Set([
  'if',
  'elif',
  'elseif',
  'else',
  'endif',
  'exit',
  'quit',
  'goto',
  'label',
  'remark',
  'rset',
  'export',
  'run',
  'os',
  'logon',
  'echo',
  'qecho',
  'warn',
  'set',
  'unset',
  'gset',
  'pset',
  'timing',
  'include',
  'include_relative',
  'ir',
  'connect',
  'conninfo',
  'copy',
  'setenv',
  'getenv',
  'encoding',
  'cd',
]);

/** Canonical command name: lowercased for case-insensitive commands, as written otherwise. */
export function canonicalCommand(name: string): string {
  const lower = name.toLowerCase();
  return CASE_INSENSITIVE_COMMANDS.has(lower) ? lower : name;
}
