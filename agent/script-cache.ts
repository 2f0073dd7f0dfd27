/**
 * The scripts the stack ships (infra/constructs/script-assets.ts), on this host, one folder per
 * version: `<cacheDir>/<version>/<workflow_id>/<script>`. A run's jobs carry the version the
 * starter recorded for the run (`script_version`), so every job of that run on every host uses one
 * script set, whatever was deployed meanwhile.
 *
 * Fetching a version: the bundle is downloaded whole, its SHA-256 must equal the version (the
 * version IS the content hash: a partial or corrupt download is refused and nothing is written),
 * it is unpacked into a temporary folder beside the cache and renamed into place in one step. A
 * version folder therefore exists only complete. Two jobs of one run on this host share one
 * download (in process); two processes racing (a restarted daemon) both unpack and the second
 * rename loses harmlessly to the first. A cached version is never fetched again.
 */
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

/** The bundle's format, as infra/workflows.ts writes it. */
export const SCRIPT_BUNDLE_FORMAT = 'rsqlo-scripts/1';
const VERSION = /^[0-9a-f]{64}$/;

const BundleFile = z.object({ mode: z.number().int().min(0).max(0o7777), base64: z.string() });
const Bundle = z.object({
  format: z.literal(SCRIPT_BUNDLE_FORMAT),
  workflows: z.record(z.string(), z.record(z.string(), BundleFile)),
});

/** The version cannot be used: missing from the bucket, corrupt, or without this workflow. */
export class ScriptVersionError extends Error {
  override name = 'ScriptVersionError';
}

/** Where a version's bundle comes from (S3 GetObject of `<keyPrefix><version>.json`). */
export interface ScriptSource {
  /** The bundle's bytes; throws ScriptVersionError when the object does not exist. */
  get(version: string): Promise<Uint8Array>;
  /** Where it is, for messages (`s3://bucket/key`). */
  describe(version: string): string;
}

export interface ScriptCache {
  /** The script root of `workflowId` in `version`, fetched first when not cached. */
  rootFor(version: string, workflowId: string): Promise<string>;
}

/** Downloads tried per version before a hash mismatch is final. */
const TRIES = 3;

export function createScriptCache(opts: { dir: string; source: ScriptSource }): ScriptCache {
  const { dir, source } = opts;
  const pending = new Map<string, Promise<string>>();

  async function download(version: string): Promise<Buffer> {
    let got = '';
    for (let i = 0; i < TRIES; i++) {
      const bytes = Buffer.from(await source.get(version));
      got = createHash('sha256').update(bytes).digest('hex');
      if (got === version) return bytes;
    }
    throw new ScriptVersionError(
      `script version ${version}: ${source.describe(version)} has SHA-256 ${got} (corrupt or partial download, ${TRIES} tries); nothing was installed`,
    );
  }

  function unpack(version: string, bytes: Buffer): void {
    let bundle: z.infer<typeof Bundle>;
    try {
      bundle = Bundle.parse(JSON.parse(bytes.toString('utf8')));
    } catch (err) {
      throw new ScriptVersionError(
        `script version ${version} is not a script bundle: ${(err as Error).message}`,
      );
    }
    mkdirSync(dir, { recursive: true });
    const tmp = path.join(
      dir,
      `.tmp-${version.slice(0, 12)}-${process.pid}-${Math.random().toString(36).slice(2)}`,
    );
    try {
      for (const [workflowId, files] of Object.entries(bundle.workflows)) {
        const wfRoot = path.join(tmp, safeSegment(workflowId));
        mkdirSync(wfRoot, { recursive: true });
        for (const [rel, f] of Object.entries(files)) {
          const target = path.resolve(wfRoot, rel);
          if (!target.startsWith(`${wfRoot}${path.sep}`))
            throw new ScriptVersionError(
              `script version ${version}: ${JSON.stringify(rel)} leaves its folder`,
            );
          mkdirSync(path.dirname(target), { recursive: true });
          writeFileSync(target, Buffer.from(f.base64, 'base64'));
          chmodSync(target, f.mode & 0o755);
        }
      }
      try {
        renameSync(tmp, path.join(dir, version));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // Another process put the same version in place first: it is complete; ours goes.
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }

  async function ensure(version: string): Promise<string> {
    const folder = path.join(dir, version);
    if (existsSync(folder)) return folder;
    unpack(version, await download(version));
    return folder;
  }

  return {
    async rootFor(version, workflowId) {
      if (!VERSION.test(version))
        throw new ScriptVersionError(`${JSON.stringify(version)} is not a script version`);
      let p = pending.get(version);
      if (!p) {
        p = ensure(version);
        pending.set(version, p);
        // A failure is not remembered: the next job of the run tries again.
        p.catch(() => pending.delete(version));
      }
      const folder = await p;
      const root = path.join(folder, safeSegment(workflowId));
      if (!existsSync(root) || !statSync(root).isDirectory())
        throw new ScriptVersionError(
          `workflow ${workflowId} has no scripts in script version ${version} (shipped: ${readdirSync(folder).join(', ') || 'none'})`,
        );
      return root;
    },
  };
}

/** A workflow id as one folder name (ids are letters, digits, `_` and `-`; never `.` or `..`). */
function safeSegment(id: string): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(id) || id === '.' || id === '..')
    throw new ScriptVersionError(`${JSON.stringify(id)} cannot name a script folder`);
  return id;
}
