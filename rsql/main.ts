/**
 * `rsql` entry point (bin/rsql.js): parses the command line, resolves the connection from flags and the
 * environment, runs the inputs and returns the exit code. Never throws and never prints a stack trace:
 * anything unexpected becomes one `rsql: internal error: …` line and exit code 1.
 */
import { readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import type * as Os from 'node:os';
import { join } from 'node:path';
import { parseArgs, type RsqlOptions, USAGE, UsageError } from './args.js';
import { builtin } from './builtin.js';
import { type ConnectParams, ConninfoError, parseConnectionUri, parseConninfo } from './conninfo.js';
import { DEFAULT_PRINT_SETTINGS, type PrintSettings } from './format.js';
import { EXIT, Interpreter, type InterpreterInput, type InterpreterIo } from './interpreter.js';
import type { Writer } from './output.js';

/** Runner version printed by `--version`. */
export const RSQL_RUNNER_VERSION = '0.1.0';

/** Optional I/O for embedding and tests; defaults are the process's own streams and environment. */
export interface MainIo {
  /** Script text for stdin input (default: the process's stdin). */
  stdin?: string | NodeJS.ReadableStream;
  stdout?: Writer;
  stderr?: Writer;
  env?: Record<string, string | undefined>;
  cwd?: string;
}

/** `node:os`, loaded only when HOME or the user name is not given. */
function os(): typeof Os {
  return builtin<typeof Os>('node:os');
}

/** Connection parameters from an ODBC DSN (RSQL `-D`), read from $ODBCINI or ~/.odbc.ini. */
export function readOdbcDsn(
  dsn: string,
  env: Record<string, string | undefined>,
): { host?: string; port?: number; database?: string; user?: string; password?: string } | undefined {
  const files = [
    env.ODBCINI,
    env.AMAZONREDSHIFTODBCINI,
    join(env.HOME ?? os().homedir(), '.odbc.ini'),
    '/etc/odbc.ini',
  ];
  for (const f of files) {
    if (!f) continue;
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    let inSection = false;
    const out: Record<string, string> = {};
    for (const raw of text.split(/\r?\n/)) {
      const line = raw.trim();
      if (line === '' || line.startsWith(';') || line.startsWith('#')) continue;
      const sec = /^\[(.*)\]$/.exec(line);
      if (sec) {
        inSection = (sec[1] as string).trim().toLowerCase() === dsn.toLowerCase();
        continue;
      }
      if (!inSection) continue;
      const eq = line.indexOf('=');
      if (eq > 0) out[line.slice(0, eq).trim().toLowerCase()] = line.slice(eq + 1).trim();
    }
    if (Object.keys(out).length === 0) continue;
    const r: { host?: string; port?: number; database?: string; user?: string; password?: string } = {};
    const host = out.host ?? out.server;
    if (host) r.host = host;
    if (out.port && /^\d+$/.test(out.port)) r.port = Number(out.port);
    if (out.database) r.database = out.database;
    const user = out.uid ?? out.user ?? out.username;
    if (user) r.user = user;
    const pwd = out.pwd ?? out.password;
    if (pwd) r.password = pwd;
    return r;
  }
  return undefined;
}

/**
 * Password from the libpq password file ($PGPASSFILE or ~/.pgpass; lines `host:port:db:user:password`,
 * `*` wildcards, `\\:` escapes; ignored unless mode 0600 or stricter, like libpq).
 */
export function readPgpass(
  env: Record<string, string | undefined>,
  p: { host: string; port: number; database: string; user: string },
): string | undefined {
  const file = env.PGPASSFILE ?? join(env.HOME ?? os().homedir(), '.pgpass');
  let text: string;
  try {
    if ((statSync(file).mode & 0o077) !== 0) return undefined;
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const host = p.host.startsWith('/') ? 'localhost' : p.host;
  const wanted = [host, String(p.port), p.database, p.user];
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const fields: string[] = [];
    let cur = '';
    for (let i = 0; i < line.length; i++) {
      const c = line[i] as string;
      if (c === '\\' && i + 1 < line.length) cur += line[++i];
      else if (c === ':' && fields.length < 4) {
        fields.push(cur);
        cur = '';
      } else cur += c;
    }
    fields.push(cur);
    if (fields.length !== 5) continue;
    if (wanted.every((w, i) => fields[i] === '*' || fields[i] === w)) return fields[4];
  }
  return undefined;
}

function osUser(): string {
  try {
    return os().userInfo().username;
  } catch {
    return 'postgres';
  }
}

/** Connection parameters: flags, then DSN, then PG* environment variables, then psql's defaults. */
export function connectParams(o: RsqlOptions, env: Record<string, string | undefined>): ConnectParams {
  const dsn = o.dsn ? readOdbcDsn(o.dsn, env) : undefined;
  if (o.dsn && !dsn) throw new UsageError(`data source name "${o.dsn}" not found in $ODBCINI or ~/.odbc.ini`);
  const p: ConnectParams = { applicationName: env.PGAPPNAME ?? 'rsql' };
  const db = o.dbname ?? dsn?.database ?? env.PGDATABASE;
  let info: ConnectParams = {};
  const isUri = db !== undefined && /^postgres(ql)?:\/\//.test(db);
  if (isUri || db?.includes('=')) {
    try {
      info = isUri ? parseConnectionUri(db as string) : parseConninfo(db as string);
    } catch (e) {
      if (e instanceof ConninfoError) throw new UsageError(e.message);
      throw e;
    }
    if (info.applicationName) p.applicationName = info.applicationName;
  }
  const isInfo = isUri || db?.includes('=');
  p.host = o.host ?? info.host ?? dsn?.host ?? env.PGHOST ?? 'localhost';
  const envPort = env.PGPORT && /^\d+$/.test(env.PGPORT) ? Number(env.PGPORT) : undefined;
  p.port = o.port ?? info.port ?? dsn?.port ?? envPort ?? 5432;
  p.user = o.user ?? info.user ?? dsn?.user ?? env.PGUSER ?? osUser();
  p.database = (isInfo ? info.database : db) ?? p.user;
  let password = info.password ?? env.RSPASSWORD ?? env.PGPASSWORD ?? dsn?.password;
  if (password === undefined && p.host !== undefined && p.port !== undefined && p.user && p.database) {
    password = readPgpass(env, { host: p.host, port: p.port, database: p.database, user: p.user });
  }
  if (password !== undefined) p.password = password;
  const host = p.host ?? '';
  const sslmode =
    info.sslmode ??
    env.PGSSLMODE ??
    (/\.redshift(-serverless)?\.amazonaws\.com$/i.test(host) ? 'require' : undefined);
  if (sslmode) p.sslmode = sslmode;
  const timeout =
    info.connectTimeoutSeconds ??
    (env.PGCONNECT_TIMEOUT && /^\d+$/.test(env.PGCONNECT_TIMEOUT)
      ? Number(env.PGCONNECT_TIMEOUT)
      : undefined);
  if (timeout) p.connectTimeoutSeconds = timeout;
  return p;
}

function printSettings(o: RsqlOptions): PrintSettings {
  const s: PrintSettings = { ...DEFAULT_PRINT_SETTINGS };
  if (o.unaligned) s.format = 'unaligned';
  if (o.tuplesOnly) s.tuplesOnly = true;
  if (o.expanded) s.expanded = true;
  if (o.fieldSep !== undefined) s.fieldSep = o.fieldSep;
  if (o.recordSep !== undefined) s.recordSep = o.recordSep;
  return s;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks);
}

