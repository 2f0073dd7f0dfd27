/**
 * Linux `/proc`: the process table, a process's start time and its environment. Behind
 * platform/processes.ts; nothing else reads /proc for processes.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { ProcessInfo } from './types.js';

let available: boolean | undefined;

/** Whether `/proc` describes processes here (Linux); checked once. */
export function hasProc(): boolean {
  available ??= existsSync('/proc/self/stat');
  return available;
}

/**
 * One `/proc/<pid>/stat` line. `comm` (field 2) is in parentheses and may hold spaces and `)`, so
 * the fields are split after the last `)`. The start time is field 22 (clock ticks since boot).
 */
export function parseProcStat(pid: number, text: string): ProcessInfo | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const f = text.slice(close + 2).split(' ');
  const state = f[0];
  const ppid = f[1];
  const pgrp = f[2];
  const start = f[19];
  if (state === undefined || ppid === undefined || pgrp === undefined || start === undefined)
    return undefined;
  if (!/^\d+$/.test(ppid) || !/^\d+$/.test(pgrp) || !/^\d+$/.test(start)) return undefined;
  return { pid, ppid: Number(ppid), pgrp: Number(pgrp), state, start };
}

/** A process from /proc, or undefined when it is gone. */
export function procInfo(pid: number): ProcessInfo | undefined {
  try {
    return parseProcStat(pid, readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return undefined;
  }
}

/** Every process /proc lists (zombies included: callers decide). */
export function procTable(): Map<number, ProcessInfo> {
  const procs = new Map<number, ProcessInfo>();
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return procs;
  }
  for (const name of names) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    const info = procInfo(Number(name));
    if (info !== undefined) procs.set(info.pid, info);
  }
  return procs;
}

/** Whether `/proc/<pid>/environ` holds exactly the entry `entry` (`NAME=value\0`). */
export function procEnvironHas(pid: number, entry: Buffer): boolean {
  try {
    const env = readFileSync(`/proc/${pid}/environ`);
    let at = env.indexOf(entry);
    while (at >= 0) {
      if (at === 0 || env[at - 1] === 0) return true;
      at = env.indexOf(entry, at + 1);
    }
  } catch {
    // another user's process, or gone
  }
  return false;
}

/** `/proc/<pid>/cgroup`'s text, or undefined when the process is gone. */
export function procCgroupText(pid: number | 'self'): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  } catch {
    return undefined;
  }
}
