/**
 * The operator's commands on a deployed stack (`--aws`): `set-ok`, `rerun`, `bypass`, `hold`,
 * `free`, `pool set|list`. The same checks and requests as locally (operator-commands.ts), from
 * `iam:<arn>` (STS GetCallerIdentity), put on the stack's bus; then the run is followed with the
 * existing follow/report code once the starter has applied the request (its action id appears
 * in the audit), so a set-ok of a Failed run is not reported Failed before it reopens.
 */
import type { JobAuditRecord, WorkflowAuditRecord } from '../contracts/audit.js';
import { ExecutionId, WorkflowId } from '../contracts/common.js';
import type { RsqloEvent } from '../contracts/events.js';
import { holdRefusal } from '../contracts/operator.js';
import { createStsClient, iamRequester } from '../runtime/aws/caller-identity.js';
import type { OperatorRequest } from '../runtime/local/engine.js';
import { followAndReport } from './aws-commands.js';
import { AWS_OPTIONS, type AwsCliDeps, connectStack, type StackTarget, where } from './aws-stack.js';
import { EXIT, type Io } from './drive.js';
import { command as suggest } from './invocation.js';
import {
  checkedJob,
  holdRequest,
  type JOB_ACTIONS,
  jobRequest,
  parseHold,
  parseJobAction,
  parsePool,
  poolRequest,
  poolTable,
  refused,
} from './operator-commands.js';

/** Who asks: `iam:<arn>` of the credentials in use (the same region and profile as the stack's). */
async function requester(values: Record<string, unknown>, deps: AwsCliDeps): Promise<string> {
  const conn = {
    ...(typeof values.region === 'string' ? { region: values.region } : {}),
    ...(typeof values.profile === 'string' ? { profile: values.profile } : {}),
  };
  return iamRequester((deps.sts ?? createStsClient)(conn));
}

async function publish(t: StackTarget, request: OperatorRequest): Promise<void> {
  await t.events.publish([request as RsqloEvent]);
}

/**
 * Waits until the starter has applied the request (`applied` reads the audit), bounded by the
 * start timeout; false when it did not (refused — the OperatorActionRejected event says why — or
 * not received yet).
 */
async function appliedWithin(deps: AwsCliDeps, applied: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + (deps.startTimeoutMs ?? 60_000);
  for (;;) {
    if (await applied()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, deps.pollMs ?? 1000));
  }
}

function notApplied(io: Io, t: StackTarget, what: string, deps: AwsCliDeps): number {
  io.stderr.write(
    `rsqlo: ${what} was put on the bus ${where(t)} but not applied within ${Math.round((deps.startTimeoutMs ?? 60_000) / 1000)} s: ` +
      "the starter refused it (its reason is in the OperatorActionRejected event and the starter's log) or has not received it yet\n",
  );
  return EXIT.failed;
}

const hasAction = (actions: Array<{ action_id: string }> | undefined, id: string) =>
  (actions ?? []).some((a) => a.action_id === id);

/** set-ok, rerun, bypass `--aws`. */
export async function jobActionAws(
  command: keyof typeof JOB_ACTIONS,
  argv: string[],
  io: Io,
  deps: AwsCliDeps,
): Promise<number> {
  const { action, exec, jobKey, reason, values } = parseJobAction(command, argv, AWS_OPTIONS);
  const t = await connectStack(values, deps);
  const run = await t.runs.getRunRecord(exec);
  const found = run ? { run, jobs: await t.jobs.listJobs(exec) } : undefined;
  const job = checkedJob(io, { action, exec, jobKey, reason }, found, `no run ${exec} ${where(t)}`);
  if (typeof job === 'number') return job;
  const request = jobRequest(action, job, reason, await requester(values, deps));
  await publish(t, request);
  const id = String(request.detail.event_id);
  const ok = await appliedWithin(deps, async () => {
    const j = (await t.jobs.listJobs(exec)).find((x) => x.job_key === jobKey) as JobAuditRecord | undefined;
    return hasAction(j?.operator_actions, id);
  });
  if (!ok) return notApplied(io, t, `the ${command} of job ${jobKey} of ${exec}`, deps);
  return followAndReport(t, exec, io, values.json === true, deps, job.workflow_id);
}

/** hold, free `--aws`: a run (followed to its end by free) or a workflow's new runs. */
export async function holdAws(
  action: 'hold' | 'free',
  argv: string[],
  io: Io,
  deps: AwsCliDeps,
): Promise<number> {
  const { id, reason, values } = parseHold(action, argv, AWS_OPTIONS);
  const t = await connectStack(values, deps);
  const run =
    values.workflow === true || !ExecutionId.safeParse(id).success
      ? undefined
      : ((await t.runs.getRunRecord(id)) as WorkflowAuditRecord | undefined);
  if (run) {
    const refusal = holdRefusal(run, action);
    if (refusal) return refused(io, refusal);
    const request = holdRequest(
      action,
      { workflow_id: run.workflow_id, workflow_execution_id: id },
      reason,
      await requester(values, deps),
    );
    await publish(t, request);
    const ok = await appliedWithin(deps, async () => {
      const r = await t.runs.getRunRecord(id);
      return (
        r?.hold_state?.request_id === request.detail.event_id ||
        hasAction(r?.operator_actions, String(request.detail.event_id))
      );
    });
    if (!ok) return notApplied(io, t, `the ${action} of ${id}`, deps);
    if (action === 'hold') {
      io.stdout.write(`${id} is held: no new job starts until ${suggest(`free ${id}${t.flags}`)}\n`);
      return 0;
    }
    return followAndReport(t, id, io, values.json === true, deps, run.workflow_id);
  }
  const defined =
    values.run !== true && WorkflowId.safeParse(id).success && (await t.definitions.get(id)) !== undefined;
  if (!defined) {
    io.stderr.write(
      `rsqlo: no ${values.run === true ? 'run' : values.workflow === true ? 'workflow' : 'run and no workflow'} ${id} ${where(t)}\n`,
    );
    return EXIT.usage;
  }
  const request = holdRequest(
    action,
    { workflow_id: id, workflow_execution_id: null },
    reason,
    await requester(values, deps),
  );
  await publish(t, request);
  io.stdout.write(
    `${action} of workflow ${id} requested ${where(t)}: ${action === 'hold' ? 'its new runs wait as Held' : 'its held runs go on'}\n`,
  );
  return 0;
}

/** `pool set NAME SLOTS --aws`, `pool list --aws`. */
export async function poolAws(argv: string[], io: Io, deps: AwsCliDeps): Promise<number> {
  const p = parsePool(argv, AWS_OPTIONS);
  const t = await connectStack(p.values, deps);
  if (p.sub === 'list') {
    const pools = await t.view.listPools();
    io.stdout.write(p.values.json ? `${JSON.stringify(pools, null, 2)}\n` : poolTable(pools));
    return 0;
  }
  const { pool, slots } = p;
  const request = poolRequest(pool, slots, p.reason, await requester(p.values, deps));
  await publish(t, request);
  const ok = await appliedWithin(deps, async () => {
    const found = (await t.view.listPools()).find((x) => x.pool === pool);
    return found?.slots === slots;
  });
  if (!ok) return notApplied(io, t, `pool set ${pool} ${slots}`, deps);
  io.stdout.write(`pool ${pool} now has ${slots} slot(s) ${where(t)}\n`);
  return 0;
}
