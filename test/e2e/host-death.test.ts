/**
 * Issue 10, class 1: the job host is SIGKILLed while jobs run. The jobs go on and end with exit 0;
 * the run must record them Completed (their exit status is written by the job's own wrapper, which
 * outlives the host), and neither the engine that watched nor one that resumes later may run a
 * completed job again.
 *
 * The jobs are the kinds that had no other way to record their status: a plain bash script that
 * writes to stderr after the host died (its stderr must not depend on the host), a script with its
 * own EXIT trap, and an executable that is not bash.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobAuditRecord, WorkflowAuditRecord } from '../../contracts/audit.js';
import { ancestorRunning, killHard, processesWith, until } from '../support/attack.js';
import { cli, stages, type Workspace, workspace } from '../support/workspace.js';

type Doc = { workflow: WorkflowAuditRecord; jobs: JobAuditRecord[] };
const BIN = path.resolve('bin/rsqlo.js');

function hostDeathWorkflow(ws: Workspace): string {
  const wait = (name: string) =>
    `echo $$ > ${ws.dir}/${name}.pid\nwhile [ ! -e ${ws.dir}/go ]; do sleep 0.05; done`;
  ws.script(
    'plain.sh',
    `${wait('plain')}\necho "progress on stderr after the host died" >&2\necho plain >> ${ws.dir}/ledger`,
  );
  ws.script('trap.sh', `trap 'echo cleaning up >&2' EXIT\n${wait('trap')}\necho trap >> ${ws.dir}/ledger`);
  // Not .sh: executed directly, so no bash of ours ever sees it.
  const direct = ws.script('direct.run', '');
  writeFileSync(direct, `#!/bin/sh\n${wait('direct')}\necho direct >> ${ws.dir}/ledger\nexit 0\n`);
  ws.script('after.sh', `echo after >> ${ws.dir}/ledger`);
  return ws.workflow({
    workflow_id: 'host_death',
    workflow_stages: stages(
      ['parallel', ['plain.sh', 'trap.sh', 'direct.run']],
      ['sequential', ['after.sh']],
    ),
  });
}

function ledger(ws: Workspace): string[] {
  if (!existsSync(path.join(ws.dir, 'ledger'))) return [];
  return readFileSync(path.join(ws.dir, 'ledger'), 'utf8').trim().split('\n').filter(Boolean).sort();
}

async function status(ws: Workspace, exec: string): Promise<Doc> {
  const s = await cli(['status', exec, '--home', ws.home, '--json']);
  expect(s.code).toBe(0);
  return JSON.parse(s.stdout) as Doc;
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

describe('the job host dies while jobs run', () => {
  const leftovers: number[] = [];
  afterEach(() => {
    for (const pid of leftovers.splice(0)) killHard(pid);
  });

  /** Starts `rsqlo run` as its own process; resolves once the three jobs run, with the host's pid. */
  async function startRun(ws: Workspace, file: string, exec: string) {
    const engine = spawn(
      process.execPath,
      [BIN, 'run', file, '--home', ws.home, '--execution-id', exec, '--no-database'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    engine.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    leftovers.push(engine.pid ?? 0);
    const pidFiles = ['plain', 'trap', 'direct'].map((n) => path.join(ws.dir, `${n}.pid`));
    await until(
      () => pidFiles.every((f) => existsSync(f) && readFileSync(f, 'utf8').endsWith('\n')),
      'the jobs to run',
      30_000,
    );
    const jobPid = Number(readFileSync(pidFiles[0] as string, 'utf8'));
    const host = ancestorRunning(jobPid, 'spawner');
    expect(host, 'the job host among the job’s ancestors').toBeDefined();
    leftovers.push(...pidFiles.map((f) => Number(readFileSync(f, 'utf8'))));
    return { engine, host: host as number, stderr: () => stderr };
  }

  it('the engine carries on: the jobs are recorded Completed from their own exit status, and restart runs nothing again', async () => {
    const ws = workspace('rsqlo-hostdeath-');
    const file = hostDeathWorkflow(ws);
    const { engine, host, stderr } = await startRun(ws, file, 'host_death-1');
    process.kill(host, 'SIGKILL');
    writeFileSync(path.join(ws.dir, 'go'), '');
    expect(await exited(engine), stderr()).toBe(0);

    const doc = await status(ws, 'host_death-1');
    expect(doc.workflow.execution_status).toBe('Completed');
    expect(doc.jobs.map((j) => [j.job_key, j.execution_status, j.exit_code])).toEqual([
      ['1.1', 'Completed', 0],
      ['1.2', 'Completed', 0],
      ['1.3', 'Completed', 0],
      ['2.1', 'Completed', 0],
    ]);
    expect(ledger(ws)).toEqual(['after', 'direct', 'plain', 'trap']);
    // What plain.sh wrote to stderr after its host died is in its log.
    const logs = await cli(['logs', 'host_death-1', '1.1', '--home', ws.home]);
    expect(logs.stdout).toContain('progress on stderr after the host died');

    // A completed run is not restarted; nothing runs again.
    const again = await cli(['restart', 'host_death-1', '--home', ws.home]);
    expect(again.code).not.toBe(0);
    expect(ledger(ws)).toEqual(['after', 'direct', 'plain', 'trap']);
  }, 120_000);

  it('the engine dies too: resume learns the exit statuses the jobs recorded and finishes the run once', async () => {
    const ws = workspace('rsqlo-hostdeath-');
    const file = hostDeathWorkflow(ws);
    const { engine, host } = await startRun(ws, file, 'host_death-2');
    process.kill(host, 'SIGKILL');
    engine.kill('SIGKILL');
    await exited(engine);
    writeFileSync(path.join(ws.dir, 'go'), '');
    // Nobody of ours is alive: the jobs finish on their own.
    await until(() => ledger(ws).length === 3, 'the three jobs to finish', 30_000);

    const r = await cli(['resume', '--home', ws.home]);
    expect(r.stderr).not.toMatch(/outcome unknown/);
    const doc = await status(ws, 'host_death-2');
    expect(doc.workflow.execution_status).toBe('Completed');
    expect(doc.jobs.map((j) => [j.job_key, j.execution_status, j.exit_code])).toEqual([
      ['1.1', 'Completed', 0],
      ['1.2', 'Completed', 0],
      ['1.3', 'Completed', 0],
      ['2.1', 'Completed', 0],
    ]);
    expect(ledger(ws)).toEqual(['after', 'direct', 'plain', 'trap']);
  }, 120_000);
});

