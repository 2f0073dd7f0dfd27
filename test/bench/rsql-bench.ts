/**
 * Benchmark of the `rsql` runner against psql on the same server: 10,000 single-row INSERTs into a fresh
 * table, 1,000 SELECTs returning 100 rows each, and start-up (connect and `select 1`, many runs). Both
 * clients run as processes (full wall time, start-up included), same flags, output to /dev/null; runs are
 * interleaved and the median is kept. Start-up also compares `rsql --version` with a bare `node -e 0`.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PgConnectionInfo } from '../../rsql/embedded-postgres.js';

/** Result of {@link benchRsql}: ratio = ours ÷ psql (lower is better). */
export interface RsqlBenchResult {
  insert_ratio: number;
  select_ratio: number;
  /** `rsql -c 'select 1'` ÷ `psql -c 'select 1'` (connection included), medians. */
  startup_ratio: number;
  /** `rsql --version` ÷ `node -e 0`, medians. */
  version_node_ratio: number;
  insert_ms: { rsql: number; psql: number };
  select_ms: { rsql: number; psql: number };
  startup_ms: { rsql: number; psql: number };
  version_ms: { rsql: number; node: number };
}

/** Debian's psql client. */
export const PSQL = '/usr/bin/psql';
const RSQL_BIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../bin/rsql.cjs');

/** The INSERT script: a fresh table, then `count` single-row INSERTs. */
export function insertScript(count = 10_000): string {
  const lines = [
    'drop table if exists rsql_bench_insert;',
    'create table rsql_bench_insert (id integer, name text, amount numeric(12,2), created timestamp);',
  ];
  for (let i = 0; i < count; i++) {
    lines.push(`insert into rsql_bench_insert values (${i}, 'name ${i}', ${i}.25, now());`);
  }
  return `${lines.join('\n')}\n`;
}

/** The SELECT script: `count` queries returning `rows` rows each. */
export function selectScript(count = 1_000, rows = 100): string {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    lines.push(
      `select g as id, 'row ' || g as name, g * 1.5 as amount from generate_series(${i}, ${i + rows - 1}) g;`,
    );
  }
  return `${lines.join('\n')}\n`;
}

function runOnce(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolveRun, reject) => {
    const devnull = openSync('/dev/null', 'w');
    const started = performance.now();
    const child = spawn(cmd, args, { env, stdio: ['ignore', devnull, devnull] });
    child.on('error', (e) => {
      closeSync(devnull);
      reject(e);
    });
    child.on('exit', (code, signal) => {
      const ms = performance.now() - started;
      closeSync(devnull);
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} exited with ${code ?? signal}`));
      else resolveRun(ms);
    });
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Runs the benchmark; `runs` interleaved runs per client and script (default 3), start-up 10 × as many. */
export async function benchRsql(opts: {
  connection: PgConnectionInfo;
  workDir: string;
  runs?: number;
  /** Start-up repetitions per command (default 10 × runs, at least 20). */
  startupRuns?: number;
}): Promise<RsqlBenchResult> {
  const { connection: c, workDir } = opts;
  const runs = opts.runs ?? 3;
  mkdirSync(workDir, { recursive: true });
  const insertFile = join(workDir, 'bench-insert.sql');
  const selectFile = join(workDir, 'bench-select.sql');
  writeFileSync(insertFile, insertScript());
  writeFileSync(selectFile, selectScript());
  const env: NodeJS.ProcessEnv = { ...process.env, PGPASSWORD: c.password };
  delete env.RSPASSWORD;
  const conn = ['-X', '-h', c.host, '-p', String(c.port), '-U', c.user, '-d', c.database];
  const time = async (file: string) => {
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let i = 0; i < runs; i++) {
      ours.push(await runOnce(process.execPath, [RSQL_BIN, ...conn, '-f', file], env));
      theirs.push(await runOnce(PSQL, [...conn, '-f', file], env));
    }
    return { rsql: Math.round(median(ours)), psql: Math.round(median(theirs)) };
  };
  // warm-up: the runner's bundle and code cache, the server's caches
  await runOnce(process.execPath, [RSQL_BIN, ...conn, '-c', 'select 1'], env);
  await runOnce(process.execPath, [RSQL_BIN, ...conn, '-c', 'select 1'], env);
  const insert_ms = await time(insertFile);
  const select_ms = await time(selectFile);
  // start-up: many short interleaved runs (a noisy machine moves single runs by tens of ms)
  const n = opts.startupRuns ?? Math.max(20, runs * 10);
  const startup = { rsql: [] as number[], psql: [] as number[] };
  const version = { rsql: [] as number[], node: [] as number[] };
  for (let i = 0; i < n; i++) {
    startup.rsql.push(await runOnce(process.execPath, [RSQL_BIN, ...conn, '-c', 'select 1'], env));
    startup.psql.push(await runOnce(PSQL, [...conn, '-c', 'select 1'], env));
    version.rsql.push(await runOnce(process.execPath, [RSQL_BIN, '--version'], env));
    version.node.push(await runOnce(process.execPath, ['-e', '0'], env));
  }
  const startup_ms = { rsql: Math.round(median(startup.rsql)), psql: Math.round(median(startup.psql)) };
  const version_ms = { rsql: Math.round(median(version.rsql)), node: Math.round(median(version.node)) };
  return {
    insert_ratio: Number((insert_ms.rsql / insert_ms.psql).toFixed(3)),
    select_ratio: Number((select_ms.rsql / select_ms.psql).toFixed(3)),
    startup_ratio: Number((median(startup.rsql) / median(startup.psql)).toFixed(3)),
    version_node_ratio: Number((median(version.rsql) / median(version.node)).toFixed(3)),
    insert_ms,
    select_ms,
    startup_ms,
    version_ms,
  };
}
