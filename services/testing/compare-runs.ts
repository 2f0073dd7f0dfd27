/**
 * Comparing runs: a run's audit records without timestamps, a readable diff of two values, and
 * the same scenario played clean and under chaos (duplicated, shuffled deliveries).
 */
import { createSimulation, type Simulation } from './simulation.js';
import type { SimulationOptions } from './simulation-types.js';

const TIMESTAMP_KEYS = new Set([
  'execution_start_ts',
  'execution_end_ts',
  'started_at',
  'finished_at',
  'not_before',
  'occurred_at',
  // When a service applied an operator action (its clock): the request's own time stays compared.
  'applied_at',
]);

function stripTimestamps(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripTimestamps);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (!TIMESTAMP_KEYS.has(k)) out[k] = stripTimestamps(x);
    return out;
  }
  return v;
}

/**
 * A run's final audit records without timestamps, with the run's `failed_jobs` in job order (two
 * jobs failing at the same instant may be counted in either order): what must be identical
 * whether deliveries were clean or duplicated and shuffled.
 */
export function auditSnapshot(sim: Simulation, exec: string): { run: unknown; jobs: unknown } {
  const run = sim.run(exec);
  if (run) run.failed_jobs.sort((a, b) => a.job_key.localeCompare(b.job_key, 'en', { numeric: true }));
  return { run: stripTimestamps(run), jobs: stripTimestamps(sim.jobs(exec)) };
}

/** A test scenario: drives a simulation (requests, scripts, runUntilIdle…) to its end. */
export type Scenario = (sim: Simulation) => Promise<void>;

/** Builds a simulation with `opts`, plays `scenario` on it and returns it. */
export async function runScenario(opts: SimulationOptions, scenario: Scenario): Promise<Simulation> {
  const sim = createSimulation(opts);
  await scenario(sim);
  return sim;
}

/** Where two JSON-like values differ, as `path: a ≠ b` lines (at most `limit`). */
export function diffValues(a: unknown, b: unknown, path = '', limit = 10): string[] {
  const out: string[] = [];
  const walk = (x: unknown, y: unknown, p: string): void => {
    if (out.length >= limit) return;
    if (x === y) return;
    if (Array.isArray(x) && Array.isArray(y)) {
      if (x.length !== y.length) out.push(`${p || '(root)'}: length ${x.length} ≠ ${y.length}`);
      for (let i = 0; i < Math.min(x.length, y.length); i++) walk(x[i], y[i], `${p}[${i}]`);
      return;
    }
    if (x && y && typeof x === 'object' && typeof y === 'object' && !Array.isArray(x) && !Array.isArray(y)) {
      const keys = new Set([...Object.keys(x), ...Object.keys(y)]);
      for (const k of [...keys].sort()) {
        walk((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k], p ? `${p}.${k}` : k);
      }
      return;
    }
    out.push(`${p || '(root)'}: ${JSON.stringify(x)} ≠ ${JSON.stringify(y)}`);
  };
  walk(a, b, path);
  return out;
}

/**
 * Plays `scenario` once with clean deliveries and once per seed with every delivery duplicated and
 * shuffled, and reports what differs: problems (violations, dead letters) of any run, and the final
 * audit records of `executions` (timestamps ignored) against the clean run. Empty means at-least-once
 * delivery and reordering changed nothing. Returns the clean simulation too, for further checks.
 */
export async function compareUnderChaos(
  opts: SimulationOptions,
  scenario: Scenario,
  executions: string[],
  seeds: readonly number[] = [1, 2, 3, 4, 5, 6],
): Promise<{ clean: Simulation; differences: string[] }> {
  const clean = await runScenario(opts, scenario);
  const differences = clean.problems().map((p) => `clean run: ${p}`);
  for (const seed of seeds) {
    const chaotic = await runScenario(
      { ...opts, chaos: { duplicate: true, shuffle: true, ...opts.chaos, seed } },
      scenario,
    );
    differences.push(...chaotic.problems().map((p) => `seed ${seed}: ${p}`));
    for (const exec of executions) {
      for (const d of diffValues(auditSnapshot(chaotic, exec), auditSnapshot(clean, exec))) {
        differences.push(`seed ${seed}, ${exec}: ${d} (chaos ≠ clean)`);
      }
    }
  }
  return { clean, differences };
}
