/**
 * What the end-to-end tests of `rsqlo serve` share: real `rsqlo` processes started in their own
 * process groups and killed after each test, a server started on a home (its web URL read from
 * its output), workflow folders of their own, and the bounded wait-for-a-file a script uses as a
 * gate (no sleeps in tests: a script waits for a file the test writes).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  killProcessesMentioning,
  type RsqloProcess,
  type SpawnRsqloOptions,
  spawnRsqlo,
  until,
} from '../support/processes.js';
import type { Workspace } from '../support/workspace.js';

/** The processes a test started; `cleanup()` kills what is left (in `afterEach`). */
export function processGroup() {
  const procs: RsqloProcess[] = [];
  function start(argv: string[], opts: SpawnRsqloOptions = {}): RsqloProcess {
    const p = spawnRsqlo(argv, opts);
    procs.push(p);
    return p;
  }
  return {
    start,
    /** `rsqlo serve --port 0 --no-database` on `home`; resolves once it listens, with its URL. */
    async serve(
      home: string,
      extra: string[] = [],
      opts: SpawnRsqloOptions = {},
    ): Promise<{ p: RsqloProcess; url: string }> {
      const p = start(['serve', '--home', home, '--port', '0', '--no-database', ...extra], opts);
      const url = await until(
        () => /rsqlo serve: .* at (http:\/\/127\.0\.0\.1:\d+)\//.exec(p.stdout())?.[1],
        `the server's URL (stderr: ${p.stderr()})`,
        60_000,
      );
      return { p, url };
    },
    /** Kills every process still running (their groups), and anything mentioning `dir`. */
    cleanup(dir?: string): void {
      for (const p of procs.splice(0)) {
        if (p.child.exitCode === null && p.child.signalCode === null && p.child.pid) {
          try {
            process.kill(-p.child.pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
      }
      if (dir) killProcessesMentioning(dir);
    },
  };
}

/**
 * A workflow folder of its own under the workspace: `workflow.json` and its scripts. `stages`
 * defaults to one sequential stage of every script; `extra` is merged into the definition.
 */
export function workflowDir(
  ws: Workspace,
  id: string,
  scripts: Record<string, string>,
  extra: object = {},
): string {
  const dir = path.join(ws.dir, id);
  mkdirSync(dir, { recursive: true });
  for (const [name, body] of Object.entries(scripts))
    writeFileSync(path.join(dir, name), `#!/bin/bash\n${body}\n`, { mode: 0o755 });
  writeFileSync(
    path.join(dir, 'workflow.json'),
    JSON.stringify({
      workflow_id: id,
      workflow_stages: [{ execution_flag: 'y', execution_type: 'sequential', scripts: Object.keys(scripts) }],
      ...extra,
    }),
  );
  return dir;
}

/** Shell: waits (bounded, 2 minutes) for a file; exit 9 if it never comes. */
export const waitFor = (file: string) =>
  `for i in $(seq 2400); do [ -e ${file} ] && break; sleep 0.05; done; [ -e ${file} ] || exit 9`;
