import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSameProcessAlive, killProcessTree } from '../platform/processes.js';
import {
  bashPath,
  type JobSpec,
  jobEnvironment,
  killJob,
  LOST_CLAIM_EXIT,
  type RunningJob,
  readExitFile,
  readJournal,
  reclaimAbandonedAttempt,
  resolveCommand,
  ScriptNotExecutableError,
  startJob,
  wrapperInvocation,
} from './job-runner.js';

let dir: string;
let seq = 0;
const unfinished = new Set<RunningJob>();
/** Processes that tests deliberately let escape: killed in afterAll if a test failed half-way. */
const strays = new Set<number>();

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'job-runner-test-'));
});

afterAll(async () => {
  // Never leave processes behind, even when a test failed half-way.
  await Promise.all([...unfinished].map((job) => job.kill('cancel')));
  for (const pid of strays) if (!gone(pid)) process.kill(pid, 'SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function writeScript(body: string, ext = '.sh'): string {
  const path = join(dir, `script-${++seq}${ext}`);
  writeFileSync(path, body);
  return path;
}

function files(): { logFile: string; exitFile: string } {
  const n = ++seq;
  return { logFile: join(dir, `job-${n}.log`), exitFile: join(dir, `job-${n}.exit`) };
}

function baseEnv(): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin' };
}

function run(body: string, extra: Partial<JobSpec> = {}): { job: RunningJob; spec: JobSpec } {
  const { command, args } = resolveCommand(writeScript(body), []);
  const spec: JobSpec = { command, args, cwd: dir, env: baseEnv(), ...files(), ...extra };
  const job = startJob(spec);
  unfinished.add(job);
  void job.done.then(() => unfinished.delete(job));
  return { job, spec };
}

/** A process is gone when /proc has no entry for it or only a zombie (an unreaped corpse). */
function gone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state === 'Z' || state === 'X';
  } catch {
    return true;
  }
}

function pgrpOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function readPids(path: string): number[] {
  const pids = readFileSync(path, 'utf8').trim().split('\n').map(Number);
  for (const pid of pids) strays.add(pid);
  return pids;
}

describe('resolveCommand', () => {
  it('runs .sh with bash and .sql with rsql -f', () => {
    // bash by absolute path: no execve per PATH entry on every job.
    expect(bashPath()).toMatch(/^\/.*\/bash$/);
    expect(resolveCommand('/s/load.sh', ['a', 'b'])).toEqual({
      command: bashPath(),
      args: ['/s/load.sh', 'a', 'b'],
    });
    expect(resolveCommand('/s/load.sql', ['x'])).toEqual({
      command: 'rsql',
      args: ['-f', '/s/load.sql', 'x'],
    });
    expect(resolveCommand('/s/load.sql', [], { rsqlCommand: ['node', '/bin/rsql.js'] })).toEqual({
      command: 'node',
      args: ['/bin/rsql.js', '-f', '/s/load.sql'],
    });
  });

  it('runs other files directly only when executable', () => {
    const path = writeScript('#!/bin/sh\nexit 0\n', '.py');
    chmodSync(path, 0o644);
    expect(() => resolveCommand(path, [])).toThrow(ScriptNotExecutableError);
    expect(() => resolveCommand(path, [])).toThrow(/chmod \+x .*\.sh/);
    try {
      resolveCommand(path, []);
    } catch (err) {
      expect((err as Error).message).toContain(path);
    }
    chmodSync(path, 0o755);
    expect(resolveCommand(path, ['1'])).toEqual({ command: path, args: ['1'] });
    expect(() => resolveCommand(dir, [])).toThrow(ScriptNotExecutableError);
  });
});

