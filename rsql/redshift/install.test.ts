/**
 * Installing the Redshift functions: once per version, atomically, serialised between concurrent
 * installers, refused without superuser, stale objects of an older version dropped unless something
 * depends on them; and the local engine's hook (a cluster of its own: every database, template1 included,
 * once per version through the marker file) and `rsqlo sql --install-compat`.
 */

import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main as rsqlo } from '../../cli/main.js';
import { openDatabase } from '../../runtime/local/database.js';
import { createTestDatabase, query } from '../../test/support/postgres.js';
import type { PgConnectionInfo } from '../embedded-postgres.js';
import {
  installRedshiftCompat,
  markerFile,
  REDSHIFT_COMPAT_VERSION,
  RedshiftCompatInstallError,
} from './install.js';

const drops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const d of drops) await d();
});

async function freshDatabase(prefix: string): Promise<PgConnectionInfo> {
  const db = await createTestDatabase(prefix);
  drops.push(db.drop);
  return db.connection;
}

async function version(c: PgConnectionInfo): Promise<string | null> {
  const rows = await query<{ v: string | null }>(
    c,
    "select case when to_regprocedure('pg_catalog.rsqlo_redshift_compat_version()') is null then null else 'present' end as v",
  );
  if (rows[0]?.v !== 'present') return null;
  return (
    (await query<{ v: string }>(c, 'select pg_catalog.rsqlo_redshift_compat_version() as v'))[0]?.v ?? null
  );
}

