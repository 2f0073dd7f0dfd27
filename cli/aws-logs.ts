/**
 * `rsqlo logs <execution-id> [job] --aws`: a run's (or a job's) logs from the stack's CloudWatch
 * Logs, one stream per attempt (the agent ships them: runtime/aws/cloudwatch-logs.ts), read in
 * pages (GetLogEvents) and written with stdout's backpressure respected. `--tail N` starts each at
 * its last N lines; `--follow` waits for each attempt's output until it ends, and for the run.
 */
import { isTerminalJobStatus, type JobAuditRecord } from '../contracts/audit.js';
import { attemptStream, createAwsLogSource } from './aws-run-view.js';
import { AWS_OPTIONS, type AwsCliDeps, connectStack, type StackTarget, where } from './aws-stack.js';
import { parse, UsageError } from './command-kit.js';
import { EXIT, type Io } from './drive.js';

async function write(io: Io, text: string): Promise<void> {
  if (!io.stdout.write(text)) await new Promise<void>((r) => io.stdout.once('drain', () => r()));
}

/** A job Skipped because it completed in an earlier run: that run's job (its log is there). */
async function withEarlier(
  t: StackTarget,
  j: JobAuditRecord,
): Promise<{ job: JobAuditRecord; from?: string }> {
  const m =
    j.execution_status === 'Skipped' && !j.log_location
      ? /^completed in run (\S+)/.exec(j.skip_reason ?? '')
      : null;
  if (!m) return { job: j };
  const there = await t.jobs.getJob(m[1] as string, j.job_key);
  return there?.log_location ? { job: there, from: m[1] as string } : { job: j };
}

export async function awsLogsCommand(argv: string[], io: Io, deps: AwsCliDeps): Promise<number> {
  const { positionals, values } = parse(argv, {
    attempt: { type: 'string' },
    tail: { type: 'string' },
    follow: { type: 'boolean', short: 'f' },
    ...AWS_OPTIONS,
  });
  if (positionals.length < 1 || positionals.length > 2)
    throw new UsageError('logs takes an execution id and optionally a job_key');
  const [exec, want] = positionals as [string, string | undefined];
  const whole = (name: 'attempt' | 'tail', min: number): number | undefined => {
    const v = values[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !/^\d+$/.test(v) || Number(v) < min)
      throw new UsageError(`--${name} must be a whole number${min > 0 ? ` of at least ${min}` : ''}`);
    return Number(v);
  };
  const attemptWanted = whole('attempt', 1);
  const tail = whole('tail', 0);
  const follow = values.follow === true;
  const t = await connectStack(values, deps);
  const source = createAwsLogSource(t, { pollMs: deps.pollMs ?? 1000 });
  const printed = new Set<string>();
  for (;;) {
    const run = await t.runs.getRun(exec);
    if (!run) {
      io.stderr.write(`rsqlo: no run ${exec} ${where(t)}\n`);
      return EXIT.usage;
    }
    const all = await t.jobs.listJobs(exec);
    const chosen = want ? all.filter((j) => j.job_key === want || j.job_name === want) : all;
    if (want && chosen.length === 0) {
      io.stderr.write(`rsqlo: run ${exec} has no job ${want}\n`);
      return EXIT.usage;
    }
    // Decided before reading: a job's output is all shipped before its end is recorded.
    const ended =
      run.execution_status !== 'Running' ||
      (want !== undefined && chosen.every((j) => isTerminalJobStatus(j.execution_status) && j.counted));
    for (const j of chosen) {
      const { job, from } = await withEarlier(t, j);
      const attempts = [
        ...job.previous_attempts.map((a) => ({ n: a.attempt, status: a.execution_status as string })),
        { n: job.attempt, status: job.execution_status as string },
      ].filter((a) => attemptWanted === undefined || a.n === attemptWanted);
      for (const a of attempts) {
        const key = `${job.job_key}#${a.n}`;
        if (printed.has(key)) continue;
        const loc = attemptStream(t, job, a.n);
        if (!loc) {
          printed.add(key);
          continue;
        }
        let headed = false;
        const header = `==> ${job.job_key} ${job.job_name} attempt ${a.n} (${a.status}${from ? ` in the earlier run ${from}: it was not run again in ${exec}` : ''}) cloudwatch:${loc.group}:${loc.stream} <==\n`;
        let lastEnd: string | undefined;
        for await (const ev of source.stream(
          { workflow_execution_id: job.workflow_execution_id, job_key: job.job_key, attempt: a.n },
          { follow: follow && !ended, ...(tail !== undefined ? { tailLines: tail } : {}) },
        )) {
          if (ev.kind === 'lines') {
            if (!headed) await write(io, header);
            headed = true;
            await write(io, `${ev.lines.join('\n')}\n`);
          } else if (ev.kind === 'end') lastEnd = ev.reason;
        }
        if (!follow || lastEnd === 'finished' || lastEnd === 'missing') printed.add(key);
      }
    }
    if (!follow || ended) return 0;
    await new Promise((r) => setTimeout(r, deps.pollMs ?? 1000));
  }
}