describe('startJob', () => {
  it.each([0, 1, 12])('reports exit code %i and writes it to the exit file', async (code) => {
    const { job, spec } = run(`exit ${code}\n`);
    expect(job.pid).toBeGreaterThan(0);
    expect(job.startTicks).toMatch(/^\d+$/);
    const outcome = await job.done;
    expect(outcome).toMatchObject({ exitCode: code, signal: null, errorTail: '' });
    expect(outcome.killedFor).toBeUndefined();
    expect(outcome.spawnError).toBeUndefined();
    expect(outcome.finishedAt.getTime()).toBeGreaterThanOrEqual(outcome.startedAt.getTime());
    // The runner writes the exit file right after reporting the outcome.
    await waitFor(() => readExitFile(spec.exitFile, spec.logFile) !== undefined, 'the exit file');
    expect(readExitFile(spec.exitFile, spec.logFile)).toEqual({ exitCode: code });
  });

  it('writes stdout and stderr into the log exactly as written (>log 2>&1); errorTail is its end', async () => {
    const { job, spec } = run('echo out1; echo err1 >&2; echo out2; echo err2 >&2; exit 1\n');
    const outcome = await job.done;
    expect(outcome.exitCode).toBe(1);
    expect(readFileSync(spec.logFile, 'utf8')).toBe('out1\nerr1\nout2\nerr2\n');
    expect(outcome.errorTail).toBe('out1\nerr1\nout2\nerr2');
  });

  it('keeps errorTail short: the last 10 lines', async () => {
    const { job } = run('for i in $(seq 1 500); do echo "error line $i" >&2; done; exit 2\n');
    const outcome = await job.done;
    expect(outcome.errorTail.split('\n')).toEqual(
      Array.from({ length: 10 }, (_, i) => `error line ${491 + i}`),
    );
  });

  it("takes errorTail from this attempt's part of the log only", async () => {
    const { logFile, exitFile } = files();
    writeFileSync(logFile, 'previous attempt said this\n');
    const { job } = run('for i in $(seq 1 30); do echo "line $i"; done; exit 12\n', { logFile, exitFile });
    const outcome = await job.done;
    expect(outcome.exitCode).toBe(12);
    expect(outcome.errorTail.split('\n')).toEqual(Array.from({ length: 10 }, (_, i) => `line ${21 + i}`));

    const short = run('echo only line\nexit 1\n', { ...files(), logFile });
    expect((await short.job.done).errorTail).toBe('only line');
    // A job that succeeded has no error lines to show.
    const fine = run('echo all good\n', { ...files(), logFile });
    expect((await fine.job.done).errorTail).toBe('');
    expect(readFileSync(logFile, 'utf8')).toContain('previous attempt said this\n');
  });

  it('with exclusive, refuses an attempt whose log already exists (someone else claimed it)', async () => {
    const f = files();
    const first = run('echo first\n', { ...f, exclusive: true });
    expect((await first.job.done).exitCode).toBe(0);
    const marker = join(dir, `second-${Date.now()}`);
    const second = run(`touch ${marker}\n`, { ...f, exclusive: true });
    const outcome = await second.job.done;
    expect(outcome.claimed).toBe(true);
    expect(outcome.exitCode).toBeNull();
    expect(existsSync(marker)).toBe(false);
    expect(readFileSync(f.logFile, 'utf8')).toBe('first\n');
  });

  it('reads only the end of a large log for errorTail', async () => {
    const { job } = run(
      'head -c 3000000 /dev/zero | tr "\\0" x; echo; for i in $(seq 1 12); do echo "tail $i"; done; exit 3\n',
    );
    const outcome = await job.done;
    expect(outcome.exitCode).toBe(3);
    expect(outcome.errorTail.split('\n')).toEqual(Array.from({ length: 10 }, (_, i) => `tail ${3 + i}`));
  });

  it('passes exactly the given env, plus the exit journal and key; the user BASH_ENV works', async () => {
    const userBashEnv = writeScript('user_fn() { echo "from user BASH_ENV"; }\n');
    const { job, spec } = run(
      [
        'echo "FOO=$FOO"',
        'echo "HOME=$(printenv HOME || echo unset)"',
        'echo "EXIT=$RSQLO_EXIT_FILE"',
        'user_fn',
        "bash -c 'user_fn'",
        '',
      ].join('\n'),
      { env: { ...baseEnv(), FOO: 'bar baz', BASH_ENV: userBashEnv } },
    );
    const outcome = await job.done;
    expect(outcome.exitCode).toBe(0);
    expect(readFileSync(spec.logFile, 'utf8')).toBe(
      `FOO=bar baz\nHOME=unset\nEXIT=${spec.exitFile}\nfrom user BASH_ENV\nfrom user BASH_ENV\n`,
    );
    // The composed environment is not leaked into the caller's object.
    expect(spec.env.RSQLO_EXIT_FILE).toBeUndefined();
    expect(jobEnvironment(spec)).toEqual({
      ...spec.env,
      RSQLO_EXIT_FILE: spec.exitFile,
      RSQLO_EXIT_KEY: spec.logFile,
    });
  });

  it('writes the exit file for commands that are not bash', async () => {
    const spec: JobSpec = {
      command: '/bin/sh',
      args: ['-c', 'exit 5'],
      cwd: dir,
      env: baseEnv(),
      ...files(),
    };
    const job = startJob(spec);
    expect((await job.done).exitCode).toBe(5);
    // The runner writes the exit file right after reporting the outcome.
    await waitFor(() => readExitFile(spec.exitFile, spec.logFile) !== undefined, 'the exit file');
    expect(readExitFile(spec.exitFile, spec.logFile)).toEqual({ exitCode: 5 });
  });

  it('reports a missing command, script interpreter, cwd or log dir as spawnError', async () => {
    const cases: Array<[Partial<JobSpec>, RegExp]> = [
      [{ command: join(dir, 'no-such-cmd') }, /no such file/],
      [{ command: 'rsqlo-definitely-not-a-command' }, /command not found/],
      [{ command: '/bin/true', cwd: join(dir, 'no-such-dir') }, /working directory .* does not exist/],
      [{ command: '/bin/true', logFile: join(dir, 'no-such-dir', 'x.log') }, /cannot open log file/],
    ];
    for (const [patch, message] of cases) {
      const spec: JobSpec = {
        command: '/bin/true',
        args: [],
        cwd: dir,
        env: baseEnv(),
        ...files(),
        ...patch,
      };
      const job = startJob(spec);
      const outcome = await job.done;
      expect(outcome.exitCode).toBeNull();
      expect(outcome.spawnError).toMatch(message);
      expect(outcome.errorTail).toBe(outcome.spawnError);
      await job.kill('cancel'); // harmless on a job that never started
    }
    const badInterpreter = writeScript('#!/no/such/interpreter\n', '.py');
    chmodSync(badInterpreter, 0o755);
    const job = startJob({ ...resolveCommand(badInterpreter, []), cwd: dir, env: baseEnv(), ...files() });
    expect((await job.done).spawnError).toMatch(/interpreter/);
  });

  it('reports EACCES for a non-executable command given directly', async () => {
    const path = writeScript('#!/bin/sh\n', '.bin');
    chmodSync(path, 0o644);
    const job = startJob({ command: path, args: [], cwd: dir, env: baseEnv(), ...files() });
    const outcome = await job.done;
    expect(outcome.exitCode).toBeNull();
    expect(outcome.spawnError).toMatch(/permission denied/);
  });

  it('does not leak file descriptors over 200 jobs', async () => {
    const countFds = () => readdirSync('/proc/self/fd').length;
    const quiet = writeScript('exit 0\n');
    const noisy = writeScript('echo out; echo err >&2; exit 1\n');
    // warm up (lazy module state, trap file)
    await startJob({ command: 'bash', args: [quiet], cwd: dir, env: baseEnv(), ...files() }).done;
    const before = countFds();
    for (let i = 0; i < 200; i++) {
      const job = startJob({
        command: 'bash',
        args: [i % 2 ? quiet : noisy],
        cwd: dir,
        env: baseEnv(),
        ...files(),
      });
      await job.done;
    }
    const failed = startJob({
      command: join(dir, 'missing'),
      args: [],
      cwd: dir,
      env: baseEnv(),
      ...files(),
    });
    await failed.done;
    // libuv closes the last pipe handles on a later turn: wait for that, with a deadline.
    await waitFor(() => countFds() - before < 5, 'the pipe handles to be closed');
  });
});

