/**
 * The web run view's ports (web/ports.ts) over a deployed stack: runs and jobs from the audit
 * tables through the services' repositories, definitions from the config table, job logs from
 * CloudWatch Logs, and the actions (kill, restart) as requests on the bus. The shapes are the
 * local read model's own (runtime/local/run-view-source.ts summary/stageView/jobView), so the one
 * browser client shows either, and `rsqlo runs --aws` prints what `rsqlo runs` prints.
 */
import { isTerminalJobStatus, type JobAuditRecord } from '../contracts/audit.js';
import type { RsqloEvent } from '../contracts/events.js';
import { jobRunName } from '../contracts/jobs.js';
import { holdRefusal } from '../contracts/operator.js';
import type {
  ActionResult,
  AttemptRef,
  LogEvent,
  RunDetail,
  RunList,
  RunListQuery,
  RunSummary,
  WorkflowDefinitionView,
  WorkflowSummary,
} from '../contracts/run-view.js';
import { parseLogLocation } from '../runtime/aws/cloudwatch-log-view.js';
import { logStreamName } from '../runtime/aws/cloudwatch-logs.js';
import { jobView, stageView, summary } from '../runtime/local/run-view-source.js';
import { newExecutionId } from '../services/starter/execution-id.js';
import {
  type ActionContext,
  BadQueryError,
  type ChangeSignal,
  type LogSource,
  type LogStreamOptions,
  type PoolActions,
  type RunActions,
  type RunViewSource,
} from '../web/ports.js';
import type { StackTarget } from './aws-stack.js';
import { holdRequest, type JobAction, jobRefusal, jobRequest, poolRequest } from './operator-commands.js';

/** The runs list's page cursor: the last run's (start time, id), opaque to the browser. */
function encodeCursor(r: RunSummary): string {
  return Buffer.from(JSON.stringify([r.execution_start_ts, r.workflow_execution_id])).toString('base64url');
}

function decodeCursor(cursor: string): { execution_start_ts: string; workflow_execution_id: string } {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string')
      return { execution_start_ts: v[0], workflow_execution_id: v[1] };
  } catch {
    // below
  }
  throw new BadQueryError('"before" is not a cursor this list returned');
}

/**
 * The read model over a stack. The change signal ticks every `pollMs` while anyone listens (the
 * tables have no cheap "anything changed?"; the view re-reads and sends only what differs).
 */
export function createAwsRunViewSource(
  t: StackTarget,
  opts: { pollMs?: number } = {},
): RunViewSource & { close(): void } {
  const listeners = new Set<() => void>();
  let timer: NodeJS.Timeout | undefined;
  const changes: ChangeSignal = {
    subscribe(listener) {
      listeners.add(listener);
      if (!timer) {
        timer = setInterval(() => {
          for (const l of [...listeners]) {
            try {
              l();
            } catch {
              // a listener's failure is its own
            }
          }
        }, opts.pollMs ?? 2000);
        timer.unref();
      }
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0 && timer) {
          clearInterval(timer);
          timer = undefined;
        }
      };
    },
  };
  return {
    changes,
    close() {
      if (timer) clearInterval(timer);
      timer = undefined;
      listeners.clear();
    },
    async listRuns(q: RunListQuery): Promise<RunList> {
      const before = q.before !== undefined ? decodeCursor(q.before) : undefined;
      const page = await t.view.listRuns({
        ...(q.workflow_id !== undefined ? { workflow_id: q.workflow_id } : {}),
        ...(q.status !== undefined ? { status: q.status } : {}),
        limit: q.limit,
        ...(before ? { before } : {}),
      });
      const runs = page.runs.map(summary);
      const last = runs[runs.length - 1];
      return { runs, next: page.more && last ? encodeCursor(last) : null };
    },
    async getRun(executionId): Promise<RunDetail | undefined> {
      const run = await t.runs.getRun(executionId);
      if (!run) return undefined;
      const jobs = await t.jobs.listJobs(executionId);
      return {
        run: summary(run),
        parameters: run.parameters ?? {},
        stages: run.stages.map(stageView),
        jobs: jobs.map(jobView),
        restarted_as: await t.view.restartsOf(run),
      };
    },
    async workflowHistory(workflowId, limit): Promise<RunSummary[]> {
      return (await t.runs.listRuns(workflowId, limit)).map(summary);
    },
    async getDefinition(workflowId): Promise<WorkflowDefinitionView | undefined> {
      const def = await t.definitions.get(workflowId);
      if (!def) return undefined;
      return {
        workflow_id: workflowId,
        definition: def as Record<string, unknown>,
        script_root: null,
        updated_at: null,
      };
    },
    async listWorkflows(): Promise<WorkflowSummary[]> {
      const defs = await t.view.listDefinitions();
      const described = new Map(defs.map((d) => [d.workflow_id, d.workflow_description]));
      const ids = [...new Set([...defs.map((d) => d.workflow_id), ...(await t.view.workflowIds())])].sort();
      const out: WorkflowSummary[] = [];
      for (const id of ids) {
        const last = (await t.runs.listRuns(id, 1))[0];
        const d = described.get(id);
        out.push({
          workflow_id: id,
          workflow_description: typeof d === 'string' ? d : (last?.workflow_description ?? null),
          last_run: last ? summary(last) : null,
        });
      }
      return out;
    },
  };
}

