/**
 * The runner's byte path for printed rows (raw-rows.ts, format.ts formatAlignedRaw, session.ts rawRows):
 * framing of the server's messages at every chunk split (wire.ts), decoding as pg decodes, the same text as the string
 * formatter, and a real session keeping a statement's rows as bytes.
 */
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../test/support/postgres.js';
import type { PgConnectionInfo } from './embedded-postgres.js';
import {
  type Column,
  DEFAULT_PRINT_SETTINGS,
  formatAlignedRaw,
  formatResult,
  type PrintSettings,
} from './format.js';
import { RawRows } from './raw-rows.js';
import { Session, type StatementOutcome } from './session.js';
import { MessageFramer } from './wire.js';

// pg's own parser, to check that our decoding and framing agree with it
const { Parser } = createRequire(import.meta.url)('pg-protocol/dist/parser.js') as {
  Parser: new () => { parse(b: Buffer, cb: (m: { name: string; fields?: unknown[] }) => void): void };
};

function message(code: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(code, 0, 'latin1');
  head.writeUInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

function dataRow(values: (string | null)[]): Buffer {
  const parts = [Buffer.from([values.length >> 8, values.length & 0xff])];
  for (const v of values) {
    const len = Buffer.alloc(4);
    if (v === null) len.writeInt32BE(-1);
    else len.writeInt32BE(Buffer.byteLength(v));
    parts.push(len);
    if (v !== null) parts.push(Buffer.from(v));
  }
  return message('D', Buffer.concat(parts));
}

const commandComplete = (tag: string) => message('C', Buffer.from(`${tag}\0`));
const readyForQuery = message('Z', Buffer.from('I'));
const noticeLike = message('S', Buffer.from('client_encoding\0UTF8\0'));

const ROWS: (string | null)[][] = [
  ['1', 'plain', null],
  ['22', '', 'é ünïcödé 漢字'],
  ['-3', 'a|b', 'x'.repeat(300)],
  [null, null, null],
];

/** A stream as a server sends it: other messages between and around runs of DataRows. */
function serverBytes(): Buffer {
  return Buffer.concat([
    noticeLike,
    ...ROWS.slice(0, 2).map(dataRow),
    commandComplete('SELECT 2'),
    readyForQuery,
    ...ROWS.slice(2).map(dataRow),
    commandComplete('SELECT 2'),
    noticeLike,
    readyForQuery,
  ]);
}

/** Every message of `buf[start, end)`, as pg-protocol's parser reads it. */
function parseAll(buf: Buffer): string[] {
  const parser = new Parser();
  const names: string[] = [];
  parser.parse(buf, (m) => names.push(m.name));
  return names;
}

describe('MessageFramer (wire.ts)', () => {
  it('at every chunk size, hands over whole messages only, all of them, in order', () => {
    const all = serverBytes();
    const expected = parseAll(all);
    for (let size = 1; size <= all.length; size++) {
      const runs: Buffer[] = [];
      const framer = new MessageFramer((b, s, e) => runs.push(Buffer.from(b.subarray(s, e))));
      for (let i = 0; i < all.length; i += size) framer.push(all.subarray(i, i + size));
      expect(framer.partial).toBe(false);
      expect(Buffer.concat(runs).equals(all), `chunk size ${size}`).toBe(true);
      // each run parses completely on its own: no run ends inside a message
      expect(runs.flatMap(parseAll), `chunk size ${size}`).toEqual(expected);
    }
  });

  it('holds an incomplete message until its last byte arrives', () => {
    const all = serverBytes();
    const runs: Buffer[] = [];
    const framer = new MessageFramer((b, s, e) => runs.push(Buffer.from(b.subarray(s, e))));
    framer.push(all.subarray(0, all.length - 1));
    expect(framer.partial).toBe(true);
    expect(Buffer.concat(runs).equals(all.subarray(0, all.length - readyForQuery.length))).toBe(true);
    framer.push(all.subarray(all.length - 1));
    expect(framer.partial).toBe(false);
    expect(Buffer.concat(runs).equals(all)).toBe(true);
  });

  it('copies a 20 MB row a bounded number of times, not once per chunk', () => {
    const big = dataRow(['x'.repeat(20 * 1024 * 1024)]);
    const raw = new RawRows();
    const framer = new MessageFramer((b, s, e) => raw.append(b, s, e, 1));
    // every byte copy the framer (and RawRows) makes: linear in the row's size, not quadratic
    const concat = Buffer.concat;
    const copy = Buffer.prototype.copy;
    let copied = 0;
    Buffer.concat = ((list: readonly Uint8Array[], len?: number) => {
      const out = concat(list, len);
      copied += out.length;
      return out;
    }) as typeof Buffer.concat;
    Buffer.prototype.copy = function (this: Buffer, ...args: Parameters<Buffer['copy']>) {
      const n = copy.apply(this, args);
      copied += n;
      return n;
    };
    try {
      for (let i = 0; i < big.length; i += 65536) framer.push(big.subarray(i, i + 65536));
    } finally {
      Buffer.concat = concat;
      Buffer.prototype.copy = copy;
    }
    expect(raw.count).toBe(1);
    expect(raw.rows()[0]?.[0]?.length).toBe(20 * 1024 * 1024);
    expect(copied).toBeLessThan(3 * big.length);
  });
});

describe('RawRows', () => {
  it('decodes rows exactly as pg-protocol does (UTF-8, NULL, empty)', () => {
    const bytes = Buffer.concat(ROWS.map(dataRow));
    const raw = new RawRows();
    raw.append(bytes, 0, bytes.length, ROWS.length);
    const fromPg: unknown[] = [];
    new Parser().parse(bytes, (m) => fromPg.push(m.fields));
    expect(raw.rows()).toEqual(fromPg);
  });

  it('refuses to be read after release (its buffer belongs to the next statement)', () => {
    const bytes = dataRow(['1']);
    const raw = new RawRows();
    raw.append(bytes, 0, bytes.length, 1);
    raw.release();
    expect(() => raw.rows()).toThrow(/after release/);
    expect(() => raw.bytes()).toThrow(/after release/);
  });
});

describe('formatAlignedRaw', () => {
  const columns: Column[] = [
    { name: 'id', typeId: 23 },
    { name: 'name', typeId: 25 },
    { name: 'amount', typeId: 1700 },
  ];
  const rawOf = (rows: (string | null)[][]) => {
    const bytes = Buffer.concat(rows.map(dataRow));
    const raw = new RawRows();
    raw.append(bytes, 0, bytes.length, rows.length);
    return raw;
  };
  const rows: (string | null)[][] = [
    ['1', 'a', '1.50'],
    ['1000', null, null],
    [null, 'longer name', '-2'],
    ['7', '', '0'],
  ];
  const settings = (over: Partial<PrintSettings>): PrintSettings => ({ ...DEFAULT_PRINT_SETTINGS, ...over });

  it.each([
    ['defaults', {}],
    ['null display', { nullDisplay: '(null)' }],
    ['title', { title: 'A title' }],
    ['no footer', { footer: false }],
    ['tuples only', { tuplesOnly: true }],
    ['no title dashes', { titleDashes: false }],
  ] as const)('writes what formatResult writes: %s', (_, over) => {
    const s = settings(over);
    expect(formatAlignedRaw(columns, rawOf(rows), s)).toBe(formatResult(columns, rows, s));
  });

  it.each([
    [
      'numeric last column',
      [columns[1], columns[0]] as Column[],
      [
        ['x', '1'],
        ['yy', null],
      ],
    ],
    [
      'text last column',
      [columns[0], columns[1]] as Column[],
      [
        ['1', 'x'],
        [null, 'long text'],
      ],
    ],
    ['one column', [columns[1]] as Column[], [['a'], [null]]],
    ['no rows', columns, []],
    ['headers wider than values', [{ name: 'a very long header', typeId: 25 }] as Column[], [['x']]],
    ['long values', [columns[1], columns[0]] as Column[], [['y'.repeat(500), '1']]],
  ] as const)('writes what formatResult writes: %s', (_, cols, rs) => {
    const s = settings({});
    const copy = rs.map((r) => [...r]);
    expect(formatAlignedRaw(cols, rawOf(copy), s)).toBe(formatResult(cols, copy, s));
  });

  it('writes what formatResult writes for 500 random tables (every padding, NULL and column order)', () => {
    // a fixed seed: the same tables every run
    let seed = 42;
    const rand = (n: number) => {
      // xorshift32
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const types = [23, 25, 1700, 1043];
    for (let t = 0; t < 500; t++) {
      const ncol = 1 + rand(4);
      const cols: Column[] = Array.from({ length: ncol }, (_, j) => ({
        name: 'c'.repeat(1 + rand(6)) + j,
        typeId: types[rand(types.length)] as number,
      }));
      const rs = Array.from({ length: rand(6) }, () =>
        cols.map(() => (rand(5) === 0 ? null : 'v'.repeat(rand(9)))),
      );
      const s = settings({
        nullDisplay: ['', 'NULL', '(null)'][rand(3)] as string,
        tuplesOnly: rand(4) === 0,
      });
      expect(formatAlignedRaw(cols, rawOf(rs), s), JSON.stringify({ cols, rs, s })).toBe(
        formatResult(cols, rs, s),
      );
    }
  });

  it('a head is reused only while names, widths, title and flags are all the same', () => {
    const cases: [Column[], (string | null)[][], Partial<PrintSettings>][] = [
      [columns, rows, {}],
      [columns, rows, {}],
      [columns, rows, { title: 'One' }],
      [columns, rows, { title: 'Two' }],
      [columns, rows, { title: 'Two', tuplesOnly: true }],
      [columns, rows, { titleDashes: false }],
      [[{ name: 'xy', typeId: 23 }, ...columns.slice(1)], rows, {}], // same width, other name
      [columns, [...rows, ['12345', 'a', '1']], {}], // other width
      [columns.slice(0, 2), rows.map((r) => r.slice(0, 2)), {}],
      [columns, rows, {}],
    ];
    for (const [cols, rs, over] of cases) {
      const s = settings(over);
      expect(formatAlignedRaw(cols, rawOf(rs), s), JSON.stringify({ cols, over })).toBe(
        formatResult(cols, rs, s),
      );
    }
  });

  it('declines what it does not cover (the caller formats the decoded rows)', () => {
    const s = settings({});
    expect(formatAlignedRaw(columns, rawOf([['1', 'tab\there', '1']]), s)).toBeUndefined();
    expect(formatAlignedRaw(columns, rawOf([['1', 'line\nbreak', '1']]), s)).toBeUndefined();
    expect(formatAlignedRaw(columns, rawOf([['1', 'ünï', '1']]), s)).toBeUndefined();
    expect(formatAlignedRaw(columns, rawOf(rows), settings({ border: 2 }))).toBeUndefined();
    expect(formatAlignedRaw(columns, rawOf(rows), settings({ expanded: true }))).toBeUndefined();
    expect(formatAlignedRaw(columns, rawOf(rows), settings({ format: 'unaligned' }))).toBeUndefined();
    expect(formatAlignedRaw(columns, rawOf(rows), settings({ nullDisplay: 'ø' }))).toBeUndefined();
    expect(formatAlignedRaw([], rawOf([]), s)).toBeUndefined();
  });
});

describe('a session keeping rows as bytes', () => {
  let db: { connection: PgConnectionInfo; drop: () => Promise<void> };
  let session: Session;

  beforeAll(async () => {
    db = await createTestDatabase('raw_rows');
    const c = db.connection;
    session = await Session.connect(
      { host: c.host, port: c.port, user: c.user, password: c.password, database: c.database },
      () => {},
    );
  });

  afterAll(async () => {
    await session?.close();
    await db?.drop();
  });

  const sql =
    "select g as id, case when g % 3 = 0 then null else 'row ' || g end as name, 'é' || g as t from generate_series(1, 2000) g";

  it('gives the same rows as the string path, and the bytes the formatter needs', async () => {
    // pipelined: raw and string statements interleaved on one connection
    const outcomes: Promise<StatementOutcome>[] = [];
    for (let i = 0; i < 6; i++) outcomes.push(session.run(sql, i % 2 === 0 ? { rawRows: true } : {}));
    const done = await Promise.all(outcomes);
    const plain = done[1] as StatementOutcome;
    expect(plain.raw).toBeUndefined();
    expect(plain.rows.length).toBe(2000);
    for (const i of [0, 2, 4]) {
      const o = done[i] as StatementOutcome;
      expect(o.raw?.count).toBe(2000);
      expect(o.tag).toBe('SELECT 2000');
      expect(o.rows).toEqual(plain.rows);
    }
  });

  it('keeps statements without the option, errors and empty results as before', async () => {
    const bad = await session.run('select 1/0', { rawRows: true });
    expect(bad.error?.code).toBe('22012');
    const none = await session.run('select 1 where false', { rawRows: true });
    expect(none.raw?.count).toBe(0);
    expect(none.rows).toEqual([]);
    const ok = await session.run('select 42 as x');
    expect(ok.rows).toEqual([['42']]);
  });
});