function writeExitFile(env: Record<string, string | undefined>, code: number, stderr: Writer): void {
  const f = env.RSQLO_EXIT_FILE;
  if (!f) return;
  try {
    writeFileSync(f, `${code}\n`);
  } catch (e) {
    stderr.write(`rsql: cannot write RSQLO_EXIT_FILE ${f}: ${(e as Error).message}\n`);
  }
}

/**
 * process.stdout / process.stderr, made on first write: making them loads Node's stream modules, which a
 * run that prints nothing through them (`--version`) need not pay for.
 */
function lazyWriter(open: () => NodeJS.WritableStream): Writer {
  let target: NodeJS.WritableStream | undefined;
  return {
    write: (chunk: string) => {
      target ??= open();
      return target.write(chunk);
    },
    // the stream may queue what it cannot write at once: it gets its own copy of the caller's bytes
    writeBytes: (chunk: Uint8Array) => {
      target ??= open();
      return target.write(Buffer.from(chunk));
    },
  };
}

/** `--version` / `--help` text: one write straight to fd 1 (no stream), the stream if that fails. */
function printDirect(stdout: Writer, text: string, direct: boolean): void {
  if (direct) {
    try {
      writeSync(1, text);
      return;
    } catch {
      // EAGAIN on a non-blocking pipe, …: the stream copes
    }
  }
  stdout.write(text);
}

