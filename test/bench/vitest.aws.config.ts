/**
 * `npm run bench` runs the AWS-path cost scenarios (test/bench/aws-cost.scenario.ts) with this
 * config: they use the same harness, DynamoDB Local and embedded PostgreSQL as the AWS-path tests,
 * but are not part of `npm test` (a 1,000-job stage is a measurement, not a check).
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/bench/aws-cost.scenario.ts'],
    testTimeout: 1_800_000,
    hookTimeout: 300_000,
    pool: 'forks',
    globalSetup: ['test/support/postgres-global-setup.ts', 'test/support/dynamodb-local-global-setup.ts'],
  },
});
