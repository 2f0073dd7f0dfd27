import type { JobAuditRecord, WorkflowAuditRecord } from '../contracts/audit.js';
import type { EventEnvelope } from '../events/envelope.js';
import type { LocalEngine } from '../runtime/local/engine.js';
import { lineProgress, liveProgress, type ProgressSink } from './progress.js';

export interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; rows?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean; rows?: number };
}

/** Where progress goes: stderr under --json (stdout holds only the result), else stdout. */
export function progressSink(io: Io, json: boolean): ProgressSink {
  const stream = json ? io.stderr : io.stdout;
  const write = (s: string) => stream.write(s);
  if (stream.isTTY && process.env.CI !== 'true') return liveProgress(write, () => stream.rows ?? 24);
  return lineProgress(write);
}

/** The JSON document `run`, `restart` and `status` print with --json. */
export function resultDocument(run: WorkflowAuditRecord, jobs: JobAuditRecord[]) {
  return { workflow: run, jobs };
}

export const EXIT = {
  completed: 0,
  failed: 1,
  usage: 2,
  /** The request was refused (e.g. max_active_runs) and nothing ran. */
  rejected: 3,
  interrupted: 130,
} as const;

/**
 * Drives the engine until the given runs have settled (or everything is idle when `execs` is
 * empty), feeding the progress sink. The first Ctrl-C cancels the runs (their jobs are killed and
 * the runs end Cancelled); a second one leaves at once, and `rsqlo resume` continues later.
 */
export async function drive(
  engine: LocalEngine,
  opts: {
    execs: () => string[];
    progress: ProgressSink;
    rejected?: () => boolean;
    /**
     * Until this holds, an ended run is not settled: an operator request (set-ok of a Failed run)
     * reopens it once the engine has handled it. Default: always ready.
     */
    ready?: () => boolean;
    watch?: () => string | undefined;
    /**
     * Told once per distinct reason when open runs wait for a person (held, a pool with no free
     * slot): such a run is not stuck, so drive goes on waiting. Default: the progress stream.
     */
    waiting?: (line: string) => void;
  },
): Promise<{ interrupted: boolean; stuck: string[] }> {
  // A foreground command starts no other workflow (trigger.after): `rsqlo serve` does (issue 15).
  engine.holdTriggers();
  const abort = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    // A stopped engine (a full disk) cannot record a cancel: leave; resume finishes the runs.
    if (interrupts > 1 || engine.halted) {
      abort.abort();
      return;
    }
    try {
      for (const exec of opts.execs()) {
        const run = engine.getRun(exec);
        if (run && run.execution_status === 'Running') {
          engine.cancel({
            version: 1,
            workflow_id: run.workflow_id,
            workflow_execution_id: exec,
            reason: 'interrupted (Ctrl-C)',
            requested_by: 'rsqlo-cli',
          });
        }
      }
    } catch {
      // the engine halted on it (and said why)
      abort.abort();
    }
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  const refresh = () => {
    try {
      const exec = opts.watch?.();
      const run = exec ? engine.getRun(exec) : undefined;
      opts.progress.refresh(run, () => (exec ? engine.store.listJobsSync(exec) : []));
    } catch {
      // the store cannot be read just now (another process holds it); the next refresh tries again
    }
  };
  const timer = setInterval(refresh, 150);
  const told = new Set<string>();
  const sayWaiting = (line: string) => {
    if (told.has(line)) return;
    told.add(line);
    if (opts.waiting) opts.waiting(line);
    else opts.progress.note?.(line);
  };
  let quietSince: number | undefined;
  let stuck: string[] = [];
  try {
    await engine.runUntil(() => {
      if (opts.rejected?.()) return true;
      const execs = opts.execs();
      if (execs.length === 0) return engine.isIdle();
      if (opts.ready && !opts.ready()) return false;
      const open = execs.filter((e) => !engine.isSettled(e));
      if (open.length === 0) return true;
      // Nothing queued, due or running, yet runs are open: they cannot finish by themselves.
      if (!engine.isQuiet()) {
        quietSince = undefined;
        return false;
      }
      quietSince ??= Date.now();
      if (Date.now() - quietSince < STUCK_AFTER_MS) return false;
      // A held run, or one whose jobs wait for a pool slot, waits for a person: say why, once.
      const reasons = open.map((e) => engine.isWaiting(e));
      if (reasons.every((r) => r !== null)) {
        for (const r of reasons) if (r !== null) sayWaiting(r);
        return false;
      }
      stuck = open.filter((_, i) => reasons[i] === null);
      return true;
    }, abort.signal);
  } finally {
    clearInterval(timer);
    refresh();
    opts.progress.done();
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
  return { interrupted: interrupts > 0, stuck };
}

/** How long runs may stay open with nothing left to do before they are reported stuck. */
const STUCK_AFTER_MS = 2000;

/** Collects events of interest while the engine runs. */
export function eventTap(sink: ProgressSink) {
  const rejected = new Map<string, EventEnvelope>();
  const finished = new Map<string, EventEnvelope>();
  return {
    onEvent(e: EventEnvelope) {
      const d = e.detail as { workflow_execution_id?: string | null };
      if (e['detail-type'] === 'WorkflowRejected' && d.workflow_execution_id)
        rejected.set(d.workflow_execution_id, e);
      if (e['detail-type'] === 'WorkflowFinished' && d.workflow_execution_id)
        finished.set(d.workflow_execution_id, e);
      sink.event(e);
    },
    rejected,
    finished,
  };
}
