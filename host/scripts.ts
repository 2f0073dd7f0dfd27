/**
 * From a job's script to what is started: the one check of a script's path against its folder
 * ({@link resolveScript}, shared by both agents), how a script is run by its extension
 * ({@link resolveCommand}), and what `execve` would say about the command before the wrapper runs
 * it ({@link locateCommand}), so that a missing command reads as a start failure, not as exit 127.
 */
import {
  accessSync,
  closeSync,
  existsSync,
  constants as fsConstants,
  openSync,
  readSync,
  realpathSync,
  statSync,
} from 'node:fs';
import path, { delimiter, extname, join } from 'node:path';

/**
 * Thrown by {@link resolveCommand} for a script that is neither `.sh`/`.sql` nor executable:
 * running it would only fail later with a less helpful EACCES.
 */
export class ScriptNotExecutableError extends Error {
  override name = 'ScriptNotExecutableError';
  constructor(readonly scriptPath: string) {
    super(
      `script ${scriptPath} is not executable: run \`chmod +x ${scriptPath}\` or give it a .sh extension to run it with bash`,
    );
  }
}

/**
 * Thrown by {@link resolveScript} for a script that cannot run from its folder: missing, not a
 * file, or resolving (through a symlink, now) to a file outside the folder.
 */
export class ScriptPathError extends Error {
  override name = 'ScriptPathError';
  constructor(
    readonly script: string,
    message: string,
  ) {
    super(message);
  }
}

function inside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * The script a job runs, checked when it is about to start (not only when the workflow was
 * validated: the folder may have changed since, e.g. a script replaced by a symlink to a file
 * elsewhere). `script` is relative to `root` and must resolve — symlinks followed, now — to a
 * file inside `root`'s real path. Returns the path to run (as named: `$0` stays what the user
 * wrote). The one check the local engine and the EC2 agent share.
 *
 * @throws ScriptPathError naming the problem.
 */
export function resolveScript(root: string, script: string): string {
  const absRoot = path.resolve(root);
  const named = path.resolve(absRoot, script);
  if (!inside(absRoot, named) || named === absRoot)
    throw new ScriptPathError(script, `script ${script} is outside the script folder ${absRoot}`);
  let realRoot: string;
  try {
    realRoot = realpathSync(absRoot);
  } catch {
    throw new ScriptPathError(script, `script folder ${absRoot} does not exist`);
  }
  let real: string;
  try {
    real = realpathSync(named);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ScriptPathError(
      script,
      code === 'ENOENT'
        ? `script not found: ${named}`
        : `cannot resolve script ${named}: ${code ?? String(err)}`,
    );
  }
  if (!inside(realRoot, real))
    throw new ScriptPathError(
      script,
      `script ${script} resolves to ${real}, outside the script folder ${realRoot}; refusing to run it`,
    );
  let isFile = false;
  try {
    isFile = statSync(real).isFile();
  } catch {
    // vanished meanwhile: reported as not a file
  }
  if (!isFile) throw new ScriptPathError(script, `script ${named} is not a file`);
  return named;
}

/**
 * Maps a job's script to the program and argv that run it, so that workflow definitions can name
 * scripts by path without caring how they are launched:
 *
 * - `*.sh` → `bash <path> ...args` (no execute bit needed);
 * - `*.sql` → `<rsqlCommand...> -f <path> ...args`; `rsqlCommand` defaults to `['rsql']` (the
 *   local engine puts its RSQL-compatible runner first on the jobs' PATH, EC2 uses the real one);
 * - anything else is executed directly and must be executable, else
 *   {@link ScriptNotExecutableError}. A path that does not exist is returned as-is: starting it
 *   then reports a clear `spawnError`, like a missing `.sh` file makes bash exit 127.
 *
 * Paths are used as given; relative ones are checked against this process's cwd, so pass
 * absolute paths.
 */
