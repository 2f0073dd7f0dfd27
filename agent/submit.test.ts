import { spawnSync } from 'node:child_process';
import { chownSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ROOT } from '../bin/load.js';
import { ensureSpool } from './spool.js';
import { decodeJob, MAX_JOB_BYTES, ssmCommandId, submitMain } from './submit.js';
import { encodeJob, jobCommand, makeWorkspace, TEST_TOKEN, type Workspace } from './testing/fixtures.js';

describe('rsqlo-agent submit', () => {
  let ws: Workspace;
  beforeEach(() => {
    ws = makeWorkspace();
    ensureSpool(ws.spool);
  });
  afterEach(() => rmSync(ws.root, { recursive: true, force: true }));

  const run = (args: string[], env: Record<string, string> = {}) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = submitMain(args, { env, cwd: '/tmp', out: (l) => out.push(l), err: (l) => err.push(l) });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };
  const spooled = () => readdirSync(path.join(ws.spool, 'jobs'));

  it('spools a valid command atomically under its job run name', () => {
    const cmd = jobCommand('ok.sh');
    const r = run(['--job-env', 'SSM_job', '--spool', ws.spool], { SSM_job: encodeJob(cmd) });
    expect(r).toEqual({
      code: 0,
      out: `rsqlo-agent: job ${cmd.job_run_name} handed to the agent daemon`,
      err: '',
    });
    expect(spooled()).toEqual([`${cmd.job_run_name}.json`]);
    const file = path.join(ws.spool, 'jobs', `${cmd.job_run_name}.json`);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ v: 1, command: cmd, instance_id: null });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(r.out).not.toContain(TEST_TOKEN);
  });

  it('reads the spool folder from the config file, and a job from a file', () => {
    const cmd = jobCommand('ok.sh');
    const jobFile = path.join(ws.root, 'job.json');
    writeFileSync(jobFile, JSON.stringify(cmd));
    expect(run(['--job-file', jobFile, '--config', ws.configFile]).code).toBe(0);
    expect(spooled()).toEqual([`${cmd.job_run_name}.json`]);
  });

  it('is a no-op for a redelivered command', () => {
    const env = { SSM_job: encodeJob(jobCommand('ok.sh')) };
    expect(run(['--job-env', 'SSM_job', '--spool', ws.spool], env).code).toBe(0);
    const again = run(['--job-env', 'SSM_job', '--spool', ws.spool], env);
    expect(again.code).toBe(0);
    expect(again.out).toMatch(/was submitted before; nothing to do/);
    expect(spooled()).toHaveLength(1);
  });

  it.each([
    ['not base64', '%%%not base64%%%', /environment variable SSM_job is not base64/],
    [
      'not JSON',
      Buffer.from('{"task_token": "abc", oops').toString('base64'),
      /\(decoded\) is not valid JSON$/,
    ],
    [
      'not a job command',
      encodeJob({ ...jobCommand('ok.sh'), task_token: '', job_key: 'one', attempt: 0 }),
      /is not a valid job command: task_token: .*job_key: must look like "2\.1".*attempt/,
    ],
    [
      'a script outside the root',
      encodeJob(jobCommand('../../etc/passwd')),
      /script: "..\/..\/etc\/passwd" escapes the script root/,
    ],
    ['too large', 'A'.repeat(MAX_JOB_BYTES + 4), /is 65540 bytes; the limit is 65536/],
  ])('rejects a job that is %s with a clear message and spools nothing', (_what, value, message) => {
    const r = run(['--job-env', 'SSM_job', '--spool', ws.spool], { SSM_job: value });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(message);
    expect(r.err).not.toContain(TEST_TOKEN);
    expect(spooled()).toEqual([]);
  });

  it('rejects an unsafe job run name and an unset variable', () => {
    const bad = run(['--job-env', 'SSM_job', '--spool', ws.spool], {
      SSM_job: encodeJob({ ...jobCommand('ok.sh'), job_run_name: '../escape' }),
    });
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/job_run_name may only contain/);
    expect(run(['--job-env', 'NOPE', '--spool', ws.spool]).err).toMatch(
      /environment variable NOPE is not set/,
    );
  });

  it('explains usage errors and a missing spool', () => {
    expect(run([]).code).toBe(2);
    expect(run(['--job-env', 'A', '--job-file', 'B']).err).toMatch(/exactly one of --job-env and --job-file/);
    expect(run(['--bogus']).code).toBe(2);
    const r = run(['--job-env', 'SSM_job', '--spool', path.join(ws.root, 'nowhere')], {
      SSM_job: encodeJob(jobCommand('ok.sh')),
    });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/the spool .*nowhere does not exist: is rsqlo-agent installed/);
  });

  it('hands the file to the spool owner when run as root (SSM runs submit as root)', () => {
    if (process.getuid?.() !== 0) return;
    const jobs = path.join(ws.spool, 'jobs');
    chownSync(jobs, 4321, 4321);
    const cmd = jobCommand('ok.sh');
    expect(run(['--job-env', 'SSM_job', '--spool', ws.spool], { SSM_job: encodeJob(cmd) }).code).toBe(0);
    const st = statSync(path.join(jobs, `${cmd.job_run_name}.json`));
    expect([st.uid, st.gid]).toEqual([4321, 4321]);
  });

  it('finds the SSM command id in the working folder SSM runs the step in', () => {
    expect(
      ssmCommandId(
        '/var/lib/amazon/ssm/i-0abc/document/orchestration/1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d/submitJob',
      ),
    ).toBe('1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d');
    expect(ssmCommandId('/tmp')).toBeNull();
  });

  it('decodes what the dispatcher sends (base64 JSON)', () => {
    const cmd = jobCommand('ok.sh');
    expect(decodeJob(encodeJob(cmd), 'x')).toEqual(cmd);
  });

  it('works through the installed command, bin/rsqlo-agent.js', () => {
    mkdirSync(ws.spool, { recursive: true });
    const cmd = jobCommand('ok.sh');
    const env = { ...process.env, SSM_job: encodeJob(cmd), RSQLO_AGENT_CONFIG: ws.configFile };
    const ok = spawnSync(
      process.execPath,
      [path.join(ROOT, 'bin/rsqlo-agent.js'), 'submit', '--job-env', 'SSM_job'],
      {
        env,
        encoding: 'utf8',
      },
    );
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain(`job ${cmd.job_run_name} handed to the agent daemon`);
    const bad = spawnSync(
      process.execPath,
      [path.join(ROOT, 'bin/rsqlo-agent.js'), 'submit', '--job-env', 'SSM_job'],
      {
        env: { ...env, SSM_job: 'bm90IGpzb24=' },
        encoding: 'utf8',
      },
    );
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain(
      'rsqlo-agent submit: environment variable SSM_job (decoded) is not valid JSON',
    );
  });
});
