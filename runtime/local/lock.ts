import { closeSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { isSameProcessAlive } from '../../platform/processes.js';

/** Another engine holds the home. */
export class EngineLockedError extends Error {
  override name = 'EngineLockedError';
  constructor(
    readonly home: string,
    readonly pid: number,
  ) {
    super(
      `another rsqlo engine (pid ${pid}) is using ${home}; wait for it to finish, stop it, or use another --home`,
    );
  }
}

/**
 * One engine owns a home at a time: `engine.lock` holds its pid. A lock left by a dead process
 * (a crash, SIGKILL) is taken over; a live one is refused with a clear EngineLockedError.
 */
export function acquireLock(home: string): { release(): void } {
  const file = path.join(home, 'engine.lock');
  for (let i = 0; i < 3; i++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return {
        release() {
          try {
            if (readFileSync(file, 'utf8').trim() === String(process.pid)) unlinkSync(file);
          } catch {
            // already gone
          }
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let holder = Number.NaN;
    try {
      holder = Number(readFileSync(file, 'utf8').trim());
    } catch {
      continue;
    }
    if (
      Number.isInteger(holder) &&
      holder > 0 &&
      holder !== process.pid &&
      isSameProcessAlive(holder, undefined)
    ) {
      throw new EngineLockedError(home, holder);
    }
    // Stale: replace it atomically, then try again to create ours.
    const tmp = `${file}.${process.pid}.stale`;
    try {
      writeFileSync(tmp, '');
      renameSync(tmp, file);
      unlinkSync(file);
    } catch {
      // someone else is doing the same; loop
    }
  }
  throw new Error(`could not take the engine lock ${file}`);
}
