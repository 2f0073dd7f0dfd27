/**
 * The agent's spool: a folder that outlives the daemon and holds everything it must not lose.
 *
 * ```
 * <spool>/jobs/<job_run_name>.json   submitted commands (written by `submit`, read by the daemon)
 * <spool>/state/<job_run_name>.json  the daemon's record of each job: phase, pid, log offset
 *                                    shipped, outcome, and the reports not yet delivered
 * <spool>/exits/<execution>          exit journals (host/job-runner.ts), one per workflow run
 * <spool>/tokens/<job_run_name>.<h>.json  the same job submitted again with another task token
 *                                    (a retried Dispatch); the daemon adopts the one Step
 *                                    Functions still accepts
 * <spool>/cancels/<job_run_name>.json  "stop this attempt" (a cancelled run)
 * ```
 *
 * Every file is written whole (temp file + rename), so a crash leaves the old or the new version,
 * never half of one. A command file is created with link(2), which fails when the name exists:
 * two deliveries of the same command cannot both land. Once a job is done its command file (the
 * task token) is deleted and its state file stays for a while as a tombstone, so a late
 * redelivery is still recognised and never runs the job again.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  chownSync,
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { SAFE_ID_PATTERN } from '../contracts/common.js';
import { JobCancel, JobCommand } from '../contracts/jobs.js';

/** The spool's folders. */
export interface SpoolPaths {
  root: string;
  jobs: string;
  state: string;
  exits: string;
  tokens: string;
  cancels: string;
}

/** The folders of a spool rooted at `root`. */
export function spoolPaths(root: string): SpoolPaths {
  return {
    root,
    jobs: path.join(root, 'jobs'),
    state: path.join(root, 'state'),
    exits: path.join(root, 'exits'),
    tokens: path.join(root, 'tokens'),
    cancels: path.join(root, 'cancels'),
  };
}

/** Creates the spool's folders (mode 0700: the task tokens are in there). */
export function ensureSpool(root: string): SpoolPaths {
  const p = spoolPaths(root);
  for (const dir of [p.root, p.jobs, p.state, p.exits, p.tokens, p.cancels])
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  return p;
}

/** A job run name usable as a file name: the safe id charset, and not `.` or `..`. */
export function isSafeJobRunName(name: string): boolean {
  return SAFE_ID_PATTERN.test(name) && name !== '.' && name !== '..' && name.length <= 80;
}

/** A submitted command as `submit` spools it: the JobCommand plus what SSM told us. */
export const SpooledCommand = z.object({
  v: z.literal(1),
  submitted_at: z.string(),
  /** The instance id SSM gave the submit step (AWS_SSM_INSTANCE_ID), if any. */
  instance_id: z.string().nullable(),
  /** The SSM command id, when it could be told from the submit step's working folder. */
  command_id: z.string().nullable(),
  command: JobCommand,
});
export type SpooledCommand = z.infer<typeof SpooledCommand>;

/** A submitted cancel as `submit` spools it. */
export const SpooledCancel = z.object({
  v: z.literal(1),
  submitted_at: z.string(),
  instance_id: z.string().nullable(),
  command_id: z.string().nullable(),
  cancel: JobCancel,
});
export type SpooledCancel = z.infer<typeof SpooledCancel>;

