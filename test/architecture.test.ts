import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * DESIGN §3 / §10: the services are pure logic over ports; only the AWS adapters (runtime/aws/),
 * the agent (agent/) and the Lambda entries (handler.ts files) may depend on the AWS SDK, the
 * Lambda types or Powertools. Tests and test helpers may use them too.
 */
const ROOT = path.resolve(import.meta.dirname, '..');
const SKIP_DIRS = new Set(['node_modules', '.git', '.rsqlo', 'cdk.out', 'coverage', '.bench']);
const SOURCE = /\.(ts|mts|cts|js|mjs|cjs)$/;
const AWS_ONLY = /^(@aws-sdk\/|@aws-lambda-powertools\/|aws-lambda$)/;

/** Module specifiers a file imports, exports from, dynamically imports or requires. */
function importedModules(source: string): string[] {
  const out: string[] = [];
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const p of patterns) for (const m of source.matchAll(p)) if (m[1]) out.push(m[1]);
  return out;
}

function allowed(file: string): boolean {
  const rel = file.split(path.sep).join('/');
  return (
    rel.startsWith('runtime/aws/') ||
    rel.startsWith('agent/') ||
    path.posix.basename(rel) === 'handler.ts' ||
    /\.test\.[cm]?[jt]s$/.test(rel) ||
    rel.startsWith('test/') ||
    rel.split('/').includes('testing')
  );
}

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) sourceFiles(path.join(dir, entry.name), out);
    } else if (SOURCE.test(entry.name) && !entry.name.endsWith('.d.ts')) {
      out.push(path.join(dir, entry.name));
    }
  }
  return out;
}

describe('architecture', () => {
  it('finds every kind of import', () => {
    const code = [
      "import { A } from '@aws-sdk/client-sqs';",
      "import type { B } from 'aws-lambda';",
      "import '@aws-lambda-powertools/logger';",
      "export * from '@aws-sdk/lib-dynamodb';",
      "const m = await import('@aws-sdk/client-ssm');",
      "const r = require('aws-lambda');",
      'import {\n  C,\n  D,\n} from "./local.js";',
    ].join('\n');
    expect(importedModules(code)).toEqual([
      '@aws-sdk/client-sqs',
      'aws-lambda',
      '@aws-lambda-powertools/logger',
      '@aws-sdk/lib-dynamodb',
      './local.js',
      '@aws-sdk/client-ssm',
      'aws-lambda',
    ]);
    expect(importedModules(code).filter((m) => AWS_ONLY.test(m))).toHaveLength(6);
    expect(AWS_ONLY.test('aws-lambda-helpers')).toBe(false);
  });

  it('keeps the AWS SDK, aws-lambda and Powertools inside runtime/aws/, agent/ and handler.ts files', () => {
    const files = sourceFiles(ROOT);
    expect(files.length).toBeGreaterThan(50);
    const offenders: string[] = [];
    for (const file of files) {
      const rel = path.relative(ROOT, file);
      if (allowed(rel)) continue;
      for (const m of importedModules(readFileSync(file, 'utf8'))) {
        if (AWS_ONLY.test(m)) offenders.push(`${rel} imports ${m}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('keeps web/ (the run view) on its ports: contracts, web/ itself and services/ports types only', () => {
    // The view is mounted by `rsqlo serve` locally and will be served from AWS audit tables: it
    // must not reach into a runtime. Its composition roots for trying it by hand (web/dev*.ts) may.
    const offenders: string[] = [];
    const files = sourceFiles(path.join(ROOT, 'web'));
    expect(files.length).toBeGreaterThan(5);
    for (const file of files) {
      const rel = path.relative(ROOT, file).split(path.sep).join('/');
      if (/\.test\.ts$/.test(rel) || /^web\/dev[^/]*\.ts$/.test(rel)) continue;
      for (const m of importedModules(readFileSync(file, 'utf8'))) {
        if (m.startsWith('node:') || m === 'esbuild' || m === 'zod') {
          if (rel.startsWith('web/client/') || rel.startsWith('web/shared/'))
            offenders.push(`${rel} (browser code) imports ${m}`);
          continue;
        }
        if (!m.startsWith('.')) {
          offenders.push(`${rel} imports ${m}`);
          continue;
        }
        const target = path
          .relative(ROOT, path.resolve(path.dirname(file), m))
          .split(path.sep)
          .join('/');
        const ok =
          target.startsWith('web/') || target.startsWith('contracts/') || target === 'services/ports.js';
        if (!ok) offenders.push(`${rel} imports ${target}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('keeps platform/ a leaf that the rest reaches through platform/processes.ts only', () => {
    const offenders: string[] = [];
    for (const file of sourceFiles(ROOT)) {
      const rel = path.relative(ROOT, file).split(path.sep).join('/');
      const inPlatform = rel.startsWith('platform/');
      for (const m of importedModules(readFileSync(file, 'utf8'))) {
        if (!m.startsWith('.')) {
          // platform/ uses Node's built-ins only (tests may use vitest and test helpers).
          if (inPlatform && !m.startsWith('node:') && !(/\.test\.ts$/.test(rel) && m === 'vitest'))
            offenders.push(`${rel} imports ${m}`);
          continue;
        }
        const target = path.posix.normalize(path.posix.join(path.posix.dirname(rel), m));
        if (inPlatform) {
          const testHelper = /\.test\.ts$/.test(rel) && target.startsWith('test/support/');
          if (!target.startsWith('platform/') && !testHelper) offenders.push(`${rel} imports ${m}`);
        } else if (target.startsWith('platform/') && target !== 'platform/processes.js') {
          offenders.push(`${rel} imports ${m} (use platform/processes.ts)`);
        }
      }
    }
    expect(offenders).toEqual([]);
  });

  it('allows exactly the places DESIGN names', () => {
    expect(allowed('services/planner/handler.ts')).toBe(true);
    expect(allowed('runtime/aws/compose.ts')).toBe(true);
    expect(allowed('agent/daemon.ts')).toBe(true);
    expect(allowed('services/planner/service.test.ts')).toBe(true);
    expect(allowed('services/planner/service.ts')).toBe(false);
    expect(allowed('services/ports.ts')).toBe(false);
    expect(allowed('runtime/local/store.ts')).toBe(false);
    expect(allowed('cli/main.ts')).toBe(false);
    expect(allowed('contracts/events.ts')).toBe(false);
  });
});
