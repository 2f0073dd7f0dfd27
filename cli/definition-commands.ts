/**
 * The commands over definition files, which never start an engine: `validate`, `plan`, `init`
 * and `completion`.
 */
import { formatCycle, triggerCycles } from '../contracts/dependencies.js';
import type { WorkflowDefinition } from '../contracts/workflow.js';
import { calendarFor } from './calendar.js';
import { loadRunnable, parse, UsageError } from './command-kit.js';
import { completionScript } from './completion.js';
import { formatIssues, loadDefinition } from './definition.js';
import { EXIT, type Io } from './drive.js';
import { initWorkflow, workflowIdFor } from './init.js';
import { command as suggest } from './invocation.js';
import { formatPlan, planWorkflow } from './plan.js';

/**
 * `rsqlo validate`: each file checked, one line per file; the files given are also checked as a
 * set (no trigger cycle among them). `--workflows DIR` checks a whole folder as `rsqlo serve`
 * loads it: every definition, the calendars, and across them unknown `trigger.after` names,
 * cycles and unknown calendars.
 */
export async function validateCommand(argv: string[], io: Io): Promise<number> {
  const { positionals, values } = parse(argv, { scripts: { type: 'string' }, workflows: { type: 'string' } });
  const dir = values.workflows as string | undefined;
  if (positionals.length === 0 && dir === undefined) throw new UsageError('validate needs at least one file');
  let bad = 0;
  const defs: WorkflowDefinition[] = [];
  for (const arg of positionals) {
    const r = loadDefinition(arg, values.scripts as string | undefined);
    if (r.ok) {
      defs.push(r.definition);
      io.stdout.write(
        `${r.file}: ok (${r.definition.workflow_id}, ${r.definition.workflow_stages.length} stages)\n`,
      );
    } else {
      bad++;
      io.stderr.write(`${formatIssues(r.file, r.issues)}\n`);
    }
  }
  for (const c of triggerCycles(defs)) {
    bad++;
    io.stderr.write(`rsqlo: dependency cycle ${formatCycle(c)}: each would wait for the other\n`);
  }
  if (dir !== undefined) {
    const { loadWorkflows } = await import('./serve.js');
    const r = loadWorkflows(dir);
    if (r.ok)
      io.stdout.write(
        `${dir}: ok (${r.loaded.length} workflow(s), ${r.calendars.size} calendar(s), triggers without cycles)\n`,
      );
    else {
      bad++;
      io.stderr.write(`${r.problems.join('\n')}\n`);
    }
  }
  return bad ? EXIT.usage : 0;
}

/** `rsqlo plan`: what a run would do, without running anything. */
export function planCommand(argv: string[], io: Io): number {
  const { positionals, values } = parse(argv, {
    scripts: { type: 'string' },
    param: { type: 'string', multiple: true },
    json: { type: 'boolean' },
  });
  const runnable = loadRunnable('plan', positionals, values, io);
  if (!runnable) return EXIT.usage;
  const { loaded, params } = runnable;
  const cal = calendarFor(loaded.definition, loaded.file);
  if ('error' in cal) {
    io.stderr.write(`${cal.error}\n`);
    return EXIT.usage;
  }
  const plan = planWorkflow(loaded.definition, loaded.file, loaded.scriptRoot, params, {
    calendar: cal.calendar,
  });
  io.stdout.write(
    values.json === true
      ? `${JSON.stringify(plan, null, 2)}\n`
      : formatPlan(plan, new Set(Object.keys(params))),
  );
  return 0;
}

/** `rsqlo init DIR`: a workflow folder that `rsqlo run DIR` runs at once. */
export function initCommand(argv: string[], io: Io): number {
  const { positionals, values } = parse(argv, { 'workflow-id': { type: 'string' } });
  if (positionals.length !== 1) throw new UsageError('init takes one folder');
  const dir = positionals[0] as string;
  const id = (values['workflow-id'] as string | undefined) ?? workflowIdFor(dir);
  const r = initWorkflow(dir, id);
  if (!r.ok) {
    io.stderr.write(`rsqlo: ${r.error}\n`);
    return EXIT.usage;
  }
  for (const f of r.files) io.stdout.write(`created ${f}\n`);
  io.stdout.write(
    `workflow ${id}: run it with ${suggest(`run ${dir}`)} (see what it would do: ${suggest(`plan ${dir}`)})\n`,
  );
  return 0;
}

/** `rsqlo completion bash|zsh`. */
export function completionCommand(argv: string[], io: Io): number {
  const { positionals } = parse(argv, {});
  const script = positionals.length === 1 ? completionScript(positionals[0] as string) : undefined;
  if (!script) throw new UsageError('completion takes bash or zsh');
  io.stdout.write(script);
  return 0;
}
