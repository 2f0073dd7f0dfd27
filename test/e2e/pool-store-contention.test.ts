import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeArgs } from '../../bin/load.js';
import { EVENT_VERSION } from '../../contracts/events.js';
import { JobMessage, jobRunName } from '../../contracts/jobs.js';
import { WorkflowDefinition } from '../../contracts/workflow.js';
import { LocalStore } from '../../runtime/local/store.js';
import { planRun } from '../../services/starter/plan.js';
import { parallel, scripts, workflow } from '../../services/testing/fixtures.js';

/**
 * Attacks on the local pools (issue 14): several processes on one state file, and a process
 * killed -9 in the middle. SQLite's write lock makes each port method atomic across processes;
 * these keep that true (test/support/pool-store-child.ts is the other process).
 */
const CHILD = nodeArgs('test/support/pool-store-child.ts');
const children: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function stateFile(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'rsqlo-poolrace-'));
  dirs.push(d);
  return path.join(d, 'rsqlo.db');
}

interface Child {
  child: ChildProcess;
  out: { stdout: string; stderr: string };
  exited: Promise<number | null>;
}

function child(file: string, ...args: string[]): Child {
  const c = spawn(process.execPath, [...CHILD, file, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(c);
  const out = { stdout: '', stderr: '' };
  c.stdout?.on('data', (d) => {
    out.stdout += String(d);
  });
  c.stderr?.on('data', (d) => {
    out.stderr += String(d);
  });
  const exited = new Promise<number | null>((r) => c.once('exit', (code) => r(code)));
  return { child: c, out, exited };
}

async function until(what: string, cond: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Starts the children together and returns their JSON results. Each has opened the file and waits
 * for `go`; the test holds the write lock until both say they have started, so their first writes
 * wait for the same lock and go at once when it is released.
 */
async function race<T>(file: string, cs: Child[]): Promise<T[]> {
  await until('the children to be ready', () => cs.every((c) => c.out.stdout.includes('ready\n')));
  const lock = new Database(file);
  lock.exec('BEGIN IMMEDIATE');
  for (const c of cs) c.child.stdin?.write('go\n');
  await until('the children to start', () => cs.every((c) => c.out.stdout.includes('started\n')));
  lock.exec('COMMIT');
  lock.close();
  const codes = await Promise.all(cs.map((c) => c.exited));
  expect(codes, cs.map((c) => c.out.stderr).join('\n')).toEqual(cs.map(() => 0));
  return cs.map((c) => JSON.parse(c.out.stdout.trim().split('\n').at(-1) as string) as T);
}

const POOLS = 300;

describe('pools on one state file shared by processes', () => {
  it('two processes taking the last slot of the same pools at once: each slot goes to exactly one', async () => {
    const file = stateFile();
    const store = new LocalStore(file);
    for (let i = 0; i < POOLS; i++)
      await store.pools().ensure(`p${i}`, 1, { source: 'definition', created_by: 'workflow:wf_race' }, {});
    store.close();
    const [a, b] = await race<{ acquired: number[] }>(file, [
      child(file, 'acquire', 'A', String(POOLS)),
      child(file, 'acquire', 'B', String(POOLS)),
    ]);
    if (!a || !b) throw new Error('no results');
    process.stdout.write(`acquire race split: A ${a.acquired.length}, B ${b.acquired.length}\n`);
    expect(a.acquired.length + b.acquired.length).toBe(POOLS);
    const again = new LocalStore(file);
    for (let i = 0; i < POOLS; i++) {
      const holders = (await again.pools().get(`p${i}`))?.holders;
      expect(holders).toEqual([a.acquired.includes(i) ? `A-${i}` : `B-${i}`]);
    }
    again.close();
  }, 120_000);

  it('the same release from two processes at once frees the slot once: one PoolSlotFreed per holder', async () => {
    const file = stateFile();
    const store = new LocalStore(file);
    const pools = store.pools();
    await pools.ensure('wlm', POOLS, { source: 'definition', created_by: 'workflow:wf_race' }, {});
    for (let i = 0; i < POOLS; i++) {
      const h = {
        holder: `h${i}`,
        workflowExecutionId: 'race-1',
        jobKey: '1.1',
        attempt: i + 1,
        since: new Date().toISOString(),
      };
      expect(await pools.acquire('wlm', h)).toBe('acquired');
    }
    store.close();
    const results = await race<{ released: number[]; events: number }>(file, [
      child(file, 'release', String(POOLS)),
      child(file, 'release', String(POOLS)),
    ]);
    process.stdout.write(`release race split: ${results.map((r) => r.released.length).join(', ')}\n`);
    const released = results.flatMap((r) => r.released).sort((x, y) => x - y);
    expect(released).toEqual(Array.from({ length: POOLS }, (_, i) => i));
    expect(results.reduce((n, r) => n + r.events, 0)).toBe(POOLS);
    const again = new LocalStore(file);
    expect((await again.pools().get('wlm'))?.holders).toEqual([]);
    again.close();
  }, 120_000);

  it('killed -9 between enqueue and grant: the state is whole, and the next wake serves the waiter', async () => {
    const JOBS = 40;
    // Job 3: stopped right after its enqueue committed (a waiter for sure). Job 17: killed at once,
    // wherever the process then is (inside the grant's unit, or the next enqueue's).
    for (const [killAfter, pause] of [
      [3, true],
      [17, false],
    ] as const) {
      const file = stateFile();
      const exec = `race-${killAfter}`;
      const store = new LocalStore(file);
      const def = WorkflowDefinition.parse(
        workflow('wf_race', [{ ...parallel(scripts('s', JOBS)), pool: 'wlm' }], { max_active_runs: 1 }),
      );
      store.putDefinition('wf_race', def, '/scripts');
      const p = planRun({ definition: def, workflowExecutionId: exec, now: new Date(), parameters: {} });
      expect((await store.runs().createRun(p.run, p.jobs, { maxActiveRuns: 1 }, {})).outcome).toBe('created');
      const claim = {
        workflowExecutionId: exec,
        stage: 1,
        expectedCursor: 0,
        newCursor: JOBS,
        jobs: p.jobs.map((j) => ({ jobKey: j.job_key, attempt: 1 })),
        at: new Date().toISOString(),
      };
      expect(await store.runs().claimJobs(claim, {})).toBe('claimed');
      await store.pools().ensure('wlm', JOBS, { source: 'definition', created_by: 'workflow:wf_race' }, {});
      store.close();

      const c = child(file, 'cycle', exec, String(JOBS), pause ? String(killAfter) : '0');
      await until('the child to be ready', () => c.out.stdout.includes('ready\n'));
      c.child.stdin?.write('go\n');
      // Killed as soon as it says it parked job n: most often inside the next unit or between two.
      await until(`job ${killAfter} parked`, () => c.out.stdout.includes(`parked ${killAfter}\n`));
      c.child.kill('SIGKILL');
      await c.exited;

      const db = new Database(file, { readonly: true });
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      db.close();
      const after = new LocalStore(file);
      const pool = await after.pools().get('wlm');
      if (!pool) throw new Error('no pool');
      const messages = (after.db.prepare('SELECT body FROM queue').all() as Array<{ body: string }>).map(
        (r) => JobMessage.parse(JSON.parse(r.body)),
      );
      const waiters = new Set(pool.waiters.map((w) => w.holder));
      const holders = new Set(pool.holders);
      const sent = new Set(messages.map((m) => m.job_key));
      // Every job is in exactly one consistent state: untouched, waiting (marked and queued for a
      // slot), or granted (a holder, unmarked, its message sent) — never half of one.
      for (const j of p.jobs) {
        const row = await after.jobs().getJob(exec, j.job_key);
        const name = jobRunName(exec, j.job_key, 1);
        const state = {
          marked: row?.waiting_for === 'pool:wlm',
          waiting: waiters.has(name),
          holding: holders.has(name),
          sent: sent.has(j.job_key),
        };
        expect([
          { marked: false, waiting: false, holding: false, sent: false },
          { marked: true, waiting: true, holding: false, sent: false },
          { marked: false, waiting: false, holding: true, sent: true },
        ]).toContainEqual(state);
        expect(row?.execution_status).toBe('Queued');
      }
      expect(holders.size).toBeGreaterThanOrEqual(killAfter - 1);
      expect(waiters.size).toBeLessThanOrEqual(1);
      if (pause) expect([...waiters]).toEqual([jobRunName(exec, `1.${killAfter}`, 1)]);
      // The next wake (plan §4.4: the oldest min(free, waiting) waiters) serves what was left waiting.
      const left = pool.waiters.slice(0, Math.max(0, pool.slots - pool.holders.length));
      for (const w of left) {
        const r = await after.pools().grant(
          'wlm',
          w,
          {
            workflowExecutionId: exec,
            jobKey: w.jobKey,
            expect: { attempt: 1, statuses: ['Queued'] },
            set: { waiting_for: null },
          },
          {
            messages: [
              {
                body: {
                  version: EVENT_VERSION,
                  workflow_id: 'wf_race',
                  workflow_execution_id: exec,
                  job_key: w.jobKey,
                  attempt: 1,
                },
              },
            ],
          },
        );
        expect(r).toBe('granted');
        expect((await after.jobs().getJob(exec, w.jobKey))?.waiting_for ?? null).toBeNull();
      }
      expect((await after.pools().get('wlm'))?.waiters).toEqual([]);
      after.close();
    }
  }, 120_000);
});
