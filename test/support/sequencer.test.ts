import { describe, expect, it } from 'vitest';
import type { TestSpecification, Vitest } from 'vitest/node';
import { SLOW_FILES, SlowFirstSequencer } from './sequencer.js';

/** A clean clone's view: no cached results or stats, so vitest alone would keep this order. */
function sequencer(root: string): SlowFirstSequencer {
  const ctx = {
    config: { root },
    cache: { getFileTestResults: () => undefined, getFileStats: () => undefined },
  } as unknown as Vitest;
  return new SlowFirstSequencer(ctx);
}

function spec(root: string, file: string, project = 'integration'): TestSpecification {
  const config = { sequence: { groupOrder: 0 }, isolate: true };
  return { moduleId: `${root}/${file}`, project: { name: project, config } } as unknown as TestSpecification;
}

describe('SlowFirstSequencer', () => {
  it('starts the known slow files first, longest first, and keeps the order of the rest', async () => {
    const root = '/repo';
    const files = [
      'contracts/a.test.ts',
      'test/e2e/soak.test.ts',
      'contracts/b.test.ts',
      'test/aws/large-stage.test.ts',
      'test/e2e/engine-lock.test.ts',
    ].map((f) => spec(root, f));
    const sorted = (await sequencer(root).sort(files)).map((s) => s.moduleId.slice(root.length + 1));
    expect(sorted).toEqual([
      'test/aws/large-stage.test.ts',
      'test/e2e/soak.test.ts',
      'test/e2e/engine-lock.test.ts',
      'contracts/a.test.ts',
      'contracts/b.test.ts',
    ]);
  });

  it('lists only files that exist', async () => {
    const { existsSync } = await import('node:fs');
    expect(Object.keys(SLOW_FILES).filter((f) => !existsSync(f))).toEqual([]);
  });
});
