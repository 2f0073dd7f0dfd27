import { type ChildProcess, spawn } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobAuditRecord, WorkflowAuditRecord } from '../../contracts/audit.js';
import { cli, stages, type Workspace, workspace } from '../support/workspace.js';

/**
 * Issue 10, class 11: an empty or truncated state file, or a write-ahead log deleted after a
 * crash, used to make whole runs vanish ("nothing to resume") while their logs remained. Now the
 * engine finds the runs' folders the state does not know, says what it found and what to do, and
 * changes nothing until told (--forget-lost). Real crashes (SIGKILL) and real files.
 */
const BIN = path.resolve('bin/rsqlo.js');
type Doc = { workflow: WorkflowAuditRecord; jobs: JobAuditRecord[] };

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

async function must(what: string, cond: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** a, then b (which waits for the file `go`), then c; each writes its name to the ledger. */
function workflow(ws: Workspace): string {
  ws.script('a.sh', `echo a >> ${ws.dir}/ledger`);
  ws.script('b.sh', `while [ ! -e ${ws.dir}/go ]; do sleep 0.05; done\necho b >> ${ws.dir}/ledger`);
  ws.script('c.sh', `echo c >> ${ws.dir}/ledger`);
  return ws.workflow({
    workflow_id: 'lost_state',
    workflow_stages: stages(['sequential', ['a.sh', 'b.sh', 'c.sh']]),
  });
}

/** Runs the workflow until job b is running, then SIGKILLs the engine (b goes on, in its job host). */
async function crashMidRun(ws: Workspace, file: string): Promise<void> {
  const child = spawn(
    process.execPath,
    [BIN, 'run', file, '--home', ws.home, '--no-database', '--execution-id', 'lost_state-1'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(child);
  let out = '';
  child.stdout?.on('data', (c) => {
    out += String(c);
  });
  await must('job b to start', () => /job 1\.2 b\.sh started/.test(out));
  await new Promise<void>((r) => {
    child.once('exit', () => r());
    child.kill('SIGKILL');
  });
}

function ledger(ws: Workspace): string[] {
  return existsSync(path.join(ws.dir, 'ledger'))
    ? readFileSync(path.join(ws.dir, 'ledger'), 'utf8').trim().split('\n').sort()
    : [];
}

const db = (ws: Workspace) => path.join(ws.home, 'rsqlo.db');
const LOST = (ws: Workspace) =>
  new RegExp(
    `^rsqlo: the engine state does not know 1 run\\(s\\) whose logs are in ${ws.home}: lost_state-1\\. .*Nothing was changed\\. To recover, put back rsqlo\\.db \\(and rsqlo\\.db-wal\\) from a backup, then try again; to go on without those runs, add --forget-lost`,
  );

describe('lost engine state (issue 10, class 11)', () => {
  it('the write-ahead log deleted after a crash: said, nothing changed; put back, the run finishes with every job run once', async () => {
    const ws = workspace();
    const file = workflow(ws);
    await crashMidRun(ws, file);
    // The user "cleans up" the files a crash left.
    const saved = path.join(ws.dir, 'rsqlo.db-wal.saved');
    copyFileSync(`${db(ws)}-wal`, saved);
    rmSync(`${db(ws)}-wal`);
    rmSync(`${db(ws)}-shm`);
    const before = readFileSync(db(ws));
    for (const argv of [['resume'], ['run', file]]) {
      const r = await cli([...argv, '--home', ws.home]);
      expect({ argv, code: r.code, stdout: r.stdout }).toMatchObject({ code: 1, stdout: '' });
      expect(r.stderr).toMatch(LOST(ws));
      expect(r.stderr).toMatch(
        /lost its latest changes \(its write-ahead log rsqlo\.db-wal was deleted after a crash/,
      );
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(readFileSync(db(ws)).equals(before)).toBe(true);
    const s = await cli(['status', 'lost_state-1', '--home', ws.home]);
    expect(s.stderr).toMatch(
      /no run lost_state-1 in the engine state of .*, but its logs are in .*: the state lost it/,
    );
    // What the message says to do works: the log put back, the run goes on; b ends meanwhile.
    copyFileSync(saved, `${db(ws)}-wal`);
    writeFileSync(path.join(ws.dir, 'go'), '');
    const r = await cli(['resume', '--home', ws.home]);
    expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 0, stderr: '' });
    const d = JSON.parse((await cli(['status', 'lost_state-1', '--home', ws.home, '--json'])).stdout) as Doc;
    expect(d.workflow.execution_status).toBe('Completed');
    expect(ledger(ws)).toEqual(['a', 'b', 'c']);
  }, 120_000);

  it('an emptied state file: said; with --forget-lost the runs are forgotten and their logs moved aside, not deleted', async () => {
    const ws = workspace();
    const file = workflow(ws);
    await crashMidRun(ws, file);
    writeFileSync(path.join(ws.dir, 'go'), '');
    truncateSync(db(ws), 0);
    rmSync(`${db(ws)}-wal`);
    rmSync(`${db(ws)}-shm`);
    const r = await cli(['resume', '--home', ws.home]);
    expect({ code: r.code, stdout: r.stdout }).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr).toMatch(LOST(ws));
    expect(r.stderr).toMatch(/rsqlo\.db was missing or empty \(deleted, truncated or replaced\)/);
    expect(statSync(db(ws)).size).toBe(0);
    const f = await cli(['resume', '--home', ws.home, '--forget-lost']);
    expect(f.code).toBe(0);
    expect(f.stderr).toMatch(
      /^rsqlo: the state had no record of 1 run\(s\) \(lost_state-1\); their logs were moved to \S+\/lost\/\S+\n$/,
    );
    expect(f.stdout).toBe('nothing to resume\n');
    const [moved] = readdirSync(path.join(ws.home, 'lost'));
    expect(readdirSync(path.join(ws.home, 'lost', moved as string, 'logs', 'lost_state-1')).sort()).toEqual([
      '1.1.a1.log',
      '1.2.a1.log',
    ]);
    expect(existsSync(path.join(ws.home, 'logs', 'lost_state-1'))).toBe(false);
    // And the home works again.
    const again = await cli(['run', file, '--home', ws.home, '--execution-id', 'lost_state-2']);
    expect(again.code).toBe(0);
  }, 120_000);

  it('a truncated state file: every command says it is damaged and what to do, nothing else', async () => {
    const ws = workspace();
    const file = workflow(ws);
    writeFileSync(path.join(ws.dir, 'go'), '');
    for (let i = 1; i <= 3; i++)
      expect((await cli(['run', file, '--home', ws.home, '--execution-id', `lost_state-${i}`])).code).toBe(0);
    // A clean exit checkpoints everything into the file; then it loses its second half.
    expect(existsSync(`${db(ws)}-wal`)).toBe(false);
    truncateSync(db(ws), Math.floor(statSync(db(ws)).size / 2));
    for (const argv of [['resume'], ['run', file], ['status', 'lost_state-1'], ['history', 'lost_state']]) {
      const r = await cli([...argv, '--home', ws.home]);
      expect({ argv, code: r.code }).toMatchObject({ code: 1 });
      expect(r.stderr).toMatch(
        /^rsqlo: \S+rsqlo\.db is damaged: it is cut short: it is \d+ bytes, but its header says \d+ pages of \d+ bytes\. Restore it from a backup; or move it aside and add --forget-lost to start afresh/,
      );
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  }, 120_000);
});
