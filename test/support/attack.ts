/**
 * Process helpers for tests that attack the engine's processes (Linux: they read /proc). Kept apart
 * from platform/ on purpose: a test must not find the processes it kills with the code under test.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Polls `cond` every 50 ms until it holds; throws naming `what` after `ms`. */
export async function until(cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function stat(pid: number): { ppid: number; pgrp: number; state: string } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: f[0] ?? '?', ppid: Number(f[1]), pgrp: Number(f[2]) };
  } catch {
    return undefined;
  }
}

/** The process's command line, NULs as spaces; '' when it is gone. */
export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** Whether a process runs (a zombie does not). */
export function alive(pid: number): boolean {
  const s = stat(pid);
  return s !== undefined && s.state !== 'Z' && s.state !== 'X';
}

/** The nearest ancestor of `pid` (itself included) whose command line contains `needle`. */
export function ancestorRunning(pid: number, needle: string): number | undefined {
  for (let p = pid, hops = 0; p > 1 && hops < 20; hops++) {
    if (commandLine(p).includes(needle)) return p;
    const s = stat(p);
    if (!s) return undefined;
    p = s.ppid;
  }
  return undefined;
}

/** Live processes whose command line contains `needle` and whose environment has `NAME=value`. */
export function processesWith(needle: string, envEntry: string): number[] {
  const marker = Buffer.from(`${envEntry}\0`);
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid || !alive(pid) || !commandLine(pid).includes(needle)) continue;
    try {
      const env = readFileSync(`/proc/${pid}/environ`);
      const at = env.indexOf(marker);
      if (at === 0 || (at > 0 && env[at - 1] === 0)) out.push(pid);
    } catch {
      // gone, or not ours
    }
  }
  return out;
}

/** SIGKILLs a process and its process group, ignoring what is already gone. */
export function killHard(pid: number): void {
  if (!(pid > 1)) return;
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, 'SIGKILL');
    } catch {
      // gone
    }
  }
}
