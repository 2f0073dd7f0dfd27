import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type ContainmentIo,
  cgroup2Mount,
  detectContainment,
  jobCgroupPrefix,
  jobCgroupsOf,
  newJobCgroupPath,
  parseCgroupV2Path,
  parseMounts,
  pruneCgroups,
} from './cgroup.js';

/** /proc/mounts of a hybrid host (v1 controllers, v2 at /sys/fs/cgroup/unified), as on the CI machine. */
const HYBRID_MOUNTS = `overlay / overlay rw,relatime,lowerdir=/l,upperdir=/u,workdir=/w 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,name=systemd 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
`;

/** A unified host (systemd 24x, Amazon Linux 2023). */
const UNIFIED_MOUNTS = `/dev/nvme0n1p1 / xfs rw,noatime,attr2,inode64 0 0
cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot 0 0
`;

/** A container with the hierarchy mounted read-only. */
const READONLY_MOUNTS = 'cgroup /sys/fs/cgroup cgroup2 ro,nosuid,nodev,noexec,relatime 0 0\n';

/** cgroup v1 only (CentOS 7). */
const V1_MOUNTS = `tmpfs /sys/fs/cgroup tmpfs ro,nosuid,nodev,noexec,mode=755 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,nosuid,nodev,noexec,relatime,memory 0 0
`;

const HYBRID_SELF = `9:name=systemd:/
4:memory:/process_api/b764dbfeb14fa6f7aa75bf2aaa30e5c4
1:cpu:/
0::/
`;
const SERVICE_SELF = '0::/system.slice/rsqlo-agent.service\n';
const USER_SELF = '0::/user.slice/user-1000.slice/user@1000.service/app.slice/app-term.scope\n';

describe('parseMounts / cgroup2Mount', () => {
  it('finds the v2 hierarchy on hybrid and unified hosts, none on v1-only ones', () => {
    expect(cgroup2Mount(parseMounts(HYBRID_MOUNTS))?.target).toBe('/sys/fs/cgroup/unified');
    expect(cgroup2Mount(parseMounts(UNIFIED_MOUNTS))).toMatchObject({
      target: '/sys/fs/cgroup',
      fstype: 'cgroup2',
      options: expect.arrayContaining(['rw', 'nsdelegate']),
    });
    expect(cgroup2Mount(parseMounts(V1_MOUNTS))).toBeUndefined();
    expect(cgroup2Mount(parseMounts(''))).toBeUndefined();
  });

  it('prefers /sys/fs/cgroup over other v2 mounts and unescapes octal escapes', () => {
    const text = `none /mnt/my\\040cgroups cgroup2 rw 0 0\ncgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n`;
    const mounts = parseMounts(text);
    expect(mounts[0]?.target).toBe('/mnt/my cgroups');
    expect(cgroup2Mount(mounts)?.target).toBe('/sys/fs/cgroup');
    expect(cgroup2Mount(parseMounts('none /mnt/my\\040cgroups cgroup2 rw 0 0'))?.target).toBe(
      '/mnt/my cgroups',
    );
  });

  it('skips malformed lines', () => {
    expect(parseMounts('garbage\n\n  \ncgroup2 /x cgroup2 rw 0 0')).toEqual([
      { source: 'cgroup2', target: '/x', fstype: 'cgroup2', options: ['rw'] },
    ]);
  });
});

describe('parseCgroupV2Path', () => {
  it('reads the 0:: line of /proc/self/cgroup', () => {
    expect(parseCgroupV2Path(HYBRID_SELF)).toBe('/');
    expect(parseCgroupV2Path(SERVICE_SELF)).toBe('/system.slice/rsqlo-agent.service');
    expect(parseCgroupV2Path(USER_SELF)).toBe(
      '/user.slice/user-1000.slice/user@1000.service/app.slice/app-term.scope',
    );
  });

  it('has none on v1-only hosts, and none that lies outside this cgroup namespace', () => {
    expect(parseCgroupV2Path('4:memory:/x\n1:cpu:/\n')).toBeUndefined();
    expect(parseCgroupV2Path('0::/../../other.slice\n')).toBeUndefined();
    expect(parseCgroupV2Path('')).toBeUndefined();
  });
});

/** A fake system: files by path, directories that exist, what mkdir and the probe answer. */
function fakeIo(o: {
  platform?: NodeJS.Platform;
  files?: Record<string, string>;
  exists?: string[];
  mkdir?: string;
  probe?: string;
}): ContainmentIo & { made: string[]; probed: string[] } {
  const made: string[] = [];
  const probed: string[] = [];
  return {
    made,
    probed,
    platform: o.platform ?? 'linux',
    readFile: (f) => o.files?.[f],
    exists: (f) => (o.exists ?? []).includes(f),
    mkdir: (d) => {
      made.push(d);
      return o.mkdir;
    },
    probe: (d) => {
      probed.push(d);
      return o.probe;
    },
  };
}

