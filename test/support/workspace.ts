import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { main } from '../../cli/main.js';

/** A throwaway folder for one test: a workflow definition, its scripts and an engine home. */
export interface Workspace {
  dir: string;
  home: string;
  scripts: string;
  /** Writes an executable bash script under scripts/. */
  script(name: string, body: string): string;
  /** Writes workflow.json (stages as given) and returns its path. */
  workflow(def: unknown): string;
  read(rel: string): string;
}

export function workspace(prefix = 'rsqlo-test-'): Workspace {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  const scripts = path.join(dir, 'scripts');
  mkdirSync(scripts, { recursive: true });
  return {
    dir,
    home: path.join(dir, 'home'),
    scripts,
    script(name, body) {
      const p = path.join(scripts, name);
      mkdirSync(path.dirname(p), { recursive: true });
      writeFileSync(p, `#!/bin/bash\n${body}\n`);
      chmodSync(p, 0o755);
      return p;
    },
    workflow(def) {
      const p = path.join(dir, 'workflow.json');
      writeFileSync(p, typeof def === 'string' ? def : JSON.stringify(def, null, 2));
      return p;
    },
    read(rel) {
      return readFileSync(path.join(dir, rel), 'utf8');
    },
  };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the rsqlo CLI in-process with captured output (not a TTY: one line per event). Engine
 * commands get `--no-database` unless the argv names a database or `opts.database` is set: most
 * tests run shell scripts and need no PostgreSQL.
 */
export async function cli(
  argv: string[],
  env: Record<string, string | undefined> = {},
  opts: { database?: boolean } = {},
): Promise<CliResult> {
  const engineCommand = ['run', 'restart', 'resume', 'kill'].includes(argv[0] ?? '');
  if (
    engineCommand &&
    !opts.database &&
    !argv.some((a) => a.startsWith('--database-url') || a === '--no-database')
  ) {
    if (argv[0] !== 'kill') argv = [...argv, '--no-database'];
  }
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (c) => {
    stdout += String(c);
  });
  err.on('data', (c) => {
    stderr += String(c);
  });
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    const code = await main(argv, { stdout: out, stderr: err });
    return { code, stdout, stderr };
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** The seed's shape: stages of scripts; each stage `[type, scripts, extra?]`. */
export function stages(
  ...list: Array<[type: 'sequential' | 'parallel', scripts: unknown[], extra?: Record<string, unknown>]>
): unknown[] {
  return list.map(([type, scripts, extra]) => ({
    execution_flag: 'y',
    execution_type: type,
    scripts,
    ...extra,
  }));
}
