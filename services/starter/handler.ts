/**
 * Lambda entry of the starter (its EventBridge rules: events/routing.ts): takes the detail-types
 * the routing table delivers to the starter and hands each to its method in the dispatch map
 * (services/shared/dispatch.ts). WorkflowRequested starts a run, WorkflowCancelRequested cancels
 * one (a job already on an agent host gets a cancel command there: the agent kills it at once and
 * reports it Cancelled once its process tree is gone); this entry only adds what a Lambda reports
 * (an unknown run's cancel is logged and answered `unknown-run`). Composition root at module scope;
 * configuration is read once and a missing variable fails the cold start with a message naming it.
 */
import type { Context } from 'aws-lambda';
import { routedDetailTypes } from '../../events/routing.js';
import { composeAws } from '../../runtime/aws/compose.js';
import { createLambdaLogger, loggerPort, logSummary, readBusEvent } from '../../runtime/aws/lambda-io.js';
import { readSettings } from '../../runtime/aws/settings.js';
import { dispatch } from '../shared/dispatch.js';
import type { OperatorResult } from './operator.js';
import type { PoolResizeResult } from './pools.js';
import { createStarterService, type StartResult } from './service.js';

const settings = readSettings(
  [
    'configTable',
    'workflowAuditTable',
    'jobAuditTable',
    'eventBus',
    'wrapperStateMachineArn',
    'ssmDocument',
    'runWatchGroup',
    'runWatchTargetArn',
    'runWatchRoleArn',
    'runWatchDeadLetterArn',
  ],
  ['agentInstanceIds', 'agentTag', 'scriptVersion', 'scriptWorkflows'],
);
/** The workflows whose scripts the stack ships, at the version deployed with this function. */
const shipped = new Set(settings.scriptWorkflows?.split(',') ?? []);
const logger = createLambdaLogger('starter');
const aws = composeAws(settings, { log: loggerPort(logger) });
const starter = createStarterService({
  definitions: aws.definitions(),
  runs: aws.runs(),
  jobs: aws.jobs(),
  events: aws.events(),
  orchestrator: aws.orchestrator(),
  // A run's pools are made before it starts; `pool set` resizes one (config table; issue 14).
  pools: aws.pools(),
  // A cancel tells the host running a job to kill it now (SSM command, the rsqlo document).
  agents: aws.agents(),
  // Each run's deadline check: a one-time EventBridge Scheduler schedule invoking the watchdog.
  watch: aws.runWatch(),
  // SLA lines (issue 15): one schedule per armed line; "longer than usual" only for runs of
  // workflows with an sla block, so a run without one adds no request.
  sla: { watch: aws.slaWatch(), usual: 'sla-runs' },
  // New runs of a shipped workflow record the deployed script version (a deploy updates this
  // function's environment, so runs started after it take the new one).
  scriptVersion: (workflowId) => (shipped.has(workflowId) ? settings.scriptVersion : undefined),
  // A scheduled request on a day its workflow's calendar excludes is skipped (no run, no alert).
  calendars: aws.calendars(),
  // Operator actions (issue 14): set-ok/rerun/bypass/hold writes (a bypassed job's pool slot
  // goes back through `pools` above).
  operator: aws.operator(),
  clock: aws.clock,
  log: aws.log,
});

const ACCEPTED = routedDetailTypes('starter');

export type StarterResult =
  | StartResult
  | OperatorResult
  | PoolResizeResult
  | { outcome: 'cancel-requested' | 'unknown-run'; workflowExecutionId: string };

export async function handler(event: unknown, context?: Context): Promise<StarterResult> {
  if (context) logger.addContext(context);
  const env = readBusEvent(event, ACCEPTED, logger);
  if (env.detailType === 'PoolResizeRequested') {
    const resized = await dispatch('starter', starter, env);
    logSummary(logger, 'pool resize handled', { event_id: env.id, ...resized });
    return resized;
  }
  if (env.detailType !== 'WorkflowCancelRequested' && env.detailType !== 'WorkflowRequested') {
    // Operator requests (issue 14): the outcome event or OperatorActionRejected is the answer.
    const result = await dispatch('starter', starter, env);
    logSummary(logger, 'operator request handled', {
      event_id: env.id,
      detail_type: env.detailType,
      workflow_id: env.detail.workflow_id,
      workflow_execution_id: env.detail.workflow_execution_id ?? null,
      requested_by: env.detail.requested_by,
      ...result,
    });
    return result;
  }
  if (env.detailType === 'WorkflowRequested') {
    const result = await dispatch('starter', starter, env);
    logSummary(logger, 'workflow request handled', {
      event_id: env.id,
      workflow_id: env.detail.workflow_id,
      ...result,
    });
    return result;
  }
  const exec = env.detail.workflow_execution_id;
  if (!(await aws.runs().getRun(exec))) {
    logger.warn('rejected cancel request: unknown execution', {
      event_id: env.id,
      workflow_execution_id: exec,
    });
    return { outcome: 'unknown-run', workflowExecutionId: exec };
  }
  await dispatch('starter', starter, env);
  logSummary(logger, 'cancel request handled', { event_id: env.id, workflow_execution_id: exec });
  return { outcome: 'cancel-requested', workflowExecutionId: exec };
}
