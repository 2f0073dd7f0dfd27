/**
 * Helpers for the runner's integration tests: run `main()` in-process with captured output against a
 * database from test/support/postgres.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type PgConnectionInfo, pgEnvironment } from './embedded-postgres.js';
import { main } from './main.js';

/** What a run produced. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Environment pointing the runner at a database (password through PGPASSWORD, never argv). */
export function envFor(c: PgConnectionInfo): Record<string, string> {
  return pgEnvironment(c);
}

/** A runner bound to one database and a scratch directory. */
export interface Runner {
  dir: string;
  /** Runs `script` from stdin (default) or from a file (`asFile`), with extra args/env. */
  run(
    script: string,
    opts?: { args?: string[]; env?: Record<string, string | undefined>; asFile?: string },
  ): Promise<RunResult>;
  /** Runs with the given argv only (no script). */
  argv(args: string[], env?: Record<string, string | undefined>): Promise<RunResult>;
  /** Writes a file in the scratch directory and returns its path. */
  file(name: string, text: string): string;
  /** Removes the scratch directory. */
  cleanup(): void;
}

/** A runner for database `c` with a fresh scratch directory (HOME and cwd of the runs). */
export function makeRunner(c: PgConnectionInfo): Runner {
  const dir = mkdtempSync(join(tmpdir(), 'rsql-test-'));
  const exec = async (
    args: string[],
    stdin: string,
    env: Record<string, string | undefined> = {},
  ): Promise<RunResult> => {
    let stdout = '';
    let stderr = '';
    const code = await main(args, {
      stdin,
      stdout: {
        write: (s: string) => {
          stdout += s;
        },
      },
      stderr: {
        write: (s: string) => {
          stderr += s;
        },
      },
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, ...envFor(c), ...env },
      cwd: dir,
    });
    return { code, stdout, stderr };
  };
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  return {
    dir,
    file,
    run: (script, opts = {}) => {
      if (opts.asFile) {
        const p = file(opts.asFile, script);
        return exec([...(opts.args ?? []), '-f', p], '', opts.env);
      }
      return exec(opts.args ?? [], script, opts.env);
    },
    argv: (args, env) => exec(args, '', env),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
