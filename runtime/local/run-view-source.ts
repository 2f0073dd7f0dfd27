import { existsSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import {
  isTerminalJobStatus,
  type JobAuditRecord,
  type StageProgress,
  type WorkflowRunState,
} from '../../contracts/audit.js';
import type {
  AttemptRef,
  JobAttemptView,
  JobView,
  RunDetail,
  RunList,
  RunListQuery,
  RunSummary,
  StageView,
  WorkflowDefinitionView,
  WorkflowSummary,
} from '../../contracts/run-view.js';
import { BadQueryError, type ChangeSignal, type RunViewSource } from '../../web/ports.js';
import { SCHEMA_VERSION, StoreVersionError } from './store.js';

export interface LocalRunViewSourceOptions {
  /** The engine home: the read model opens `<home>/rsqlo.db` read-only (when it exists). */
  home: string;
  /**
   * How often the change signal asks SQLite whether another connection committed
   * (`PRAGMA data_version`), while anyone listens. Default 200 ms: one cheap call, no disk read.
   */
  pollMs?: number;
}

/** Where an attempt's log is, and whether the attempt can still write to it. */
export interface AttemptLog {
  /** The log file (null when the attempt never started and none is expected). */
  file: string | null;
  /** The attempt is over: its log will not grow. */
  finished: boolean;
}

/**
 * The web view's read model over the local engine's SQLite store: read-only SQL on the store's
 * tables (runs, jobs, definitions) through its own read-only connection, so it never takes a
 * write lock and works beside an engine in this process or another. The home may not exist yet:
 * until the engine creates its state file, every list is empty.
 */
export class LocalRunViewSource implements RunViewSource {
  readonly changes: ChangeSignal & { notify(): void };
  private readonly file: string;
  private db: Database.Database | undefined;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly listeners = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;
  private lastVersion: number | undefined;
  private closed = false;

  constructor(private readonly opts: LocalRunViewSourceOptions) {
    this.file = path.join(path.resolve(opts.home), 'rsqlo.db');
    this.wasMissing = !existsSync(this.file);
    this.changes = {
      subscribe: (listener) => this.subscribe(listener),
      notify: () => this.emit(),
    };
  }

  /** The engine home this source reads. */
  get home(): string {
    return path.dirname(this.file);
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.listeners.clear();
    this.db?.close();
    this.db = undefined;
  }

  // ---- the connection ------------------------------------------------------------------------

  private conn(): Database.Database | undefined {
    if (this.db) return this.db;
    if (this.closed || !existsSync(this.file)) return undefined;
    const db = new Database(this.file, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 2000');
    this.db = db;
    return db;
  }

  /** A prepared statement; undefined while the store has no schema yet. */
  private st(sql: string): Database.Statement | undefined {
    const db = this.conn();
    if (!db) return undefined;
    let s = this.statements.get(sql);
    if (!s) {
      try {
        this.checkVersion(db);
        s = db.prepare(sql);
      } catch (err) {
        if (err instanceof Database.SqliteError && /no such table/.test(err.message)) return undefined;
        throw err;
      }
      this.statements.set(sql, s);
    }
    return s;
  }

  private versionChecked = false;

  private checkVersion(db: Database.Database): void {
    if (this.versionChecked) return;
    const row = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as
      | { value: string }
      | undefined;
    if (row && Number(row.value) > SCHEMA_VERSION)
      throw new StoreVersionError(
        `${this.file} was written by a newer rsqlo (schema ${row.value}); upgrade rsqlo`,
      );
    this.versionChecked = true;
  }

  /** Runs `fn` in one read transaction, so what it reads is one consistent snapshot. */
  private read<T>(fn: () => T): T {
    const db = this.conn();
    if (!db) return fn();
    return db.transaction(fn)();
  }

  // ---- the change signal ---------------------------------------------------------------------

  private subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    if (!this.timer && !this.closed) {
      // The version now is the baseline: a commit from here on is a change.
      if (this.lastVersion === undefined) this.poll();
      this.timer = setInterval(() => this.poll(), this.opts.pollMs ?? 200);
      this.timer.unref();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    };
  }

  /**
   * `PRAGMA data_version` changes when another connection commits to the file; the engine writes
   * through its own connection, so every engine commit is seen here. The first poll after the state
   * file appears counts as a change (the engine has just created it).
   */
  private poll(): void {
    let version: number | undefined;
    try {
      version = this.conn()?.pragma('data_version', { simple: true }) as number | undefined;
    } catch {
      return;
    }
    if (version === undefined) return;
    const first = this.lastVersion === undefined;
    const changed = this.lastVersion !== version;
    this.lastVersion = version;
    if (changed && (!first || this.wasMissing)) this.emit();
    this.wasMissing = false;
  }

  private wasMissing: boolean;

  private emit(): void {
    for (const l of [...this.listeners]) {
      try {
        l();
      } catch {
        // a listener's failure is its own
      }
    }
  }

  // ---- RunViewSource ---------------------------------------------------------------------------

  async listRuns(q: RunListQuery): Promise<RunList> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.workflow_id !== undefined) {
      where.push('workflow_id = ?');
      args.push(q.workflow_id);
    }
    if (q.status !== undefined) {
      where.push('status = ?');
      args.push(q.status);
    }
    if (q.before !== undefined) {
      const [ts, id] = decodeCursor(q.before);
      where.push('(start_ts < ? OR (start_ts = ? AND id < ?))');
      args.push(ts, ts, id);
    }
    const sql = `SELECT id, start_ts, body FROM runs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY start_ts DESC, id DESC LIMIT ?`;
    const rows = (this.st(sql)?.all(...args, q.limit + 1) ?? []) as Array<{
      id: string;
      start_ts: string;
      body: string;
    }>;
    const page = rows.slice(0, q.limit);
    const last = page[page.length - 1];
    return {
      runs: page.map((r) => summary(JSON.parse(r.body) as WorkflowRunState)),
      next: rows.length > q.limit && last ? encodeCursor(last.start_ts, last.id) : null,
    };
  }

  async getRun(executionId: string): Promise<RunDetail | undefined> {
    return this.read(() => {
      const row = this.st('SELECT body FROM runs WHERE id = ?')?.get(executionId) as
        | { body: string }
        | undefined;
      if (!row) return undefined;
      const run = JSON.parse(row.body) as WorkflowRunState;
      const jobs = (
        (this.st('SELECT body FROM jobs WHERE exec = ? ORDER BY stage, job_no')?.all(executionId) ??
          []) as Array<{
          body: string;
        }>
      ).map((r) => jobView(JSON.parse(r.body) as JobAuditRecord));
      const restarts = (this.st(
        "SELECT id FROM runs WHERE workflow_id = ? AND json_extract(body, '$.restart_of') = ? ORDER BY start_ts, id",
      )?.all(run.workflow_id, executionId) ?? []) as Array<{ id: string }>;
      return {
        run: summary(run),
        parameters: run.parameters ?? {},
        stages: run.stages.map(stageView),
        jobs,
        restarted_as: restarts.map((r) => r.id),
      };
    });
  }

  async workflowHistory(workflowId: string, limit: number): Promise<RunSummary[]> {
    const rows = (this.st(
      'SELECT body FROM runs WHERE workflow_id = ? ORDER BY start_ts DESC, id DESC LIMIT ?',
    )?.all(workflowId, limit) ?? []) as Array<{ body: string }>;
    return rows.map((r) => summary(JSON.parse(r.body) as WorkflowRunState));
  }

  async getDefinition(workflowId: string): Promise<WorkflowDefinitionView | undefined> {
    const row = this.st('SELECT body, script_root, updated_at FROM definitions WHERE workflow_id = ?')?.get(
      workflowId,
    ) as { body: string; script_root: string; updated_at: string } | undefined;
    if (!row) return undefined;
    return {
      workflow_id: workflowId,
      definition: JSON.parse(row.body) as Record<string, unknown>,
      script_root: row.script_root,
      updated_at: row.updated_at,
    };
  }

  async listWorkflows(): Promise<WorkflowSummary[]> {
    return this.read(() => {
      const rows = (this.st(
        `SELECT w.workflow_id AS id, d.body AS def,
           (SELECT r.body FROM runs r WHERE r.workflow_id = w.workflow_id ORDER BY r.start_ts DESC, r.id DESC LIMIT 1) AS last
         FROM (SELECT workflow_id FROM definitions UNION SELECT workflow_id FROM runs) w
         LEFT JOIN definitions d ON d.workflow_id = w.workflow_id
         ORDER BY w.workflow_id`,
      )?.all() ?? []) as Array<{ id: string; def: string | null; last: string | null }>;
      return rows.map((r) => {
        const last = r.last ? summary(JSON.parse(r.last) as WorkflowRunState) : null;
        const def = r.def ? (JSON.parse(r.def) as { workflow_description?: unknown }) : undefined;
        const description =
          typeof def?.workflow_description === 'string'
            ? def.workflow_description
            : (last?.workflow_description ?? null);
        return { workflow_id: r.id, workflow_description: description, last_run: last };
      });
    });
  }

  /**
   * Where an attempt's log is (for the log source): the log location the job record holds for that
   * attempt, or, for an attempt that has not started yet, where the local agent will write it.
   * Undefined when the run, job or attempt does not exist.
   */
  attemptLog(ref: AttemptRef): AttemptLog | undefined {
    const [stage, jobNo] = ref.job_key.split('.').map(Number);
    const row = this.st('SELECT body FROM jobs WHERE exec = ? AND stage = ? AND job_no = ?')?.get(
      ref.workflow_execution_id,
      stage,
      jobNo,
    ) as { body: string } | undefined;
    if (!row) return undefined;
    const job = JSON.parse(row.body) as JobAuditRecord;
    if (ref.attempt === job.attempt) {
      const finished = isTerminalJobStatus(job.execution_status);
      const expected = path.join(
        this.home,
        'logs',
        ref.workflow_execution_id,
        `${ref.job_key}.a${ref.attempt}.log`,
      );
      return { file: job.log_location ?? (finished ? null : expected), finished };
    }
    const prev = job.previous_attempts.find((a) => a.attempt === ref.attempt);
    if (!prev) return undefined;
    return { file: prev.log_location, finished: true };
  }
}

