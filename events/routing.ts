import { DETAIL_TYPES, EVENT_SOURCE } from '../contracts/events.js';
import { type EventPattern, matchesPattern, validatePattern } from './pattern.js';

/** Services that react to bus events (the dispatcher reads the queue, the aggregator the change feed). */
export const BUS_SERVICES = ['starter', 'planner', 'recorder'] as const;
export type BusService = (typeof BUS_SERVICES)[number];

export interface ServiceRoute {
  /** Rule name on AWS (`<stack>-<id>`); unique. */
  id: string;
  target: BusService;
  description: string;
  pattern: EventPattern;
}

export interface AlertRoute {
  id: string;
  description: string;
  pattern: EventPattern;
}

/**
 * Who reacts to what. The local engine routes in-process with this table and the CDK app turns
 * every entry into an EventBridge rule, so the two runtimes cannot drift apart.
 */
export const SERVICE_ROUTES: readonly ServiceRoute[] = [
  {
    id: 'starter-requests',
    target: 'starter',
    description: 'WorkflowRequested / WorkflowCancelRequested start or cancel a run',
    pattern: { source: [EVENT_SOURCE], 'detail-type': ['WorkflowRequested', 'WorkflowCancelRequested'] },
  },
  {
    id: 'planner-stage-ready',
    target: 'planner',
    description: 'StageReady: the planner queues what may run in that stage',
    pattern: { source: [EVENT_SOURCE], 'detail-type': ['StageReady'] },
  },
  {
    id: 'recorder-job-reports',
    target: 'recorder',
    description: 'JobStarted / JobFinished from agents and the wrapper update the job audit row',
    pattern: { source: [EVENT_SOURCE], 'detail-type': ['JobStarted', 'JobFinished'] },
  },
];

/** Events that page someone: SNS on AWS, a printed alert locally. */
export const ALERT_ROUTES: readonly AlertRoute[] = [
  {
    id: 'alert-workflow-failed',
    description: 'a workflow run ended Failed',
    pattern: { source: [EVENT_SOURCE], 'detail-type': ['WorkflowFinished'], detail: { status: ['Failed'] } },
  },
  {
    id: 'alert-job-failed',
    description: 'a job attempt ended Failed or TimedOut',
    pattern: {
      source: [EVENT_SOURCE],
      'detail-type': ['JobFinished'],
      detail: { status: ['Failed', 'TimedOut'] },
    },
  },
  {
    id: 'alert-workflow-rejected',
    description: 'a workflow request was refused (unknown workflow, invalid definition, overlap)',
    pattern: { source: [EVENT_SOURCE], 'detail-type': ['WorkflowRejected'] },
  },
];

/** Services an envelope is delivered to, in table order. */
export function routeEvent(
  envelope: unknown,
  routes: readonly ServiceRoute[] = SERVICE_ROUTES,
): BusService[] {
  const out: BusService[] = [];
  for (const r of routes)
    if (matchesPattern(r.pattern, envelope) && !out.includes(r.target)) out.push(r.target);
  return out;
}

/** The alert rules an envelope matches. */
export function alertsFor(envelope: unknown, routes: readonly AlertRoute[] = ALERT_ROUTES): AlertRoute[] {
  return routes.filter((r) => matchesPattern(r.pattern, envelope));
}

/** Checks the table itself: valid patterns, unique ids, only known detail-types. Run by tests and at synth. */
export function checkRoutingTable(): void {
  const ids = new Set<string>();
  for (const r of [...SERVICE_ROUTES, ...ALERT_ROUTES]) {
    if (ids.has(r.id)) throw new Error(`routing table: duplicate id ${r.id}`);
    ids.add(r.id);
    validatePattern(r.pattern);
    const types = r.pattern['detail-type'];
    if (Array.isArray(types)) {
      for (const t of types) {
        if (typeof t !== 'string' || !(DETAIL_TYPES as readonly string[]).includes(t)) {
          throw new Error(`routing table: ${r.id} names unknown detail-type ${JSON.stringify(t)}`);
        }
      }
    }
  }
}
