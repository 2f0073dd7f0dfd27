/**
 * The starter's part of resource pools (issue 14, plan §4): a run's pools exist before the run
 * does (created with the size its definition gives, else 1 slot, and said so once), and
 * `rsqlo pool set NAME N` (PoolResizeRequested) resizes one. Spread into the starter service.
 */
import type { JobAuditRecord } from '../../contracts/audit.js';
import {
  EVENT_VERSION,
  eventIds,
  type PoolResizeRequested,
  type RsqloEvent,
} from '../../contracts/events.js';
import type { PoolCreatedRecord } from '../../contracts/operator.js';
import type { WorkflowDefinition } from '../../contracts/workflow.js';
import type { Clock, JobRepository, Logger, PoolRepository, RunRepository } from '../ports.js';
import { wakePool } from '../shared/pools.js';

export interface StarterPoolDeps {
  pools: PoolRepository;
  runs: RunRepository;
  jobs: JobRepository;
  clock: Clock;
  log: Logger;
}

/** What a PoolResizeRequested did: applied, a duplicate (`same`) or older than the last applied (`stale`). */
export interface PoolResizeResult {
  outcome: 'applied' | 'same' | 'stale';
  pool: string;
  slots: number;
  previous_slots: number | null;
}

function poolCreatedEvent(
  pool: string,
  slots: number,
  source: PoolCreatedRecord['source'],
  run: { workflow_id: string; workflow_execution_id: string } | null,
  at: string,
): RsqloEvent {
  return {
    detailType: 'PoolCreated',
    detail: {
      version: EVENT_VERSION,
      event_id: eventIds.poolCreated(pool),
      occurred_at: at,
      pool,
      slots,
      source,
      workflow_id: run?.workflow_id ?? null,
      workflow_execution_id: run?.workflow_execution_id ?? null,
    },
  };
}

export function createStarterPools(deps: StarterPoolDeps) {
  const { pools, clock, log } = deps;

  return {
    /**
     * Makes sure every pool the run's jobs name exists, before the run is written (so a job never
     * finds its pool missing): a pool that does not exist yet is created with the definition's
     * `pools[NAME]` (the rows' `pool_slots_default`), else 1 slot, and announced (PoolCreated,
     * once per pool however many runs race to create it). Returns the pools this run created, for
     * the run's `pools_created` (the CLI says "pool wlm created with 2 slots" once). A run without
     * pools makes no call.
     */
    async ensureRunPools(
      definition: Pick<WorkflowDefinition, 'workflow_id' | 'pools'>,
      workflowExecutionId: string,
      jobs: readonly JobAuditRecord[],
      at: string,
    ): Promise<PoolCreatedRecord[]> {
      const wanted = new Map<string, number>();
      for (const j of jobs) {
        if (!j.pool || j.execution_status !== 'Pending' || wanted.has(j.pool)) continue;
        wanted.set(j.pool, j.pool_slots_default ?? definition.pools?.[j.pool] ?? 1);
      }
      const created: PoolCreatedRecord[] = [];
      const run = { workflow_id: definition.workflow_id, workflow_execution_id: workflowExecutionId };
      for (const [pool, slots] of [...wanted].sort(([a], [b]) => (a < b ? -1 : 1))) {
        const source = definition.pools?.[pool] !== undefined ? 'definition' : 'default';
        const outcome = await pools.ensure(
          pool,
          slots,
          { source, created_by: `workflow:${definition.workflow_id}` },
          { events: [poolCreatedEvent(pool, slots, source, run, at)] },
        );
        if (outcome === 'created') {
          created.push({ pool, slots, source });
          log.info('pool created', { pool, slots, source, workflow_id: definition.workflow_id });
        }
      }
      return created;
    },

    /**
     * `rsqlo pool set NAME N`: sets the pool's size (creating it if absent) when this request is
     * newer than the last one applied (requested_at, then request id), so a reordered older request
     * never undoes a newer one, and answers with PoolResized (id `PoolResized:<pool>:<request_id>`,
     * which wakes the pool's waiters through the planner). 0 drains: running jobs keep their slots
     * until they end, nothing new starts. A duplicate (`same`) runs the wake pass itself: the
     * first delivery may have crashed between its write and its publish (AWS), and its
     * `previous_slots` can no longer be derived, so the wake, not the event, is repaired.
     */
    async handlePoolResizeRequested(req: PoolResizeRequested, eventId: string): Promise<PoolResizeResult> {
      const requestId = req.event_id ?? eventId;
      const at = clock.now().toISOString();
      const before = await pools.get(req.pool);
      const previous = before?.slots ?? null;
      const events: RsqloEvent[] = [];
      if (!before) events.push(poolCreatedEvent(req.pool, req.slots, 'operator', null, at));
      events.push({
        detailType: 'PoolResized',
        detail: {
          version: EVENT_VERSION,
          event_id: eventIds.poolResized(req.pool, requestId),
          occurred_at: at,
          pool: req.pool,
          slots: req.slots,
          previous_slots: previous,
          reason: req.reason ?? null,
          requested_by: req.requested_by,
          requested_at: req.occurred_at,
        },
      });
      const outcome = await pools.resize(
        req.pool,
        req.slots,
        { requested_at: req.occurred_at, request_id: requestId, created_by: `operator:${req.requested_by}` },
        { events },
      );
      if (outcome === 'applied') {
        log.info('pool resized', { pool: req.pool, slots: req.slots, previous_slots: previous });
      } else if (outcome === 'same') {
        await wakePool(deps, req.pool);
      } else {
        log.info('pool resize ignored: a newer one was applied already', {
          pool: req.pool,
          slots: req.slots,
          requested_at: req.occurred_at,
          request_id: requestId,
        });
      }
      return { outcome, pool: req.pool, slots: req.slots, previous_slots: previous };
    },
  };
}
