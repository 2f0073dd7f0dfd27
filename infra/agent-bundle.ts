/**
 * The agent as ONE file: agent/bundle-entry.ts and everything it imports (the AWS SDK clients,
 * zod, the job host) bundled by the local esbuild, so an agent host needs Node.js and this file,
 * neither git nor npm. Built at synth (no Docker, nothing downloaded); the stack publishes it as
 * an asset (infra/constructs/agent-install.ts). Deterministic: the same sources give the same
 * bytes, so an unchanged agent keeps its asset hash and a redeploy installs nothing new.
 */

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** The bundle's file name on the hosts (`/opt/rsqlo/bin/rsqlo-agent.mjs`). */
export const AGENT_BUNDLE_NAME = 'rsqlo-agent.mjs';

/**
 * bin/load.js bundles TypeScript entries on first use and runs them under tsx otherwise: neither
 * exists on a host. In the bundle, `nodeArgs('host/spawner.ts')` runs this same file with the
 * entry flag (agent/bundle-entry.ts).
 */
const LOADER_STUB = [
  "export function nodeArgs(entry) { return [process.argv[1], '--rsqlo-entry', entry]; }",
  'export function bundledPath() { return undefined; }',
  "export async function load() { throw new Error('rsqlo-agent bundle: no loader on an agent host'); }",
  'export const ROOT = process.cwd();',
].join('\n');

/**
 * The build, run in a child Node process: esbuild's synchronous API (constructs are synchronous)
 * takes no plugins, and the loader is replaced by one. Options arrive as JSON in argv.
 */
const BUILD_SCRIPT = `
import { createRequire } from 'node:module';
import path from 'node:path';
const o = JSON.parse(process.argv[1]);
const esbuild = createRequire(path.join(o.root, 'package.json'))('esbuild');
await esbuild.build({
  ...o.options,
  plugins: [{
    name: 'rsqlo-agent-loader',
    setup(build) {
      build.onResolve({ filter: /(^|\\/)bin\\/load\\.js$/ }, (a) => ({ path: path.resolve(a.resolveDir, a.path), namespace: 'stub' }));
      build.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({ contents: o.stub, loader: 'js' }));
    },
  }],
});
`;

/** The bundle's bytes and their SHA-256 (hex): the version the hosts verify before installing. */
export interface AgentBundle {
  code: Buffer;
  sha256: string;
}

/** Bundles the agent of the repository at `root` (esbuild, in memory). */
export function buildAgentBundle(root: string): AgentBundle {
  const dir = mkdtempSync(path.join(tmpdir(), 'rsqlo-agent-bundle-'));
  const outfile = path.join(dir, AGENT_BUNDLE_NAME);
  try {
    const options = {
      entryPoints: [path.join(root, 'agent/bundle-entry.ts')],
      absWorkingDir: root,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      // CommonJS packages inside an ES module still call require() for Node's built-ins.
      banner: {
        js: "#!/usr/bin/env node\nimport { createRequire as __rsqloCreateRequire } from 'node:module';\nconst require = __rsqloCreateRequire(import.meta.url);",
      },
      // better-sqlite3 is native: host/lock.ts falls back to its pid-file lock without it.
      external: ['better-sqlite3'],
      legalComments: 'none',
      sourcemap: false,
      outfile,
      logLevel: 'error',
    };
    const r = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', BUILD_SCRIPT, JSON.stringify({ root, options, stub: LOADER_STUB })],
      { encoding: 'utf8', timeout: 120_000 },
    );
    if (r.status !== 0)
      throw new Error(`bundling the agent failed: ${r.stderr || r.error?.message || `exit ${r.status}`}`);
    const code = readFileSync(outfile);
    return { code, sha256: createHash('sha256').update(code).digest('hex') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
