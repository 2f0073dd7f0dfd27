/**
 * Vitest globalSetup: one embedded PostgreSQL for the whole test run, started in a temp dir and provided to
 * test files as `pgConnection` (see test/support/postgres.ts); stopped and removed at teardown.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { ensureEmbeddedPostgres, type PgConnectionInfo } from '../../rsql/embedded-postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The shared embedded server (superuser connection to its default database). */
    pgConnection: PgConnectionInfo;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = mkdtempSync(join(tmpdir(), 'rsqlo-test-pg-'));
  // as root the server runs as OS user postgres, which must be able to traverse the directory
  chmodSync(dir, 0o755);
  const pg = await ensureEmbeddedPostgres({ dataDir: join(dir, 'pg') });
  project.provide('pgConnection', pg.connection);
  return async () => {
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
