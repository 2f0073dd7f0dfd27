/**
 * COPY's DATEFORMAT and TIMEFORMAT against the examples of
 * https://docs.aws.amazon.com/redshift/latest/dg/r_DATEFORMAT_and_TIMEFORMAT_strings.html and
 * https://docs.aws.amazon.com/redshift/latest/dg/automatic-recognition.html.
 */
import { describe, expect, it } from 'vitest';
import { dateParser, timestampParser } from './datetime.js';

describe('DATEFORMAT and TIMEFORMAT strings', () => {
  // "a COPY command loading source data with the date value Jan-01-1999 must include the following
  // DATEFORMAT string: COPY ... DATEFORMAT AS 'MON-DD-YYYY'"; the page's table of examples:
  // "03/31/2003  DATEFORMAT AS 'MM/DD/YYYY'", "March 31, 2003  DATEFORMAT AS 'MON DD, YYYY'",
  // "03.31.2003 18:45:05  TIMEFORMAT AS 'MM.DD.YYYY HH:MI:SS'", "03.31.2003 18:45:05.123456  TIMEFORMAT AS
  // 'MM.DD.YYYY HH:MI:SS'" ("The seconds (SS) field also supports fractional seconds up to a microsecond").
  it('reads the page’s examples', () => {
    expect(dateParser('MON-DD-YYYY')('Jan-01-1999')).toBe('1999-01-01');
    expect(dateParser('MM/DD/YYYY')('03/31/2003')).toBe('2003-03-31');
    expect(dateParser('MON DD, YYYY')('March 31, 2003')).toBe('2003-03-31');
    expect(timestampParser('MM.DD.YYYY HH:MI:SS', false)('03.31.2003 18:45:05')).toBe('2003-03-31 18:45:05');
    expect(timestampParser('MM.DD.YYYY HH:MI:SS', false)('03.31.2003 18:45:05.123456')).toBe(
      '2003-03-31 18:45:05.123456',
    );
  });

  // "The default date format is YYYY-MM-DD. The default timestamp without time zone (TIMESTAMP) format is
  // YYYY-MM-DD HH:MI:SS." — and a date that does not exist is not one.
  it('defaults, and impossible dates rejected', () => {
    expect(dateParser(undefined)('2008-02-29')).toBe('2008-02-29');
    expect(dateParser(undefined)('2009-02-29')).toBeUndefined();
    expect(timestampParser(undefined, false)('2008-01-05 14:48:00')).toBe('2008-01-05 14:48:00');
    expect(timestampParser('MM/DD/YYYY HH:MI:SS', false)('13/45/2008 99:00:00')).toBeUndefined();
  });

  // automatic-recognition.html: "'auto' … recognizes the following formats": "ISO 8601
  // 2019-02-11T05:09:12.195Z", "YYYYMMDD HHMISS 19960108 040809", "YYMMDD HHMISS 960108 040809",
  // "YYYY-MM-DD HH:MI:SS.SSS 1996-01-08 04:05:06.789".
  it("'auto' reads the automatic-recognition page’s forms", () => {
    const auto = timestampParser('auto', false);
    expect(auto('2019-02-11T05:09:12.195Z')).toBe('2019-02-11 05:09:12.195000');
    expect(auto('19960108 040809')).toBe('1996-01-08 04:08:09');
    expect(auto('960108 040809')).toBe('1996-01-08 04:08:09');
    expect(auto('1996-01-08 04:05:06.789')).toBe('1996-01-08 04:05:06.789000');
    expect(dateParser('auto')('March 31, 2003')).toBe('2003-03-31');
  });
});
