/**
 * The narrow ports the web run view is written against. The local engine implements them over its
 * SQLite store and log files (runtime/local/run-view-source.ts, runtime/local/log-source.ts); AWS
 * will implement them over the audit tables and CloudWatch Logs. `rsqlo serve` wires the actions.
 */
import type {
  ActionName,
  ActionResult,
  AttemptRef,
  LogEvent,
  PoolView,
  RunDetail,
  RunList,
  RunListQuery,
  RunSummary,
  WorkflowDefinitionView,
  WorkflowSummary,
} from '../contracts/run-view.js';

/**
 * Tells listeners that something may have changed (a commit by anyone). Coarse on purpose: the
 * view re-reads what it shows and sends it only when it differs. Listeners must be cheap.
 */
export interface ChangeSignal {
  /** Calls `listener` after changes until the returned function is called. */
  subscribe(listener: () => void): () => void;
}

/** The read model: everything the pages show, read-only. */
export interface RunViewSource {
  /** Runs of every workflow, newest first, filtered. */
  listRuns(query: RunListQuery): Promise<RunList>;
  /** One run with its stages, jobs and attempts; undefined when there is no such run. */
  getRun(executionId: string): Promise<RunDetail | undefined>;
  /** A workflow's runs, newest first, at most `limit`. */
  workflowHistory(workflowId: string, limit: number): Promise<RunSummary[]>;
  /** A workflow's stored definition; undefined when it was never stored. */
  getDefinition(workflowId: string): Promise<WorkflowDefinitionView | undefined>;
  /** Every workflow that is defined or has run, by id. */
  listWorkflows(): Promise<WorkflowSummary[]>;
  readonly changes: ChangeSignal;
}

export interface LogStreamOptions {
  /** Start with the last N lines (default: the whole log from `cursor`, or from the start). */
  tailLines?: number;
  /** Resume right after the lines a previous stream ended with (its last `cursor`). */
  cursor?: string;
  /** Keep going as the attempt writes, until it ends (default false: stop at the current end). */
  follow?: boolean;
  /** Stops the stream (the reader went away). */
  signal?: AbortSignal;
}

/**
 * A job attempt's log. Implementations read in bounded chunks: memory stays constant whatever the
 * log's size, and a slow reader slows the reading (the stream is pulled).
 */
export interface LogSource {
  stream(ref: AttemptRef, opts: LogStreamOptions): AsyncIterable<LogEvent>;
}

/** What an action is given besides the run id. */
export interface ActionContext {
  /** Who asked (shown in the audit where the runtime records it). */
  requestedBy: string;
  /** The job a job action (set OK, rerun, bypass) is about. */
  jobKey?: string;
  /** Why (the confirmation's reason field), kept in the audit. */
  reason?: string;
}

/**
 * Resource pools (issue 14): the runs page's pools panel. Setting the slots is a request, as every
 * operator action: `ok: false` when refused.
 */
export interface PoolActions {
  list(): Promise<PoolView[]>;
  setSlots(pool: string, slots: number, ctx: ActionContext): Promise<ActionResult>;
}

/**
 * Operator actions on a run. A missing entry is shown as unavailable ("not available here").
 * Implementations refuse what the rules refuse (e.g. killing a finished run) with `ok: false`.
 */
export type RunActions = Partial<
  Record<ActionName, (executionId: string, ctx: ActionContext) => Promise<ActionResult>>
>;

/** A query the read model cannot answer as asked (a malformed cursor, say); the server answers 400. */
export class BadQueryError extends Error {
  override name = 'BadQueryError';
}
