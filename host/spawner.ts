/**
 * The job host of the local engine and of the EC2 agent daemon: a small separate process that starts and supervises job processes
 * with the job runner, and talks to the engine in newline-delimited JSON over stdin/stdout.
 *
 * Why a separate process: forking from a small process is cheaper than from the engine, and the
 * engine's event loop no longer stops for every fork (a fork blocks until the child has exec'd).
 * It also outlives the engine: when the engine dies, the host keeps watching its jobs (recording
 * what their wrappers could not, e.g. a wrapper SIGKILLed by a kill) and exits once the last job
 * ended. Nothing depends on it staying alive: jobs write their output straight to their logs and
 * their wrappers record their exit statuses, so a host that is SIGKILLed loses no outcome. It runs
 * in its own process group, so a Ctrl-C on the terminal does not reach it (the engine decides what
 * to kill).
 *
 * Protocol (one JSON object per line):
 *   engine → host: {"op":"base","env":ENV} (the environment jobs share; sent once)
 *                  {"op":"start","id":ID,"spec":JobSpec (env: differences from the base),"unset":[NAME]}
 *                  {"op":"kill","id":ID,"reason":"timeout"|"cancel"}
 *   host → engine: {"ev":"started","id":ID,"pid":N,"startTicks":S|null,"startedAt":ISO}
 *                  {"ev":"done","id":ID,"outcome":JobOutcome (dates as ISO strings)}
 *                  {"ev":"error","message":TEXT}
 */
import { createInterface } from 'node:readline';
import { type JobSpec, type KillReason, type RunningJob, startJob } from './job-runner.js';

type Request =
  | { op: 'base'; env: Record<string, string> }
  | { op: 'start'; id: string; spec: JobSpec; unset?: string[] }
  | { op: 'kill'; id: string; reason: KillReason };

/** The environment jobs share; a start request carries only its differences. */
let baseEnv: Record<string, string> = {};

const jobs = new Map<string, RunningJob>();
let inputClosed = false;
let out = '';
let flushing = false;

function send(msg: unknown): void {
  out += `${JSON.stringify(msg)}\n`;
  if (!flushing) {
    flushing = true;
    // Batch what one turn of the event loop produced into one write.
    setImmediate(() => {
      flushing = false;
      const chunk = out;
      out = '';
      try {
        process.stdout.write(chunk);
      } catch {
        // the engine is gone: outcomes are in the exit files
      }
    });
  }
}

function maybeExit(): void {
  // A moment's grace: the job runner writes each exit file a couple of turns after reporting.
  if (inputClosed && jobs.size === 0) setTimeout(() => process.exit(0), 100);
}

function handle(req: Request): void {
  if (req.op === 'base') {
    baseEnv = req.env;
    return;
  }
  if (req.op === 'start') {
    if (jobs.has(req.id)) return;
    const env = { ...baseEnv, ...req.spec.env };
    for (const k of req.unset ?? []) delete env[k];
    const job = startJob({ ...req.spec, env });
    jobs.set(req.id, job);
    send({
      ev: 'started',
      id: req.id,
      pid: job.pid,
      startTicks: job.startTicks ?? null,
      startedAt: job.startedAt.toISOString(),
    });
    void job.done.then((o) => {
      jobs.delete(req.id);
      send({
        ev: 'done',
        id: req.id,
        outcome: { ...o, startedAt: o.startedAt.toISOString(), finishedAt: o.finishedAt.toISOString() },
      });
      maybeExit();
    });
    return;
  }
  void jobs.get(req.id)?.kill(req.reason);
}

process.stdout.on('error', () => {
  // EPIPE after the engine died: keep supervising, the exit files carry the outcomes
});
// Terminal signals are the engine's business; it asks for kills explicitly.
process.on('SIGINT', () => {});
process.on('SIGHUP', () => {});
process.on('SIGPIPE', () => {});

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (line.trim() === '') return;
  try {
    handle(JSON.parse(line) as Request);
  } catch (err) {
    send({ ev: 'error', message: err instanceof Error ? err.message : String(err) });
  }
});
rl.on('close', () => {
  inputClosed = true;
  maybeExit();
});
