/**
 * Holds a SQLite database's write lock the way another tool would (a `sqlite3` shell in a
 * transaction, a backup): `BEGIN IMMEDIATE`, then nothing until told. Prints `held` once it has
 * the lock; on the stdin line `release` commits, prints `released` and exits.
 * Usage: sqlite-holder.ts <database file>
 */
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';

const db = new Database(process.argv[2] as string, { timeout: 120_000 });
db.exec('BEGIN IMMEDIATE');
process.stdout.write('held\n');
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() !== 'release') return;
  db.exec('COMMIT');
  db.close();
  process.stdout.write('released\n');
  process.exit(0);
});
