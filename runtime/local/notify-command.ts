/**
 * `rsqlo serve --notify-command CMD` (issue 15): a person's alert on one machine. Every alert event
 * (what events/routing.ts ALERT_ROUTES sends to the notifier on AWS: failed runs and jobs, refused
 * requests, SlaMissed, RunLongerThanUsual) runs CMD once through `sh -c`, with the event envelope as
 * JSON on its stdin (one line), so a user's own script or a `curl` to a chat webhook can take it.
 *
 * It never holds up the engine: `deliver` only queues; at most `concurrency` commands run at once
 * (spawned asynchronously, each in its own process group); one that runs past `timeoutMs` is killed
 * with its group; one that fails or is killed is logged and dropped, never retried (an alert a
 * broken script cannot take must not pile up for ever); past `maxQueue` waiting alerts, new ones
 * are dropped and said so. An event id seen before (a redelivery, a duplicate) runs nothing.
 *
 * The JSON is the event as published: events carry no secrets (parameter values, passwords and
 * connection strings never enter them), and nothing of the event reaches the command line.
 *
 * Every alert, with what became of its command, is kept in a bounded list for the web view.
 */
import { spawn } from 'node:child_process';
import type { EventEnvelope } from '../../events/envelope.js';

/** Commands running at once (default). */
export const NOTIFY_CONCURRENCY = 4;
/** How long one command may take (default, ms). */
export const NOTIFY_TIMEOUT_MS = 30_000;
/** Alerts waiting for a slot before new ones are dropped (default). */
export const NOTIFY_MAX_QUEUE = 1_000;
/** Alerts kept for the web view, newest first. */
export const RECENT_ALERTS = 200;
/** Event ids remembered to drop duplicates. */
const SEEN_IDS = 10_000;
/** Bytes of a failing command's stderr quoted in the log line. */
const STDERR_QUOTE = 1_000;

export type AlertDelivery =
  | 'queued'
  | 'running'
  | 'sent'
  | 'failed'
  | 'timed-out'
  | 'dropped'
  | 'not-configured';

/** One alert as the web view lists it. */
export interface AlertRecord {
  event_id: string;
  detail_type: string;
  rule: string;
  workflow_id: string | null;
  workflow_execution_id: string | null;
  occurred_at: string;
  /** What became of the notify command for it. */
  delivery: AlertDelivery;
  /** Why it failed (exit status and the start of its stderr), when it did. */
  problem: string | null;
}

export interface NotifyCommandOptions {
  /** The command line, run as `sh -c CMD`; undefined: alerts are only listed. */
  command: string | undefined;
  concurrency?: number;
  timeoutMs?: number;
  maxQueue?: number;
  /** Where failures and drops are said (serve: stderr). */
  warn: (line: string) => void;
  /** The command's environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
}

/** The alert sink of `rsqlo serve` (see the module comment). */
export class AlertNotifier {
  private readonly queue: Array<{ record: AlertRecord; json: string }> = [];
  private readonly seen = new Set<string>();
  private readonly records: AlertRecord[] = [];
  private running = 0;
  private readonly idle: Array<() => void> = [];
  private readonly concurrency: number;
  private readonly timeoutMs: number;
  private readonly maxQueue: number;
  private readonly children = new Set<number>();
  private closed = false;

  constructor(private readonly opts: NotifyCommandOptions) {
    this.concurrency = Math.max(1, opts.concurrency ?? NOTIFY_CONCURRENCY);
    this.timeoutMs = opts.timeoutMs ?? NOTIFY_TIMEOUT_MS;
    this.maxQueue = opts.maxQueue ?? NOTIFY_MAX_QUEUE;
  }

