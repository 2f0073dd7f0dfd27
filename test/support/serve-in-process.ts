/**
 * `rsqlo serve --no-database --port 0` of a home, run inside the test process (not a child), so a
 * test can inject the schedules' clock and timers (test/support/fake-time.ts) and stop it with a
 * signal of its own. What it prints is collected: stdout, stderr, and both interleaved as written.
 */
import { PassThrough } from 'node:stream';
import { main } from '../../cli/main.js';
import { type ServeOptions, serveCommand } from '../../cli/serve.js';
import type { Workspace } from './workspace.js';

/** A server started by {@link serveInProcess}. */
export interface InProcessServe {
  out(): string;
  err(): string;
  /** stdout and stderr in the order they were written. */
  all(): string;
  /** Its URL once it listens ('' before). */
  url(): string;
  /** Asks it to stop (as SIGTERM would); `exit` then resolves with its exit code. */
  stop(): void;
  exit: Promise<number>;
}

/** Starts serve on `ws.home` with `args` after the home, port and database flags. */
export function serveInProcess(
  ws: Workspace,
  args: string[],
  opts: Pick<ServeOptions, 'clock' | 'timers'> = {},
): InProcessServe {
  let out = '';
  let err = '';
  let all = '';
  let url = '';
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  stdout.on('data', (c) => {
    out += String(c);
    all += String(c);
  });
  stderr.on('data', (c) => {
    err += String(c);
    all += String(c);
  });
  let stop!: () => void;
  const stopSignal = new Promise<void>((r) => {
    stop = r;
  });
  const exit = serveCommand(
    ['--home', ws.home, '--port', '0', '--no-database', ...args],
    { stdout, stderr },
    main,
    { ...opts, stopSignal, onListening: (u) => (url = u) },
  );
  return { out: () => out, err: () => err, all: () => all, url: () => url, stop, exit };
}