/**
 * The soak's stall, forced: the job host dies before it has claimed the jobs just sent to it, and
 * the host started for them dies as fast. The first death used to make the engine start those jobs
 * again from inside its report of the death, then take each job it had just started for lost too
 * (it walked the map it was adding to) — starting and losing them in a loop that never let the
 * event loop see the second host die: the engine lived, no job ran, no job host was left.
 */
describe('the job host dies again and again before it claims its jobs', () => {
  const leftovers: number[] = [];
  const marker = `RSQLO_HOSTDEATH_ID=${randomUUID()}`;
  afterEach(() => {
    for (const pid of [...leftovers.splice(0), ...processesWith('spawner', marker)]) killHard(pid);
  });

  it('every job runs exactly once and the run ends Completed', async () => {
    const ws = workspace('rsqlo-hostdeath-');
    const names: string[] = [];
    for (let i = 0; i < 24; i++) {
      const name = `j${String(i).padStart(2, '0')}.sh`;
      ws.script(
        name,
        `echo "start $RSQLO_JOB_KEY" >> ${ws.dir}/ledger\nsleep 0.0${i % 10}\necho "end $RSQLO_JOB_KEY" >> ${ws.dir}/ledger`,
      );
      names.push(name);
    }
    const file = ws.workflow({
      workflow_id: 'host_deaths',
      workflow_stages: [
        { execution_flag: 'y', execution_type: 'parallel', max_concurrency: 8, scripts: names },
      ],
    });
    const [k, v] = marker.split('=') as [string, string];
    const engine = spawn(
      process.execPath,
      [BIN, 'run', file, '--home', ws.home, '--execution-id', 'deaths-1', '--no-database'],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, [k]: v } },
    );
    let stderr = '';
    engine.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    leftovers.push(engine.pid ?? 0);
    // Kill each of the first three job hosts the moment it shows up: a host needs a moment to
    // start reading, so the jobs sent to it are not claimed yet.
    const killed = new Set<number>();
    const end = Date.now() + 30_000; // a stalled engine starts no third host
    while (killed.size < 3 && engine.exitCode === null && Date.now() < end) {
      for (const pid of processesWith('spawner', marker)) {
        if (killed.has(pid)) continue;
        killHard(pid);
        killed.add(pid);
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    const code = await Promise.race([
      exited(engine),
      new Promise<'stalled'>((r) => setTimeout(() => r('stalled'), 60_000)),
    ]);
    expect(
      code,
      `job hosts alive: ${processesWith('spawner', marker).length}; engine's stderr:\n${stderr}`,
    ).toBe(0);
    const doc = await status(ws, 'deaths-1');
    expect(doc.workflow.execution_status).toBe('Completed');
    expect(doc.jobs.filter((j) => j.execution_status !== 'Completed' || j.exit_code !== 0)).toEqual([]);
    // Each job started once and ended once.
    const lines = ledger(ws);
    const keys = doc.jobs.map((j) => j.job_key);
    expect(keys).toHaveLength(24);
    expect(lines).toEqual(keys.flatMap((key) => [`end ${key}`, `start ${key}`]).sort());
  }, 120_000);
});
