import { existsSync } from 'node:fs';
import path from 'node:path';
import { type StoreError, storeFailure } from '../runtime/local/store.js';
import { command } from './invocation.js';

/** ` --home DIR` when the home is not the default one (for commands we tell the user to run). */
export function homeArg(home: string): string {
  return home === path.resolve('.rsqlo') ? '' : ` --home ${home}`;
}

/**
 * The one line that ends a command on an error: a failure of the engine's files (a full disk, a
 * state file locked, read-only or damaged) names its cause and path and says what to do; anything
 * else is its message.
 */
export function describeFailure(err: unknown, home: string): string {
  const f = storeFailure(err, path.join(home, 'rsqlo.db'));
  if (f) return `${f.message}. ${whatToDo(f, home, false)}`;
  return err instanceof Error ? err.message : String(err);
}

/** The last line of a run the engine stopped (see LocalEngine.halted). */
export function haltedLine(f: StoreError, home: string): string {
  return `stopped: ${f.message}. ${whatToDo(f, home, true)}`;
}

function whatToDo(f: StoreError, home: string, started: boolean): string {
  const then = started
    ? `then run: ${command(`resume${homeArg(home)}`)}`
    : `then try again (${command(`resume${homeArg(home)}`)} finishes unfinished runs)`;
  if (f.diskFull) return `${started ? "The runs' state is intact. " : ''}Free space on that device, ${then}`;
  if (f.kind === 'damaged')
    return `Restore it from a backup; or move it aside and add --forget-lost to start afresh (the runs it held are then forgotten; their logs are moved to ${path.join(home, 'lost')}/)`;
  if (f.kind === 'busy') return `Stop what holds it (a sqlite3 shell, a backup), ${then}`;
  return `Fix that, ${then}`;
}

/** The home a command line names (for messages about commands that failed before parsing it). */
export function homeFromArgv(argv: readonly string[]): string {
  let home: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--home') home = argv[i + 1];
    else if (a.startsWith('--home=')) home = a.slice('--home='.length);
  }
  return path.resolve(home ?? process.env.RSQLO_HOME ?? '.rsqlo');
}

/** "No such run", and when its logs are in the home, that the engine state lost it. */
export function noRun(exec: string, home: string): string {
  const logs = path.join(home, 'logs', exec);
  if (!existsSync(logs) && !existsSync(path.join(home, 'runs', exec))) return `no run ${exec} in ${home}`;
  return `no run ${exec} in the engine state of ${home}, but its logs are in ${logs}: the state lost it (${command(`resume${homeArg(home)}`)} says what was found and what to do)`;
}
