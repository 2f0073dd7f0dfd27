import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stylesheet } from './styles.js';

/**
 * The browser client's entry (TypeScript, bundled by esbuild on first use; nothing is committed).
 * Found from this module upwards: the `rsqlo` command runs this module bundled into
 * node_modules/.cache/rsqlo/ (bin/load.js), where `./client/` is not beside it.
 */
export const CLIENT_ENTRY = clientEntry();

function clientEntry(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'web', 'client', 'main.ts');
    if (existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) return path.join(here, 'client', 'main.ts');
  }
}

export interface ClientAssets {
  js: string;
  css: string;
}

let built: Promise<ClientAssets> | undefined;

/**
 * The client script and stylesheet, built once per process: esbuild (a dependency already, see
 * bin/load.js) bundles web/client/ for the browser, in memory. Nothing is fetched from anywhere:
 * the page works offline.
 */
export function clientAssets(): Promise<ClientAssets> {
  built ??= build().catch((err) => {
    built = undefined;
    throw err;
  });
  return built;
}

async function build(): Promise<ClientAssets> {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [CLIENT_ENTRY],
    absWorkingDir: path.resolve(path.dirname(CLIENT_ENTRY), '..', '..'),
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
    minify: true,
    write: false,
    logLevel: 'silent',
    legalComments: 'none',
  });
  const js = result.outputFiles[0]?.text;
  if (js === undefined) throw new Error('esbuild produced no client bundle');
  return { js, css: stylesheet() };
}
