// Runs this package's TypeScript entry points fast. Each entry is bundled once by esbuild (our own
// sources only; npm packages stay external — except for bin/rsql.cjs's standalone bundle) into
// node_modules/.cache/rsqlo/ and rebuilt when one of its source files changes. A bundled process starts in ~60 ms instead of ~200 ms under tsx,
// and has no loader thread, which also makes every fork it does cheaper (the engine forks for
// every job). Nothing here is committed: the cache is generated on first use. When bundling is not
// possible (read-only install, no esbuild), entries run through tsx as before.
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

/** Where an entry's bundle and its manifest live. */
function bundleFiles(entry, standalone) {
  const name = entry.replace(/[^A-Za-z0-9]+/g, '-');
  return {
    out: path.join(CACHE, `${name}.${standalone ? 'cjs' : 'mjs'}`),
    manifestFile: path.join(CACHE, `${name}${standalone ? '.cjs' : ''}.json`),
  };
}

function upToDate(manifestFile) {
  try {
    return fresh(JSON.parse(readFileSync(manifestFile, 'utf8')));
  } catch {
    return false; // no bundle yet
  }
}

/** esbuild options of an entry's bundle (written to `tmp`). */
function buildOptions(entry, standalone, tmp) {
  return {
    entryPoints: [path.join(ROOT, entry)],
    absWorkingDir: ROOT,
    bundle: true,
    platform: 'node',
    format: standalone ? 'cjs' : 'esm',
    target: 'node20',
    ...(standalone
      ? // pg's optional native binding and its Cloudflare socket are never used here; minified, as
        // every run reads and hashes the whole file
        {
          external: ['pg-native', 'cloudflare:sockets'],
          sourcemap: false,
          minify: true,
          plugins: [pgNodeCrypto],
        }
      : { packages: 'external', sourcemap: 'inline' }),
    outfile: tmp,
    metafile: true,
    logLevel: 'silent',
  };
}

/** Moves a built bundle in place and writes its manifest (what it was built from, stamped). */
function commitBundle(entry, standalone, tmp, out, manifestFile, metafile) {
  const inputs = {};
  for (const file of Object.keys(metafile.inputs)) {
    // a bundled package is stamped by its package.json (a reinstall or upgrade rewrites it)
    const pkg = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(file);
    const stamped = pkg ? `${pkg[1]}/package.json` : file;
    inputs[stamped] = stamp(path.join(ROOT, stamped));
  }
  // how it is built counts too; and the plugin's replacement is not among esbuild's inputs
  inputs['bin/load.js'] = stamp(path.join(ROOT, 'bin/load.js'));
  if (standalone) inputs['rsql/pg-node-crypto.ts'] = stamp(path.join(ROOT, 'rsql/pg-node-crypto.ts'));
  renameSync(tmp, out);
  removeStaleTemps(CACHE, path.basename(out));
  const hash = createRequire(import.meta.url)('node:crypto')
    .createHash('sha256')
    .update(readFileSync(out))
    .digest('hex')
    .slice(0, 12);
  writeFileSync(manifestFile, JSON.stringify({ entry, hash, inputs }));
  return out;
}

/**
 * The bundled file of a TypeScript entry (path relative to the package root): an ES module importing
 * its npm packages from node_modules, built when missing or stale; undefined when it cannot be built
 * (the caller then uses tsx).
 */
export function bundledPath(entry) {
  if (process.env.RSQLO_NO_BUNDLE === '1') return undefined;
  const { out, manifestFile } = bundleFiles(entry, false);
  if (upToDate(manifestFile)) return out;
  const tmp = `${out}.${process.pid}.tmp`;
  try {
    const esbuild = createRequire(import.meta.url)('esbuild');
    mkdirSync(CACHE, { recursive: true });
    const result = esbuild.buildSync(buildOptions(entry, false, tmp));
    return commitBundle(entry, false, tmp, out, manifestFile, result.metafile);
  } catch {
    rmSync(tmp, { force: true });
    return undefined;
  }
}

/**
 * The standalone bundle of an entry: one CommonJS file with the npm packages it uses inside, which
 * bin/rsql.cjs runs with a V8 code cache; built when missing or stale (asynchronously: esbuild runs
 * plugins only then); undefined when it cannot be built.
 */
export async function standaloneBundle(entry) {
  if (process.env.RSQLO_NO_BUNDLE === '1') return undefined;
  const { out, manifestFile } = bundleFiles(entry, true);
  if (upToDate(manifestFile)) return out;
  const tmp = `${out}.${process.pid}.tmp`;
  try {
    const esbuild = createRequire(import.meta.url)('esbuild');
    mkdirSync(CACHE, { recursive: true });
    const result = await esbuild.build(buildOptions(entry, true, tmp));
    return commitBundle(entry, true, tmp, out, manifestFile, result.metafile);
  } catch {
    rmSync(tmp, { force: true });
    return undefined;
  }
}

/** The exports of pg's lib/crypto/utils.js that rsql/pg-node-crypto.ts provides. */
const PG_CRYPTO_EXPORTS = 'deriveKey,hashByName,hmacSha256,md5,postgresMd5PasswordHash,randomBytes,sha256';

/**
 * esbuild plugin of the standalone bundle: pg's SCRAM/MD5 helpers on node:crypto instead of Web Crypto
 * (rsql/pg-node-crypto.ts says why) — only while pg's module exports exactly what that file replaces;
 * otherwise pg's own is kept.
 */
const pgNodeCrypto = {
  name: 'pg-node-crypto',
  setup(build) {
    build.onLoad({ filter: /[\\/]pg[\\/]lib[\\/]crypto[\\/]utils\.js$/ }, (args) => {
      const original = readFileSync(args.path, 'utf8');
      const m = /module\.exports\s*=\s*\{([^}]*)\}/.exec(original);
      const names = m
        ? m[1]
            .split(',')
            .map((n) => n.trim())
            .filter(Boolean)
            .sort()
            .join(',')
        : '';
      if (names !== PG_CRYPTO_EXPORTS) return undefined;
      const replacement = path.join(ROOT, 'rsql', 'pg-node-crypto.ts');
      return {
        contents: readFileSync(replacement, 'utf8'),
        loader: 'ts',
        resolveDir: path.dirname(replacement),
        watchFiles: [replacement],
      };
    });
  },
};

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
