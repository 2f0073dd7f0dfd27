import { describe, expect, it } from 'vitest';
import {
  interpolateMetaText,
  interpolateSegments,
  parseMetaArgs,
  quoteIdent,
  quoteLiteral,
} from './interpolate.js';
import { ScriptLexer } from './lexer.js';

const vars = new Map<string, string>([
  ['schema_name', 'rsql_blog'],
  ['quote', "O'Brien"],
  ['bs', 'a\\b'],
  ['ident', 'My "Table"'],
  ['empty', ''],
  ['n', '42'],
]);
const lookup = (name: string) => vars.get(name);

function sql(text: string): string {
  const it = new ScriptLexer(text).next();
  if (it?.kind !== 'sql') throw new Error('no statement');
  return interpolateSegments(it.segments, lookup);
}

describe('quoting', () => {
  it('quotes literals and identifiers like libpq', () => {
    expect(quoteLiteral("O'Brien")).toBe("'O''Brien'");
    expect(quoteLiteral('a\\b')).toBe(" E'a\\\\b'");
    expect(quoteIdent('My "Table"')).toBe('"My ""Table"""');
  });
});

describe('interpolateSegments', () => {
  it('substitutes raw, literal, identifier and defined references', () => {
    expect(sql('select * from :schema_name.t;')).toBe('select * from rsql_blog.t;');
    expect(sql("insert into t values (:'quote');")).toBe("insert into t values ('O''Brien');");
    expect(sql('select * from :"ident";')).toBe('select * from "My ""Table""";');
    expect(sql('select :{?n}, :{?nope};')).toBe('select TRUE, FALSE;');
  });

  it('leaves undefined variables as written and empty ones vanish', () => {
    expect(sql('select :nope, :\'nope\', :"nope";')).toBe('select :nope, :\'nope\', :"nope";');
    expect(sql('explain :empty select 1;')).toBe('explain  select 1;');
  });

  it('does not interpolate inside quotes, dollar quotes, comments or casts', () => {
    expect(sql('select \':n\', ":n", $$:n$$, 1::text /* :n */;')).toBe(
      'select \':n\', ":n", $$:n$$, 1::text /* :n */;',
    );
  });

  it("inserts a value containing a quote safely with :'x'", () => {
    expect(sql("select :'quote' as v;")).toBe("select 'O''Brien' as v;");
  });
});

describe('parseMetaArgs', () => {
  const args = (raw: string) => parseMetaArgs(raw, { lookup }).args.map((a) => a.value);

  it('splits words, decodes single-quoted escapes and keeps double quotes (psql)', () => {
    expect(args(" 'a b' c  d")).toEqual(['a b', 'c', 'd']);
    expect(args(" '\\n x \\t' 'it''s' '\\101\\x42'")).toEqual(['\n x \t', "it's", 'AB']);
    expect(args(' "Quoted Title"')).toEqual(['"Quoted Title"']);
    expect(args(" pre'mid'post")).toEqual(['premidpost']);
  });

  it('strips double quotes when asked (\\rset)', () => {
    expect(
      parseMetaArgs(' heading "General Title"', { stripDoubleQuotes: true }).args.map((a) => a.value),
    ).toEqual(['heading', 'General Title']);
  });

  it('interpolates variables outside quotes only', () => {
    expect(args(" :n ':n' :'quote' :nope")).toEqual(['42', ':n', "'O''Brien'", ':nope']);
    expect(args(' prefix_:n')).toEqual(['prefix_42']);
  });

  it('runs backquoted commands through the shell runner', () => {
    const r = parseMetaArgs(' `date` x', { lookup, shell: (cmd) => `<${cmd}>` });
    expect(r.args.map((a) => a.value)).toEqual(['<date>', 'x']);
  });

  it('reports an unterminated quote but keeps the text', () => {
    const r = parseMetaArgs(" 'open", { lookup });
    expect(r.problem).toBe('unterminated quoted string');
    expect(r.args.map((a) => a.value)).toEqual(['open']);
  });

  it('does not interpolate without a lookup (inactive branch)', () => {
    expect(parseMetaArgs(' :n', {}).args.map((a) => a.value)).toEqual([':n']);
  });
});

describe('interpolateMetaText', () => {
  it('keeps quotes so the expression parser sees strings', () => {
    expect(interpolateMetaText(" :n > 10 AND :'quote' = 'O''Brien'", lookup)).toBe(
      " 42 > 10 AND 'O''Brien' = 'O''Brien'",
    );
    expect(interpolateMetaText(" ':n' = :nope", lookup)).toBe(" ':n' = :nope");
  });
});
