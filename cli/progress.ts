import type { JobAuditRecord, WorkflowAuditRecord } from '../contracts/audit.js';
import type { EventEnvelope } from '../events/envelope.js';

export interface ProgressSink {
  event(e: EventEnvelope): void;
  /** Called periodically and at the end with the current state (the live view redraws from it). */
  refresh(run: WorkflowAuditRecord | undefined, jobs: () => JobAuditRecord[]): void;
  done(): void;
  /** A line about the run that is not an event (why it waits); shown once by the caller. */
  note?(line: string): void;
}

function clock(iso: string): string {
  return iso.slice(11, 23);
}

function secs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '';
  return ms < 10_000 ? `${(ms / 1000).toFixed(2)} s` : `${(ms / 1000).toFixed(1)} s`;
}

/**
 * A job's status as people read it: `Queued — waiting for pool wlm`, `Queued — held`,
 * `Completed (set OK by user:x: reason)`, `Skipped (bypassed: …)`; else the status itself.
 */
export function jobStatusText(
  j: Pick<JobAuditRecord, 'execution_status' | 'waiting_for' | 'operator_actions' | 'skip_reason'>,
): string {
  const s = j.execution_status;
  if (s === 'Queued' && j.waiting_for) {
    return j.waiting_for === 'hold'
      ? 'Queued — held'
      : `Queued — waiting for pool ${j.waiting_for.slice('pool:'.length)}`;
  }
  if (s === 'Completed') {
    const ok = [...(j.operator_actions ?? [])].reverse().find((a) => a.action === 'set_ok');
    if (ok) return `Completed (set OK by ${ok.requested_by}${ok.reason ? `: ${ok.reason}` : ''})`;
  }
  if (s === 'Skipped' && j.skip_reason?.startsWith('bypassed:')) return `Skipped (${j.skip_reason})`;
  return s;
}

/** A run's status as people read it: a held run (still Running underneath) is `Held`. */
export function runStatusText(run: Pick<WorkflowAuditRecord, 'execution_status' | 'hold_state'>): string {
  return run.execution_status === 'Running' && run.hold_state?.held ? 'Held' : run.execution_status;
}

/** The line saying a pool was made on a run's behalf (told once per pool). */
export function poolCreatedLine(p: {
  pool: string;
  slots: number;
  source: string;
  workflow_id?: string | null;
}): string {
  const slots = `${p.slots} slot${p.slots === 1 ? '' : 's'}`;
  const from =
    p.source === 'definition'
      ? ` (from the definition of ${p.workflow_id ?? 'the workflow'})`
      : p.source === 'default'
        ? ' (the default: the definition gives no size in "pools")'
        : ' (by an operator)';
  return `pool ${p.pool} created with ${slots}${from}`;
}

/**
 * The line for an operator action's event (requests, outcomes, refusals, pool changes);
 * undefined for other events, '' for those not worth a line (a slot given back).
 */
export function operatorEventText(type: string, d: Record<string, unknown>): string | undefined {
  const by = d.requested_by ? ` by ${d.requested_by}` : '';
  const why = d.reason ? `: ${d.reason}` : '';
  const target = d.workflow_execution_id
    ? `run ${d.workflow_execution_id}`
    : `workflow ${d.workflow_id} (new runs)`;
  switch (type) {
    case 'JobSetOkRequested':
      return `set OK of job ${d.job_key} requested${by}`;
    case 'JobRerunRequested':
      return `rerun of job ${d.job_key} requested${by}`;
    case 'JobBypassRequested':
      return `bypass of job ${d.job_key} requested${by}`;
    case 'HoldRequested':
      return `hold of ${target} requested${by}`;
    case 'FreeRequested':
      return `free of ${target} requested${by}`;
    case 'PoolResizeRequested':
      return `pool ${d.pool} set to ${d.slots} requested${by}`;
    case 'JobSetOk':
      return `job ${d.job_key} ${d.job_name} set OK (was ${d.previous_status})${by}${why}${d.run_continues ? '; the run goes on' : ''}`;
    case 'JobRerunStarted':
      return `job ${d.job_key} ${d.job_name} rerun as attempt ${d.attempt} (was ${d.previous_status})${by}${why}`;
    case 'JobBypassed':
      return `job ${d.job_key} ${d.job_name} bypassed${by}${why}`;
    case 'RunHeld':
      return `${target} held${by}${why}`;
    case 'RunFreed':
      return `${target} freed${by}${why}`;
    case 'PoolResized':
      return `pool ${d.pool} now has ${d.slots} slot(s)${d.previous_slots === null || d.previous_slots === undefined ? '' : ` (was ${d.previous_slots})`}${by}${why}`;
    case 'PoolCreated':
      return poolCreatedLine(d as Parameters<typeof poolCreatedLine>[0]);
    case 'PoolSlotFreed':
      return '';
    case 'OperatorActionRejected':
      return `${d.action}${d.job_key ? ` of job ${d.job_key}` : d.pool ? ` of pool ${d.pool}` : ''} refused (${d.reason}): ${d.message}`;
    default:
      return undefined;
  }
}

