import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalStore, StoreError, storeFailure } from './store.js';

/**
 * The store's transaction state stays exact when BEGIN fails (another connection holds the write
 * lock: a real second SQLite connection, as a sqlite3 shell would be). Before issue 10 a failed
 * BEGIN left the store believing it was inside a transaction, and every later unit failed with "a
 * unit of work cannot nest in a transaction".
 */
describe('LocalStore under a held write lock', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  function open() {
    dir = mkdtempSync(path.join(tmpdir(), 'rsqlo-store-'));
    const file = path.join(dir, 'rsqlo.db');
    const store = new LocalStore(file, { busyTimeoutMs: 20 });
    const other = new Database(file);
    return { store, other, file };
  }

  it('a unit whose BEGIN finds the lock taken fails as busy, leaves no transaction, and the next unit works', async () => {
    const { store, other, file } = open();
    other.exec('BEGIN IMMEDIATE');
    let thrown: unknown;
    let ran = false;
    try {
      await store.unit(async () => {
        ran = true;
      });
    } catch (err) {
      thrown = err;
    }
    expect(ran).toBe(false);
    expect(thrown).toBeInstanceOf(StoreError);
    expect(thrown).toMatchObject({ kind: 'busy', file, code: 'SQLITE_BUSY' });
    expect(store.db.inTransaction).toBe(false);
    expect(store.waitingForLock).toBe(true);
    // A top-level transaction that must not wait fails the same way, with nothing half-done.
    expect(() => store.tx(() => store.enqueueOutbox('planner', '{}'), { wait: false })).toThrow(StoreError);
    other.exec('COMMIT');
    await store.unit(async () => {
      store.enqueueOutbox('planner', '{"n":1}');
    });
    expect(store.waitingForLock).toBe(false);
    expect(store.outboxSize()).toBe(1);
    other.close();
    store.close();
  });

  it('observers and afterCommit work hear of a commit only when it happened', async () => {
    const { store, other } = open();
    const heard: string[] = [];
    store.onCommittedEvent((e) => heard.push(e['detail-type']));
    other.exec('BEGIN IMMEDIATE');
    await expect(
      store.unit(async () => {
        store.afterCommit(() => heard.push('after'));
      }),
    ).rejects.toBeInstanceOf(StoreError);
    other.exec('COMMIT');
    await store.unit(async () => {
      store.afterCommit(() => heard.push('after'));
    });
    expect(heard).toEqual(['after']);
    other.close();
    store.close();
  });

  it('a failure inside a unit that a handler swallowed still fails the unit (nothing of it is kept)', async () => {
    const { store, other } = open();
    other.close();
    // A real store failure inside the transaction: the database is made read-only under it.
    store.db.pragma('query_only = ON');
    let thrown: unknown;
    try {
      await store.unit(async () => {
        try {
          store.enqueueOutbox('planner', '{}');
        } catch {
          // a service that catches everything
        }
      });
    } catch (err) {
      thrown = err;
    }
    expect(storeFailure(thrown, 'x')?.code).toMatch(/^SQLITE_READONLY/);
    expect(store.db.inTransaction).toBe(false);
    store.db.pragma('query_only = OFF');
    expect(store.outboxSize()).toBe(0);
    store.close();
  });
});

describe('storeFailure', () => {
  it('names the cause and the path of SQLite and system I/O errors, and leaves other errors alone', () => {
    const full = Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    expect(storeFailure(full, '/h/rsqlo.db')?.message).toBe(
      'no space left on the device: cannot write /h/rsqlo.db (SQLITE_FULL)',
    );
    const nospc = Object.assign(new Error('ENOSPC: no space left on device, write'), {
      code: 'ENOSPC',
      path: '/h/logs/x.log',
    });
    expect(storeFailure(nospc, '/h/rsqlo.db')).toMatchObject({
      kind: 'io',
      file: '/h/logs/x.log',
      diskFull: true,
      message: 'no space left on the device: cannot write /h/logs/x.log (ENOSPC)',
    });
    const corrupt = Object.assign(new Error('database disk image is malformed'), { code: 'SQLITE_CORRUPT' });
    expect(storeFailure(corrupt, '/h/rsqlo.db')?.kind).toBe('damaged');
    expect(storeFailure(new TypeError('x is undefined'), '/h/rsqlo.db')).toBeUndefined();
    const constraint = Object.assign(new Error('UNIQUE constraint failed'), {
      code: 'SQLITE_CONSTRAINT_UNIQUE',
    });
    expect(storeFailure(constraint, '/h/rsqlo.db')).toBeUndefined();
  });
});
