/**
 * Operator actions on the local engine, with real `rsqlo` processes and real scripts (issue 14,
 * plan §12 local column): set-ok continues a Failed run, rerun runs one job of a Completed run
 * again as attempt 2, hold stops new jobs of a running run and free lets it finish, bypass skips
 * a job that has not started and the run goes on. Every
 * scenario runs clean and under `RSQLO_TEST_CHAOS=all` (outbox rows duplicated and reordered),
 * with each action sent twice, and must give the same outcome and audit.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobAuditRecord, WorkflowAuditRecord } from '../../contracts/audit.js';
import { until } from '../support/processes.js';
import { type Workspace, workspace } from '../support/workspace.js';
import { processGroup, waitFor, workflowDir } from './serve-helper.js';

type Doc = { workflow: WorkflowAuditRecord; jobs: JobAuditRecord[] };

const me = `user:${userInfo().username}`;

/** The clean run's comparable audit per scenario; the chaos run must equal it. */
const seen: Record<string, ReturnType<typeof comparable>> = {};

/** What must be equal between a clean run and a chaotic one: statuses, attempts and the audit of actions. */
function comparable(doc: Doc) {
  return {
    status: doc.workflow.execution_status,
    counts: doc.workflow.counts,
    run_actions: (doc.workflow.operator_actions ?? []).map((a) => [
      a.action,
      a.job_key,
      a.attempt,
      a.reason,
      a.requested_by,
    ]),
    hold: doc.workflow.hold_state
      ? { held: doc.workflow.hold_state.held, scope: doc.workflow.hold_state.scope }
      : null,
    jobs: doc.jobs.map((j) => ({
      key: j.job_key,
      status: j.execution_status,
      attempt: j.attempt,
      previous: j.previous_attempts.map((a) => [a.attempt, a.execution_status]),
      skip: j.skip_reason,
      actions: (j.operator_actions ?? []).map((a) => [
        a.action,
        a.attempt,
        a.previous_status,
        a.reason,
        a.requested_by,
      ]),
    })),
  };
}

