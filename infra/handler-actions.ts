import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { SettingName } from '../runtime/aws/settings.js';
import { type HandlerActions, moduleActions, SdkActionsError } from './sdk-actions.js';

/**
 * Which AWS actions each Lambda function's code calls, from the code.
 *
 * A handler is a composition root: it reads its settings (`readSettings([...], [...])`), builds the
 * adapters it needs from `composeAws` (`aws.runs()`, `aws.events()`, …) and may use SDK-backed
 * libraries itself (Powertools idempotency). Bundling the handler as a whole would count every
 * adapter `composeAws` *could* build (its returned object keeps them all reachable), so the
 * analysis follows the composition instead:
 *
 * 1. the handler's own code (handler, service, helpers) — bundled with `runtime/aws/compose.ts`
 *    left out — contributes the SDK commands it constructs (sdk-actions.ts);
 * 2. each adapter the handler asks `composeAws` for contributes the commands of the module that
 *    builds it (bundled alone, tree-shaken to that factory);
 * 3. the run and job repositories publish their effects through the events and queue adapters
 *    when the function is configured with a bus / queue (compose.ts: `settings.eventBus ? events() :
 *    undefined`), so those adapters count when the handler reads those settings.
 *
 * `ADAPTERS` mirrors compose.ts; infra/iam-exact.test.ts checks that it still does.
 */

/** Adapter name (a method of AwsRuntime) → the module and factory compose.ts builds it with. */
export const ADAPTERS: Record<string, { module: string; factory: string }> = {
  definitions: { module: 'runtime/aws/dynamo-definitions.ts', factory: 'createDynamoDefinitionRepository' },
  runs: { module: 'runtime/aws/dynamo-runs.ts', factory: 'createDynamoRunRepository' },
  jobs: { module: 'runtime/aws/dynamo-jobs.ts', factory: 'createDynamoJobRepository' },
  events: { module: 'runtime/aws/eventbridge-publisher.ts', factory: 'createEventBridgePublisher' },
  queue: { module: 'runtime/aws/sqs-job-queue.ts', factory: 'createSqsJobQueue' },
  orchestrator: {
    module: 'runtime/aws/step-functions-orchestrator.ts',
    factory: 'createStepFunctionsOrchestrator',
  },
  agents: { module: 'runtime/aws/ssm-agent-fleet.ts', factory: 'createSsmAgentFleet' },
  alerts: { module: 'runtime/aws/sns-alert-publisher.ts', factory: 'createSnsAlertPublisher' },
  alertDedupe: { module: 'runtime/aws/dynamo-alert-dedupe.ts', factory: 'createDynamoAlertDedupe' },
  runWatch: { module: 'runtime/aws/scheduler-run-watch.ts', factory: 'createSchedulerRunWatch' },
  runStatus: { module: 'runtime/aws/dynamo-run-status.ts', factory: 'createDynamoRunStatusReader' },
  slaWatch: { module: 'runtime/aws/scheduler-run-watch.ts', factory: 'createSchedulerSlaWatch' },
  slaMarks: { module: 'runtime/aws/dynamo-sla-marks.ts', factory: 'createDynamoSlaMarks' },
  triggers: { module: 'runtime/aws/dynamo-trigger.ts', factory: 'createDynamoTriggerRepository' },
  calendars: { module: 'runtime/aws/dynamo-trigger.ts', factory: 'createDynamoCalendarReader' },
  pools: { module: 'runtime/aws/dynamo-pools.ts', factory: 'createDynamoPoolRepository' },
  operator: { module: 'runtime/aws/dynamo-operator.ts', factory: 'createDynamoOperatorRepository' },
};

/** Adapters that hand their effects to other adapters, when the named setting is configured. */
export const EFFECT_TARGETS: Record<string, Array<{ setting: SettingName; adapter: string }>> = {
  runs: [
    { setting: 'eventBus', adapter: 'events' },
    { setting: 'jobQueueUrl', adapter: 'queue' },
  ],
  jobs: [
    { setting: 'eventBus', adapter: 'events' },
    { setting: 'jobQueueUrl', adapter: 'queue' },
  ],
  // dynamo-trigger.ts publishes a due run's request after writing the state.
  triggers: [{ setting: 'eventBus', adapter: 'events' }],
  // dynamo-pools.ts: PoolCreated/PoolResized/PoolSlotFreed, and a granted job's message.
  pools: [
    { setting: 'eventBus', adapter: 'events' },
    { setting: 'jobQueueUrl', adapter: 'queue' },
  ],
  // dynamo-operator.ts: the outcome events of set-ok, rerun, bypass, hold and free.
  operator: [
    { setting: 'eventBus', adapter: 'events' },
    { setting: 'jobQueueUrl', adapter: 'queue' },
  ],
};

export const COMPOSE_MODULE = 'runtime/aws/compose.ts';

/** The settings a handler reads: `readSettings([required...], [optional...])`. */
export function handlerSettings(source: string): { required: string[]; optional: string[] } {
  const m = /readSettings\(\s*\[([^\]]*)\](?:\s*,\s*\[([^\]]*)\])?/.exec(source);
  if (!m) throw new SdkActionsError('the handler does not call readSettings([...])');
  const names = (list: string | undefined) =>
    [...(list ?? '').matchAll(/'([A-Za-z]+)'/g)].map((x) => x[1] ?? '');
  return { required: names(m[1]), optional: names(m[2]) };
}

/** The adapters a handler asks composeAws for (`aws.<name>()`). */
export function handlerAdapters(source: string): string[] {
  return [...new Set([...source.matchAll(/\baws\.(\w+)\(\)/g)].map((m) => m[1] ?? ''))].sort();
}

export interface FunctionActions extends HandlerActions {
  settings: { required: string[]; optional: string[] };
  /** Adapters used, including the effect targets they bring in. */
  adapters: string[];
  /** Actions by where they come from: `handler` or an adapter name. */
  bySource: Record<string, string[]>;
}

/** The actions of one function: `exportName` of `entry` (relative to `root`). */
export async function functionActions(
  root: string,
  entry: string,
  exportName: string,
): Promise<FunctionActions> {
  const source = readFileSync(path.join(root, entry), 'utf8');
  const settings = handlerSettings(source);
  const read = new Set([...settings.required, ...settings.optional]);
  const direct = handlerAdapters(source);
  for (const a of direct)
    if (!ADAPTERS[a])
      throw new SdkActionsError(`${entry}: aws.${a}() is not a known adapter (update ADAPTERS)`);
  const adapters = new Set(direct);
  for (const a of direct)
    for (const t of EFFECT_TARGETS[a] ?? []) if (read.has(t.setting)) adapters.add(t.adapter);

  const bySource: Record<string, string[]> = {};
  const own = await moduleActions(path.join(root, entry), exportName, root, {
    exclude: [path.join(root, COMPOSE_MODULE)],
  });
  bySource.handler = own.actions;
  const calls = [...own.calls];
  for (const a of [...adapters].sort()) {
    const spec = ADAPTERS[a];
    if (!spec) continue;
    const r = await moduleActions(path.join(root, spec.module), spec.factory, root);
    bySource[a] = r.actions;
    calls.push(...r.calls);
  }
  const actions = [...new Set(Object.values(bySource).flat())].sort();
  return { actions, calls, modules: own.modules, settings, adapters: [...adapters].sort(), bySource };
}
