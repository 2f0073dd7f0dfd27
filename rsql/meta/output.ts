/**
 * Where text goes: `\echo`, `\qecho`, `\warn`, `\remark` (rsql-spec.md §7: `//` is a line break), `\o`
 * (the query output file) and `\export report|reset` (§10, README U17).
 */
import { resolve } from 'node:path';
import { FileWriter } from '../output.js';
import { fsErrorText } from '../script-text.js';
import type { MetaCommand, MetaHandler } from './command.js';

/** `\echo`-like: args joined by spaces, `-n` drops the newline (not for `\remark`). */
const echo: MetaHandler = (host, { name, args }) => {
  const a = args.map((x) => x.value);
  let newline = true;
  if (name !== 'remark' && a[0] === '-n') {
    newline = false;
    a.shift();
  }
  let text = a.join(' ');
  if (name === 'remark') text = text.replaceAll('//', '\n');
  if (newline) text += '\n';
  if (name === 'qecho') host.queryOut.write(text);
  else if (name === 'warn') host.printErr(text);
  else host.print(text);
};

/** Output commands. */
export const OUTPUT_COMMANDS: readonly MetaCommand[] = [
  {
    names: ['echo'],
    usage: '\\echo [-n] TEXT',
    summary: 'print to stdout',
    args: 'words',
    run: echo,
  },
  {
    names: ['qecho'],
    usage: '\\qecho [-n] TEXT',
    summary: 'print to the query output (\\o)',
    args: 'words',
    run: echo,
  },
  {
    names: ['warn'],
    usage: '\\warn [-n] TEXT',
    summary: 'print to stderr',
    args: 'words',
    run: echo,
  },
  {
    names: ['remark'],
    usage: '\\remark TEXT',
    summary: 'print to stdout, // is a line break (RSQL)',
    args: 'words',
    run: echo,
  },
  {
    names: ['o'],
    usage: '\\o [FILE]',
    summary: 'send query results to FILE (without FILE: back to stdout); \\o |command is refused',
    args: 'words',
    run(host, { ctx, item, args }) {
      const a = args[0];
      host.out.flush();
      if (!a) {
        host.queryFile?.close();
        host.queryFile = undefined;
        return;
      }
      if (a.value.startsWith('|')) {
        host.commandFailed(ctx, item.line, '\\o |command is not supported');
        return;
      }
      try {
        host.openQueryFile(a.value);
      } catch (e) {
        host.queryFile = undefined;
        host.commandFailed(ctx, item.line, `${a.value}: ${fsErrorText(e)}`);
      }
    },
  },
  {
    names: ['export'],
    usage: "\\export report file='F' | reset",
    summary: 'write the results of later queries to F until \\export reset (RSQL; report mode only)',
    args: 'words',
    run(host, { ctx, item, args }) {
      const a = args.map((x) => x.value);
      const mode = (a[0] ?? '').toLowerCase();
      if (mode === 'reset') {
        host.exportState?.file.close();
        host.exportState = undefined;
        return;
      }
      if (mode !== 'report') {
        host.commandFailed(
          ctx,
          item.line,
          `\\export: unsupported mode "${a[0] ?? ''}" (use report or reset)`,
        );
        return;
      }
      let path: string | undefined;
      for (const w of a.slice(1)) {
        const m = /^file=(.*)$/is.exec(w);
        if (m) path = m[1];
      }
      if (!path) {
        host.commandFailed(ctx, item.line, "\\export: missing file='name'");
        return;
      }
      host.exportState?.file.close();
      try {
        host.exportState = { path, file: new FileWriter(resolve(host.cwd, path)) };
      } catch (e) {
        host.exportState = undefined;
        host.commandFailed(ctx, item.line, `${path}: ${fsErrorText(e)}`);
      }
    },
  },
];
