/**
 * The `pg` driver, loaded when the first connection is opened, so that `rsql --version`, `--help` and
 * usage errors never pay for it. A dynamic import: in the runner's CommonJS bundle (bin/load.js) pg is
 * inside the bundle; elsewhere it comes from node_modules.
 */
import type * as Pg from 'pg';

let driver: typeof Pg | undefined;

/**
 * Loads `pg` (once) without its Cloudflare-Workers probe: on Node 20 (no `navigator`) pg builds a
 * `Response`, which loads the whole fetch implementation (~20 ms of start-up). A `navigator` that is not
 * Cloudflare's answers the probe; it is removed right after.
 */
export async function loadPgDriver(): Promise<typeof Pg> {
  if (driver) return driver;
  // bin/rsql.cjs: this run exercises the statement path, so its code cache is worth keeping
  (globalThis as Record<symbol, unknown>)[Symbol.for('rsqlo.rsql.connected')] = true;
  const g = globalThis as { navigator?: unknown };
  const hadNavigator = 'navigator' in g;
  if (!hadNavigator) g.navigator = { userAgent: `Node.js/${process.versions.node}` };
  try {
    const m = (await import('pg')) as typeof Pg & { default?: typeof Pg };
    driver = m.default ?? m;
  } finally {
    if (!hadNavigator) delete g.navigator;
  }
  return driver;
}

/** The driver once {@link loadPgDriver} has run (every Session is made after it). */
export function pgDriver(): typeof Pg {
  if (!driver) throw new Error('pg driver used before loadPgDriver()');
  return driver;
}
