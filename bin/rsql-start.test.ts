/**
 * bin/rsql.cjs: the standalone bundle and its V8 code cache, in a package root of its own (its own
 * node_modules/.cache) so the runs here never race the other tests' runners.
 */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgEnv, sharedConnection } from '../test/support/postgres.js';
import { ROOT } from './load.js';

let root: string;
let cache: string;
const bundle = () => path.join(cache, 'rsql-main-ts.cjs');

beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), 'rsql-start-'));
  mkdirSync(path.join(root, 'bin'));
  for (const f of ['rsql.cjs', 'load.js']) copyFileSync(path.join(ROOT, 'bin', f), path.join(root, 'bin', f));
  copyFileSync(path.join(ROOT, 'package.json'), path.join(root, 'package.json'));
  symlinkSync(path.join(ROOT, 'rsql'), path.join(root, 'rsql'));
  mkdirSync(path.join(root, 'node_modules'));
  for (const name of readdirSync(path.join(ROOT, 'node_modules'))) {
    if (name !== '.cache')
      symlinkSync(path.join(ROOT, 'node_modules', name), path.join(root, 'node_modules', name));
  }
  cache = path.join(root, 'node_modules', '.cache', 'rsqlo');
});

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

function rsql(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'rsql.cjs'), ...args], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: root, ...pgEnv(sharedConnection()), ...env },
    encoding: 'utf8',
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('bin/rsql.cjs', () => {
  it('builds the standalone bundle on first use; a run that never connects leaves a partial cache', () => {
    const r = rsql(['--version']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^rsql \(rsqlo\) /);
    expect(r.code).toBe(0);
    expect(existsSync(bundle())).toBe(true);
    expect(existsSync(`${bundle()}.partial.v8cache`)).toBe(true);
    expect(existsSync(`${bundle()}.v8cache`)).toBe(false);
    // pg is inside the bundle, its Web Crypto helpers replaced (rsql/pg-node-crypto.ts)
    const text = readFileSync(bundle(), 'utf8');
    expect(text).not.toMatch(/require\("pg"\)/);
    expect(text).toContain('pbkdf2Sync');
    expect(text).not.toContain('subtle');
  });

  it('a run that connects writes the full cache and drops the partial one; later runs keep it', () => {
    const r = rsql(['-At', '-c', 'select 40 + 2']);
    expect(r.stdout).toBe('42\n');
    expect(existsSync(`${bundle()}.v8cache`)).toBe(true);
    expect(existsSync(`${bundle()}.partial.v8cache`)).toBe(false);
    const before = statSync(`${bundle()}.v8cache`).mtimeMs;
    expect(rsql(['-At', '-c', 'select 1']).stdout).toBe('1\n');
    expect(rsql(['--version']).code).toBe(0);
    expect(statSync(`${bundle()}.v8cache`).mtimeMs).toBe(before);
  });

  it('a corrupt cache is rejected by V8 and replaced; an unusable cache path does not stop the run', () => {
    writeFileSync(`${bundle()}.v8cache`, 'not a code cache');
    expect(rsql(['-At', '-c', 'select 2']).stdout).toBe('2\n');
    expect(statSync(`${bundle()}.v8cache`).size).toBeGreaterThan(10_000);
    rmSync(`${bundle()}.v8cache`);
    mkdirSync(`${bundle()}.v8cache`);
    const r = rsql(['-At', '-c', 'select 3']);
    expect(r.stdout).toBe('3\n');
    expect(r.code).toBe(0);
    expect(readdirSync(cache).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    rmSync(`${bundle()}.v8cache`, { recursive: true });
  });

  it('rebuilds the bundle when a source it was built from changes', () => {
    const manifestFile = `${bundle()}.json`;
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as { inputs: Record<string, string> };
    const mainTs = Object.keys(manifest.inputs).find((f) => f.endsWith('rsql/main.ts')) as string;
    expect(mainTs).toBeDefined();
    manifest.inputs[mainTs] = '0:0';
    writeFileSync(manifestFile, JSON.stringify(manifest));
    const before = statSync(bundle()).mtimeMs;
    expect(rsql(['-At', '-c', 'select 4']).stdout).toBe('4\n');
    expect(statSync(bundle()).mtimeMs).toBeGreaterThan(before);
    expect(JSON.parse(readFileSync(manifestFile, 'utf8')).inputs[mainTs]).not.toBe('0:0');
  });

  it('runs through tsx when bundling is off (RSQLO_NO_BUNDLE=1)', () => {
    const r = rsql(['-At', '-c', 'select 5'], { RSQLO_NO_BUNDLE: '1' });
    expect(r.stdout).toBe('5\n');
  });
});
