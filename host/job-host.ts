import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { nodeArgs } from '../bin/load.js';
import type { JobOutcome, JobSpec, KillReason } from './job-runner.js';

/** A job started through the host: its pid once known, and its outcome. */
export interface HostedJob {
  started: Promise<{ pid: number; startTicks: string | undefined; startedAt: Date }>;
  done: Promise<JobOutcome>;
  kill(reason: KillReason): void;
}

type Waiter = {
  started: (s: { pid: number; startTicks: string | undefined; startedAt: Date }) => void;
  done: (o: JobOutcome) => void;
  spec: JobSpec;
  /** The host process this job was sent to: only its lines and its death concern the job. */
  host: ChildProcess;
};

/**
 * The starting side of the job host (host/spawner.ts), for the local engine and the EC2 agent
 * daemon alike: starts it on first use, sends it start and kill requests, hands back pids and
 * outcomes. If the host dies, jobs it was running are reported as lost: they go on (their wrappers
 * record their exit statuses), the agent watches them by pid like after a crash and reads their
 * outcome from the exit journal, and the next start brings up a new host.
 */
export class JobHost {
  private child: ChildProcess | undefined;
  private readonly waiting = new Map<string, Waiter>();
  private closed = false;
  /** The environment most jobs share, sent once per host; each job sends only its differences. */
  private baseEnv: Record<string, string> | undefined;

  constructor(private readonly onLost: (id: string, spec: JobSpec) => void = () => {}) {}

  private ensure(): ChildProcess {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) return this.child;
    const child = spawn(process.execPath, nodeArgs('host/spawner.ts'), {
      stdio: ['pipe', 'pipe', 'inherit'],
      detached: true,
      env: process.env,
    });
    child.stdin?.on('error', () => {});
    const rl = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    rl.on('line', (line) => this.onLine(child, line));
    child.on('exit', () => {
      if (this.child === child) this.child = undefined;
      if (this.closed) return;
      // Whatever it was running is no longer watched by anyone. Only its own jobs, taken out
      // first: `onLost` may start a job again at once (on a new host, maybe under the same id),
      // and walking the live map would take that one for lost too — again and again, forever.
      const lost = [...this.waiting].filter(([, w]) => w.host === child);
      for (const [id] of lost) this.waiting.delete(id);
      for (const [id, w] of lost) this.onLost(id, w.spec);
    });
    this.child = child;
    if (this.baseEnv) child.stdin?.write(`${JSON.stringify({ op: 'base', env: this.baseEnv })}\n`);
    return child;
  }

  /** Sets the environment jobs usually start from (sent to the host once). */
  setBaseEnv(env: Record<string, string>): void {
    this.baseEnv = env;
    if (this.child) this.write({ op: 'base', env });
  }

  private envDiff(env: Record<string, string>): { env: Record<string, string>; unset?: string[] } {
    const base = this.baseEnv;
    if (!base) return { env };
    const diff: Record<string, string> = {};
    for (const [k, v] of Object.entries(env)) if (base[k] !== v) diff[k] = v;
    const unset = Object.keys(base).filter((k) => !(k in env));
    return unset.length ? { env: diff, unset } : { env: diff };
  }

  private onLine(host: ChildProcess, line: string): void {
    let msg: {
      ev: string;
      id?: string;
      pid?: number;
      startTicks?: string | null;
      startedAt?: string;
      outcome?: Record<string, unknown>;
      message?: string;
    };
    try {
      msg = JSON.parse(line);
    } catch {
      return;
    }
    if (msg.ev === 'error') return;
    const w = msg.id ? this.waiting.get(msg.id) : undefined;
    // A line a dead host wrote before it died, read late, is not about a job started since.
    if (!w || !msg.id || w.host !== host) return;
    if (msg.ev === 'started') {
      w.started({
        pid: msg.pid ?? 0,
        startTicks: msg.startTicks ?? undefined,
        startedAt: new Date(msg.startedAt ?? Date.now()),
      });
    } else if (msg.ev === 'done' && msg.outcome) {
      this.waiting.delete(msg.id);
      const o = msg.outcome;
      w.done({
        ...(o as unknown as JobOutcome),
        startedAt: new Date(String(o.startedAt)),
        finishedAt: new Date(String(o.finishedAt)),
      });
    }
  }

  private write(msg: unknown, host: ChildProcess = this.ensure()): void {
    // At once, not batched: a job waits for this line, and the engine may stay busy a while.
    host.stdin?.write(`${JSON.stringify(msg)}\n`);
  }

  /** Starts a job; `id` must be unique among running jobs (the job run's name). */
  start(id: string, spec: JobSpec): HostedJob {
    if (this.closed) throw new Error('the job host is closed');
    let started!: Waiter['started'];
    let done!: Waiter['done'];
    const startedP = new Promise<{ pid: number; startTicks: string | undefined; startedAt: Date }>((r) => {
      started = r;
    });
    const doneP = new Promise<JobOutcome>((r) => {
      done = r;
    });
    const host = this.ensure();
    const waiter: Waiter = { started, done, spec, host };
    this.waiting.set(id, waiter);
    const { env, unset } = this.envDiff(spec.env);
    this.write({ op: 'start', id, spec: { ...spec, env }, ...(unset ? { unset } : {}) }, host);
    return {
      started: startedP,
      done: doneP,
      // To the host running it, while it does: never to a job started again under the same id.
      kill: (reason) => {
        if (this.waiting.get(id) === waiter) this.write({ op: 'kill', id, reason }, host);
      },
    };
  }

  /** Jobs the host is running for us. */
  get size(): number {
    return this.waiting.size;
  }

  /**
   * Lets go of the host: it finishes the jobs it runs (writing their exit files) and exits by
   * itself; this process no longer waits for it.
   */
  close(): void {
    this.closed = true;
    const child = this.child;
    if (!child) return;
    child.stdin?.end();
    child.unref();
    (child.stdout as NodeJS.ReadableStream & { unref?: () => void })?.unref?.();
    (child.stdin as unknown as { unref?: () => void })?.unref?.();
  }
}
