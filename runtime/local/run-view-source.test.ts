import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { JobAuditRecord, WorkflowAuditRecord } from '../../contracts/audit.js';
import {
  RunDetail,
  RunList,
  RunListQuery,
  RunSummary,
  WorkflowDefinitionView,
  WorkflowSummary,
} from '../../contracts/run-view.js';
import { cli, stages, type Workspace, workspace } from '../../test/support/workspace.js';
import { BadQueryError } from '../../web/ports.js';
import { createLocalRunViewSource } from './run-view-source.js';
import { LocalStore } from './store.js';

type Doc = { workflow: WorkflowAuditRecord; jobs: JobAuditRecord[] };

/** Waits for a signal, with a deadline (never a fixed sleep). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(new Error(what)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

/**
 * One home, written by real runs of the local engine: a workflow with a retried job, a parallel
 * stage and a disabled one; a failing workflow and its restart.
 */
let ws: Workspace;
let mixed: Doc;
let failed: Doc;
let restarted: Doc;

beforeAll(async () => {
  ws = workspace('rsqlo-view-');
  ws.script('ok.sh', 'echo "one"\necho "two"');
  ws.script(
    'flaky.sh',
    'if [ "$RSQLO_ATTEMPT" = 1 ]; then echo "first try fails" >&2; exit 7; fi\necho "second try works"',
  );
  ws.script('p1.sh', 'echo p1');
  ws.script('p2.sh', 'echo p2');
  ws.script('off.sh', 'echo never');
  const mixedFile = ws.workflow({
    workflow_id: 'view_mixed',
    workflow_description: 'Mixed <b>workflow</b>',
    defaults: { retry_backoff_seconds: 1 },
    parameters: { REGION: 'eu' },
    workflow_stages: [
      ...stages(
        ['sequential', ['ok.sh', { script: 'flaky.sh', retries: 1 }]],
        ['parallel', ['p1.sh', 'p2.sh']],
      ),
      { execution_flag: 'n', execution_type: 'sequential', scripts: ['off.sh'] },
    ],
  });
  const r1 = await cli(['run', mixedFile, '--home', ws.home, '--json']);
  expect(r1.code).toBe(0);
  mixed = JSON.parse(r1.stdout) as Doc;

  ws.script('maybe.sh', `if [ -e ${ws.dir}/broken ]; then echo "boom <script>" >&2; exit 3; fi`);
  writeFileSync(path.join(ws.dir, 'broken'), '');
  const failFile = path.join(ws.dir, 'fail.json');
  writeFileSync(
    failFile,
    JSON.stringify({
      workflow_id: 'view_fail',
      workflow_stages: stages(['sequential', ['ok.sh', 'maybe.sh']]),
    }),
  );
  const r2 = await cli(['run', failFile, '--scripts', ws.scripts, '--home', ws.home, '--json']);
  expect(r2.code).toBe(1);
  failed = JSON.parse(r2.stdout) as Doc;
  rmSync(path.join(ws.dir, 'broken'));
  const r3 = await cli(['restart', failed.workflow.workflow_execution_id, '--home', ws.home, '--json']);
  expect(r3.code).toBe(0);
  restarted = JSON.parse(r3.stdout) as Doc;
}, 120_000);

