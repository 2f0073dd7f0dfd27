/**
 * `npx tsx test/bench/rsql-bench-main.ts [runs]`: starts an embedded PostgreSQL in a temp dir, runs
 * {@link benchRsql} and prints the result as JSON.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureEmbeddedPostgres } from '../../rsql/embedded-postgres.js';
import { benchRsql } from './rsql-bench.js';

const dir = mkdtempSync(join(tmpdir(), 'rsql-bench-'));
chmodSync(dir, 0o755); // as root, the server's OS user must be able to traverse it
const pg = await ensureEmbeddedPostgres({ dataDir: join(dir, 'pg') }).catch((e: Error) => {
  process.stderr.write(`${e.name}: ${e.message}\n`);
  process.exit(1);
});
try {
  const runs = Number(process.argv[2] ?? '3');
  const result = await benchRsql({ connection: pg.connection, workDir: join(dir, 'work'), runs });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} finally {
  await pg.stop();
  rmSync(dir, { recursive: true, force: true });
}