describe('installRedshiftCompat', () => {
  it('installs once per version and leaves a current database alone', async () => {
    const c = await freshDatabase('rs_install_once');
    expect(await version(c)).toBeNull();
    const first = await installRedshiftCompat(c, { databases: [c.database] });
    expect(first).toEqual({ installed: [c.database], current: [], notes: [] });
    expect(await version(c)).toBe(REDSHIFT_COMPAT_VERSION);
    const xmin = async () =>
      (
        await query<{ x: string }>(
          c,
          "select xmin::text as x from pg_proc where oid = 'pg_catalog.getdate()'::regprocedure",
        )
      )[0]?.x;
    const before = await xmin();
    const second = await installRedshiftCompat(c, { databases: [c.database] });
    expect(second).toEqual({ installed: [], current: [c.database], notes: [] });
    expect(await xmin()).toBe(before);
    // forced: replaced in place
    await installRedshiftCompat(c, { databases: [c.database], force: true });
    expect(await xmin()).not.toBe(before);
    expect((await query<{ d: string }>(c, 'select getdate()::text as d'))[0]?.d).toMatch(/^\d{4}-/);
  });

  it('serialises concurrent installers: one installs, the others find it current', async () => {
    const c = await freshDatabase('rs_install_race');
    const results = await Promise.all(
      Array.from({ length: 4 }, () => installRedshiftCompat(c, { databases: [c.database] })),
    );
    expect(results.filter((r) => r.installed.length === 1)).toHaveLength(1);
    expect(results.filter((r) => r.current.length === 1)).toHaveLength(3);
    expect(await version(c)).toBe(REDSHIFT_COMPAT_VERSION);
  });

  it('refuses a user that is not a superuser, naming the reason, and creates nothing', async () => {
    const c = await freshDatabase('rs_install_nosu');
    const role = `rs_plain_${randomBytes(3).toString('hex')}`;
    const password = randomBytes(12).toString('hex');
    await query(c, `create role ${role} login password '${password}'`);
    drops.push(async () => {
      await query(c, `drop role if exists ${role}`).catch(() => {});
    });
    const err = await installRedshiftCompat(
      { ...c, user: role, password },
      { databases: [c.database] },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RedshiftCompatInstallError);
    expect((err as Error).message).toBe(
      `cannot install the Redshift functions into database "${c.database}": user "${role}" is not a superuser ` +
        '(they go into pg_catalog, where Redshift has its built-ins, so that every schema and function body sees them); ' +
        'connect as a superuser to install them',
    );
    expect((err as Error).message).not.toContain(password);
    expect(await query(c, "select 1 from pg_namespace where nspname = 'rsqlo_redshift'")).toEqual([]);
  });

  it('is all or nothing: a failing statement leaves no half-installed objects', async () => {
    const c = await freshDatabase('rs_install_atomic');
    // a user function in the way, with another return type: CREATE OR REPLACE cannot change it
    await query(
      c,
      'create function pg_catalog.len(s text) returns bigint language sql as $$ select 1::bigint $$',
    );
    const err = await installRedshiftCompat(c, { databases: [c.database] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RedshiftCompatInstallError);
    expect((err as Error).message).toMatch(
      new RegExp(
        `^installing the Redshift functions into database "${c.database}" failed: cannot change return type of existing function`,
      ),
    );
    expect(await version(c)).toBeNull();
    expect(await query(c, "select 1 from pg_namespace where nspname = 'rsqlo_redshift'")).toEqual([]);
    expect(await query(c, "select 1 from pg_proc where proname = 'getdate'")).toEqual([]);
  });

  it('on upgrade drops what the old version installed and the new one does not, unless something depends on it', async () => {
    const c = await freshDatabase('rs_install_upgrade');
    await installRedshiftCompat(c, { databases: [c.database] });
    // pretend an older version: another version number, two functions only it had (one used by a view)
    await query(
      c,
      `create or replace function pg_catalog.rsqlo_redshift_compat_version() returns text language sql as $$ select 'old'::text $$;
       create function pg_catalog.rs_old_gone() returns int language sql as $$ select 1 $$;
       create function pg_catalog.rs_old_used() returns int language sql as $$ select 2 $$;
       comment on function pg_catalog.rs_old_gone() is 'rsqlo: Redshift compatibility';
       comment on function pg_catalog.rs_old_used() is 'rsqlo: Redshift compatibility';
       create view public.uses_old as select pg_catalog.rs_old_used() as x;`,
    );
    const r = await installRedshiftCompat(c, { databases: [c.database] });
    expect(r.installed).toEqual([c.database]);
    expect(r.notes).toEqual([`${c.database}: kept rs_old_used(), which something still depends on`]);
    expect(await version(c)).toBe(REDSHIFT_COMPAT_VERSION);
    expect(
      await query(c, "select proname from pg_proc where proname like 'rs\\_old\\_%' order by 1"),
    ).toEqual([{ proname: 'rs_old_used' }]);
    expect(await query(c, 'select x from public.uses_old')).toEqual([{ x: 2 }]);
    // what this version installed is still there, and marked
    expect(
      await query(c, "select obj_description('pg_catalog.getdate()'::regprocedure, 'pg_proc') as d"),
    ).toEqual([{ d: 'rsqlo: Redshift compatibility' }]);
  });
});

describe('rsqlo sql --install-compat', () => {
  it('installs into the database of --database-url and says so', async () => {
    const c = await freshDatabase('rs_install_cli');
    let out = '';
    let err = '';
    const io = {
      stdout: {
        write: (x: string) => {
          out += x;
          return true;
        },
      },
      stderr: {
        write: (x: string) => {
          err += x;
          return true;
        },
      },
    } as never;
    const code = await rsqlo(['sql', '--database-url', c.url, '--install-compat'], io);
    expect(err).toBe('');
    expect(out).toBe(
      `Redshift compatibility functions ${REDSHIFT_COMPAT_VERSION} installed into "${c.database}"\n`,
    );
    expect(code).toBe(0);
    expect(await version(c)).toBe(REDSHIFT_COMPAT_VERSION);
  });
});

describe('the local engine’s embedded database', () => {
  const base = mkdtempSync(join(tmpdir(), 'rsqlo-compat-pg-'));
  chmodSync(base, 0o755);
  const dataDir = join(base, 'pg');
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('gets the functions in every database, template1 included, once per version', async () => {
    const db = await openDatabase({ kind: 'embedded', dataDir });
    if (!db) throw new Error('no database');
    try {
      const env = db.env;
      const c: PgConnectionInfo = {
        host: env.PGHOST as string,
        port: Number(env.PGPORT),
        user: env.PGUSER as string,
        password: env.PGPASSWORD as string,
        database: env.PGDATABASE as string,
        url: '',
      };
      expect(await version(c)).toBe(REDSHIFT_COMPAT_VERSION);
      expect(await version({ ...c, database: 'template1' })).toBe(REDSHIFT_COMPAT_VERSION);
      // a database created later has them (copied from template1)
      await query(c, 'create database later_db');
      expect(await version({ ...c, database: 'later_db' })).toBe(REDSHIFT_COMPAT_VERSION);
      expect(JSON.parse(readFileSync(markerFile(dataDir), 'utf8')).version).toBe(REDSHIFT_COMPAT_VERSION);

      // the marker makes the next start free: nothing is checked or reinstalled…
      await query(c, 'drop function pg_catalog.rsqlo_redshift_compat_version()');
      const again = await openDatabase({ kind: 'embedded', dataDir });
      await again?.release();
      expect(await version(c)).toBeNull();
      // …until the marker names another version (an upgrade), which reinstalls everywhere
      writeFileSync(markerFile(dataDir), '{"version":"older"}\n');
      const upgraded = await openDatabase({ kind: 'embedded', dataDir });
      await upgraded?.release();
      expect(await version(c)).toBe(REDSHIFT_COMPAT_VERSION);
      expect(await version({ ...c, database: 'later_db' })).toBe(REDSHIFT_COMPAT_VERSION);
      expect(existsSync(`${markerFile(dataDir)}.${process.pid}.tmp`)).toBe(false);
    } finally {
      await db.release();
    }
  });
});
