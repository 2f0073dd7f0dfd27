/**
 * Started by run-dir.ts beside a test run, in its own process group (a Ctrl-C in the terminal does
 * not reach it): `janitor.ts <vitest pid> <run dir>`. When the vitest process is gone without
 * having cleaned up (interrupted, killed), it stops what the run left running and removes the run's
 * directory. A normal teardown cleans up itself and ends the janitor with SIGTERM.
 */
import { cleanUpRunDir } from './run-dir.js';

const [watched, dir] = process.argv.slice(2);
if (!watched || !dir) {
  console.error('usage: janitor.ts <pid> <dir>');
  process.exit(2);
}
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => {}); // a stray Ctrl-C: keep watching

const timer = setInterval(() => {
  try {
    process.kill(Number(watched), 0);
  } catch {
    clearInterval(timer);
    cleanUpRunDir(dir);
    process.exit(0);
  }
}, 250);