/** Opens the read model of an engine home. */
export function createLocalRunViewSource(opts: LocalRunViewSourceOptions): LocalRunViewSource {
  return new LocalRunViewSource(opts);
}

/** A run as the run view lists it (shared with the view served from a stack, cli/aws-run-view.ts). */
export function summary(run: WorkflowRunState): RunSummary {
  return {
    workflow_execution_id: run.workflow_execution_id,
    workflow_id: run.workflow_id,
    workflow_description: run.workflow_description ?? null,
    execution_status: run.execution_status,
    execution_start_ts: run.execution_start_ts,
    execution_end_ts: run.execution_end_ts,
    restart_of: run.restart_of ?? null,
    cancel_requested: run.cancel_requested === true,
    current_stage: run.current_stage ?? null,
    counts: run.counts,
    // Held (issue 14): the run stays Running underneath; the view shows Held.
    held: run.execution_status === 'Running' && run.hold_state?.held === true,
    hold_state: run.hold_state ?? null,
  };
}

export function stageView(st: StageProgress): StageView {
  return {
    stage: st.stage,
    stage_description: st.stage_description,
    execution_type: st.execution_type,
    enabled: st.enabled,
    max_concurrency: st.max_concurrency,
    status: st.status,
    started_at: st.started_at,
    finished_at: st.finished_at,
    counts: {
      total: st.total,
      completed: st.completed,
      failed: st.failed,
      timed_out: st.timed_out,
      cancelled: st.cancelled,
      skipped: st.skipped,
    },
  };
}

