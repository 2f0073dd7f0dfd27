/**
 * Checks of the state file before the engine trusts it, made before anything is written: a file
 * cut short is refused ({@link refuseCutShort}), and runs whose folders are in the home but not in
 * the state ({@link lostRuns}) stop the engine with a LostStateError unless it is told to move
 * them aside ({@link moveAside}). The evidence is read through a read-only connection.
 */
import {
  closeSync,
  type Dirent,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  statSync,
} from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { StoreError, storeFailure } from './store-errors.js';

/** Refuses a state file that is cut short (StoreError 'damaged'), naming how. */
export function refuseCutShort(file: string): void {
  const short = cutShort(file);
  if (short)
    throw new StoreError('damaged', file, 'SQLITE_CORRUPT', `${file} is damaged: it is cut short: ${short}`);
}

/**
 * Whether a state file is cut short: its header names more pages than the file holds. Only
 * meaningful without a write-ahead log (with one, pages may live in the log), and only when the
 * header's size is valid (SQLite's rule: change counter = version-valid-for).
 */
function cutShort(file: string): string | undefined {
  let size: number;
  try {
    size = statSync(file).size;
    if (size === 0 || statSync(`${file}-wal`).size > 0) return undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return undefined;
    try {
      size = statSync(file).size;
    } catch {
      return undefined;
    }
    if (size === 0) return undefined;
  }
  const head = Buffer.alloc(100);
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    if (readSync(fd, head, 0, 100, 0) < 100) return `it is ${size} bytes, shorter than a header`;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  if (head.toString('latin1', 0, 16) !== 'SQLite format 3\u0000') return undefined; // SQLite says NOTADB
  const raw = head.readUInt16BE(16);
  const pageSize = raw === 1 ? 65536 : raw;
  const pages = head.readUInt32BE(28);
  if (pages === 0 || head.readUInt32BE(24) !== head.readUInt32BE(92)) return undefined;
  return pages * pageSize > size
    ? `it is ${size} bytes, but its header says ${pages} pages of ${pageSize} bytes`
    : undefined;
}

/**
 * The state file does not know runs that left files in the home: it was emptied, truncated or
 * replaced, or its write-ahead log was deleted after a crash. The engine refuses to go on over
 * that evidence (it would start afresh and the runs would silently vanish) unless told to.
 */
export class LostStateError extends Error {
  override name = 'LostStateError';
  constructor(
    readonly file: string,
    readonly home: string,
    /** Execution ids with logs in the home and no record in the state. */
    readonly lost: string[],
    /** Whether the state file was new or empty when opened. */
    readonly fresh: boolean,
  ) {
    const shown = lost.slice(0, 5).join(', ') + (lost.length > 5 ? ` and ${lost.length - 5} more` : '');
    const why = fresh
      ? `${file} was missing or empty (deleted, truncated or replaced)`
      : `${file} lost its latest changes (its write-ahead log ${path.basename(file)}-wal was deleted after a crash, or the file was replaced by an older copy)`;
    super(
      `the engine state does not know ${lost.length} run(s) whose logs are in ${home}: ${shown}. ${why}. Nothing was changed. To recover, put back ${path.basename(file)} (and ${path.basename(file)}-wal) from a backup, then try again; to go on without those runs, add --forget-lost (their logs are moved to ${path.join(home, 'lost')}/)`,
    );
  }
}

/** Folders under `<home>/logs` and `<home>/runs` named like runs: the evidence of runs there. */
export function runFolders(home: string): string[] {
  const ids = new Set<string>();
  for (const dir of ['logs', 'runs']) {
    let entries: Dirent[] = [];
    try {
      entries = readdirSync(path.join(home, dir), { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) if (e.isDirectory() && !e.name.startsWith('.')) ids.add(e.name);
  }
  return [...ids].sort();
}

/**
 * Which of `ids` the state file at `file` has a record of, read without writing anything (a
 * read-only connection): what the engine checks before it opens a state that may have lost runs.
 */
export function knownRuns(file: string, ids: readonly string[]): Set<string> {
  const known = new Set<string>();
  refuseCutShort(file);
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, timeout: 5000 });
    const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'").get();
    if (!table) return known;
    const has = db.prepare('SELECT 1 FROM runs WHERE id = ?');
    for (const id of ids) if (has.get(id) !== undefined) known.add(id);
    return known;
  } catch (err) {
    throw storeFailure(err, file) ?? err;
  } finally {
    db?.close();
  }
}

/**
 * Runs with folders in the home that the state file has no record of: the state lost them (it was
 * emptied, truncated, replaced, or its write-ahead log deleted after a crash). The engine never
 * starts afresh over that evidence unless told to (LostStateError).
 */
export function lostRuns(file: string, home: string): string[] {
  const evidence = runFolders(home);
  if (evidence.length === 0) return [];
  const known = missingOrEmpty(file) ? new Set<string>() : knownRuns(file, evidence);
  return evidence.filter((id) => !known.has(id));
}

/** Moves the folders of runs the state lost to `<home>/lost/<time>/` (nothing is deleted), and says so. */
export function moveAside(home: string, lost: string[], notify: (line: string) => void): void {
  const dest = path.join(home, 'lost', new Date().toISOString().replace(/[:.]/g, '-'));
  try {
    for (const dir of ['logs', 'runs']) {
      for (const id of lost) {
        const from = path.join(home, dir, id);
        if (!existsSync(from)) continue;
        mkdirSync(path.join(dest, dir), { recursive: true });
        renameSync(from, path.join(dest, dir, id));
      }
    }
  } catch (err) {
    throw storeFailure(err, dest) ?? err;
  }
  notify(
    `the state had no record of ${lost.length} run(s) (${lost.join(', ')}); their logs were moved to ${dest}`,
  );
}

/** Whether the state file is missing or empty: a new state (or one that was emptied). */
export function missingOrEmpty(file: string): boolean {
  try {
    return statSync(file).size === 0;
  } catch {
    return true;
  }
}
