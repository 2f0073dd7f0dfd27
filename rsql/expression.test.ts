import { describe, expect, it } from 'vitest';
import { compareDecimal, ExpressionError, evaluateExpression, parseBoolean } from './expression.js';

describe('evaluateExpression', () => {
  it.each([
    // the forms from AWS docs and samples
    ['false <> 0', false],
    ['true <> 0', true],
    ['1 <> 0', true],
    ['0 = 0', true],
    ["'00000' = '00000'", true],
    ["'42P01' = '00000'", false],
    ['994803 > 1000000', false],
    ['1000000 = 1000000', true],
    ['150 > 100', true],
    // psql single operand
    ['true', true],
    ['off', false],
    ['Y', true],
    ['1', true],
    ['0', false],
    ['', false],
    // BTEQ / C operators
    ['3 >= 3', true],
    ['3 <= 2', false],
    ['2 != 3', true],
    ['2 ~= 2', false],
    ['2 ^= 3', true],
    ['2 == 2', true],
    ['5<10', true],
    // boolean logic
    ['1 = 1 AND 2 = 3', false],
    ['1 = 1 and 2 = 3 or 4 = 4', true],
    ['1 = 1 AND (2 = 3 OR 4 = 4)', true],
    ['NOT 1 = 2', true],
    ['not (1 = 1 or 2 = 2)', false],
    ['NOT NOT true', true],
    // numbers beyond 2^53 and decimals
    ['18446744073709551615 > 18446744073709551614', true],
    ['9007199254740993 = 9007199254740992', false],
    ['1.50 = 1.5', true],
    ['-2 < 1', true],
    ['0.1 < .2', true],
    // SQLSTATEs against 0 (BTEQ habit): 00000 is 0, anything else differs
    ['00000 = 0', true],
    ['42P01 <> 0', true],
    ['23505 <> 0', true],
    // strings compare exactly
    ['abc = abc', true],
    ['abc = ABC', false],
    ["'it''s' = 'it''s'", true],
    ["'7' = 7", true],
    ["'007' = 7", false],
    ['t = 1', true],
    ['f = 0', true],
  ])('%j → %s', (expr, expected) => {
    expect(evaluateExpression(expr)).toBe(expected);
  });

  it('rejects a non-boolean single operand like psql', () => {
    expect(() => evaluateExpression('maybe')).toThrow(ExpressionError);
    expect(() => evaluateExpression('maybe')).toThrow(
      'unrecognized value "maybe" for "\\if expression": Boolean expected',
    );
  });

  it.each(['(1 = 1', '1 = ', 'AND 1', "'open", '1 = 1 2'])('reports a syntax error in %j', (expr) => {
    expect(() => evaluateExpression(expr)).toThrow(ExpressionError);
  });
});

describe('parseBoolean', () => {
  it('accepts psql spellings and unique prefixes', () => {
    expect(['t', 'TRUE', 'y', 'yes', 'on', '1'].map(parseBoolean)).toEqual([
      true,
      true,
      true,
      true,
      true,
      true,
    ]);
    expect(['f', 'False', 'n', 'no', 'off', 'of', '0'].map(parseBoolean)).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
    expect(['o', 'x', '2', ''].map(parseBoolean)).toEqual([undefined, undefined, undefined, undefined]);
  });
});

describe('compareDecimal', () => {
  it('compares exactly', () => {
    expect(compareDecimal('10', '9')).toBe(1);
    expect(compareDecimal('-10', '9')).toBe(-1);
    expect(compareDecimal('1.000', '1')).toBe(0);
    expect(compareDecimal('123456789012345678901234567890', '123456789012345678901234567891')).toBe(-1);
  });
});
