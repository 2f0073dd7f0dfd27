/**
 * Lambda entry of the planner (its EventBridge rules: events/routing.ts): takes the detail-types
 * the routing table delivers to the planner and hands each to its method in the dispatch map
 * (services/shared/dispatch.ts): StageReady queues the stage's runnable jobs; RunFreed (a held run
 * freed) wakes its parked jobs and plans its stage; PoolSlotFreed and PoolResized grant free pool
 * slots to the oldest waiting jobs. Composition root at module scope; configuration is read once and a missing
 * variable fails the cold start with a message naming it.
 */
import type { Context } from 'aws-lambda';
import { routedDetailTypes } from '../../events/routing.js';
import { composeAws } from '../../runtime/aws/compose.js';
import { createLambdaLogger, loggerPort, logSummary, readBusEvent } from '../../runtime/aws/lambda-io.js';
import { readSettings } from '../../runtime/aws/settings.js';
import { dispatch } from '../shared/dispatch.js';
import type { WakeResult } from '../shared/pools.js';
import { createPlannerService, type PlanResult } from './service.js';

const settings = readSettings([
  'configTable',
  'workflowAuditTable',
  'jobAuditTable',
  'eventBus',
  'jobQueueUrl',
]);
const logger = createLambdaLogger('planner');
const aws = composeAws(settings, { log: loggerPort(logger) });
const planner = createPlannerService({
  runs: aws.runs(),
  jobs: aws.jobs(),
  // PoolSlotFreed / PoolResized grant free slots (config table `pool:<NAME>` items; issue 14).
  pools: aws.pools(),
  clock: aws.clock,
  log: aws.log,
});
const ACCEPTED = routedDetailTypes('planner');

export async function handler(event: unknown, context?: Context): Promise<PlanResult | WakeResult> {
  if (context) logger.addContext(context);
  const env = readBusEvent(event, ACCEPTED, logger);
  if (env.detailType === 'RunFreed') {
    const result = await dispatch('planner', planner, env);
    logSummary(logger, 'run freed', {
      event_id: env.id,
      workflow_id: env.detail.workflow_id,
      workflow_execution_id: env.detail.workflow_execution_id,
      ...result,
    });
    return result;
  }
  if (env.detailType === 'PoolSlotFreed' || env.detailType === 'PoolResized') {
    const woken = await dispatch('planner', planner, env);
    logSummary(logger, 'pool woken', { event_id: env.id, ...woken });
    return woken;
  }
  const result = await dispatch('planner', planner, env);
  logSummary(logger, 'stage planned', {
    event_id: env.id,
    workflow_execution_id: env.detail.workflow_execution_id,
    stage: env.detail.stage,
    ...result,
  });
  return result;
}
