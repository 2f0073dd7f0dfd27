/**
 * Following a run of a deployed stack from its audit tables: the same progress sink as a local
 * run (cli/progress.ts: the live view on terminals, one line per event otherwise) fed from reads
 * of the run and its jobs. The CLI does not hear the bus, so the events the line view prints are
 * derived from what changed between two reads (a job that started, finished, a stage that ended),
 * with the ids the services give them (events/ids), so a line is never printed twice.
 */
import { isTerminalJobStatus, type JobAuditRecord, type WorkflowAuditRecord } from '../contracts/audit.js';
import type { EventEnvelope } from '../events/envelope.js';
import type { ProgressSink } from './progress.js';

/** The reads a follower makes (the services' repositories on AWS). */
export interface RunReader {
  /** The run item alone (polled: it changes as jobs are counted and stages end). */
  getRun(exec: string): Promise<WorkflowAuditRecord | undefined>;
  /** The full audit record (read once, at the end: it rebuilds `rsql_jobs` from the job rows). */
  getRunRecord(exec: string): Promise<WorkflowAuditRecord | undefined>;
  /** One stage's jobs, in job order. */
  listStageJobs(exec: string, stage: number): Promise<JobAuditRecord[]>;
  listJobs(exec: string): Promise<JobAuditRecord[]>;
}

function envelope(type: string, detail: Record<string, unknown>): EventEnvelope {
  return {
    version: '0',
    id: String(detail.event_id),
    'detail-type': type,
    source: 'rsqlo',
    account: '',
    time: String(detail.occurred_at),
    region: '',
    resources: [],
    detail,
  } as unknown as EventEnvelope;
}

const ms = (a: string | null, b: string | null) =>
  a && b ? Math.max(0, Date.parse(b) - Date.parse(a)) : null;

/**
 * The events a reader of the audit tables can tell happened between `prev` and `next` (both
 * snapshots of one run), in the order the services would emit them.
 */
export function derivedEvents(
  prev: { run?: WorkflowAuditRecord; jobs: JobAuditRecord[] },
  next: { run: WorkflowAuditRecord; jobs: JobAuditRecord[] },
): EventEnvelope[] {
  const { run } = next;
  const exec = run.workflow_execution_id;
  const base = (id: string, at: string | null) => ({
    event_id: id,
    occurred_at: at ?? run.execution_start_ts,
    workflow_id: run.workflow_id,
    workflow_execution_id: exec,
  });
  const out: EventEnvelope[] = [];
  if (!prev.run)
    out.push(
      envelope('WorkflowStarted', {
        ...base(`${exec}:started`, run.execution_start_ts),
        job_count: run.counts.total,
        stage_count: run.stages.length,
        restart_of: run.restart_of ?? null,
      }),
    );
  const before = new Map(prev.jobs.map((j) => [j.job_key, j]));
  for (const j of next.jobs) {
    const was = before.get(j.job_key);
    const attempts = [...j.previous_attempts.filter((a) => !was || a.attempt >= was.attempt)];
    // Attempts that started and ended between two reads (a retry) are told from previous_attempts.
    for (const a of attempts) {
      if (was && a.attempt === was.attempt && isTerminalJobStatus(was.execution_status)) continue;
      if (a.execution_start_ts && !(was && was.attempt === a.attempt && was.execution_start_ts))
        out.push(jobStarted(base, j, a.attempt, a.execution_start_ts));
      out.push(jobFinished(base, j, a));
    }
    const started = j.execution_start_ts && !(was && was.attempt === j.attempt && was.execution_start_ts);
    if (started) out.push(jobStarted(base, j, j.attempt, j.execution_start_ts as string));
    const ended =
      isTerminalJobStatus(j.execution_status) &&
      !(was && was.attempt === j.attempt && isTerminalJobStatus(was.execution_status));
    if (ended && j.execution_status !== 'Skipped') out.push(jobFinished(base, j, j));
  }
  const stagesBefore = new Map((prev.run?.stages ?? []).map((s) => [s.stage, s.status]));
  for (const s of run.stages) {
    const done = !['Pending', 'Running'].includes(s.status);
    const was = stagesBefore.get(s.stage);
    if (done && (was === undefined || ['Pending', 'Running'].includes(was)) && s.started_at)
      out.push(
        envelope('StageCompleted', {
          ...base(`${exec}:stage:${s.stage}`, s.finished_at),
          stage: s.stage,
          status: s.status,
          counts: {
            total: s.total,
            completed: s.completed,
            failed: s.failed,
            timed_out: s.timed_out,
            cancelled: s.cancelled,
            skipped: s.skipped,
          },
        }),
      );
  }
  if (run.execution_status !== 'Running' && prev.run?.execution_status !== run.execution_status)
    out.push(
      envelope('WorkflowFinished', {
        ...base(`${exec}:finished`, run.execution_end_ts),
        status: run.execution_status,
        counts: run.counts,
        duration_ms: ms(run.execution_start_ts, run.execution_end_ts) ?? 0,
      }),
    );
  return out;
}

