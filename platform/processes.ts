/**
 * The platform module: processes and their containment, the one place that knows how this OS
 * lists processes, tells a process from a later one with the same pid, finds a job's processes
 * and kills them all.
 *
 * - Linux: `/proc` (platform/proc.ts) for the process table, start times and environments, and
 *   cgroup v2 (platform/cgroup.ts) for a cgroup per job where this process may make one.
 * - Elsewhere (macOS): `ps` (platform/ps.ts) for the table, process groups and parent links for the
 *   tree; no environment search, no cgroups.
 *
 * Callers outside platform/ import this file only.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type Containment,
  cgroupPids,
  cgroupPopulated,
  createCgroup,
  detectContainment,
  jobCgroupsOf,
  killCgroup,
  newJobCgroupPath,
  pruneCgroups,
  removeCgroup,
  systemContainmentIo,
} from './cgroup.js';
import { hasProc, procEnvironHas, procInfo, procTable } from './proc.js';
import { psTable } from './ps.js';
import { isLive, type ProcessInfo } from './types.js';

export type { Containment } from './cgroup.js';
export type { ProcessInfo } from './types.js';

// ---------------------------------------------------------------------------------------------
// The process table
// ---------------------------------------------------------------------------------------------

interface TableSource {
  all(): Map<number, ProcessInfo>;
  one(pid: number): ProcessInfo | undefined;
  /** Only where environments can be read (Linux). */
  environHas?: (pid: number, entry: Buffer) => boolean;
  /** How often a kill re-reads the table. */
  pollMs: number;
}

const procSource: TableSource = {
  all: procTable,
  one: procInfo,
  environHas: procEnvironHas,
  pollMs: 20,
};

const psSource: TableSource = {
  all: () => psTable(),
  one: (pid) => psTable([pid]).get(pid),
  pollMs: 100,
};

let forced: TableSource | undefined;

function source(): TableSource {
  return forced ?? (hasProc() ? procSource : psSource);
}

/**
 * Reads the process table with `ps` even where /proc exists (`'ps'`), or goes back to the
 * platform's choice (`'auto'`). For tests of the portable path on Linux, and for diagnosing /proc.
 */
export function useProcessTable(kind: 'auto' | 'ps'): void {
  forced = kind === 'ps' ? psSource : undefined;
}

/** Every process (zombies included), from /proc or `ps`. */
export function processTable(): Map<number, ProcessInfo> {
  return source().all();
}

/** One process, or undefined when it is gone. */
export function processInfo(pid: number): ProcessInfo | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return source().one(pid);
}

/**
 * The start token of a process just started (see {@link ProcessInfo.start}), stored with its pid
 * so that a later engine can tell it from a process that reused the pid. Undefined without /proc:
 * a `ps` run per job would cost more than the job; liveness is then checked by pid alone.
 */
export function processStart(pid: number): string | undefined {
  return source() === procSource && pid > 0 ? procInfo(pid)?.start : undefined;
}

/**
 * Whether `pid` is still the very process that was started (same start token), used after a crash
 * to decide whether a recorded job is still running. A zombie counts as dead. With `start`
 * undefined only liveness is checked.
 */
