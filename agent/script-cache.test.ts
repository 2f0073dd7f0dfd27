import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createScriptCache,
  SCRIPT_BUNDLE_FORMAT,
  type ScriptSource,
  ScriptVersionError,
} from './script-cache.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tmp = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'rsqlo-script-cache-'));
  dirs.push(d);
  return d;
};

function bundle(files: Record<string, Record<string, string>>, mode = 0o755) {
  const workflows = Object.fromEntries(
    Object.entries(files).map(([wf, fs]) => [
      wf,
      Object.fromEntries(
        Object.entries(fs).map(([rel, text]) => [
          rel,
          { mode, base64: Buffer.from(text).toString('base64') },
        ]),
      ),
    ]),
  );
  const bytes = Buffer.from(JSON.stringify({ format: SCRIPT_BUNDLE_FORMAT, workflows }));
  return { bytes, version: createHash('sha256').update(bytes).digest('hex') };
}

/** A source over a map of versions, counting downloads; `serve` may alter what goes out. */
function source(objects: Map<string, Buffer>, serve: (b: Buffer, n: number) => Buffer = (b) => b) {
  let gets = 0;
  const s: ScriptSource & { gets: () => number } = {
    gets: () => gets,
    describe: (v) => `s3://bucket/rsqlo-scripts-${v}.json`,
    async get(v) {
      gets++;
      await new Promise((r) => setTimeout(r, 5));
      const b = objects.get(v);
      if (!b) throw new ScriptVersionError(`script version ${v} is not in ${s.describe(v)} (NoSuchKey)`);
      return serve(b, gets);
    },
  };
  return s;
}

describe('the shipped scripts cache', () => {
  const v1 = bundle({ wf: { 'load.sh': 'echo v1', 'sub/x.sql': 'select 1;' }, other: { 'a.sh': 'echo a' } });

  it('fetches a version once, unpacks it with its modes, and serves it from the cache after', async () => {
    const dir = tmp();
    const src = source(new Map([[v1.version, v1.bytes]]));
    const cache = createScriptCache({ dir, source: src });
    const root = await cache.rootFor(v1.version, 'wf');
    expect(root).toBe(path.join(dir, v1.version, 'wf'));
    expect(readFileSync(path.join(root, 'load.sh'), 'utf8')).toBe('echo v1');
    expect(readFileSync(path.join(root, 'sub/x.sql'), 'utf8')).toBe('select 1;');
    expect(statSync(path.join(root, 'load.sh')).mode & 0o777).toBe(0o755);
    expect(await cache.rootFor(v1.version, 'other')).toBe(path.join(dir, v1.version, 'other'));
    // A new cache on the same folder (a restarted daemon) does not download again.
    await createScriptCache({ dir, source: src }).rootFor(v1.version, 'wf');
    expect(src.gets()).toBe(1);
  });

  it('shares one download between jobs of a run asking at once', async () => {
    const dir = tmp();
    const src = source(new Map([[v1.version, v1.bytes]]));
    const cache = createScriptCache({ dir, source: src });
    const roots = await Promise.all(Array.from({ length: 8 }, () => cache.rootFor(v1.version, 'wf')));
    expect(new Set(roots).size).toBe(1);
    expect(src.gets()).toBe(1);
  });

  it('two processes racing on one folder: both end with the same complete version, no temp left', async () => {
    const dir = tmp();
    const a = createScriptCache({ dir, source: source(new Map([[v1.version, v1.bytes]])) });
    const b = createScriptCache({ dir, source: source(new Map([[v1.version, v1.bytes]])) });
    const [ra, rb] = await Promise.all([a.rootFor(v1.version, 'wf'), b.rootFor(v1.version, 'wf')]);
    expect(ra).toBe(rb);
    expect(readFileSync(path.join(ra, 'load.sh'), 'utf8')).toBe('echo v1');
    expect(readdirSync(dir)).toEqual([v1.version]);
  });

  it('refuses a corrupt or partial download after its tries, and installs nothing', async () => {
    const dir = tmp();
    const truncated = source(new Map([[v1.version, v1.bytes]]), (b) => b.subarray(0, b.length - 7));
    const cache = createScriptCache({ dir, source: truncated });
    await expect(cache.rootFor(v1.version, 'wf')).rejects.toThrow(/corrupt or partial download, 3 tries/);
    expect(truncated.gets()).toBe(3);
    expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
  });

  it('takes a good copy when a bad one was followed by a good one (a flaky network)', async () => {
    const dir = tmp();
    const flaky = source(new Map([[v1.version, v1.bytes]]), (b, n) => (n === 1 ? Buffer.from('{"form') : b));
    const root = await createScriptCache({ dir, source: flaky }).rootFor(v1.version, 'wf');
    expect(readFileSync(path.join(root, 'load.sh'), 'utf8')).toBe('echo v1');
    expect(flaky.gets()).toBe(2);
  });

  it('a missing version is a clear, final error; the next job asks again', async () => {
    const dir = tmp();
    const objects = new Map<string, Buffer>();
    const src = source(objects);
    const cache = createScriptCache({ dir, source: src });
    await expect(cache.rootFor(v1.version, 'wf')).rejects.toThrow(ScriptVersionError);
    await expect(cache.rootFor(v1.version, 'wf')).rejects.toThrow(
      /is not in s3:\/\/bucket\/rsqlo-scripts-.*NoSuchKey/,
    );
    objects.set(v1.version, v1.bytes);
    expect(await cache.rootFor(v1.version, 'wf')).toBe(path.join(dir, v1.version, 'wf'));
  });

  it('refuses a workflow the version does not hold, and ids or versions that are not names', async () => {
    const dir = tmp();
    const cache = createScriptCache({ dir, source: source(new Map([[v1.version, v1.bytes]])) });
    await expect(cache.rootFor(v1.version, 'unknown_wf')).rejects.toThrow(
      /workflow unknown_wf has no scripts in script version .* \(shipped: other, wf\)/,
    );
    await expect(cache.rootFor('../../etc', 'wf')).rejects.toThrow(/is not a script version/);
    await expect(cache.rootFor(v1.version, '..')).rejects.toThrow(/cannot name a script folder/);
  });

  it('refuses a bundle whose file names leave their folder (nothing written outside)', async () => {
    const dir = tmp();
    const evil = bundle({ wf: { '../../escaped.sh': 'echo pwned' } });
    const cache = createScriptCache({
      dir: path.join(dir, 'cache'),
      source: source(new Map([[evil.version, evil.bytes]])),
    });
    await expect(cache.rootFor(evil.version, 'wf')).rejects.toThrow(/leaves its folder/);
    expect(existsSync(path.join(dir, 'escaped.sh'))).toBe(false);
    expect(readdirSync(path.join(dir, 'cache'))).toEqual([]);
  });
});
