/**
 * Issue 10 on the EC2 agent, with the daemon as a real process (agent/testing/daemon-harness.ts:
 * the real adapters over aws-sdk-client-mock clients that record every request):
 *
 * - class 1: the daemon *and* its job host are SIGKILLed while jobs run (jobs with their own EXIT
 *   trap, and not bash at all); the jobs end with exit 0 while nobody of ours is alive, and the next
 *   daemon must report their real exit status — Completed, once — not "outcome unknown";
 * - class 4: a script replaced by a symlink to a file outside `scriptRoot` is refused when it
 *   starts, and the file outside never runs.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  appendFileSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeArgs } from '../bin/load.js';
import { ancestorRunning, killHard, processesWith } from '../test/support/attack.js';
import { submitMain } from './submit.js';
import {
  calls,
  encodeJob,
  events,
  jobCommand,
  makeWorkspace,
  until,
  type Workspace,
  writeScript,
} from './testing/fixtures.js';

function ledger(ws: Workspace): string[] {
  const file = path.join(ws.out, 'ledger');
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).sort() : [];
}

/** Tags a daemon (and the job host it starts) of this workspace, so a test finds only its own. */
const harness = (w: Workspace, name: string) => `${name}:${w.root}`;

describe('rsqlo-agent under attack', () => {
  let ws: Workspace | undefined;
  const children: ChildProcess[] = [];
  const strays: number[] = [];

  function startDaemon(w: Workspace, name: string): ChildProcess {
    const out = openSync(path.join(w.root, `${name}.out`), 'a');
    const child = spawn(process.execPath, [...nodeArgs('agent/testing/daemon-harness.ts'), w.root], {
      stdio: ['ignore', out, out],
      env: { ...process.env, RSQLO_TEST_HARNESS: harness(w, name) },
    });
    closeSync(out);
    children.push(child);
    return child;
  }

  function submit(w: Workspace, script: string) {
    const cmd = jobCommand(script);
    const code = submitMain(['--job-env', 'SSM_job', '--config', w.configFile], {
      env: { SSM_job: encodeJob(cmd) },
      cwd: w.root,
      out: () => {},
      err: (l) => console.error(l),
    });
    expect(code).toBe(0);
    return cmd;
  }

  const exited = (child: ChildProcess) =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });

  afterEach(() => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const pid of strays.splice(0)) killHard(pid);
    if (ws)
      for (const n of ['first', 'second', 'only'])
        for (const p of processesWith('spawner', `RSQLO_TEST_HARNESS=${harness(ws, n)}`)) killHard(p);
    if (ws) rmSync(ws.root, { recursive: true, force: true });
    ws = undefined;
  });

  it('daemon and job host SIGKILLed mid-job: the next daemon reports each job’s real exit status once', async () => {
    const w = makeWorkspace();
    ws = w;
    const wait = (name: string) =>
      `echo $$ > "$TEST_OUT/${name}.pid"\nwhile [ ! -f "$TEST_OUT/go" ]; do sleep 0.05; done`;
    writeScript(
      w,
      'trap.sh',
      `trap 'echo cleaning up >&2' EXIT\n${wait('trap')}\necho "still writing to stderr" >&2\necho trap >> "$TEST_OUT/ledger"`,
    );
    // Not .sh: executed directly.
    writeScript(w, 'direct.run', '');
    writeFileSync(
      path.join(w.scripts, 'direct.run'),
      `#!/bin/sh\n${wait('direct')}\necho direct >> "$TEST_OUT/ledger"\nexit 0\n`,
    );
    const first = startDaemon(w, 'first');
    await until(() => existsSync(path.join(w.spool, 'jobs')), 'the first daemon to make its spool', 30_000);
    const jobs = [submit(w, 'trap.sh'), submit(w, 'direct.run')];
    await until(() => events(w, 'JobStarted').length === 2, 'JobStarted of both jobs', 30_000);
    const pids = ['trap', 'direct'].map((n) => Number(readFileSync(path.join(w.out, `${n}.pid`), 'utf8')));
    strays.push(...pids);
    const host = ancestorRunning(pids[0] as number, 'spawner');
    expect(host, 'the job host among the job’s ancestors').toBeDefined();

    first.kill('SIGKILL');
    process.kill(host as number, 'SIGKILL');
    await exited(first);
    writeFileSync(path.join(w.out, 'go'), '');
    await until(() => ledger(w).length === 2, 'both jobs to finish with nobody watching', 30_000);

    const second = startDaemon(w, 'second');
    await until(
      () => calls(w).filter((c) => c.command === 'SendTaskSuccess').length === 2,
      'SendTaskSuccess for both jobs from the second daemon',
      30_000,
    );
    const finished = events(w, 'JobFinished');
    expect(finished.map((f) => [f.job_name, f.status, f.exit_code]).sort()).toEqual([
      ['direct.run', 'Completed', 0],
      ['trap.sh', 'Completed', 0],
    ]);
    expect(calls(w).filter((c) => c.command === 'SendTaskFailure')).toEqual([]);
    expect(
      calls(w)
        .filter((c) => c.command === 'SendTaskSuccess')
        .every((c) => c.pid === second.pid),
    ).toBe(true);
    expect(ledger(w)).toEqual(['direct', 'trap']);
    // What trap.sh wrote to stderr after its host died reached its log.
    const log = path.join(w.logs, jobs[0]?.workflow_execution_id ?? '', '1.1.a1.log');
    expect(readFileSync(log, 'utf8')).toContain('still writing to stderr');
    second.kill('SIGTERM');
    await exited(second);
  }, 120_000);

  it('a script swapped for a symlink to a file outside scriptRoot is refused when it starts', async () => {
    const w = makeWorkspace();
    ws = w;
    const outside = path.join(w.root, 'outside.sh');
    writeFileSync(outside, `#!/bin/bash\necho ESCAPED >> "$TEST_OUT/ledger"\n`);
    writeScript(w, 'load.sh', 'echo load >> "$TEST_OUT/ledger"');
    // Fine when the job was defined; replaced before it starts.
    unlinkSync(path.join(w.scripts, 'load.sh'));
    symlinkSync(outside, path.join(w.scripts, 'load.sh'));
    // A symlink that stays inside the folder is still fine.
    writeScript(w, 'real.sh', 'echo inside >> "$TEST_OUT/ledger"');
    symlinkSync(path.join(w.scripts, 'real.sh'), path.join(w.scripts, 'alias.sh'));

    const daemon = startDaemon(w, 'only');
    await until(() => existsSync(path.join(w.spool, 'jobs')), 'the daemon to make its spool', 30_000);
    submit(w, 'load.sh');
    submit(w, 'alias.sh');
    await until(() => events(w, 'JobFinished').length === 2, 'JobFinished of both jobs', 30_000);
    const finished = events(w, 'JobFinished');
    const refused = finished.find((f) => f.job_name === 'load.sh');
    expect(refused).toMatchObject({ status: 'Failed', exit_code: null, started_at: null });
    expect(refused?.error_message).toMatch(/resolves to .*outside\.sh, outside the script folder/);
    expect(finished.find((f) => f.job_name === 'alias.sh')).toMatchObject({
      status: 'Completed',
      exit_code: 0,
    });
    expect(ledger(w)).toEqual(['inside']);
    daemon.kill('SIGTERM');
    await exited(daemon);
  }, 120_000);

  it('an attempt claimed by a job host that died before starting it runs once; one that started never again', async () => {
    const w = makeWorkspace();
    ws = w;
    writeScript(w, 'warm.sh', 'exit 0');
    writeScript(w, 'claimed.sh', 'echo claimed >> "$TEST_OUT/ledger"');
    writeScript(w, 'vanished.sh', 'echo vanished >> "$TEST_OUT/ledger"');
    const stateOf = (name: string) =>
      JSON.parse(readFileSync(path.join(w.spool, 'state', `${name}.json`), 'utf8')) as {
        phase: string;
        log_file: string;
        exit_file: string;
      };
    const first = startDaemon(w, 'first');
    await until(() => existsSync(path.join(w.spool, 'jobs')), 'the first daemon to make its spool', 30_000);
    // A first job brings the job host up; then the host freezes, so it never reads what follows.
    const warm = submit(w, 'warm.sh');
    await until(() => events(w, 'JobFinished').length === 1, 'the warm-up job', 30_000);
    const wrapperOf = (logFile: string) => {
      for (const line of readFileSync(path.join(w.spool, 'exits', warm.workflow_execution_id), 'utf8').split(
        '\n',
      ))
        if (line.startsWith(logFile)) return line;
      return undefined;
    };
    expect(wrapperOf(stateOf(warm.job_run_name).log_file)).toBeDefined();
    const host = processesWith('spawner', `RSQLO_TEST_HARNESS=${harness(w, 'first')}`)[0];
    expect(host, 'the first daemon’s job host').toBeDefined();
    process.kill(host as number, 'SIGSTOP');
    const claimed = submit(w, 'claimed.sh');
    const vanished = submit(w, 'vanished.sh');
    await until(
      () =>
        [claimed, vanished].every(
          (c) =>
            existsSync(path.join(w.spool, 'state', `${c.job_run_name}.json`)) &&
            stateOf(c.job_run_name).phase === 'starting',
        ),
      'both jobs handed to the frozen host',
      30_000,
    );
    first.kill('SIGKILL');
    process.kill(host as number, 'SIGKILL');
    await exited(first);
    // What a host killed between its claim and the fork leaves: the attempt's log, nothing else.
    for (const c of [claimed, vanished]) {
      const s = stateOf(c.job_run_name);
      mkdirSync(path.dirname(s.log_file), { recursive: true });
      writeFileSync(s.log_file, '');
    }
    // ...and one whose wrapper had started (then was SIGKILLed with nobody to record it).
    const v = stateOf(vanished.job_run_name);
    appendFileSync(v.exit_file, `${v.log_file}\tstarted\n`);

    const second = startDaemon(w, 'second');
    await until(() => events(w, 'JobFinished').length === 3, 'JobFinished of both jobs', 60_000);
    const finished = events(w, 'JobFinished');
    expect(finished.find((f) => f.job_name === 'claimed.sh')).toMatchObject({
      status: 'Completed',
      exit_code: 0,
    });
    const gone = finished.find((f) => f.job_name === 'vanished.sh');
    expect(gone).toMatchObject({ status: 'Failed', exit_code: null });
    expect(gone?.error_message).toMatch(/started and vanished without recording an exit status/);
    expect(ledger(w)).toEqual(['claimed']);
    // The abandoned claim was put aside, not reused.
    const logDir = path.dirname(stateOf(claimed.job_run_name).log_file);
    expect(readdirSync(logDir).some((f) => /^1\.1\.a1\.log\.abandoned-\d+$/.test(f))).toBe(true);
    second.kill('SIGTERM');
    await exited(second);
  }, 120_000);
});
