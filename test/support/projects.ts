/**
 * Which test files are unit tests and which are integration tests (vitest.config.ts's two
 * projects). Integration: the end-to-end suites (test/e2e, test/aws), the CDK app's synth and
 * validation (infra/: slow, CPU-bound), and any test file that uses the run's embedded
 * PostgreSQL or DynamoDB Local (it imports their test support, or starts a server itself). Unit:
 * the rest — no PostgreSQL, no Java, quick. Decided from the files themselves, so a new test lands
 * in the right project without anyone listing it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** What makes a test file an integration test: it needs a database server or Java. */
export const INTEGRATION_MARKERS: RegExp[] = [
  /support\/postgres(\.js)?['"]/,
  /support\/dynamodb-local(\.js)?['"]/,
  /\/test-helpers(\.js)?['"]/,
  /\bensureEmbeddedPostgres\b/,
];

const SKIP_DIRS = new Set(['node_modules', '.git', 'cdk.out', '.rsqlo', 'coverage']);

function testFiles(root: string, dir = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(root, dir), { withFileTypes: true })) {
    if (e.name.startsWith('.') && e.name !== '.ci') continue;
    const rel = dir ? `${dir}/${e.name}` : e.name;
    if (e.isDirectory()) {
      if (!SKIP_DIRS.has(e.name)) out.push(...testFiles(root, rel));
    } else if (e.name.endsWith('.test.ts')) out.push(rel);
  }
  return out;
}

/** The test files of the two projects, relative to `root`, sorted. */
export function splitTestFiles(root: string): { unit: string[]; integration: string[] } {
  const unit: string[] = [];
  const integration: string[] = [];
  for (const file of testFiles(root).sort()) {
    const text = readFileSync(path.join(root, file), 'utf8');
    if (/^(test\/(e2e|aws)|infra)\//.test(file) || INTEGRATION_MARKERS.some((m) => m.test(text)))
      integration.push(file);
    else unit.push(file);
  }
  return { unit, integration };
}
