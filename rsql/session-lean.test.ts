/**
 * The session's own simple-query path (session.ts over wire.ts) against a real PostgreSQL, through a TCP
 * proxy that records the order of the server's messages and can cut the connection mid-message: errors
 * in the middle of a result, notices between rows, multi-statement strings, empty queries, a 20 MB row,
 * and a connection dropped while a result is arriving.
 */
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../test/support/postgres.js';
import type { PgConnectionInfo } from './embedded-postgres.js';
import { type ServerMessage, Session, type StatementOutcome } from './session.js';
import { makeRunner } from './test-helpers.js';

interface Proxy {
  server: Server;
  port: number;
  /** Type bytes of every server message forwarded since the last reset. */
  types: string[];
  /** Cuts the client's connection once `bytes` more server bytes went through (mid-message). */
  cutAfter(bytes: number): void;
}

function proxy(target: { host: string; port: number }): Promise<Proxy> {
  let cut: number | undefined;
  const p: Proxy = {
    server: undefined as unknown as Server,
    port: 0,
    types: [],
    cutAfter: (bytes) => {
      cut = bytes;
    },
  };
  p.server = createServer((client: Socket) => {
    const upstream = netConnect(target.port, target.host);
    client.pipe(upstream);
    // message boundaries, without copying the bodies: the header being read, then bytes to skip
    let header = Buffer.alloc(0);
    let skip = 0;
    upstream.on('data', (chunk: Buffer) => {
      let i = 0;
      while (i < chunk.length) {
        if (skip > 0) {
          const n = Math.min(skip, chunk.length - i);
          skip -= n;
          i += n;
          continue;
        }
        const n = Math.min(5 - header.length, chunk.length - i);
        header = Buffer.concat([header, chunk.subarray(i, i + n)]);
        i += n;
        if (header.length === 5) {
          p.types.push(String.fromCharCode(header[0] as number));
          skip = header.readUInt32BE(1) - 4;
          header = Buffer.alloc(0);
        }
      }
      if (cut !== undefined && chunk.length >= cut) {
        client.write(chunk.subarray(0, cut));
        cut = undefined;
        client.destroy();
        upstream.destroy();
        return;
      }
      if (cut !== undefined) cut -= chunk.length;
      client.write(chunk);
    });
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    upstream.on('close', close);
    client.on('close', close);
    upstream.on('error', close);
    client.on('error', close);
  });
  return new Promise((resolve) => {
    p.server.listen(0, '127.0.0.1', () => {
      const addr = p.server.address();
      if (addr === null || typeof addr === 'string') throw new Error('no port');
      p.port = addr.port;
      resolve(p);
    });
  });
}

let db: { connection: PgConnectionInfo; drop: () => Promise<void> };
let px: Proxy;
let viaProxy: PgConnectionInfo;
const open: Session[] = [];

async function connect(onNotice: (m: ServerMessage) => void = () => {}): Promise<Session> {
  const c = viaProxy;
  const s = await Session.connect(
    { host: c.host, port: c.port, user: c.user, password: c.password, database: c.database },
    onNotice,
  );
  open.push(s);
  return s;
}

beforeAll(async () => {
  db = await createTestDatabase('lean_path');
  px = await proxy({ host: db.connection.host, port: db.connection.port });
  viaProxy = { ...db.connection, host: '127.0.0.1', port: px.port };
});

afterAll(async () => {
  for (const s of open) await s.close();
  px?.server.close();
  await db?.drop();
});

