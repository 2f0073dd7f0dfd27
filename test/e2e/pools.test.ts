/**
 * Resource pools on the local engine with real processes (issue 14 acceptance, plan §12 local
 * column): `rsqlo serve` runs two workflows started at once by two `rsqlo run`s, each a parallel
 * stage of 4 jobs in pool `wlm` of 2 slots. Every job appends `+key` when it starts and `-key`
 * when it ends to one ledger file, so the overlap is read from the order of lines, not from the
 * clock. Jobs wait for gate files the test writes (no sleeps): `pool set wlm 0` while two run
 * drains the pool (they finish, none starts), `pool set wlm 2` resumes, all 8 complete.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobAuditRecord, WorkflowAuditRecord } from '../../contracts/audit.js';
import type { PoolView } from '../../contracts/run-view.js';
import { until } from '../support/processes.js';
import { type Workspace, workspace } from '../support/workspace.js';
import { processGroup, waitFor, workflowDir } from './serve-helper.js';

type Doc = { workflow: WorkflowAuditRecord; jobs: JobAuditRecord[] };

/** The most `+` lines open at once in a ledger of `+key` / `-key` lines. */
function maxOverlap(lines: string[]): number {
  let open = 0;
  let most = 0;
  for (const l of lines) {
    if (l.startsWith('+')) most = Math.max(most, ++open);
    else if (l.startsWith('-')) open--;
  }
  return most;
}

// Chaos: every outbox row (requests, PoolResized, PoolSlotFreed, job messages) may be delivered
// twice and out of order; the outcome must be the same.
describe.each([
  ['clean', {}],
  ['chaos', { RSQLO_TEST_CHAOS: 'all' }],
] as const)('resource pools (%s, serve, two workflows, real processes)', (_mode, env) => {
  let ws: Workspace;
  const processes = processGroup();
  const group = {
    start: (argv: string[]) => processes.start(argv, { env }),
    serve: (home: string) => processes.serve(home, [], { env }),
  };
  afterEach(() => processes.cleanup(ws?.dir));

  it('never runs more than 2 of the 8 jobs at once; pool set wlm 0 drains, pool set wlm 2 resumes; all complete', async () => {
    ws = workspace('rsqlo-pools-');
    const ledger = path.join(ws.dir, 'ledger');
    const gate = (key: string) => path.join(ws.dir, `gate.${key}`);
    const job = (key: string) =>
      `echo +${key} >> ${ledger}\n${waitFor(gate(key))}\necho -${key} >> ${ledger}`;
    const workflow = (id: string) => {
      const scripts: Record<string, string> = {};
      for (const n of [1, 2, 3, 4]) scripts[`${id}_${n}.sh`] = job(`${id}_${n}`);
      return workflowDir(ws, id, scripts, {
        pools: { wlm: 2 },
        workflow_stages: [
          { execution_flag: 'y', execution_type: 'parallel', pool: 'wlm', scripts: Object.keys(scripts) },
        ],
      });
    };
    const a = workflow('wf_a');
    const b = workflow('wf_b');
    const server = await group.serve(ws.home);
    const runA = group.start(['run', a, '--home', ws.home, '--execution-id', 'pool-a']);
    const runB = group.start(['run', b, '--home', ws.home, '--execution-id', 'pool-b']);
    const lines = () => (existsSync(ledger) ? readFileSync(ledger, 'utf8').split('\n').filter(Boolean) : []);
    const started = () => lines().filter((l) => l.startsWith('+'));

    // Two slots: two jobs start, the six others wait.
    await until(() => started().length === 2, 'two jobs to take the two slots', 120_000);
    const poolList = async () => {
      const p = group.start(['pool', 'list', '--home', ws.home, '--json']);
      expect(await p.exit, p.stderr()).toBe(0);
      return (JSON.parse(p.stdout()) as PoolView[]).find((x) => x.pool === 'wlm');
    };
    await until(async () => (await poolList())?.waiting === 6, 'six jobs waiting for wlm', 120_000);

    // Drain: the running two finish, nothing new starts.
    const drain = group.start(['pool', 'set', 'wlm', '0', '--reason', 'wlm maintenance', '--home', ws.home]);
    expect(await drain.exit, drain.stderr()).toBe(0);
    expect(drain.stdout()).toMatch(/pool wlm now has 0 slot\(s\) \(was 2\)/);
    for (const l of started()) writeFileSync(gate(l.slice(1)), '');
    await until(
      async () => (await poolList())?.in_use === 0,
      'the running jobs to give their slots back',
      120_000,
    );
    expect(await poolList()).toMatchObject({ slots: 0, in_use: 0, waiting: 6 });
    expect(started()).toHaveLength(2);
    // The server has nothing else to do: a job that was going to start would have by now.
    const text = group.start(['pool', 'list', '--home', ws.home]);
    expect(await text.exit).toBe(0);
    expect(text.stdout()).toMatch(/wlm\s+0\s+0\s+6\s/);
    // The clients following the runs on the server are told why they wait (once), not "stuck".
    await until(() => /waiting for pool wlm \(/.test(runA.stdout()), 'run A to say it waits for wlm', 60_000);
    expect(runA.stdout()).not.toContain('cannot make progress');
    const stA = group.start(['status', 'pool-a', '--home', ws.home]);
    expect(await stA.exit).toBe(0);
    expect(stA.stdout()).toContain('Queued — waiting for pool wlm');
    expect(started()).toHaveLength(2);

    // Resume: every gate open, two slots again; all eight complete, never more than two at once.
    for (const w of ['wf_a', 'wf_b']) for (const n of [1, 2, 3, 4]) writeFileSync(gate(`${w}_${n}`), '');
    const resume = group.start(['pool', 'set', 'wlm', '2', '--home', ws.home]);
    expect(await resume.exit, resume.stderr()).toBe(0);
    expect(await runA.exit, runA.stderr()).toBe(0);
    expect(await runB.exit, runB.stderr()).toBe(0);
    expect(started()).toHaveLength(8);
    expect(maxOverlap(lines())).toBeLessThanOrEqual(2);
    expect(maxOverlap(lines())).toBe(2);
    for (const exec of ['pool-a', 'pool-b']) {
      const st = group.start(['status', exec, '--home', ws.home, '--json']);
      expect(await st.exit).toBe(0);
      const doc = JSON.parse(st.stdout()) as Doc;
      expect(doc.workflow.execution_status).toBe('Completed');
      expect(doc.jobs.map((j) => j.execution_status)).toEqual(Array(4).fill('Completed'));
      expect(doc.jobs.every((j) => j.pool === 'wlm' && j.waiting_for === null)).toBe(true);
    }
    // The pool was made from the definition, and the run that made it said so, once.
    const said =
      `${runA.stdout()}${runB.stdout()}`.split('pool wlm created with 2 slots (from the definition of wf_')
        .length - 1;
    expect(said).toBe(1);
    expect(server.p.child.exitCode).toBeNull();
  });
});
