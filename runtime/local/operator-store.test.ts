import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { RsqloEvent } from '../../contracts/events.js';
import { JobMessage } from '../../contracts/jobs.js';
import { WorkflowDefinition } from '../../contracts/workflow.js';
import { planRun } from '../../services/starter/plan.js';
import { sequential, workflow } from '../../services/testing/fixtures.js';
import {
  describeOperatorRepositoryContract,
  describePoolRepositoryContract,
  type OperatorPortsHarness,
} from '../../services/testing/operator-ports-contract.js';
import { LocalStore, SCHEMA_VERSION, StoreVersionError } from './store.js';

/**
 * The local engine's pools and operator actions (runtime/local/operator-store.ts) against the
 * shared port contract, on a real SQLite file; then what only a file shared by processes can show.
 */
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function home(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'rsqlo-opstore-'));
  dirs.push(d);
  return d;
}

/** The SQLite harness: a fresh state file; events heard as they commit, messages read from the queue. */
function sqliteHarness(file = path.join(home(), 'rsqlo.db')): OperatorPortsHarness & { store: LocalStore } {
  const store = new LocalStore(file);
  const events: RsqloEvent[] = [];
  store.onCommittedEvent((e) =>
    events.push({ detailType: e['detail-type'], detail: e.detail } as RsqloEvent),
  );
  return {
    store,
    pools: store.pools(),
    operator: store.operator(),
    runs: store.runs(),
    jobs: store.jobs(),
    putDefinition: (def) => store.putDefinition(def.workflow_id, def, '/scripts'),
    committed: () => ({
      events: [...events],
      messages: (store.db.prepare('SELECT body FROM queue ORDER BY id').all() as Array<{ body: string }>).map(
        (r) => JobMessage.parse(JSON.parse(r.body)),
      ),
    }),
    close: () => store.close(),
  };
}

describePoolRepositoryContract('SQLite', () => sqliteHarness());
describeOperatorRepositoryContract('SQLite', () => sqliteHarness());

/** The schema of version 1 (main at c312747, before issue 14), as a home made then has it. */
const V1_SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS definitions (
  workflow_id TEXT PRIMARY KEY, body TEXT NOT NULL, script_root TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY, workflow_id TEXT NOT NULL, status TEXT NOT NULL, start_ts TEXT NOT NULL, body TEXT NOT NULL,
  rsql_jobs TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS runs_by_workflow ON runs (workflow_id, start_ts);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status);
