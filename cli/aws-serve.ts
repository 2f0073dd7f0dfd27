/**
 * `rsqlo serve --aws`: the web run view (web/) of a deployed stack: runs and jobs from its audit
 * tables, logs from CloudWatch Logs, kill and restart as requests on its bus (aws-run-view.ts). It
 * runs nothing itself (the stack does), so it needs no home and takes no --workflows.
 */

import { parseArgs } from 'node:util';
import { createRunViewServer } from '../web/server.js';
import { awsActions, awsPools, createAwsLogSource, createAwsRunViewSource } from './aws-run-view.js';
import { AWS_OPTIONS, type AwsCliDeps, connectStack, stackCommand } from './aws-stack.js';
import { EXIT, type Io } from './drive.js';
import { webRequester } from './who.js';

export const SERVE_AWS_USAGE = `Usage: rsqlo serve --aws [--stack NAME] [--region R] [--profile P] [--host 127.0.0.1] [--port 8686]

Shows the runs of a deployed stack at http://HOST:PORT/ (from its audit tables and CloudWatch Logs;
kill and restart go on its bus). Ctrl-C or SIGTERM stops it.
`;

export interface ServeAwsOptions extends AwsCliDeps {
  /** Resolves when serve should stop (default: SIGINT or SIGTERM). */
  stopSignal?: Promise<void>;
  /** Hears the server's URL once it listens. */
  onListening?: (url: string) => void;
}

export async function serveAws(argv: string[], io: Io, opts: ServeAwsOptions = {}): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '8686' },
        help: { type: 'boolean', short: 'h' },
        ...AWS_OPTIONS,
      },
      allowPositionals: false,
      strict: true,
    }).values;
  } catch (err) {
    io.stderr.write(
      `rsqlo serve: ${err instanceof Error ? err.message.replace(/^TypeError \[[A-Z_]+\]: /, '') : String(err)}\n\n${SERVE_AWS_USAGE}`,
    );
    return EXIT.usage;
  }
  if (values.help) {
    io.stdout.write(SERVE_AWS_USAGE);
    return 0;
  }
  const port = Number(values.port);
  if (!/^\d+$/.test(String(values.port)) || port > 65_535) {
    io.stderr.write('rsqlo serve: --port must be a whole number from 0 to 65535\n');
    return EXIT.usage;
  }
  const host = String(values.host);
  return stackCommand(io, async () => {
    const t = await connectStack(values, opts);
    const source = createAwsRunViewSource(t, opts.pollMs !== undefined ? { pollMs: opts.pollMs } : {});
    const loopback =
      host === 'localhost' ||
      host === '::1' ||
      host.startsWith('127.') ||
      host === '0.0.0.0' ||
      host === '::';
    const view = createRunViewServer({
      source,
      logs: createAwsLogSource(t, opts.pollMs !== undefined ? { pollMs: opts.pollMs } : {}),
      actions: awsActions(t),
      pools: awsPools(t),
      requestedBy: webRequester(),
      allowedHosts: loopback ? [] : [host],
    });
    let url: string;
    try {
      url = await view.listen(port, host);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      io.stderr.write(
        `rsqlo serve: cannot listen on ${host}:${port}: ${code === 'EADDRINUSE' ? 'the port is in use (choose another with --port)' : String((err as Error).message)}\n`,
      );
      source.close();
      return EXIT.usage;
    }
    io.stdout.write(
      `rsqlo serve: stack ${t.stack} (${t.region}) at ${url}/ (pid ${process.pid}; Ctrl-C stops)\n`,
    );
    opts.onListening?.(url);
    await (opts.stopSignal ??
      new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      }));
    io.stdout.write('rsqlo serve: stopping\n');
    await view.close();
    source.close();
    return 0;
  });
}
