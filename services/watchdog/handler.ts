/**
 * Lambda entry of the run watchdog (services/watchdog/service.ts): the target of the one-time
 * schedule the starter creates per run (runtime/aws/scheduler-run-watch.ts). Its input is the
 * schedule's Input as written; a malformed one is logged and rejected (never a silent pass).
 */
import type { Context } from 'aws-lambda';
import { parseContract } from '../../contracts/common.js';
import { SlaLineInput, WatchedRunInput } from '../../contracts/run-watch.js';
import { composeAws } from '../../runtime/aws/compose.js';
import { createLambdaLogger, loggerPort, logSummary } from '../../runtime/aws/lambda-io.js';
import { readSettings } from '../../runtime/aws/settings.js';
import { InvalidInputError } from '../errors.js';
import { createSlaService, type SlaCheckResult } from '../sla/service.js';
import { type CheckResult, createWatchdogService } from './service.js';

const settings = readSettings(['workflowAuditTable', 'eventBus', 'idempotencyTable']);
const logger = createLambdaLogger('watchdog');
const aws = composeAws(settings, { log: loggerPort(logger) });
const watchdog = createWatchdogService({ runs: aws.runStatus(), log: aws.log });
// SLA lines (issue 15): the same function is the target of each armed line's schedule.
const sla = createSlaService({ marks: aws.slaMarks(), events: aws.events(), clock: aws.clock, log: aws.log });

export async function handler(event: unknown, context?: Context): Promise<CheckResult | SlaCheckResult> {
  if (context) logger.addContext(context);
  if (typeof event === 'object' && event !== null && 'kind' in event) {
    let line: ReturnType<typeof SlaLineInput.parse>;
    try {
      line = parseContract(SlaLineInput, event, 'SLA line check');
    } catch (err) {
      logger.error('rejected malformed SLA line check', {
        problems: err instanceof Error ? err.message : err,
      });
      throw new InvalidInputError(
        `malformed SLA line check: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    const result = await sla.check(line);
    logSummary(logger, 'SLA line checked', { ...result });
    return result;
  }
  let run: ReturnType<typeof WatchedRunInput.parse>;
  try {
    run = parseContract(WatchedRunInput, event, 'run check');
  } catch (err) {
    logger.error('rejected malformed run check', { problems: err instanceof Error ? err.message : err });
    throw new InvalidInputError(`malformed run check: ${err instanceof Error ? err.message : String(err)}`);
  }
  const result = await watchdog.check(run);
  logSummary(logger, 'run checked', { ...result });
  return result;
}
