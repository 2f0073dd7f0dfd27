/**
 * `\if` / `\elseif` expressions (rsql-spec.md §5), evaluated on the argument text after interpolation:
 *
 * ```
 * expr    := or
 * or      := and ( OR and )*
 * and     := unary ( AND unary )*
 * unary   := NOT unary | '(' expr ')' | cmp
 * cmp     := operand [ op operand ]
 * op      := = | == | <> | != | ~= | ^= | > | >= | < | <=
 * operand := number | 'single-quoted string' | bare word
 * ```
 * Typing: two unquoted numbers compare numerically (BigInt-exact, decimals too); a boolean word
 * (true/false/on/off/yes/no) compared with a number counts as 1/0; anything else compares as strings
 * (exact, case-sensitive). A single operand is a psql boolean (true/false/yes/no/on/off/1/0, unique
 * prefixes, case-insensitive); an empty expression is false.
 */

/** The expression could not be parsed or a single operand is not a boolean; the branch counts as false. */
export class ExpressionError extends Error {
  override name = 'ExpressionError';
}

type Token =
  | { t: 'op'; v: string }
  | { t: 'lp' }
  | { t: 'rp' }
  | { t: 'str'; v: string }
  | { t: 'word'; v: string }
  | { t: 'and' }
  | { t: 'or' }
  | { t: 'not' };

const OPS = ['==', '<>', '!=', '~=', '^=', '>=', '<=', '=', '>', '<'] as const;

/** Splits an interpolated expression into tokens. */
export function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i] as string;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '(') {
      out.push({ t: 'lp' });
      i++;
      continue;
    }
    if (c === ')') {
      out.push({ t: 'rp' });
      i++;
      continue;
    }
    if (c === "'") {
      let v = '';
      let p = i + 1;
      let closed = false;
      while (p < n) {
        const d = text[p] as string;
        if (d === "'") {
          if (text[p + 1] === "'") {
            v += "'";
            p += 2;
            continue;
          }
          closed = true;
          p++;
          break;
        }
        if (d === '\\' && p + 1 < n) {
          v += text[p + 1];
          p += 2;
          continue;
        }
        v += d;
        p++;
      }
      if (!closed) throw new ExpressionError('unterminated quoted string');
      out.push({ t: 'str', v });
      i = p;
      continue;
    }
    const op = OPS.find((o) => text.startsWith(o, i));
    if (op) {
      out.push({ t: 'op', v: op });
      i += op.length;
      continue;
    }
    let p = i;
    while (p < n) {
      const d = text[p] as string;
      if (/\s/.test(d) || d === '(' || d === ')' || d === "'" || OPS.some((o) => text.startsWith(o, p)))
        break;
      p++;
    }
    const w = text.slice(i, p);
    const upper = w.toUpperCase();
    if (upper === 'AND') out.push({ t: 'and' });
    else if (upper === 'OR') out.push({ t: 'or' });
    else if (upper === 'NOT') out.push({ t: 'not' });
    else out.push({ t: 'word', v: w });
    i = p;
  }
  return out;
}

/**
 * psql's boolean parsing (ParseVariableBool): true/false/yes/no/on/off/1/0, unique prefixes,
 * case-insensitive. Undefined when the text is not a boolean.
 */
