/**
 * COPY's record and field splitting (copy-parameters-data-format.html, copy-parameters-data-conversion.html):
 * the same records whatever the chunk boundaries of the stream, CSV quoting as the COPY examples show it.
 */
import { describe, expect, it } from 'vitest';
import { type RawRecord, RecordSplitter, type SplitOptions, splitFields } from './records.js';

function split(
  data: Buffer,
  o: SplitOptions,
  chunk: number,
): { line: number; text: string; open?: boolean }[] {
  const s = new RecordSplitter(o);
  const out: RawRecord[] = [];
  for (let i = 0; i < data.length; i += chunk) out.push(...s.push(data.subarray(i, i + chunk)));
  out.push(...s.end());
  return out.map((r) => ({
    line: r.line,
    text: r.bytes.toString('utf8'),
    ...(r.unterminated ? { open: true } : {}),
  }));
}

const CSV: SplitOptions = { csv: true, quote: 34, escape: false, ignoreHeader: 0 };

describe('RecordSplitter', () => {
  // r_COPY_command_examples.html "Load CATEGORY from a CSV file": a quoted field may hold the delimiter and
  // doubled quotes; copy-parameters-data-format.html CSV: "the quotation mark character … can enclose …
  // delimiters, newline characters, or carriage returns"
  const data = Buffer.from(
    'catid,catgroup\r\n12,"Musical\ntheatre"\r\n13,"All ""non-musical"" theatre"\n14,Opera é\n15,last-without-newline',
  );

  it('finds the same records at every chunk size (1 byte up to the whole file)', () => {
    const whole = split(data, { ...CSV, ignoreHeader: 1 }, data.length);
    expect(whole).toEqual([
      { line: 2, text: '12,"Musical\ntheatre"' },
      { line: 4, text: '13,"All ""non-musical"" theatre"' },
      { line: 5, text: '14,Opera é' },
      { line: 6, text: '15,last-without-newline' },
    ]);
    for (let chunk = 1; chunk < data.length; chunk++) {
      expect(split(data, { ...CSV, ignoreHeader: 1 }, chunk)).toEqual(whole);
    }
  });

  // copy-parameters-data-conversion.html ESCAPE: "the backslash character (\) in input data is treated as
  // an escape character … you can use this parameter to escape … an embedded newline character"
  it('ESCAPE keeps an escaped line feed inside its record; without it a line feed ends the record', () => {
    const text = Buffer.from('1|two\\\nlines\n2|x\\\\\n3|y\n');
    const esc = { csv: false, quote: 34, escape: true, ignoreHeader: 0 };
    for (const chunk of [1, 2, 3, text.length]) {
      expect(split(text, esc, chunk)).toEqual([
        { line: 1, text: '1|two\\\nlines' },
        { line: 3, text: '2|x\\\\' },
        { line: 4, text: '3|y' },
      ]);
    }
    expect(split(text, { ...esc, escape: false }, 4).map((r) => r.text)).toEqual([
      '1|two\\',
      'lines',
      '2|x\\\\',
      '3|y',
    ]);
  });

  it('an unterminated CSV quote at the end of the file is reported, not swallowed', () => {
    expect(split(Buffer.from('1,"open\n2,x\n'), CSV, 3)).toEqual([
      { line: 1, text: '1,"open\n2,x\n', open: true },
    ]);
  });
});

describe('splitFields', () => {
  // r_COPY_command_examples.html "Load CATEGORY from a CSV file" rows and their loaded values
  it('CSV: doubled quotes, delimiters inside quotes, blanks around a quoted field', () => {
    const o = { csv: true, delimiter: ',', quote: '"', escape: false, removeQuotes: false };
    expect(
      splitFields('14,Shows,Opera,"All opera, light, and ""rock"" opera"', o).map((f) => f.value),
    ).toEqual(['14', 'Shows', 'Opera', 'All opera, light, and "rock" opera']);
    expect(splitFields('1, "a" ,b,', o).map((f) => [f.value, f.quoted])).toEqual([
      ['1', false],
      ['a', true],
      ['b', false],
      ['', false],
    ]);
    expect(() => splitFields('1,"a"x', o)).toThrow('Invalid quote formatting for CSV');
  });

  // copy-parameters-data-conversion.html REMOVEQUOTES: "Removes surrounding quotation marks from strings in
  // the incoming data. All characters within the quotation marks, including delimiters, are retained."
  it('REMOVEQUOTES keeps delimiters inside the quotes', () => {
    const o = { csv: false, delimiter: '|', quote: '"', escape: false, removeQuotes: true };
    expect(splitFields('"Toyota|Park"|Bridgeview', o).map((f) => f.value)).toEqual([
      'Toyota|Park',
      'Bridgeview',
    ]);
  });
});
