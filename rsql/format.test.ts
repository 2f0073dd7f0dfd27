import { describe, expect, it } from 'vitest';
import {
  type Column,
  DEFAULT_PRINT_SETTINGS,
  displayWidth,
  formatResult,
  formatTiming,
  type PrintSettings,
} from './format.js';

// Expected outputs below were produced by psql 15 (Debian) against PostgreSQL for the same results.
const INT = 23;
const TEXT = 25;
const NUMERIC = 1700;
const FLOAT8 = 701;
const BOOL = 16;

const cols = (...c: [string, number][]): Column[] => c.map(([name, typeId]) => ({ name, typeId }));
const fmt = (c: Column[], rows: (string | null)[][], s: Partial<PrintSettings> = {}) =>
  formatResult(c, rows, { ...DEFAULT_PRINT_SETTINGS, ...s });

describe('aligned (border 1)', () => {
  it('prints header, dashes, rows and the (1 row) footer with a blank line', () => {
    expect(fmt(cols(['a', INT], ['b', TEXT]), [['1', 'x']])).toBe(' a | b \n---+---\n 1 | x\n(1 row)\n\n');
  });

  it('right-aligns numeric columns and centres headers', () => {
    const out = fmt(cols(['id', INT], ['s', TEXT], ['f', FLOAT8]), [
      ['1', 'ab', '0.3333333333333333'],
      ['2', 'abab', '0.6666666666666666'],
      ['3', 'ababab', '1'],
    ]);
    expect(out).toBe(
      [
        ' id |   s    |         f          ',
        '----+--------+--------------------',
        '  1 | ab     | 0.3333333333333333',
        '  2 | abab   | 0.6666666666666666',
        '  3 | ababab |                  1',
        '(3 rows)',
        '',
        '',
      ].join('\n'),
    );
  });

  it('prints (0 rows) for an empty result', () => {
    expect(fmt(cols(['a', INT], ['longer_name', TEXT]), [])).toBe(
      ' a | longer_name \n---+-------------\n(0 rows)\n\n',
    );
  });

  it('uses + continuation markers for multi-line values', () => {
    expect(fmt(cols(['m', TEXT], ['two', INT]), [['multi\nline', '2']])).toBe(
      '   m   | two \n-------+-----\n multi+|   2\n line  | \n(1 row)\n\n',
    );
    expect(fmt(cols(['x', TEXT]), [['a\nbbb']])).toBe('  x  \n-----\n a  +\n bbb\n(1 row)\n\n');
    expect(fmt(cols(['n', INT], ['x', TEXT], ['z', TEXT]), [['1', 'a\nbbb', 'z']])).toBe(
      ' n |  x  | z \n---+-----+---\n 1 | a  +| z\n   | bbb | \n(1 row)\n\n',
    );
  });

  it('measures wide characters by display width', () => {
    expect(displayWidth('日本語')).toBe(6);
    expect(displayWidth('héllo')).toBe(5);
    expect(fmt(cols(['u', TEXT], ['cjk', TEXT]), [['héllo wörld', '日本語']])).toBe(
      '      u      |  cjk   \n-------------+--------\n héllo wörld | 日本語\n(1 row)\n\n',
    );
  });

  it('shows NULL with the null display string', () => {
    expect(fmt(cols(['a', TEXT], ['b', INT]), [[null, '2']], { nullDisplay: 'NULL' })).toBe(
      '  a   | b \n------+---\n NULL | 2\n(1 row)\n\n',
    );
    expect(fmt(cols(['a', INT], ['b', TEXT], ['c', TEXT]), [['1', 'x', null]])).toBe(
      ' a | b | c \n---+---+---\n 1 | x | \n(1 row)\n\n',
    );
  });

  it('prints a zero-column result like psql', () => {
    expect(fmt([], [[]])).toBe('--\n(1 row)\n\n');
  });

  it('centres the title over the table', () => {
    expect(fmt(cols(['a', INT], ['bbbbbbbbbb', TEXT]), [['1', 'xyz']], { title: 'My Title' })).toBe(
      '    My Title\n a | bbbbbbbbbb \n---+------------\n 1 | xyz\n(1 row)\n\n',
    );
  });

  it('honours footer off, tuples only and titledashes off', () => {
    expect(fmt(cols(['a', INT]), [['1']], { footer: false })).toBe(' a \n---\n 1\n\n');
    expect(fmt(cols(['id', INT], ['b', BOOL]), [['1', 't']], { tuplesOnly: true })).toBe('  1 | t\n\n');
    expect(fmt(cols(['a', INT]), [['1']], { titleDashes: false })).toBe(' a \n 1\n(1 row)\n\n');
  });
});

describe('aligned, borders 0 and 2', () => {
  const c = cols(['a', INT], ['bbbbbbbbbb', TEXT], ['c', TEXT]);
  const rows = [['1', 'xyz', 'm\nl']];
  it('border 0', () => {
    expect(fmt(c, rows, { border: 0 })).toBe(
      'a bbbbbbbbbb c \n- ---------- -\n1 xyz        m+\n             l\n(1 row)\n\n',
    );
  });
  it('border 2', () => {
    expect(fmt(c, rows, { border: 2 })).toBe(
      [
        '+---+------------+---+',
        '| a | bbbbbbbbbb | c |',
        '+---+------------+---+',
        '| 1 | xyz        | m+|',
        '|   |            | l |',
        '+---+------------+---+',
        '(1 row)',
        '',
        '',
      ].join('\n'),
    );
  });
});

