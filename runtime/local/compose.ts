import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../services/ports.js';
import {
  type Database,
  type DatabaseTarget,
  openDatabase,
  rsqlCommand,
  rsqlShimDir,
  stopOrphanDatabase,
} from './database.js';
import { type ChaosOptions, type EngineOptions, LocalEngine, processEnv } from './engine.js';
import { storeFailure } from './store.js';

/** Engine settings that come from the environment, read in this one place (a composition root). */
export interface LocalEnvironment {
  /** `RSQLO_TEST_CHAOS`: `1`/`all` or a list of `duplicate`, `reorder` (tests only). */
  chaos?: ChaosOptions;
  /** `RSQLO_MAX_PROCESSES`: most scripts running at once (default 64). */
  maxProcesses?: number;
  /** `RSQLO_KILL_GRACE_MS`: SIGTERM → SIGKILL grace (default 1000). */
  killGraceMs?: number;
  /** `RSQLO_LOG`: `info` logs every service decision to `<home>/engine.log` (default: warnings only). */
  logLevel: 'info' | 'warn';
  /** `RSQLO_DISK_RESERVE_BYTES`: space kept aside in the home for a full disk (default 1 MiB). */
  diskReserveBytes?: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function intFrom(env: NodeJS.ProcessEnv, name: string, min: number): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min)
    throw new ConfigError(`${name} must be a whole number ≥ ${min}, got "${v}"`);
  return n;
}

export function readLocalEnvironment(env: NodeJS.ProcessEnv = process.env): LocalEnvironment {
  let chaos: ChaosOptions | undefined;
  const c = env.RSQLO_TEST_CHAOS;
  if (c && c !== '0') {
    const parts = c.split(',').map((p) => p.trim());
    const all = parts.includes('1') || parts.includes('all');
    for (const p of parts) {
      if (!['1', 'all', 'duplicate', 'reorder'].includes(p) && !/^seed=\d+$/.test(p)) {
        throw new ConfigError(
          `RSQLO_TEST_CHAOS: unknown option "${p}" (use duplicate, reorder, all, seed=N)`,
        );
      }
    }
    const seed = parts.find((p) => p.startsWith('seed='));
    chaos = {
      duplicate: all || parts.includes('duplicate'),
      reorder: all || parts.includes('reorder'),
      seed: seed ? Number(seed.slice(5)) : undefined,
    };
  }
  const level = env.RSQLO_LOG ?? 'warn';
  if (level !== 'info' && level !== 'warn')
    throw new ConfigError(`RSQLO_LOG must be "info" or "warn", got "${level}"`);
  return {
    chaos,
    maxProcesses: intFrom(env, 'RSQLO_MAX_PROCESSES', 1),
    killGraceMs: intFrom(env, 'RSQLO_KILL_GRACE_MS', 0),
    logLevel: level,
    diskReserveBytes: intFrom(env, 'RSQLO_DISK_RESERVE_BYTES', 0),
  };
}

/** A logger appending JSON lines to `<home>/engine.log`. */
export function fileLogger(home: string, level: 'info' | 'warn'): Logger {
  const file = path.join(home, 'engine.log');
  mkdirSync(home, { recursive: true });
  const write = (lvl: string, message: string, fields?: Record<string, unknown>) => {
    try {
      appendFileSync(
        file,
        `${JSON.stringify({ time: new Date().toISOString(), level: lvl, message, ...fields })}\n`,
      );
    } catch {
      // logging must never break the engine
    }
  };
  return {
    info: level === 'info' ? (m, f) => write('info', m, f) : () => {},
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
  };
}

/** An engine and what it holds outside itself (the database), released together. */
export interface ComposedEngine {
  engine: LocalEngine;
  /** Closes the engine, then stops the embedded database if this process started it. */
  dispose(): Promise<void>;
}

/**
 * The local composition root: environment + caller options → an open engine whose jobs reach the
 * database target (started on demand, before the first job), with this package's `rsql` first on
 * their PATH.
 */
export function composeLocalEngine(
  opts: Omit<EngineOptions, 'log' | 'chaos' | 'maxProcesses' | 'killGraceMs' | 'diskReserveBytes'> &
    Partial<EngineOptions> & { database?: DatabaseTarget },
  env: NodeJS.ProcessEnv = process.env,
): ComposedEngine {
  const e = readLocalEnvironment(env);
  const home = path.resolve(opts.home);
  const target: DatabaseTarget = opts.database ?? { kind: 'embedded', dataDir: path.join(home, 'pg') };
  let db: Database | undefined;
  const base = processEnv();
  let shims: string;
  try {
    shims = rsqlShimDir(home);
  } catch (err) {
    // A write error (a full disk) names no path by itself.
    throw storeFailure(err, path.join(home, 'bin', 'rsql')) ?? err;
  }
  const engine = LocalEngine.open({
    ...opts,
    home,
    log: opts.log ?? fileLogger(home, e.logLevel),
    chaos: opts.chaos ?? e.chaos,
    maxProcesses: opts.maxProcesses ?? e.maxProcesses,
    killGraceMs: opts.killGraceMs ?? e.killGraceMs,
    diskReserveBytes: opts.diskReserveBytes ?? e.diskReserveBytes,
    rsqlCommand: opts.rsqlCommand ?? rsqlCommand(),
    // RSQL_S3_ROOT: where the runner's COPY/UNLOAD find "S3" (rsql/README.md); the user's own wins
    baseEnv: () => ({
      RSQL_S3_ROOT: path.join(home, 's3'),
      ...base,
      PATH: `${shims}${path.delimiter}${base.PATH ?? '/usr/bin:/bin'}`,
    }),
    prepareJobs: async () => {
      db = await openDatabase(target);
      return db?.env ?? {};
    },
  });
  return {
    engine,
    async dispose() {
      engine.close();
      // Ours is stopped if we started it; one a killed engine left running is stopped too.
      if (db) await db.release();
      else await stopOrphanDatabase(target);
    },
  };
}
