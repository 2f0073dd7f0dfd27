import type { JobAuditRecord, WorkflowAuditRecord } from '../contracts/audit.js';
import type { EventEnvelope } from '../events/envelope.js';

export interface ProgressSink {
  event(e: EventEnvelope): void;
  /** Called periodically and at the end with the current state (the live view redraws from it). */
  refresh(run: WorkflowAuditRecord | undefined, jobs: () => JobAuditRecord[]): void;
  done(): void;
}

function clock(iso: string): string {
  return iso.slice(11, 23);
}

function secs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '';
  return ms < 10_000 ? `${(ms / 1000).toFixed(2)} s` : `${(ms / 1000).toFixed(1)} s`;
}

/** One line per event, for logs and CI: stable, greppable, deduplicated by event_id. */
export function lineProgress(write: (s: string) => void): ProgressSink {
  const seen = new Set<string>();
  return {
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
        default:
          text = e['detail-type'];
      }
      write(`${t}  ${text}\n`);
    },
    refresh() {},
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
};

function color(status: string): string {
  const c = COLORS[status];
  return c ? `${ESC}${c}m${status}${ESC}0m` : status;
}

/**
 * A live view for terminals: every stage with its jobs, status and duration, redrawn in place.
 * Wide stages show the running and failed jobs and a count of the rest, so the view stays small.
 */
export function liveProgress(write: (s: string) => void, rows: () => number): ProgressSink {
  let drawn = 0;
  let last = '';
  const alerts: string[] = [];
  return {
    event(e) {
      if (e['detail-type'] === 'WorkflowRejected') {
        const d = e.detail as Record<string, unknown>;
        alerts.push(`rejected (${d.reason}): ${d.message}`);
      }
    },
    refresh(run, jobsOf) {
      const lines: string[] = [];
      if (!run) {
        lines.push('waiting for the run to start…', ...alerts);
      } else {
        const now = Date.now();
        const el =
          (run.execution_end_ts ? Date.parse(run.execution_end_ts) : now) -
          Date.parse(run.execution_start_ts);
        lines.push(
          `${run.workflow_id}  ${run.workflow_execution_id}  ${color(run.execution_status)}  ${secs(el)}`,
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
              `    ${j.job_key.padEnd(7)} ${j.job_name.padEnd(32)} ${color(j.execution_status).padEnd(20)} ${dur}${attempt}`,
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
