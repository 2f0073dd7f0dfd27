/**
 * Linux cgroup v2: finding the hierarchy (/proc/mounts, /proc/self/cgroup), deciding whether this
 * process may make a cgroup per job (root, or a delegated subtree), and the per-job operations
 * (create, list, kill, remove). Behind platform/processes.ts.
 *
 * The parsers and {@link detectContainment} take text and a small I/O port, so they are
 * unit-tested with fixtures (hybrid hosts, pure v2, no v2, read-only mounts, no delegation).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** One line of /proc/mounts. */
export interface MountEntry {
  source: string;
  target: string;
  fstype: string;
  options: string[];
}

/** `\040`-style octal escapes (space, tab, newline, backslash) in /proc/mounts fields. */
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
}

/** Parses /proc/mounts (or /etc/mtab): one entry per well-formed line. */
export function parseMounts(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4) continue;
    out.push({
      source: unescapeMountField(f[0] as string),
      target: unescapeMountField(f[1] as string),
      fstype: f[2] as string,
      options: (f[3] as string).split(','),
    });
  }
  return out;
}

/**
 * The cgroup v2 mount to use: `/sys/fs/cgroup` on a unified host, `/sys/fs/cgroup/unified` on a
 * hybrid one (v1 controllers beside a v2 hierarchy), otherwise the first `cgroup2` mount.
 */
export function cgroup2Mount(mounts: MountEntry[]): MountEntry | undefined {
  const v2 = mounts.filter((m) => m.fstype === 'cgroup2');
  return (
    v2.find((m) => m.target === '/sys/fs/cgroup') ??
    v2.find((m) => m.target === '/sys/fs/cgroup/unified') ??
    v2[0]
  );
}

/**
 * This process's cgroup v2 path from /proc/<pid>/cgroup (the `0::<path>` line), relative to the
 * hierarchy's root. Undefined when there is none, or when it lies outside this cgroup namespace
 * (`/..`): then it cannot be reached under the mount.
 */
export function parseCgroupV2Path(text: string): string | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith('0::')) continue;
    const p = line.slice(3).trim();
    if (!p.startsWith('/') || p.split('/').includes('..')) return undefined;
    return p;
  }
  return undefined;
}

/**
 * How job processes are contained. `cgroup`: every job gets its own cgroup under `base`, so all
 * it starts is found (and killed) whatever it does to its session, group or environment.
 * `process-group`: the fallback — the job's process group, its descendants and (on Linux) the
 * processes carrying its environment marker; `reason` says why cgroups are not used.
 */
export type Containment = { kind: 'cgroup'; base: string } | { kind: 'process-group'; reason: string };

/** Name of the folder, under this process's own cgroup, that holds the job cgroups. */
export const JOB_CGROUPS_DIR = 'rsqlo-jobs';

/** What {@link detectContainment} needs from the system (a fake in the tests). */
export interface ContainmentIo {
  platform: NodeJS.Platform;
  /** A file's text, or undefined when it cannot be read. */
  readFile(file: string): string | undefined;
  exists(file: string): boolean;
  /** `mkdir -p`; the errno code when it fails. */
  mkdir(dir: string): string | undefined;
  /** Moves a throwaway child process into a new cgroup under `base`; why not, when it fails. */
  probe(base: string): string | undefined;
}

/**
 * Decides how jobs are contained here: a cgroup per job when cgroup v2 is mounted read-write, this
 * process's own cgroup is reachable under the mount, and a child process can really be moved
 * into a cgroup made under it (root, or a subtree delegated to this user, e.g. systemd's
 * `Delegate=yes` or a user session's own service); otherwise the process-group fallback, with the
 * reason.
 */
export function detectContainment(io: ContainmentIo): Containment {
  if (io.platform !== 'linux')
    return { kind: 'process-group', reason: `cgroups are Linux-only (${io.platform})` };
  const mountsText = io.readFile('/proc/mounts');
  if (mountsText === undefined) return { kind: 'process-group', reason: 'cannot read /proc/mounts' };
  const mount = cgroup2Mount(parseMounts(mountsText));
  if (!mount)
    return { kind: 'process-group', reason: 'no cgroup v2 hierarchy is mounted (none in /proc/mounts)' };
  if (mount.options.includes('ro'))
    return { kind: 'process-group', reason: `cgroup v2 is mounted read-only at ${mount.target}` };
  const ownText = io.readFile('/proc/self/cgroup');
  const own = ownText === undefined ? undefined : parseCgroupV2Path(ownText);
  if (own === undefined)
    return {
      kind: 'process-group',
      reason: 'this process has no reachable cgroup v2 path in /proc/self/cgroup',
    };
  const ownDir = path.join(mount.target, own);
  if (!io.exists(path.join(ownDir, 'cgroup.procs')))
    return {
      kind: 'process-group',
      reason: `this process's cgroup ${ownDir} is not visible under the mount`,
    };
  const base = path.join(ownDir, JOB_CGROUPS_DIR);
  const made = io.mkdir(base);
  if (made !== undefined)
    return {
      kind: 'process-group',
      reason: `cannot create ${base} (${made}): this user may not manage the cgroup ${ownDir} (not root, not delegated)`,
    };
  const moved = io.probe(base);
  if (moved !== undefined)
    return { kind: 'process-group', reason: `cannot move processes into a cgroup under ${base} (${moved})` };
  return { kind: 'cgroup', base };
}

