/**
 * The session and the machine around it: `\connect`/`\c`/`\logon` (rsql-spec.md §3 B, README U19),
 * `\conninfo`, `\encoding`, `\!`/`\os` (U20: `sh -c`, no stdin, SHELL_EXIT_CODE/SHELL_ERROR) and `\cd`.
 */
import { resolve } from 'node:path';
import { type ConnectParams, ConninfoError, parseConnectionUri, parseConninfo } from '../conninfo.js';
import type { MetaCommand, MetaHandler } from './command.js';
import { childProcess } from './host.js';

/**
 * `\connect [DBNAME|- USER|- HOST|- PORT|-]` or a URI/conninfo; `\logon` also takes a password. What is
 * not given is the current connection's.
 */
const connect: MetaHandler = async (host, { ctx, item, name, args }) => {
  const logon = name === 'logon';
  const a = args.map((x) => x.value);
  const cur = host.session?.info;
  const next: ConnectParams = { ...host.connParams };
  let hostGiven = false;
  if (a[0] && (/^postgres(ql)?:\/\//.test(a[0]) || a[0].includes('='))) {
    // a URI or conninfo: its values, the current connection's for the rest
    let info: ConnectParams;
    try {
      info = /^postgres(ql)?:\/\//.test(a[0]) ? parseConnectionUri(a[0]) : parseConninfo(a[0]);
    } catch (e) {
      if (e instanceof ConninfoError) {
        host.commandFailed(ctx, item.line, `\\${item.name}: ${e.message}`);
        return;
      }
      throw e;
    }
    Object.assign(next, info);
    if (cur) {
      if (info.host === undefined) next.host = cur.host;
      if (info.port === undefined) next.port = cur.port;
      if (info.user === undefined) next.user = cur.user;
      if (info.database === undefined) next.database = cur.database;
    }
    hostGiven = info.host !== undefined;
  } else {
    const keep = (v: string | undefined) => v === undefined || v === '-' || v === '';
    if (!keep(a[0])) next.database = a[0];
    else if (cur) next.database = cur.database;
    if (!keep(a[1])) next.user = a[1];
    else if (cur) next.user = cur.user;
    if (!keep(a[2])) {
      next.host = a[2];
      hostGiven = true;
    } else if (cur) next.host = cur.host;
    if (!keep(a[3])) {
      if (!/^\d+$/.test(a[3] as string)) {
        host.commandFailed(ctx, item.line, `\\${item.name}: invalid port "${a[3]}"`);
        return;
      }
      next.port = Number(a[3]);
    } else if (cur) next.port = cur.port;
    if (logon && a[4] !== undefined) next.password = a[4];
  }
  await host.connect(next, ctx);
  const s = host.session?.info;
  if (s && !host.quiet) {
    host.print(
      `You are now connected to database "${s.database}" as user "${s.user}"${hostGiven ? ` on host "${s.host}" at port "${s.port}"` : ''}.\n`,
    );
  }
};

/** `\! COMMAND`, `\os COMMAND`: `sh -c`, waited for, no stdin (the script may be on ours). */
const shell: MetaHandler = (host, { ctx, item }) => {
  const cmd = item.args.trim();
  if (cmd === '') {
    host.commandFailed(ctx, item.line, `\\${item.name}: missing command`);
    return;
  }
  host.out.flush();
  host.queryFile?.flush();
  const r = host.io.inheritStdio
    ? childProcess().spawnSync('sh', ['-c', cmd], {
        cwd: host.cwd,
        env: host.childEnv,
        stdio: ['ignore', 'inherit', 'inherit'],
      })
    : childProcess().spawnSync('sh', ['-c', cmd], {
        cwd: host.cwd,
        env: host.childEnv,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
  if (!host.io.inheritStdio) {
    if (r.stdout) host.io.stdout.write(String(r.stdout));
    if (r.stderr) host.io.stderr.write(String(r.stderr));
  }
  const code = r.status ?? (r.signal ? 128 : 127);
  host.vars.set('SHELL_EXIT_CODE', String(code));
  host.vars.set('SHELL_ERROR', code === 0 ? 'false' : 'true');
  if (r.error) host.commandFailed(ctx, item.line, `\\${item.name}: ${r.error.message}`);
};

/** Connection and OS commands. */
export const CONNECTION_COMMANDS: readonly MetaCommand[] = [
  {
    names: ['connect', 'c', 'logon'],
    usage: '\\c, \\connect, \\logon [DBNAME|- USER|- HOST|- PORT|-] | CONNINFO',
    summary: 'reconnect (status variables survive; a failed connection stops the run with exit 2)',
    args: 'words',
    run: connect,
  },
  {
    names: ['conninfo'],
    usage: '\\conninfo',
    summary: 'print the current connection',
    args: 'none',
    run(host) {
      const s = host.session?.info;
      if (s) {
        host.print(
          `You are connected to database "${s.database}" as user "${s.user}" on host "${s.host}" at port "${s.port}".\n`,
        );
      }
    },
  },
  {
    names: ['encoding'],
    usage: '\\encoding',
    summary: "print the client encoding (the server's client_encoding, UTF8 by default)",
    args: 'none',
    run(host) {
      host.print(`${host.session?.parameter('client_encoding') ?? 'UTF8'}\n`);
    },
  },
  {
    names: ['!', 'os'],
    usage: '\\!, \\os COMMAND',
    summary: 'run a shell command (sets SHELL_EXIT_CODE and SHELL_ERROR)',
    args: 'line',
    run: shell,
  },
  {
    names: ['cd'],
    usage: '\\cd [DIR]',
    summary: 'change the working directory of files and shell commands (default $HOME)',
    args: 'words',
    run(host, { args }) {
      host.cwd = resolve(host.cwd, args[0]?.value ?? host.childEnv.HOME ?? '/');
    },
  },
];
