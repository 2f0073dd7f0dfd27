/**
 * `rsqlo sql`: the RSQL-compatible runner against the engine's database (and
 * `--install-compat`).
 */
import { openDatabase } from '../runtime/local/database.js';
import { databaseOf, homeOf, UsageError } from './command-kit.js';
import { EXIT, type Io } from './drive.js';

/**
 * `rsqlo sql`: the runner against the engine's database. Our own options (--home, --database-url)
 * may come anywhere; everything else is the runner's.
 */
export async function sqlCommand(argv: string[], io: Io): Promise<number> {
  let home: string | undefined;
  let url: string | undefined;
  let installCompat = false;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const value = (name: string): string => {
      if (a.startsWith(`${name}=`)) return a.slice(name.length + 1);
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${name} needs a value`);
      return v;
    };
    if (a === '--home' || a.startsWith('--home=')) home = value('--home');
    else if (a === '--database-url' || a.startsWith('--database-url=')) url = value('--database-url');
    else if (a === '--install-compat') installCompat = true;
    else rest.push(a);
  }
  const h = homeOf({ home });
  const target = databaseOf({ 'database-url': url }, h);
  let db: Awaited<ReturnType<typeof openDatabase>>;
  try {
    db = await openDatabase(target);
  } catch (err) {
    io.stderr.write(
      `rsqlo: cannot reach the database: ${err instanceof Error ? err.message : String(err)}\n`,
    );
    return EXIT.usage;
  }
  try {
    if (installCompat && db) {
      const code = await installCompatCommand(db.env, target.kind === 'embedded', io);
      if (code !== 0 || rest.length === 0) return code;
    }
    const { main: rsql } = await import('../rsql/main.js');
    return await rsql(rest, {
      env: { ...process.env, ...db?.env },
      stdout: io.stdout as never,
      stderr: io.stderr as never,
    });
  } finally {
    await db?.release();
  }
}

/** `rsqlo sql --install-compat`: the Redshift functions into the target (every database when embedded). */
async function installCompatCommand(
  env: Record<string, string>,
  everyDatabase: boolean,
  io: Io,
): Promise<number> {
  const { installRedshiftCompat, REDSHIFT_COMPAT_VERSION } = await import('../rsql/redshift/install.js');
  const c = {
    host: env.PGHOST ?? 'localhost',
    port: Number(env.PGPORT ?? 5432),
    user: env.PGUSER ?? '',
    password: env.PGPASSWORD ?? '',
    database: env.PGDATABASE ?? '',
  };
  try {
    const r = await installRedshiftCompat(
      c,
      everyDatabase ? { force: true } : { databases: [c.database], force: true },
    );
    for (const note of r.notes) io.stderr.write(`rsqlo: ${note}\n`);
    io.stdout.write(
      `Redshift compatibility functions ${REDSHIFT_COMPAT_VERSION} installed into ${r.installed.map((d) => `"${d}"`).join(', ')}\n`,
    );
    return 0;
  } catch (err) {
    io.stderr.write(`rsqlo: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT.failed;
  }
}