/** The real system behind {@link detectContainment}. */
export const systemContainmentIo: ContainmentIo = {
  platform: process.platform,
  readFile(file) {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return undefined;
    }
  },
  exists(file) {
    try {
      statSync(file);
      return true;
    } catch {
      return false;
    }
  },
  mkdir(dir) {
    try {
      mkdirSync(dir, { recursive: true });
      return undefined;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code ?? String(err);
    }
  },
  probe(base) {
    const dir = path.join(base, `probe-${process.pid}-${Date.now()}`);
    try {
      mkdirSync(dir);
    } catch (err) {
      return `cannot create ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
    }
    try {
      // Exactly what a job's wrapper does first.
      const r = spawnSync('/bin/sh', ['-c', 'echo $$ > "$1/cgroup.procs"', 'rsqlo-probe', dir], {
        encoding: 'utf8',
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      if (r.error) return r.error.message;
      if (r.status !== 0) return (r.stderr || `exit ${r.status}`).trim().split('\n').pop();
      return undefined;
    } finally {
      removeCgroup(dir);
    }
  },
};

/**
 * The name every cgroup of one job attempt starts with: `job-` and a hash of its key (its log
 * file). Each start adds its own suffix ({@link newJobCgroupPath}): a later start under the same
 * key (an attempt taken back after a crash) never shares a cgroup that is being removed.
 */
export function jobCgroupPrefix(key: string): string {
  return `job-${createHash('sha256').update(key).digest('hex').slice(0, 24)}`;
}

let starts = 0;

/** A fresh cgroup path for one start of the job with `key`: `<base>/<prefix>-<pid>-<n>`. */
export function newJobCgroupPath(base: string, key: string): string {
  return path.join(base, `${jobCgroupPrefix(key)}-${process.pid}-${++starts}`);
}

/** The cgroups under `base` of every start of the job with `key` (after a crash: to kill them). */
export function jobCgroupsOf(base: string, key: string): string[] {
  const prefix = `${jobCgroupPrefix(key)}-`;
  try {
    return readdirSync(base)
      .filter((n) => n.startsWith(prefix))
      .map((n) => path.join(base, n));
  } catch {
    return [];
  }
}

/** Creates a cgroup (an existing one is fine); false when it cannot be made. */
export function createCgroup(dir: string): boolean {
  try {
    mkdirSync(dir);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return true;
    if (code === 'ENOENT') {
      try {
        mkdirSync(dir, { recursive: true });
        return true;
      } catch {
        return false;
      }
    }
    return false;
  }
}

/** Pids in a cgroup (its `cgroup.procs`); empty when it is gone. */
export function cgroupPids(dir: string): number[] {
  try {
    return readFileSync(path.join(dir, 'cgroup.procs'), 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map(Number)
      .filter((n) => Number.isInteger(n) && n > 0);
  } catch {
    return [];
  }
}

/** Whether a process is left in the cgroup or below it (`cgroup.events`); false when it is gone. */
export function cgroupPopulated(dir: string): boolean {
  try {
    return /^populated 1$/m.test(readFileSync(path.join(dir, 'cgroup.events'), 'utf8'));
  } catch {
    return false;
  }
}

/**
 * SIGKILLs everything in the cgroup and below: `cgroup.kill` (Linux 5.14+) does it atomically, so
 * a process forking meanwhile cannot slip out; on older kernels each listed pid is killed (the
 * caller repeats until the cgroup is empty).
 */
export function killCgroup(dir: string): void {
  try {
    writeFileSync(path.join(dir, 'cgroup.kill'), '1');
    return;
  } catch {
    // no cgroup.kill (old kernel), or the cgroup is gone
  }
  for (const pid of cgroupPids(dir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

/** Removes an empty cgroup; true when it is gone. A cgroup with processes left stays. */
export function removeCgroup(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/**
 * Removes job cgroups under `base` that are empty and older than `olderThanMs` (default 60 s): a
 * job whose leftovers outlived it keeps its cgroup until they end. The age spares a cgroup another
 * engine has just made for a job that has not joined it yet.
 */
export function pruneCgroups(base: string, olderThanMs = 60_000, now = Date.now()): number {
  let removed = 0;
  let names: string[];
  try {
    names = readdirSync(base);
  } catch {
    return 0;
  }
  for (const name of names) {
    if (!name.startsWith('job-') && !name.startsWith('probe-')) continue;
    const dir = path.join(base, name);
    try {
      if (now - statSync(dir).ctimeMs < olderThanMs) continue;
    } catch {
      continue;
    }
    if (!cgroupPopulated(dir) && removeCgroup(dir)) removed++;
  }
  return removed;
}
