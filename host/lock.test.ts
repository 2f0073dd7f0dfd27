import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EngineLockedError, pidFileLock } from './lock.js';

/**
 * The pid-file lock, used where better-sqlite3 cannot load (the EC2 agent). The OS lock and the
 * race between processes are tested with real processes in test/e2e/engine-lock.test.ts.
 */
describe('pidFileLock (the fallback)', () => {
  let home: string | undefined;
  afterEach(() => {
    if (home) rmSync(home, { recursive: true, force: true });
    home = undefined;
  });

  it('writes the pid whole, refuses a live holder, and takes over a dead one', () => {
    home = mkdtempSync(path.join(tmpdir(), 'rsqlo-pidlock-'));
    const file = path.join(home, 'engine.lock');
    const lock = pidFileLock(home);
    expect(readFileSync(file, 'utf8')).toBe(`${process.pid}\n`);
    lock.release();
    expect(existsSync(file)).toBe(false);

    // A live process (our parent) holds it: refused, naming it.
    writeFileSync(file, `${process.ppid}\n`);
    expect(() => pidFileLock(home as string)).toThrow(EngineLockedError);
    expect(readFileSync(file, 'utf8')).toBe(`${process.ppid}\n`);

    // A dead one: taken over, and nothing but our lock is left.
    const dead = spawnSync('true').pid as number;
    writeFileSync(file, `${dead}\n`);
    const taken = pidFileLock(home);
    expect(readFileSync(file, 'utf8')).toBe(`${process.pid}\n`);
    taken.release();
    expect(existsSync(file)).toBe(false);

    // Left empty or unreadable as a pid (a crash while it was written by an older engine): stale.
    writeFileSync(file, '');
    pidFileLock(home).release();
    writeFileSync(file, 'not a pid\n');
    pidFileLock(home).release();
    expect(existsSync(file)).toBe(false);
  });
});