export function parseBoolean(text: string): boolean | undefined {
  const v = text.trim().toLowerCase();
  if (v === '') return undefined;
  if ('true'.startsWith(v)) return true;
  if ('false'.startsWith(v)) return false;
  if ('yes'.startsWith(v)) return true;
  if ('no'.startsWith(v)) return false;
  if (v.length >= 2 && 'on'.startsWith(v)) return true;
  if (v.length >= 2 && 'off'.startsWith(v)) return false;
  if (v === '1') return true;
  if (v === '0') return false;
  return undefined;
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;

/** Exact comparison of two decimal strings: -1, 0 or 1. */
export function compareDecimal(a: string, b: string): number {
  const split = (s: string): [bigint, string] => {
    let sign = 1n;
    let t = s;
    if (t.startsWith('+')) t = t.slice(1);
    else if (t.startsWith('-')) {
      sign = -1n;
      t = t.slice(1);
    }
    const [int = '', frac = ''] = t.split('.');
    return [sign, `${int === '' ? '0' : int}.${frac}`];
  };
  const [sa, ra] = split(a);
  const [sb, rb] = split(b);
  const [ia = '0', fa = ''] = ra.split('.');
  const [ib = '0', fb = ''] = rb.split('.');
  const len = Math.max(fa.length, fb.length);
  const va = sa * BigInt(ia + fa.padEnd(len, '0'));
  const vb = sb * BigInt(ib + fb.padEnd(len, '0'));
  return va < vb ? -1 : va > vb ? 1 : 0;
}

/** 1/0 for boolean words (used when compared with a number), else undefined. */
function booleanWordValue(w: string): string | undefined {
  const v = w.toLowerCase();
  if (v === 'true' || v === 'on' || v === 'yes' || v === 't') return '1';
  if (v === 'false' || v === 'off' || v === 'no' || v === 'f') return '0';
  return undefined;
}

interface Operand {
  value: string;
  quoted: boolean;
}

function compare(a: Operand, op: string, b: Operand): boolean {
  let c: number;
  let numeric = false;
  let av = a.value;
  let bv = b.value;
  if (!a.quoted && !b.quoted) {
    const an = NUMBER.test(av);
    const bn = NUMBER.test(bv);
    if (an && !bn) {
      const w = booleanWordValue(bv);
      if (w !== undefined) bv = w;
    } else if (bn && !an) {
      const w = booleanWordValue(av);
      if (w !== undefined) av = w;
    }
    numeric = NUMBER.test(av) && NUMBER.test(bv);
  }
  if (numeric) c = compareDecimal(av, bv);
  else c = av < bv ? -1 : av > bv ? 1 : 0;
  switch (op) {
    case '=':
    case '==':
      return c === 0;
    case '<>':
    case '!=':
    case '~=':
    case '^=':
      return c !== 0;
    case '>':
      return c > 0;
    case '>=':
      return c >= 0;
    case '<':
      return c < 0;
    case '<=':
      return c <= 0;
    default:
      throw new ExpressionError(`unknown operator ${op}`);
  }
}

class Parser {
  private i = 0;
  constructor(private readonly toks: Token[]) {}

  parse(): boolean {
    const v = this.or();
    const rest = this.toks[this.i];
    if (rest) throw new ExpressionError(`unexpected ${describe(rest)}`);
    return v;
  }

  private peek(): Token | undefined {
    return this.toks[this.i];
  }

  private or(): boolean {
    let v = this.and();
    while (this.peek()?.t === 'or') {
      this.i++;
      const r = this.and();
      v = v || r;
    }
    return v;
  }

  private and(): boolean {
    let v = this.unary();
    while (this.peek()?.t === 'and') {
      this.i++;
      const r = this.unary();
      v = v && r;
    }
    return v;
  }

  private unary(): boolean {
    const t = this.peek();
    if (!t) throw new ExpressionError('missing operand');
    if (t.t === 'not') {
      this.i++;
      return !this.unary();
    }
    if (t.t === 'lp') {
      this.i++;
      const v = this.or();
      if (this.peek()?.t !== 'rp') throw new ExpressionError('missing )');
      this.i++;
      return v;
    }
    return this.cmp();
  }

  private operand(): Operand {
    const t = this.peek();
    if (t?.t === 'word') {
      this.i++;
      return { value: t.v, quoted: false };
    }
    if (t?.t === 'str') {
      this.i++;
      return { value: t.v, quoted: true };
    }
    throw new ExpressionError(t ? `unexpected ${describe(t)}` : 'missing operand');
  }

  private cmp(): boolean {
    const a = this.operand();
    const op = this.peek();
    if (op?.t === 'op') {
      this.i++;
      const b = this.operand();
      return compare(a, op.v, b);
    }
    const b = parseBoolean(a.value);
    if (b === undefined) {
      throw new ExpressionError(`unrecognized value "${a.value}" for "\\if expression": Boolean expected`);
    }
    return b;
  }
}

function describe(t: Token): string {
  switch (t.t) {
    case 'lp':
      return '(';
    case 'rp':
      return ')';
    case 'and':
      return 'AND';
    case 'or':
      return 'OR';
    case 'not':
      return 'NOT';
    case 'str':
      return `'${t.v}'`;
    default:
      return `"${t.v}"`;
  }
}

/**
 * Evaluates an (already interpolated) `\if` expression. Empty → false. Throws {@link ExpressionError}
 * when it cannot be evaluated (callers print the message and treat the branch as false, like psql).
 */
export function evaluateExpression(text: string): boolean {
  const toks = tokenize(text);
  if (toks.length === 0) return false;
  return new Parser(toks).parse();
}
