/**
 * Waiting in the AWS-path harness: polling a condition with a deadline, and knowing when the
 * simulated system has settled (nothing pending at any hop, no new activity across two stream
 * polls), with a readable account of what still moves when it has not.
 */
import type { JobAuditRecord, WorkflowAuditRecord } from '../../../contracts/audit.js';
import type { AwsHarness } from '../harness.js';

/** The parts of the harness whose motion is watched. */
export type MovingParts = Pick<
  AwsHarness,
  'bus' | 'ssm' | 'wrapper' | 'logs' | 'stream' | 'sqsSource' | 'functions' | 'hosts'
>;

/**
 * Waits until `check` holds (polling every 100 ms, a generous bound); on the deadline throws with
 * `what` and `describe()`'s account of what was still moving.
 */
export async function pollUntil<T>(
  check: () => Promise<T | undefined | false | null>,
  what: string,
  timeoutMs: number,
  describe: () => Promise<string>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${await describe()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A count that grows with every delivery, invocation, command, callback and log put. */
function activity(h: MovingParts): number {
  let n = h.bus.envelopes.length + h.ssm.runs.length + h.wrapper.callbacks.length + h.logs.puts;
  n += h.stream.read + h.sqsSource.received;
  for (const f of h.functions.values()) n += f.invocations;
  return n;
}

async function quiet(h: MovingParts): Promise<boolean> {
  if (h.bus.pending() || h.ssm.pending() || h.sqsSource.pending() || !h.stream.idle()) return false;
  for (const f of h.functions.values()) if (f.pending()) return false;
  if (h.wrapper.runningCount() > 0) return false;
  for (const host of h.hosts) if ((host.active()?.length ?? 0) > 0) return false;
  return (await h.sqsSource.depth()) === 0;
}

/**
 * Waits until nothing moves: no delivery, invocation, queue message, stream record, wrapper
 * execution or agent job pending, and no new activity over two more reads of the stream.
 */
export async function settle(h: MovingParts, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await quiet(h)) {
      const seen = activity(h);
      const polls = h.stream.polls;
      while (h.stream.polls < polls + 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (activity(h) === seen && (await quiet(h))) return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the harness did not settle within ${timeoutMs} ms\n${await describeMotion(h)}`);
}

/** What is still moving (for failure messages). */
export async function describeMotion(h: MovingParts): Promise<string> {
  const fns = [...h.functions.values()].map((f) => `${f.name}=${f.pending()}`).join(' ');
  return [
    `bus pending ${h.bus.pending()}, ssm pending ${h.ssm.pending()}, sqs batches ${h.sqsSource.pending()}, queue depth ${await h.sqsSource.depth().catch(() => '?')}`,
    `stream idle ${h.stream.idle()}, functions ${fns}`,
    `wrapper executions running: ${h.wrapper
      .executions()
      .filter((e) => e.status === 'RUNNING')
      .map((e) => e.name)
      .join(', ')}`,
    `agents: ${h.hosts.map((host) => `${host.instanceId} ${JSON.stringify(host.active() ?? '(process)')}`).join('; ')}`,
  ].join('\n');
}

/** Waits for the run to end, then for everything to settle; returns its audit records. */
export async function waitForRunEnd(
  h: Pick<AwsHarness, 'until' | 'run' | 'jobs' | 'settle'>,
  exec: string,
  timeoutMs: number,
): Promise<{ run: WorkflowAuditRecord; jobs: JobAuditRecord[] }> {
  const run = await h.until(
    async () => {
      const r = await h.run(exec);
      return r && r.execution_status !== 'Running' ? r : undefined;
    },
    `run ${exec} to end`,
    timeoutMs,
  );
  await h.settle(timeoutMs);
  return { run: (await h.run(exec)) ?? run, jobs: await h.jobs(exec) };
}
