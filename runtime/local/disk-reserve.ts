import { randomBytes } from 'node:crypto';
import { renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { type StoreError, storeFailure } from './store-errors.js';

/**
 * Space kept aside in the home (`disk-reserve`, random bytes so that no file system stores it
 * compressed or sparse). When the disk fills, the engine deletes it: what is freed is enough to
 * record the outcomes of the jobs still running, which would otherwise be lost.
 */
export class DiskReserve {
  constructor(
    readonly file: string,
    readonly bytes: number,
  ) {}

  /** Makes sure the reserve is there; the failure (no space…) when it cannot be. */
  ensure(): StoreError | undefined {
    if (this.bytes <= 0) return undefined;
    try {
      if (statSync(this.file).size >= this.bytes) return undefined;
    } catch {
      // not there yet
    }
    const tmp = `${this.file}.${process.pid}.tmp`;
    try {
      writeFileSync(tmp, randomBytes(this.bytes));
      renameSync(tmp, this.file);
      return undefined;
    } catch (err) {
      rmSync(tmp, { force: true });
      const f = storeFailure(err, this.file);
      if (f) return f;
      throw err;
    }
  }

  /** Frees the reserve; whether there was one. */
  release(): boolean {
    try {
      unlinkSync(this.file);
      return true;
    } catch {
      return false;
    }
  }
}
