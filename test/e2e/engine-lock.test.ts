import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { nodeArgs } from '../../bin/load.js';
import { acquireLock, EngineLockedError, LOCK_DB } from '../../host/lock.js';

/**
 * Issue 10, class 3: processes that take over a stale engine lock at the same moment must not both
 * get it. Real processes, each round all trying to take the home in the same millisecond after its
 * owner went away leaving its lock behind: released with a dead pid in engine.lock (what a crash
 * leaves), and every 25th round SIGKILLed for real.
 */
type Answer = { ok?: boolean; pid?: number; error?: string; ready?: boolean; released?: boolean };

class Contender {
  readonly child: ChildProcess;
  private readonly answers: Answer[] = [];
  private wake: (() => void) | undefined;
  constructor() {
    this.child = spawn(process.execPath, nodeArgs('test/support/lock-contender.ts'), {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    createInterface({ input: this.child.stdout as NodeJS.ReadableStream }).on('line', (l) => {
      this.answers.push(JSON.parse(l) as Answer);
      this.wake?.();
    });
  }
  send(msg: unknown): void {
    this.child.stdin?.write(`${JSON.stringify(msg)}\n`);
  }
  async next(ms = 20_000): Promise<Answer> {
    const end = Date.now() + ms;
    while (this.answers.length === 0) {
      if (Date.now() > end) throw new Error(`contender ${this.child.pid} did not answer`);
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 100);
      });
    }
    return this.answers.shift() as Answer;
  }
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    await new Promise<void>((r) => {
      this.child.once('exit', () => r());
      this.child.kill('SIGKILL');
    });
  }
}

const dirs: string[] = [];
const all: Contender[] = [];
afterAll(async () => {
  for (const c of all) await c.kill();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function contender(): Promise<Contender> {
  const c = new Contender();
  all.push(c);
  expect(await c.next()).toEqual({ ready: true });
  return c;
}

describe('engine lock (issue 10, class 3)', () => {
  it('only one of several processes taking over a stale lock at the same moment owns the home', async () => {
    const home = mkdtempSync(path.join(tmpdir(), 'rsqlo-lock-'));
    dirs.push(home);
    // A pid that belonged to a real process, now dead: what a crashed engine leaves in engine.lock.
    const dead = spawn('true');
    await new Promise((r) => dead.once('exit', r));
    const ROUNDS = 150;
    const CRASH_EVERY = 25;
    const K = 4;
    let group: Contender[] = [];
    for (let i = 0; i < K; i++) group.push(await contender());
    const doubles: Array<{ round: number; owners: number }> = [];
    for (let round = 0; round < ROUNDS; round++) {
      const at = Date.now() + 40;
      for (const c of group) c.send({ op: 'go', home, at });
      const answers = await Promise.all(group.map((c) => c.next()));
      const owners = group.filter((_, i) => answers[i]?.ok === true);
      if (owners.length !== 1) doubles.push({ round, owners: owners.length });
      for (const a of answers) {
        // The others are told the home is taken, in the words the CLI prints.
        if (!a.ok)
          expect(a.error).toMatch(/^EngineLockedError: another rsqlo engine (\(pid \d+\) )?is using /);
      }
      // Nobody else, in this process either, can take it while the owner lives.
      if (owners.length === 1) expect(() => acquireLock(home)).toThrow(EngineLockedError);
      if (round % CRASH_EVERY === CRASH_EVERY - 1) {
        // The owner crashes for real, leaving its files behind; a new process joins.
        for (const o of owners) await o.kill();
        group = group.filter((c) => !owners.includes(c));
        while (group.length < K) group.push(await contender());
      } else {
        // The owner lets go, and the home is left as a crashed engine leaves it: engine.lock names
        // a dead process.
        for (const o of owners) {
          o.send({ op: 'release' });
          expect(await o.next()).toEqual({ released: true });
        }
        writeFileSync(path.join(home, 'engine.lock'), `${dead.pid}\n`);
      }
    }
    expect(doubles).toEqual([]);
  }, 300_000);

  it('a released lock is free at once, and a held one is refused with the holder named', async () => {
    const home = mkdtempSync(path.join(tmpdir(), 'rsqlo-lock-'));
    dirs.push(home);
    const c = await contender();
    c.send({ op: 'go', home, at: 0 });
    expect(await c.next()).toMatchObject({ ok: true });
    let refused: unknown;
    try {
      acquireLock(home);
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(EngineLockedError);
    expect((refused as EngineLockedError).pid).toBe(c.child.pid);
    c.send({ op: 'release' });
    expect(await c.next()).toEqual({ released: true });
    const mine = acquireLock(home);
    mine.release();
    await c.kill();
  });

  it('a passing reader of the lock file (a backup, a contender opening it) does not make a free home "in use"', async () => {
    const home = mkdtempSync(path.join(tmpdir(), 'rsqlo-lock-'));
    dirs.push(home);
    acquireLock(home).release(); // engine.lock.db exists, nobody owns the home
    // Another process reads the file inside a transaction (SQLite SHARED lock) for 300 ms, as a
    // backup tool, or a contender opening the file at the same moment, briefly does.
    const reader = spawn(
      process.execPath,
      [
        '-e',
        `const D = require('better-sqlite3'); const db = new D(process.argv[1]);
         db.exec('BEGIN'); db.prepare('select count(*) from sqlite_master').get();
         process.stdout.write('held\\n'); setTimeout(() => { db.exec('COMMIT'); db.close(); }, 300);`,
        path.join(home, LOCK_DB),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'], cwd: process.cwd() },
    );
    await new Promise<void>((r) =>
      createInterface({ input: reader.stdout as NodeJS.ReadableStream }).once('line', () => r()),
    );
    // A crashed owner's pid, since reused by an unrelated live process (our parent; its start
    // token is not the one recorded): not taken for an owner, so the home is not refused at once.
    writeFileSync(path.join(home, 'engine.lock'), `${process.ppid}\nnot-its-start-token\n`);
    // The home has no owner: it is taken once the reader lets go, not refused.
    const lock = acquireLock(home);
    lock.release();
    await new Promise((r) => reader.once('exit', r));
  });
});
