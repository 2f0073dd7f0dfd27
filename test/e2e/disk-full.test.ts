import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobAuditRecord, WorkflowAuditRecord } from '../../contracts/audit.js';
import { cli, stages, type Workspace, workspace } from '../support/workspace.js';

/**
 * Issue 10, class 6: the engine's home on a full disk. It used to print raw SqliteError stack
 * traces, a TypeError, or "nothing is left to do" where the truth was ENOSPC, and a job that
 * completed while the disk was full was later recorded as Failed ("outcome unknown"). Now every
 * failure is one line naming the cause and the path, nothing is lost, and once space is freed
 * `resume` finishes the run, each job having run once. The disk is real: a small tmpfs mounted
 * for each test (that needs root; elsewhere the tests say why they cannot run).
 */
const BIN = path.resolve('bin/rsqlo.js');
type Doc = { workflow: WorkflowAuditRecord; jobs: JobAuditRecord[] };

/** Whether this process can mount a small file system, and why not. */
function probeMount(): { ok: true } | { ok: false; why: string } {
  if (process.platform !== 'linux')
    return { ok: false, why: `needs Linux to mount a tmpfs (this is ${process.platform})` };
  if (process.getuid?.() !== 0)
    return { ok: false, why: 'needs root to mount a small tmpfs (run as root, as CI does)' };
  const dir = mkdtempSync(path.join(tmpdir(), 'rsqlo-mount-probe-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return { ok: false, why: `cannot mount a tmpfs here: ${(r.stderr || r.error?.message || '').trim()}` };
  }
  spawnSync('umount', [dir]);
  rmSync(dir, { recursive: true, force: true });
  return { ok: true };
}
const mount = probeMount();
const skipWhy = mount.ok ? '' : ` (skipped: ${mount.why})`;

const mounted: string[] = [];
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const m of mounted.splice(0)) spawnSync('umount', ['-l', m]);
});

/** A workspace whose engine home is a fresh tmpfs of `kb` KiB. */
function smallDisk(kb = 8192): Workspace {
  const ws = workspace('rsqlo-full-');
  mkdirSync(ws.home);
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${kb}k`, 'tmpfs', ws.home], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount failed: ${r.stderr}`);
  mounted.push(ws.home);
  return ws;
}

