/**
 * The runner over a network that delivers every server message in its own socket read, with other work
 * between reads (as a loaded host or a slow link does). A statement's outcome must not be acted on
 * before the ReadyForQuery that carries the transaction state after it.
 */
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../test/support/postgres.js';
import type { PgConnectionInfo } from './embedded-postgres.js';
import { installRedshiftCompat } from './redshift/install.js';
import { makeRunner, type Runner } from './test-helpers.js';

/** A TCP proxy that re-frames the server's byte stream, writes one message per timer tick and holds each ReadyForQuery back 40 ms. */
function splittingProxy(target: { host: string; port: number }): Promise<{
  server: Server;
  port: number;
  writes: () => number;
}> {
  let writes = 0;
  const server = createServer((client: Socket) => {
    const upstream = netConnect(target.port, target.host);
    client.pipe(upstream);
    let buf = Buffer.alloc(0);
    let sending = Promise.resolve();
    upstream.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const messages: Buffer[] = [];
      while (buf.length >= 5) {
        const len = buf.readUInt32BE(1) + 1;
        if (buf.length < len) break;
        messages.push(buf.subarray(0, len));
        buf = buf.subarray(len);
      }
      sending = sending.then(async () => {
        for (const m of messages) {
          // ReadyForQuery ('Z') arrives well after the message before it
          await new Promise((r) => setTimeout(r, m[0] === 0x5a ? 40 : 1));
          if (!client.destroyed) client.write(m);
          writes++;
        }
      });
    });
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    upstream.on('close', () => void sending.then(close));
    client.on('close', close);
    upstream.on('error', close);
    client.on('error', close);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      if (addr === null || typeof addr === 'string') throw new Error('no port');
      resolve({ server, port: addr.port, writes: () => writes });
    });
  });
}

let r: Runner;
let drop: () => Promise<void>;
let proxy: Awaited<ReturnType<typeof splittingProxy>>;

beforeAll(async () => {
  const db = await createTestDatabase('rs_split');
  drop = db.drop;
  await installRedshiftCompat(db.connection, { databases: [db.connection.database] });
  proxy = await splittingProxy({ host: db.connection.host, port: db.connection.port });
  const viaProxy: PgConnectionInfo = { ...db.connection, host: '127.0.0.1', port: proxy.port };
  r = makeRunner(viaProxy);
});

afterAll(async () => {
  r?.cleanup();
  proxy?.server.close();
  await drop?.();
});

describe('a network that splits every server message', () => {
  it('TRUNCATE in a failed transaction is refused: the error waits for its ReadyForQuery', async () => {
    const before = proxy.writes();
    const res = await r.run(
      `create table t1 (a int); insert into t1 values (1);
begin;
select 1/0;
truncate table t1;
\\echo :ERROR :ERRORCODE :ACTIVITYCOUNT
rollback;
select count(*) from t1;
drop table t1;`,
      { args: ['-A', '-t', '-q'] },
    );
    // the proxy really delivered message by message
    expect(proxy.writes() - before).toBeGreaterThan(20);
    expect(res.stdout).toBe('true 25P02 0\n1\n');
    expect(res.stderr).toBe(
      'rsql: ERROR: division by zero\nrsql: ERROR: current transaction is aborted, commands ignored until end of transaction block\n',
    );
  });

  it('pipelined statements after an error keep their order and outcomes', async () => {
    const res = await r.run(
      `select 1; select 1/0; select 2; \\echo :ERROR :ACTIVITYCOUNT
select 3;`,
      { args: ['-A', '-t', '-q'] },
    );
    expect(res.stdout).toBe('1\n2\nfalse 1\n3\n');
    expect(res.stderr).toBe('rsql: ERROR: division by zero\n');
  });
});