describe('kill', () => {
  it('kills the group and every descendant, including setsid escapees', async () => {
    const pids = join(dir, `pids-${++seq}`);
    const ready = `${pids}.ready`;
    const { job, spec } = run(
      [
        'sleep 1000 &',
        `echo $! > ${pids}`,
        'setsid sleep 1000 &',
        `echo $! >> ${pids}`,
        `( setsid sleep 1000 & echo $! >> ${pids} )`, // double fork: no longer a descendant
        `touch ${ready}`,
        'wait',
        '',
      ].join('\n'),
    );
    await waitFor(() => existsSync(ready), 'the job to start its children');
    const children = readPids(pids);
    expect(children).toHaveLength(3);
    for (const pid of children) expect(gone(pid)).toBe(false);
    // `$!` is written when the child forks, before the `setsid` program has run in it: on a busy
    // machine the pid can still be in the job's group for a moment. Wait for it to leave.
    await waitFor(
      () => pgrpOf(children[1]!) !== job.pid && pgrpOf(children[2]!) !== job.pid,
      'the setsid children to leave the job group',
    );

    await job.kill('timeout');
    for (const pid of [job.pid, ...children]) expect(gone(pid), `pid ${pid}`).toBe(true);
    const outcome = await job.done;
    expect(outcome.killedFor).toBe('timeout');
    expect(outcome.exitCode).toBeNull();
    expect(outcome.signal).toBe('SIGTERM');
    // The runner writes the exit file right after reporting the outcome.
    await waitFor(() => readExitFile(spec.exitFile, spec.logFile) !== undefined, 'the exit file');
    expect(readExitFile(spec.exitFile, spec.logFile)).toEqual({ signal: 'SIGTERM' });
  });

  it('SIGKILLs a job that ignores SIGTERM after the grace period', async () => {
    const ready = join(dir, `ready-${++seq}`);
    const { job, spec } = run(`trap '' TERM; touch ${ready}; while :; do sleep 0.1; done\n`, {
      killGraceMs: 300,
    });
    await waitFor(() => existsSync(ready), 'the job to start');
    await job.kill('cancel');
    expect(gone(job.pid)).toBe(true);
    const outcome = await job.done;
    expect(outcome).toMatchObject({ exitCode: null, signal: 'SIGKILL', killedFor: 'cancel' });
    // The runner writes the exit file right after reporting the outcome.
    await waitFor(() => readExitFile(spec.exitFile, spec.logFile) !== undefined, 'the exit file');
    expect(readExitFile(spec.exitFile, spec.logFile)).toEqual({ signal: 'SIGKILL' });
  });

  it('resolves done when the main process exits, even if a background child holds stderr', async () => {
    const pids = join(dir, `pids-${++seq}`);
    const { job } = run(`sleep 1000 &\necho $! > ${pids}\necho bye >&2\nexit 4\n`);
    const outcome = await job.done;
    expect(outcome).toMatchObject({ exitCode: 4, errorTail: 'bye' });
    const [child] = readPids(pids);
    expect(gone(child!)).toBe(false);
    await job.kill('cancel'); // cleans up what the job left behind
    expect(gone(child!)).toBe(true);
    expect(outcome.killedFor).toBeUndefined();
  });

  it('does not mark a job that already finished as killed', async () => {
    const { job } = run('exit 0\n');
    const outcome = await job.done;
    await job.kill('timeout');
    expect(outcome.killedFor).toBeUndefined();
  });
});