/** Where an attempt's log stream is, and whether the attempt is over. */
export function attemptStream(
  t: StackTarget,
  job: JobAuditRecord,
  attempt: number,
): { group: string; stream: string; finished: boolean } | undefined {
  const current = attempt === job.attempt;
  const a = current ? job : job.previous_attempts.find((p) => p.attempt === attempt);
  if (!a) return undefined;
  const finished = !current || isTerminalJobStatus(job.execution_status);
  const loc = a.log_location ? parseLogLocation(a.log_location) : undefined;
  if (loc) return { ...loc, finished };
  // Not reported yet: where the agent ships it (one stream per attempt, its job run name).
  if (finished && a.execution_start_ts === null) return undefined;
  return {
    group: t.resources.logGroup,
    stream: logStreamName(jobRunName(job.workflow_execution_id, job.job_key, attempt)),
    finished,
  };
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });

/**
 * Job attempt logs from CloudWatch Logs. Cursors are GetLogEvents' forward tokens. Following polls
 * the stream every `pollMs` until the attempt is over and a read past its end brings nothing.
 */
export function createAwsLogSource(t: StackTarget, opts: { pollMs?: number } = {}): LogSource {
  const pollMs = opts.pollMs ?? 1000;
  return {
    async *stream(ref: AttemptRef, so: LogStreamOptions): AsyncGenerator<LogEvent> {
      const follow = so.follow === true;
      let token = so.cursor;
      let tail = so.tailLines;
      for (;;) {
        if (so.signal?.aborted) return;
        const job = await t.jobs.getJob(ref.workflow_execution_id, ref.job_key);
        const where = job ? attemptStream(t, job, ref.attempt) : undefined;
        if (!where) {
          yield { kind: 'end', reason: 'missing', cursor: null };
          return;
        }
        // Read what is there; "ended" is decided before reading (its output is shipped before its end).
        const ended = where.finished;
        let gotAny = false;
        for (;;) {
          const page = await t.logs.page(where.group, where.stream, {
            ...(token !== undefined ? { token } : {}),
            ...(tail !== undefined && token === undefined ? { tail } : {}),
          });
          if (page.missing) break;
          tail = undefined;
          const same = page.next === token;
          token = page.next;
          if (page.messages.length > 0) {
            gotAny = true;
            yield {
              kind: 'lines',
              lines: page.messages.flatMap((m) => m.replace(/\n$/, '').split('\n')),
              cursor: token ?? '',
            };
          }
          if (same || page.messages.length === 0) break;
        }
        if (ended) {
          yield {
            kind: 'end',
            reason: token === undefined && !gotAny ? 'missing' : 'finished',
            cursor: token ?? null,
          };
          return;
        }
        if (!follow) {
          yield {
            kind: 'end',
            reason: token === undefined ? 'not_started' : 'eof',
            cursor: token ?? null,
          };
          return;
        }
        await sleep(pollMs, so.signal);
      }
    },
  };
}

