/**
 * The platform module with real processes: liveness, the process tree and kills, through /proc and
 * through the portable `ps` table (what macOS uses; procps answers the same arguments here), and
 * cgroup containment where this process may make cgroups.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { alive, killHard, until } from '../test/support/attack.js';
import {
  isSameProcessAlive,
  jobContainment,
  killProcessTree,
  makeJobCgroup,
  processInfo,
  processStart,
  processTable,
  useProcessTable,
} from './processes.js';

const dir = mkdtempSync(path.join(tmpdir(), 'rsqlo-platform-test-'));
const started: ChildProcess[] = [];
const strays: number[] = [];

afterEach(() => useProcessTable('auto'));
afterAll(() => {
  for (const c of started) killHard(c.pid ?? 0);
  for (const p of strays) killHard(p);
  rmSync(dir, { recursive: true, force: true });
});

/** Starts `sh -c script` as its own process-group leader; resolves once it wrote `ready`. */
async function leader(
  script: string,
  env: Record<string, string> = {},
): Promise<{ pid: number; out: string }> {
  const out = path.join(dir, `out-${started.length}`);
  const child = spawn('/bin/sh', ['-c', script, 'leader', out], {
    detached: true,
    stdio: 'ignore',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
  });
  started.push(child);
  await until(() => existsSync(`${out}.ready`), 'the test process to start');
  return { pid: child.pid as number, out };
}

function pids(file: string): number[] {
  const list = readFileSync(file, 'utf8').trim().split('\n').map(Number);
  strays.push(...list);
  return list;
}

describe.each(['auto', 'ps'] as const)('the process table (%s)', (kind) => {
  it('tells a live process from a dead one and from a later one with the same pid', async () => {
    useProcessTable(kind);
    const { pid } = await leader('touch "$1.ready"; sleep 1000');
    const info = processInfo(pid);
    expect(info).toMatchObject({ pid, pgrp: pid });
    expect(processTable().get(pid)?.start).toBe(info?.start);
    expect(isSameProcessAlive(pid, undefined)).toBe(true);
    expect(isSameProcessAlive(pid, info?.start)).toBe(true);
    expect(isSameProcessAlive(pid, `${info?.start}-not`)).toBe(false);
    // Only /proc is cheap enough to read at every job start.
    expect(processStart(pid)).toBe(kind === 'auto' ? info?.start : undefined);
    killHard(pid);
    await until(() => !isSameProcessAlive(pid, info?.start), 'the process to be gone');
    expect(isSameProcessAlive(0, undefined)).toBe(false);
  });

  it('kills a group with its descendants, also one that made its own session', async () => {
    useProcessTable(kind);
    const { pid, out } = await leader(
      'sleep 1000 & echo $! > "$1"; setsid sleep 1000 & echo $! >> "$1"; touch "$1.ready"; wait',
    );
    const children = pids(out);
    expect(children.every(alive)).toBe(true);
    await killProcessTree(pid, 300);
    for (const p of [pid, ...children]) expect(alive(p), `pid ${p}`).toBe(false);
  });
});

describe('cgroup containment', () => {
  const c = jobContainment();
  // CI runs as root on a host with cgroup v2: there the containment must be a cgroup.
  const needed = process.env.CI === 'true' || c.kind === 'cgroup';

  it.runIf(needed)(
    'a process that left the group, the tree and its environment dies with the cgroup',
    async () => {
      expect(c, 'cgroup v2 this user may manage (root, or a delegated subtree)').toMatchObject({
        kind: 'cgroup',
      });
      const cgroup = makeJobCgroup(c, `${dir}/job-a`);
      expect(cgroup).toBeDefined();
      const { pid, out } = await leader(
        [
          'echo $$ > "$CG/cgroup.procs"',
          `setsid env -i /bin/sh -c 'sleep 1000 & echo $! > "$0"' "$1" &`,
          'while [ ! -s "$1" ]; do sleep 0.02; done',
          'touch "$1.ready"',
          'sleep 1000',
        ].join('\n'),
        { CG: cgroup as string },
      );
      const [escapee] = pids(out);
      expect(alive(escapee as number)).toBe(true);
      expect(processInfo(escapee as number)?.pgrp).not.toBe(pid);
      await killProcessTree(pid, 300, { cgroups: [cgroup as string] });
      expect(alive(escapee as number)).toBe(false);
      expect(alive(pid)).toBe(false);
      // The cgroup is removed once empty.
      expect(existsSync(cgroup as string)).toBe(false);
    },
  );

  it('without a cgroup the fallback says why', () => {
    const weak = jobContainment('process-group');
    expect(weak).toEqual({ kind: 'process-group', reason: 'process-group containment was asked for' });
    expect(makeJobCgroup(weak, 'x')).toBeUndefined();
  });
});
