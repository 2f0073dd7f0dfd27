import { describe, expect, it, vi } from 'vitest';
import { DETAIL_TYPES, EVENT_SOURCE } from '../../contracts/events.js';
import { type ParsedEnvelope, parseEnvelope } from '../../events/envelope.js';
import {
  BUS_SERVICES,
  checkRoutingTable,
  routedDetailTypes,
  routeEvent,
  SERVICE_ROUTES,
  type ServiceRoute,
} from '../../events/routing.js';
import { NonRetriableError } from '../errors.js';
import { createSimulation } from '../testing/in-memory.js';
import { sampleEvents } from '../testing/samples.js';
import { type AnyDispatchMap, type BusServices, DISPATCH, deliverEvent, dispatch } from './dispatch.js';

/** Services whose every method records its name and resolves to it: which method a subscriber calls. */
function recordingServices(): { services: BusServices; calls: string[] } {
  const calls: string[] = [];
  const service = (name: string) =>
    new Proxy(
      {},
      {
        get:
          (_t, method) =>
          (..._args: unknown[]) => {
            calls.push(`${name}.${String(method)}`);
            return Promise.resolve(`${name}.${String(method)}`);
          },
      },
    );
  const services = Object.fromEntries(BUS_SERVICES.map((s) => [s, service(s)])) as unknown as BusServices;
  return { services, calls };
}

/** A valid envelope of each detail-type (services/testing/samples.ts). */
async function sampleEnvelopes(): Promise<Map<string, ParsedEnvelope>> {
  const out = new Map<string, ParsedEnvelope>();
  for (const [type, e] of await sampleEvents())
    out.set(
      type,
      parseEnvelope({ id: `e-${type}`, source: EVENT_SOURCE, 'detail-type': type, detail: e.detail }),
    );
  return out;
}

