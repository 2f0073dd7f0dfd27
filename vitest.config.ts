import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';
import { splitTestFiles } from './test/support/projects.js';
import { SlowFirstSequencer } from './test/support/sequencer.js';

/**
 * Two projects (`npm test` runs both): `unit` needs no PostgreSQL and no Java and is quick
 * (`npm run test:unit`); `integration` (`npm run test:integration`) gets the run's embedded
 * PostgreSQL and DynamoDB Local. Which file goes where is decided in test/support/projects.ts.
 * Every run works in its own temp directory, removed at the end or, when interrupted, by a janitor
 * (test/support/run-dir.ts).
 */
const files = splitTestFiles(import.meta.dirname);

/**
 * Test files run at once: one per core, at least 2 (RSQLO_TEST_WORKERS overrides). Vitest's default
 * is cores − 1, a single worker on a 2-core machine, where most integration files spend their
 * time waiting on child processes, PostgreSQL and DynamoDB Local rather than on the CPU.
 */
const workers = Number(process.env.RSQLO_TEST_WORKERS) || Math.max(2, availableParallelism());

const CDK_NAG_DEPRECATION =
  /^\[WARNING\] aws-cdk-lib\.aws_events\.CfnEventBusPolicy#principal is deprecated, and will be removed in the next major release\.\n\s*this property has been deprecated\s*$/;

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: workers,
    // The long files first, so that none of them starts last (test/support/sequencer.ts).
    sequence: { sequencer: SlowFirstSequencer },
    env: {
      // The SDK's notice that its 2027 releases will need Node 22 (it is printed once per worker):
      // nothing a test can act on. AWS's documented switch, set for the tests only.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
    // cdk-nag's EventBusOpenAccess rule reads CfnEventBusPolicy#principal, which jsii reports as
    // deprecated (on stderr, per synth): a library reading its own deprecated property, not ours.
    // Only that message is dropped; any other deprecation, ours included, still shows.
    onConsoleLog: (log) => !CDK_NAG_DEPRECATION.test(log),
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: files.unit,
          // Unit files share a worker's loaded modules instead of importing them again per file
          // (the imports were a third of the unit run). They keep no state across files: the
          // project passes in any order with this on and off.
          isolate: false,
          globalSetup: ['test/support/run-dir-global-setup.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: files.integration,
          // Whole workflows on real servers: generous liveness bounds for loaded machines.
          testTimeout: 180_000,
          globalSetup: [
            'test/support/run-dir-global-setup.ts',
            'test/support/postgres-global-setup.ts',
            'test/support/dynamodb-local-global-setup.ts',
          ],
        },
      },
    ],
  },
});
