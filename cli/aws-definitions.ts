/**
 * `rsqlo definitions push <folder> --aws` and `rsqlo definitions list --aws`: the workflow
 * definitions a stack stores in its config table. A push validates every definition of the folder
 * first (as `rsqlo serve --workflows` loads them: every *.json there and every workflow.json one folder down,
 * scripts found beside them) and writes nothing unless all are valid; then it writes them with the
 * UpdateItem the deploy-time custom resource uses (runtime/aws/definition-update.ts: the file's
 * attributes SET, the others REMOVEd, the workflow's active-run slots left alone), all in one
 * transaction, so a failure leaves the table as it was. The same transaction keeps what the
 * trigger service and the starter read true, as a deploy does: the `after:<upstream>` index items
 * of every upstream a pushed definition names now or named before, and the folder's
 * `calendars/*.json` as `calendar:<name>` items. Before anything is written, each `trigger.after`
 * and `calendar` must name something pushed or stored, and the pushed definitions may make no
 * trigger cycle with the stored ones. `list` shows each definition's trigger and calendar.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  PushConflictError,
  PushTooLargeError,
  pushProblems,
  readStoredConfig,
  writePush,
} from '../runtime/aws/definition-update.js';
import { AWS_OPTIONS, type AwsCliDeps, connectStack, stackCommand, where } from './aws-stack.js';
import { CALENDARS_DIR } from './calendar.js';
import { parse, UsageError } from './command-kit.js';
import { EXIT, type Io } from './drive.js';
import { loadWorkflows } from './serve.js';

export const DEFINITIONS_USAGE = `Usage: rsqlo definitions push <folder> --aws [--stack NAME] [--region R] [--profile P]
       rsqlo definitions list --aws [--json] [--stack NAME] [--region R] [--profile P]

push: validates every definition in <folder> (*.json there, workflow.json one folder down) and its calendars/*.json,
checks each trigger.after and calendar against what the stack stores (no unknown names, no dependency cycle), and
stores the definitions, their trigger index and the calendars in the stack's config table (all or none), as a
deploy would; runs in flight keep their slots.
list: the definitions the stack stores, with each one's trigger and calendar.
`;

export async function definitionsCommand(argv: string[], io: Io, deps: AwsCliDeps): Promise<number> {
  return stackCommand(io, () => definitions(argv, io, deps));
}

async function definitions(argv: string[], io: Io, deps: AwsCliDeps): Promise<number> {
  const { positionals, values } = parse(argv, { json: { type: 'boolean' }, ...AWS_OPTIONS });
  const [verb, ...rest] = positionals;
  if (values.aws !== true)
    throw new UsageError(
      'definitions works on a deployed stack: add --aws (locally, rsqlo run loads the file)',
    );
  if (verb === 'push') {
    if (rest.length !== 1) throw new UsageError('definitions push takes one folder');
    const dir = rest[0] as string;
    // Names and cycles are checked below against what the stack stores, not the folder alone.
    const r = loadWorkflows(dir, { crossCheck: false });
    if (!r.ok) {
      io.stderr.write(`${r.problems.join('\n')}\nnothing was pushed\n`);
      return EXIT.usage;
    }
    const input = {
      definitions: r.loaded.map((l) => ({
        raw: JSON.parse(readFileSync(l.file, 'utf8')) as Record<string, unknown>,
        source: l.file,
      })),
      // As written (validated by loadWorkflows with contracts/calendar.ts), as the deploy stores them.
      calendars: [...r.calendars.keys()].map((name) => ({
        name,
        raw: JSON.parse(readFileSync(path.join(dir, CALENDARS_DIR, `${name}.json`), 'utf8')) as Record<
          string,
          unknown
        >,
      })),
    };
    const t = await connectStack(values, deps);
    const table = t.resources.configTable;
    const stored = await readStoredConfig(t.clients.dynamodb, table);
    const problems = pushProblems(input, stored, `stack ${t.stack}`);
    if (problems.length) {
      io.stderr.write(`${problems.join('\n')}\nnothing was pushed\n`);
      return EXIT.usage;
    }
    try {
      const items = await writePush(t.clients.dynamodb, table, input, stored);
      for (const l of r.loaded)
        io.stdout.write(`pushed ${l.definition.workflow_id} (${l.file}) to stack ${t.stack}\n`);
      for (const c of input.calendars) io.stdout.write(`pushed calendar ${c.name} to stack ${t.stack}\n`);
      for (const i of items) {
        const key = (i.Update ?? i.Delete)?.Key?.workflow_id?.S ?? '';
        if (!key.startsWith('after:')) continue;
        const deps = i.Update?.ExpressionAttributeValues?.[':v']?.L?.map((v) => v.S).join(', ');
        io.stdout.write(
          deps
            ? `trigger index: ${key.slice(6)} starts ${deps}\n`
            : `trigger index: ${key.slice(6)} starts nothing\n`,
        );
      }
    } catch (err) {
      if (err instanceof PushTooLargeError || err instanceof PushConflictError) {
        io.stderr.write(`${err.message}\n`);
        return err instanceof PushTooLargeError ? EXIT.usage : 1;
      }
      throw err;
    }
    return 0;
  }
  if (verb === 'list') {
    if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
    const t = await connectStack(values, deps);
    const defs = await t.view.listDefinitions();
    if (values.json) io.stdout.write(`${JSON.stringify(defs, null, 2)}\n`);
    else if (defs.length === 0) io.stdout.write(`no definitions ${where(t)}\n`);
    else
      for (const d of defs) {
        const stages = Array.isArray(d.workflow_stages) ? d.workflow_stages.length : 0;
        const desc = typeof d.workflow_description === 'string' ? `  ${d.workflow_description}` : '';
        io.stdout.write(
          `${d.workflow_id.padEnd(32)} ${String(stages).padStart(3)} stages${linksText(d)}${desc}\n`,
        );
      }
    return 0;
  }
  throw new UsageError(
    verb === undefined
      ? 'definitions needs push or list'
      : `unknown definitions verb "${verb}" (push or list)`,
  );
}

/** A listed definition's trigger and calendar: `  after wf_a, wf_b within 6 h  calendar business`. */
export function linksText(d: Record<string, unknown>): string {
  const trigger = d.trigger as { after?: unknown; within_hours?: unknown } | undefined;
  const after = Array.isArray(trigger?.after) ? trigger.after.map(String) : [];
  const within = typeof trigger?.within_hours === 'number' ? ` within ${trigger.within_hours} h` : '';
  return `${after.length ? `  after ${after.join(', ')}${within}` : ''}${
    typeof d.calendar === 'string' ? `  calendar ${d.calendar}` : ''
  }`;
}
