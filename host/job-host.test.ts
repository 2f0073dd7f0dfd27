/**
 * The job host's starting side against a real host process (host/spawner.ts), SIGKILLed the way
 * the soak does it. What it must keep true when its host dies: each job it had sent there is
 * reported lost exactly once, and a job started again at once — from inside that report, as the
 * local agent's recovery does — belongs to the new host: it is neither reported lost with the
 * dead one, nor answered by the dead one's late lines, nor killed through the dead job's handle.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { killHard, until } from '../test/support/attack.js';
import { type HostedJob, JobHost } from './job-host.js';
import type { JobOutcome, JobSpec } from './job-runner.js';

const dirs: string[] = [];
const hosts: JobHost[] = [];
afterEach(() => {
  for (const h of hosts.splice(0)) h.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A job that writes its pid, then waits for `go` (so the test decides when it ends). */
function jobIn(dir: string, name: string): JobSpec {
  const script = path.join(dir, `${name}.sh`);
  writeFileSync(
    script,
    // Waits 20 s at most: a failed test leaves no job behind for long.
    `echo $$ > ${dir}/${name}.pid\ni=0\nwhile [ ! -e ${dir}/go ] && [ $i -lt 1000 ]; do sleep 0.02; i=$((i+1)); done\necho ${name} ends\n`,
  );
  return {
    command: '/bin/sh',
    args: [script],
    cwd: dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    logFile: path.join(dir, 'logs', `${name}.${Math.random().toString(36).slice(2)}.log`),
    exitFile: path.join(dir, 'exits'),
    exclusive: true,
    containment: 'process-group',
  };
}

function setup() {
  const dir = mkdtempSync(path.join(tmpdir(), 'rsqlo-job-host-'));
  mkdirSync(path.join(dir, 'logs'));
  dirs.push(dir);
  return dir;
}

/** The job host: the parent of a job's wrapper. */
function parentOf(pid: number): number {
  const ppid = Number(
    execFileSync('ps', ['-o', 'ppid=', '-p', String(pid)])
      .toString()
      .trim(),
  );
  expect(ppid).toBeGreaterThan(1);
  return ppid;
}

/** Resolves with the outcome, or with 'pending' when it has not come by the deadline. */
function outcomeOf(job: HostedJob, ms: number): Promise<JobOutcome | 'pending'> {
  return Promise.race([job.done, new Promise<'pending'>((r) => setTimeout(() => r('pending'), ms))]);
}

/** What `p` resolves to, or a failure naming what never came. */
function within<T>(p: Promise<T>, what: string, ms = 10_000): Promise<T> {
  return Promise.race([
    p,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)),
  ]);
}

describe('JobHost: its host process dies', () => {
  it('reports each of the dead host’s jobs lost once; a job started again from that report runs on a new host', async () => {
    const dir = setup();
    const lost: string[] = [];
    const restarted = new Map<string, HostedJob>();
    const host: JobHost = new JobHost((id) => {
      lost.push(id);
      // The local agent's recovery starts a never-claimed job again at once, inside this call.
      // Bounded, so the pre-fix code (which took each restarted job for lost too) ends.
      if (lost.length <= 6) restarted.set(id, host.start(id, jobIn(dir, `${id}-again`)));
    });
    hosts.push(host);
    const first = ['a', 'b', 'c'].map((id) => host.start(id, jobIn(dir, id)));
    const pids = await Promise.all(first.map((j) => j.started));
    killHard(parentOf(pids[0]?.pid ?? 0));
    await until(() => lost.length >= 3, 'the three jobs to be reported lost', 10_000);
    // Started again on a new host: they run there and end when told to.
    await within(Promise.all([...restarted.values()].map((j) => j.started)), 'the restarted jobs to start');
    writeFileSync(path.join(dir, 'go'), '');
    const outcomes = await Promise.all([...restarted.values()].map((j) => outcomeOf(j, 10_000)));
    expect(lost.sort()).toEqual(['a', 'b', 'c']);
    expect(outcomes.map((o) => (o === 'pending' ? o : o.exitCode))).toEqual([0, 0, 0]);
  });

  it('a kill through the dead job’s handle does not reach the job started again under its id', async () => {
    const dir = setup();
    let again: HostedJob | undefined;
    const host: JobHost = new JobHost((id) => {
      again ??= host.start(id, jobIn(dir, 'again'));
    });
    hosts.push(host);
    const old = host.start('job-1', jobIn(dir, 'old'));
    const { pid } = await old.started;
    killHard(parentOf(pid));
    await until(() => again !== undefined, 'the job to be started again', 10_000);
    await within<unknown>(again?.started ?? Promise.resolve(), 'the job started again to start');
    // A timeout or cancel meant for the first attempt (its handle) comes late.
    old.kill('cancel');
    writeFileSync(path.join(dir, 'go'), '');
    const o = again ? await outcomeOf(again, 10_000) : 'pending';
    expect(o === 'pending' ? o : { exitCode: o.exitCode, killedFor: o.killedFor ?? null }).toEqual({
      exitCode: 0,
      killedFor: null,
    });
  });
});