CREATE TABLE IF NOT EXISTS jobs (
  exec TEXT NOT NULL, stage INTEGER NOT NULL, job_no INTEGER NOT NULL, status TEXT NOT NULL,
  attempt INTEGER NOT NULL, counted INTEGER NOT NULL, body TEXT NOT NULL,
  PRIMARY KEY (exec, stage, job_no)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (
  id INTEGER PRIMARY KEY, target TEXT NOT NULL, payload TEXT NOT NULL, available_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, copy INTEGER NOT NULL DEFAULT 0, last_error TEXT);
CREATE INDEX IF NOT EXISTS outbox_ready ON outbox (available_at, id);
CREATE TABLE IF NOT EXISTS queue (
  id INTEGER PRIMARY KEY, body TEXT NOT NULL, visible_at INTEGER NOT NULL, receives INTEGER NOT NULL DEFAULT 0,
  copy INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS queue_visible ON queue (visible_at, id);
CREATE TABLE IF NOT EXISTS timers (key TEXT PRIMARY KEY, due_at INTEGER NOT NULL, payload TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS timers_due ON timers (due_at);
CREATE TABLE IF NOT EXISTS job_runs (
  name TEXT PRIMARY KEY, exec TEXT NOT NULL, job_key TEXT NOT NULL, attempt INTEGER NOT NULL,
  status TEXT NOT NULL, input TEXT NOT NULL, command TEXT, pid INTEGER, start_ticks TEXT,
  started_at TEXT, log_file TEXT, exit_file TEXT, ended_at TEXT);
CREATE INDEX IF NOT EXISTS job_runs_active ON job_runs (status);
CREATE TABLE IF NOT EXISTS run_definitions (
  exec TEXT PRIMARY KEY, file TEXT, script_root TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trigger_after (
  upstream TEXT NOT NULL, downstream TEXT NOT NULL, PRIMARY KEY (upstream, downstream)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS trigger_after_downstream ON trigger_after (downstream);
CREATE TABLE IF NOT EXISTS trigger_state (downstream TEXT PRIMARY KEY, version INTEGER NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dead_letters (
  id INTEGER PRIMARY KEY, source TEXT NOT NULL, payload TEXT NOT NULL, error TEXT NOT NULL, at TEXT NOT NULL);
`;

describe('schema version 2 (pools and holds)', () => {
  function v1Home(): string {
    const file = path.join(home(), 'rsqlo.db');
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.exec(V1_SCHEMA);
    db.prepare("INSERT INTO meta (key, value) VALUES ('schema_version', '1')").run();
    const def = WorkflowDefinition.parse(workflow('old_wf', [sequential(['a.sh'])]));
    const p = planRun({ definition: def, workflowExecutionId: 'old-1', now: new Date(), parameters: {} });
    const { rsql_jobs, ...state } = p.run;
    db.prepare(
      'INSERT INTO runs (id, workflow_id, status, start_ts, body, rsql_jobs) VALUES (?, ?, ?, ?, ?, ?)',
    ).run(
      'old-1',
      'old_wf',
      'Running',
      p.run.execution_start_ts,
      JSON.stringify(state),
      JSON.stringify(rsql_jobs),
    );
    for (const j of p.jobs)
      db.prepare(
        'INSERT INTO jobs (exec, stage, job_no, status, attempt, counted, body) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ).run('old-1', j.stage, j.job_no, j.execution_status, j.attempt, 0, JSON.stringify(j));
    db.close();
    return file;
  }

  function version(file: string): string {
    const db = new Database(file, { readonly: true });
    try {
      return (db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string })
        .value;
    } finally {
      db.close();
    }
  }

  it('a home made by version 1 opens, gains the pool and hold tables, keeps its runs, and is version 2 after', async () => {
    expect(SCHEMA_VERSION).toBe(2);
    const file = v1Home();
    const h = sqliteHarness(file);
    expect(version(file)).toBe('2');
    const run = await h.runs.getRun('old-1');
    expect(run).toMatchObject({ workflow_id: 'old_wf', execution_status: 'Running' });
    expect((await h.jobs.listJobs('old-1')).map((j) => j.job_key)).toEqual(['1.1']);
    expect(await h.pools.ensure('wlm', 2, { source: 'operator', created_by: 'operator:x' }, {})).toBe(
      'created',
    );
    const held = {
      held: true,
      scope: 'run' as const,
      reason: null,
      requested_by: 'user:x',
      requested_at: new Date().toISOString(),
      request_id: 'h1',
    };
    expect(
      await h.operator.setRunHold(
        'old-1',
        held,
        {
          action_id: 'h1',
          action: 'hold',
          job_key: null,
          attempt: null,
          previous_status: null,
          reason: null,
          requested_by: 'user:x',
          requested_at: held.requested_at,
          applied_at: held.requested_at,
        },
        {},
      ),
    ).toBe('applied');
    await h.close?.();
    // Opening it again changes nothing.
    new LocalStore(file).close();
    expect(version(file)).toBe('2');
  });

  it('an engine of version 2 refuses a home of version 3, as it refused newer homes before', () => {
    const file = v1Home();
    new LocalStore(file).close();
    const db = new Database(file);
    db.prepare("UPDATE meta SET value = '3' WHERE key = 'schema_version'").run();
    db.close();
    expect(() => new LocalStore(file)).toThrow(StoreVersionError);
    expect(() => new LocalStore(file)).toThrow(/was written by a newer rsqlo \(schema 3\); upgrade rsqlo/);
  });
});
