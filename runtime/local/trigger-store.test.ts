import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RsqloEvent } from '../../contracts/events.js';
import type { TriggerState } from '../../services/ports.js';
import { LocalStore } from './store.js';

const def = (id: string, after?: string[]) => ({
  workflow_id: id,
  workflow_stages: [{ execution_flag: 'y', execution_type: 'sequential', scripts: ['a.sh'] }],
  ...(after ? { trigger: { after } } : {}),
});

describe('LocalStore: the trigger index and state', () => {
  let dir: string | undefined;
  let store: LocalStore | undefined;
  afterEach(() => {
    store?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const open = () => {
    dir = mkdtempSync(path.join(tmpdir(), 'rsqlo-trigger-store-'));
    store = new LocalStore(path.join(dir, 'rsqlo.db'));
    return store;
  };

  it('keeps who waits for whom with each definition: replaced when the definition changes', async () => {
    const s = open();
    s.putDefinition('down', def('down', ['a', 'b']), '/s');
    s.putDefinition('other', def('other', ['a']), '/s');
    const t = s.triggers();
    expect(await t.dependents('a')).toEqual(['down', 'other']);
    expect(await t.dependents('b')).toEqual(['down']);
    s.putDefinition('down', def('down', ['c']), '/s');
    expect(await t.dependents('b')).toEqual([]);
    expect(await t.dependents('c')).toEqual(['down']);
    s.putDefinition('other', def('other'), '/s');
    expect(await t.dependents('a')).toEqual([]);
  });

  it('writes the state only at the version read, with its request in the same transaction', async () => {
    const s = open();
    const t = s.triggers();
    const state: TriggerState = { version: 1, arrivals: {}, consumed: {}, last_request: null };
    const request: RsqloEvent = {
      detailType: 'WorkflowRequested',
      detail: { version: 1, event_id: 'WorkflowRequested:trigger:down:x', workflow_id: 'down' },
    };
    expect(await t.save('down', 0, state, {})).toBe(true);
    expect(await t.save('down', 0, state, { events: [request] })).toBe(false);
    const before = s.outboxSize();
    expect(await t.save('down', 2, { ...state, version: 3 }, { events: [request] })).toBe(false);
    expect(s.outboxSize()).toBe(before);
    expect(await t.save('down', 1, { ...state, version: 2 }, { events: [request] })).toBe(true);
    expect(s.outboxSize()).toBeGreaterThan(before);
    expect((await t.get('down'))?.version).toBe(2);
    expect(await t.lastRunStart('down')).toBeUndefined();
  });
});
