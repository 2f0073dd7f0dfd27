/**
 * Engine benchmarks, one scenario per process so peak RSS is the scenario's own:
 *   node bin/... test/bench/engine-bench.ts <sequential|fanout|scale|writes> <workdir>
 * prints one JSON line with the measurements. test/bench/run.ts runs them with their baselines.
 */
import { scenario } from './engine-scenarios.js';

const [name, workDir] = process.argv.slice(2);
if (!name || !workDir) {
  process.stderr.write('usage: engine-bench.ts <scenario> <workdir>\n');
  process.exit(2);
}
const result = await scenario(name, workDir);
const rss = process.resourceUsage().maxRSS / 1024;
process.stdout.write(`${JSON.stringify({ ...result, peak_rss_mb: Math.round(rss * 10) / 10 })}\n`);
