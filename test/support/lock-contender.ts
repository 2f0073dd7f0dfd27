/**
 * A process that competes for an engine home's lock on command (test/e2e/engine-lock.test.ts).
 * Reads JSON lines on stdin: `{"op":"go","home":…,"at":<ms>}` spins until `at` (so that every
 * contender tries at the same moment), then calls acquireLock and answers `{"ok":true}` or
 * `{"ok":false,"error":…}`; `{"op":"release"}` releases a lock it holds and answers `{"released":true}`.
 */
import { createInterface } from 'node:readline';
import { acquireLock } from '../../host/lock.js';

let held: { release(): void } | undefined;
const say = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);

createInterface({ input: process.stdin }).on('line', (line) => {
  const msg = JSON.parse(line) as { op: string; home?: string; at?: number };
  if (msg.op === 'go') {
    while (Date.now() < (msg.at ?? 0)) {
      // spin: every contender leaves this loop within the same millisecond
    }
    try {
      held = acquireLock(msg.home as string);
      say({ ok: true, pid: process.pid });
    } catch (err) {
      say({ ok: false, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
    }
  } else if (msg.op === 'release') {
    held?.release();
    held = undefined;
    say({ released: true });
  }
});
say({ ready: true });
