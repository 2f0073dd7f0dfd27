import { describe, expect, it } from 'vitest';
import {
  indexChanges,
  type PushInput,
  PushTooLargeError,
  pushProblems,
  pushTransaction,
  type StoredConfig,
} from './definition-update.js';

const def = (id: string, after?: string[]) => ({
  raw: {
    workflow_id: id,
    workflow_stages: [{ execution_flag: 'y', execution_type: 'sequential', scripts: ['ok.sh'] }],
    ...(after ? { trigger: { after } } : {}),
  },
  source: `${id}.json`,
});
const empty = (): StoredConfig => ({ definitions: new Map(), index: new Map(), calendars: new Set() });

describe('definitions push: the index changes', () => {
  it('adds a pushed workflow under the upstreams it names and removes it from those it no longer names, keeping other dependents', () => {
    const stored = empty();
    stored.definitions.set('up1', def('up1').raw);
    stored.definitions.set('up2', def('up2').raw);
    stored.definitions.set('down', def('down', ['up1']).raw);
    stored.definitions.set('other', def('other', ['up1']).raw);
    stored.index.set('up1', ['down', 'other']);
    expect(indexChanges({ definitions: [def('down', ['up2'])], calendars: [] }, stored)).toEqual([
      { upstream: 'up1', before: ['down', 'other'], after: ['other'] },
      { upstream: 'up2', before: undefined, after: ['down'] },
    ]);
    // Unchanged: nothing to write; an index item missing its entry (pushed by an older rsqlo) is repaired.
    expect(indexChanges({ definitions: [def('other', ['up1'])], calendars: [] }, stored)).toEqual([]);
    stored.index.set('up1', ['other']);
    expect(indexChanges({ definitions: [def('down', ['up1'])], calendars: [] }, stored)).toEqual([
      { upstream: 'up1', before: ['other'], after: ['down', 'other'] },
    ]);
  });

  it('a cycle through stored definitions is refused; one among stored definitions alone is not this push’s', () => {
    const stored = empty();
    stored.definitions.set('a', def('a').raw);
    stored.definitions.set('b', def('b', ['a']).raw);
    stored.definitions.set('c', def('c', ['b']).raw);
    expect(pushProblems({ definitions: [def('a', ['c'])], calendars: [] }, stored)).toEqual([
      'a.json: invalid workflow definition\n  trigger.after: dependency cycle a → b → c → a with the definitions stored in the stack: each would wait for the other',
    ]);
    stored.definitions.set('x', def('x', ['y']).raw);
    stored.definitions.set('y', def('y', ['x']).raw);
    expect(pushProblems({ definitions: [def('z', ['x'])], calendars: [] }, stored)).toEqual([]);
  });
});

describe('definitions push: one transaction of at most 100 writes', () => {
  // "TransactWriteItems is a synchronous write operation that groups up to 100 action requests.
  // [...] no two actions can target the same item." (DynamoDB API Reference, TransactWriteItems)
  const many = (n: number, after?: string[]): PushInput['definitions'] =>
    Array.from({ length: n }, (_, i) => def(`wf_${String(i).padStart(3, '0')}`, after));

  it('100 writes are one transaction, each item once', () => {
    const stored = empty();
    stored.definitions.set('up', def('up').raw);
    const items = pushTransaction('t', { definitions: many(99, ['up']), calendars: [] }, stored);
    expect(items).toHaveLength(100);
    const keys = items.map((i) => (i.Update ?? i.Delete)?.Key?.workflow_id?.S);
    expect(new Set(keys).size).toBe(100);
    expect(keys.at(-1)).toBe('after:up');
  });

  it('101 writes are refused, not split, with the counts', () => {
    const stored = empty();
    stored.definitions.set('up', def('up').raw);
    const input = {
      definitions: many(99, ['up']),
      calendars: [{ name: 'cal', raw: { weekdays: ['mon'] } }],
    };
    expect(() => pushTransaction('t', input, stored)).toThrow(PushTooLargeError);
    expect(() => pushTransaction('t', input, stored)).toThrow(
      /^this push needs 101 writes \(99 definitions, 1 trigger-index items, 1 calendars\) and DynamoDB writes at most 100 in one transaction; nothing was pushed/,
    );
  });
});