describe('the session reads the socket itself', () => {
  it('sends statements without a pg Query object per statement', async () => {
    const s = await connect();
    const query = pg.Client.prototype.query;
    let calls = 0;
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      calls++;
      return (query as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof query;
    try {
      const outcomes = await Promise.all(
        Array.from({ length: 50 }, (_, i) => s.run(`select ${i} as n`, { rawRows: i % 2 === 0 })),
      );
      expect(outcomes.map((o) => o.rows[0]?.[0])).toEqual(Array.from({ length: 50 }, (_, i) => String(i)));
    } finally {
      pg.Client.prototype.query = query;
    }
    expect(calls).toBe(0);
  });

  it('columns: a RowDescription byte for byte the same reuses the parsed ones, any difference does not', async () => {
    const s = await connect();
    // pipelined, as a script's SELECTs are; the same length of message with other names, types, typmods
    const sqls = [
      'select 1::int4 as a',
      'select 1::int4 as a',
      'select 1::int8 as a',
      "select 'x'::text as b",
      "select 'x'::text as c",
      'select 1.5::numeric(5,2) as a',
      'select 1.5::numeric(6,2) as a',
      'select 1::int4 as a',
      'select 1::int4 as a, 2::int4 as b',
    ];
    const outcomes = await Promise.all(sqls.map((q) => s.run(q, { rawRows: true })));
    const cols = outcomes.map((o) => o.columns?.map((c) => `${c.name}:${c.typeId}:${c.typeMod}`).join(','));
    expect(cols).toEqual([
      'a:23:-1',
      'a:23:-1',
      'a:20:-1',
      'b:25:-1',
      'c:25:-1',
      `a:1700:${((5 << 16) | 2) + 4}`,
      `a:1700:${((6 << 16) | 2) + 4}`,
      'a:23:-1',
      'a:23:-1,b:23:-1',
    ]);
    expect(outcomes[1]?.columns).toBe(outcomes[0]?.columns); // not parsed again
    expect(outcomes.map((o) => o.rows)).toEqual([
      [['1']],
      [['1']],
      [['1']],
      [['x']],
      [['x']],
      [['1.50']],
      [['1.50']],
      [['1']],
      [['1', '2']],
    ]);
  });

  it('an error in the middle of a result: rows dropped, the error, the session goes on', async () => {
    const s = await connect();
    px.types.length = 0;
    const [bad, after] = await Promise.all([
      s.run('select case when g < 5000 then g else 1 / (g - g) end as v from generate_series(1, 10000) g', {
        rawRows: true,
      }),
      s.run('select 2 as two'),
    ]);
    // the server really sent rows before the error
    expect(px.types.indexOf('D')).toBeGreaterThan(-1);
    expect(px.types.indexOf('D')).toBeLessThan(px.types.indexOf('E'));
    expect(bad.error).toMatchObject({ severity: 'ERROR', code: '22012', message: 'division by zero' });
    expect(bad.rows).toEqual([]);
    expect(bad.raw).toBeUndefined();
    expect(bad.columns).toBeUndefined();
    expect(bad.tag).toBeUndefined();
    expect(after).toMatchObject({ rows: [['2']], tag: 'SELECT 1', columns: [{ name: 'two', typeId: 23 }] });
    expect(s.transactionStatus).toBe('I');
  });

  it('the error of a failed transaction is reported after its ReadyForQuery (status E)', async () => {
    const s = await connect();
    await s.run('begin');
    const o = await s.run('select 1/0');
    expect(o.error?.code).toBe('22012');
    expect(s.transactionStatus).toBe('E');
    await s.run('rollback');
    expect(s.transactionStatus).toBe('I');
  });

  it('notices between rows reach onNotice in protocol order, before their statement completes', async () => {
    const events: string[] = [];
    const s = await connect((m) => events.push(`${m.severity} ${m.message}`));
    await s.run(`create function pg_temp.noisy(i int) returns int language plpgsql as $$
begin raise notice 'row %', i; return i; end $$`);
    px.types.length = 0;
    const o = await new Promise<StatementOutcome>((resolve) =>
      s.submit(
        'select pg_temp.noisy(g) as n from generate_series(1, 3) g',
        (r) => {
          events.push('done');
          resolve(r);
        },
        { rawRows: true },
      ),
    );
    // on the wire: a notice, then rows, with notices between them
    const wire = px.types.filter((t) => t === 'N' || t === 'D').join('');
    expect(wire).toMatch(/D.*N.*D/);
    expect(events).toEqual(['NOTICE row 1', 'NOTICE row 2', 'NOTICE row 3', 'done']);
    expect(o.rows).toEqual([['1'], ['2'], ['3']]);
    expect(o.raw?.count).toBe(3);
  });

  it('a multi-statement query string: the last result set and tag, one completion', async () => {
    const s = await connect();
    const o = await s.run(
      'create temp table m (a int); insert into m values (1), (2); select a, a * 10 as b from m order by a',
    );
    expect(o.columns?.map((c) => c.name)).toEqual(['a', 'b']);
    expect(o.rows).toEqual([
      ['1', '10'],
      ['2', '20'],
    ]);
    expect(o.tag).toBe('SELECT 2');
    const raw = await s.run('select 1 as x; select 2 as y, 3 as z', { rawRows: true });
    expect(raw.columns?.map((c) => c.name)).toEqual(['y', 'z']);
    expect(raw.rows).toEqual([['2', '3']]);
    // an error in the second statement ends the string: the third never runs, and the first is rolled
    // back with it (one Query message is one implicit transaction)
    const failed = await s.run('insert into m values (3); select 1/0; insert into m values (4)');
    expect(failed.error?.code).toBe('22012');
    expect(s.transactionStatus).toBe('I');
    expect((await s.run('select count(*) from m')).rows).toEqual([['2']]);
    // the session is in sync: the next statement gets its own answer
    expect((await s.run('select 5')).rows).toEqual([['5']]);
  });

  it('an empty query: no columns, no tag, no error', async () => {
    const s = await connect();
    for (const sql of ['', ' ', '-- only a comment']) {
      const o = await s.run(sql, { rawRows: true });
      expect(o.error).toBeUndefined();
      expect(o.lost).toBeUndefined();
      expect(o.columns).toBeUndefined();
      expect(o.tag).toBeUndefined();
      expect(o.rows).toEqual([]);
    }
    expect((await s.run('select 6')).rows).toEqual([['6']]);
  });

  it('a 20 MB row, as bytes and as strings, and statements pipelined after it', async () => {
    const s = await connect();
    const size = 20 * 1024 * 1024;
    const sql = `select repeat('x', ${size}) || 'é' as big, 7 as n`;
    const [asBytes, asStrings, after] = await Promise.all([
      s.run(sql, { rawRows: true }),
      s.run(sql),
      s.run('select 8'),
    ]);
    for (const o of [asBytes, asStrings]) {
      expect(o.error).toBeUndefined();
      const row = o.rows[0] as string[];
      expect(row[0]?.length).toBe(size + 1);
      expect(row[0]?.endsWith('xé')).toBe(true);
      expect(row[1]).toBe('7');
    }
    expect(asBytes.raw?.count).toBe(1);
    expect(after.rows).toEqual([['8']]);
  });

  it('a connection dropped in the middle of a result: that statement and all after it are lost', async () => {
    const s = await connect();
    expect((await s.run('select 1')).rows).toEqual([['1']]);
    px.cutAfter(200_000); // inside the rows of the first statement (≈ 1 MB of them)
    const outcomes = await Promise.all([
      s.run("select g, repeat('y', 100) from generate_series(1, 10000) g", { rawRows: true }),
      s.run('select 2'),
      s.run('select 3', { rawRows: true }),
    ]);
    for (const o of outcomes) {
      expect(o.lost).toBe('Connection terminated unexpectedly');
      expect(o.rows).toEqual([]);
      expect(o.error).toBeUndefined();
    }
    expect(s.pending).toBe(0);
    const later = await s.run('select 4');
    expect(later.lost).toBe('Connection terminated unexpectedly');
  });

  it('the runner reports a connection dropped mid-result and exits 2', async () => {
    const r = makeRunner(viaProxy);
    try {
      px.cutAfter(1_000_000); // past the start-up messages, inside the big result
      const res = await r.run(
        "select g, repeat('y', 100) from generate_series(1, 100000) g;\n\\echo not reached\n",
        { args: ['-X'] },
      );
      expect(res.code).toBe(2);
      expect(res.stdout).not.toContain('not reached');
      expect(res.stderr).toBe(
        'rsql: error: connection to server was lost: Connection terminated unexpectedly\n',
      );
    } finally {
      r.cleanup();
    }
  });
});