describe('claims after a crash', () => {
  it('an attempt claimed by a runner that died before the fork is reclaimed; one that started is not', () => {
    const { logFile, exitFile } = files();
    writeFileSync(logFile, ''); // the claim: the runner made the log, then died
    expect(reclaimAbandonedAttempt({ logFile, exitFile })).toBe('reclaimed');
    // Renamed away: the path is free for the attempt, nothing of the claim is lost.
    expect(existsSync(logFile)).toBe(false);
    expect(readdirSync(dir).some((f) => f.startsWith(`${logFile.split('/').pop()}.abandoned-`))).toBe(true);

    const other = files();
    writeFileSync(other.logFile, 'half a job\n');
    writeFileSync(other.exitFile, `${other.logFile}\tstarted\n`);
    expect(readJournal(other.exitFile, other.logFile)).toEqual({
      status: undefined,
      started: true,
      lost: false,
    });
    // It ran and vanished without a status: never run again.
    expect(reclaimAbandonedAttempt(other)).toBe('ran');
    expect(readFileSync(other.logFile, 'utf8')).toBe('half a job\n');
  });

  it('a wrapper that finds its claim taken back runs nothing and says so', () => {
    const { logFile, exitFile } = files();
    const marker = join(dir, `ran-${++seq}`);
    const fd = openSync(logFile, 'a');
    // A frozen runner: its claim (the log it opened) was renamed away by recovery before the fork.
    renameSync(logFile, `${logFile}.abandoned-1`);
    const w = wrapperInvocation(undefined, logFile, '/bin/sh', ['-c', `touch ${marker}`]);
    const r = spawnSync(w.file, w.args, {
      stdio: ['ignore', fd, fd],
      env: { PATH: '/usr/bin:/bin', RSQLO_EXIT_FILE: exitFile, RSQLO_EXIT_KEY: logFile },
    });
    closeSync(fd);
    expect(r.status).toBe(LOST_CLAIM_EXIT);
    expect(existsSync(marker)).toBe(false);
    expect(readFileSync(exitFile, 'utf8')).toBe(`${logFile}\tstarted\n${logFile}\tlost\n`);
    expect(readJournal(exitFile, logFile)).toEqual({ status: undefined, started: false, lost: true });
    // ...so the next look reclaims it.
    writeFileSync(logFile, '');
    expect(reclaimAbandonedAttempt({ logFile, exitFile })).toBe('reclaimed');
  });

  it('a wrapper whose claim stands runs the job and records started, then the status', async () => {
    const { job, spec } = run('exit 3\n');
    expect((await job.done).exitCode).toBe(3);
    expect(readFileSync(spec.exitFile, 'utf8')).toBe(`${spec.logFile}\tstarted\n${spec.logFile}\t3\n`);
    expect(readJournal(spec.exitFile, spec.logFile)).toEqual({
      status: { exitCode: 3 },
      started: true,
      lost: false,
    });
  });
});

