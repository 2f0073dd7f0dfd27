/**
 * `rsqlo definitions push <folder> --aws` and `rsqlo definitions list --aws`: the workflow
 * definitions a stack stores in its config table. A push validates every definition of the folder
 * first (as `rsqlo serve --workflows` loads them: every *.json there and every workflow.json one folder down,
 * scripts found beside them) and writes nothing unless all are valid; then it writes them with the
 * UpdateItem the deploy-time custom resource uses (runtime/aws/definition-update.ts: the file's
 * attributes SET, the others REMOVEd, the workflow's active-run slots left alone), all in one
 * transaction, so a failure leaves the table as it was.
 */
import { readFileSync } from 'node:fs';
import { writeDefinitions } from '../runtime/aws/definition-update.js';
import { AWS_OPTIONS, type AwsCliDeps, connectStack, stackCommand, where } from './aws-stack.js';
import { parse, UsageError } from './command-kit.js';
import { EXIT, type Io } from './drive.js';
import { loadWorkflows } from './serve.js';

export const DEFINITIONS_USAGE = `Usage: rsqlo definitions push <folder> --aws [--stack NAME] [--region R] [--profile P]
       rsqlo definitions list --aws [--json] [--stack NAME] [--region R] [--profile P]

push: validates every definition in <folder> (*.json there, workflow.json one folder down) and stores them in the
stack's config table (all or none), as a deploy would; runs in flight keep their slots.
list: the definitions the stack stores.
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
    const r = loadWorkflows(rest[0] as string);
    if (!r.ok) {
      io.stderr.write(`${r.problems.join('\n')}\nnothing was pushed\n`);
      return EXIT.usage;
    }
    const raws = r.loaded.map((l) => JSON.parse(readFileSync(l.file, 'utf8')) as Record<string, unknown>);
    const t = await connectStack(values, deps);
    await writeDefinitions(t.clients.dynamodb, t.resources.configTable, raws);
    for (const l of r.loaded)
      io.stdout.write(`pushed ${l.definition.workflow_id} (${l.file}) to stack ${t.stack}\n`);
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
        io.stdout.write(`${d.workflow_id.padEnd(32)} ${String(stages).padStart(3)} stages${desc}\n`);
      }
    return 0;
  }
  throw new UsageError(
    verb === undefined
      ? 'definitions needs push or list'
      : `unknown definitions verb "${verb}" (push or list)`,
  );
}
