import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The layering of ARCHITECTURE.md, as tests: the services are pure logic over ports; only the AWS
 * adapters (runtime/aws/), the agent (agent/), the Lambda entries (handler.ts files) and operator
 * scripts (infra/migrate-*.ts) may depend on the AWS SDK, the Lambda types or Powertools. Tests and
 * test helpers may use them too. Then the folder rules (MAY_IMPORT) over every source file.
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
    // Operator scripts run by hand against a deployed stack (a composition root of their own).
    /^infra\/migrate-[^/]*\.ts$/.test(rel) ||
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

// ---- folder rules ---------------------------------------------------------------------------

/**
 * The layers a source file can belong to: top-level folders, with runtime/ split into its two
 * runtimes, and the composition roots that may reach further than their folder (the Lambda entries
 * `services/**\/handler.ts`, the run view's by-hand roots `web/dev*.ts`).
 */
const LAYERS = [
  'contracts',
  'events',
  'platform',
  'services',
  'services/handlers',
  'runtime',
  'runtime/aws',
  'runtime/local',
  'host',
  'agent',
  'rsql',
  'cli',
  'infra',
  'web',
  'web/dev',
  'bin',
] as const;
type Layer = (typeof LAYERS)[number];

/**
 * Which layer may import which (besides itself): the folder rules as data. Tests and test helpers
 * (`*.test.ts`, `test/`, any `testing/` folder, vitest.config.ts) may import anything; nothing else
 * may import them. ARCHITECTURE.md explains each layer.
 */
const MAY_IMPORT: Record<Layer, readonly Layer[]> = {
  // The vocabulary: zod schemas and limits, nothing else.
  contracts: [],
  // The envelope, EventBridge pattern matching and the routing table.
  events: ['contracts'],
  // Process trees and liveness per OS: Node built-ins only (its own test says more).
  platform: [],
  // Pure services over ports (services/ports.ts), and the dispatch map.
  services: ['contracts', 'events'],
  // The AWS composition roots: a service plus its AWS adapters.
  'services/handlers': ['services', 'contracts', 'events', 'runtime/aws'],
  // What both runtimes share (the package root).
  runtime: [],
  // The ports' AWS adapters.
  'runtime/aws': ['contracts', 'events', 'services'],
  // The embedded engine: the same services over SQLite, an embedded PostgreSQL (rsql/), the run
  // view's data sources (web/ports.ts) and the bundling loader its job hosts are forked through.
  'runtime/local': ['contracts', 'events', 'services', 'runtime', 'platform', 'host', 'rsql', 'web', 'bin'],
  // Running a job on a machine, shared by both agents: the job runner and its host process, the
  // home lock, crash recovery, the reports (and the loader its host process is forked through).
  host: ['contracts', 'platform', 'bin'],
  // The EC2 agent: AWS adapters for logs, callbacks and events; the services' ports and errors.
  agent: ['contracts', 'services', 'runtime/aws', 'platform', 'host'],
  // The RSQL interpreter: a leaf over the process helpers.
  rsql: ['platform'],
  // The command line over the local runtime (and rsql, the run view).
  cli: [
    'contracts',
    'events',
    'services',
    'runtime',
    'runtime/local',
    'runtime/aws',
    'host',
    'rsql',
    'platform',
    'web',
  ],
  // The CDK app: contracts, the routing table, and what the AWS adapters say about tables/settings.
  infra: ['contracts', 'events', 'runtime/aws'],
  // The run view (its own test narrows this to services/ports.ts).
  web: ['contracts', 'services'],
  'web/dev': ['web', 'contracts', 'services', 'runtime', 'runtime/local'],
  // Entry scripts: the loader and thin launchers, no imports of our modules.
  bin: [],
};

/**
 * Sideways imports that exist today and that a later change removes (issue 11). An entry that no
 * longer occurs fails the test: this list can only shrink. Never add to it.
 */
const KNOWN_VIOLATIONS: ReadonlyArray<{ file: string; imports: string; why: string }> = [
  // Empty since the job runner, job host, lock and recovery moved to host/ (issue 11).
];

/** Test code: exempt from the table, and never imported by anything else. */
function isTestCode(rel: string): boolean {
  return (
    /\.test\.[cm]?[jt]s$/.test(rel) ||
    rel.startsWith('test/') ||
    rel.split('/').includes('testing') ||
    !rel.includes('/')
  );
}

/** The layer of a (non-test) file, or undefined for a folder the table does not know. */
function layerOf(rel: string): Layer | undefined {
  const [top, second] = rel.split('/');
  if (top === 'services' && path.posix.basename(rel) === 'handler.ts') return 'services/handlers';
  if (top === 'web' && /^web\/dev[^/]*\.ts$/.test(rel)) return 'web/dev';
  if (top === 'runtime' && (second === 'aws' || second === 'local')) return `runtime/${second}`;
  return (LAYERS as readonly string[]).includes(top ?? '') ? (top as Layer) : undefined;
}

/** Where a relative import lands, as the source file's path (`.js` written for a `.ts` file). */
function resolveImport(rel: string, spec: string): string {
  const target = path.posix.normalize(path.posix.join(path.posix.dirname(rel), spec));
  const ts = target.replace(/\.js$/, '.ts');
  return existsSync(path.join(ROOT, ts)) ? ts : target;
}

