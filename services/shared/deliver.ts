import type { ParsedEnvelope } from '../../events/envelope.js';
import { NonRetriableError } from '../errors.js';
import type { PlannerService } from '../planner/service.js';
import type { RecorderService } from '../recorder/service.js';
import type { StarterService } from '../starter/service.js';

/** The services that consume bus events (the dispatcher reads the queue, the aggregator the change feed). */
export interface BusServices {
  starter: StarterService;
  planner: PlannerService;
  recorder: RecorderService;
}

/**
 * Hands a parsed bus event to the service method for its detail-type: the in-process counterpart
 * of the EventBridge rules that invoke each service's handler. An event no service takes is a
 * NonRetriableError (it can never be handled).
 */
export async function deliverEvent(services: BusServices, env: ParsedEnvelope): Promise<void> {
  switch (env.detailType) {
    case 'WorkflowRequested':
      await services.starter.handleRequested(env.detail, env.id, env.time);
      return;
    case 'WorkflowCancelRequested':
      await services.starter.handleCancelRequested(env.detail);
      return;
    case 'StageReady':
      await services.planner.handleStageReady(env.detail);
      return;
    case 'JobStarted':
      await services.recorder.handleJobStarted(env.detail);
      return;
    case 'JobFinished':
      await services.recorder.handleJobFinished(env.detail);
      return;
    default:
      throw new NonRetriableError(`no service handles ${env.detailType}`);
  }
}
