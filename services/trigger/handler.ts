/**
 * Lambda entry of the trigger service (its EventBridge rule: events/routing.ts
 * `trigger-workflow-finished`): takes the detail-types the routing table delivers to it
 * (WorkflowFinished) and hands each to its method in the dispatch map (services/shared/dispatch.ts):
 * the workflows waiting for the finished one collect it and a run is requested once all their
 * upstreams arrived. Composition root at module scope; configuration is read once and a missing
 * variable fails the cold start with a message naming it.
 */
import type { Context } from 'aws-lambda';
import { routedDetailTypes } from '../../events/routing.js';
import { composeAws } from '../../runtime/aws/compose.js';
import { createLambdaLogger, loggerPort, logSummary, readBusEvent } from '../../runtime/aws/lambda-io.js';
import { readSettings } from '../../runtime/aws/settings.js';
import { dispatch } from '../shared/dispatch.js';
import { createTrigger, type TriggerOutcome } from './service.js';

const settings = readSettings(['configTable', 'workflowAuditTable', 'eventBus']);
const logger = createLambdaLogger('trigger');
const aws = composeAws(settings, { log: loggerPort(logger) });
const trigger = createTrigger({
  definitions: aws.definitions(),
  triggers: aws.triggers(),
  events: aws.events(),
  clock: aws.clock,
  log: aws.log,
});
const ACCEPTED = routedDetailTypes('trigger');

export async function handler(event: unknown, context?: Context): Promise<Record<string, TriggerOutcome>> {
  if (context) logger.addContext(context);
  const env = readBusEvent(event, ACCEPTED, logger);
  const result = await dispatch('trigger', trigger, env);
  logSummary(logger, 'workflow finish handled', {
    event_id: env.id,
    workflow_id: env.detail.workflow_id,
    workflow_execution_id: env.detail.workflow_execution_id,
    status: env.detail.status,
    downstream: result,
  });
  return result;
}