describe.each([
  ['clean', {}],
  ['chaos', { RSQLO_TEST_CHAOS: 'all' }],
] as const)('operator actions (%s, real processes)', (mode, env) => {
  let ws: Workspace;
  const group = processGroup();
  const run = (argv: string[]) => group.start(argv, { env });
  afterEach(() => group.cleanup(ws?.dir));

  async function status(exec: string): Promise<Doc> {
    const p = run(['status', exec, '--home', ws.home, '--json']);
    expect(await p.exit, p.stderr()).toBe(0);
    return JSON.parse(p.stdout()) as Doc;
  }

  function sameAsClean(name: string, doc: Doc) {
    const c = comparable(doc);
    if (mode === 'clean') seen[name] = c;
    else if (seen[name]) expect(c).toEqual(seen[name]);
  }

  it('set-ok of the failed job continues a Failed run to Completed; the audit says set OK, by whom and why', async () => {
    ws = workspace(`rsqlo-setok-${mode}-`);
    const ledger = path.join(ws.dir, 'ledger');
    const dir = workflowDir(
      ws,
      'wf_setok',
      {
        'load.sh': `echo +load >> ${ledger}`,
        'check.sh': `echo +check >> ${ledger}; echo "row count mismatch" >&2; exit 3`,
        'publish.sh': `echo +publish >> ${ledger}`,
      },
      {
        workflow_stages: [
          { execution_flag: 'y', execution_type: 'sequential', scripts: ['load.sh', 'check.sh'] },
          { execution_flag: 'y', execution_type: 'sequential', scripts: ['publish.sh'] },
        ],
      },
    );
    const exec = `setok-${mode}`;
    const first = run(['run', dir, '--home', ws.home, '--execution-id', exec, '--no-database']);
    expect(await first.exit, first.stderr()).toBe(1);
    expect(readFileSync(ledger, 'utf8')).toBe('+load\n+check\n');

    // Bad input: one line, exit 2, nothing written.
    const noReason = run(['set-ok', exec, '1.2', '--home', ws.home]);
    expect(await noReason.exit).toBe(2);
    expect(noReason.stderr()).toMatch(/needs --reason TEXT/);
    const noJob = run(['set-ok', exec, '7.7', '--reason', 'x', '--home', ws.home]);
    expect(await noJob.exit).toBe(2);
    expect(noJob.stderr()).toMatch(/has no job 7\.7/);
    // The rule refuses a Completed job: exit 3, nothing sent.
    const refused = run(['set-ok', exec, '1.1', '--reason', 'x', '--home', ws.home, '--no-database']);
    expect(await refused.exit).toBe(3);
    expect(refused.stderr()).toMatch(/job 1\.1 is Completed: only a Failed or TimedOut job can be set OK/);
    expect((await status(exec)).workflow.operator_actions ?? []).toEqual([]);

    const ok = run([
      'set-ok',
      exec,
      '1.2',
      '--reason',
      'fixed the rows by hand',
      '--home',
      ws.home,
      '--no-database',
    ]);
    expect(await ok.exit, ok.stderr()).toBe(0);
    expect(ok.stdout()).toMatch(/job 1\.2 check\.sh set OK \(was Failed\)/);
    expect(ok.stdout()).toContain(`wf_setok ${exec}: Completed`);
    // Sent twice: the second is refused by the rule (the job is Completed now); nothing changes.
    const again = run([
      'set-ok',
      exec,
      '1.2',
      '--reason',
      'fixed the rows by hand',
      '--home',
      ws.home,
      '--no-database',
    ]);
    expect(await again.exit).toBe(3);

    const doc = await status(exec);
    expect(doc.workflow.execution_status).toBe('Completed');
    const job = doc.jobs.find((j) => j.job_key === '1.2');
    expect(job).toMatchObject({ execution_status: 'Completed', attempt: 1 });
    expect(job?.waiting_for ?? null).toBeNull();
    expect(job?.operator_actions).toEqual([
      expect.objectContaining({
        action: 'set_ok',
        previous_status: 'Failed',
        reason: 'fixed the rows by hand',
        requested_by: me,
      }),
    ]);
    // The later stage ran, once; the failed script was not run again.
    expect(readFileSync(ledger, 'utf8')).toBe('+load\n+check\n+publish\n');
    expect(doc.jobs.find((j) => j.job_key === '2.1')?.execution_status).toBe('Completed');
    const text = run(['status', exec, '--home', ws.home]);
    expect(await text.exit).toBe(0);
    expect(text.stdout()).toContain(`Completed (set OK by ${me}: fixed the rows by hand)`);
    sameAsClean('set-ok', doc);
  });

  it('rerun of one job of a Completed run runs only that job, as attempt 2', async () => {
    ws = workspace(`rsqlo-rerun-${mode}-`);
    const ledger = path.join(ws.dir, 'ledger');
    const dir = workflowDir(
      ws,
      'wf_rerun',
      { 'a.sh': `echo +a >> ${ledger}`, 'b.sh': `echo +b >> ${ledger}` },
      { workflow_stages: [{ execution_flag: 'y', execution_type: 'parallel', scripts: ['a.sh', 'b.sh'] }] },
    );
    const exec = `rerun-${mode}`;
    const first = run(['run', dir, '--home', ws.home, '--execution-id', exec, '--no-database']);
    expect(await first.exit, first.stderr()).toBe(0);
    const before = readFileSync(ledger, 'utf8').split('\n').filter(Boolean).sort();
    expect(before).toEqual(['+a', '+b']);

    const rerun = run(['rerun', exec, '1.2', '--reason', 'late file', '--home', ws.home, '--no-database']);
    expect(await rerun.exit, rerun.stderr()).toBe(0);
    expect(rerun.stdout()).toMatch(/job 1\.2 b\.sh rerun as attempt 2/);
    // Only b ran again.
    const after = readFileSync(ledger, 'utf8').split('\n').filter(Boolean);
    expect(after.slice(2)).toEqual(['+b']);

    const doc = await status(exec);
    expect(doc.workflow.execution_status).toBe('Completed');
    const b = doc.jobs.find((j) => j.job_key === '1.2');
    expect(b).toMatchObject({ execution_status: 'Completed', attempt: 2 });
    expect(b?.previous_attempts.map((a) => [a.attempt, a.execution_status])).toEqual([[1, 'Completed']]);
    expect(b?.operator_actions?.[0]).toMatchObject({
      action: 'rerun',
      reason: 'late file',
      requested_by: me,
    });
    expect(doc.jobs.find((j) => j.job_key === '1.1')).toMatchObject({ attempt: 1 });
    expect(doc.workflow.generation).toBe(1);
    sameAsClean('rerun', doc);
  });

  it('hold on a running run: nothing new starts and it shows Held; free: it finishes', async () => {
    ws = workspace(`rsqlo-hold-${mode}-`);
    const mark = (n: string) => path.join(ws.dir, n);
    const dir = workflowDir(ws, 'wf_hold', {
      'first.sh': `touch ${mark('first.started')}\n${waitFor(mark('gate.first'))}`,
      'second.sh': `touch ${mark('second.started')}`,
    });
    const exec = `hold-${mode}`;
    // A foreground run owns the home: hold and free go to it through the outbox.
    const fg = run(['run', dir, '--home', ws.home, '--execution-id', exec, '--no-database']);
    await until(() => existsSync(mark('first.started')), 'the first job to start', 60_000);

    const hold = run(['hold', exec, '--reason', 'redshift patching', '--home', ws.home]);
    expect(await hold.exit, hold.stderr()).toBe(0);
    expect(hold.stdout()).toMatch(/hold of .* requested; the engine \(pid \d+\) that owns/);
    await until(
      async () => (await status(exec)).workflow.hold_state?.held === true,
      'the run to be held',
      60_000,
    );
    // Sent twice: the second hold finds the run held already; the run stays held, nothing else.
    const twice = run(['hold', exec, '--reason', 'redshift patching', '--home', ws.home]);
    expect(await twice.exit, twice.stderr()).toBe(0);
    const shown = run(['status', exec, '--home', ws.home]);
    expect(await shown.exit).toBe(0);
    expect(shown.stdout()).toMatch(new RegExp(`wf_hold {2}${exec} {2}Held`));

    // The running job finishes; the next does not start: the foreground run says why, once.
    writeFileSync(mark('gate.first'), '');
    await until(
      () => fg.stdout().includes(`held by ${me} (redshift patching): rsqlo free ${exec}`),
      'the run to say it is held',
      60_000,
    );
    const held = await status(exec);
    expect(held.jobs.map((j) => [j.job_key, j.execution_status])).toEqual([
      ['1.1', 'Completed'],
      ['1.2', held.jobs[1]?.execution_status === 'Queued' ? 'Queued' : 'Pending'],
    ]);
    expect(existsSync(mark('second.started'))).toBe(false);

    const free = run(['free', exec, '--home', ws.home]);
    expect(await free.exit, free.stderr()).toBe(0);
    expect(await fg.exit, fg.stderr()).toBe(0);
    expect(existsSync(mark('second.started'))).toBe(true);
    // The waiting line is said once (the RunHeld lines of the two holds are progress, not it).
    expect(fg.stdout().split(`held by ${me} (redshift patching): rsqlo free ${exec}`).length - 1).toBe(1);
    const doc = await status(exec);
    expect(doc.workflow.execution_status).toBe('Completed');
    expect(doc.workflow.hold_state).toMatchObject({ held: false, scope: 'run' });
    expect([...new Set((doc.workflow.operator_actions ?? []).map((a) => a.action))]).toEqual([
      'hold',
      'free',
    ]);
    // Free of a finished run is refused by the rule (exit 3), nothing sent.
    const late = run(['free', exec, '--home', ws.home]);
    expect(await late.exit).toBe(3);
    expect(late.stderr()).toMatch(/only a Running run can be freed/);
    sameAsClean('hold', doc);
  });

  it('bypass of a job that has not started: it is Skipped with the reason, the run goes on and Completes', async () => {
    ws = workspace(`rsqlo-bypass-${mode}-`);
    const mark = (n: string) => path.join(ws.dir, n);
    const dir = workflowDir(
      ws,
      'wf_bypass',
      {
        'extract.sh': `touch ${mark('extract.started')}\n${waitFor(mark('gate.extract'))}`,
        'reload.sh': `touch ${mark('reload.started')}; exit 4`,
        'publish.sh': `touch ${mark('publish.started')}`,
      },
      {
        workflow_stages: [
          { execution_flag: 'y', execution_type: 'sequential', scripts: ['extract.sh'] },
          { execution_flag: 'y', execution_type: 'sequential', scripts: ['reload.sh', 'publish.sh'] },
        ],
      },
    );
    const exec = `bypass-${mode}`;
    const fg = run(['run', dir, '--home', ws.home, '--execution-id', exec, '--no-database']);
    await until(() => existsSync(mark('extract.started')), 'the first job to start', 60_000);

    // The running job cannot be bypassed (the rule, exit 3, nothing sent); no reason is a usage error.
    const started = run(['bypass', exec, '1.1', '--reason', 'too late', '--home', ws.home]);
    expect(await started.exit).toBe(3);
    expect(started.stderr()).toMatch(
      /job 1\.1 has started \(Running\): only a job that has not started can be bypassed/,
    );
    const bare = run(['bypass', exec, '2.1', '--home', ws.home]);
    expect(await bare.exit).toBe(2);
    expect(bare.stderr()).toMatch(/--reason/);

    // The job of the next stage: bypassed once; sent again, the rule refuses it (nothing changes).
    const b = run(['bypass', exec, '2.1', '--reason', 'reloaded by hand', '--home', ws.home]);
    expect(await b.exit, b.stderr()).toBe(0);
    await until(
      async () => (await status(exec)).jobs.find((j) => j.job_key === '2.1')?.execution_status === 'Skipped',
      'the job to be bypassed',
      60_000,
    );
    const again = run(['bypass', exec, '2.1', '--reason', 'reloaded by hand', '--home', ws.home]);
    expect(await again.exit).toBe(3);
    expect(again.stderr()).toContain('job 2.1 is Skipped already (bypassed: reloaded by hand)');
    writeFileSync(mark('gate.extract'), '');
    expect(await fg.exit, fg.stderr()).toBe(0);
    // It never ran; the job after it did, as if it had completed.
    expect(existsSync(mark('reload.started'))).toBe(false);
    expect(existsSync(mark('publish.started'))).toBe(true);
    const doc = await status(exec);
    expect(doc.workflow.execution_status).toBe('Completed');
    expect(doc.jobs.map((j) => [j.job_key, j.execution_status, j.skip_reason ?? null])).toEqual([
      ['1.1', 'Completed', null],
      ['2.1', 'Skipped', 'bypassed: reloaded by hand'],
      ['2.2', 'Completed', null],
    ]);
    const bypassed = doc.jobs.find((j) => j.job_key === '2.1');
    expect((bypassed?.operator_actions ?? []).map((a) => [a.action, a.reason, a.requested_by])).toEqual([
      ['bypass', 'reloaded by hand', me],
    ]);
    sameAsClean('bypass', doc);
  });
});
