import { describe, expect, it } from 'vitest';
import { parallel, workflow } from '../../services/testing/fixtures.js';
import {
  compactScriptNames,
  ItemTooLargeError,
  itemSize,
  jobFromItem,
  jobToItem,
  MAX_ITEM_BYTES,
  RSQL_JOBS_BUDGET_BYTES,
  runFromItem,
  runToItem,
} from './dynamo-items.js';
import { planned } from './testing/port-scenario.js';

describe('itemSize', () => {
  it('follows DynamoDB’s documented rules', () => {
    // name + value bytes; numbers 1 byte per 2 significant digits + 1; bool/null 1; list/map 3 + 1 per element.
    expect(itemSize({ a: 'xyz' })).toBe(1 + 3);
    expect(itemSize({ n: 123456 })).toBe(1 + 4);
    expect(itemSize({ n: 1200 })).toBe(1 + 2);
    expect(itemSize({ b: true, z: null })).toBe(2 + 2);
    expect(itemSize({ l: ['ab', 'c'] })).toBe(1 + 3 + (1 + 2) + (1 + 1));
    expect(itemSize({ m: { k: 'v' } })).toBe(1 + 3 + (1 + 1 + 1));
    expect(itemSize({ s: new Set(['ab', 'cd']) })).toBe(1 + 4);
    expect(itemSize({ u: undefined, é: 'é' })).toBe(2 + 2);
  });
});

describe('run items', () => {
  it('keep each distinct script once, in order, within the budget, and say how many were left out', () => {
    expect(compactScriptNames(['a', 'b', 'a', 'c'])).toEqual({ names: ['a', 'b', 'c'], omitted: 0 });
    expect(compactScriptNames(['aa', 'bb', 'cc', 'bb'], 6)).toEqual({ names: ['aa', 'bb'], omitted: 1 });
  });

  it('fit 10,000 jobs of the longest script names allowed (1,024 characters) well under 400 KB', () => {
    const names = Array.from(
      { length: 10_000 },
      (_, i) => `${'x'.repeat(1018)}_${String(i).padStart(5, '0')}`,
    );
    expect(names[0]).toHaveLength(1024);
    const wf = workflow(
      'w',
      Array.from({ length: 100 }, (_, i) => parallel(names.slice(i * 100, i * 100 + 100))),
    );
    const p = planned(wf, 'r1');
    expect(p.run.rsql_jobs).toHaveLength(10_000);
    const item = runToItem(p.run);
    expect(itemSize(item)).toBeLessThan(MAX_ITEM_BYTES * 0.75);
    expect((item.rsql_jobs as string[]).length).toBe(Math.floor(RSQL_JOBS_BUDGET_BYTES / 1025));
    expect(runFromItem(item)).toEqual((({ rsql_jobs: _r, ...rest }) => rest)(p.run));
  });

  it('refuse a run too large for one item with a clear error', () => {
    const p = planned(workflow('w', [parallel(['a.sh'])]), 'r1');
    const parameters = Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`P${i}`, 'v'.repeat(1000)]));
    expect(() => runToItem({ ...p.run, parameters })).toThrow(ItemTooLargeError);
    expect(() => runToItem({ ...p.run, parameters })).toThrow(/workflow audit item of r1 would be \d+ bytes/);
  });
});

describe('job items', () => {
  it('carry their sequence, store a null start time as absent, and read back unchanged', () => {
    const p = planned(workflow('w', [parallel(['a.sh', 'b.sh']), parallel(['c.sh'])]), 'r1');
    const job = p.jobs[2];
    if (!job) throw new Error('no job');
    const item = jobToItem(job);
    expect(item.job_seq).toBe(2_000_001);
    expect(item).not.toHaveProperty('execution_start_ts');
    expect(jobFromItem(item)).toEqual(job);
    const started = { ...job, execution_start_ts: '2024-01-01T00:00:00.000Z' };
    expect(jobToItem(started).execution_start_ts).toBe(started.execution_start_ts);
  });
});
