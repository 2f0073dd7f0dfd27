import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeArgs } from '../../bin/load.js';
import type { JobAuditRecord, WorkflowAuditRecord } from '../../contracts/audit.js';
import { LocalStore } from '../../runtime/local/store.js';
import { cli, stages, type Workspace, workspace } from '../support/workspace.js';

/**
 * Issue 10, class 2: another process holding the state store's write lock for longer than the busy
 * timeout used to wedge the engine for good ("a unit of work cannot nest in a transaction",
 * deliveries dead-lettered). Now the engine waits, says on stderr what it waits for, and carries
 * on. Real processes hold the lock: a better-sqlite3 process and, where installed, the sqlite3
 * shell.
 */
const BIN = path.resolve('bin/rsqlo.js');
type Doc = { workflow: WorkflowAuditRecord; jobs: JobAuditRecord[] };

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** A child process whose output is collected as it comes. */
function start(command: string, args: string[]) {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  const out = { stdout: '', stderr: '' };
  child.stdout?.on('data', (c) => {
    out.stdout += String(c);
  });
  child.stderr?.on('data', (c) => {
    out.stderr += String(c);
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, out, exited };
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
  return true;
}

async function must(what: string, cond: () => boolean, ms = 60_000): Promise<void> {
  if (!(await waitFor(cond, ms))) throw new Error(`timed out waiting for ${what}`);
}

/** a.sh waits for the file `go`; then b and c; each writes its name to the ledger. */
function gatedWorkflow(ws: Workspace): string {
  ws.script('a.sh', `while [ ! -e ${ws.dir}/go ]; do sleep 0.05; done\necho a >> ${ws.dir}/ledger`);
  for (const n of ['b', 'c']) ws.script(`${n}.sh`, `echo ${n} >> ${ws.dir}/ledger`);
  return ws.workflow({
    workflow_id: 'contention',
    workflow_stages: stages(['sequential', ['a.sh', 'b.sh', 'c.sh']]),
  });
}

function ledger(ws: Workspace): string[] {
  return readFileSync(path.join(ws.dir, 'ledger'), 'utf8').trim().split('\n').sort();
}

function deadLetters(ws: Workspace): number {
  const s = new LocalStore(path.join(ws.home, 'rsqlo.db'));
  try {
    return s.deadLetterCount();
  } finally {
    s.close();
  }
}

const WAITING = /rsqlo: waiting: \S+rsqlo\.db is locked by another process \(SQLITE_BUSY\)/;
const CARRYING_ON = /rsqlo: \S+rsqlo\.db is free again after [\d.]+ s; carrying on/;

describe('state store contention (issue 10, class 2)', () => {
  it('a process holding the write lock while a job ends: the engine waits, says so, and carries on', async () => {
    const ws = workspace();
    const file = gatedWorkflow(ws);
    const run = start(process.execPath, [
      BIN,
      'run',
      file,
      '--home',
      ws.home,
      '--no-database',
      '--execution-id',
      'contention-1',
    ]);
    await must('job a to start', () => /job 1\.1 a\.sh started/.test(run.out.stdout));
    const holder = start(process.execPath, [
      ...nodeArgs('test/support/sqlite-holder.ts'),
      path.join(ws.home, 'rsqlo.db'),
    ]);
    await must('the holder to take the lock', () => holder.out.stdout.includes('held'));
    // Job a ends while the lock is held: its result must wait, not be lost or dead-lettered.
    writeFileSync(path.join(ws.dir, 'go'), '');
    // Held until the engine says it waits (far longer than any busy timeout, if it never does).
    const said = await waitFor(() => WAITING.test(run.out.stderr), 20_000);
    // ...and then some: longer than any busy timeout (the engine's used to be 5 s).
    await new Promise((r) => setTimeout(r, 6000));
    holder.child.stdin?.write('release\n');
    await holder.exited;
    const code = await run.exited;
    expect({ code, stderr: run.out.stderr }).toMatchObject({ code: 0 });
    expect(ledger(ws)).toEqual(['a', 'b', 'c']);
    const s = await cli(['status', 'contention-1', '--home', ws.home, '--json']);
    expect((JSON.parse(s.stdout) as Doc).workflow.execution_status).toBe('Completed');
    expect(deadLetters(ws)).toBe(0);
    expect(said).toBe(true);
    expect(run.out.stderr).toMatch(CARRYING_ON);
    expect(run.out.stderr).not.toMatch(/nest|dead|cannot make progress|SqliteError|\n\s+at /);
  }, 120_000);

  it('a process holding the write lock while the engine opens and a run is requested: it waits, then runs', async () => {
    const ws = workspace();
    const file = gatedWorkflow(ws);
    writeFileSync(path.join(ws.dir, 'go'), '');
    // A home with state in it.
    expect((await cli(['run', file, '--home', ws.home, '--execution-id', 'contention-1'])).code).toBe(0);
    const holder = start(process.execPath, [
      ...nodeArgs('test/support/sqlite-holder.ts'),
      path.join(ws.home, 'rsqlo.db'),
    ]);
    await must('the holder to take the lock', () => holder.out.stdout.includes('held'));
    const run = start(process.execPath, [
      BIN,
      'run',
      file,
      '--home',
      ws.home,
      '--no-database',
      '--execution-id',
      'contention-2',
    ]);
    const said = await waitFor(() => WAITING.test(run.out.stderr), 20_000);
    holder.child.stdin?.write('release\n');
    const code = await run.exited;
    expect({ code, stderr: run.out.stderr }).toMatchObject({ code: 0 });
    expect(ledger(ws)).toEqual(['a', 'a', 'b', 'b', 'c', 'c']);
    expect(deadLetters(ws)).toBe(0);
    expect(said).toBe(true);
    expect(run.out.stderr).toMatch(CARRYING_ON);
  }, 120_000);

  const sqlite3 = spawnSync('sqlite3', ['-version'], { encoding: 'utf8' }).status === 0;
  it.skipIf(!sqlite3)(
    `a sqlite3 shell left in a transaction while jobs end: the engine waits for it, then finishes${sqlite3 ? '' : ' (skipped: no sqlite3 command on PATH)'}`,
    async () => {
      const ws = workspace();
      const file = gatedWorkflow(ws);
      const run = start(process.execPath, [
        BIN,
        'run',
        file,
        '--home',
        ws.home,
        '--no-database',
        '--execution-id',
        'contention-1',
      ]);
      await must('job a to start', () => /job 1\.1 a\.sh started/.test(run.out.stdout));
      const shell = start('sqlite3', [path.join(ws.home, 'rsqlo.db')]);
      shell.child.stdin?.write("BEGIN IMMEDIATE;\nSELECT 'in a transaction';\n");
      await must('the shell to hold the lock', () => shell.out.stdout.includes('in a transaction'));
      writeFileSync(path.join(ws.dir, 'go'), '');
      const said = await waitFor(() => WAITING.test(run.out.stderr), 20_000);
      shell.child.stdin?.write('COMMIT;\n.quit\n');
      await shell.exited;
      const code = await run.exited;
      expect({ code, stderr: run.out.stderr }).toMatchObject({ code: 0 });
      expect(ledger(ws)).toEqual(['a', 'b', 'c']);
      expect(deadLetters(ws)).toBe(0);
      expect(said).toBe(true);
    },
    120_000,
  );
});
