/**
 * A bench for unit tests of the daemon's parts (intake, attempt tokens, report outbox…): a real
 * spool on a temp folder and an {@link AgentContext} over recording ports whose answers a test
 * scripts, with a clock the test moves. No daemon, no timers: a test calls a part, then
 * {@link PartsBench.settle} to let the calls it started finish.
 */
import { rmSync } from 'node:fs';
import type { RsqloEvent } from '../../contracts/events.js';
import type { JobCommand } from '../../contracts/jobs.js';
import type { TaskCallbackResult, TaskCallbacks } from '../../runtime/aws/task-callbacks.js';
import { type AgentContext, createAgentContext } from '../agent-context.js';
import { ensureSpool, type SpooledCommand } from '../spool.js';
import { makeWorkspace, type Workspace } from './fixtures.js';

/** One call a part made to the task callbacks port. */
export interface TaskCall {
  op: 'success' | 'failure' | 'heartbeat' | 'executionRunning';
  token: string;
}

export interface PartsBench {
  ws: Workspace;
  ctx: AgentContext;
  /** The clock the context reads; tests move it. */
  clock: { t: number };
  /** Every publish call, in the order made (whatever its answer). */
  published: RsqloEvent[][];
  /** Every task callback call, in the order made. */
  taskCalls: TaskCall[];
  /** How a publish answers (default: delivered). */
  publish: (events: RsqloEvent[]) => Promise<void>;
  /** How a task callback answers (default: delivered). */
  answer: (call: TaskCall) => Promise<TaskCallbackResult>;
  /** How executionRunning answers; undefined: the port has no such method. */
  running: ((arn: string) => Promise<boolean>) | undefined;
  lines: Array<{ level: string; message: string; fields: Record<string, unknown> }>;
  /** Passes the parts asked for (ctx.scheduleTick). */
  ticks: number;
  /** Waits until no call the parts started is in flight. */
  settle(): Promise<void>;
  cleanup(): void;
}

const delivered: TaskCallbackResult = { outcome: 'delivered' };

/** A bench over a fresh workspace; `retryBackoff` defaults to 1 s doubling to 8 s. */
export function partsBench(opts: { retryBackoff?: { baseMs: number; maxMs: number } } = {}): PartsBench {
  const ws = makeWorkspace();
  ensureSpool(ws.spool);
  const call = (op: TaskCall['op'], token: string) => {
    const c = { op, token };
    bench.taskCalls.push(c);
    return bench.answer(c);
  };
  const tasks: TaskCallbacks = {
    success: (token) => call('success', token),
    failure: (token) => call('failure', token),
    heartbeat: (token) => call('heartbeat', token),
  };
  // Read at each use, as the parts do: a test may give the port the method or take it away.
  Object.defineProperty(tasks, 'executionRunning', {
    enumerable: true,
    get: () => {
      const running = bench.running;
      return running
        ? (arn: string) => {
            bench.taskCalls.push({ op: 'executionRunning', token: arn });
            return running(arn);
          }
        : undefined;
    },
  });
  const line = (level: string) => (message: string, fields?: Record<string, unknown>) => {
    bench.lines.push({ level, message, fields: fields ?? {} });
  };
  const ctx = createAgentContext({
    config: ws.config,
    events: {
      publish: (events) => {
        bench.published.push(events);
        return bench.publish(events);
      },
      ensurePublished: async () => {},
    },
    tasks,
    log: { info: line('info'), warn: line('warn'), error: line('error') },
    now: () => bench.clock.t,
    retryBackoff: opts.retryBackoff ?? { baseMs: 1000, maxMs: 8000 },
    tick: () => {},
  });
  // Passes are counted, never run: the test drives the parts itself.
  ctx.scheduleTick = () => {
    bench.ticks++;
  };
  const bench: PartsBench = {
    ws,
    ctx,
    clock: { t: Date.parse('2025-03-01T00:00:00Z') },
    published: [],
    taskCalls: [],
    publish: async () => {},
    answer: async () => delivered,
    running: undefined,
    lines: [],
    ticks: 0,
    async settle() {
      for (let i = 0; i < 100 && ctx.inflight.size > 0; i++) await Promise.allSettled([...ctx.inflight]);
      // Let the continuations of the settled calls run.
      await new Promise((r) => setImmediate(r));
    },
    cleanup() {
      ctx.closed = true;
      rmSync(ws.root, { recursive: true, force: true });
    },
  };
  return bench;
}

/** A spooled entry for `cmd`, as `submit` writes it. */
export function spooled(cmd: JobCommand, over: Partial<SpooledCommand> = {}): SpooledCommand {
  return {
    v: 1,
    submitted_at: new Date().toISOString(),
    instance_id: 'i-0123456789abcdef0',
    command_id: null,
    command: cmd,
    ...over,
  };
}
