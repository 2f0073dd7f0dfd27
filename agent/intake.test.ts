import { existsSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createIntake, type Intake } from './intake.js';
import type { JobState } from './job-state.js';
import { commandFile, spoolCommand, stateFile, writeFileAtomic } from './spool.js';
import { jobCommand, TEST_TOKEN } from './testing/fixtures.js';
import { type PartsBench, partsBench, spooled } from './testing/parts.js';

describe('agent intake', () => {
  let b: PartsBench;
  let intake: Intake;

  beforeEach(() => {
    b = partsBench();
    intake = createIntake(b.ctx);
  });
  afterEach(() => b.cleanup());

  const state = (name: string): JobState | undefined => {
    const f = stateFile(b.ctx.paths, name);
    return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as JobState) : undefined;
  };
  const errors = () => b.lines.filter((l) => l.level === 'error');

  it('accepts a submitted command once: tracked, and recorded in its state file before it runs', () => {
    const cmd = jobCommand('ok.sh');
    expect(spoolCommand(b.ws.spool, spooled(cmd))).toBe('queued');
    intake.scan();
    expect([...b.ctx.jobs.keys()]).toEqual([cmd.job_run_name]);
    const first = state(cmd.job_run_name);
    expect(first).toMatchObject({
      phase: 'accepted',
      accepted_at: new Date(b.clock.t).toISOString(),
      log_file: path.join(b.ws.logs, cmd.workflow_execution_id, '1.1.a1.log'),
      instance_id: 'i-0123456789abcdef0',
      reports: [],
    });
    // The state file never holds the task token; the log names it only shortened.
    expect(readFileSync(stateFile(b.ctx.paths, cmd.job_run_name), 'utf8')).not.toContain(TEST_TOKEN);
    expect(JSON.stringify(b.lines)).not.toContain(TEST_TOKEN);

    // The same command again (SSM delivers at least once), and a later pass: still one job, unchanged.
    expect(spoolCommand(b.ws.spool, spooled(cmd))).toBe('duplicate');
    b.clock.t += 60_000;
    intake.scan();
    intake.scan();
    expect(b.ctx.jobs.size).toBe(1);
    expect(state(cmd.job_run_name)).toEqual(first);
  });

  it('ignores a redelivery of a job this host finished, and leaves alone one whose job is still here', () => {
    const done = jobCommand('ok.sh');
    const busy = jobCommand('ok.sh');
    // Tombstones the daemon left: a finished job, and one still being reported (its state not done).
    for (const [cmd, phase] of [
      [done, 'done'],
      [busy, 'finished'],
    ] as const) {
      writeFileAtomic(
        stateFile(b.ctx.paths, cmd.job_run_name),
        JSON.stringify({ v: 1, name: cmd.job_run_name, phase, reports: [] }),
      );
      // As a submit racing the daemon's tombstone would leave it: the command file in jobs/.
      writeFileAtomic(commandFile(b.ctx.paths, cmd.job_run_name), JSON.stringify(spooled(cmd)));
    }
    intake.scan();
    expect(b.ctx.jobs.size).toBe(0);
    expect(existsSync(commandFile(b.ctx.paths, done.job_run_name))).toBe(false);
    expect(b.lines.map((l) => l.message)).toContain('a finished job was submitted again; ignored');
    // Not taken, not dropped: the job that has it finishes with it.
    expect(existsSync(commandFile(b.ctx.paths, busy.job_run_name))).toBe(true);
    expect(state(busy.job_run_name)?.phase).toBe('finished');
    expect(errors()).toEqual([]);
  });

  it('a submit the daemon takes up at once is queued, not mistaken for a late redelivery', () => {
    // The daemon can accept a command between submit linking its file into jobs/ and submit
    // looking for a tombstone (a CI run caught it): submit then sees a state that is not `done`.
    // A job the daemon still tracks keeps its command file until its tombstone is written, so
    // such a state beside a file submit just created can only be the daemon's take of that file.
    const cmd = jobCommand('ok.sh');
    const taken = jobCommand('ok.sh');
    expect(spoolCommand(b.ws.spool, spooled(taken))).toBe('queued');
    intake.scan();
    // The state the daemon has just written, with the command file gone from under submit's check:
    // replayed for `cmd` by writing its state first (the interleaving, without the timing).
    writeFileAtomic(
      stateFile(b.ctx.paths, cmd.job_run_name),
      readFileSync(stateFile(b.ctx.paths, taken.job_run_name), 'utf8').replaceAll(
        taken.job_run_name,
        cmd.job_run_name,
      ),
    );
    expect(state(cmd.job_run_name)?.phase).toBe('accepted');
    expect(spoolCommand(b.ws.spool, spooled(cmd))).toBe('queued');
    // The command file stays for the daemon (it was deleted under it before the fix), no token file.
    expect(existsSync(commandFile(b.ctx.paths, cmd.job_run_name))).toBe(true);
    const tokensOf = (name: string) =>
      existsSync(b.ctx.paths.tokens)
        ? readdirSync(b.ctx.paths.tokens).filter((f) => f.startsWith(`${name}.`))
        : [];
    expect(tokensOf(cmd.job_run_name)).toEqual([]);

    // A `done` tombstone is a late redelivery: kept as a token for the daemon, no command file.
    const late = jobCommand('ok.sh');
    writeFileAtomic(
      stateFile(b.ctx.paths, late.job_run_name),
      JSON.stringify({ v: 1, name: late.job_run_name, phase: 'done', reports: [] }),
    );
    expect(spoolCommand(b.ws.spool, spooled(late))).toBe('token');
    expect(existsSync(commandFile(b.ctx.paths, late.job_run_name))).toBe(false);
    expect(tokensOf(late.job_run_name)).toHaveLength(1);
  });

  it('drops what is not a job: an unsafe name, bad JSON, a bad command, a name that is not its job run', () => {
    const jobs = b.ctx.paths.jobs;
    const good = jobCommand('ok.sh');
    const other = jobCommand('ok.sh');
    writeFileSync(path.join(jobs, 'not a name.json'), JSON.stringify(spooled(jobCommand('ok.sh'))));
    writeFileSync(path.join(jobs, 'truncated.json'), '{"v":1,"command":{"job_run');
    writeFileSync(
      path.join(jobs, 'no-script.json'),
      JSON.stringify(spooled({ ...jobCommand('ok.sh'), script: undefined as unknown as string })),
    );
    writeFileSync(path.join(jobs, `${other.job_run_name}.json`), JSON.stringify(spooled(good)));
    intake.scan();
    expect(b.ctx.jobs.size).toBe(0);
    for (const f of ['not a name.json', 'truncated.json', 'no-script.json', `${other.job_run_name}.json`])
      expect(existsSync(path.join(jobs, f)), f).toBe(false);
    expect(errors()).toHaveLength(4);
    for (const l of errors())
      expect(l.message).toMatch(/^(ignoring a spool file|dropping an unreadable job)/);
    const mismatch = errors().find((l) => String(l.fields.file).endsWith(`${other.job_run_name}.json`));
    expect(mismatch?.fields.error).toBe('the file name does not match job_run_name');
    expect(errors().find((l) => String(l.fields.file).endsWith('no-script.json'))?.fields.error).toMatch(
      /^command\.script: /,
    );
  });

  it('takes nothing while the daemon is stopping; the command waits for the next daemon', () => {
    const cmd = jobCommand('ok.sh');
    spoolCommand(b.ws.spool, spooled(cmd));
    b.ctx.stopping = true;
    intake.scan();
    expect(b.ctx.jobs.size).toBe(0);
    expect(state(cmd.job_run_name)).toBeUndefined();
    expect(existsSync(commandFile(b.ctx.paths, cmd.job_run_name))).toBe(true);
  });

  it('takes commands oldest first', () => {
    const cmds = [jobCommand('ok.sh'), jobCommand('ok.sh'), jobCommand('ok.sh')];
    const times = [3, 1, 2];
    cmds.forEach((cmd, i) => {
      spoolCommand(b.ws.spool, spooled(cmd));
      const t = new Date(Date.parse('2025-01-01T00:00:00Z') + (times[i] as number) * 1000);
      // The file's mtime orders the spool: when submit wrote it.
      utimesSync(commandFile(b.ctx.paths, cmd.job_run_name), t, t);
    });
    intake.scan();
    expect([...b.ctx.jobs.keys()]).toEqual([cmds[1], cmds[2], cmds[0]].map((c) => c?.job_run_name));
  });
});