describe('the dispatch map', () => {
  it('has one subscriber per (service, detail-type) the routing table delivers, and no other', () => {
    const routed = SERVICE_ROUTES.flatMap((r) => r.events.map((t) => `${r.target} ${t}`)).sort();
    const mapped = Object.entries(DISPATCH)
      .flatMap(([s, byType]) => Object.keys(byType).map((t) => `${s} ${t}`))
      .sort();
    expect(mapped).toEqual(routed);
    expect(Object.keys(DISPATCH).sort()).toEqual([...BUS_SERVICES].sort());
  });

  it('calls exactly one method of its service per detail-type, one the real service has', async () => {
    // The table ARCHITECTURE.md shows: if it changes, the document changes with it.
    const samples = await sampleEnvelopes();
    const seen: string[] = [];
    for (const route of SERVICE_ROUTES) {
      for (const type of route.events) {
        const { services, calls } = recordingServices();
        const env = samples.get(type);
        if (!env) throw new Error(`no sample ${type}`);
        await deliverEvent(services, route.target, env);
        expect(calls).toHaveLength(1);
        seen.push(`${type} → ${calls[0]}`);
      }
    }
    expect(seen).toEqual([
      'WorkflowRequested → starter.handleRequested',
      'WorkflowCancelRequested → starter.handleCancelRequested',
      'JobSetOkRequested → starter.handleSetOkRequested',
      'JobRerunRequested → starter.handleRerunRequested',
      'JobBypassRequested → starter.handleBypassRequested',
      'HoldRequested → starter.handleHoldRequested',
      'FreeRequested → starter.handleFreeRequested',
      'StageReady → planner.handleStageReady',
      'RunFreed → planner.handleRunFreed',
      'PoolSlotFreed → planner.handlePoolWake',
      'PoolResized → planner.handlePoolWake',
      'PoolResizeRequested → starter.handlePoolResizeRequested',
      'JobStarted → recorder.handleJobStarted',
      'JobFinished → recorder.handleJobFinished',
      'WorkflowFinished → trigger.handleFinished',
    ]);
    // Each of those is a method of the real service (the simulation composes the real ones).
    const real = createSimulation().services;
    for (const entry of seen) {
      const [service, method] = (entry.split(' → ')[1] as string).split('.') as [keyof BusServices, string];
      expect(typeof (real[service] as unknown as Record<string, unknown>)[method], entry).toBe('function');
    }
  });

  it('delivers each routed copy to its target: a second subscriber to an event runs its own method', async () => {
    // What adding a subscriber means: a route in events/routing.ts and its method in the map. Before
    // the map, delivery chose the method by detail-type alone, so the second copy re-ran the planner.
    const samples = await sampleEnvelopes();
    const stageReady = samples.get('StageReady') as ParsedEnvelope;
    const routes: ServiceRoute[] = [
      ...SERVICE_ROUTES,
      {
        id: 'recorder-stage-ready',
        target: 'recorder',
        events: ['StageReady'],
        description: 'test: a second subscriber to StageReady',
        pattern: { source: [EVENT_SOURCE], 'detail-type': ['StageReady'] },
      },
    ];
    expect(() => checkRoutingTable(routes, [])).not.toThrow();
    const onStageReady = vi.fn(() => Promise.resolve());
    const map: AnyDispatchMap = { ...DISPATCH, recorder: { ...DISPATCH.recorder, StageReady: onStageReady } };
    const { services, calls } = recordingServices();
    const envelope = {
      version: '0',
      id: stageReady.id,
      'detail-type': 'StageReady',
      source: EVENT_SOURCE,
      detail: stageReady.detail,
    };
    const targets = routeEvent(envelope, routes);
    expect(targets).toEqual(['planner', 'recorder']);
    for (const target of targets) await deliverEvent(services, target, stageReady, map);
    expect(calls).toEqual(['planner.handleStageReady']);
    expect(onStageReady).toHaveBeenCalledTimes(1);
    const [service, env] = onStageReady.mock.calls[0] as unknown as [unknown, unknown];
    expect(service).toBe(services.recorder);
    expect(env).toBe(stageReady);
  });

  it('refuses a target the map does not pair with the detail-type, for good', async () => {
    const samples = await sampleEnvelopes();
    const { services, calls } = recordingServices();
    const stageReady = samples.get('StageReady') as ParsedEnvelope;
    for (const target of ['recorder', 'starter', 'aggregator', 'toString', '__proto__', 'constructor']) {
      const p = deliverEvent(services, target, stageReady);
      await expect(p).rejects.toThrow(NonRetriableError);
      await expect(p).rejects.toThrow(`no route delivers StageReady to ${target}`);
    }
    await expect(
      deliverEvent(services, 'planner', { ...stageReady, detailType: 'hasOwnProperty' } as never),
    ).rejects.toThrow(NonRetriableError);
    // The typed form says the same for an event its service is not routed.
    await expect(dispatch('planner', services.planner, samples.get('JobStarted') as never)).rejects.toThrow(
      'no route delivers JobStarted to planner',
    );
    expect(calls).toEqual([]);
  });

  it('gives each bus service the detail-types of its routes, all of them known', () => {
    expect(routedDetailTypes('starter')).toEqual([
      'WorkflowRequested',
      'WorkflowCancelRequested',
      'JobSetOkRequested',
      'JobRerunRequested',
      'JobBypassRequested',
      'HoldRequested',
      'FreeRequested',
      'PoolResizeRequested',
    ]);
    expect(routedDetailTypes('planner')).toEqual(['StageReady', 'RunFreed', 'PoolSlotFreed', 'PoolResized']);
    expect(routedDetailTypes('recorder')).toEqual(['JobStarted', 'JobFinished']);
    expect(routedDetailTypes('trigger')).toEqual(['WorkflowFinished']);
    const routedAnywhere = BUS_SERVICES.flatMap((s) => routedDetailTypes(s));
    expect(routedAnywhere.every((t) => DETAIL_TYPES.includes(t))).toBe(true);
  });
});

describe('checkRoutingTable', () => {
  it('accepts the table, and refuses a service route whose filter is not its declared events', () => {
    expect(() => checkRoutingTable()).not.toThrow();
    const bad: ServiceRoute = {
      id: 'planner-bad',
      target: 'planner',
      events: ['StageReady'],
      description: 'test',
      pattern: { source: [EVENT_SOURCE], 'detail-type': ['StageReady', 'JobStarted'] },
    };
    expect(() => checkRoutingTable([bad], [])).toThrow(
      'routing table: planner-bad matches detail-types ["StageReady","JobStarted"] but declares events ["StageReady"]',
    );
    expect(() =>
      checkRoutingTable([{ ...bad, events: [], pattern: { source: [EVENT_SOURCE] } }], []),
    ).toThrow(/planner-bad/);
  });
});
