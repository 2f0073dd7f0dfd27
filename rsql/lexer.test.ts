import { describe, expect, it } from 'vitest';
import { canonicalCommand, rawText, type ScriptItem, ScriptLexer } from './lexer.js';

/** All items of a text, SQL rendered as raw text. */
function items(
  text: string,
): (string | { meta: string; args: string; line: number } | { error: string; line: number })[] {
  const lx = new ScriptLexer(text);
  const out: ReturnType<typeof items> = [];
  for (let it: ScriptItem | undefined = lx.next(); it; it = lx.next()) {
    if (it.kind === 'sql') out.push(rawText(it.segments));
    else if (it.kind === 'meta') out.push({ meta: it.name, args: it.args, line: it.line });
    else out.push({ error: it.message, line: it.line });
  }
  return out;
}

describe('ScriptLexer: statements', () => {
  it('splits at unquoted semicolons and sends a final statement without one', () => {
    expect(items('select 1; select 2;\nselect 3')).toEqual(['select 1;', 'select 2;', 'select 3']);
  });

  it('ignores semicolons inside quotes, identifiers, dollar quotes, comments and parentheses', () => {
    const sql = [
      'select \'a;b\', "c;d" from t;',
      'create function f() returns int as $$ begin return 1; end $$ language plpgsql;',
      'select $tag$ x; $$ y; $tag$;',
      'select 1 -- comment; not a split\n, 2;',
      'select /* a; /* nested; */ still comment; */ 3;',
      'create rule r as on insert to t do instead (insert into u values (1); insert into u values (2));',
    ].join('\n');
    const out = items(sql);
    expect(out).toHaveLength(6);
    expect(out[1]).toContain('return 1; end $$');
    expect(out[4]).toContain('still comment; */ 3;');
  });

  it("handles doubled quotes and E'' backslash escapes", () => {
    expect(items("select 'it''s; ok';\nselect E'a\\';b';")).toEqual([
      "select 'it''s; ok';",
      "select E'a\\';b';",
    ]);
  });

  it('drops empty statements and leading comments', () => {
    expect(items(';;\n-- only a comment\n/* c */ ;\n  select 1;')).toEqual(['select 1;']);
  });

  it('does not start a dollar quote after an identifier character or at $1', () => {
    expect(items('select a$b$c from t; select $1;')).toEqual(['select a$b$c from t;', 'select $1;']);
  });

  it('records the line of the first significant character', () => {
    const lx = new ScriptLexer('\n\n  -- c\n  select\n 1;\nselect 2;');
    const a = lx.next();
    const b = lx.next();
    expect(a?.kind === 'sql' && a.line).toBe(4);
    expect(b?.kind === 'sql' && b.line).toBe(6);
  });
});

describe('ScriptLexer: variables', () => {
  it('records :x, :\'x\', :"x" and :{?x} outside quotes, not casts or quoted text', () => {
    const lx = new ScriptLexer('select :a, :\'b\', :"c", :{?d}, x::text, \':e\', "f:g", $$:h$$;');
    const it = lx.next();
    expect(it?.kind).toBe('sql');
    if (it?.kind !== 'sql') return;
    expect(it.hasVars).toBe(true);
    const refs = it.segments.filter((s) => typeof s !== 'string');
    expect(refs).toEqual([
      { kind: 'raw', name: 'a', text: ':a' },
      { kind: 'literal', name: 'b', text: ":'b'" },
      { kind: 'ident', name: 'c', text: ':"c"' },
      { kind: 'defined', name: 'd', text: ':{?d}' },
    ]);
  });

  it('has no variables in plain SQL', () => {
    const it = new ScriptLexer('select 1::int, a[1:2] from t;').next();
    expect(it?.kind === 'sql' && it.hasVars).toBe(true); // :2 is a (numeric-named) reference, left as is when undefined
    const plain = new ScriptLexer("select 'x:y', 1::int;").next();
    expect(plain?.kind === 'sql' && plain.hasVars).toBe(false);
  });
});

describe('ScriptLexer: meta-commands', () => {
  it('recognises commands anywhere on a line, with leading whitespace', () => {
    expect(items('  \\echo hi\nselect 1 \\gset\n\t\\remark done')).toEqual([
      { meta: 'echo', args: ' hi', line: 1 },
      { meta: 'gset', args: '', line: 2 },
      { meta: 'remark', args: ' done', line: 3 },
      'select 1', // not taken by \gset here, so sent at end of input
    ]);
  });

  it('keeps the statement pending before \\gset so it can be taken', () => {
    const lx = new ScriptLexer('select 1 as x \\gset p_\nselect 2;');
    const m = lx.next();
    expect(m?.kind === 'meta' && m.name).toBe('gset');
    const pending = lx.takePending();
    expect(pending && rawText(pending.segments)).toBe('select 1 as x');
    expect(lx.next()).toMatchObject({ kind: 'sql' });
  });

  it('ends arguments at an unquoted backslash but not a quoted one', () => {
    expect(items("\\echo 'a\\\\b' \\echo c")).toEqual([
      { meta: 'echo', args: " 'a\\\\b' ", line: 1 },
      { meta: 'echo', args: ' c', line: 1 },
    ]);
  });

  it('takes the whole line for \\! and \\os', () => {
    expect(items('\\! echo a \\ b; c\n\\os ls -l')).toEqual([
      { meta: '!', args: ' echo a \\ b; c', line: 1 },
      { meta: 'os', args: ' ls -l', line: 2 },
    ]);
  });

  it('treats backslashes inside comments and strings as text', () => {
    expect(items("select '\\echo no' /* \\q */; -- \\quit\n")).toEqual(["select '\\echo no' /* \\q */;"]);
  });

  it('supports the \\\\ separator between a command and SQL', () => {
    expect(items('\\echo a \\\\ select 1;')).toEqual([{ meta: 'echo', args: ' a ', line: 1 }, 'select 1;']);
  });

  it('canonicalises RSQL command names case-insensitively but keeps psql case', () => {
    expect(canonicalCommand('IF')).toBe('if');
    expect(canonicalCommand('ElseIf')).toBe('elseif');
    expect(canonicalCommand('EXIT')).toBe('exit');
    expect(canonicalCommand('H')).toBe('H');
    expect(canonicalCommand('dL')).toBe('dL');
  });
});

describe('ScriptLexer: errors at end of input', () => {
  it.each([
    ["select 'abc;\nmore", 'unterminated quoted string', 1],
    ['select 1;\nselect $$ abc;\n', 'unterminated dollar-quoted string', 2],
    ['select "abc;', 'unterminated quoted identifier', 1],
    ['select 1;\n\n/* never closed', 'unterminated /* comment', 3],
  ])('%j → %s at line %i', (text, message, line) => {
    const out = items(text);
    expect(out[out.length - 1]).toEqual({ error: message, line });
  });
});

describe('ScriptLexer: COPY data', () => {
  it('reads data lines up to \\.', () => {
    const lx = new ScriptLexer('copy t from stdin;\n1\ta\n2\tb\n\\.\nselect 1;');
    expect(lx.next()).toMatchObject({ kind: 'sql' });
    expect(lx.readCopyData()).toBe('1\ta\n2\tb\n');
    const next = lx.next();
    expect(next && next.kind === 'sql' && next.line).toBe(5);
  });
});