/** One line per event, for logs and CI: stable, greppable, deduplicated by event_id. */
export function lineProgress(write: (s: string) => void): ProgressSink {
  const seen = new Set<string>();
  /** Pools already said to be created (from the event or from the run's pools_created). */
  const poolsTold = new Set<string>();
  const notes = new Set<string>();
  return {
    note(line) {
      if (notes.has(line)) return;
      notes.add(line);
      write(`${clock(new Date().toISOString())}  ${line}\n`);
    },
    event(e) {
      const d = e.detail as Record<string, unknown>;
      const id = String(d.event_id ?? e.id);
      if (seen.has(id)) return;
      seen.add(id);
      const t = clock(String(d.occurred_at ?? e.time));
      const exec = String(d.workflow_execution_id ?? '');
      let text = '';
      switch (e['detail-type']) {
        case 'WorkflowStarted':
          text = `workflow ${d.workflow_id} started as ${exec}: ${d.job_count} jobs in ${d.stage_count} stages${d.restart_of ? ` (restart of ${d.restart_of})` : ''}`;
          break;
        case 'WorkflowRejected':
          text = `request for ${d.workflow_id} rejected (${d.reason}): ${d.message}`;
          break;
        case 'StageReady':
          return;
        case 'JobStarted':
          text = `job ${d.job_key} ${d.job_name} started (attempt ${d.attempt})`;
          break;
        case 'JobFinished': {
          const exit = d.exit_code === null || d.exit_code === undefined ? '' : ` exit ${d.exit_code}`;
          const err =
            d.status !== 'Completed' && d.error_message
              ? `: ${String(d.error_message).split('\n').pop()}`
              : '';
          text =
            `job ${d.job_key} ${d.job_name} ${d.status}${exit} ${secs(d.duration_ms as number | null)}${err}`.trimEnd();
          break;
        }
        case 'StageCompleted': {
          const c = d.counts as Record<'completed' | 'failed' | 'timed_out' | 'skipped' | 'total', number>;
          text = `stage ${d.stage} ${d.status}: ${c.completed} completed, ${c.failed + c.timed_out} failed, ${c.skipped} skipped of ${c.total}`;
          break;
        }
        case 'WorkflowFinished': {
          const c = d.counts as Record<string, number>;
          text = `workflow ${exec} ${d.status} in ${secs(d.duration_ms as number)}: ${c.completed} completed, ${c.failed} failed, ${c.timed_out} timed out, ${c.cancelled} cancelled, ${c.skipped} skipped`;
          break;
        }
        case 'WorkflowRequested':
          text = `requested ${d.workflow_id}${d.restart_of ? ` (restart of ${d.restart_of})` : ''}`;
          break;
        case 'WorkflowCancelRequested':
          text = `cancel requested for ${exec}`;
          break;
        default: {
          const op = operatorEventText(e['detail-type'], d);
          if (op === '') return;
          if (e['detail-type'] === 'PoolCreated') {
            if (poolsTold.has(String(d.pool))) return;
            poolsTold.add(String(d.pool));
          }
          text = op ?? e['detail-type'];
        }
      }
      write(`${t}  ${text}\n`);
    },
    refresh(run) {
      for (const p of run?.pools_created ?? []) {
        if (poolsTold.has(p.pool)) continue;
        poolsTold.add(p.pool);
        write(
          `${clock(new Date().toISOString())}  ${poolCreatedLine({ ...p, workflow_id: run?.workflow_id })}\n`,
        );
      }
    },
    done() {},
  };
}

