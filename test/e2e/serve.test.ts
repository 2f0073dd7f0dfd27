/**
 * `rsqlo serve` with real processes on a real home (issue 12, item 1): one server runs workflows
 * submitted by `rsqlo run` from other processes at the same time, answers the other commands,
 * refuses a second server, and leaves nothing that blocks the home when it is killed.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobAuditRecord, WorkflowAuditRecord } from '../../contracts/audit.js';
import type { RunSummary } from '../../contracts/run-view.js';
import { until } from '../support/processes.js';
import { type Workspace, workspace } from '../support/workspace.js';
import { processGroup, waitFor, workflowDir } from './serve-helper.js';

type Doc = { workflow: WorkflowAuditRecord; jobs: JobAuditRecord[] };

describe('rsqlo serve (real processes, real home)', () => {
  let ws: Workspace;
  const group = processGroup();
  const start = group.start;
  const serve = () => group.serve(ws.home);

  afterEach(() => group.cleanup(ws?.dir));

  it('runs two workflows started from two processes at once; the commands go to it; a second serve is refused (exit 3)', async () => {
    ws = workspace('rsqlo-serve-');
    // Each job waits for a file the other writes: both can only finish if they run at the same time.
    const a = workflowDir(ws, 'wf_alpha', {
      'alpha.sh': `touch ${ws.dir}/alpha.started\n${waitFor(`${ws.dir}/beta.started`)}\necho alpha done`,
    });
    const b = workflowDir(ws, 'wf_beta', {
      'beta.sh': `touch ${ws.dir}/beta.started\n${waitFor(`${ws.dir}/alpha.started`)}\necho beta done`,
    });
    const server = await serve();
    const runA = start(['run', a, '--home', ws.home, '--execution-id', 'alpha-1']);
    const runB = start(['run', b, '--home', ws.home, '--execution-id', 'beta-1']);
    expect(await runA.exit, runA.stderr()).toBe(0);
    expect(await runB.exit, runB.stderr()).toBe(0);
    // Both were run by the server, and each client printed its run's progress and summary.
    expect(server.p.stdout()).toContain('run of wf_alpha requested as alpha-1');
    expect(server.p.stdout()).toContain('run of wf_beta requested as beta-1');
    expect(runA.stdout()).toContain('job 1.1 alpha.sh Completed exit 0');
    expect(runA.stdout()).toContain('wf_alpha alpha-1: Completed (1 completed');
    expect(runB.stdout()).toContain('wf_beta beta-1: Completed (1 completed');

    // runs --json lists both (relayed to the server); status too.
    const runs = start(['runs', '--home', ws.home, '--json']);
    expect(await runs.exit, runs.stderr()).toBe(0);
    const listed = JSON.parse(runs.stdout()) as RunSummary[];
    expect(listed.map((r) => [r.workflow_execution_id, r.execution_status]).sort()).toEqual([
      ['alpha-1', 'Completed'],
      ['beta-1', 'Completed'],
    ]);
    const st = start(['status', 'beta-1', '--home', ws.home, '--json']);
    expect(await st.exit).toBe(0);
    expect((JSON.parse(st.stdout()) as Doc).jobs.map((j) => j.execution_status)).toEqual(['Completed']);
    // The same through the web view's API on the TCP port.
    const api = (await (await fetch(`${server.url}/api/runs`)).json()) as { runs: RunSummary[] };
    expect(api.runs.map((r) => r.workflow_execution_id).sort()).toEqual(['alpha-1', 'beta-1']);

    // A second server on the same home is refused, naming the owner.
    const second = start(['serve', '--home', ws.home, '--port', '0', '--no-database']);
    expect(await second.exit).toBe(3);
    expect(second.stderr()).toContain(
      `is owned by rsqlo serve (pid ${server.p.child.pid}) at ${server.url}/`,
    );

    // kill through the server: the run client sees its run end Cancelled.
    const slow = workflowDir(ws, 'wf_slow', {
      'slow.sh': `touch ${ws.dir}/$RSQLO_EXECUTION_ID.started\n${waitFor(`${ws.dir}/never`)}`,
    });
    const runS = start(['run', slow, '--home', ws.home, '--execution-id', 'slow-1']);
    await until(() => existsSync(`${ws.dir}/slow-1.started`), 'the slow job to start', 60_000);
    const kill = start(['kill', 'slow-1', '--home', ws.home]);
    expect(await kill.exit, kill.stderr()).toBe(0);
    expect(kill.stdout()).toContain('slow-1 is Cancelled');
    expect(await runS.exit).toBe(1);
    expect(runS.stdout()).toContain('wf_slow slow-1: Cancelled');

    // Ctrl-C of a client following its run: the server kills the run, the client exits 130.
    const runC = start(['run', slow, '--home', ws.home, '--execution-id', 'slow-2']);
    await until(() => existsSync(`${ws.dir}/slow-2.started`), 'the second slow job to start', 60_000);
    runC.child.kill('SIGINT');
    expect(await runC.exit).toBe(130);
    expect(runC.stdout()).toContain('wf_slow slow-2: Cancelled');

    // logs is answered by the server too, with the job's output.
    const logs = start(['logs', 'alpha-1', '--home', ws.home]);
    expect(await logs.exit, logs.stderr()).toBe(0);
    expect(logs.stdout()).toContain('alpha done');

    // SIGTERM stops the server; it takes its socket and serve.json with it.
    server.p.child.kill('SIGTERM');
    expect(await server.p.exit).toBe(0);
    expect(existsSync(path.join(ws.home, 'serve.sock'))).toBe(false);
    expect(existsSync(path.join(ws.home, 'serve.json'))).toBe(false);
  }, 300_000);

  it('kill -9 of the server mid-run: the client says so, its stale socket blocks nothing, resume settles every run and no job runs twice', async () => {
    ws = workspace('rsqlo-serve-kill-');
    const ledger = path.join(ws.dir, 'ledger');
    const x = workflowDir(ws, 'wf_x', {
      'first.sh': `echo "$RSQLO_EXECUTION_ID $RSQLO_JOB_KEY $RSQLO_ATTEMPT" >> ${ledger}\ntouch ${ws.dir}/x.started\n${waitFor(`${ws.dir}/go`)}`,
      'second.sh': `echo "$RSQLO_EXECUTION_ID $RSQLO_JOB_KEY $RSQLO_ATTEMPT" >> ${ledger}`,
    });
    const y = workflowDir(ws, 'wf_y', {
      'y.sh': `echo "$RSQLO_EXECUTION_ID $RSQLO_JOB_KEY $RSQLO_ATTEMPT" >> ${ledger}`,
    });
    const server = await serve();
    const runX = start(['run', x, '--home', ws.home, '--execution-id', 'x-1']);
    await until(() => existsSync(`${ws.dir}/x.started`), 'the first job to start', 60_000);

    process.kill(server.p.child.pid as number, 'SIGKILL');
    expect(await server.p.exit).toBe('SIGKILL');
    expect(await runX.exit).toBe(1);
    expect(runX.stderr()).toContain(`the server (pid ${server.p.child.pid}) stopped before x-1 ended`);
    // The dead server's socket file is still there; nobody answers on it.
    expect(existsSync(path.join(ws.home, 'serve.sock'))).toBe(true);

    // rsqlo run works without a server, as before (in its own process, taking the home).
    const runY = start(['run', y, '--home', ws.home, '--no-database', '--execution-id', 'y-1']);
    expect(await runY.exit, runY.stderr()).toBe(0);
    expect(runY.stdout()).toContain('wf_y y-1: Completed');

    // The first job is still running (it outlived the server); let it finish, then resume.
    writeFileSync(path.join(ws.dir, 'go'), '');
    const resume = start(['resume', '--home', ws.home, '--no-database']);
    expect(await resume.exit, `${resume.stdout()}\n${resume.stderr()}`).toBe(0);
    const st = start(['status', 'x-1', '--home', ws.home, '--json']);
    expect(await st.exit).toBe(0);
    const doc = JSON.parse(st.stdout()) as Doc;
    expect(doc.workflow.execution_status).toBe('Completed');
    expect(doc.jobs.map((j) => [j.job_key, j.execution_status, j.attempt])).toEqual([
      ['1.1', 'Completed', 1],
      ['1.2', 'Completed', 1],
    ]);
    // Every job ran exactly once.
    expect(readFileSync(ledger, 'utf8').trim().split('\n').sort()).toEqual([
      'x-1 1.1 1',
      'x-1 1.2 1',
      'y-1 1.1 1',
    ]);
  }, 300_000);

  it('SIGTERM stops the server while a job runs; the job goes on and the next serve adopts and finishes the run', async () => {
    ws = workspace('rsqlo-serve-term-');
    const ledger = path.join(ws.dir, 'ledger');
    const w = workflowDir(ws, 'wf_t', {
      'long.sh': `echo "$RSQLO_JOB_KEY" >> ${ledger}\ntouch ${ws.dir}/t.started\n${waitFor(`${ws.dir}/go`)}`,
      'after.sh': `echo "$RSQLO_JOB_KEY" >> ${ledger}`,
    });
    const first = await serve();
    const run = start(['run', w, '--home', ws.home, '--execution-id', 't-1']);
    await until(() => existsSync(`${ws.dir}/t.started`), 'the long job to start', 60_000);
    first.p.child.kill('SIGTERM');
    expect(await first.p.exit).toBe(0);
    expect(first.p.stdout()).toContain('1 running job(s) go on and the next engine');
    expect(await run.exit).toBe(1);
    expect(run.stderr()).toContain('stopped before t-1 ended; the next engine adopts its jobs');

    const second = await serve();
    // Said right after the URL line, in a write of its own: wait for it, do not race it.
    await until(
      () => second.p.stdout().includes('resuming 1 unfinished run(s)'),
      `the second server to say it resumes t-1 (stdout: ${second.p.stdout()})`,
      30_000,
    );
    writeFileSync(path.join(ws.dir, 'go'), '');
    await until(async () => {
      const st = start(['status', 't-1', '--home', ws.home, '--json']);
      if ((await st.exit) !== 0) return false;
      return (JSON.parse(st.stdout()) as Doc).workflow.execution_status === 'Completed';
    }, 't-1 to complete in the second server');
    second.p.child.kill('SIGTERM');
    expect(await second.p.exit).toBe(0);
    expect(readFileSync(ledger, 'utf8').trim().split('\n')).toEqual(['1.1', '1.2']);
  }, 300_000);
});
