/**
 * The dispatch map: for every (service, detail-type) the routing table (events/routing.ts
 * SERVICE_ROUTES) delivers, the one method of that service that takes it. It is the in-process
 * counterpart of the EventBridge rules that invoke each service's Lambda entry, and the only place
 * the method is chosen: the local engine and the in-memory simulation deliver each routed copy
 * with {@link deliverEvent} to the target the table computed, and every bus Lambda entry accepts
 * `routedDetailTypes(<its service>)` and calls {@link dispatch}.
 *
 * Its type is derived from the routing table: a route whose target has no method here for one of
 * its detail-types, an entry no route delivers, or a call to a method the service lacks, is a
 * compile error (services/shared/dispatch.test.ts checks the same at run time).
 */
import type { DetailType } from '../../contracts/events.js';
import type { ParsedEnvelope } from '../../events/envelope.js';
import type { BusService, RoutedDetailType } from '../../events/routing.js';
import { NonRetriableError } from '../errors.js';
import type { PlannerService } from '../planner/service.js';
import type { RecorderService } from '../recorder/service.js';
import type { StarterService } from '../starter/service.js';
import type { TriggerService } from '../trigger/service.js';

/** The services that consume bus events (the dispatcher reads the queue, the aggregator the change feed). */
export interface BusServices {
  starter: StarterService;
  planner: PlannerService;
  recorder: RecorderService;
  trigger: TriggerService;
}

/** A parsed envelope of detail-type `T`. */
export type EnvelopeOf<T extends DetailType> = Extract<ParsedEnvelope, { detailType: T }>;

/** How service `S` takes events of detail-type `T`: the call to its method. */
export type Subscriber<S extends BusService, T extends DetailType> = (
  service: BusServices[S],
  env: EnvelopeOf<T>,
) => Promise<unknown>;

/** Exactly one subscriber per (target, detail-type) of the routing table, and no other. */
export type DispatchMap = {
  readonly [S in BusService]: { readonly [T in RoutedDetailType<S>]: Subscriber<S, T> };
};

/** Who handles what: see the module comment. A new route needs its entry here (the compiler says so). */
export const DISPATCH = {
  starter: {
    WorkflowRequested: (starter, env) => starter.handleRequested(env.detail, env.id, env.time),
    WorkflowCancelRequested: (starter, env) => starter.handleCancelRequested(env.detail),
    JobSetOkRequested: (starter, env) => starter.handleSetOkRequested(env.detail, env.id),
    JobRerunRequested: (starter, env) => starter.handleRerunRequested(env.detail, env.id),
    JobBypassRequested: (starter, env) => starter.handleBypassRequested(env.detail, env.id),
    HoldRequested: (starter, env) => starter.handleHoldRequested(env.detail, env.id),
    FreeRequested: (starter, env) => starter.handleFreeRequested(env.detail, env.id),
    PoolResizeRequested: (starter, env) => starter.handlePoolResizeRequested(env.detail, env.id),
  },
  planner: {
    StageReady: (planner, env) => planner.handleStageReady(env.detail),
    RunFreed: (planner, env) => planner.handleRunFreed(env.detail),
    PoolSlotFreed: (planner, env) => planner.handlePoolWake(env.detail.pool),
    PoolResized: (planner, env) => planner.handlePoolWake(env.detail.pool),
  },
  recorder: {
    JobStarted: (recorder, env) => recorder.handleJobStarted(env.detail),
    JobFinished: (recorder, env) => recorder.handleJobFinished(env.detail),
  },
  trigger: {
    WorkflowFinished: (trigger, env) => trigger.handleFinished(env.detail),
  },
} as const satisfies DispatchMap;

/** What the subscriber of `S` for `T` resolves to (per member of a union `T`). */
export type DispatchResult<S extends BusService, T extends DetailType> = T extends keyof (typeof DISPATCH)[S]
  ? (typeof DISPATCH)[S][T] extends (...args: never[]) => Promise<infer R>
    ? R
    : never
  : never;

/** A dispatch map seen untyped: what a runtime looks a delivery up in. */
export type AnyDispatchMap = Readonly<
  Record<string, Readonly<Record<string, (service: never, env: never) => Promise<unknown>>>>
>;

function subscriberOf(
  map: AnyDispatchMap,
  target: string,
  detailType: string,
): ((service: unknown, env: unknown) => Promise<unknown>) | undefined {
  const byType = Object.hasOwn(map, target) ? map[target] : undefined;
  const sub = byType && Object.hasOwn(byType, detailType) ? byType[detailType] : undefined;
  return sub as ((service: unknown, env: unknown) => Promise<unknown>) | undefined;
}

/**
 * Hands one routed copy of a bus event to `target`'s method for its detail-type (the local engine's
 * outbox row and the simulation's delivery say which target the routing table chose). A target or
 * detail-type the map does not pair is a NonRetriableError: it can never be handled.
 * `map` is for tests that add a subscriber; the default is {@link DISPATCH}.
 */
export async function deliverEvent(
  services: BusServices,
  target: string,
  env: ParsedEnvelope,
  map: AnyDispatchMap = DISPATCH,
): Promise<unknown> {
  const sub = subscriberOf(map, target, env.detailType);
  if (!sub) throw new NonRetriableError(`no route delivers ${env.detailType} to ${target}`);
  return sub((services as unknown as Record<string, unknown>)[target], env);
}

/**
 * The typed form for a Lambda entry holding one service: `service`'s method for `env`, with that
 * method's result. `env` comes from `readBusEvent(event, routedDetailTypes(target))`.
 */
export function dispatch<S extends BusService, T extends RoutedDetailType<S>>(
  target: S,
  service: BusServices[S],
  env: ParsedEnvelope & { detailType: T },
): Promise<DispatchResult<S, T>> {
  const sub = subscriberOf(DISPATCH, target, env.detailType);
  if (!sub) return Promise.reject(new NonRetriableError(`no route delivers ${env.detailType} to ${target}`));
  return sub(service, env) as Promise<DispatchResult<S, T>>;
}