describe('LocalRunViewSource over a real engine home', () => {
  it('lists every run newest first, filters by workflow and status, and pages with a cursor', async () => {
    const src = createLocalRunViewSource({ home: ws.home });
    try {
      const all = RunList.parse(await src.listRuns(RunListQuery.parse({})));
      expect(all.runs.map((r) => r.workflow_execution_id)).toEqual([
        restarted.workflow.workflow_execution_id,
        failed.workflow.workflow_execution_id,
        mixed.workflow.workflow_execution_id,
      ]);
      expect(all.next).toBeNull();
      expect(all.runs[0]).toMatchObject({
        workflow_id: 'view_fail',
        execution_status: 'Completed',
        restart_of: failed.workflow.workflow_execution_id,
      });
      expect(all.runs[2]).toMatchObject({
        workflow_description: 'Mixed <b>workflow</b>',
        counts: { total: 5, completed: 4, skipped: 1, failed: 0 },
      });

      const byWorkflow = await src.listRuns(RunListQuery.parse({ workflow_id: 'view_fail' }));
      expect(byWorkflow.runs.map((r) => r.workflow_execution_id)).toEqual([
        restarted.workflow.workflow_execution_id,
        failed.workflow.workflow_execution_id,
      ]);
      const byStatus = await src.listRuns(RunListQuery.parse({ status: 'Failed' }));
      expect(byStatus.runs.map((r) => r.workflow_execution_id)).toEqual([
        failed.workflow.workflow_execution_id,
      ]);
      const both = await src.listRuns(RunListQuery.parse({ workflow_id: 'view_mixed', status: 'Failed' }));
      expect(both.runs).toEqual([]);

      const p1 = await src.listRuns(RunListQuery.parse({ limit: 2 }));
      expect(p1.runs).toHaveLength(2);
      expect(p1.next).not.toBeNull();
      const p2 = await src.listRuns(RunListQuery.parse({ limit: 2, before: p1.next }));
      expect(p2.runs.map((r) => r.workflow_execution_id)).toEqual([mixed.workflow.workflow_execution_id]);
      expect(p2.next).toBeNull();
      await expect(src.listRuns(RunListQuery.parse({ before: 'not-a-cursor' }))).rejects.toBeInstanceOf(
        BadQueryError,
      );
    } finally {
      src.close();
    }
  });

  it('gives one run with its stages, jobs and every attempt, as the audit records say', async () => {
    const src = createLocalRunViewSource({ home: ws.home });
    try {
      const d = RunDetail.parse(await src.getRun(mixed.workflow.workflow_execution_id));
      expect(d.parameters).toEqual({ REGION: 'eu' });
      expect(d.stages.map((s) => [s.stage, s.execution_type, s.enabled, s.status])).toEqual([
        [1, 'sequential', true, 'Completed'],
        [2, 'parallel', true, 'Completed'],
        [3, 'sequential', false, 'Skipped'],
      ]);
      expect(d.stages[0]?.started_at).toBe(mixed.workflow.stages[0]?.started_at);
      expect(d.jobs.map((j) => [j.job_key, j.job_name, j.execution_status, j.attempts.length])).toEqual([
        ['1.1', 'ok.sh', 'Completed', 1],
        ['1.2', 'flaky.sh', 'Completed', 2],
        ['2.1', 'p1.sh', 'Completed', 1],
        ['2.2', 'p2.sh', 'Completed', 1],
        ['3.1', 'off.sh', 'Skipped', 1],
      ]);
      const flaky = d.jobs[1]!;
      const audit = mixed.jobs.find((j) => j.job_key === '1.2')!;
      expect(flaky.max_attempts).toBe(2);
      expect(flaky.attempts[0]).toMatchObject({
        attempt: 1,
        execution_status: 'Failed',
        exit_code: 7,
        error_message: 'first try fails',
        execution_start_ts: audit.previous_attempts[0]?.execution_start_ts,
        execution_end_ts: audit.previous_attempts[0]?.execution_end_ts,
        has_log: true,
      });
      expect(flaky.attempts[1]).toMatchObject({
        attempt: 2,
        execution_status: 'Completed',
        exit_code: 0,
        error_message: null,
        execution_start_ts: audit.execution_start_ts,
        execution_end_ts: audit.execution_end_ts,
      });
      // Attempt 2 started after attempt 1 ended (the backoff in between).
      expect(Date.parse(flaky.attempts[1]!.execution_start_ts!)).toBeGreaterThanOrEqual(
        Date.parse(flaky.attempts[0]!.execution_end_ts!),
      );
      expect(d.jobs[4]).toMatchObject({ skip_reason: expect.stringMatching(/stage 3 is disabled/) });
      expect(d.jobs[4]?.attempts[0]).toMatchObject({ execution_start_ts: null, has_log: false });
      expect(d.restarted_as).toEqual([]);

      const f = RunDetail.parse(await src.getRun(failed.workflow.workflow_execution_id));
      expect(f.run.execution_status).toBe('Failed');
      expect(f.jobs[1]).toMatchObject({ execution_status: 'Failed' });
      expect(f.jobs[1]?.attempts[0]).toMatchObject({ exit_code: 3, error_message: 'boom <script>' });
      expect(f.restarted_as).toEqual([restarted.workflow.workflow_execution_id]);
      const r = RunDetail.parse(await src.getRun(restarted.workflow.workflow_execution_id));
      expect(r.jobs[0]).toMatchObject({
        execution_status: 'Skipped',
        skip_reason: `completed in run ${failed.workflow.workflow_execution_id}`,
      });

      expect(await src.getRun('no-such-run')).toBeUndefined();
    } finally {
      src.close();
    }
  });

  it("gives a workflow's history with durations, its definition and the list of workflows", async () => {
    const src = createLocalRunViewSource({ home: ws.home });
    try {
      const h = (await src.workflowHistory('view_fail', 10)).map((r) => RunSummary.parse(r));
      expect(h.map((r) => r.execution_status)).toEqual(['Completed', 'Failed']);
      for (const r of h)
        expect(Date.parse(r.execution_end_ts!)).toBeGreaterThanOrEqual(Date.parse(r.execution_start_ts));
      expect(await src.workflowHistory('view_fail', 1)).toHaveLength(1);
      expect(await src.workflowHistory('nothing', 10)).toEqual([]);

      const def = WorkflowDefinitionView.parse(await src.getDefinition('view_mixed'));
      expect(def.definition).toMatchObject({ workflow_id: 'view_mixed', parameters: { REGION: 'eu' } });
      expect(def.script_root).toBe(ws.scripts);
      expect(await src.getDefinition('nothing')).toBeUndefined();

      const wfs = (await src.listWorkflows()).map((w) => WorkflowSummary.parse(w));
      expect(
        wfs.map((w) => [w.workflow_id, w.workflow_description, w.last_run?.workflow_execution_id]),
      ).toEqual([
        ['view_fail', null, restarted.workflow.workflow_execution_id],
        ['view_mixed', 'Mixed <b>workflow</b>', mixed.workflow.workflow_execution_id],
      ]);
    } finally {
      src.close();
    }
  });

  it('locates attempt logs, current and earlier', async () => {
    const src = createLocalRunViewSource({ home: ws.home });
    try {
      const exec = mixed.workflow.workflow_execution_id;
      const audit = mixed.jobs.find((j) => j.job_key === '1.2')!;
      expect(src.attemptLog({ workflow_execution_id: exec, job_key: '1.2', attempt: 2 })).toEqual({
        file: audit.log_location,
        finished: true,
      });
      expect(src.attemptLog({ workflow_execution_id: exec, job_key: '1.2', attempt: 1 })).toEqual({
        file: audit.previous_attempts[0]?.log_location,
        finished: true,
      });
      expect(src.attemptLog({ workflow_execution_id: exec, job_key: '1.2', attempt: 3 })).toBeUndefined();
      expect(src.attemptLog({ workflow_execution_id: exec, job_key: '3.1', attempt: 1 })).toEqual({
        file: null,
        finished: true,
      });
      expect(src.attemptLog({ workflow_execution_id: exec, job_key: '9.9', attempt: 1 })).toBeUndefined();
    } finally {
      src.close();
    }
  });

  it("signals another connection's commit through PRAGMA data_version, and stops when unsubscribed", async () => {
    const src = createLocalRunViewSource({ home: ws.home, pollMs: 20 });
    const writer = new LocalStore(path.join(ws.home, 'rsqlo.db'));
    try {
      let seen = 0;
      let wake: () => void = () => {};
      const off = src.changes.subscribe(() => {
        seen++;
        wake();
      });
      // Subscribing took the current version as the baseline: commit from another connection.
      const before = seen;
      const changed = new Promise<void>((r) => {
        wake = r;
      });
      writer.putDefinition('view_signal', { workflow_id: 'view_signal', workflow_stages: [] }, ws.scripts);
      await within(changed, 5000, 'no change signal within 5 s');
      expect(seen).toBeGreaterThan(before);
      expect((await src.listWorkflows()).map((w) => w.workflow_id)).toContain('view_signal');
      off();
      // No listener, no polling.
      expect((src as unknown as { timer: unknown }).timer).toBeUndefined();
      // Pushing works without polling (the engine in the same process will push).
      let pushed = 0;
      const off2 = src.changes.subscribe(() => pushed++);
      src.changes.notify();
      expect(pushed).toBe(1);
      off2();
    } finally {
      writer.close();
      src.close();
    }
  });

  it('reads nothing (and fails nothing) before the engine has created its state, then sees it', async () => {
    const empty = workspace('rsqlo-view-empty-');
    const src = createLocalRunViewSource({ home: empty.home, pollMs: 20 });
    try {
      expect(await src.listRuns(RunListQuery.parse({}))).toEqual({ runs: [], next: null });
      expect(await src.listWorkflows()).toEqual([]);
      expect(await src.getRun('x')).toBeUndefined();
      const appeared = new Promise<void>((resolve) => src.changes.subscribe(resolve));
      empty.script('a.sh', 'true');
      const r = await cli([
        'run',
        empty.workflow({ workflow_id: 'late', workflow_stages: stages(['sequential', ['a.sh']]) }),
        '--home',
        empty.home,
      ]);
      expect(r.code).toBe(0);
      await within(appeared, 10_000, 'no change signal after the state file appeared');
      expect((await src.listRuns(RunListQuery.parse({}))).runs.map((x) => x.workflow_id)).toEqual(['late']);
    } finally {
      src.close();
    }
  });

  it('never writes: its connection is read-only', async () => {
    const src = createLocalRunViewSource({ home: ws.home });
    try {
      await src.listRuns(RunListQuery.parse({}));
      const db = (src as unknown as { db: { exec(sql: string): void } }).db;
      expect(() => db.exec("INSERT INTO meta (key, value) VALUES ('x', 'y')")).toThrow(/readonly/i);
    } finally {
      src.close();
    }
  });
});