export function resolveCommand(
  scriptPath: string,
  args: string[],
  opts?: { rsqlCommand?: string[] },
): { command: string; args: string[] } {
  const ext = extname(scriptPath).toLowerCase();
  if (ext === '.sh') return { command: bashPath(), args: [scriptPath, ...args] };
  if (ext === '.sql') {
    const [command, ...rsqlArgs] = opts?.rsqlCommand ?? ['rsql'];
    if (command === undefined) throw new TypeError('rsqlCommand must name a program');
    return { command, args: [...rsqlArgs, '-f', scriptPath, ...args] };
  }
  try {
    accessSync(scriptPath, fsConstants.X_OK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { command: scriptPath, args: [...args] };
    throw new ScriptNotExecutableError(scriptPath);
  }
  // X_OK succeeds on directories; they are not scripts either.
  if (statSync(scriptPath).isDirectory()) throw new ScriptNotExecutableError(scriptPath);
  return { command: scriptPath, args: [...args] };
}

let bash: string | undefined;

/**
 * bash's absolute path, looked up on this process's PATH once. Spawning by absolute path spares
 * the kernel an execve per PATH entry on every job; `bash` itself when not found (then the spawn
 * reports it).
 */
export function bashPath(): string {
  if (bash !== undefined) return bash;
  bash = 'bash';
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'bash');
    try {
      accessSync(candidate, fsConstants.X_OK);
      if (statSync(candidate).isFile()) {
        bash = candidate;
        break;
      }
    } catch {
      // not here
    }
  }
  return bash;
}

/** How long a command found runnable is trusted without looking again. */
const COMMAND_CHECK_TTL_MS = 5000;
const commandChecks = new Map<string, { path: string; at: number }>();

/**
 * What `execve` would say about running `command` from `cwd` with the job's PATH, said before the
 * wrapper runs it (the wrapper's own "not found" would read like the job's exit status 127): the
 * absolute path to run, or why it cannot start. Found commands are remembered for a few seconds.
 */
export function locateCommand(
  command: string,
  env: Record<string, string>,
  cwd: string,
): { path: string } | { error: string } {
  const searchPath = env.PATH ?? '/usr/bin:/bin';
  const cacheKey = command.includes('/') ? `${cwd}\0${command}` : `${searchPath}\0${cwd}\0${command}`;
  const now = performance.now();
  const hit = commandChecks.get(cacheKey);
  if (hit !== undefined && now - hit.at < COMMAND_CHECK_TTL_MS) return { path: hit.path };
  const remember = (p: string) => {
    if (commandChecks.size > 1000) commandChecks.clear();
    commandChecks.set(cacheKey, { path: p, at: now });
    return { path: p };
  };
  if (!command.includes('/')) {
    for (const dir of searchPath.split(delimiter)) {
      const candidate = path.resolve(cwd, dir || '.', command);
      try {
        accessSync(candidate, fsConstants.X_OK);
        if (statSync(candidate).isFile()) return remember(candidate);
      } catch {
        // not here
      }
    }
    return { error: `cannot start ${command}: command not found on the job's PATH` };
  }
  const file = path.resolve(cwd, command);
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(file);
  } catch {
    return { error: `cannot start ${command}: no such file` };
  }
  const denied = {
    error: `cannot start ${command}: permission denied (make it executable with chmod +x, and check that ${cwd} is accessible)`,
  };
  if (!st.isFile()) return denied;
  try {
    accessSync(file, fsConstants.X_OK);
  } catch {
    return denied;
  }
  const interpreter = shebangInterpreter(file);
  if (interpreter?.startsWith('/') && !existsSync(interpreter))
    return { error: `cannot start ${command}: its interpreter (the #! line) was not found` };
  return remember(file);
}

/** The program named on a `#!` first line, if the file has one. */
function shebangInterpreter(file: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const buf = Buffer.alloc(256);
    const n = readSync(fd, buf, 0, buf.length, 0);
    if (n < 2 || buf[0] !== 0x23 || buf[1] !== 0x21) return undefined;
    const line = buf.toString('latin1', 2, n).split('\n')[0] ?? '';
    return line.trim().split(/\s+/)[0] || undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
