/**
 * The query buffer and client-side COPY: `\g`, `\gx`, `\gset` (rsql-spec.md §4.2, README U13), `\p`,
 * `\r`, and `\copy … from|to 'file'|stdin|stdout` over COPY … FROM STDIN / TO STDOUT.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { formatTiming } from '../format.js';
import type { SqlItem } from '../lexer.js';
import { FileWriter } from '../output.js';
import { fsErrorText } from '../script-text.js';
import type { ServerMessage, StatementOutcome } from '../session.js';
import type { MetaCommand, MetaHandler } from './command.js';
import { type FileCtx, type MetaHost, VAR_NAME } from './host.js';

/** `\g [FILE]`, `\gx [FILE]`, `\gset [PREFIX]`: sends the pending statement, else the last one again. */
const send: MetaHandler = async (host, { ctx, item, name, args }) => {
  const pending = ctx.lexer.takePending();
  let stmt: SqlItem | undefined = pending;
  if (!stmt && host.lastQuery !== undefined) {
    stmt = { kind: 'sql', segments: [host.lastQuery], hasVars: false, line: item.line };
  }
  if (!stmt) {
    host.commandFailed(ctx, item.line, `\\${item.name}: no query to send`);
    return;
  }
  if (name === 'gset') {
    await host.execSql(ctx, stmt, { gset: args[0]?.value ?? '' });
    return;
  }
  const saved = host.base.expanded;
  const savedR = host.rformatSettings.expanded;
  if (name === 'gx') {
    host.base.expanded = true;
    host.rformatSettings.expanded = true;
  }
  try {
    await host.execSql(ctx, stmt, args[0] ? { gfile: args[0].value } : {});
  } finally {
    host.base.expanded = saved;
    host.rformatSettings.expanded = savedR;
  }
};

/** `\copy table [(cols)] from|to 'file'|stdin|stdout [options]` over COPY … FROM STDIN / TO STDOUT. */
const copy: MetaHandler = async (host, { ctx, item }) => {
  const text = item.args.trim().replace(/;\s*$/, '');
  const m = /^(.*?)\s+(from|to)\s+('(?:[^']|'')*'|\S+)(.*)$/is.exec(text);
  if (!m) {
    host.commandFailed(ctx, item.line, '\\copy: parse error');
    return;
  }
  const [, target, dirRaw, fileRaw, rest] = m as unknown as [string, string, string, string, string];
  const dir = dirRaw.toLowerCase();
  const fileArg = fileRaw.startsWith("'") ? fileRaw.slice(1, -1).replaceAll("''", "'") : fileRaw;
  const lower = fileArg.toLowerCase();
  let sql: string;
  let copyIn: string | undefined;
  let outFile: FileWriter | undefined;
  if (dir === 'from') {
    sql = `COPY ${target} FROM STDIN${rest}`;
    if (lower === 'stdin' || lower === 'pstdin') copyIn = ctx.lexer.readCopyData();
    else {
      try {
        copyIn = readFileSync(resolve(host.cwd, fileArg), 'utf8');
      } catch (e) {
        host.commandFailed(ctx, item.line, `${fileArg}: ${fsErrorText(e)}`);
        return;
      }
    }
  } else {
    sql = `COPY ${target} TO STDOUT${rest}`;
    if (lower !== 'stdout' && lower !== 'pstdout') {
      try {
        outFile = new FileWriter(resolve(host.cwd, fileArg));
      } catch (e) {
        host.commandFailed(ctx, item.line, `${fileArg}: ${fsErrorText(e)}`);
        return;
      }
    }
  }
  const session = host.session;
  if (!session) return;
  const sink = outFile ?? host.queryOut;
  const o = await session.run(sql, {
    ...(copyIn !== undefined ? { copyIn } : {}),
    onCopyOut: (chunk) => sink.write(chunk.toString('utf8')),
  });
  outFile?.close();
  host.onOutcome(ctx, item.line, sql, o);
  host.checkStop();
};

/**
 * Stores a `\gset` result: exactly one row, each column into variable PREFIX + column name (NULL unsets
 * it); no row (02000) or several (21000) fail like a statement (README U13).
 */
export function applyGset(
  host: MetaHost,
  ctx: FileCtx,
  line: number,
  prefix: string,
  o: StatementOutcome,
): void {
  const rows = o.rows;
  if (!o.columns || rows.length !== 1) {
    const none = !o.columns || rows.length === 0;
    const err: ServerMessage = {
      severity: 'ERROR',
      code: none ? '02000' : '21000',
      message: none ? 'no rows returned for \\gset' : 'more than one row returned for \\gset',
    };
    host.statementFailed(ctx, line, err, undefined);
    host.vars.set('ACTIVITYCOUNT', String(rows.length));
    host.vars.set('ROW_COUNT', String(rows.length));
    return;
  }
  host.statementSucceeded('1');
  const row = rows[0] as (string | null)[];
  o.columns.forEach((c, i) => {
    const name = prefix + c.name;
    if (!VAR_NAME.test(name)) {
      host.printErr(`rsql: ${ctx.name}:${line}: invalid variable name: "${name}"\n`);
      return;
    }
    const v = row[i];
    if (v === null || v === undefined) host.vars.delete(name);
    else host.vars.set(name, v);
  });
  if (host.timing) host.print(`${formatTiming(o.elapsedMs)}\n`);
}

/** Query buffer commands. */
export const QUERY_COMMANDS: readonly MetaCommand[] = [
  {
    names: ['g'],
    usage: '\\g [FILE]',
    summary: 'send the query buffer (or the last query again); results to FILE when given',
    args: 'words',
    sendsQuery: true,
    run: send,
  },
  {
    names: ['gx'],
    usage: '\\gx [FILE]',
    summary: 'like \\g, in expanded format',
    args: 'words',
    sendsQuery: true,
    run: send,
  },
  {
    names: ['gset'],
    usage: '\\gset [PREFIX]',
    summary: 'send the query buffer and store its one row in variables (§4.2)',
    args: 'words',
    sendsQuery: true,
    run: send,
  },
  {
    names: ['p'],
    usage: '\\p',
    summary: 'print the last query sent',
    args: 'none',
    run(host) {
      const pending = host.lastQuery;
      host.print(pending ? `${pending}\n` : 'Query buffer is empty.\n');
    },
  },
  {
    names: ['r'],
    usage: '\\r',
    summary: 'clear the query buffer',
    args: 'none',
    run(host, { ctx }) {
      ctx.lexer.resetBuffer();
      if (!host.quiet) host.print('Query buffer reset (cleared).\n');
    },
  },
  {
    names: ['copy'],
    usage: '\\copy ...',
    summary: "client-side COPY: \\copy TABLE [(COLS)] from|to 'FILE'|stdin|stdout [OPTIONS]",
    args: 'line',
    run: copy,
  },
];