  /** Takes one alert (an envelope the alert routes matched); returns at once. */
  deliver(env: EventEnvelope, rule: string): void {
    const detail = (env.detail ?? {}) as Record<string, unknown>;
    const eventId = typeof detail.event_id === 'string' ? detail.event_id : env.id;
    if (this.seen.has(eventId)) return;
    this.seen.add(eventId);
    if (this.seen.size > SEEN_IDS) this.seen.delete(this.seen.values().next().value as string);
    const record: AlertRecord = {
      event_id: eventId,
      detail_type: env['detail-type'],
      rule,
      workflow_id: typeof detail.workflow_id === 'string' ? detail.workflow_id : null,
      workflow_execution_id:
        typeof detail.workflow_execution_id === 'string' ? detail.workflow_execution_id : null,
      occurred_at: typeof detail.occurred_at === 'string' ? detail.occurred_at : env.time,
      delivery: this.opts.command === undefined ? 'not-configured' : 'queued',
      problem: null,
    };
    this.records.unshift(record);
    if (this.records.length > RECENT_ALERTS) this.records.length = RECENT_ALERTS;
    if (this.opts.command === undefined) return;
    if (this.closed) {
      record.delivery = 'dropped';
      return;
    }
    if (this.queue.length >= this.maxQueue) {
      record.delivery = 'dropped';
      record.problem = `${this.maxQueue} alerts were already waiting for the notify command`;
      this.opts.warn(`notify command: dropped the alert ${eventId}: ${record.problem}`);
      return;
    }
    this.queue.push({ record, json: `${JSON.stringify(env)}\n` });
    this.pump();
  }

  /** The alerts seen, newest first (at most RECENT_ALERTS). */
  recent(): AlertRecord[] {
    return this.records.map((r) => ({ ...r }));
  }

  /**
   * Stops: queued alerts are dropped and running commands killed (with their process groups), so
   * a server that stops leaves no notify command behind. Later alerts are only listed.
   */
  close(): void {
    this.closed = true;
    for (const q of this.queue.splice(0)) q.record.delivery = 'dropped';
    for (const pid of this.children) killGroup(pid);
  }

  /** Resolves once nothing is queued or running (tests, shutdown). */
  drained(): Promise<void> {
    if (this.running === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private pump(): void {
    while (this.running < this.concurrency && this.queue.length > 0) {
      const next = this.queue.shift() as { record: AlertRecord; json: string };
      this.running++;
      this.run(next.record, next.json).finally(() => {
        this.running--;
        this.pump();
        if (this.running === 0 && this.queue.length === 0) for (const r of this.idle.splice(0)) r();
      });
    }
  }

  private run(record: AlertRecord, json: string): Promise<void> {
    record.delivery = 'running';
    return new Promise<void>((resolve) => {
      let stderr = '';
      let timedOut = false;
      let child: ReturnType<typeof spawn>;
      try {
        child = spawn('sh', ['-c', this.opts.command as string], {
          stdio: ['pipe', 'ignore', 'pipe'],
          detached: true,
          env: this.opts.env ?? process.env,
        });
      } catch (err) {
        this.fail(record, 'failed', `could not start: ${err instanceof Error ? err.message : String(err)}`);
        resolve();
        return;
      }
      const pid = child.pid;
      if (pid !== undefined) this.children.add(pid);
      const timer = setTimeout(() => {
        timedOut = true;
        killGroup(child.pid);
      }, this.timeoutMs);
      child.stderr?.on('data', (b: Buffer) => {
        if (stderr.length < STDERR_QUOTE) stderr += b.toString('utf8');
      });
      // A command that does not read its stdin closes the pipe: not a failure of ours.
      child.stdin?.on('error', () => {});
      child.stdin?.end(json);
      child.on('error', (err) => {
        clearTimeout(timer);
        this.fail(record, 'failed', `could not start: ${err.message}`);
        resolve();
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (pid !== undefined) this.children.delete(pid);
        if (timedOut) this.fail(record, 'timed-out', `still running after ${this.timeoutMs} ms: killed`);
        else if (code === 0) record.delivery = 'sent';
        else {
          const why = code !== null ? `exit status ${code}` : `killed by ${signal}`;
          const said = stderr.trim().slice(0, STDERR_QUOTE);
          this.fail(record, 'failed', said ? `${why}: ${said}` : why);
        }
        resolve();
      });
    });
  }

  private fail(record: AlertRecord, delivery: AlertDelivery, problem: string): void {
    record.delivery = delivery;
    record.problem = problem;
    this.opts.warn(
      `notify command for ${record.detail_type} ${record.event_id} ${delivery === 'timed-out' ? 'timed out' : 'failed'} (${problem}); the alert is dropped`,
    );
  }
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}
