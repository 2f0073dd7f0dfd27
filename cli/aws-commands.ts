/**
 * The commands against a deployed stack (`--aws`): `run`, `restart`, `kill`, `status`, `history`,
 * `runs`, `logs`, `validate` and `definitions`. They read the stack's names from its outputs
 * (aws-stack.ts), put requests on its bus and follow runs in its audit tables through the services'
 * own repositories and publisher, and print what the local commands print (the same progress view,
 * summaries, JSON documents and exit codes).
 */

import { existsSync, readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { isTerminalJobStatus, type WorkflowAuditRecord, WorkflowStatus } from '../contracts/audit.js';
import { ExecutionId, WorkflowId } from '../contracts/common.js';
import { MAX_RUN_LIST_LIMIT } from '../contracts/run-view.js';
import { WorkflowDefinition } from '../contracts/workflow.js';
import { newExecutionId } from '../services/starter/execution-id.js';
import { definitionsCommand } from './aws-definitions.js';
import { followRun } from './aws-follow.js';
import { awsLogsCommand } from './aws-logs.js';
import { holdAws, jobActionAws, poolAws } from './aws-operator-commands.js';
import { createAwsRunViewSource } from './aws-run-view.js';
import {
  AWS_OPTIONS,
  type AwsCliDeps,
  connectStack,
  type StackTarget,
  stackCommand,
  where,
} from './aws-stack.js';
import { parse, runParams, UsageError } from './command-kit.js';
import { formatIssues, loadDefinition } from './definition.js';
import { EXIT, type Io, progressSink, resultDocument } from './drive.js';
import { AWS_ENABLED } from './help.js';
import { command as suggest } from './invocation.js';
import { statusText } from './read-commands.js';
import { cutLines, exitFor, summary } from './run-report.js';
import { runLine } from './runs.js';

export type { AwsCliDeps } from './aws-stack.js';

/** Whether a command line asks for the stack (`--aws` before any `--`). */
export function wantsAws(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--aws');
}

/**
 * Runs a command against the stack. `deps` is the composition: production passes nothing (the
 * SDK's clients, as the AWS CLI resolves region and credentials); tests pass their clients.
 */
export async function awsCommand(
  command: string,
  argv: string[],
  io: Io,
  deps: AwsCliDeps = {},
): Promise<number> {
  return stackCommand(io, () => dispatch(command, argv, io, deps));
}

function dispatch(command: string, argv: string[], io: Io, deps: AwsCliDeps): Promise<number> {
  switch (command) {
    case 'run':
      return runAws(argv, io, deps);
    case 'restart':
      return restartAws(argv, io, deps);
    case 'kill':
      return killAws(argv, io, deps);
    case 'status':
      return statusAws(argv, io, deps);
    case 'history':
      return historyAws(argv, io, deps);
    case 'runs':
      return runsAws(argv, io, deps);
    case 'logs':
      return awsLogsCommand(argv, io, deps);
    case 'validate':
      return validateAws(argv, io, deps);
    case 'definitions':
      return definitionsCommand(argv, io, deps);
    case 'set-ok':
    case 'rerun':
    case 'bypass':
      return jobActionAws(command, argv, io, deps);
    case 'hold':
    case 'free':
      return holdAws(command, argv, io, deps);
    case 'pool':
      return poolAws(argv, io, deps);
    default:
      throw new UsageError(
        `${command} does not take --aws (it works on a home: ${AWS_ENABLED.join(', ')} do)`,
      );
  }
}

/** The stack's definition of a workflow, validated; undefined (after saying why) when there is none. */
async function storedDefinition(t: StackTarget, workflowId: string, io: Io) {
  const raw = await t.definitions.get(workflowId);
  if (!raw) {
    io.stderr.write(
      `rsqlo: no definition of ${workflowId} ${where(t)}; push it with ${suggest(`definitions push <folder>${t.flags}`)}\n`,
    );
    return undefined;
  }
  const parsed = WorkflowDefinition.safeParse(raw);
  if (!parsed.success) {
    io.stderr.write(
      `rsqlo: the definition of ${workflowId} ${where(t)} is not valid (${parsed.error.issues[0]?.message}); push a valid one\n`,
    );
    return undefined;
  }
  return { raw, definition: parsed.data };
}

/**
 * The starter's max_active_runs refusal, said before a request is put (exit 3, as locally): the
 * starter decides atomically, this read only spares a request that would be refused now.
 */
async function activeRunLimit(
  t: StackTarget,
  workflowId: string,
  max: number,
  io: Io,
): Promise<number | undefined> {
  const active = await t.view.activeRuns(workflowId);
  if (active.length < max) return undefined;
  io.stderr.write(
    `rsqlo: request refused (ActiveRunLimit): workflow ${workflowId} already has ${active.length} active run(s) (${active.join(', ')}); max_active_runs is ${max}\n`,
  );
  return EXIT.rejected;
}

/** Follows a requested run to its end and says how it ended, as `rsqlo run` does locally. */
export async function followAndReport(
  t: StackTarget,
  exec: string,
  io: Io,
  json: boolean,
  deps: AwsCliDeps,
  workflowId: string,
): Promise<number> {
  const progress = progressSink(io, json);
  const outcome = await followRun(
    {
      // The run item as the record the view shows (`rsql_jobs` is only read once, at the end).
      getRun: async (e) => (await t.runs.getRun(e)) as WorkflowAuditRecord | undefined,
      getRunRecord: (e) => t.runs.getRunRecord(e),
      // A stage holds fewer than a million jobs (dynamo-jobs.ts MAX_JOB_NO): the whole stage.
      listStageJobs: (e, stage) => t.jobs.listStageJobs(e, stage, 0, 999_999),
      listJobs: (e) => t.jobs.listJobs(e),
    },
    exec,
    progress,
    {
      pollMs: deps.pollMs ?? 1000,
      startTimeoutMs: deps.startTimeoutMs ?? 60_000,
      cancel: () => publishCancel(t, workflowId, exec, 'interrupted (Ctrl-C)'),
    },
  );
  if (outcome.kind === 'left') {
    io.stderr.write(
      `rsqlo: left ${exec} running ${where(t)}; see it with ${suggest(`status ${exec}${t.flags}`)}\n`,
    );
    return EXIT.interrupted;
  }
  if (outcome.kind === 'not-started') {
    // Another run took the last slot between our check and the starter's: refused, as locally.
    const stored = await storedDefinition(t, workflowId, io);
    const refused =
      stored && (await activeRunLimit(t, workflowId, stored.definition.max_active_runs ?? 1, io));
    if (refused !== undefined && !outcome.interrupted) return refused;
    io.stderr.write(
      `rsqlo: the run ${exec} did not start ${where(t)} within ${Math.round((deps.startTimeoutMs ?? 60_000) / 1000)} s: ` +
        `the starter refused the request (another run active and max_active_runs reached, an invalid definition) or has not received it; ` +
        `its reason is in the WorkflowRejected event and the starter's log\n`,
    );
    return outcome.interrupted ? EXIT.interrupted : EXIT.failed;
  }
  const { run, jobs } = outcome;
  if (json) io.stdout.write(`${JSON.stringify(resultDocument(run, jobs), null, 2)}\n`);
  else io.stdout.write(summary(run, jobs, '', t.flags));
  if (outcome.interrupted && run.execution_status !== 'Completed') return EXIT.interrupted;
  return exitFor(run);
}

function publishCancel(t: StackTarget, workflowId: string, exec: string, reason: string) {
  return t.events.publish([
    {
      detailType: 'WorkflowCancelRequested',
      detail: {
        version: 1,
        workflow_id: workflowId,
        workflow_execution_id: exec,
        requested_by: 'rsqlo-cli',
        reason,
      },
    },
  ]);
}

function checkExecutionId(given: unknown): string | undefined {
  if (given === undefined) return undefined;
  const r = ExecutionId.safeParse(given);
  if (!r.success) throw new UsageError(`--execution-id: ${r.error.issues[0]?.message ?? 'invalid'}`);
  return r.data;
}

/**
 * `rsqlo run <workflow_id | definition> --aws`: WorkflowRequested on the stack's bus, then the
 * run followed. A definition file names the workflow; the stack runs the definition it stores
 * (a file that differs from it is said, with how to push it).
 */
async function runAws(argv: string[], io: Io, deps: AwsCliDeps): Promise<number> {
  const { positionals, values } = parse(argv, {
    'execution-id': { type: 'string' },
    json: { type: 'boolean' },
    param: { type: 'string', multiple: true },
    ...AWS_OPTIONS,
  });
  if (positionals.length !== 1) throw new UsageError('run --aws takes one workflow_id or definition file');
  const arg = positionals[0] as string;
  const given = checkExecutionId(values['execution-id']);
  let fileDef: { file: string; raw: unknown } | undefined;
  let workflowId = arg;
  if (existsSync(arg)) {
    const loaded = loadDefinition(arg);
    if (!loaded.ok) {
      io.stderr.write(`${formatIssues(loaded.file, loaded.issues)}\n`);
      return EXIT.usage;
    }
    workflowId = loaded.definition.workflow_id;
    fileDef = { file: loaded.file, raw: JSON.parse(readFileSync(loaded.file, 'utf8')) };
  } else if (!WorkflowId.safeParse(arg).success) {
    throw new UsageError(`"${arg}" is neither a definition file nor a workflow_id`);
  }
  const t = await connectStack(values, deps);
  const stored = await storedDefinition(t, workflowId, io);
  if (!stored) return EXIT.usage;
  if (fileDef && !isDeepStrictEqual(fileDef.raw, stored.raw))
    (values.json ? io.stderr : io.stdout).write(
      `note: ${fileDef.file} differs from the definition of ${workflowId} ${where(t)}; the run uses the stack's (push yours with ${suggest(`definitions push <folder>${t.flags}`)})\n`,
    );
  const params = runParams(
    stored.definition,
    values.param as string[] | undefined,
    `${workflowId} ${where(t)}`,
    io,
  );
  if (!params) return EXIT.usage;
  // The starter's default: one run at a time (services/starter/service.ts).
  const refused = await activeRunLimit(t, workflowId, stored.definition.max_active_runs ?? 1, io);
  if (refused !== undefined) return refused;
  const exec = given ?? newExecutionId(workflowId, new Date());
  await t.events.publish([
    {
      detailType: 'WorkflowRequested',
      detail: {
        version: 1,
        workflow_id: workflowId,
        workflow_execution_id: exec,
        requested_by: 'rsqlo-cli',
        ...(Object.keys(params).length > 0 ? { parameters: params } : {}),
      },
    },
  ]);
  return followAndReport(t, exec, io, values.json === true, deps, workflowId);
}

/** `rsqlo restart <execution-id> --aws`: a new run from the point of failure, with the stack's definition. */
async function restartAws(argv: string[], io: Io, deps: AwsCliDeps): Promise<number> {
  const { positionals, values } = parse(argv, {
    param: { type: 'string', multiple: true },
    'execution-id': { type: 'string' },
    json: { type: 'boolean' },
    definition: { type: 'string' },
    'same-definition': { type: 'boolean' },
    ...AWS_OPTIONS,
  });
  if (positionals.length !== 1) throw new UsageError('restart takes one execution id');
  if (values.definition !== undefined || values['same-definition'] === true)
    throw new UsageError(
      'with --aws a restart runs the definition the stack stores; push another with rsqlo definitions push --aws first',
    );
  const prevId = positionals[0] as string;
  const given = checkExecutionId(values['execution-id']);
  const t = await connectStack(values, deps);
  const prev = await t.runs.getRun(prevId);
  if (!prev) {
    io.stderr.write(`rsqlo: no run ${prevId} ${where(t)}\n`);
    return EXIT.usage;
  }
  if (prev.restarted_as) {
    const by = await t.runs.getRun(prev.restarted_as);
    io.stderr.write(
      `rsqlo: request refused: ${prevId} was already restarted as ${prev.restarted_as} (${by?.execution_status ?? 'unknown'}); restart that one instead\n`,
    );
    return EXIT.rejected;
  }
  if (prev.execution_status !== 'Failed' && prev.execution_status !== 'Cancelled') {
    io.stderr.write(
      `rsqlo: request refused: ${prevId} is ${prev.execution_status}; only a failed or cancelled run is restarted\n`,
    );
    return EXIT.rejected;
  }
  const stored = await storedDefinition(t, prev.workflow_id, io);
  if (!stored) return EXIT.usage;
  const params = runParams(
    stored.definition,
    values.param as string[] | undefined,
    `${prev.workflow_id} ${where(t)}`,
    io,
  );
  if (!params) return EXIT.usage;
  const exec = given ?? newExecutionId(prev.workflow_id, new Date());
  (values.json ? io.stderr : io.stdout).write(
    `restarting ${prevId} as ${exec} with the definition of ${prev.workflow_id} ${where(t)} (jobs that completed are skipped)\n`,
  );
  await t.events.publish([
    {
      detailType: 'WorkflowRequested',
      detail: {
        version: 1,
        workflow_id: prev.workflow_id,
        workflow_execution_id: exec,
        restart_of: prevId,
        requested_by: 'rsqlo-cli',
        ...(Object.keys(params).length > 0 ? { parameters: params } : {}),
      },
    },
  ]);
  return followAndReport(t, exec, io, values.json === true, deps, prev.workflow_id);
}

/**
 * `rsqlo kill <execution-id> --aws`: WorkflowCancelRequested on the bus (the starter stops the
 * run's jobs: the agents kill their process trees), then waits for the run to end, as a local kill.
 */
async function killAws(argv: string[], io: Io, deps: AwsCliDeps): Promise<number> {
  const { positionals, values } = parse(argv, AWS_OPTIONS);
  if (positionals.length !== 1) throw new UsageError('kill takes one execution id');
  const exec = positionals[0] as string;
  const t = await connectStack(values, deps);
  const run = await t.runs.getRun(exec);
  if (!run) {
    io.stderr.write(`rsqlo: no run ${exec} ${where(t)}\n`);
    return EXIT.usage;
  }
  if (run.execution_status !== 'Running') {
    io.stdout.write(`${exec} is already ${run.execution_status}\n`);
    return 0;
  }
  await publishCancel(t, run.workflow_id, exec, 'rsqlo kill');
  const deadline = Date.now() + (deps.startTimeoutMs ?? 120_000);
  for (;;) {
    const after = await t.runs.getRunRecord(exec);
    const jobs = after && after.execution_status !== 'Running' ? await t.jobs.listJobs(exec) : [];
    // Ended, and every job's row final (the jobs a cancel skips are written after the run's end).
    const settled = jobs.every((j) => isTerminalJobStatus(j.execution_status)) || Date.now() > deadline;
    if (after && after.execution_status !== 'Running' && settled) {
      io.stdout.write(`${exec} is ${after.execution_status}\n`);
      const lines = cutLines(after, jobs);
      if (after.execution_status === 'Cancelled')
        lines.push(`restart with: ${suggest(`restart ${exec}${t.flags}`)}`);
      if (lines.length > 0) io.stdout.write(`${lines.join('\n')}\n`);
      return 0;
    }
    if (Date.now() > deadline) {
      io.stdout.write(
        `cancel requested for ${exec}; its jobs are still stopping (see ${suggest(`status ${exec}${t.flags}`)})\n`,
      );
      return 0;
    }
    await new Promise((r) => setTimeout(r, deps.pollMs ?? 1000));
  }
}

/** `rsqlo status <execution-id> --aws`: what `rsqlo status` prints, from the audit tables. */
async function statusAws(argv: string[], io: Io, deps: AwsCliDeps): Promise<number> {
  const { positionals, values } = parse(argv, { json: { type: 'boolean' }, ...AWS_OPTIONS });
  if (positionals.length !== 1) throw new UsageError('status takes one execution id');
  const exec = positionals[0] as string;
  const t = await connectStack(values, deps);
  const run = await t.runs.getRunRecord(exec);
  if (!run) {
    io.stderr.write(`rsqlo: no run ${exec} ${where(t)}\n`);
    return EXIT.usage;
  }
  const jobs = await t.jobs.listJobs(exec);
  io.stdout.write(
    values.json ? `${JSON.stringify(resultDocument(run, jobs), null, 2)}\n` : statusText(run, jobs),
  );
  return 0;
}

/** `rsqlo history <workflow_id> --aws`: the workflow's runs, newest first. */
async function historyAws(argv: string[], io: Io, deps: AwsCliDeps): Promise<number> {
  const { positionals, values } = parse(argv, {
    json: { type: 'boolean' },
    limit: { type: 'string' },
    ...AWS_OPTIONS,
  });
  if (positionals.length !== 1) throw new UsageError('history takes one workflow_id');
  const wf = positionals[0] as string;
  if (!WorkflowId.safeParse(wf).success) throw new UsageError(`"${wf}" is not a valid workflow_id`);
  const limit = values.limit === undefined ? 20 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit must be a positive whole number');
  const t = await connectStack(values, deps);
  const listed = await t.runs.listRuns(wf, limit);
  // The full records, as the local history prints them: the run items keep each script name once,
  // so `rsql_jobs` (every job's script, in order) is rebuilt from the job rows (getRunRecord).
  const runs: WorkflowAuditRecord[] = [];
  for (let i = 0; i < listed.length; i += 8) {
    const part = await Promise.all(
      listed.slice(i, i + 8).map((r) => t.runs.getRunRecord(r.workflow_execution_id)),
    );
    for (const r of part) if (r) runs.push(r);
  }
  if (values.json) io.stdout.write(`${JSON.stringify(runs, null, 2)}\n`);
  else if (runs.length === 0) io.stdout.write(`no runs of ${wf} ${where(t)}\n`);
  else for (const r of runs) io.stdout.write(runLine(r));
  return 0;
}

/** `rsqlo runs --aws`: every run of the stack, newest first (the run view's list). */
async function runsAws(argv: string[], io: Io, deps: AwsCliDeps): Promise<number> {
  const { positionals, values } = parse(argv, {
    workflow: { type: 'string' },
    status: { type: 'string' },
    limit: { type: 'string' },
    json: { type: 'boolean' },
    ...AWS_OPTIONS,
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const workflow = values.workflow as string | undefined;
  if (workflow !== undefined && !WorkflowId.safeParse(workflow).success)
    throw new UsageError(`--workflow: "${workflow}" is not a valid workflow_id`);
  const status = values.status as string | undefined;
  const st = status === undefined ? undefined : WorkflowStatus.safeParse(status);
  if (st && !st.success)
    throw new UsageError(`--status must be one of ${WorkflowStatus.options.join(', ')}, got "${status}"`);
  const limitText = (values.limit as string | undefined) ?? '20';
  const limit = Number(limitText);
  if (!/^\d+$/.test(limitText) || limit < 1 || limit > MAX_RUN_LIST_LIMIT)
    throw new UsageError(`--limit must be a whole number from 1 to ${MAX_RUN_LIST_LIMIT}`);
  const t = await connectStack(values, deps);
  const source = createAwsRunViewSource(t);
  const runs = (await source.listRuns({ workflow_id: workflow, status: st?.data, limit })).runs;
  source.close();
  if (values.json) io.stdout.write(`${JSON.stringify(runs, null, 2)}\n`);
  else if (runs.length === 0) {
    const filters = [workflow && `of ${workflow}`, status].filter(Boolean).join(' ');
    io.stdout.write(`no ${filters ? `${filters} ` : ''}runs ${where(t)}\n`);
  } else for (const r of runs) io.stdout.write(runLine(r));
  return 0;
}

/**
 * `rsqlo validate <file>... --aws`: each file checked as locally, and compared with the definition
 * the stack stores for its workflow (same, different, or not pushed).
 */
async function validateAws(argv: string[], io: Io, deps: AwsCliDeps): Promise<number> {
  const { positionals, values } = parse(argv, { scripts: { type: 'string' }, ...AWS_OPTIONS });
  if (positionals.length === 0) throw new UsageError('validate needs at least one file');
  const t = await connectStack(values, deps);
  let bad = 0;
  for (const arg of positionals) {
    const r = loadDefinition(arg, values.scripts as string | undefined);
    if (!r.ok) {
      bad++;
      io.stderr.write(`${formatIssues(r.file, r.issues)}\n`);
      continue;
    }
    const stored = await t.definitions.get(r.definition.workflow_id);
    const raw = JSON.parse(readFileSync(r.file, 'utf8')) as unknown;
    const state = !stored
      ? `not in stack ${t.stack}: push it with ${suggest(`definitions push <folder>${t.flags}`)}`
      : isDeepStrictEqual(stored, raw)
        ? `the same in stack ${t.stack}`
        : `differs from stack ${t.stack}'s: push it with ${suggest(`definitions push <folder>${t.flags}`)}`;
    io.stdout.write(
      `${r.file}: ok (${r.definition.workflow_id}, ${r.definition.workflow_stages.length} stages); ${state}\n`,
    );
  }
  return bad ? EXIT.usage : 0;
}
