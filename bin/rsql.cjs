#!/usr/bin/env node
// The rsql-compatible runner (rsql/main.ts; see rsql/README.md). It starts once per job, so its start-up
// is paid per job: this entry is CommonJS (an ES module entry costs the ES module loader's start-up) and
// runs one standalone bundle (npm packages inside, built by bin/load.js standaloneBundle) through a V8 code
// cache, so neither module resolution nor parsing and compiling is repeated run after run.
//
// The cache sits beside the bundle in node_modules/.cache/rsqlo/. It is written when a run ends
// without a usable one (first run, rebuilt bundle, other Node: V8 rejects a cache made from other source
// or by another V8), as `.partial.v8cache` by a run that never connected (`--version`) and as `.v8cache`
// by one that did (it then also holds the driver and the statement loop). Nothing here is committed;
// a read-only install runs without a cache.
'use strict';
const { readFileSync, renameSync, rmSync, statSync, writeFileSync } = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const CACHE = path.join(ROOT, 'node_modules', '.cache', 'rsqlo');
const ENTRY = 'rsql/main.ts';
const BUNDLE = path.join(CACHE, 'rsql-main-ts.cjs');
const MANIFEST = path.join(CACHE, 'rsql-main-ts.cjs.json');
const FULL = `${BUNDLE}.v8cache`;
const PARTIAL = `${BUNDLE}.partial.v8cache`;
/** Set by rsql/pg-driver.ts when the run loads the driver: its cache covers the whole statement path. */
const FULL_RUN = Symbol.for('rsqlo.rsql.connected');

/** The bundle when it is up to date with every source it was built from (bin/load.js stamps). */
function freshBundle() {
  if (process.env.RSQLO_NO_BUNDLE === '1') return undefined;
  try {
    const { inputs } = JSON.parse(readFileSync(MANIFEST, 'utf8'));
    for (const [file, st] of Object.entries(inputs)) {
      const s = statSync(path.join(ROOT, file));
      if (`${s.size}:${s.mtimeMs}` !== st) return undefined;
    }
    return BUNDLE;
  } catch {
    return undefined;
  }
}

function readOrUndefined(file) {
  try {
    return readFileSync(file);
  } catch {
    return undefined;
  }
}

/** Runs the bundle through the code cache and returns its exports. */
function runBundle(bundle) {
  const { Script } = require('node:vm');
  const full = readOrUndefined(FULL);
  const partial = full ? undefined : readOrUndefined(PARTIAL);
  const cachedData = full ?? partial;
  const source = readFileSync(bundle, 'utf8');
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: bundle,
    ...(cachedData ? { cachedData } : {}),
  });
  const usable = cachedData !== undefined && !script.cachedDataRejected;
  process.once('exit', () => {
    const complete = globalThis[FULL_RUN] === true;
    // keep a good cache; replace a rejected one; upgrade a partial one once a run covered everything
    if (usable && (full || !complete)) return;
    const target = complete ? FULL : PARTIAL;
    const tmp = `${target}.${process.pid}.tmp`;
    try {
      writeFileSync(tmp, script.createCachedData());
      renameSync(tmp, target);
      if (complete) rmSync(PARTIAL, { force: true });
    } catch {
      rmSync(tmp, { force: true });
    }
  });
  const module = { exports: {} };
  // the bundle requires only Node built-ins (its npm packages are inside): this file's require does
  script.runInThisContext()(module.exports, require, module, bundle, path.dirname(bundle));
  return module.exports;
}

async function start() {
  let bundle = freshBundle();
  if (!bundle) {
    // build it (or find that it cannot be built: read-only install, no esbuild → tsx)
    const load = await import('./load.js');
    bundle = await load.standaloneBundle(ENTRY);
    if (!bundle) return load.load(ENTRY);
  }
  return runBundle(bundle);
}

start().then(
  async ({ main }) => {
    process.exitCode = await main(process.argv.slice(2));
  },
  (err) => {
    process.stderr.write(`rsql: internal error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
