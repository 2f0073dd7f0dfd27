/**
 * What the AWS-path harness puts on and takes off its simulated agent hosts' disks: the
 * `rsqlo-agent` shim SSM's document runs, and the jobs a failed test left running.
 */
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isSameProcessAlive, killProcessTree } from '../../../platform/processes.js';

/** Kills the jobs an agent's spool still records as running (a failed test): none is left behind. */
export async function killLeftoverJobs(spoolDir: string) {
  const dir = path.join(spoolDir, 'state');
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    try {
      const s = JSON.parse(readFileSync(path.join(dir, n), 'utf8')) as {
        pid?: number | null;
        start_ticks?: string | null;
        phase?: string;
      };
      if (s.pid && s.phase !== 'done' && isSameProcessAlive(s.pid, s.start_ticks ?? undefined))
        await killProcessTree(s.pid, 200);
    } catch {
      // not a state file
    }
  }
}

/** Writes the agent as installed on a host (agent/install): an executable running this package's rsqlo-agent. */
export function writeAgentShim(file: string) {
  const root = path.resolve(import.meta.dirname, '..', '..', '..');
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(
    file,
    `#!/bin/sh\n# The agent as installed on a host (agent/install): this package's rsqlo-agent.\nexec '${process.execPath}' '${path.join(root, 'bin', 'rsqlo-agent.js')}' "$@"\n`,
  );
  chmodSync(file, 0o755);
}
