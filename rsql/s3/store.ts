/**
 * "S3" on a local folder: `s3://bucket/key` is the file `<root>/bucket/key`. Listing follows S3's key
 * prefix semantics (https://docs.aws.amazon.com/redshift/latest/dg/copy-parameters-data-source-s3.html:
 * "the name custdata.txt is a key prefix that refers to … custdata.txt, custdata.txt.1 … The key prefix
 * can also reference a number of folders"): every file whose key starts with the prefix, folders
 * included, in S3's (UTF-8 byte) key order.
 *
 * The root: `--s3-root DIR` / `\set RSQL_S3_ROOT` / env `RSQL_S3_ROOT`; the local engine passes
 * `<engine home>/s3` to its jobs; otherwise `$RSQLO_HOME/s3`, else `.rsqlo/s3` under the working
 * directory (where `rsqlo run` keeps its home by default).
 */
import { existsSync, lstatSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { S3StatementError } from './statement.js';

/** The S3 root folder for a run (see the module comment for the order). */
export function s3Root(opts: {
  variable: string | undefined;
  env: Record<string, string | undefined>;
  cwd: string;
}): string {
  const dir =
    opts.variable ??
    opts.env.RSQL_S3_ROOT ??
    (opts.env.RSQLO_HOME ? path.join(opts.env.RSQLO_HOME, 's3') : undefined);
  return path.resolve(opts.cwd, dir ?? path.join('.rsqlo', 's3'));
}

/** A parsed `s3://bucket/key`. */
export interface S3Location {
  bucket: string;
  key: string;
  url: string;
}

/**
 * Parses `s3://bucket/key`. The bucket is one path segment and the key has no `.`/`..` segment, so a
 * location never leaves the root.
 */
export function parseS3Url(url: string): S3Location {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/is.exec(url);
  const bucket = m?.[1] ?? '';
  const key = m?.[2] ?? '';
  if (!m || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/.test(bucket) || /^\.+$/.test(bucket)) {
    throw new S3StatementError('22023', `invalid S3 location '${url}': expected s3://bucket/key`);
  }
  if (key.includes('\0') || key.split('/').some((seg) => seg === '.' || seg === '..')) {
    throw new S3StatementError(
      '22023',
      `invalid S3 key in '${url}': "." and ".." segments are not allowed locally`,
    );
  }
  return { bucket, key, url: `s3://${bucket}/${key}` };
}

/** The local file of a location. */
export function localPath(root: string, loc: S3Location): string {
  return path.join(root, loc.bucket, ...loc.key.split('/').filter((s) => s !== ''));
}

/** The root's real path (it may itself be a link, e.g. /tmp on macOS); the root as given when missing. */
function realRoot(root: string): string {
  try {
    return realpathSync(root);
  } catch {
    return path.resolve(root);
  }
}

function within(realRootDir: string, real: string): boolean {
  return (
    real === realRootDir ||
    real.startsWith(realRootDir.endsWith(path.sep) ? realRootDir : realRootDir + path.sep)
  );
}

/**
 * Refuses a local path that leads outside the S3 root through a symbolic link (of the bucket, a folder
 * or the file): the deepest part of `file` that exists must resolve inside the root. `..` never gets
 * this far ({@link parseS3Url}).
 */
export function assertInsideRoot(root: string, file: string, url: string): void {
  const rootReal = realRoot(root);
  let probe = path.resolve(file);
  while (!existsSync(probe)) {
    const up = path.dirname(probe);
    if (up === probe) return;
    probe = up;
  }
  let real: string;
  try {
    real = realpathSync(probe);
  } catch {
    return;
  }
  if (!within(rootReal, real)) {
    throw new S3LoadError(
      `S3 location '${url}' leads outside the local S3 root through a symbolic link; refused`,
    );
  }
}

/** An object found under a prefix. */
export interface S3Object {
  key: string;
  url: string;
  file: string;
  size: number;
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** The temporary names UNLOAD writes under before renaming (rsql/s3/unload.ts). */
export const UNLOAD_TEMP = /\.rsqlo-\d+\.tmp$/;

/** Every object whose key starts with `loc.key`, in key order (empty when the bucket is missing). */
export function listPrefix(root: string, loc: S3Location): S3Object[] {
  const bucketDir = path.join(root, loc.bucket);
  const rootReal = realRoot(root);
  assertInsideRoot(root, bucketDir, `s3://${loc.bucket}/`);
  const slash = loc.key.lastIndexOf('/');
  const dirKey = slash >= 0 ? loc.key.slice(0, slash + 1) : '';
  const namePrefix = loc.key.slice(slash + 1);
  const out: S3Object[] = [];
  const walk = (dir: string, keyPrefix: string, filter: string | undefined) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      if (filter !== undefined && !name.startsWith(filter)) continue;
      // an UNLOAD's file still being written, or left by a runner that was killed: not an object yet
      if (UNLOAD_TEMP.test(name)) continue;
      const file = path.join(dir, name);
      let st: ReturnType<typeof statSync>;
      try {
        st = statSync(file);
        // a link is followed only when it stays inside the root (its files are then the link's keys)
        if (lstatSync(file).isSymbolicLink() && !within(rootReal, realpathSync(file))) {
          throw new S3LoadError(
            `S3 key 's3://${loc.bucket}/${keyPrefix + name}' leads outside the local S3 root through a symbolic link; refused`,
          );
        }
      } catch (e) {
        if (e instanceof S3LoadError) throw e;
        continue; // a dangling link, or a file removed while listing
      }
      const key = keyPrefix + name;
      if (st.isDirectory()) walk(file, `${key}/`, undefined);
      else if (st.isFile()) out.push({ key, url: `s3://${loc.bucket}/${key}`, file, size: st.size });
    }
  };
  const start = path.join(bucketDir, ...dirKey.split('/').filter(Boolean));
  assertInsideRoot(root, start, `s3://${loc.bucket}/${dirKey}`);
  walk(start, dirKey, namePrefix);
  return out.sort((a, b) => byteOrder(a.key, b.key));
}

/** A manifest entry (copy-parameters-data-source-s3.html). */
export interface ManifestEntry {
  url: string;
  mandatory: boolean;
}

/** A COPY failure that is not a row's fault (SQLSTATE XX000, as Redshift reports S3 problems). */
export class S3LoadError extends S3StatementError {
  override name = 'S3LoadError';
  constructor(message: string) {
    super('XX000', message);
  }
}

/**
 * Reads a COPY manifest: `{"entries": [{"url": "s3://…", "mandatory": true|false}, …]}`. Entries are
 * returned in order (a file listed twice is loaded twice, as the docs say); `mandatory` defaults to false.
 */
export function readManifest(root: string, loc: S3Location): ManifestEntry[] {
  let text: string;
  const file = localPath(root, loc);
  assertInsideRoot(root, file, loc.url);
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new S3LoadError(`Problem reading manifest file - the specified key does not exist: ${loc.url}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new S3LoadError(`Manifest file is not in correct json format: ${loc.url}`);
  }
  const entries = (doc as { entries?: unknown })?.entries;
  if (!Array.isArray(entries)) throw new S3LoadError(`Manifest file has no "entries" array: ${loc.url}`);
  return entries.map((e, i) => {
    const url = (e as { url?: unknown })?.url;
    const mandatory = (e as { mandatory?: unknown })?.mandatory ?? false;
    if (typeof url !== 'string' || typeof mandatory !== 'boolean') {
      throw new S3LoadError(
        `Manifest entry ${i + 1} needs a "url" string and an optional boolean "mandatory": ${loc.url}`,
      );
    }
    return { url, mandatory };
  });
}