type Base = (id: string, at: string | null) => Record<string, unknown>;

function jobStarted(base: Base, j: JobAuditRecord, attempt: number, at: string): EventEnvelope {
  return envelope('JobStarted', {
    ...base(`${j.workflow_execution_id}:${j.job_key}:a${attempt}:started`, at),
    job_key: j.job_key,
    job_name: j.job_name,
    attempt,
  });
}

function jobFinished(
  base: Base,
  j: JobAuditRecord,
  a: {
    attempt: number;
    execution_status: string;
    exit_code: number | null;
    error_message: string | null;
    execution_start_ts: string | null;
    execution_end_ts: string | null;
  },
): EventEnvelope {
  return envelope('JobFinished', {
    ...base(`${j.workflow_execution_id}:${j.job_key}:a${a.attempt}:finished`, a.execution_end_ts),
    job_key: j.job_key,
    job_name: j.job_name,
    attempt: a.attempt,
    status: a.execution_status,
    exit_code: a.exit_code,
    error_message: a.error_message,
    duration_ms: ms(a.execution_start_ts, a.execution_end_ts),
  });
}

/** How long a run that ended may still have jobs whose rows are not final (then they are shown as they are). */
const SETTLE_MS = 10_000;

/** How following ended. */
export type FollowOutcome =
  | { kind: 'ended'; run: WorkflowAuditRecord; jobs: JobAuditRecord[]; interrupted: boolean }
  /** The run never appeared (the starter refused the request, or it is not delivered). */
  | { kind: 'not-started'; interrupted: boolean }
  /** A second Ctrl-C: the run goes on in the stack. */
  | { kind: 'left'; run: WorkflowAuditRecord | undefined };

/**
 * Reads the run every `pollMs` until it ends, feeding `progress`. The first Ctrl-C (or SIGTERM)
 * calls `cancel` (the run is killed, as a local run is) and keeps following until it ends; a
 * second one leaves it running. Gives up on a run that has not appeared after `startTimeoutMs`.
 */
export async function followRun(
  reader: RunReader,
  exec: string,
  progress: ProgressSink,
  opts: {
    pollMs: number;
    startTimeoutMs: number;
    cancel: () => Promise<void>;
    /** Where SIGINT and SIGTERM are heard (default: the process). */
    signals?: NodeJS.EventEmitter;
  },
): Promise<FollowOutcome> {
  const signals = opts.signals ?? process;
  let interrupts = 0;
  let wake: (() => void) | undefined;
  const onSignal = () => {
    interrupts++;
    wake?.();
    if (interrupts === 1) void opts.cancel().catch(() => {});
  };
  signals.on('SIGINT', onSignal);
  signals.on('SIGTERM', onSignal);
  const startedWaiting = Date.now();
  let prev: { run?: WorkflowAuditRecord; jobs: JobAuditRecord[] } = { jobs: [] };
  // Jobs by stage. A stage's jobs change only while it has not ended, so each read lists the jobs
  // of the stages that had not ended at the previous read (a long run's finished stages, and a
  // wide stage once it ended, are not read again).
  const byStage = new Map<number, JobAuditRecord[]>();
  const open = new Set<number>();
  let endedAt: number | undefined;
  try {
    for (;;) {
      if (interrupts > 1) return { kind: 'left', run: prev.run };
      const run = await reader.getRun(exec);
      if (run) {
        if (!prev.run) for (const st of run.stages) open.add(st.stage);
        for (const stage of [...open]) byStage.set(stage, await reader.listStageJobs(exec, stage));
        for (const st of run.stages) if (!['Pending', 'Running'].includes(st.status)) open.delete(st.stage);
        let jobs = run.stages.flatMap((st) => byStage.get(st.stage) ?? []);
        let ended = run.execution_status !== 'Running';
        const record = ended ? ((await reader.getRunRecord(exec)) ?? run) : run;
        if (ended) {
          jobs = await reader.listJobs(exec);
          // The run's end is written before the last rows are (the jobs a cancel or a failure
          // skips): wait for every job to be final, a bounded while, so the summary is whole.
          endedAt ??= Date.now();
          if (jobs.some((j) => !isTerminalJobStatus(j.execution_status)) && Date.now() - endedAt < SETTLE_MS)
            ended = false;
        }
        for (const e of derivedEvents(prev, { run: record, jobs })) progress.event(e);
        prev = { run: record, jobs };
        progress.refresh(record, () => jobs);
        if (ended) return { kind: 'ended', run: record, jobs, interrupted: interrupts > 0 };
      } else {
        progress.refresh(undefined, () => []);
        if (Date.now() - startedWaiting > opts.startTimeoutMs)
          return { kind: 'not-started', interrupted: interrupts > 0 };
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, opts.pollMs);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = undefined;
    }
  } finally {
    signals.off('SIGINT', onSignal);
    signals.off('SIGTERM', onSignal);
    progress.done();
  }
}