/** Every import that breaks the folder rules, one message each, naming the file, import and rule. */
function folderViolations(files: ReadonlyArray<{ rel: string; source: string }>): string[] {
  const out: string[] = [];
  for (const { rel, source } of files) {
    if (isTestCode(rel)) continue;
    const from = layerOf(rel);
    if (!from) {
      out.push(`${rel}: folder ${rel.split('/')[0]}/ has no entry in MAY_IMPORT (add its rule)`);
      continue;
    }
    for (const spec of importedModules(source)) {
      if (!spec.startsWith('.')) continue;
      const target = resolveImport(rel, spec);
      if (isTestCode(target)) {
        out.push(`${rel} imports '${spec}' (${target}): only tests may import test code`);
        continue;
      }
      const to = layerOf(target);
      if (to === from || (to && MAY_IMPORT[from].includes(to))) continue;
      const allowed = MAY_IMPORT[from].length ? MAY_IMPORT[from].join(', ') : 'nothing outside itself';
      out.push(
        `${rel} imports '${spec}' (${target}): ${from} may import ${allowed}, not ${to ?? 'an unknown folder'}`,
      );
    }
  }
  return out;
}

const knownMessage = (v: (typeof KNOWN_VIOLATIONS)[number]) => `${v.file} → ${v.imports}`;

describe('folder rules', () => {
  it('names the file, the import and the rule of a sideways import', () => {
    const found = folderViolations([
      { rel: 'contracts/x.ts', source: "import type { Clock } from '../services/ports.js';" },
      { rel: 'rsql/y.ts', source: "export { run } from '../agent/daemon.js';" },
      { rel: 'infra/z.ts', source: "const m = await import('../services/starter/deadline.js');" },
      { rel: 'services/planner/service.ts', source: "import '../../runtime/aws/compose.js';" },
      { rel: 'services/planner/handler.ts', source: "import '../../runtime/aws/compose.js';" },
      { rel: 'cli/w.ts', source: "import { x } from '../test/support/run-dir.js';" },
      { rel: 'newdir/v.ts', source: '' },
      { rel: 'services/planner/service.test.ts', source: "import '../../infra/rsqlo-stack.js';" },
    ]);
    expect(found).toEqual([
      "contracts/x.ts imports '../services/ports.js' (services/ports.ts): contracts may import nothing outside itself, not services",
      "rsql/y.ts imports '../agent/daemon.js' (agent/daemon.ts): rsql may import platform, not agent",
      "infra/z.ts imports '../services/starter/deadline.js' (services/starter/deadline.ts): infra may import contracts, events, runtime/aws, not services",
      "services/planner/service.ts imports '../../runtime/aws/compose.js' (runtime/aws/compose.ts): services may import contracts, events, not runtime/aws",
      "cli/w.ts imports '../test/support/run-dir.js' (test/support/run-dir.ts): only tests may import test code",
      'newdir/v.ts: folder newdir/ has no entry in MAY_IMPORT (add its rule)',
    ]);
  });

  it('holds for every source file, apart from the known violations, each of which still occurs', () => {
    const files = sourceFiles(ROOT).map((f) => ({
      rel: path.relative(ROOT, f).split(path.sep).join('/'),
      source: readFileSync(f, 'utf8'),
    }));
    expect(files.length).toBeGreaterThan(200);
    const found = folderViolations(files);
    const isKnown = (msg: string) =>
      KNOWN_VIOLATIONS.some((v) => msg.startsWith(`${v.file} imports `) && msg.includes(`(${v.imports})`));
    expect(found.filter((m) => !isKnown(m))).toEqual([]);
    const gone = KNOWN_VIOLATIONS.filter(
      (v) => !found.some((m) => m.startsWith(`${v.file} imports `) && m.includes(`(${v.imports})`)),
    ).map(knownMessage);
    // A fixed violation: delete its KNOWN_VIOLATIONS entry so it cannot come back unnoticed.
    expect(gone).toEqual([]);
  });

  it('has a rule for every layer and only layers in its rules', () => {
    expect(Object.keys(MAY_IMPORT).sort()).toEqual([...LAYERS].sort());
    for (const [from, tos] of Object.entries(MAY_IMPORT))
      for (const to of tos) expect(LAYERS, `${from} → ${to}`).toContain(to);
  });
});

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

  it('allows exactly the places ARCHITECTURE.md names', () => {
    expect(allowed('services/planner/handler.ts')).toBe(true);
    expect(allowed('runtime/aws/compose.ts')).toBe(true);
    expect(allowed('agent/daemon.ts')).toBe(true);
    expect(allowed('services/planner/service.test.ts')).toBe(true);
    expect(allowed('services/planner/service.ts')).toBe(false);
    expect(allowed('services/ports.ts')).toBe(false);
    expect(allowed('runtime/local/store.ts')).toBe(false);
    expect(allowed('cli/main.ts')).toBe(false);
    expect(allowed('contracts/events.ts')).toBe(false);
    expect(allowed('infra/migrate-audit-tables.ts')).toBe(true);
    expect(allowed('infra/rsqlo-stack.ts')).toBe(false);
  });
});
