/**
 * The daemon as a real process (agent/testing/daemon-harness.ts: the real adapters over
 * aws-sdk-client-mock clients that record every request): SIGKILL it while a job runs, start
 * another, and the job is adopted and reported exactly once.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeArgs } from '../bin/load.js';
import { isSameProcessAlive, killProcessTree } from '../platform/processes.js';
import { submitMain } from './submit.js';
import {
  calls,
  encodeJob,
  events,
  jobCommand,
  makeWorkspace,
  TEST_PASSWORD,
  TEST_TOKEN,
  until,
  type Workspace,
  writeScript,
} from './testing/fixtures.js';

describe('rsqlo-agent daemon process', () => {
  let ws: Workspace | undefined;
  const children: ChildProcess[] = [];

  function startDaemon(w: Workspace, name: string): ChildProcess {
    const out = openSync(path.join(w.root, `${name}.out`), 'a');
    const child = spawn(process.execPath, [...nodeArgs('agent/testing/daemon-harness.ts'), w.root], {
      stdio: ['ignore', out, out],
      env: { ...process.env, RSQLO_TEST_HARNESS: name },
    });
    closeSync(out);
    children.push(child);
    return child;
  }

  const exited = (child: ChildProcess) =>
    new Promise<number | null>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
      else child.once('exit', (code) => resolve(code));
    });

  afterEach(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    if (ws) {
      const pidFile = path.join(ws.out, '1.1.pid');
      if (existsSync(pidFile)) await killProcessTree(Number(readFileSync(pidFile, 'utf8')), 0);
      rmSync(ws.root, { recursive: true, force: true });
    }
  });

  it('SIGKILLed mid-job: the next daemon adopts the running job and reports it once', async () => {
    const w = makeWorkspace();
    ws = w;
    writeScript(
      w,
      'wait.sh',
      'echo $$ > "$TEST_OUT/$RSQLO_JOB_KEY.pid"\necho "waiting for the flag"\nwhile [ ! -f "$TEST_OUT/$RSQLO_JOB_KEY.go" ]; do sleep 0.05; done\necho "released"',
    );
    const first = startDaemon(w, 'first');
    await until(() => existsSync(path.join(w.spool, 'jobs')), 'the first daemon to make its spool', 30_000);
    const cmd = jobCommand('wait.sh');
    const code = submitMain(['--job-env', 'SSM_job', '--config', w.configFile], {
      env: { SSM_job: encodeJob(cmd) },
      cwd: w.root,
      out: () => {},
      err: (l) => console.error(l),
    });
    expect(code).toBe(0);
    await until(() => events(w, 'JobStarted').length === 1, 'JobStarted from the first daemon', 30_000);
    // JobStarted goes out once the process runs; the script writes its pid a moment later.
    const pidFile = path.join(w.out, '1.1.pid');
    await until(
      () => existsSync(pidFile) && readFileSync(pidFile, 'utf8').endsWith('\n'),
      'the job to write its pid',
      30_000,
    );
    const pid = Number(readFileSync(pidFile, 'utf8'));
    // Kill it once it has recorded what it delivered (a kill in between is redelivered: at least once).
    const stateFile = path.join(w.spool, 'state', `${cmd.job_run_name}.json`);
    await until(() => {
      const s = JSON.parse(readFileSync(stateFile, 'utf8')) as { shipped: number; reports: unknown[] };
      return s.shipped > 0 && s.reports.length === 0;
    }, 'the first daemon to record JobStarted and the first log line as delivered');

    first.kill('SIGKILL');
    await exited(first);
    expect(isSameProcessAlive(pid, undefined)).toBe(true);

    const second = startDaemon(w, 'second');
    // The adopted job is heartbeated by the new daemon.
    await until(
      () => calls(w).some((c) => c.command === 'SendTaskHeartbeat' && c.pid === second.pid),
      'a heartbeat from the second daemon',
      30_000,
    );
    writeFileSync(path.join(w.out, '1.1.go'), '');
    await until(
      () => calls(w).some((c) => c.command === 'SendTaskSuccess'),
      'SendTaskSuccess from the second daemon',
      30_000,
    );
    await until(() => JSON.parse(readFileSync(stateFile, 'utf8')).phase === 'done', 'the job to be done');

    expect(events(w, 'JobStarted')).toHaveLength(1);
    const finished = events(w, 'JobFinished');
    expect(finished.map((f) => [f.status, f.exit_code, f.reported_by])).toEqual([['Completed', 0, 'agent']]);
    const success = calls(w).filter((c) => c.command === 'SendTaskSuccess');
    expect(success).toHaveLength(1);
    expect(success[0]?.pid).toBe(second.pid);
    expect(success[0]?.input.taskToken).toBe(TEST_TOKEN);
    expect(calls(w).filter((c) => c.command === 'SendTaskFailure')).toHaveLength(0);
    // The log made it to CloudWatch, the part written before and after the restart.
    const messages = calls(w)
      .filter((c) => c.command === 'PutLogEvents')
      .flatMap((c) => (c.input.logEvents as Array<{ message: string }>).map((e) => e.message));
    expect(messages).toEqual(['waiting for the flag', 'released']);

    second.kill('SIGTERM');
    expect(await exited(second)).toBe(0);
    // Neither daemon logged a credential or a whole task token.
    const daemonLogs = ['first', 'second']
      .map((n) => readFileSync(path.join(w.root, `${n}.out`), 'utf8'))
      .join('\n');
    expect(daemonLogs).toContain('adopted a running job');
    expect(daemonLogs).not.toContain(TEST_PASSWORD);
    expect(daemonLogs).not.toContain(TEST_TOKEN);
  });
});
