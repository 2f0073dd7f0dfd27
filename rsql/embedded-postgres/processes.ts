/**
 * The embedded server's processes: its postmaster.pid, whether a pid is still a PostgreSQL server,
 * stopping one (fast, then immediate shutdown, then SIGKILL), and what a dead caller left working on a
 * cluster (an initdb, a postmaster no pid file names), found with `ps` on Linux and macOS alike.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import { platform } from 'node:os';
import { join } from 'node:path';
import { isSameProcessAlive } from '../../platform/processes.js';
import { EmbeddedPostgresError } from './errors.js';
import { isRoot, lookupUser, OS_USER, type RunAs } from './os-user.js';

/** How long a server may take to become ready, and a start lock may be held by a live process (60 s). */
export const START_TIMEOUT_MS = 60_000;

/** How long a fast shutdown may take before an immediate one is asked for (30 s). */
const STOP_TIMEOUT_MS = 30_000;

/** What postmaster.pid says about the server: its pid, port and status (`ready` once it accepts connections). */
export interface PidFileInfo {
  pid: number;
  port: number;
  status: string;
}

/** Lines: pid, data dir, start time, port, socket dir, listen addr, shmem key, status. */
export function readPidFile(pgdata: string): PidFileInfo | undefined {
  let text: string;
  try {
    text = readFileSync(join(pgdata, 'postmaster.pid'), 'utf8');
  } catch {
    return undefined;
  }
  const lines = text.split('\n');
  const pid = Number.parseInt(lines[0] ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return { pid, port: Number.parseInt(lines[3] ?? '', 10), status: (lines[7] ?? '').trim() };
}

/** Whether a pid is alive (platform/processes.ts, so it works on Linux and macOS). */
export function pidAlive(pid: number): boolean {
  return isSameProcessAlive(pid, undefined);
}

/** Whether a live pid is a PostgreSQL process (a recycled pid is not); assumed true where /proc is missing. */
export function isPostgresProcess(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('postgres');
  } catch {
    return platform() !== 'linux'; // cannot tell: assume it is
  }
}

/** Removes a postmaster.pid whose server is gone (dead or recycled pid); a live but unready server is an error. */
export function removeStalePidFile(pgdata: string, log: (line: string) => void): void {
  const info = readPidFile(pgdata);
  const file = join(pgdata, 'postmaster.pid');
  if (!existsSync(file)) return;
  if (info && pidAlive(info.pid) && isPostgresProcess(info.pid)) {
    throw new EmbeddedPostgresError(
      `a PostgreSQL process (pid ${info.pid}) holds ${pgdata} but is not ready (status "${info.status}"); stop it or retry`,
    );
  }
  log(`removing stale ${file}${info ? ` (pid ${info.pid} is not running)` : ''}`);
  unlinkSync(file);
}

/**
 * The server of the cluster once it has settled: a server still starting (or recovering after a
 * crash) is given the start timeout to become ready; one that does not is stopped.
 */
export async function settledServer(
  pgdata: string,
  log: (line: string) => void,
): Promise<PidFileInfo | undefined> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const info = readPidFile(pgdata);
    if (!info || !pidAlive(info.pid) || !isPostgresProcess(info.pid)) return undefined;
    if (info.status === 'ready' && Number.isInteger(info.port)) return info;
    if (Date.now() > deadline) {
      log(`stopping PostgreSQL pid ${info.pid} on ${pgdata}: not ready (status "${info.status}")`);
      await stopServer(pgdata);
      return undefined;
    }
    await sleep(50);
  }
}

/** Stops the server named by the cluster's postmaster.pid (fast shutdown, then immediate, then SIGKILL). */
export async function stopServer(pgdata: string): Promise<void> {
  const info = readPidFile(pgdata);
  if (!info || !pidAlive(info.pid) || !isPostgresProcess(info.pid)) return;
  await stopProcess(info.pid, `PostgreSQL (pid ${info.pid})`);
}

