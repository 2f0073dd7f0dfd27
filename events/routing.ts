import { DETAIL_TYPES, type DetailType, EVENT_SOURCE } from '../contracts/events.js';
import { type EventPattern, matchesPattern, validatePattern } from './pattern.js';

/** Services that react to bus events (the dispatcher reads the queue, the aggregator the change feed). */
export const BUS_SERVICES = ['starter', 'planner', 'recorder', 'trigger'] as const;
export type BusService = (typeof BUS_SERVICES)[number];

export interface ServiceRoute<S extends BusService = BusService, T extends DetailType = DetailType> {
  /** Rule name on AWS (`<stack>-<id>`); unique. */
  id: string;
  target: S;
  /**
   * The detail-types this route delivers to `target`: the rule's `detail-type` filter is built from
   * them, and services/shared/dispatch.ts must name a method of `target` for each (a compile error
   * otherwise).
   */
  events: readonly T[];
  description: string;
  pattern: EventPattern;
}

export interface AlertRoute {
  id: string;
  description: string;
  pattern: EventPattern;
}

/**
 * A route from rsqlo events of `events` to `target`. The pattern is derived from the list, so what
 * the rule matches and what the target declares it handles cannot differ.
 */
function serviceRoute<const S extends BusService, const T extends DetailType>(r: {
  id: string;
  target: S;
  events: readonly T[];
  description: string;
}): ServiceRoute<S, T> {
  return { ...r, pattern: { source: [EVENT_SOURCE], 'detail-type': [...r.events] } };
}

/**
 * Who reacts to what. The local engine and the in-memory simulation route in-process with this
 * table, the CDK app turns every entry into an EventBridge rule, and services/shared/dispatch.ts
 * maps each (target, detail-type) here to one service method: the runtimes cannot drift apart.
 * A second subscriber to an event is a second entry here plus its method in the dispatch map.
 */
export const SERVICE_ROUTES = [
  serviceRoute({
    id: 'starter-requests',
    target: 'starter',
    events: ['WorkflowRequested', 'WorkflowCancelRequested'],
    description: 'WorkflowRequested / WorkflowCancelRequested start or cancel a run',
  }),
  serviceRoute({
    id: 'starter-operator-requests',
    target: 'starter',
    events: [
      'JobSetOkRequested',
      'JobRerunRequested',
      'JobBypassRequested',
      'HoldRequested',
      'FreeRequested',
    ],
    description: 'operator requests: set-ok, rerun, bypass a job; hold or free a run or a workflow',
  }),
  serviceRoute({
    id: 'planner-stage-ready',
    target: 'planner',
    events: ['StageReady'],
    description: 'StageReady: the planner queues what may run in that stage',
  }),
  serviceRoute({
    id: 'planner-run-freed',
    target: 'planner',
    events: ['RunFreed'],
    description: 'RunFreed: the planner wakes the jobs parked while the run was held and plans its stage',
  }),
  serviceRoute({
    id: 'planner-pool-wake',
    target: 'planner',
    events: ['PoolSlotFreed', 'PoolResized'],
    description: 'PoolSlotFreed / PoolResized: the planner grants free pool slots to the oldest waiting jobs',
  }),
  serviceRoute({
    id: 'starter-pool-requests',
    target: 'starter',
    events: ['PoolResizeRequested'],
    description: 'PoolResizeRequested (rsqlo pool set): the starter resizes the pool, or creates it',
  }),
  serviceRoute({
    id: 'recorder-job-reports',
    target: 'recorder',
    events: ['JobStarted', 'JobFinished'],
    description: 'JobStarted / JobFinished from agents and the wrapper update the job audit row',
  }),
  serviceRoute({
    id: 'trigger-workflow-finished',
    target: 'trigger',
    events: ['WorkflowFinished'],
    description: 'WorkflowFinished: runs waiting for this workflow (trigger.after) collect it and may start',
  }),
] as const satisfies readonly ServiceRoute[];

/** The detail-types the routing table delivers to service `S` (a union of literal types). */
export type RoutedDetailType<S extends BusService> = Extract<
  (typeof SERVICE_ROUTES)[number],
  { target: S }
>['events'][number];

/** The detail-types `target` receives, in table order: what its Lambda entry accepts. */
export function routedDetailTypes<S extends BusService>(
  target: S,
  routes: readonly ServiceRoute[] = SERVICE_ROUTES,
): RoutedDetailType<S>[] {
  const out: DetailType[] = [];
  for (const r of routes)
    if (r.target === target) for (const t of r.events) if (!out.includes(t)) out.push(t);
  return out as RoutedDetailType<S>[];
}

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
  {
    id: 'alert-sla-missed',
    description: 'a run crossed a service-level line of its definition (finish_by, start_by, max_duration)',
    pattern: { source: [EVENT_SOURCE], 'detail-type': ['SlaMissed'] },
  },
  {
    id: 'alert-run-longer-than-usual',
    description: 'a run is still active past 1.5 x the 90th percentile of its last 20 Completed runs',
    pattern: { source: [EVENT_SOURCE], 'detail-type': ['RunLongerThanUsual'] },
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

/**
 * Checks the table itself: valid patterns, unique ids, only known detail-types, and each service
 * route's `detail-type` filter exactly its `events`. Run by tests and at synth.
 */
export function checkRoutingTable(
  services: readonly ServiceRoute[] = SERVICE_ROUTES,
  alerts: readonly AlertRoute[] = ALERT_ROUTES,
): void {
  const ids = new Set<string>();
  for (const r of [...services, ...alerts]) {
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
  for (const r of services) {
    const types = r.pattern['detail-type'];
    if (r.events.length === 0 || JSON.stringify(types) !== JSON.stringify(r.events))
      throw new Error(
        `routing table: ${r.id} matches detail-types ${JSON.stringify(types)} but declares events ${JSON.stringify(r.events)}`,
      );
  }
}
