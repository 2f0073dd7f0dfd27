/**
 * What a failure of the engine's files means, in one place: `storeFailure` turns SQLite's and the
 * system's error codes into a StoreError (busy, io with or without a full disk, damaged) that the
 * engine acts on and the CLI words for the user; anything else is a bug and stays as it was.
 */
import { statfsSync } from 'node:fs';
import path from 'node:path';

/** The state file was written by a newer rsqlo (a higher schema version): refused, never downgraded. */
export class StoreVersionError extends Error {
  override name = 'StoreVersionError';
}

/**
 * The state store (or another file of the engine's) could not be used, for a reason outside the
 * engine: another process holds the SQLite write lock (`busy`), the disk is full or failing, or
 * the file is read-only (`io`), or the file is damaged (`damaged`). The message is one line that
 * names the cause and the path.
 */
export class StoreError extends Error {
  override name = 'StoreError';
  constructor(
    readonly kind: 'busy' | 'io' | 'damaged',
    /** The file concerned. */
    readonly file: string,
    /** SQLite's or the system's error code (SQLITE_BUSY, SQLITE_FULL, ENOSPC…). */
    readonly code: string,
    message: string,
    options?: { cause?: unknown; diskFull?: boolean },
  ) {
    super(message, options);
    this.diskFull = options?.diskFull ?? /^(SQLITE_FULL|ENOSPC|EDQUOT)$/.test(code);
  }

  /** No space left (or a quota reached) on the device holding the file. */
  readonly diskFull: boolean;
}

const ERRNO_WORDS: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EIO: 'input/output error',
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
};

/** Below this many free bytes, an I/O error writing a file is put down to a full disk. */
const NEARLY_FULL_BYTES = 256 * 1024;

/**
 * Whether the device holding `file` is (nearly) full: SQLite reports some writes that failed for
 * want of space as plain I/O errors (growing its shared-memory file: SQLITE_IOERR_SHMSIZE).
 */
function deviceFull(file: string): boolean {
  try {
    const s = statfsSync(path.dirname(file));
    return s.bavail * s.bsize < NEARLY_FULL_BYTES;
  } catch {
    return false;
  }
}

/**
 * What an error means for the engine's files: a StoreError for SQLite's busy, I/O and damage
 * errors (about `file`, the database the error came from) and for the system's I/O errors (about
 * the path they name); undefined for anything else (a bug, a constraint violation).
 */
export function storeFailure(err: unknown, file: string): StoreError | undefined {
  if (err instanceof StoreError) return err;
  const e = err as { code?: unknown; message?: unknown; path?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const noSpace = (where: string) =>
    new StoreError('io', where, code, `no space left on the device: cannot write ${where} (${code})`, {
      cause: err,
      diskFull: true,
    });
  if (code.startsWith('SQLITE_')) {
    if (/^SQLITE_(BUSY|LOCKED)/.test(code))
      return new StoreError(
        'busy',
        file,
        code,
        `${file} is locked by another process (${code}): something (a sqlite3 shell, a backup) holds its write lock`,
        { cause: err },
      );
    if (/^SQLITE_(CORRUPT|NOTADB)/.test(code))
      return new StoreError('damaged', file, code, `${file} is damaged: ${message} (${code})`, {
        cause: err,
      });
    if (code === 'SQLITE_FULL') return noSpace(file);
    if (/^SQLITE_IOERR/.test(code) && deviceFull(file)) return noSpace(file);
    if (/^SQLITE_(IOERR|READONLY|CANTOPEN|PERM)/.test(code))
      return new StoreError('io', file, code, `cannot use ${file}: ${message} (${code})`, { cause: err });
    return undefined;
  }
  const words = ERRNO_WORDS[code];
  if (words) {
    const where = typeof e?.path === 'string' ? e.path : file;
    if (code === 'ENOSPC' || code === 'EDQUOT')
      return new StoreError('io', where, code, `${words}: cannot write ${where} (${code})`, { cause: err });
    const verb = code === 'EROFS' ? 'cannot write' : 'cannot use';
    return new StoreError('io', where, code, `${words}: ${verb} ${where} (${code})`, { cause: err });
  }
  return undefined;
}
