/**
 * Lambda entry of the notifier: the target of every alert rule (events/routing.ts ALERT_ROUTES).
 * Publishes one readable alert per fact to the alert topic: the message is formatted in code
 * (services/notifier/format.ts), not by an input transformer, and replays or duplicate deliveries of
 * an event (same `event_id`) publish nothing more.
 *
 * A malformed event is rejected (InvalidInputError, logged): its invocation fails into the
 * function's asynchronous on-failure destination, whose alarm says something was not delivered.
 *
 * Composition root at module scope; configuration is read once and a missing variable fails the
 * cold start with a message naming it.
 */
import type { Context } from 'aws-lambda';
import type { DetailType } from '../../contracts/events.js';
import { ALERT_ROUTES } from '../../events/routing.js';
import { composeAws } from '../../runtime/aws/compose.js';
import { createLambdaLogger, loggerPort, logSummary, readBusEvent } from '../../runtime/aws/lambda-io.js';
import { readSettings } from '../../runtime/aws/settings.js';
import { createNotifierService, type NotifyOutcome } from './service.js';

const settings = readSettings([
  'alertTopicArn',
  'idempotencyTable',
  'workflowAuditTable',
  'jobAuditTable',
  'logGroup',
]);
const logger = createLambdaLogger('notifier');
const aws = composeAws(settings, { log: loggerPort(logger) });
const notifier = createNotifierService({
  dedupe: aws.alertDedupe(),
  publisher: aws.alerts(),
  context: {
    workflowAuditTable: settings.workflowAuditTable,
    jobAuditTable: settings.jobAuditTable,
    jobLogGroup: settings.logGroup,
  },
});

/** The detail-types the alert rules deliver. */
const ALERT_TYPES = [
  ...new Set(ALERT_ROUTES.flatMap((r) => (r.pattern['detail-type'] ?? []) as DetailType[])),
];

export async function handler(event: unknown, context?: Context): Promise<{ outcome: NotifyOutcome }> {
  if (context) logger.addContext(context);
  const env = readBusEvent(event, ALERT_TYPES, logger);
  const outcome = await notifier.notify(event);
  logSummary(
    logger,
    outcome === 'published' ? 'alert published' : 'alert already sent: not published again',
    {
      event_id: env.detail.event_id,
      detail_type: env.detailType,
      // Pool events (issue 14) carry no run; alerts route none of them today.
      workflow_execution_id:
        'workflow_execution_id' in env.detail ? env.detail.workflow_execution_id : undefined,
      outcome,
    },
  );
  return { outcome };
}
