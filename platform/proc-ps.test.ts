import { describe, expect, it } from 'vitest';
import { parseProcStat } from './proc.js';
import { parsePsTable } from './ps.js';
import { isLive } from './types.js';

describe('parseProcStat (Linux /proc/<pid>/stat)', () => {
  it('reads state, ppid, pgrp and the start ticks (field 22)', () => {
    const line =
      '4242 (bash) S 4200 4242 4200 34816 4242 4194304 1118 0 0 0 1 0 0 0 20 0 1 0 1234567 9027584 897 18446744073709551615 1 1 0 0 0 0 65536 3670020 1266777851 0 0 0 17 1 0 0 0 0 0\n';
    expect(parseProcStat(4242, line)).toEqual({
      pid: 4242,
      ppid: 4200,
      pgrp: 4242,
      state: 'S',
      start: '1234567',
    });
  });

  it('survives a command name with spaces and parentheses', () => {
    const line =
      '77 (my (odd) ) name) Z 1 77 77 0 -1 4194308 0 0 0 0 0 0 0 0 20 0 1 0 555 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n';
    const p = parseProcStat(77, line);
    expect(p).toEqual({ pid: 77, ppid: 1, pgrp: 77, state: 'Z', start: '555' });
    expect(p && isLive(p)).toBe(false);
  });

  it('refuses what is not a stat line', () => {
    expect(parseProcStat(1, '')).toBeUndefined();
    expect(parseProcStat(1, 'no parentheses here')).toBeUndefined();
    expect(parseProcStat(1, '1 (init) S 0')).toBeUndefined();
  });
});

describe('parsePsTable (ps -A -o pid= -o ppid= -o pgid= -o stat= -o lstart=)', () => {
  it('reads macOS ps output', () => {
    // macOS 14 `ps` (BSD): stat letters with flags, lstart with two spaces before single-digit days.
    const text = [
      '    1     0     1 Ss   Mon Dec  1 08:02:11 2025',
      '  512     1   512 S    Mon Dec  1 08:02:40 2025',
      '90210   512 90210 R+   Sat Dec  6 00:35:12 2025',
      '90211 90210 90210 Z+   Sat Dec  6 00:35:13 2025',
      '',
    ].join('\n');
    const t = parsePsTable(text);
    expect([...t.keys()]).toEqual([1, 512, 90210, 90211]);
    expect(t.get(90210)).toEqual({
      pid: 90210,
      ppid: 512,
      pgrp: 90210,
      state: 'R+',
      start: 'Sat Dec 6 00:35:12 2025',
    });
    expect(isLive(t.get(90210) as never)).toBe(true);
    expect(isLive(t.get(90211) as never)).toBe(false);
  });

  it('reads procps (Linux) output and skips lines it cannot read', () => {
    const text = [
      '    1     0     0 S<Ll Sun Dec  6 00:34:59 2026',
      '  PID  PPID  PGID STAT                  STARTED', // a header, had one slipped in
      ' 8414  8411  8414 Ss   Sun Dec  6 00:46:31 2026',
      'ps: something went wrong',
    ].join('\n');
    const t = parsePsTable(text);
    expect([...t.keys()]).toEqual([1, 8414]);
    expect(t.get(8414)).toMatchObject({
      ppid: 8411,
      pgrp: 8414,
      state: 'Ss',
      start: 'Sun Dec 6 00:46:31 2026',
    });
  });
});
