/**
 * What every command shares: usage errors, option parsing with "did you mean", the home, reading
 * the engine's state without starting it, the database option and the lines the engine tells.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { DatabaseTarget } from '../runtime/local/database.js';
import { LocalStore } from '../runtime/local/store.js';
import { formatIssues, loadDefinition } from './definition.js';
import type { Io } from './drive.js';
import { didYouMean } from './help.js';
import { checkParams, parseParams } from './params.js';

/** Bad command-line input: `main` prints it as one line with where to read more, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The engine's home: --home, else $RSQLO_HOME, else .rsqlo/ (absolute). */
export function homeOf(values: { home?: string }): string {
  return path.resolve(values.home ?? process.env.RSQLO_HOME ?? '.rsqlo');
}

/** Parses a command's options (strict); unknown options become a UsageError with a guess. */
export function parse(
  argv: string[],
  options: NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>['options']>,
) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    const unknown = /^Unknown option '([^']+)'/.exec(err instanceof Error ? err.message : '');
    if (unknown) {
      const typed = unknown[1] as string;
      const guess = didYouMean(
        typed,
        Object.keys(options).map((o) => `--${o}`),
      );
      throw new UsageError(`unknown option ${typed}${guess ? ` (did you mean ${guess}?)` : ''}`);
    }
    throw new UsageError(
      err instanceof Error ? err.message.replace(/^TypeError \[[A-Z_]+\]: /, '') : String(err),
    );
  }
}

/** The database jobs use: --no-database, --database-url (or RSQLO_DATABASE_URL), else the embedded one. */
export function databaseOf(
  values: { 'database-url'?: unknown; 'no-database'?: unknown },
  home: string,
): DatabaseTarget {
  if (values['no-database'] === true) return { kind: 'none' };
  const url = (values['database-url'] as string | undefined) ?? process.env.RSQLO_DATABASE_URL;
  if (url) return { kind: 'url', url };
  return { kind: 'embedded', dataDir: path.join(home, 'pg') };
}

export const DATABASE_OPTIONS = {
  'database-url': { type: 'string' },
  'no-database': { type: 'boolean' },
  'forget-lost': { type: 'boolean' },
} as const;

/** Lines about the engine itself (waiting for a lock, a full disk), on stderr. */
export function notifier(io: Io) {
  return (line: string) => void io.stderr.write(`rsqlo: ${line}\n`);
}

/** The database could not be started: the jobs that need it are not run (see LocalAgent). */
export function warner(io: Io) {
  return (message: string) =>
    io.stderr.write(
      `rsqlo: the database could not be started: ${message}\n` +
        '  jobs are not run without it; fix the cause and restart the run, or run with --no-database\n',
    );
}

export function noter(io: Io) {
  return (message: string) => io.stderr.write(`rsqlo: note: ${message}\n`);
}

/** `--param KEY=VALUE`s checked against the definition; undefined (after saying why) when bad. */
export function runParams(
  def: Parameters<typeof checkParams>[0],
  list: string[] | undefined,
  file: string,
  io: Io,
): Record<string, string> | undefined {
  const { params, issues } = parseParams(list);
  const all = [...issues, ...checkParams(def, params)];
  if (all.length === 0) return params;
  io.stderr.write(`${formatIssues(file, all)}\n`);
  return undefined;
}

/**
 * Runs `fn` over the home's state file without starting an engine; undefined when the home has
 * none. With `notify`, waiting for another process's write lock is told on the way.
 */
export function readStore<T>(
  home: string,
  fn: (s: LocalStore) => T,
  notify?: (line: string) => void,
): T | undefined {
  const file = path.join(home, 'rsqlo.db');
  if (!existsSync(file)) return undefined;
  const store = new LocalStore(
    file,
    notify && {
      waiter: {
        waiting: (e) => notify(`waiting: ${e.message}; trying again until it is free`),
        over: (ms) => notify(`${file} is free again after ${(ms / 1000).toFixed(1)} s; carrying on`),
      },
    },
  );
  try {
    return fn(store);
  } finally {
    store.close();
  }
}

/**
 * The definition `run` or `plan` is given (one file or folder, `--scripts`), loaded, with its
 * `--param`s checked; undefined (after printing the definition's issues or the bad parameters)
 * when it cannot run. Throws a UsageError when not exactly one definition is named.
 */
export function loadRunnable(
  command: 'run' | 'plan',
  positionals: string[],
  values: { scripts?: unknown; param?: unknown },
  io: Io,
):
  | { loaded: Extract<ReturnType<typeof loadDefinition>, { ok: true }>; params: Record<string, string> }
  | undefined {
  if (positionals.length !== 1) throw new UsageError(`${command} takes one definition file or folder`);
  const loaded = loadDefinition(positionals[0] as string, values.scripts as string | undefined);
  if (!loaded.ok) {
    io.stderr.write(`${formatIssues(loaded.file, loaded.issues)}\n`);
    return undefined;
  }
  const params = runParams(loaded.definition, values.param as string[] | undefined, loaded.file, io);
  return params ? { loaded, params } : undefined;
}
