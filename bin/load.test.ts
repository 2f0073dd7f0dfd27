import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { removeStaleTemps } from './load.js';

describe('bundle cache', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('removes the temp bundles of dead processes, keeps those of live ones and everything else', () => {
    dir = mkdtempSync(path.join(tmpdir(), 'rsqlo-cache-'));
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
      encoding: 'utf8',
    });
    const deadPid = Number(dead.stdout);
    expect(deadPid).toBeGreaterThan(0);
    const files = [
      'cli-main-ts.mjs',
      'cli-main-ts.json',
      `cli-main-ts.mjs.${deadPid}.tmp`,
      `cli-main-ts.mjs.${process.pid}.tmp`,
      `cli-main-ts.mjs.${process.ppid}.tmp`,
      `rsql-main-ts.mjs.${deadPid}.tmp`,
    ];
    for (const f of files) writeFileSync(path.join(dir, f), '');
    removeStaleTemps(dir, 'cli-main-ts.mjs');
    expect(readdirSync(dir).sort()).toEqual(
      [
        'cli-main-ts.mjs',
        'cli-main-ts.json',
        `cli-main-ts.mjs.${process.pid}.tmp`,
        `cli-main-ts.mjs.${process.ppid}.tmp`,
        `rsql-main-ts.mjs.${deadPid}.tmp`,
      ].sort(),
    );
  });
});
