/**
 * Benchmark of the `rsql` runner against psql on the same server: 10,000 single-row INSERTs into a fresh
 * table, 1,000 SELECTs returning 100 rows each, and start-up (connect and `select 1`, many runs). Both
 * clients run as processes (full wall time, start-up included), same flags, same database, output to
 * /dev/null, after a warm-up run of each.
 *
 * The machine is shared (other builds and tests use the cores), so single runs move by a factor of two.
 * The scripts are therefore timed in pairs — one rsql run and one psql run back to back, the order
 * alternating — and a ratio is the median of the pairs' ratios: both runs of a pair see about the same
 * neighbours, and the median drops the pairs a burst hit. The spread (lowest and highest pair ratio) is
 * reported beside it, and so is the ratio of the clients' own CPU time (user + system, from the shell's
 * `times`), which neighbours move much less than wall time.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PgConnectionInfo } from '../../rsql/embedded-postgres.js';

/** One script's timing: medians of the runs and the spread of the per-pair ratios. */
export interface PairedTiming {
  /** Median wall time per client, ms. */
  rsql: number;
  psql: number;
  /** Median of the pairs' wall-time ratios (rsql ÷ psql). */
  ratio: number;
  /** Lowest and highest pair ratio. */
  spread: [number, number];
  /** Median client CPU time (user + system), ms, and their ratio. */
  cpu: { rsql: number; psql: number; ratio: number };
  pairs: number;
}

/** Result of {@link benchRsql}: ratio = ours ÷ psql (lower is better). */
export interface RsqlBenchResult {
  insert_ratio: number;
  select_ratio: number;
  insert: PairedTiming;
  select: PairedTiming;
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

/** Runs a command with output to /dev/null (spawned directly: start-up timings carry no shell); its wall time. */
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

/**
 * Runs a command with output to /dev/null: its wall time and (through `sh`'s `times`, on fd 3) the CPU
 * time it used, user + system. The shell's own share is a few ms, the same for both clients.
 */
function run(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ wallMs: number; cpuMs: number }> {
  return new Promise((resolveRun, reject) => {
    const devnull = openSync('/dev/null', 'w');
    const started = performance.now();
    const child = spawn('/bin/sh', ['-c', '"$@"; rc=$?; times >&3; exit $rc', 'sh', cmd, ...args], {
      env,
      stdio: ['ignore', devnull, devnull, 'pipe'],
    });
    let times = '';
    child.stdio[3]?.on('data', (b: Buffer) => {
      times += b.toString();
    });
    child.on('error', (e) => {
      closeSync(devnull);
      reject(e);
    });
    child.on('close', (code, signal) => {
      const wallMs = performance.now() - started;
      closeSync(devnull);
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} exited with ${code ?? signal}`));
      else resolveRun({ wallMs, cpuMs: childCpuMs(times) });
    });
  });
}

/** The children's user + system time from `times` output (second line: `0m0.450000s 0m0.090000s`). */
export function childCpuMs(times: string): number {
  const line = times.trim().split('\n')[1] ?? '';
  let ms = 0;
  for (const m of line.matchAll(/(\d+)m([\d.]+)s/g)) ms += (Number(m[1]) * 60 + Number(m[2])) * 1000;
  return ms;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/**
 * Times `ours` and `theirs` in `runs` back-to-back pairs (alternating which goes first) after one warm-up
 * run of each.
 */
export async function paired(
  ours: [string, string[]],
  theirs: [string, string[]],
  env: NodeJS.ProcessEnv,
  runs: number,
): Promise<PairedTiming> {
  await run(...ours, env);
  await run(...theirs, env);
  const a: { wallMs: number; cpuMs: number }[] = [];
  const b: { wallMs: number; cpuMs: number }[] = [];
  for (let i = 0; i < runs; i++) {
    if (i % 2 === 0) {
      a.push(await run(...ours, env));
      b.push(await run(...theirs, env));
    } else {
      b.push(await run(...theirs, env));
      a.push(await run(...ours, env));
    }
  }
  const ratios = a.map((x, i) => x.wallMs / (b[i] as { wallMs: number }).wallMs);
  const cpuA = median(a.map((x) => x.cpuMs));
  const cpuB = median(b.map((x) => x.cpuMs));
  return {
    rsql: Math.round(median(a.map((x) => x.wallMs))),
    psql: Math.round(median(b.map((x) => x.wallMs))),
    ratio: Number(median(ratios).toFixed(3)),
    spread: [Number(Math.min(...ratios).toFixed(3)), Number(Math.max(...ratios).toFixed(3))],
    cpu: { rsql: Math.round(cpuA), psql: Math.round(cpuB), ratio: Number((cpuA / cpuB).toFixed(3)) },
    pairs: runs,
  };
}

/** Runs the benchmark; `runs` pairs per script (default and minimum 5), start-up 10 × as many. */
export async function benchRsql(opts: {
  connection: PgConnectionInfo;
  workDir: string;
  runs?: number;
  /** Start-up repetitions per command (default 10 × runs, at least 20). */
  startupRuns?: number;
}): Promise<RsqlBenchResult> {
  const { connection: c, workDir } = opts;
  // fewer than 5 pairs leaves the median at the mercy of one or two disturbed runs
  const runs = Math.max(5, opts.runs ?? 5);
  mkdirSync(workDir, { recursive: true });
  const insertFile = join(workDir, 'bench-insert.sql');
  const selectFile = join(workDir, 'bench-select.sql');
  writeFileSync(insertFile, insertScript());
  writeFileSync(selectFile, selectScript());
  const env: NodeJS.ProcessEnv = { ...process.env, PGPASSWORD: c.password };
  delete env.RSPASSWORD;
  const conn = ['-X', '-h', c.host, '-p', String(c.port), '-U', c.user, '-d', c.database];
  const time = (file: string) =>
    paired([process.execPath, [RSQL_BIN, ...conn, '-f', file]], [PSQL, [...conn, '-f', file]], env, runs);
  // warm-up: the runner's bundle and code cache, the server's caches
  await runOnce(process.execPath, [RSQL_BIN, ...conn, '-c', 'select 1'], env);
  await runOnce(process.execPath, [RSQL_BIN, ...conn, '-c', 'select 1'], env);
  const insert = await time(insertFile);
  const select = await time(selectFile);
  const insert_ms = { rsql: insert.rsql, psql: insert.psql };
  const select_ms = { rsql: select.rsql, psql: select.psql };
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
    insert_ratio: insert.ratio,
    select_ratio: select.ratio,
    insert,
    select,
    startup_ratio: Number((median(startup.rsql) / median(startup.psql)).toFixed(3)),
    version_node_ratio: Number((median(version.rsql) / median(version.node)).toFixed(3)),
    insert_ms,
    select_ms,
    startup_ms,
    version_ms,
  };
}
