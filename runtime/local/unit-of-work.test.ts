import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { SCHEMA_VERSION } from './schema.js';
import { StoreError, StoreVersionError } from './store-errors.js';
import { UnitOfWork, UnitSpannedTurnError } from './unit-of-work.js';

/**
 * The unit of work on its own, over a real SQLite file in a temporary folder: a probe subclass
 * writes to the `meta` table through the protected `run`, as the delivery tables and the
 * repositories do.
 */
class Probe extends UnitOfWork {
  readonly scratch = this.txScoped<string>();
  put(key: string, value: string): void {
    this.run(this.stmt('INSERT INTO meta (key, value) VALUES (?, ?)'), key, value);
  }
  get(key: string): string | undefined {
    return (this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)
      ?.value;
  }
}

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function home(): string {
  dir = mkdtempSync(path.join(tmpdir(), 'rsqlo-uow-'));
  return dir;
}

describe('UnitOfWork', () => {
  it('nested transactions join the outer one: a failure anywhere keeps nothing', () => {
    const uow = new Probe(path.join(home(), 'rsqlo.db'));
    expect(() =>
      uow.tx(() => {
        uow.put('a', '1');
        uow.tx(() => uow.put('b', '2'));
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(uow.get('a')).toBeUndefined();
    expect(uow.get('b')).toBeUndefined();
    uow.tx(() => uow.tx(() => uow.put('c', '3')));
    expect(uow.get('c')).toBe('3');
    expect(uow.commits).toBe(1);
    expect(uow.writes).toBe(3);
    uow.close();
  });

  it('runs afterCommit work once the transaction committed, never after a rollback, at once outside one', () => {
    const uow = new Probe(path.join(home(), 'rsqlo.db'));
    const heard: string[] = [];
    uow.tx(() => {
      uow.afterCommit(() => heard.push(`committed:${uow.get('k') ?? '-'}`));
      uow.put('k', 'v');
      expect(heard).toEqual([]);
    });
    expect(() =>
      uow.tx(() => {
        uow.afterCommit(() => heard.push('rolled back'));
        throw new Error('no');
      }),
    ).toThrow('no');
    uow.afterCommit(() => heard.push('outside'));
    expect(heard).toEqual(['committed:v', 'outside']);
    uow.close();
  });

  it('an afterCommit failure is reported, and the commit stands', () => {
    const uow = new Probe(path.join(home(), 'rsqlo.db'));
    const errors: unknown[] = [];
    uow.onAfterCommitError = (err) => errors.push(err);
    uow.tx(() => {
      uow.put('k', 'v');
      uow.afterCommit(() => {
        throw new Error('post-commit');
      });
    });
    expect(uow.get('k')).toBe('v');
    expect(errors.map((e) => (e as Error).message)).toEqual(['post-commit']);
    uow.close();
  });

  it('refuses a unit that waited across an event-loop turn, and keeps none of its writes', async () => {
    const uow = new Probe(path.join(home(), 'rsqlo.db'));
    await expect(
      uow.unit(async () => {
        uow.put('k', 'v');
        await new Promise<void>((r) => setTimeout(r, 1));
      }),
    ).rejects.toBeInstanceOf(UnitSpannedTurnError);
    expect(uow.db.inTransaction).toBe(false);
    expect(uow.get('k')).toBeUndefined();
    // Microtasks alone are fine.
    await uow.unit(async () => {
      await Promise.resolve();
      uow.put('k', 'v');
    });
    expect(uow.get('k')).toBe('v');
    uow.close();
  });

  it('a unit cannot nest in a transaction', async () => {
    const uow = new Probe(path.join(home(), 'rsqlo.db'));
    let inner: Promise<void> | undefined;
    uow.tx(() => {
      inner = uow.unit(async () => {});
    });
    await expect(inner).rejects.toThrow('a unit of work cannot nest in a transaction');
    uow.close();
  });

  it('empties its transaction-scoped maps when a transaction begins and ends', () => {
    const uow = new Probe(path.join(home(), 'rsqlo.db'));
    uow.scratch.set('stale', 'x');
    uow.tx(() => {
      expect(uow.scratch.size).toBe(0);
      uow.scratch.set('row', 'y');
    });
    expect(uow.scratch.size).toBe(0);
    expect(() =>
      uow.tx(() => {
        uow.scratch.set('row', 'z');
        throw new Error('rolled back');
      }),
    ).toThrow();
    expect(uow.scratch.size).toBe(0);
    uow.close();
  });

  it('a full database fails the whole transaction as a disk-full StoreError, even when the writer swallowed it', () => {
    const file = path.join(home(), 'rsqlo.db');
    const uow = new Probe(file);
    uow.tx(() => uow.put('before', 'kept'));
    // SQLite's own limit on the file's pages: the next write that needs a page fails with SQLITE_FULL.
    const pages = uow.db.pragma('page_count', { simple: true }) as number;
    uow.db.pragma(`max_page_count = ${pages}`);
    let thrown: unknown;
    try {
      uow.tx(() => {
        for (let i = 0; i < 200; i++) {
          try {
            uow.put(`k${i}`, 'x'.repeat(4000));
          } catch {
            // a caller that catches everything
          }
        }
      });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(StoreError);
    expect(thrown).toMatchObject({ kind: 'io', diskFull: true, code: 'SQLITE_FULL', file });
    expect(uow.db.inTransaction).toBe(false);
    expect(uow.get('k0')).toBeUndefined();
    expect(uow.get('before')).toBe('kept');
    uow.close();
  });

  it('records its schema version in a new file, and refuses a file written by a newer rsqlo', () => {
    const file = path.join(home(), 'rsqlo.db');
    const uow = new Probe(file);
    expect(uow.isNew).toBe(true);
    expect(uow.get('schema_version')).toBe(String(SCHEMA_VERSION));
    uow.close();
    const reopened = new Probe(file);
    expect(reopened.isNew).toBe(false);
    reopened.close();
    const db = new Database(file);
    db.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(String(SCHEMA_VERSION + 1));
    db.close();
    expect(() => new Probe(file)).toThrow(StoreVersionError);
  });

  it('refuses a state file that is cut short, and one that is not a database, naming the file', () => {
    const file = path.join(home(), 'rsqlo.db');
    const uow = new Probe(file);
    uow.tx(() => {
      for (let i = 0; i < 50; i++) uow.put(`k${i}`, 'x'.repeat(1000));
    });
    // Move everything from the write-ahead log into the file, then cut the file short.
    uow.db.pragma('wal_checkpoint(TRUNCATE)');
    uow.close();
    truncateSync(file, 8192);
    expect(() => new Probe(file)).toThrow(
      /is damaged: it is cut short: it is 8192 bytes, but its header says \d+ pages/,
    );
    const other = path.join(path.dirname(file), 'other.db');
    writeFileSync(other, 'not a database, just some text that is long enough to fill a header '.repeat(4));
    let thrown: unknown;
    try {
      new Probe(other);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(StoreError);
    expect(thrown).toMatchObject({ kind: 'damaged', file: other });
  });
});
