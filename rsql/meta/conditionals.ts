/**
 * `\if`, `\elseif` (`\elif`), `\else`, `\endif` (rsql-spec.md §5): blocks per input file, tracked even in
 * skipped branches; `\if`/`\elseif` take RSQL's expressions (expression.ts), not only psql's booleans.
 */
import { ExpressionError, evaluateExpression } from '../expression.js';
import { interpolateMetaText } from '../interpolate.js';
import type { MetaItem } from '../lexer.js';
import type { MetaCommand } from './command.js';
import type { FileCtx, MetaHost } from './host.js';

/** An `\if`/`\elseif` condition; one that is not an expression is reported (psql) and false. */
function condition(host: MetaHost, ctx: FileCtx, item: MetaItem): boolean {
  const text = interpolateMetaText(
    item.args,
    (name) => host.lookup(name),
    (cmd) => host.backquote(cmd),
  );
  try {
    return evaluateExpression(text);
  } catch (e) {
    if (e instanceof ExpressionError) {
      host.scriptMessage(ctx, item.line, `\\${item.name}: ${e.message}`);
      return false;
    }
    throw e;
  }
}

/** The conditional commands: they run in skipped branches too, to keep the nesting. */
export const CONDITIONAL_COMMANDS: readonly MetaCommand[] = [
  {
    names: ['if'],
    usage: '\\if EXPR',
    summary: 'start a conditional block (AND, OR, NOT, comparisons; §5)',
    args: 'line',
    always: true,
    run(host, { ctx, item, line }) {
      if (!host.active(ctx)) ctx.cond.push({ state: 'ignored', line });
      else ctx.cond.push({ state: condition(host, ctx, item) ? 'true' : 'false', line });
    },
  },
  {
    names: ['elseif', 'elif'],
    usage: '\\elseif EXPR',
    summary: "alternative branch of the innermost \\if (psql's \\elif accepted too)",
    args: 'line',
    always: true,
    run(host, { ctx, item, line }) {
      const top = ctx.cond[ctx.cond.length - 1];
      if (!top) {
        host.scriptError(ctx, line, `\\${item.name}: no matching \\if`);
        return;
      }
      if (top.state === 'else-true' || top.state === 'else-false') {
        host.scriptError(ctx, line, `\\${item.name}: cannot occur after \\else`);
        return;
      }
      if (top.state === 'true') top.state = 'ignored';
      else if (top.state === 'false') {
        if (condition(host, ctx, item)) top.state = 'true';
      }
    },
  },
  {
    names: ['else'],
    usage: '\\else',
    summary: 'final branch of the innermost \\if',
    args: 'none',
    always: true,
    run(host, { ctx, line }) {
      const top = ctx.cond[ctx.cond.length - 1];
      if (!top) {
        host.scriptError(ctx, line, '\\else: no matching \\if');
        return;
      }
      if (top.state === 'else-true' || top.state === 'else-false') {
        host.scriptError(ctx, line, '\\else: cannot occur after \\else');
        return;
      }
      top.state = top.state === 'false' ? 'else-true' : 'else-false';
    },
  },
  {
    names: ['endif'],
    usage: '\\endif',
    summary: 'end the innermost \\if block',
    args: 'none',
    always: true,
    run(host, { ctx, line }) {
      if (ctx.cond.length === 0) {
        host.scriptError(ctx, line, '\\endif: no matching \\if');
        return;
      }
      ctx.cond.pop();
    },
  },
];
