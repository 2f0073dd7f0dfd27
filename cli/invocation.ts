import { accessSync, constants, realpathSync } from 'node:fs';
import path from 'node:path';

/**
 * How the user started this command, to print the commands we suggest the same way (so a hint can
 * be pasted as-is): `npx rsqlo` when npx/npm exec ran it, `rsqlo` when it came from PATH (`npm install
 * -g .`, `npm link`), else the path typed (`node bin/rsqlo.js`, `./node_modules/.bin/rsqlo`).
 * Default: `rsqlo`. `RSQLO_INVOKED_AS` overrides it (a wrapper script of your own).
 */
export function invokedAs(
  env: NodeJS.ProcessEnv = process.env,
  script: string | undefined = process.argv[1],
  cwd: string = process.cwd(),
): string {
  if (env.RSQLO_INVOKED_AS) return env.RSQLO_INVOKED_AS;
  if (!script) return 'rsqlo';
  const base = path.basename(script);
  // Not started as a command (the CLI called as a library, in tests): the plain name.
  if (base !== 'rsqlo' && base !== 'rsqlo.js') return 'rsqlo';
  // npx / npm exec ran *this* command (npm_lifecycle_script is what it ran; a process started by
  // something else that npx ran, say `npx vitest`, inherits npm_command too).
  if (env.npm_command === 'exec' && /^['"]?rsqlo\b/.test(env.npm_lifecycle_script ?? '')) return 'npx rsqlo';
  if (base === 'rsqlo' && onPath(script, env)) return 'rsqlo';
  const rel = path.relative(cwd, script);
  const shown = rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : script;
  if (base === 'rsqlo') return shown.includes('/') ? shown : `./${shown}`;
  // The JS entry itself, run with node.
  return `node ${shown}`;
}

/** Whether `rsqlo` found on PATH is the very command `script` is. */
function onPath(script: string, env: NodeJS.ProcessEnv): boolean {
  let mine: string;
  try {
    mine = realpathSync(script);
  } catch {
    return false;
  }
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, 'rsqlo');
    try {
      accessSync(candidate, constants.X_OK);
      return realpathSync(candidate) === mine;
    } catch {
      // not here
    }
  }
  return false;
}

/** A command to suggest, the way the user invokes rsqlo: `command('resume --home x')`. */
export function command(rest: string): string {
  return `${invokedAs()} ${rest}`;
}