describe('detectContainment', () => {
  it('uses a cgroup per job under its own cgroup on a hybrid host as root', () => {
    const io = fakeIo({
      files: { '/proc/mounts': HYBRID_MOUNTS, '/proc/self/cgroup': HYBRID_SELF },
      exists: ['/sys/fs/cgroup/unified/cgroup.procs'],
    });
    expect(detectContainment(io)).toEqual({ kind: 'cgroup', base: '/sys/fs/cgroup/unified/rsqlo-jobs' });
    expect(io.made).toEqual(['/sys/fs/cgroup/unified/rsqlo-jobs']);
    expect(io.probed).toEqual(['/sys/fs/cgroup/unified/rsqlo-jobs']);
  });

  it('uses the delegated subtree of a systemd service', () => {
    const io = fakeIo({
      files: { '/proc/mounts': UNIFIED_MOUNTS, '/proc/self/cgroup': SERVICE_SELF },
      exists: ['/sys/fs/cgroup/system.slice/rsqlo-agent.service/cgroup.procs'],
    });
    expect(detectContainment(io)).toEqual({
      kind: 'cgroup',
      base: '/sys/fs/cgroup/system.slice/rsqlo-agent.service/rsqlo-jobs',
    });
  });

  it.each([
    ['macOS', { platform: 'darwin' as const }, /Linux-only \(darwin\)/],
    ['no /proc/mounts', {}, /cannot read \/proc\/mounts/],
    ['cgroup v1 only', { files: { '/proc/mounts': V1_MOUNTS } }, /no cgroup v2 hierarchy is mounted/],
    [
      'a read-only mount',
      { files: { '/proc/mounts': READONLY_MOUNTS } },
      /mounted read-only at \/sys\/fs\/cgroup/,
    ],
    [
      'no v2 path for this process',
      { files: { '/proc/mounts': UNIFIED_MOUNTS, '/proc/self/cgroup': '1:cpu:/\n' } },
      /no reachable cgroup v2 path/,
    ],
    [
      'its cgroup not under the mount',
      { files: { '/proc/mounts': UNIFIED_MOUNTS, '/proc/self/cgroup': USER_SELF } },
      /is not visible under the mount/,
    ],
    [
      'a user without delegation',
      {
        files: { '/proc/mounts': UNIFIED_MOUNTS, '/proc/self/cgroup': USER_SELF },
        exists: [
          '/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/app-term.scope/cgroup.procs',
        ],
        mkdir: 'EACCES',
      },
      /cannot create .*app-term\.scope\/rsqlo-jobs \(EACCES\): this user may not manage the cgroup/,
    ],
    [
      'a move the kernel refuses',
      {
        files: { '/proc/mounts': UNIFIED_MOUNTS, '/proc/self/cgroup': SERVICE_SELF },
        exists: ['/sys/fs/cgroup/system.slice/rsqlo-agent.service/cgroup.procs'],
        probe: 'Permission denied',
      },
      /cannot move processes into a cgroup under .*rsqlo-jobs \(Permission denied\)/,
    ],
  ])('falls back to the process group with the reason: %s', (_name, io, reason) => {
    const c = detectContainment(fakeIo(io));
    expect(c.kind).toBe('process-group');
    expect(c.kind === 'process-group' ? c.reason : '').toMatch(reason);
  });
});

describe('job cgroups', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'rsqlo-cgroup-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('names a job cgroup after a hash of its key, plus a suffix per start', () => {
    const key = '/home/x/logs/run-1/1.1.a1.log';
    const prefix = jobCgroupPrefix(key);
    expect(prefix).toMatch(/^job-[0-9a-f]{24}$/);
    expect(jobCgroupPrefix(key)).toBe(prefix);
    expect(jobCgroupPrefix('/home/x/logs/run-1/1.1.a2.log')).not.toBe(prefix);
    const a = newJobCgroupPath('/cg/rsqlo-jobs', key);
    const b = newJobCgroupPath('/cg/rsqlo-jobs', key);
    expect(a).toMatch(new RegExp(`^/cg/rsqlo-jobs/${prefix}-${process.pid}-\\d+$`));
    expect(b).not.toBe(a);
    // After a crash, every start's cgroup of a key is found, and only those.
    const base = path.join(dir, 'find');
    for (const p of [a, b, newJobCgroupPath('/cg/rsqlo-jobs', 'other')])
      mkdirSync(path.join(base, path.basename(p)), { recursive: true });
    expect(jobCgroupsOf(base, key).sort()).toEqual(
      [a, b].map((p) => path.join(base, path.basename(p))).sort(),
    );
    expect(jobCgroupsOf(path.join(dir, 'none'), key)).toEqual([]);
  });

  it('prunes only empty job cgroups older than the age given, never other folders', () => {
    const base = path.join(dir, 'rsqlo-jobs');
    for (const n of ['job-old-empty', 'job-old-busy', 'probe-1-2', 'other'])
      mkdirSync(path.join(base, n), { recursive: true });
    writeFileSync(path.join(base, 'job-old-busy', 'cgroup.events'), 'populated 1\nfrozen 0\n');
    // Made just now: not old enough.
    expect(pruneCgroups(base, 60_000)).toBe(0);
    // A minute later: the empty ones go (rmdir: a real cgroup's files vanish with it; here the busy
    // one also has a file, so it could not be removed anyway).
    expect(pruneCgroups(base, 60_000, Date.now() + 61_000)).toBe(2);
    expect(['job-old-busy', 'other'].every((n) => mkdirSafe(path.join(base, n)))).toBe(true);
  });
});

/** True when the folder still exists (mkdir fails with EEXIST). */
function mkdirSafe(p: string): boolean {
  try {
    mkdirSync(p);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EEXIST';
  }
}
