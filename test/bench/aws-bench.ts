/**
 * The `aws` part of `npm run bench`: runs the AWS-path cost scenarios (aws-cost.scenario.ts, in
 * vitest with vitest.aws.config.ts, so the harness and its emulators start as in the tests), prices
 * their request counters (aws-cost.ts) and returns the `aws.*` keys and the per-service tables.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { type AwsUsage, type CostReport, costOf, formatCost } from './aws-cost.js';

export interface AwsBenchResult {
  json: Record<string, unknown>;
  rows: Array<[string, string, string, string]>;
  tables: string[];
}

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;

/** Requests per job per service: the counts behind the cost table, unpriced. */
function perJob(u: AwsUsage): Record<string, unknown> {
  const per = (n: number) => round(n / u.jobs, 3);
  return {
    lambda_invocations: per(Object.values(u.lambda).reduce((n, f) => n + f.invocations, 0)),
    lambda_invocations_by_function: Object.fromEntries(
      Object.entries(u.lambda).map(([name, f]) => [name, per(f.invocations)]),
    ),
    state_transitions: per(u.wrapperTransitions),
    scheduler_invocations: per(u.schedulerInvocations),
    put_events_entries: per(u.putEvents.entries),
    put_events_requests: per(u.putEvents.requests),
    sqs_requests: per(u.sqs.requests - u.sqs.emptyReceives),
    sqs_empty_receives: per(u.sqs.emptyReceives),
    dynamodb_wru: per(u.dynamo.wru + u.dynamo.failedWriteUnits),
    dynamodb_rru: per(u.dynamo.rru),
    // Where the request units go: per `caller Operation`, requests and units per job.
    dynamodb_by_request: Object.fromEntries(
      Object.entries(u.dynamo.byRequest ?? {})
        .sort(([, a], [, b]) => b.units - a.units)
        .map(([k, v]) => [k, { requests: per(v.requests), units: per(v.units) }]),
    ),
    ssm_commands: per(u.ssmCommands),
    put_log_events: per(u.putLogEvents),
  };
}

/** Runs the scenarios; `skipped` says why there are no aws keys (no java for DynamoDB Local). */
export function runAwsBench(root: string, workDir: string): AwsBenchResult | { skipped: string } {
  const out = path.join(workDir, 'aws-bench.json');
  const r = spawnSync(
    process.execPath,
    [
      path.join(root, 'node_modules', 'vitest', 'vitest.mjs'),
      'run',
      '--config',
      'test/bench/vitest.aws.config.ts',
    ],
    {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, RSQLO_AWS_BENCH_OUT: out },
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  if (r.status !== 0) throw new Error(`AWS cost scenarios failed:\n${r.stdout}\n${r.stderr}`);
  if (!existsSync(out))
    return { skipped: 'the AWS-path scenarios did not run (is java on PATH for DynamoDB Local?)' };
  const data = JSON.parse(readFileSync(out, 'utf8')) as Record<string, AwsUsage & Record<string, unknown>>;
  const json: Record<string, unknown> = {};
  const rows: AwsBenchResult['rows'] = [];
  const tables: string[] = [];
  const reports: CostReport[] = [];
  for (const [key, title] of [
    ['blog', 'the blog workflow (examples/blog)'],
    ['large_stage', 'a 1,000-job parallel stage'],
  ] as const) {
    const u = data[key];
    if (!u) continue;
    const c = costOf(u);
    reports.push(c);
    tables.push(formatCost(`aws.${key}: ${title}, ${u.jobs} jobs`, c));
    json[key] = {
      jobs: u.jobs,
      cost_per_1000_jobs_usd: round(c.usdPer1000Jobs, 5),
      transitions_per_successful_job: round(c.transitionsPerSuccessfulJob, 3),
      per_job: perJob(u),
      usd_per_1000_jobs_by_service: Object.fromEntries(
        c.lines.map((l) => [`${l.service} ${l.unit}`.replace(/ \(.*\)$/, ''), round(l.usdPer1000Jobs, 6)]),
      ),
    };
    rows.push([
      `aws.${key}.cost_per_1000_jobs_usd`,
      String(round(c.usdPer1000Jobs, 4)),
      '≤ 0.05',
      `${u.jobs} jobs; table below`,
    ]);
    rows.push([
      `aws.${key}.transitions_per_successful_job`,
      String(round(c.transitionsPerSuccessfulJob, 2)),
      '≤ 2',
      'the job wrapper (the run watchdog is a Scheduler schedule)',
    ]);
    if (key === 'large_stage') {
      const peak = Number(u.peak_overlap);
      const limit = Number(u.max_concurrency);
      (json[key] as Record<string, unknown>).peak_overlap = peak;
      (json[key] as Record<string, unknown>).peak_overlap_ratio = round(peak / limit, 2);
      (json[key] as Record<string, unknown>).wall_s = round(Number(u.wall_s), 1);
      rows.push([
        'aws.large_stage.peak_overlap_ratio',
        String(round(peak / limit, 2)),
        '≥ 0.5',
        `peak ${peak} jobs at once of max_concurrency ${limit} (timing: noisy on a shared machine)`,
      ]);
    }
  }
  // The keys the issue names: the worse of the two scenarios.
  json.cost_per_1000_jobs_usd = round(Math.max(...reports.map((c) => c.usdPer1000Jobs)), 5);
  json.transitions_per_successful_job = round(
    Math.max(...reports.map((c) => c.transitionsPerSuccessfulJob)),
    3,
  );
  rows.unshift(
    [
      'aws.cost_per_1000_jobs_usd',
      String(json.cost_per_1000_jobs_usd),
      '≤ 0.05',
      'the worse of the two scenarios',
    ],
    [
      'aws.transitions_per_successful_job',
      String(json.transitions_per_successful_job),
      '≤ 2',
      'the worse of the two',
    ],
  );
  return { json, rows, tables };
}