async function stopProcess(pid: number, what: string): Promise<void> {
  const signals: Array<[NodeJS.Signals, number]> = [
    ['SIGINT', STOP_TIMEOUT_MS], // fast shutdown: roll back open transactions, checkpoint, exit
    ['SIGQUIT', 5_000], // immediate shutdown
    ['SIGKILL', 5_000],
  ];
  for (const [signal, waitMs] of signals) {
    try {
      process.kill(pid, signal);
    } catch {
      return; // gone
    }
    const deadline = Date.now() + waitMs;
    while (pidAlive(pid)) {
      if (Date.now() > deadline) break;
      await sleep(20);
    }
    if (!pidAlive(pid)) return;
  }
  throw new EmbeddedPostgresError(`${what} did not stop`);
}

interface ProcessRow {
  pid: number;
  ppid: number;
  uid: number;
  args: string;
}

/** Every process with its parent, owner and command line (`ps`, on Linux and macOS alike). */
function listProcesses(): ProcessRow[] {
  const r = spawnSync('ps', ['-A', '-o', 'pid=', '-o', 'ppid=', '-o', 'uid=', '-o', 'args='], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) return [];
  const rows: ProcessRow[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^\s*(\d+)\s+(\d+)\s+(\d+)\s+(.*)$/.exec(line);
    if (m) rows.push({ pid: Number(m[1]), ppid: Number(m[2]), uid: Number(m[3]), args: m[4] as string });
  }
  return rows;
}

/** Whether a command line names `path` right after `flag` (and nothing longer than the path). */
function names(args: string, flag: string, path: string, suffixes: string[] = ['']): boolean {
  for (const suffix of suffixes) {
    const needle = `${flag}${path}${suffix}`;
    for (let at = args.indexOf(needle); at !== -1; at = args.indexOf(needle, at + 1)) {
      const after = args[at + needle.length];
      if (after === undefined || after === ' ') return true;
    }
  }
  return false;
}

/**
 * Stops what a dead caller left working on this cluster: an initdb (and its bootstrap backends) and
 * any postmaster of the cluster other than the one its postmaster.pid names (which the caller reuses
 * or stops). Only processes of the server's OS user are considered.
 */
export async function stopOrphans(
  pgdata: string,
  runAs: RunAs | undefined,
  log: (line: string) => void,
): Promise<void> {
  const uid = runAs?.uid ?? (isRoot() ? lookupUser(OS_USER)?.uid : process.getuid?.());
  const rows = listProcesses().filter((p) => p.pid !== process.pid && (uid === undefined || p.uid === uid));
  const recorded = readPidFile(pgdata)?.pid;
  const initdbs = rows.filter(
    (p) => /(^|\/)initdb /.test(p.args) && names(p.args, '--pgdata=', pgdata, ['', '.init']),
  );
  const postmasters = rows.filter(
    (p) => p.pid !== recorded && /(^|\/)postgres /.test(p.args) && names(p.args, ' -D ', pgdata),
  );
  for (const p of initdbs) {
    log(`stopping initdb (pid ${p.pid}) left running on ${pgdata} by a process that died`);
    const victims = [p];
    for (let k = 0; k < victims.length; k++) {
      const parent = victims[k] as ProcessRow;
      victims.push(...rows.filter((c) => c.ppid === parent.pid && !victims.includes(c)));
    }
    for (const victim of victims) {
      try {
        process.kill(victim.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    for (const victim of victims) {
      const deadline = Date.now() + STOP_TIMEOUT_MS;
      while (pidAlive(victim.pid) && Date.now() < deadline) await sleep(20);
    }
  }
  for (const p of postmasters) {
    log(`stopping PostgreSQL (pid ${p.pid}) left running on ${pgdata} without a record`);
    await stopProcess(p.pid, `PostgreSQL (pid ${p.pid})`);
  }
}

/** Waits `ms` milliseconds (the polling loops of start, stop and lock). */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
