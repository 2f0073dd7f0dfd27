import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { agentJobFinished, agentJobStarted } from '../host/reports.js';
import { TaskCallbackRejectedError } from '../runtime/aws/task-callbacks.js';
import { createAttemptTokens } from './attempt-tokens.js';
import { createIntake } from './intake.js';
import { createJobEnding } from './job-ending.js';
import type { Job, JobState } from './job-state.js';
import { createReportOutbox, type ReportOutbox } from './report-outbox.js';
import { spoolCommand, stateFile } from './spool.js';
import { jobCommand } from './testing/fixtures.js';
import { type PartsBench, partsBench, spooled } from './testing/parts.js';

/** The backoff the bench gives the context: 1 s doubling to 8 s (jittered to half of it and more). */
const BASE = 1000;
const MAX = 8000;

describe('agent report outbox', () => {
  let b: PartsBench;
  let outbox: ReportOutbox;

  beforeEach(() => {
    b = partsBench({ retryBackoff: { baseMs: BASE, maxMs: MAX } });
    const ending = createJobEnding(b.ctx);
    outbox = createReportOutbox(b.ctx, createAttemptTokens(b.ctx, ending));
  });
  afterEach(() => b.cleanup());

  /** A job accepted through the intake, with its three reports queued as a finished job has them. */
  function finishedJob(over: Parameters<typeof jobCommand>[1] = {}): Job {
    const cmd = jobCommand('ok.sh', over);
    spoolCommand(b.ws.spool, spooled(cmd));
    createIntake(b.ctx).scan();
    const job = b.ctx.jobs.get(cmd.job_run_name) as Job;
    const place = b.ctx.place(job);
    const at = new Date(b.clock.t).toISOString();
    const r = { status: 'Completed' as const, exitCode: 0, error: null, startedAt: at, finishedAt: at };
    job.state.phase = 'finished';
    job.state.reports.push(
      { id: 'started', kind: 'event', event: agentJobStarted(cmd, at, place) },
      { id: 'finished', kind: 'event', event: agentJobFinished(cmd, r, place) },
      { id: 'task', kind: 'task-success', output: { status: 'Completed' } },
    );
    b.ctx.save(job);
    return job;
  }

  const onDisk = (job: Job): string[] =>
    (JSON.parse(readFileSync(stateFile(b.ctx.paths, job.state.name), 'utf8')) as JobState).reports.map(
      (r) => r.id,
    );
  const sent = () =>
    b.published.map((e) => e[0]?.detailType as string).concat(b.taskCalls.map((c) => `task:${c.op}`));

  it('sends a job’s reports in the order they were queued and removes each from the spool once delivered', async () => {
    const job = finishedJob();
    outbox.deliver(job);
    // Started before finished, the task result after them (each call begins in queue order).
    expect(b.published.map((e) => e[0]?.detailType)).toEqual(['JobStarted', 'JobFinished']);
    expect(b.taskCalls).toEqual([{ op: 'success', token: job.cmd.task_token }]);
    // Called once each, even when asked again while they are out.
    outbox.deliver(job);
    expect(sent()).toHaveLength(3);
    await b.settle();
    expect(job.state.reports).toEqual([]);
    expect(onDisk(job)).toEqual([]);
    outbox.deliver(job);
    expect(sent()).toHaveLength(3);
  });

  it('keeps a report that failed in the spool and tries it again after its backoff, without holding back the others', async () => {
    const job = finishedJob();
    let finishedFails = 2;
    b.publish = async (events) => {
      if (events[0]?.detailType === 'JobFinished' && finishedFails-- > 0)
        throw new Error('connect ETIMEDOUT');
    };
    outbox.deliver(job);
    await b.settle();
    // The others went; the failed one stays on disk (a restart would send it).
    expect(job.state.reports.map((r) => r.id)).toEqual(['finished']);
    expect(onDisk(job)).toEqual(['finished']);
    expect(b.lines.find((l) => l.message === 'report not delivered; will retry')?.fields).toMatchObject({
      report: 'finished',
    });
    // Not before its backoff (at most BASE after the first failure)…
    outbox.deliver(job);
    expect(b.published).toHaveLength(2);
    b.clock.t += BASE;
    outbox.deliver(job);
    await b.settle();
    expect(b.published).toHaveLength(3);
    // …which doubles: the second failure waits up to 2 × BASE, at least BASE.
    b.clock.t += BASE / 2 - 1;
    outbox.deliver(job);
    expect(b.published).toHaveLength(3);
    b.clock.t += (3 * BASE) / 2 + 1;
    outbox.deliver(job);
    await b.settle();
    expect(b.published).toHaveLength(4);
    expect(onDisk(job)).toEqual([]);
  });

  it('on shutdown (force) sends what waits for its backoff at once', async () => {
    const job = finishedJob();
    let fail = true;
    b.publish = async () => {
      if (fail) throw new Error('socket hang up');
    };
    outbox.deliver(job);
    await b.settle();
    expect(onDisk(job)).toEqual(['started', 'finished']);
    fail = false;
    outbox.deliver(job);
    expect(b.published).toHaveLength(2);
    outbox.deliver(job, true);
    await b.settle();
    expect(onDisk(job)).toEqual([]);
  });

  it('drops a report refused for good, and says so', async () => {
    const job = finishedJob();
    b.answer = async () => {
      throw new TaskCallbackRejectedError('InvalidToken: Invalid token');
    };
    outbox.deliver(job);
    await b.settle();
    expect(onDisk(job)).toEqual([]);
    expect(b.lines.find((l) => l.level === 'error')).toMatchObject({
      message: 'a report was refused for good and is dropped',
      fields: { report: 'task' },
    });
  });

  it('holds the task result while the job’s token is refused and its attempt still runs; events still go', async () => {
    const job = finishedJob({ execution_arn: 'arn:aws:states:us-east-1:123456789012:execution:wrapper:x' });
    b.running = async () => true;
    b.answer = async (c) =>
      c.op === 'success' ? { outcome: 'gave-up', reason: 'TaskTimedOut' } : { outcome: 'delivered' };
    outbox.deliver(job);
    await b.settle();
    // Refused: kept, and the job waits for the live token of a retried Dispatch.
    expect(onDisk(job)).toEqual(['task']);
    expect(job.stale).toMatchObject({ reason: 'TaskTimedOut' });
    expect(b.taskCalls.map((c) => c.op)).toEqual(['success', 'executionRunning']);
    // While stale, the result is not sent again, however often the outbox is asked.
    b.clock.t += MAX;
    outbox.deliver(job);
    outbox.deliver(job, true);
    await b.settle();
    expect(b.taskCalls.filter((c) => c.op === 'success')).toHaveLength(1);
  });

  it('treats a refused token as final when the attempt cannot be asked about: the result is not needed', async () => {
    const job = finishedJob();
    b.answer = async () => ({ outcome: 'gave-up', reason: 'TaskDoesNotExist' });
    outbox.deliver(job);
    await b.settle();
    expect(onDisk(job)).toEqual([]);
    expect(job.stale).toBeUndefined();
    expect(b.lines.map((l) => l.message)).toContain(
      'task result not needed: the orchestrator gave up on this attempt',
    );
  });
});