describe('unaligned', () => {
  it('separates fields with | and prints the footer without a blank line', () => {
    expect(fmt(cols(['a', INT], ['b', TEXT], ['c', TEXT]), [['1', 'x', null]], { format: 'unaligned' })).toBe(
      'a|b|c\n1|x|\n(1 row)\n',
    );
  });
  it('tuples only prints rows only', () => {
    expect(
      fmt(
        cols(['a', INT], ['b', TEXT]),
        [
          ['1', 'x'],
          ['2', 'y'],
        ],
        { format: 'unaligned', tuplesOnly: true },
      ),
    ).toBe('1|x\n2|y\n');
  });
  it('uses the field separator', () => {
    expect(fmt(cols(['a', INT], ['b', INT]), [['1', '2']], { format: 'unaligned', fieldSep: ',' })).toBe(
      'a,b\n1,2\n(1 row)\n',
    );
  });
});

describe('expanded', () => {
  const c = cols(['a', INT], ['bbbbbbbbbb', TEXT], ['c', TEXT]);
  const rows = [
    ['1', 'xyz', 'm\nl'],
    ['2', 'q', 'r'],
  ];
  it('aligned', () => {
    expect(fmt(c, rows, { expanded: true })).toBe(
      [
        '-[ RECORD 1 ]---',
        'a          | 1',
        'bbbbbbbbbb | xyz',
        'c          | m  +',
        '           | l',
        '-[ RECORD 2 ]---',
        'a          | 2',
        'bbbbbbbbbb | q',
        'c          | r',
        '',
        '',
      ].join('\n'),
    );
  });
  it('unaligned', () => {
    expect(
      fmt(
        cols(['a', INT], ['bbbbbbbbbb', TEXT]),
        [
          ['1', 'xyz'],
          ['2', 'q'],
        ],
        { expanded: true, format: 'unaligned' },
      ),
    ).toBe('a|1\nbbbbbbbbbb|xyz\n\na|2\nbbbbbbbbbb|q\n');
  });
  it('empty result', () => {
    expect(fmt(cols(['a', INT]), [], { expanded: true })).toBe('(0 rows)\n\n');
  });
});

describe('formatTiming', () => {
  it('prints milliseconds and a clock time from one second on', () => {
    expect(formatTiming(0.25)).toBe('Time: 0.250 ms');
    expect(formatTiming(61234.6)).toBe('Time: 61234.600 ms (01:01.235)');
  });
});

describe('numeric types', () => {
  it('right-aligns numeric', () => {
    expect(fmt(cols(['big', NUMERIC], ['neg', INT]), [['12345678901234567890', '-1']])).toBe(
      '         big          | neg \n----------------------+-----\n 12345678901234567890 |  -1\n(1 row)\n\n',
    );
  });
});

// psql 15's output for the same results (captured with `psql -X -x -P border=N`; format-psql.test.ts
// compares against a live psql).
describe('psql 15 details', () => {
  const longName = cols(['averyveryverylongname', INT], ['b', TEXT]);
  it('expanded record lines carry the column divider when the label is shorter than the names', () => {
    expect(fmt(longName, [['1', 'x']], { expanded: true })).toBe(
      '-[ RECORD 1 ]---------+--\naveryveryverylongname | 1\nb                     | x\n\n',
    );
    expect(fmt(longName, [['1', 'x']], { expanded: true, border: 2 })).toBe(
      [
        '+-[ RECORD 1 ]----------+---+',
        '| averyveryverylongname | 1 |',
        '| b                     | x |',
        '+-----------------------+---+',
        '',
        '',
      ].join('\n'),
    );
  });

  it('expanded tuples-only separators for borders 0 and 2', () => {
    const c = cols(['a', INT], ['bbbbbbbbbb', TEXT]);
    const rows = [
      ['1', 'xyz'],
      ['2', 'q'],
    ];
    expect(fmt(c, rows, { expanded: true, tuplesOnly: true, border: 0 })).toBe(
      `a          1\nbbbbbbbbbb xyz\n${' '.repeat(13)}\na          2\nbbbbbbbbbb q\n\n`,
    );
    expect(fmt(c, rows, { expanded: true, tuplesOnly: true, border: 2 })).toBe(
      [
        '+------------+-----+',
        '| a          | 1   |',
        '| bbbbbbbbbb | xyz |',
        '+------------+-----+',
        '| a          | 2   |',
        '| bbbbbbbbbb | q   |',
        '+------------+-----+',
        '',
        '',
      ].join('\n'),
    );
  });

  it('shows tabs as spaces to the next multiple of 8 and control characters escaped', () => {
    expect(
      fmt(cols(['t', TEXT], ['r', TEXT], ['c', TEXT], ['e', TEXT]), [
        ['a\tb', 'x\ry', 'bel\u0007', '\u0085x'],
      ]),
    ).toBe(
      '     t     |  r   |    c    |    e    \n-----------+------+---------+---------\n a       b | x\\ry | bel\\x07 | \\u0085x\n(1 row)\n\n',
    );
  });

  it('centres titles over border 0 tables as psql does', () => {
    expect(fmt(cols(['a', INT], ['bbbbbbbbbb', TEXT]), [['1', 'xyz']], { border: 0, title: 'Hello' })).toBe(
      '    Hello\na bbbbbbbbbb \n- ----------\n1 xyz\n(1 row)\n\n',
    );
  });
});