export function jobView(job: JobAuditRecord): JobView {
  const previous: JobAttemptView[] = [...job.previous_attempts]
    .filter((a) => a.attempt < job.attempt)
    .sort((a, b) => a.attempt - b.attempt)
    .map((a) => ({
      attempt: a.attempt,
      execution_status: a.execution_status,
      execution_start_ts: a.execution_start_ts,
      execution_end_ts: a.execution_end_ts,
      exit_code: a.exit_code,
      error_message: a.error_message,
      instance_id: a.instance_id,
      has_log: a.log_location !== null,
    }));
  const current: JobAttemptView = {
    attempt: job.attempt,
    execution_status: job.execution_status,
    execution_start_ts: job.execution_start_ts,
    execution_end_ts: job.execution_end_ts,
    exit_code: job.exit_code,
    error_message: job.error_message,
    instance_id: job.instance_id,
    has_log: job.log_location !== null || !isTerminalJobStatus(job.execution_status),
  };
  return {
    job_key: job.job_key,
    job_name: job.job_name,
    stage: job.stage,
    job_no: job.job_no,
    execution_status: job.execution_status,
    attempt: job.attempt,
    max_attempts: job.max_attempts,
    skip_reason: job.skip_reason,
    args: job.args,
    timeout_seconds: job.timeout_seconds,
    not_before: job.not_before,
    attempts: [...previous, current],
    waiting_for: job.waiting_for ?? null,
    operator_actions: job.operator_actions ?? [],
  };
}

/** The runs list's page cursor: the last row's (start time, id), opaque to the browser. */
function encodeCursor(startTs: string, id: string): string {
  return Buffer.from(JSON.stringify([startTs, id])).toString('base64url');
}

function decodeCursor(cursor: string): [string, string] {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string')
      return [v[0], v[1]];
  } catch {
    // below
  }
  throw new BadQueryError('"before" is not a cursor this list returned');
}