/** Fills the home's disk to the last byte, as a runaway log would. */
function fill(ws: Workspace): void {
  const fd = openSync(path.join(ws.home, 'filler'), 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (const size of [64 * 1024, 4096, 512, 1]) {
      try {
        for (;;) writeSync(fd, chunk, 0, size);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
    }
  } finally {
    closeSync(fd);
  }
}

function free(ws: Workspace): void {
  unlinkSync(path.join(ws.home, 'filler'));
}

function start(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
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

async function must(what: string, cond: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function gate(ws: Workspace, name: string): string {
  return `while [ ! -e ${ws.dir}/go-${name} ]; do sleep 0.05; done`;
}

function open(ws: Workspace, name: string): void {
  writeFileSync(path.join(ws.dir, `go-${name}`), '');
}

function ledger(ws: Workspace): string[] {
  try {
    return spawnSync('cat', [path.join(ws.dir, 'ledger')], { encoding: 'utf8' })
      .stdout.trim()
      .split('\n')
      .sort();
  } catch {
    return [];
  }
}

/** What an honest failure looks like: no stack trace, no TypeError, no misleading diagnosis. */
function expectHonest(stderr: string): void {
  expect(stderr).not.toMatch(/\n\s+at |SqliteError|TypeError|nothing is left to do|cannot make progress/);
}

const NO_SPACE = (home: string) =>
  new RegExp(
    `no space left on the device: cannot write ${home.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\S* \\((SQLITE_\\w+|ENOSPC)\\)`,
  );

async function status(ws: Workspace, exec: string): Promise<Doc | undefined> {
  const s = await cli(['status', exec, '--home', ws.home, '--json']);
  return s.code === 0 ? (JSON.parse(s.stdout) as Doc) : undefined;
}

describe('a full disk (issue 10, class 6)', () => {
  it.skipIf(!mount.ok)(
    `a job that ends while the disk is full is recorded; the run stops with one clear line; resume finishes it${skipWhy}`,
    async () => {
      const ws = smallDisk();
      // (A job that writes to its log while the disk is full fails, as it should: a ends quietly.)
      ws.script('a.sh', `echo "a's output"\n${gate(ws, 'a')}\necho a >> ${ws.dir}/ledger`);
      for (const n of ['b', 'c']) ws.script(`${n}.sh`, `echo ${n} >> ${ws.dir}/ledger`);
      const file = ws.workflow({
        workflow_id: 'full_disk',
        workflow_stages: stages(['sequential', ['a.sh', 'b.sh', 'c.sh']]),
      });
      const run = start(['run', file, '--home', ws.home, '--no-database', '--execution-id', 'full_disk-1']);
      await must('job a to start', () => /job 1\.1 a\.sh started/.test(run.out.stdout));
      fill(ws);
      open(ws, 'a');
      const code = await run.exited;
      expectHonest(run.out.stderr);
      expect({ code, stderr: run.out.stderr }).toMatchObject({ code: 1 });
      expect(run.out.stderr).toMatch(NO_SPACE(ws.home));
      expect(run.out.stderr).toMatch(
        /stopped: .*Free space on that device, then run: node bin\/rsqlo\.js resume --home /,
      );
      free(ws);
      const r = await cli(['resume', '--home', ws.home]);
      expect({ code: r.code, stderr: r.stderr, stdout: r.stdout }).toMatchObject({ code: 0, stderr: '' });
      const d = await status(ws, 'full_disk-1');
      expect(d?.workflow.execution_status).toBe('Completed');
      // Job a's result, which came while the disk was full, was kept: it ran once and completed.
      expect(d?.jobs[0]).toMatchObject({
        job_key: '1.1',
        execution_status: 'Completed',
        exit_code: 0,
        attempt: 1,
      });
      expect(ledger(ws)).toEqual(['a', 'b', 'c']);
    },
    180_000,
  );

  it.skipIf(!mount.ok)(
    `without a disk reserve, a job's result waits for space (said on stderr), and is recorded once there is some${skipWhy}`,
    async () => {
      const ws = smallDisk();
      ws.script('a.sh', `${gate(ws, 'a')}\necho a >> ${ws.dir}/ledger`);
      ws.script('b.sh', `echo b >> ${ws.dir}/ledger`);
      const file = ws.workflow({
        workflow_id: 'full_disk',
        workflow_stages: stages(['sequential', ['a.sh', 'b.sh']]),
      });
      const run = start(['run', file, '--home', ws.home, '--no-database', '--execution-id', 'full_disk-4'], {
        RSQLO_DISK_RESERVE_BYTES: '0',
      });
      await must('job a to start', () => /job 1\.1 a\.sh started/.test(run.out.stdout));
      fill(ws);
      open(ws, 'a');
      await must('the engine to say it cannot record the result yet', () =>
        /cannot record the result of a job yet \(no space left on the device: cannot write \S+ \(SQLITE_\w+\)\); trying again/.test(
          run.out.stderr,
        ),
      );
      free(ws);
      const code = await run.exited;
      expectHonest(run.out.stderr);
      expect({ code, stderr: run.out.stderr }).toMatchObject({ code: 1 });
      expect(run.out.stderr).toMatch(/stopped: .*then run: node bin\/rsqlo\.js resume --home /);
      const r = await cli(['resume', '--home', ws.home]);
      expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 0, stderr: '' });
      const d = await status(ws, 'full_disk-4');
      expect(d?.jobs.map((j) => [j.job_key, j.execution_status, j.exit_code, j.attempt])).toEqual([
        ['1.1', 'Completed', 0, 1],
        ['1.2', 'Completed', 0, 1],
      ]);
      expect(ledger(ws)).toEqual(['a', 'b']);
    },
    180_000,
  );

  it.skipIf(!mount.ok)(
    `the disk fills while jobs run in parallel: no new job starts, the running ones are recorded as they end${skipWhy}`,
    async () => {
      const ws = smallDisk();
      for (const n of ['p1', 'p2']) ws.script(`${n}.sh`, `${gate(ws, n)}\necho ${n} >> ${ws.dir}/ledger`);
      ws.script('q.sh', `echo q >> ${ws.dir}/ledger`);
      const file = ws.workflow({
        workflow_id: 'full_disk',
        workflow_stages: stages(['parallel', ['p1.sh', 'p2.sh']], ['sequential', ['q.sh']]),
      });
      const run = start(['run', file, '--home', ws.home, '--no-database', '--execution-id', 'full_disk-2']);
      await must(
        'both jobs to start',
        () => (run.out.stdout.match(/job 1\.\d p\d\.sh started/g) ?? []).length === 2,
      );
      fill(ws);
      open(ws, 'p1');
      await must('the engine to stop taking on work', () => /No new job starts/.test(run.out.stderr));
      expect(run.out.stderr).toMatch(NO_SPACE(ws.home));
      expect(run.out.stderr).toMatch(/1 running job\(s\) will be recorded as they end/);
      open(ws, 'p2');
      const code = await run.exited;
      expectHonest(run.out.stderr);
      expect(code).toBe(1);
      // Stage 2 never started.
      expect(ledger(ws)).toEqual(['p1', 'p2']);
      free(ws);
      const r = await cli(['resume', '--home', ws.home]);
      expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 0 });
      const d = await status(ws, 'full_disk-2');
      expect(d?.workflow.execution_status).toBe('Completed');
      expect(d?.jobs.map((j) => [j.job_key, j.execution_status, j.exit_code, j.attempt])).toEqual([
        ['1.1', 'Completed', 0, 1],
        ['1.2', 'Completed', 0, 1],
        ['2.1', 'Completed', 0, 1],
      ]);
      expect(ledger(ws)).toEqual(['p1', 'p2', 'q']);
    },
    180_000,
  );

  it.skipIf(!mount.ok)(
    `a run requested on a full disk is refused with one clear line, in a new home and in one with history${skipWhy}`,
    async () => {
      for (const history of [false, true]) {
        const ws = smallDisk();
        ws.script('a.sh', `echo a >> ${ws.dir}/ledger`);
        const file = ws.workflow({
          workflow_id: 'full_disk',
          workflow_stages: stages(['sequential', ['a.sh']]),
        });
        if (history)
          expect((await cli(['run', file, '--home', ws.home, '--execution-id', 'full_disk-0'])).code).toBe(0);
        fill(ws);
        const run = start(['run', file, '--home', ws.home, '--no-database', '--execution-id', 'full_disk-3']);
        const code = await run.exited;
        expectHonest(run.out.stderr);
        expect({ history, code, stderr: run.out.stderr }).toMatchObject({ code: 1 });
        expect(run.out.stderr).toMatch(NO_SPACE(ws.home));
        expect(run.out.stderr.trim().split('\n')).toHaveLength(1);
        free(ws);
        // Nothing half-made: the request did not become a run, and the same command now works.
        expect(await status(ws, 'full_disk-3')).toBeUndefined();
        const again = await cli(['run', file, '--home', ws.home, '--execution-id', 'full_disk-3']);
        expect({ code: again.code, stderr: again.stderr }).toMatchObject({ code: 0 });
        expect(ledger(ws)).toEqual(history ? ['a', 'a'] : ['a']);
      }
    },
    180_000,
  );
});
