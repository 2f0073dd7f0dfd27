import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Seconds each of the longest test files took in a whole-suite run (one worker, 2 cores, busy
 * machine; `vitest run --reporter=json`), longest first. Only the order matters: with several
 * workers, a 6-minute file started last makes the whole run 6 minutes longer, so the long ones
 * start first and the short ones fill the gaps. A clean clone has no vitest cache of durations
 * (it sorts by file size then, which puts these late), hence this list. Refresh it when a file
 * becomes one of the slow ones; a file not listed counts as short.
 */
export const SLOW_FILES: Readonly<Record<string, number>> = {
  'test/aws/large-stage.test.ts': 386,
  'test/e2e/soak.test.ts': 56,
  'agent/daemon-attacks.test.ts': 48,
  'test/e2e/serve.test.ts': 48,
  'rsql/embedded-postgres.test.ts': 44,
  'test/e2e/faults.test.ts': 41,
  'host/job-runner.test.ts': 37,
  'test/e2e/web-run-view.test.ts': 33,
  'test/aws/duplicates.test.ts': 31,
  'test/e2e/engine-lock.test.ts': 30,
  'runtime/aws/dynamo-repositories.test.ts': 30,
  'test/e2e/logs.test.ts': 27,
  'test/e2e/database-faults.test.ts': 26,
  'services/planner/service.test.ts': 24,
  'test/aws/failure-restart.test.ts': 24,
  'test/e2e/restart-rules.test.ts': 23,
  'test/aws/agent-faults.test.ts': 23,
  'rsql/redshift/install.test.ts': 22,
  'test/aws/local-parity.test.ts': 22,
  'agent/daemon.test.ts': 21,
  'test/aws/races.test.ts': 20,
  'test/e2e/rsql-jobs.test.ts': 20,
  'test/e2e/tickit-example.test.ts': 19,
};

/** Vitest's own order (failed first, then by cached duration or size), the known slow files first. */
export class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const root = `${this.ctx.config.root}/`;
    const weight = (f: TestSpecification) => SLOW_FILES[f.moduleId.replace(root, '')] ?? 0;
    // Array.prototype.sort is stable: among files of equal weight, vitest's order stands.
    return (await super.sort(files)).sort((a, b) => weight(b) - weight(a));
  }
}
