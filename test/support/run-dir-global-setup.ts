/** Vitest globalSetup, first of every project: the run's own temp directory (see run-dir.ts). */
import { setUpRunDir } from './run-dir.js';

export default function setup(): () => void {
  return setUpRunDir().teardown;
}