/** The view's actions on a stack: requests on the bus, checked first against the audit tables. */
export function awsActions(t: StackTarget): RunActions {
  return {
    async kill(exec, ctx): Promise<ActionResult> {
      const run = await t.runs.getRun(exec);
      if (!run) return { ok: false, message: `no run ${exec}`, execution_id: null };
      if (run.execution_status !== 'Running')
        return { ok: false, message: `${exec} is already ${run.execution_status}`, execution_id: null };
      await t.events.publish([
        {
          detailType: 'WorkflowCancelRequested',
          detail: {
            version: 1,
            workflow_id: run.workflow_id,
            workflow_execution_id: exec,
            reason: 'killed from the run view',
            requested_by: ctx.requestedBy,
          },
        },
      ]);
      return { ok: true, message: `kill requested for ${exec}; its jobs are stopping`, execution_id: null };
    },
    async restart(exec, ctx): Promise<ActionResult> {
      const run = await t.runs.getRun(exec);
      if (!run) return { ok: false, message: `no run ${exec}`, execution_id: null };
      if (run.execution_status !== 'Failed' && run.execution_status !== 'Cancelled')
        return {
          ok: false,
          message: `${exec} is ${run.execution_status}; only a failed or cancelled run is restarted`,
          execution_id: null,
        };
      if (run.restarted_as)
        return {
          ok: false,
          message: `${exec} was already restarted as ${run.restarted_as}`,
          execution_id: null,
        };
      const next = newExecutionId(run.workflow_id, new Date());
      await t.events.publish([
        {
          detailType: 'WorkflowRequested',
          detail: {
            version: 1,
            workflow_id: run.workflow_id,
            workflow_execution_id: next,
            restart_of: exec,
            requested_by: ctx.requestedBy,
          },
        },
      ]);
      return { ok: true, message: `restart of ${exec} requested as ${next}`, execution_id: next };
    },
    set_ok: (exec, ctx) => awsJobAction(t, 'set_ok', exec, ctx),
    rerun: (exec, ctx) => awsJobAction(t, 'rerun', exec, ctx),
    bypass: (exec, ctx) => awsJobAction(t, 'bypass', exec, ctx),
    hold: (exec, ctx) => awsHold(t, 'hold', exec, ctx),
    free: (exec, ctx) => awsHold(t, 'free', exec, ctx),
  };
}

/** A job action from the view on a stack: checked against the audit rows, then a request on the bus. */
async function awsJobAction(
  t: StackTarget,
  action: JobAction,
  exec: string,
  ctx: ActionContext,
): Promise<ActionResult> {
  const run = await t.runs.getRunRecord(exec);
  const job =
    run && ctx.jobKey ? (await t.jobs.listJobs(exec)).find((j) => j.job_key === ctx.jobKey) : undefined;
  if (!run || !job)
    return { ok: false, message: `no job ${ctx.jobKey ?? '?'} in run ${exec}`, execution_id: null };
  const refused = jobRefusal(action, run, job, ctx.reason);
  if (refused) return { ok: false, message: refused.message, execution_id: null };
  await t.events.publish([jobRequest(action, job, ctx.reason, ctx.requestedBy) as RsqloEvent]);
  return {
    ok: true,
    message: `${action.replace('_', ' ')} of job ${job.job_key} requested`,
    execution_id: null,
  };
}

async function awsHold(
  t: StackTarget,
  action: 'hold' | 'free',
  exec: string,
  ctx: ActionContext,
): Promise<ActionResult> {
  const run = await t.runs.getRunRecord(exec);
  if (!run) return { ok: false, message: `no run ${exec}`, execution_id: null };
  const refused = holdRefusal(run, action);
  if (refused) return { ok: false, message: refused.message, execution_id: null };
  await t.events.publish([
    holdRequest(
      action,
      { workflow_id: run.workflow_id, workflow_execution_id: exec },
      ctx.reason,
      ctx.requestedBy,
    ) as RsqloEvent,
  ]);
  return { ok: true, message: `${action} of ${exec} requested`, execution_id: null };
}

/** The pools panel over a stack: the config table's `pool:` items; setting slots is a request on the bus. */
export function awsPools(t: StackTarget): PoolActions {
  return {
    list: () => t.view.listPools(),
    async setSlots(pool, slots, ctx) {
      await t.events.publish([poolRequest(pool, slots, ctx.reason, ctx.requestedBy) as RsqloEvent]);
      return { ok: true, message: `pool ${pool} set to ${slots} requested`, execution_id: null };
    },
  };
}
