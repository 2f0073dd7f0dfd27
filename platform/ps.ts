/**
 * The portable process table: `ps` (macOS, BSDs, Linux without /proc). Behind
 * platform/processes.ts. Slower than /proc (one `ps` run per table), so callers poll it less often.
 */
import { spawnSync } from 'node:child_process';
import type { ProcessInfo } from './types.js';

/**
 * `ps` arguments giving, without a header, `pid ppid pgid stat lstart` for every process. Both
 * procps (Linux) and BSD `ps` (macOS) know these keywords; `lstart` comes last because it has
 * spaces in it ("Sat Dec  6 00:35:12 2025").
 */
export const PS_TABLE_ARGS = [
  '-A',
  '-o',
  'pid=',
  '-o',
  'ppid=',
  '-o',
  'pgid=',
  '-o',
  'stat=',
  '-o',
  'lstart=',
];

/** Parses the output of `ps` run with {@link PS_TABLE_ARGS} (lines it cannot read are skipped). */
export function parsePsTable(text: string): Map<number, ProcessInfo> {
  const out = new Map<number, ProcessInfo>();
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\S+)\s+(\S.*?)\s*$/.exec(line);
    if (!m) continue;
    const pid = Number(m[1]);
    out.set(pid, {
      pid,
      ppid: Number(m[2]),
      pgrp: Number(m[3]),
      state: m[4] as string,
      start: (m[5] as string).replace(/\s+/g, ' '),
    });
  }
  return out;
}

/** Runs `ps` once (C locale, so `lstart` reads the same whatever the user's language). */
export function psTable(pids?: number[]): Map<number, ProcessInfo> {
  const args = pids === undefined ? PS_TABLE_ARGS : [...PS_TABLE_ARGS.slice(1), '-p', pids.join(',')];
  const r = spawnSync('ps', args, {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/bin:/usr/bin', LC_ALL: 'C' },
    maxBuffer: 64 * 1024 * 1024,
  });
  // ps exits 1 when -p names no live process: that is an empty table, not an error.
  return parsePsTable(typeof r.stdout === 'string' ? r.stdout : '');
}
