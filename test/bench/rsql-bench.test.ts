/**
 * The rsql benchmark's measuring (not its numbers: tests never assert wall-clock times): CPU time read
 * from the shell's `times`, and pairs that alternate and keep failures visible.
 */
import { describe, expect, it } from 'vitest';
import { childCpuMs, paired } from './rsql-bench.js';

describe('childCpuMs', () => {
  it("reads the children's line of dash's and bash's `times`", () => {
    expect(childCpuMs('0m0.004000s 0m0.001000s\n0m0.450000s 0m0.090000s\n')).toBeCloseTo(540, 6);
    expect(childCpuMs('0m0.004s 0m0.001s\n1m2.500s 0m0.250s\n')).toBeCloseTo(62_750, 6);
    expect(childCpuMs('')).toBe(0);
  });
});

describe('paired', () => {
  it('times both commands in every pair and reports the CPU each used', async () => {
    // a command that burns CPU and one that sleeps: CPU tells them apart whatever the machine is doing
    const burn: [string, string[]] = ['/bin/sh', ['-c', 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done']];
    const sleep: [string, string[]] = ['/bin/sh', ['-c', 'sleep 0.05']];
    const t = await paired(burn, sleep, process.env, 5);
    expect(t.pairs).toBe(5);
    expect(t.cpu.rsql).toBeGreaterThan(t.cpu.psql);
    expect(t.spread[0]).toBeLessThanOrEqual(t.ratio);
    expect(t.spread[1]).toBeGreaterThanOrEqual(t.ratio);
  });

  it('fails when a command fails, naming it', async () => {
    await expect(paired(['/bin/sh', ['-c', 'exit 3']], ['/bin/true', []], process.env, 5)).rejects.toThrow(
      /exited with 3/,
    );
  });
});
