/**
 * Lambda entry of the recorder (its EventBridge rules: events/routing.ts): takes the detail-types
 * the routing table delivers to the recorder and hands each to its method in the dispatch map
 * (services/shared/dispatch.ts): JobStarted / JobFinished update the job audit row. Composition root at module scope; configuration is read once and a
 * missing variable fails the cold start with a message naming it.
 */
import type { Context } from 'aws-lambda';
import { routedDetailTypes } from '../../events/routing.js';
import { composeAws } from '../../runtime/aws/compose.js';
import { createLambdaLogger, loggerPort, logSummary, readBusEvent } from '../../runtime/aws/lambda-io.js';
import { readSettings } from '../../runtime/aws/settings.js';
import { dispatch } from '../shared/dispatch.js';
import { createRecorderService } from './service.js';

const settings = readSettings(['jobAuditTable']);
const logger = createLambdaLogger('recorder');
const aws = composeAws(settings, { log: loggerPort(logger) });
const recorder = createRecorderService({ jobs: aws.jobs(), log: aws.log });
const ACCEPTED = routedDetailTypes('recorder');

export async function handler(event: unknown, context?: Context): Promise<{ applied: boolean }> {
  if (context) logger.addContext(context);
  const env = readBusEvent(event, ACCEPTED, logger);
  const result = await dispatch('recorder', recorder, env);
  logSummary(logger, 'job report recorded', {
    event_id: env.detail.event_id,
    detail_type: env.detailType,
    workflow_execution_id: env.detail.workflow_execution_id,
    job_key: env.detail.job_key,
    attempt: env.detail.attempt,
    applied: result.applied,
  });
  return { applied: result.applied };
}
