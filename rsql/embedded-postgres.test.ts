/**
 * The embedded PostgreSQL target: first start (initdb), reuse of a running server, restart on the same
 * port, stale postmaster.pid, port taken by someone else, half-made clusters, permissions as root,
 * named errors.
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type EmbeddedPostgres,
  EmbeddedPostgresError,
  ensureEmbeddedPostgres,
  type PgConnectionInfo,
  removeEmbeddedPostgres,
} from './embedded-postgres.js';

const isRoot = process.getuid?.() === 0;
let base: string;
let dataDir: string;
let first: EmbeddedPostgres | undefined;
const logLines: string[] = [];

async function scalar(c: PgConnectionInfo, sql: string): Promise<unknown> {
  const client = new pg.Client({ connectionString: c.url });
  await client.connect();
  try {
    const r = await client.query(sql);
    return Object.values(r.rows[0] ?? {})[0];
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), 'rsqlo-embedded-pg-'));
  chmodSync(base, 0o755);
  dataDir = join(base, 'home', 'postgres');
  first = await ensureEmbeddedPostgres({ dataDir, log: (l) => logLines.push(l) });
}, 120_000);

afterAll(async () => {
  await first?.stop();
  rmSync(base, { recursive: true, force: true });
});

describe('ensureEmbeddedPostgres', () => {
  it('creates the cluster on first use and serves the rsqlo database on 127.0.0.1', async () => {
    const pgInfo = first as EmbeddedPostgres;
    expect(pgInfo.startedHere).toBe(true);
    const c = pgInfo.connection;
    expect(c).toMatchObject({ host: '127.0.0.1', user: 'rsqlo', database: 'rsqlo' });
    expect(c.url).toBe(`postgres://rsqlo:${encodeURIComponent(c.password)}@127.0.0.1:${c.port}/rsqlo`);
    expect(await scalar(c, 'select current_database()')).toBe('rsqlo');
    expect(await scalar(c, "select setting from pg_settings where name = 'listen_addresses'")).toBe(
      '127.0.0.1',
    );
    expect(await scalar(c, "select setting from pg_settings where name = 'unix_socket_directories'")).toBe(
      join(dataDir, 'pgdata'),
    );
    expect(logLines.some((l) => l.includes('creating PostgreSQL cluster'))).toBe(true);
  });

  it('keeps the generated password in a 0600 file and out of logs', () => {
    const c = (first as EmbeddedPostgres).connection;
    const st = statSync(join(dataDir, 'connection.json'));
    expect(st.mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(join(dataDir, 'connection.json'), 'utf8')).password).toBe(c.password);
    expect(c.password.length).toBeGreaterThanOrEqual(24);
    expect(logLines.join('\n')).not.toContain(c.password);
    expect(readFileSync(join(dataDir, 'server.log'), 'utf8')).not.toContain(c.password);
  });

  it.runIf(isRoot)('runs the server as OS user postgres owning the data directory', () => {
    const st = statSync(join(dataDir, 'pgdata'));
    expect(st.uid).not.toBe(0);
    expect(st.mode & 0o777).toBe(0o700);
  });

  it('reuses a server already running on the data dir', async () => {
    const again = await ensureEmbeddedPostgres({ dataDir });
    expect(again.startedHere).toBe(false);
    expect(again.connection).toEqual((first as EmbeddedPostgres).connection);
  });

  it('restarts a stopped cluster on the same port, keeping data', async () => {
    const c = (first as EmbeddedPostgres).connection;
    await scalar(c, 'create table if not exists kept (n int)');
    await scalar(c, 'insert into kept values (1)');
    await (first as EmbeddedPostgres).stop();
    await expect(scalar(c, 'select 1')).rejects.toThrow();
    first = await ensureEmbeddedPostgres({ dataDir });
    expect(first.startedHere).toBe(true);
    expect(first.connection.port).toBe(c.port);
    expect(await scalar(first.connection, 'select count(*)::int from kept')).toBe(1);
  });

  it('replaces a stale postmaster.pid left by a crashed server', async () => {
    await (first as EmbeddedPostgres).stop();
    const pidFile = join(dataDir, 'pgdata', 'postmaster.pid');
    writeFileSync(
      pidFile,
      `999999\n${join(dataDir, 'pgdata')}\n1700000000\n5432\n\n127.0.0.1\n0 0\nready   \n`,
    );
    first = await ensureEmbeddedPostgres({ dataDir, log: (l) => logLines.push(l) });
    expect(first.startedHere).toBe(true);
    expect(logLines.some((l) => l.includes('removing stale'))).toBe(true);
    expect(await scalar(first.connection, 'select 1')).toBe(1);
  });

  it('moves to another port when its port is taken', async () => {
    const before = (first as EmbeddedPostgres).connection.port;
    await (first as EmbeddedPostgres).stop();
    const blocker: Server = createServer();
    await new Promise<void>((res) => blocker.listen(before, '127.0.0.1', () => res()));
    try {
      first = await ensureEmbeddedPostgres({ dataDir });
      expect(first.connection.port).not.toBe(before);
      expect(JSON.parse(readFileSync(join(dataDir, 'connection.json'), 'utf8')).port).toBe(
        first.connection.port,
      );
      expect(await scalar(first.connection, 'select 1')).toBe(1);
    } finally {
      await new Promise<void>((res) => blocker.close(() => res()));
    }
  });

  it('stop() is harmless when already stopped', async () => {
    const h = first as EmbeddedPostgres;
    await h.stop();
    await h.stop();
    first = await ensureEmbeddedPostgres({ dataDir });
  });
});

describe('errors', () => {
  it.runIf(isRoot)(
    'keeps the cluster where the postgres user can reach it when the data dir is under a mode-700 directory',
    async () => {
      const locked = mkdtempSync(join(tmpdir(), 'rsqlo-locked-'));
      const dir = join(locked, 'pg');
      const lines: string[] = [];
      try {
        chmodSync(locked, 0o700);
        const h = await ensureEmbeddedPostgres({ dataDir: dir, log: (l) => lines.push(l) });
        try {
          expect(await scalar(h.connection, 'select 1')).toBe(1);
        } finally {
          await h.stop();
        }
        const pgdata = JSON.parse(readFileSync(join(dir, 'connection.json'), 'utf8')).pgdata as string;
        expect(pgdata.startsWith(locked)).toBe(false);
        expect(lines.join('\n')).toContain(`keeping the cluster in ${join(pgdata, '..')}`);
        expect(statSync(locked).mode & 0o777).toBe(0o700);
        // The next start finds it through connection.json.
        const again = await ensureEmbeddedPostgres({ dataDir: dir, log: (l) => lines.push(l) });
        await again.stop();
        expect(lines.filter((l) => l.startsWith('creating PostgreSQL cluster'))).toHaveLength(1);
        await removeEmbeddedPostgres(dir);
        expect(existsSync(pgdata)).toBe(false);
      } finally {
        await removeEmbeddedPostgres(dir);
        rmSync(locked, { recursive: true, force: true });
      }
    },
  );

  it.runIf(isRoot)('makes its own data dir traversable when it was created with mode 700', async () => {
    const dir = join(base, 'private');
    mkdirSync(dir, { mode: 0o700 });
    chmodSync(dir, 0o700);
    const h = await ensureEmbeddedPostgres({ dataDir: dir });
    try {
      expect(statSync(dir).mode & 0o011).toBe(0o011);
      expect(await scalar(h.connection, 'select 1')).toBe(1);
    } finally {
      await h.stop();
    }
  });

  it('rejects a corrupt state file with a named error', async () => {
    const dir = join(base, 'corrupt');
    mkdirSync(join(dir, 'pgdata'), { recursive: true });
    writeFileSync(join(dir, 'pgdata', 'PG_VERSION'), '18\n');
    writeFileSync(join(dir, 'connection.json'), '{not json');
    const err = await ensureEmbeddedPostgres({ dataDir: dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EmbeddedPostgresError);
    expect((err as Error).message).toContain('connection.json is not valid');
  });

  it('makes a half-made cluster again: one initdb left in pgdata.init, one made before that existed', async () => {
    const dir = join(base, 'half');
    const lines: string[] = [];
    const h = await ensureEmbeddedPostgres({ dataDir: dir, log: (l) => lines.push(l) });
    await h.stop();
    // An older rsqlo's cluster whose initdb was cut short: PG_VERSION but not our settings.
    const conf = join(dir, 'pgdata', 'postgresql.conf');
    writeFileSync(conf, readFileSync(conf, 'utf8').replace("include_if_exists = 'rsqlo.conf'", ''));
    rmSync(join(dir, 'pgdata', 'global'), { recursive: true });
    mkdirSync(join(dir, 'pgdata.init'));
    const again = await ensureEmbeddedPostgres({ dataDir: dir, log: (l) => lines.push(l) });
    try {
      expect(lines.some((l) => l.startsWith('removing the half-made cluster'))).toBe(true);
      expect(again.connection.password).toBe(h.connection.password);
      expect(await scalar(again.connection, 'select current_database()')).toBe('rsqlo');
      expect(existsSync(join(dir, 'pgdata.init'))).toBe(false);
    } finally {
      await again.stop();
    }
  });

  it('refuses a cluster whose credentials were lost', async () => {
    const dir = join(base, 'lost');
    mkdirSync(join(dir, 'pgdata'), { recursive: true });
    writeFileSync(join(dir, 'pgdata', 'PG_VERSION'), '18\n');
    const err = await ensureEmbeddedPostgres({ dataDir: dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EmbeddedPostgresError);
    expect((err as Error).message).toContain('is missing');
  });
});