/** Writes `data` to a temp file in `dir` and returns its path (fsynced, mode 0600). */
function writeTemp(dir: string, base: string, data: string, owner?: { uid: number; gid: number }): string {
  const tmp = path.join(dir, `.${base}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  if (owner) chownSync(tmp, owner.uid, owner.gid);
  return tmp;
}

/** Replaces `file` with `data` atomically (temp file in the same folder + rename). */
export function writeFileAtomic(file: string, data: string): void {
  const tmp = writeTemp(path.dirname(file), path.basename(file), data);
  try {
    renameSync(tmp, file);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
    throw err;
  }
}

/** Path of a job's command file. */
export function commandFile(p: SpoolPaths, jobRunName: string): string {
  return path.join(p.jobs, `${jobRunName}.json`);
}

/** Path of a job's state file. */
export function stateFile(p: SpoolPaths, jobRunName: string): string {
  return path.join(p.state, `${jobRunName}.json`);
}

/** Path of a job's cancel file. */
export function cancelFile(p: SpoolPaths, jobRunName: string): string {
  return path.join(p.cancels, `${jobRunName}.json`);
}

/** Short digest of a task token, for file names (never the token itself). */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 16);
}

/** Path of a token update file: the job submitted again with the token whose digest is `digest`. */
export function tokenFile(p: SpoolPaths, jobRunName: string, digest: string): string {
  return path.join(p.tokens, `${jobRunName}.${digest}.json`);
}

/** The owner to give files written as root (the spool folder's owner, the daemon's user). */
function spoolOwner(p: SpoolPaths): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const st = statSync(p.jobs);
  return st.uid !== 0 ? { uid: st.uid, gid: st.gid } : undefined;
}

/** A folder added to the spool after the daemon created it (an update): made, and given to its owner. */
function ensureDir(dir: string, owner: { uid: number; gid: number } | undefined): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
    if (owner) chownSync(dir, owner.uid, owner.gid);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/** Creates `target` holding `data` unless it exists (temp file + link): true when this call made it. */
function createOnce(
  dir: string,
  target: string,
  data: string,
  owner?: { uid: number; gid: number },
): boolean {
  const tmp = writeTemp(dir, path.basename(target), data, owner);
  try {
    linkSync(tmp, target);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    unlinkSync(tmp);
  }
}

/**
 * Spools a command once: `queued` the first time, `duplicate` when this job run is already in the
 * spool or was run already (its tombstone exists). A job submitted again with ANOTHER task token
 * (the wrapper retried Dispatch: Step Functions issued a new token and no longer accepts the old
 * one) is `token`: the command is kept in `tokens/` for the daemon, which adopts whichever token
 * Step Functions still accepts. When run as root (SSM runs `submit` as root), files are handed to
 * the spool folder's owner, the daemon's user.
 */
export function spoolCommand(root: string, entry: SpooledCommand): 'queued' | 'duplicate' | 'token' {
  const p = spoolPaths(root);
  const name = entry.command.job_run_name;
  if (!isSafeJobRunName(name))
    throw new Error(`job_run_name ${JSON.stringify(name)} is not a safe file name`);
  const owner = spoolOwner(p);
  const target = commandFile(p, name);
  const data = JSON.stringify(entry);
  const token = entry.command.task_token;
  if (!createOnce(p.jobs, target, data, owner)) {
    let spooled: string | undefined;
    try {
      spooled = SpooledCommand.safeParse(readJson(target)).data?.command.task_token;
    } catch {
      // being replaced or removed right now: keep the new token, the daemon sorts it out
    }
    return spooled === token ? 'duplicate' : keepToken(p, name, token, data, owner);
  }
  // The daemon writes the tombstone before it deletes a finished job's command file: if there is
  // one, this is a late redelivery (or the job was cancelled before it arrived). Any other state is
  // the daemon having taken up the file just written (it can be that fast): a job it still tracks
  // keeps its command file until its tombstone is written, so the create above would have failed.
  if (phaseOf(stateFile(p, name)) === 'done') {
    try {
      unlinkSync(target);
    } catch {
      // the daemon removed it already
    }
    return keepToken(p, name, token, data, owner);
  }
  return 'queued';
}

function keepToken(
  p: SpoolPaths,
  name: string,
  token: string,
  data: string,
  owner: { uid: number; gid: number } | undefined,
): 'token' | 'duplicate' {
  ensureDir(p.tokens, owner);
  return createOnce(p.tokens, tokenFile(p, name, tokenDigest(token)), data, owner) ? 'token' : 'duplicate';
}

/** Spools a cancel once (`queued`; `duplicate` when one is already waiting). */
export function spoolCancel(root: string, entry: SpooledCancel): 'queued' | 'duplicate' {
  const p = spoolPaths(root);
  const name = entry.cancel.job_run_name;
  if (!isSafeJobRunName(name))
    throw new Error(`job_run_name ${JSON.stringify(name)} is not a safe file name`);
  const owner = spoolOwner(p);
  ensureDir(p.cancels, owner);
  return createOnce(p.cancels, cancelFile(p, name), JSON.stringify(entry), owner) ? 'queued' : 'duplicate';
}

/** Files of a folder of the spool that are `.json` and not temp files, oldest first. */
export function listSpoolFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: Array<{ file: string; mtime: number }> = [];
  for (const f of names) {
    if (!f.endsWith('.json') || f.startsWith('.')) continue;
    try {
      out.push({ file: f, mtime: statSync(path.join(dir, f)).mtimeMs });
    } catch {
      // removed meanwhile
    }
  }
  return out.sort((a, b) => a.mtime - b.mtime || (a.file < b.file ? -1 : 1)).map((x) => x.file);
}

/** The `phase` of a job's state file; undefined when there is none (or it cannot be read). */
function phaseOf(file: string): string | undefined {
  try {
    const phase = (readJson(file) as { phase?: unknown } | null)?.phase;
    return typeof phase === 'string' ? phase : undefined;
  } catch {
    return undefined;
  }
}

/** Names of the job runs with a command file, oldest first (then by name). */
export function listCommands(p: SpoolPaths): string[] {
  let names: string[];
  try {
    names = readdirSync(p.jobs);
  } catch {
    return [];
  }
  const out: Array<{ name: string; mtime: number }> = [];
  for (const file of names) {
    if (!file.endsWith('.json') || file.startsWith('.')) continue;
    const name = file.slice(0, -'.json'.length);
    try {
      out.push({ name, mtime: statSync(path.join(p.jobs, file)).mtimeMs });
    } catch {
      // removed meanwhile
    }
  }
  return out.sort((a, b) => a.mtime - b.mtime || (a.name < b.name ? -1 : 1)).map((x) => x.name);
}

/** Names of the jobs with a state file. */
export function listStates(p: SpoolPaths): string[] {
  try {
    return readdirSync(p.state)
      .filter((f) => f.endsWith('.json') && !f.startsWith('.'))
      .map((f) => f.slice(0, -'.json'.length));
  } catch {
    return [];
  }
}

/** Reads a JSON file, or undefined when it does not exist. */
export function readJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return JSON.parse(text);
}

/** Deletes a file; a missing one is fine. */
export function removeFile(file: string): void {
  try {
    unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