describe('crash recovery', () => {
  const runnerUrl = new URL('./job-runner.ts', import.meta.url).href;
  const repoRoot = fileURLToPath(new URL('..', import.meta.url));

  /** Starts a job from a separate process that is then SIGKILLed: nobody on our side survives. */
  async function startThenCrash(
    scriptPath: string,
  ): Promise<{ pid: number; startTicks: string; exitFile: string; exitKey: string }> {
    const { logFile, exitFile } = files();
    const crasher = join(dir, `crasher-${++seq}.mts`);
    writeFileSync(
      crasher,
      [
        `import { startJob } from ${JSON.stringify(runnerUrl)};`,
        `const job = startJob(${JSON.stringify({ command: 'bash', args: [scriptPath], cwd: dir, env: baseEnv(), logFile, exitFile })});`,
        'process.stdout.write(JSON.stringify({ pid: job.pid, startTicks: job.startTicks }) + "\\n", () => process.kill(process.pid, "SIGKILL"));',
        '',
      ].join('\n'),
    );
    const child = spawn(process.execPath, ['--import', 'tsx', crasher], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const signal = await new Promise((resolve) => child.on('close', (_code, sig) => resolve(sig)));
    expect(signal).toBe('SIGKILL');
    const started = JSON.parse(out) as { pid: number; startTicks: string };
    strays.add(started.pid);
    return { ...started, exitFile, exitKey: logFile };
  }

  it('the wrapper records the exit status when the runner is gone; nested bash does not overwrite it', async () => {
    const go = join(dir, `go-${++seq}`);
    const script = writeScript(
      `while [ ! -e ${go} ]; do sleep 0.05; done\nbash -c 'exit 3'\n( exit 4 )\nexit 7\n`,
    );
    const { pid, startTicks, exitFile, exitKey } = await startThenCrash(script);
    expect(isSameProcessAlive(pid, startTicks)).toBe(true);
    expect(readExitFile(exitFile, exitKey)).toBeUndefined();
    writeFileSync(go, '');
    await waitFor(() => !isSameProcessAlive(pid, startTicks), 'the orphaned job to finish');
    await waitFor(() => readExitFile(exitFile, exitKey) !== undefined, 'the exit file');
    expect(readFileSync(exitFile, 'utf8')).toBe(`${exitKey}\tstarted\n${exitKey}\t7\n`);
    expect(readExitFile(exitFile, exitKey)).toEqual({ exitCode: 7 });
  });

  it('killJob kills an orphaned job with its children and double-forked escapees', async () => {
    const pids = join(dir, `pids-${++seq}`);
    const ready = `${pids}.ready`;
    const script = writeScript(
      [
        'sleep 1000 &',
        `echo $! > ${pids}`,
        'setsid sleep 1000 &',
        `echo $! >> ${pids}`,
        `( setsid sleep 1000 & echo $! >> ${pids} )`,
        `touch ${ready}`,
        'wait',
        '',
      ].join('\n'),
    );
    const { pid, startTicks, exitFile, exitKey } = await startThenCrash(script);
    await waitFor(() => existsSync(ready), 'the orphaned job to start its children');
    const children = readPids(pids);
    expect(isSameProcessAlive(pid, startTicks)).toBe(true);

    await killJob({ pid, startTicks, exitKey }, 300);
    for (const p of [pid, ...children]) expect(gone(p), `pid ${p}`).toBe(true);
    // Written by the job's own wrapper (nobody else was alive to write it).
    expect(readExitFile(exitFile, exitKey)).toEqual({ signal: 'SIGTERM' });
  });

  it('isSameProcessAlive is false for a dead pid and for a live pid with other start ticks', async () => {
    const { job } = run('exit 0\n');
    const ticks = job.startTicks;
    await job.done;
    expect(isSameProcessAlive(job.pid, ticks)).toBe(false);

    const { job: live } = run('sleep 1000\n');
    expect(isSameProcessAlive(live.pid, live.startTicks)).toBe(true);
    expect(isSameProcessAlive(live.pid, undefined)).toBe(true);
    expect(isSameProcessAlive(live.pid, `${Number(live.startTicks) + 1}`)).toBe(false);
    await live.kill('cancel');
    expect(isSameProcessAlive(live.pid, live.startTicks)).toBe(false);
    expect(isSameProcessAlive(0, undefined)).toBe(false);
    expect(isSameProcessAlive(-1, undefined)).toBe(false);
  });

  it('killProcessTree leaves a reused pid alone', async () => {
    const { job } = run('sleep 1000\n');
    // Pretend the recorded job had other start ticks: this live process is then not ours.
    await killProcessTree(job.pid, 100, { startTicks: `${Number(job.startTicks) + 1}` });
    expect(isSameProcessAlive(job.pid, job.startTicks)).toBe(true);
    await job.kill('cancel');
  });

  it("readExitFile reads an attempt's line from the journal: codes and signals, the last line wins", () => {
    const path = join(dir, `exit-${++seq}`);
    expect(readExitFile(path, '/logs/a b.log')).toBeUndefined();
    writeFileSync(path, '/logs/a b.log\t7\n/logs/other.log\t0\n');
    expect(readExitFile(path, '/logs/a b.log')).toEqual({ exitCode: 7 });
    expect(readExitFile(path, '/logs/other.log')).toEqual({ exitCode: 0 });
    expect(readExitFile(path, '/logs/a')).toBeUndefined();
    writeFileSync(path, '/logs/a b.log\tsignal:SIGKILL\n', { flag: 'a' });
    expect(readExitFile(path, '/logs/a b.log')).toEqual({ signal: 'SIGKILL' });
    writeFileSync(path, '/logs/x.log\tgarbage\n');
    expect(readExitFile(path, '/logs/x.log')).toBeUndefined();
  });
});
