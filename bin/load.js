// Runs this package's TypeScript entry points fast. Each entry is bundled once by esbuild (our own
// sources only; npm packages stay external) into node_modules/.cache/rsqlo/ and rebuilt when one
// of its source files changes. A bundled process starts in ~60 ms instead of ~200 ms under tsx,
// and has no loader thread, which also makes every fork it does cheaper (the engine forks for
// every job). Nothing here is committed: the cache is generated on first use. When bundling is not
// possible (read-only install, no esbuild), entries run through tsx as before.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * The package's root folder: the nearest folder above this file holding the package.json named
 * "rsqlo" (this file may itself be inside a bundle in node_modules/.cache/rsqlo).
 */
export const ROOT = findRoot(path.dirname(fileURLToPath(import.meta.url)));

function findRoot(start) {
  for (let dir = start; ; dir = path.dirname(dir)) {
    try {
      if (JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).name === 'rsqlo') return dir;
    } catch {
      // keep looking
    }
    if (path.dirname(dir) === dir) return path.resolve(start, '..');
  }
}
const CACHE = path.join(ROOT, 'node_modules', '.cache', 'rsqlo');

function stamp(file) {
  const s = statSync(file);
  return `${s.size}:${s.mtimeMs}`;
}

function fresh(manifest) {
  try {
    for (const [file, st] of Object.entries(manifest.inputs))
      if (stamp(path.join(ROOT, file)) !== st) return false;
    return true;
  } catch {
    return false;
  }
}

/**
 * The bundled file of a TypeScript entry (path relative to the package root), building it when
 * missing or stale; undefined when it cannot be built (the caller then uses tsx).
 */
export function bundledPath(entry) {
  if (process.env.RSQLO_NO_BUNDLE === '1') return undefined;
  const name = entry.replace(/[^A-Za-z0-9]+/g, '-');
  const out = path.join(CACHE, `${name}.mjs`);
  const manifestFile = path.join(CACHE, `${name}.json`);
  try {
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8'));
    if (fresh(manifest)) return out;
  } catch {
    // no bundle yet
  }
  try {
    const esbuild = createRequire(import.meta.url)('esbuild');
    mkdirSync(CACHE, { recursive: true });
    const tmp = `${out}.${process.pid}.tmp`;
    const result = esbuild.buildSync({
      entryPoints: [path.join(ROOT, entry)],
      absWorkingDir: ROOT,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      outfile: tmp,
      metafile: true,
      sourcemap: 'inline',
      logLevel: 'silent',
    });
    const inputs = {};
    for (const file of Object.keys(result.metafile.inputs)) inputs[file] = stamp(path.join(ROOT, file));
    renameSync(tmp, out);
    removeStaleTemps(CACHE, path.basename(out));
    const hash = createHash('sha256').update(readFileSync(out)).digest('hex').slice(0, 12);
    writeFileSync(manifestFile, JSON.stringify({ entry, hash, inputs }));
    return out;
  } catch {
    return undefined;
  }
}

/** Imports a TypeScript entry: the bundle when possible, else through tsx. */
export async function load(entry) {
  const bundled = bundledPath(entry);
  if (bundled) return import(pathToFileURL(bundled).href);
  const { register } = await import('tsx/esm/api');
  register();
  return import(pathToFileURL(path.join(ROOT, entry)).href);
}

/** The node arguments that run an entry as its own process (bundled, else under tsx). */
/**
 * Removes the half-written bundles (`<bundle>.<pid>.tmp`) of processes that were killed while
 * bundling (a Ctrl-C on a first run, a test's SIGKILL): nothing else would ever delete them. A
 * temp file of a process still alive is left alone (it may be bundling right now).
 */
export function removeStaleTemps(dir, bundle) {
  let names = [];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const m = n.startsWith(`${bundle}.`) ? /\.(\d+)\.tmp$/.exec(n) : null;
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || alive(pid)) continue;
    rmSync(path.join(dir, n), { force: true });
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err?.code === 'EPERM';
  }
}

export function nodeArgs(entry) {
  const bundled = bundledPath(entry);
  return bundled ? [bundled] : ['--import', 'tsx', path.join(ROOT, entry)];
}