const ESC = '\u001b[';
const COLORS: Record<string, string> = {
  Completed: '32',
  Failed: '31',
  TimedOut: '31',
  Cancelled: '33',
  Skipped: '90',
  Running: '36',
  Pending: '90',
  Queued: '90',
  Dispatched: '36',
  Held: '33',
};

function color(status: string): string {
  return colorText(status, status);
}

/** `text` in the colour of `status`. */
function colorText(status: string, text: string): string {
  const c = COLORS[status];
  return c ? `${ESC}${c}m${text}${ESC}0m` : text;
}

/**
 * A live view for terminals: every stage with its jobs, status and duration, redrawn in place.
 * Wide stages show the running and failed jobs and a count of the rest, so the view stays small.
 */
export function liveProgress(write: (s: string) => void, rows: () => number): ProgressSink {
  let drawn = 0;
  let last = '';
  const alerts: string[] = [];
  const say = (line: string) => {
    if (!alerts.includes(line)) alerts.push(line);
  };
  return {
    note: say,
    event(e) {
      const d = e.detail as Record<string, unknown>;
      if (e['detail-type'] === 'WorkflowRejected') {
        alerts.push(`rejected (${d.reason}): ${d.message}`);
        return;
      }
      const op = operatorEventText(e['detail-type'], d);
      // Requests are seen as their outcome; refusals, outcomes and new pools stay under the view.
      if (op && !e['detail-type'].endsWith('Requested')) say(op);
    },
    refresh(run, jobsOf) {
      for (const p of run?.pools_created ?? []) say(poolCreatedLine({ ...p, workflow_id: run?.workflow_id }));
      const lines: string[] = [];
      if (!run) {
        lines.push('waiting for the run to start…', ...alerts);
      } else {
        const now = Date.now();
        const el =
          (run.execution_end_ts ? Date.parse(run.execution_end_ts) : now) -
          Date.parse(run.execution_start_ts);
        lines.push(
          `${run.workflow_id}  ${run.workflow_execution_id}  ${color(runStatusText(run))}  ${secs(el)}`,
        );
        const jobs = jobsOf();
        const budget = Math.max(8, rows() - 4 - run.stages.length);
        for (const st of run.stages) {
          const done = st.completed + st.failed + st.timed_out + st.cancelled + st.skipped;
          lines.push(
            `  stage ${st.stage}  ${st.execution_type.padEnd(10)} ${color(st.status).padEnd(20)} ${done}/${st.total}${st.stage_description ? `  ${st.stage_description}` : ''}`,
          );
          if (st.status !== 'Running' && !(st.status === 'Failed' && st.total <= 10)) continue;
          const mine = jobs.filter((j) => j.stage === st.stage);
          const shown =
            mine.length <= budget
              ? mine
              : mine
                  .filter((j) => !['Pending', 'Completed', 'Skipped'].includes(j.execution_status))
                  .slice(0, budget);
          for (const j of shown) {
            const start = j.execution_start_ts ? Date.parse(j.execution_start_ts) : undefined;
            const end = j.execution_end_ts ? Date.parse(j.execution_end_ts) : now;
            const dur = start ? secs(end - start) : '';
            const attempt = j.attempt > 1 ? ` (attempt ${j.attempt})` : '';
            lines.push(
              `    ${j.job_key.padEnd(7)} ${j.job_name.padEnd(32)} ${colorText(j.execution_status, jobStatusText(j)).padEnd(20)} ${dur}${attempt}`,
            );
          }
          if (shown.length < mine.length) lines.push(`    … ${mine.length - shown.length} more`);
        }
        lines.push(...alerts);
      }
      const text = lines.join('\n');
      if (text === last) return;
      last = text;
      let out = '';
      if (drawn > 0) out += `${ESC}${drawn}A${ESC}J`;
      out += `${text}\n`;
      drawn = lines.length;
      write(out);
    },
    done() {},
  };
}
