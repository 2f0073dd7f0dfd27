/**
 * The state file's tables, in one place: what the unit of work creates when it opens a home, and
 * the version an engine checks before it uses a home (the read-only run view checks it too).
 */

/**
 * Bumped when the schema changes; an engine refuses a home written by a newer one, and upgrades an
 * older one when it opens it (the tables are `IF NOT EXISTS`). 2: resource pools and workflow
 * holds (issue 14), so an engine from before them refuses a home that has them.
 */
export const SCHEMA_VERSION = 2;

/**
 * Every table of the state: definitions, runs and jobs (the repositories), the trigger service's
 * index (`trigger_after`: who waits for whom, kept with each definition) and state, the outbox, queue,
 * timers and dead letters (the delivery tables), the local wrapper's job runs, the resource pools
 * (`pools`, their holders per job attempt and waiters in request order) and workflow holds, and
 * `meta` (the schema version). Idempotent: applied on every open.
 */
export const SCHEMA = `
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
CREATE TABLE IF NOT EXISTS pools (
  name TEXT PRIMARY KEY, slots INTEGER NOT NULL, created_by TEXT NOT NULL, created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL, last_change TEXT);
CREATE TABLE IF NOT EXISTS pool_holders (
  pool TEXT NOT NULL, holder TEXT NOT NULL, exec TEXT NOT NULL, job_key TEXT NOT NULL, attempt INTEGER NOT NULL,
  since TEXT NOT NULL, PRIMARY KEY (pool, holder)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pool_waiters (
  pool TEXT NOT NULL, holder TEXT NOT NULL, exec TEXT NOT NULL, job_key TEXT NOT NULL, attempt INTEGER NOT NULL,
  since TEXT NOT NULL, since_ms INTEGER NOT NULL, PRIMARY KEY (pool, holder)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS pool_waiters_order ON pool_waiters (pool, since_ms, holder);
CREATE TABLE IF NOT EXISTS workflow_holds (workflow_id TEXT PRIMARY KEY, body TEXT NOT NULL);
`;
