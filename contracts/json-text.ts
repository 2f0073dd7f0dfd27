/**
 * What JSON.parse does not say about JSON text. Node 20's JSON.parse often names no position
 * ("Unexpected token '}', ... is not valid JSON"), and users editing a definition by hand need a
 * line and column; it also keeps the last of two equal keys without a word, so a stage written
 * `"execution_flag": "n"` then `"y"` would silently run. A small scanner (the JSON grammar, nothing
 * more) finds both; JSON.parse stays the parser.
 *
 * The scanner keeps its own stack instead of recursing, so text nested a million levels deep is
 * scanned (and its error located) like any other, never a stack overflow.
 */

/** Where JSON text first goes wrong: the offset and what the grammar expected there. */
export interface JsonSyntaxError {
  offset: number;
  expected: string;
}

/** A key written twice in one object: where, and where it was first written. */
export interface JsonDuplicateKey {
  /** Path of the duplicated member (object keys and array indexes), e.g. `['workflow_stages', 0, 'execution_flag']`. */
  path: Array<string | number>;
  key: string;
  /** Offset of the second (and later) occurrence's opening quote. */
  offset: number;
  /** Offset of the first occurrence's opening quote. */
  firstOffset: number;
}

/** What the scanner found: the first syntax error (then nothing more), or every duplicated key. */
export interface JsonScan {
  error?: JsonSyntaxError;
  duplicates: JsonDuplicateKey[];
  /** Deepest nesting of arrays and objects seen (0 for a scalar). */
  depth: number;
}

type Frame = { kind: 'object'; keys: Map<string, number>; key: string } | { kind: 'array'; index: number };

class ScanError {
  constructor(
    readonly offset: number,
    readonly expected: string,
  ) {}
}

/** Scans JSON text: syntax errors with their offset, duplicated keys with their paths. */
export function scanJsonText(text: string): JsonScan {
  let i = 0;
  let depth = 0;
  const duplicates: JsonDuplicateKey[] = [];
  const stack: Frame[] = [];
  const ws = () => {
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
      else return;
    }
  };
  const fail = (expected: string): never => {
    throw new ScanError(i, expected);
  };
  const literal = (word: string) => {
    if (text.startsWith(word, i)) i += word.length;
    else fail(`"${word}"`);
  };
  const string = () => {
    if (text[i] !== '"') fail('a string');
    i++;
    while (i < text.length) {
      const c = text[i] as string;
      if (c === '"') {
        i++;
        return;
      }
      if (c === '\\') {
        const e = text[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
            i += 2;
            fail('four hex digits');
          }
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
        else {
          i++;
          fail('an escape (\\", \\\\, \\n, \\uXXXX, ...)');
        }
      } else if (c.charCodeAt(0) < 0x20) fail('a closing quote (control characters must be escaped)');
      else i++;
    }
    fail('a closing quote');
  };
  const NUMBER = /-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
  const number = () => {
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m || m[0] === '' || m[0] === '-') fail('a value');
    i += (m as RegExpExecArray)[0].length;
  };
  const pathOf = (): Array<string | number> => stack.map((f) => (f.kind === 'object' ? f.key : f.index));
  /** Reads `"key":` inside the object on top of the stack and records a repeat. */
  const member = (frame: Extract<Frame, { kind: 'object' }>) => {
    ws();
    const start = i;
    string();
    const key = JSON.parse(text.slice(start, i)) as string;
    const first = frame.keys.get(key);
    if (first === undefined) frame.keys.set(key, start);
    else duplicates.push({ path: [...pathOf().slice(0, -1), key], key, offset: start, firstOffset: first });
    frame.key = key;
    ws();
    if (text[i] !== ':') fail('":"');
    i++;
  };
  const open = (frame: Frame) => {
    stack.push(frame);
    if (stack.length > depth) depth = stack.length;
  };

  try {
    let wantValue = true;
    for (;;) {
      ws();
      if (wantValue) {
        const c = text[i];
        if (c === '{') {
          i++;
          ws();
          if (text[i] === '}') {
            i++;
            if (stack.length + 1 > depth) depth = stack.length + 1;
            wantValue = false;
            continue;
          }
          const frame: Frame = { kind: 'object', keys: new Map(), key: '' };
          open(frame);
          member(frame);
          continue;
        }
        if (c === '[') {
          i++;
          ws();
          if (text[i] === ']') {
            i++;
            if (stack.length + 1 > depth) depth = stack.length + 1;
            wantValue = false;
            continue;
          }
          open({ kind: 'array', index: 0 });
          continue;
        }
        if (c === '"') string();
        else if (c === 't') literal('true');
        else if (c === 'f') literal('false');
        else if (c === 'n') literal('null');
        else if (c !== undefined && /[-0-9]/.test(c)) number();
        else fail('a value');
        wantValue = false;
        continue;
      }
      const top = stack[stack.length - 1];
      if (!top) {
        if (i < text.length) fail('the end of the text');
        return { duplicates, depth };
      }
      if (top.kind === 'object') {
        if (text[i] === ',') {
          i++;
          member(top);
          wantValue = true;
        } else if (text[i] === '}') {
          i++;
          stack.pop();
        } else fail('"," or "}"');
      } else if (text[i] === ',') {
        i++;
        top.index++;
        wantValue = true;
      } else if (text[i] === ']') {
        i++;
        stack.pop();
      } else fail('"," or "]"');
    }
  } catch (e) {
    if (!(e instanceof ScanError)) throw e;
    return { error: { offset: e.offset, expected: e.expected }, duplicates, depth };
  }
}

/** Where JSON text first goes wrong, or undefined when it is valid JSON. */
export function jsonErrorOffset(text: string): JsonSyntaxError | undefined {
  return scanJsonText(text).error;
}

/** 1-based line and column of an offset. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let at = text.indexOf('\n'); at !== -1 && at < offset; at = text.indexOf('\n', at + 1)) {
    line++;
    lineStart = at + 1;
  }
  return { line, column: offset - lineStart + 1 };
}
