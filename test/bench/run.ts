/**
 * `npm run bench [-- --json FILE] [-- --only sequential,fanout,scale,writes,rsql]`
 *
 * Every measurement runs beside its baseline in the same run and is reported as a ratio:
 * - sequential: 500 no-op jobs in one sequential stage ÷ a shell loop running the script 500 times;
 * - fanout: throughput of 5,000 no-op jobs in a parallel stage (max_concurrency 16) ÷ `xargs -P16`;
 * - scale: 20 stages × 500 jobs: wall time, peak RSS, store writes per job for 50- and 500-job stages;
 * - rsql: our runner ÷ psql on 10,000 INSERTs, 1,000 SELECTs of 100 rows (medians of ≥ 5 back-to-back
 *   pairs, with their spread and CPU-time ratio) and start-up (connect + select 1); `rsql --version` ÷
 *   `node -e 0`.
 * - aws: requests per job per AWS service and $ per 1,000 jobs on the AWS-path harness (aws-bench.ts).
 * Engine scenarios run in their own processes (test/bench/engine-bench.ts) so peak RSS is theirs.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { noopScript } from './engine-scenarios.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');

interface EngineResult {
  wallMs: number;
  writes: number;
  jobs: number;
  status: string;
  peak_rss_mb: number;
}

function engineScenario(name: string, workDir: string): Record<string, unknown> {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', path.join(here, 'engine-bench.ts'), name, workDir],
    {
      cwd: root,
      encoding: 'utf8',
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  if (r.status !== 0) throw new Error(`bench scenario ${name} failed: ${r.stderr}`);
  const last = r.stdout.trim().split('\n').pop() ?? '{}';
  return JSON.parse(last) as Record<string, unknown>;
}

function shellLoop(script: string, n: number): number {
  const t0 = performance.now();
  execFileSync('bash', ['-c', `for i in $(seq ${n}); do bash ${script}; done`], { stdio: 'ignore' });
  return performance.now() - t0;
}

function xargs(script: string, n: number, parallel: number): number {
  const t0 = performance.now();
  execFileSync('bash', ['-c', `seq ${n} | xargs -P${parallel} -I{} bash ${script}`], { stdio: 'ignore' });
  return performance.now() - t0;
}

const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

/** The median of a few interleaved repetitions: less at the mercy of a noisy neighbour. */
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { json: { type: 'string' }, only: { type: 'string' }, runs: { type: 'string' } },
  });
  const only = values.only ? new Set(values.only.split(',')) : undefined;
  const want = (k: string) => !only || only.has(k);
  const runs = Number(values.runs ?? '3');
  const work = mkdtempSync(path.join(tmpdir(), 'rsqlo-bench-'));
  chmodSync(work, 0o755);
  const script = noopScript(path.join(work, 'scripts'));
  const out: Record<string, Record<string, number | string>> = {};
  const rows: Array<[string, string, string, string]> = [];
  const tables: string[] = [];

  try {
    if (want('sequential')) {
      const engine: number[] = [];
      const shell: number[] = [];
      for (let i = 0; i < runs; i++) {
        shell.push(shellLoop(script, 500));
        engine.push(
          (engineScenario('sequential', path.join(work, `seq${i}`)) as unknown as EngineResult).wallMs,
        );
      }
      const e = median(engine);
      const s = median(shell);
      out.sequential = {
        ratio: round(e / s),
        overhead_ms_per_job: round((e - s) / 500),
        engine_ms: round(e, 0),
        shell_loop_ms: round(s, 0),
      };
      rows.push([
        'sequential.ratio',
        String(out.sequential.ratio),
        '≤ 3',
        `500 jobs: engine ${round(e, 0)} ms, shell loop ${round(s, 0)} ms`,
      ]);
      rows.push(['sequential.overhead_ms_per_job', String(out.sequential.overhead_ms_per_job), '', '']);
    }
    if (want('fanout')) {
      const engine: number[] = [];
      const base: number[] = [];
      let fanWrites = 0;
      for (let i = 0; i < Math.min(runs, 2); i++) {
        base.push(xargs(script, 5000, 16));
        const r = engineScenario('fanout', path.join(work, `fan${i}`)) as unknown as EngineResult;
        engine.push(r.wallMs);
        fanWrites = r.writes / r.jobs;
      }
      const e = median(engine);
      const b = median(base);
      // Throughput ratio: jobs/s of the engine ÷ jobs/s of xargs = xargs time ÷ engine time.
      out.fanout = {
        ratio: round(b / e),
        engine_jobs_per_s: round(5000 / (e / 1000), 0),
        xargs_jobs_per_s: round(5000 / (b / 1000), 0),
        writes_per_job: round(fanWrites, 1),
      };
      rows.push([
        'fanout.ratio',
        String(out.fanout.ratio),
        '≥ 0.25',
        `5,000 jobs ×16: engine ${out.fanout.engine_jobs_per_s}/s, xargs -P16 ${out.fanout.xargs_jobs_per_s}/s, ${out.fanout.writes_per_job} store writes/job`,
      ]);
    }
    if (want('scale')) {
      const r = engineScenario('scale', path.join(work, 'scale')) as unknown as EngineResult;
      const w = engineScenario('writes', path.join(work, 'writes')) as unknown as {
        small: EngineResult;
        large: EngineResult;
        seqSmall: EngineResult;
        seqLarge: EngineResult;
      };
      out.scale = {
        wall_s: round(r.wallMs / 1000, 1),
        peak_rss_mb: round(r.peak_rss_mb, 0),
        jobs: r.jobs,
        status: r.status,
        writes_per_job_small: round(w.small.writes / w.small.jobs, 1),
        writes_per_job_large: round(w.large.writes / w.large.jobs, 1),
        writes_per_job_sequential_small: round(w.seqSmall.writes / w.seqSmall.jobs, 1),
        writes_per_job_sequential_large: round(w.seqLarge.writes / w.seqLarge.jobs, 1),
      };
      rows.push([
        'scale.wall_s',
        String(out.scale.wall_s),
        '',
        `20 stages × 500 jobs (max_concurrency 16) = ${r.jobs} jobs, ${r.status}`,
      ]);
      rows.push([
        'scale.peak_rss_mb',
        String(out.scale.peak_rss_mb),
        '≤ 300',
        'peak RSS of the engine process',
      ]);
      rows.push([
        'scale.writes_per_job_small',
        String(out.scale.writes_per_job_small),
        '',
        'store rows written per job, 50-job stage',
      ]);
      rows.push([
        'scale.writes_per_job_large',
        String(out.scale.writes_per_job_large),
        '≈ small',
        'store rows written per job, 500-job stage',
      ]);
    }
    if (want('rsql')) {
      const { benchRsql } = await import('./rsql-bench.js');
      const { ensureEmbeddedPostgres } = await import('../../rsql/embedded-postgres.js');
      const pgDir = path.join(work, 'pg');
      mkdirSync(pgDir, { recursive: true });
      const pg = await ensureEmbeddedPostgres({ dataDir: path.join(pgDir, 'data') });
      try {
        const r = await benchRsql({ connection: pg.connection, workDir: path.join(work, 'rsql'), runs });
        out.rsql = {
          insert_ratio: round(r.insert_ratio),
          select_ratio: round(r.select_ratio),
          insert_ms_rsql: round(r.insert_ms.rsql, 0),
          insert_ms_psql: round(r.insert_ms.psql, 0),
          select_ms_rsql: round(r.select_ms.rsql, 0),
          select_ms_psql: round(r.select_ms.psql, 0),
          insert_spread: r.insert.spread.join('–'),
          select_spread: r.select.spread.join('–'),
          insert_cpu_ratio: round(r.insert.cpu.ratio),
          select_cpu_ratio: round(r.select.cpu.ratio),
          select_cpu_ms_rsql: r.select.cpu.rsql,
          select_cpu_ms_psql: r.select.cpu.psql,
          pairs: r.select.pairs,
          startup_ratio: round(r.startup_ratio),
          startup_ms_rsql: r.startup_ms.rsql,
          startup_ms_psql: r.startup_ms.psql,
          version_node_ratio: round(r.version_node_ratio),
          version_ms_rsql: r.version_ms.rsql,
          version_ms_node: r.version_ms.node,
        };
        rows.push([
          'rsql.insert_ratio',
          String(out.rsql.insert_ratio),
          '≤ 1.5',
          `10,000 INSERTs, median of ${out.rsql.pairs} pair ratios (spread ${out.rsql.insert_spread}, CPU ratio ${out.rsql.insert_cpu_ratio}): rsql ${out.rsql.insert_ms_rsql} ms, psql ${out.rsql.insert_ms_psql} ms`,
        ]);
        rows.push([
          'rsql.select_ratio',
          String(out.rsql.select_ratio),
          '≤ 1.5',
          `1,000 SELECTs × 100 rows, median of ${out.rsql.pairs} pair ratios (spread ${out.rsql.select_spread}): rsql ${out.rsql.select_ms_rsql} ms, psql ${out.rsql.select_ms_psql} ms; CPU ${out.rsql.select_cpu_ms_rsql} / ${out.rsql.select_cpu_ms_psql} ms = ${out.rsql.select_cpu_ratio}`,
        ]);
        rows.push([
          'rsql.startup_ratio',
          String(out.rsql.startup_ratio),
          '',
          `connect + select 1, medians: rsql ${out.rsql.startup_ms_rsql} ms, psql ${out.rsql.startup_ms_psql} ms`,
        ]);
        rows.push([
          'rsql.version_node_ratio',
          String(out.rsql.version_node_ratio),
          '≤ 1.2',
          `medians: rsql --version ${out.rsql.version_ms_rsql} ms, node -e 0 ${out.rsql.version_ms_node} ms`,
        ]);
      } finally {
        await pg.stop();
      }
    }
    if (want('aws')) {
      const { runAwsBench } = await import('./aws-bench.js');
      const r = runAwsBench(root, work);
      if ('skipped' in r) rows.push(['aws', 'skipped', '', r.skipped]);
      else {
        (out as Record<string, unknown>).aws = r.json;
        rows.push(...r.rows);
        tables.push(...r.tables);
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }

  const widths = [0, 1, 2].map((i) =>
    Math.max(...rows.map((r) => r[i]?.length ?? 0), ['key', 'value', 'target'][i]?.length ?? 0),
  );
  const line = (r: string[]) => r.map((c, i) => (i < 3 ? c.padEnd(widths[i] ?? 0) : c)).join('  ');
  process.stdout.write(`${line(['key', 'value', 'target', 'measured'])}\n`);
  for (const r of rows) process.stdout.write(`${line(r)}\n`);
  for (const t of tables) process.stdout.write(`\n${t}\n`);
  if (values.json) {
    writeFileSync(values.json, `${JSON.stringify(out, null, 2)}\n`);
    process.stdout.write(`\nwrote ${values.json}\n`);
  }
}

await main();