let cliGuardsInstalled = false;

/** In the real CLI: no stack trace even for an error escaping from a callback, quiet on a closed pipe. */
function installCliGuards(): void {
  if (cliGuardsInstalled) return;
  cliGuardsInstalled = true;
  process.on('uncaughtException', (e) => {
    process.stderr.write(`rsql: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
    writeExitFile(process.env, EXIT.fatal, process.stderr);
    process.exit(EXIT.fatal);
  });
  process.on('unhandledRejection', (e) => {
    process.stderr.write(`rsql: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
    writeExitFile(process.env, EXIT.fatal, process.stderr);
    process.exit(EXIT.fatal);
  });
  // killed (job cancelled, timeout): the shell convention 128 + signal number, recorded like any exit
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const) {
    process.once(signal, () => {
      process.stderr.write(`rsql: terminated by ${signal}\n`);
      writeExitFile(process.env, code, process.stderr);
      process.exit(code);
    });
  }
}

/**
 * Runs `rsql` with the given arguments and returns the exit code (see README "Exit codes"). With `io`
 * omitted it uses the process's stdin/stdout/stderr/env/cwd.
 */
export async function main(argv: string[], io?: MainIo): Promise<number> {
  if (!io) installCliGuards();
  const stdout: Writer =
    io?.stdout ??
    lazyWriter(() => {
      // a closed pipe (`rsql … | head`) ends the run quietly
      process.stdout.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      });
      return process.stdout;
    });
  const stderr: Writer = io?.stderr ?? lazyWriter(() => process.stderr);
  const env = io?.env ?? process.env;
  let code: number;
  try {
    code = await runMain(argv, io, stdout, stderr, env);
  } catch (e) {
    stderr.write(`rsql: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
    code = EXIT.fatal;
  }
  writeExitFile(env, code, stderr);
  return code;
}

async function runMain(
  argv: string[],
  io: MainIo | undefined,
  stdout: Writer,
  stderr: Writer,
  env: Record<string, string | undefined>,
): Promise<number> {
  let o: RsqlOptions;
  let params: ConnectParams;
  try {
    o = parseArgs(argv);
    if (o.help) {
      printDirect(stdout, USAGE, io?.stdout === undefined);
      return EXIT.ok;
    }
    if (o.version) {
      printDirect(
        stdout,
        `rsql (rsqlo) ${RSQL_RUNNER_VERSION} — Amazon Redshift RSQL 1.0.8-compatible runner for PostgreSQL\n`,
        io?.stdout === undefined,
      );
      return EXIT.ok;
    }
    params = connectParams(o, env);
  } catch (e) {
    if (e instanceof UsageError) {
      stderr.write(`rsql: ${e.message}\nTry "rsql --help" for more information.\n`);
      return EXIT.fatal;
    }
    throw e;
  }
  for (const w of o.warnings) stderr.write(`rsql: warning: ${w}\n`);
  const variables: { name: string; value: string | undefined }[] = [];
  if (o.quiet) variables.push({ name: 'QUIET', value: 'on' });
  if (o.echo) variables.push({ name: 'ECHO', value: o.echo });
  variables.push(...o.variables);
  const interpIo: InterpreterIo = {
    stdout,
    stderr,
    env,
    cwd: io?.cwd ?? process.cwd(),
    inheritStdio: !io || (io.stdout === undefined && io.stderr === undefined),
    readStdin: () => {
      // process.stdin only when the script is read from it: making it opens a stream (and loads its modules)
      const stdin = io?.stdin ?? process.stdin;
      if (typeof stdin === 'string') return Promise.resolve(stdin);
      if ((stdin as { isTTY?: boolean }).isTTY) {
        stderr.write('rsql: reading the script from the terminal (batch mode): end it with Ctrl-D\n');
      }
      return readAll(stdin);
    },
  };
  const interp = new Interpreter(interpIo, {
    connect: params,
    variables,
    print: printSettings(o),
    pset: o.pset,
    ...(o.output !== undefined ? { output: o.output } : {}),
    singleTransaction: o.singleTransaction,
  });
  const inputs: InterpreterInput[] = o.inputs.length > 0 ? o.inputs : [{ kind: 'stdin' }];
  return interp.run(inputs);
}