export function isSameProcessAlive(pid: number, start: string | undefined): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (source() === procSource || start !== undefined) {
    const p = source().one(pid);
    if (p === undefined || !isLive(p)) return false;
    return start === undefined || p.start === start;
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Live processes whose environment holds `entry` (`NAME=value`), lowest pid first. Linux only
 * (elsewhere a process's environment cannot be read reliably): empty there.
 */
export function findProcessesWithEnv(entry: string): Array<{ pid: number; start: string }> {
  const src = source();
  if (!src.environHas) return [];
  const marker = Buffer.from(`${entry}\0`);
  const out: Array<{ pid: number; start: string }> = [];
  for (const p of src.all().values()) {
    if (!isLive(p) || p.pid === process.pid || p.pid === 1) continue;
    if (src.environHas(p.pid, marker)) out.push({ pid: p.pid, start: p.start });
  }
  return out.sort((a, b) => a.pid - b.pid);
}

// ---------------------------------------------------------------------------------------------
// Containment
// ---------------------------------------------------------------------------------------------

let containment: Containment | undefined;

/**
 * How this process contains the jobs it starts (decided once; see {@link detectContainment}).
 * `prefer: 'process-group'` forces the fallback (tests, or a user who wants it).
 */
export function jobContainment(prefer: 'auto' | 'process-group' = 'auto'): Containment {
  if (prefer === 'process-group')
    return { kind: 'process-group', reason: 'process-group containment was asked for' };
  if (containment === undefined) {
    containment = detectContainment(systemContainmentIo);
    if (containment.kind === 'cgroup') pruneCgroups(containment.base);
  }
  return containment;
}

/**
 * Makes a cgroup for one start of a job (named after `key`, unique per attempt, plus a suffix per
 * start) under the containment's base; undefined with the process-group fallback or when it
 * cannot be made (the job then runs contained by its process group).
 */
export function makeJobCgroup(c: Containment, key: string): string | undefined {
  if (c.kind !== 'cgroup') return undefined;
  const dir = newJobCgroupPath(c.base, key);
  return createCgroup(dir) ? dir : undefined;
}

/** The cgroups of the job with `key` that exist, when this process contains jobs with cgroups. */
export function jobCgroupsFor(key: string): string[] {
  const c = containment ?? jobContainment();
  return c.kind === 'cgroup' ? jobCgroupsOf(c.base, key) : [];
}

/** Removes a job's cgroup once nothing runs in it (a job's leftovers keep it until they end). */
export function releaseJobCgroup(dir: string): void {
  if (!cgroupPopulated(dir)) removeCgroup(dir);
}

// ---------------------------------------------------------------------------------------------
// Killing a job's processes
// ---------------------------------------------------------------------------------------------

/** Default time between SIGTERM and SIGKILL: 1000 ms. */
export const DEFAULT_KILL_GRACE_MS = 1000;
/** After SIGKILL, how long a kill waits before giving up (a process stuck in the kernel). */
export const KILL_WAIT_MAX_MS = 5000;

/** What to kill: see {@link killProcessTree}. */
export interface KillTreeOptions {
  /** The leader's start token: a pid now naming another process is left alone. */
  startTicks?: string;
  /** `NAME=value` every process of the job inherits: finds processes that left the tree (Linux). */
  envEntry?: string;
  /** The job's cgroups: everything in them is killed, whatever it did to its group or environment. */
  cgroups?: string[];
  /** False while the caller's own child (the leader) has not been reaped; default always true. */
  reaped?: () => boolean;
}

/**
 * Kills a job: SIGTERM to its process group, to every descendant (also those that made their own
 * session), to every process carrying `envEntry`, and to everything in its `cgroups`; SIGKILL to
 * what is left after `graceMs` (cgroups with `cgroup.kill`). Resolves when all are gone
 * (bounded: a process stuck in the kernel does not block forever); the cgroups are then removed.
 */
export async function killProcessTree(
  pid: number,
  graceMs: number = DEFAULT_KILL_GRACE_MS,
  opts: KillTreeOptions = {},
): Promise<void> {
  if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) return;
  const src = source();
  const reaped = opts.reaped ?? (() => true);
  const cgs = opts.cgroups ?? [];
  const self = src.one(process.pid);
  const ownPgrp = self?.pgrp ?? process.pid;
  const tracked = new Map<number, string>(); // pid → start
  const marker = opts.envEntry !== undefined ? Buffer.from(`${opts.envEntry}\0`) : undefined;

  let procs = src.all();
  const leader = procs.get(pid);
  const leaderIsOurs =
    leader !== undefined && (opts.startTicks === undefined || leader.start === opts.startTicks);
  // A pid is never reused while it still names a process group, so if the pid now belongs to
  // another process, our group is gone (only escapees found otherwise may remain).
  const pgid = (leader === undefined || leaderIsOurs) && pid !== ownPgrp ? pid : undefined;
  if (leaderIsOurs && isLive(leader)) tracked.set(leader.pid, leader.start);

  const track = (withMarker: boolean): void => {
    for (const cg of cgs) {
      for (const p of cgroupPids(cg)) {
        const info = procs.get(p);
        if (info !== undefined && p !== process.pid) tracked.set(p, info.start);
      }
    }
    const children = new Map<number, ProcessInfo[]>();
    for (const p of procs.values()) {
      if (!isLive(p) || p.pid === process.pid) continue;
      if (!tracked.has(p.pid)) {
        if (pgid !== undefined && p.pgrp === pgid) tracked.set(p.pid, p.start);
        else if (
          withMarker &&
          marker !== undefined &&
          src.environHas &&
          p.pid !== 1 &&
          src.environHas(p.pid, marker)
        )
          tracked.set(p.pid, p.start);
      }
      const list = children.get(p.ppid);
      if (list === undefined) children.set(p.ppid, [p]);
      else list.push(p);
    }
    const queue = [...tracked.keys()].filter((p) => procs.get(p)?.start === tracked.get(p));
    for (let p = queue.pop(); p !== undefined; p = queue.pop()) {
      for (const c of children.get(p) ?? []) {
        if (tracked.has(c.pid)) continue;
        tracked.set(c.pid, c.start);
        queue.push(c.pid);
      }
    }
  };
  const living = (): number[] => {
    const out: number[] = [];
    for (const [p, start] of tracked) {
      const info = procs.get(p);
      if (info !== undefined && info.start === start && isLive(info)) out.push(p);
    }
    return out;
  };
  const gone = (): boolean => living().length === 0 && !cgs.some(cgroupPopulated) && reaped();
  const signal = (sig: NodeJS.Signals, sent: Set<number>, pids: number[]): void => {
    if (pgid !== undefined && !sent.has(-pgid)) {
      sent.add(-pgid);
      trySignal(-pgid, sig);
    }
    for (const p of pids) {
      if (sent.has(p) || p === 1 || p === process.pid) continue;
      sent.add(p);
      trySignal(p, sig);
    }
  };
  const finish = (): void => {
    for (const cg of cgs) removeCgroup(cg);
  };

  // Snapshot the tree before signalling: once a parent dies its children are re-parented and
  // can no longer be found by ppid (the ones already tracked are followed by pid + start).
  track(true);
  if (graceMs > 0) {
    const termed = new Set<number>();
    signal('SIGTERM', termed, living());
    const deadline = performance.now() + graceMs;
    while (performance.now() < deadline) {
      await sleep(Math.min(src.pollMs, Math.max(1, deadline - performance.now())));
      procs = src.all();
      track(false);
      if (gone()) return finish();
      signal('SIGTERM', termed, living());
    }
  }
  procs = src.all();
  track(true);
  const killed = new Set<number>();
  for (const cg of cgs) killCgroup(cg);
  signal('SIGKILL', killed, living());
  const deadline = performance.now() + KILL_WAIT_MAX_MS;
  while (performance.now() < deadline) {
    await sleep(src.pollMs);
    procs = src.all();
    track(false);
    if (gone()) return finish();
    for (const cg of cgs) if (cgroupPopulated(cg)) killCgroup(cg);
    signal('SIGKILL', killed, living());
  }
  finish();
}

function trySignal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // ESRCH: already gone; EPERM: not ours to kill
  }
}
