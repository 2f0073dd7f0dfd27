/**
 * Where the script goes next: `\exit`/`\q` (rsql-spec.md §8, README U2/U3), `\goto`/`\label` (§6, U12:
 * forward only, per input file) and the commands that run another file (`\i`, `\ir`, `\run … skip=N`).
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { canonicalCommand, type MetaItem } from '../lexer.js';
import { decodeScript, fsErrorText, ScriptEncodingError } from '../script-text.js';
import type { MetaCommand } from './command.js';
import {
  DEFAULT_SEVERITY,
  EXIT,
  ExitSignal,
  type FileCtx,
  MAX_INCLUDE_DEPTH,
  type MetaHost,
} from './host.js';

/** Normalises a label for matching (case-insensitive, trailing blanks ignored). */
function labelKey(s: string): string {
  return s.trim().toUpperCase();
}

/**
 * Handles an item while `\goto` skips forward: counts the `\if` blocks it passes, and at the label
 * closes or opens blocks so that the jump leaves (or enters) them. Prints `\label X ignored|processed`
 * unless QUIET.
 */
export function skipForGoto(host: MetaHost, ctx: FileCtx, meta: MetaItem | undefined): void {
  const g = ctx.goto;
  if (!g || !meta) return;
  const name = canonicalCommand(meta.name);
  if (name === 'if') g.delta++;
  else if (name === 'endif') g.delta--;
  else if (name === 'label') {
    const label = meta.args.trim();
    if (labelKey(label) === labelKey(g.label)) {
      if (!host.quiet) host.print(`\\label ${label} processed\n`);
      if (g.delta < 0) ctx.cond.splice(Math.max(0, ctx.cond.length + g.delta));
      for (let i = 0; i < g.delta; i++) ctx.cond.push({ state: 'true', line: meta.line });
      ctx.goto = undefined;
    } else if (!host.quiet) {
      host.print(`\\label ${label} ignored\n`);
    }
  }
}

/** Runs another file in the current session (`\i`, `\ir`, `\run`): its own `\if` blocks and labels. */
async function include(
  host: MetaHost,
  ctx: FileCtx,
  line: number,
  path: string,
  shown: string,
  skip: number,
): Promise<void> {
  if (ctx.depth + 1 > MAX_INCLUDE_DEPTH) {
    host.commandFailed(ctx, line, `${shown}: too many nested \\i/\\run files (limit ${MAX_INCLUDE_DEPTH})`);
    return;
  }
  let text: string;
  try {
    text = decodeScript(readFileSync(path), shown);
  } catch (e) {
    if (e instanceof ScriptEncodingError) {
      // like a missing file: reported, counted, and the including script goes on
      host.printErr(`rsql: ${e.message}\n`);
      host.countError(DEFAULT_SEVERITY);
      host.checkStop();
    } else host.commandFailed(ctx, line, `${shown}: ${fsErrorText(e)}`);
    return;
  }
  if (skip > 0) {
    const lines = text.split('\n');
    text = lines.slice(skip).join('\n');
    if (!host.quiet) host.print(`${skip} records skipped in RUN file.\n`);
  }
  const child = host.makeCtx(shown, dirname(path), text, ctx.depth + 1);
  await host.runFile(child);
}

/** `\exit [N|ERRORLEVEL]`: N mod 256; without a code a normal end (U1); anything else is exit 1 (U3). */
function exitCode(host: MetaHost, ctx: FileCtx, item: MetaItem, value: string | undefined): never {
  if (value === undefined || value === '') throw new ExitSignal(host.normalEndCode(), true);
  const v = value.trim();
  if (/^[+-]?\d+$/.test(v)) {
    const n = Number(BigInt(v) % 256n);
    throw new ExitSignal((n + 256) % 256);
  }
  if (v.toUpperCase() === 'ERRORLEVEL')
    throw new ExitSignal(Number(host.vars.get('ERRORLEVEL') ?? '0') & 255);
  host.scriptMessage(ctx, item.line, `\\${item.name}: invalid exit code "${v}"`);
  throw new ExitSignal(EXIT.fatal);
}

/** `\run file=NAME [skip=N]` (a bare first word is the file too). */
async function runCommand(host: MetaHost, ctx: FileCtx, item: MetaItem, args: string[]): Promise<void> {
  let file: string | undefined;
  let skip = 0;
  for (const value of args) {
    const m = /^([A-Za-z]+)=(.*)$/s.exec(value);
    if (m) {
      const key = (m[1] as string).toLowerCase();
      if (key === 'file') file = m[2];
      else if (key === 'skip') {
        if (!/^\d+$/.test(m[2] as string)) {
          host.commandFailed(ctx, item.line, `\\run: invalid skip "${m[2]}"`);
          return;
        }
        skip = Number(m[2]);
      } else {
        host.commandFailed(ctx, item.line, `\\run: unknown option "${m[1]}"`);
        return;
      }
    } else if (file === undefined) file = value;
    else {
      host.commandFailed(ctx, item.line, `\\run: unexpected argument "${value}"`);
      return;
    }
  }
  if (!file) {
    host.commandFailed(ctx, item.line, '\\run: missing file=NAME');
    return;
  }
  await include(host, ctx, item.line, resolve(host.cwd, file), file, skip);
}

/** Exit, jumps and included files. */
export const FLOW_COMMANDS: readonly MetaCommand[] = [
  {
    names: ['exit'],
    usage: '\\exit [N|ERRORLEVEL]',
    summary: 'end the run with exit code N (mod 256); without N a normal end (§8)',
    args: 'words',
    run(host, { ctx, item, args }) {
      exitCode(host, ctx, item, args[0]?.value);
    },
  },
  {
    names: ['q', 'quit'],
    usage: '\\q, \\quit',
    summary: 'a normal end; inside an \\i or \\run file it ends only that file (psql)',
    args: 'none',
    run(host, { ctx }) {
      if (ctx.depth > 0) return 'quit';
      throw new ExitSignal(host.normalEndCode(), true);
    },
  },
  {
    names: ['goto'],
    usage: '\\goto LABEL',
    summary: 'skip forward to \\label LABEL in the same file (§6)',
    args: 'line',
    run(host, { ctx, item, line }) {
      const label = item.args.trim();
      if (label === '') {
        host.scriptError(ctx, line, '\\goto: missing label');
        return;
      }
      ctx.goto = { label, delta: 0, line };
    },
  },
  {
    names: ['label'],
    usage: '\\label LABEL',
    summary: 'target of \\goto; met without a jump it does nothing',
    args: 'none',
    run() {},
  },
  {
    names: ['i', 'include', 'ir', 'include_relative'],
    usage: '\\i FILE, \\ir FILE',
    summary: 'run a file (\\ir: relative to the including file; U18)',
    args: 'words',
    async run(host, { ctx, item, name, line, args }) {
      const file = args[0];
      if (!file) {
        host.commandFailed(ctx, line, `\\${item.name}: missing required argument`);
        return;
      }
      const base = name === 'ir' || name === 'include_relative' ? ctx.dir : host.cwd;
      await include(host, ctx, line, resolve(base, file.value), file.value, 0);
    },
  },
  {
    names: ['run'],
    usage: '\\run file=F [skip=N]',
    summary: 'run a file, skipping its first N lines (prints "N records skipped in RUN file.")',
    args: 'words',
    async run(host, { ctx, item, args }) {
      await runCommand(
        host,
        ctx,
        item,
        args.map((a) => a.value),
      );
    },
  },
];
