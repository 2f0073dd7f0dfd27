/**
 * The in-memory PoolRepository (issue 14, plan §3 and §4): resource pools shared by every workflow
 * of the store. Each method is one synchronous step of the store (`InMemoryStore.mutate`), so its
 * effects are committed with its write and faults can be injected into it, as for every other store
 * method. Same semantics as the SQLite store and the DynamoDB `pool:<NAME>` items; the port contract
 * suite (operator-ports-contract.ts) states them for all three.
 */
import type { JobAuditRecord } from '../../contracts/audit.js';
import { newerRequest } from '../../contracts/operator.js';
import type { Effects, PoolHolder, PoolRepository, PoolState } from '../ports.js';

/** Store methods of this port (fault injection names them like the store's own). */
export type PoolStoreMethod =
  | 'ensurePool'
  | 'resizePool'
  | 'acquirePool'
  | 'enqueuePool'
  | 'grantPool'
  | 'releasePool'
  | 'dequeuePool';

/**
 * What the pool port needs of the store's private state: one-step mutations, the job rows (live:
 * read here, written through `writeJob`), the effects of the step and the pools themselves. Kept
 * small so the store's tables stay private to it.
 */
export interface PoolStoreInternals {
  mutate<T>(method: PoolStoreMethod, fn: () => T): Promise<T>;
  count(method: string): void;
  job(exec: string, key: string): JobAuditRecord | undefined;
  writeJob(job: JobAuditRecord): void;
  applyEffects(effects: Effects | undefined): void;
  /** Pools by name (the store owns the map). */
  readonly pools: Map<string, PoolState>;
}

const clone = <T>(v: T): T => structuredClone(v);

/** Waiters in the order they are served: (since, holder), across every workflow. */
function byRequestOrder(a: PoolHolder, b: PoolHolder): number {
  const t = Date.parse(a.since) - Date.parse(b.since);
  if (t !== 0) return t;
  return a.holder < b.holder ? -1 : a.holder > b.holder ? 1 : 0;
}

function snapshot(p: PoolState): PoolState {
  const out = clone(p);
  out.waiters.sort(byRequestOrder);
  return out;
}

/** The pool port over the in-memory store. */
export function inMemoryPools(s: PoolStoreInternals): PoolRepository {
  return {
    get: async (name) => {
      s.count('pools.get');
      const p = s.pools.get(name);
      return p ? snapshot(p) : undefined;
    },

    list: async () => {
      s.count('pools.list');
      return [...s.pools.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map(snapshot);
    },

    ensure: (name, slots, origin, effects) =>
      s.mutate('ensurePool', () => {
        if (s.pools.has(name)) return 'exists' as const;
        s.pools.set(name, {
          name,
          slots,
          holders: [],
          waiters: [],
          created_by: origin.created_by,
          last_change: null,
        });
        s.applyEffects(effects);
        return 'created' as const;
      }),

    resize: (name, slots, change, effects) =>
      s.mutate('resizePool', () => {
        const last = { requested_at: change.requested_at, request_id: change.request_id };
        const p = s.pools.get(name);
        if (!p) {
          s.pools.set(name, {
            name,
            slots,
            holders: [],
            waiters: [],
            created_by: change.created_by,
            last_change: last,
          });
          s.applyEffects(effects);
          return 'applied' as const;
        }
        if (p.last_change) {
          if (p.last_change.request_id === change.request_id) return 'same' as const;
          if (!newerRequest(last, p.last_change)) return 'stale' as const;
        }
        // Shrinking below the slots in use keeps the holders: they give their slots back as they end.
        p.slots = slots;
        p.last_change = last;
        s.applyEffects(effects);
        return 'applied' as const;
      }),

    acquire: (name, holder) =>
      s.mutate('acquirePool', () => {
        const p = s.pools.get(name);
        if (!p) return 'missing' as const;
        if (p.holders.includes(holder.holder)) return 'acquired' as const;
        // No queue jumping: while anyone waits, a newcomer waits behind them.
        if (p.waiters.length > 0 || p.holders.length >= p.slots) return 'full' as const;
        p.holders.push(holder.holder);
        return 'acquired' as const;
      }),

    enqueue: (name, holder) =>
      s.mutate('enqueuePool', () => {
        const p = s.pools.get(name);
        // No pool (deleted meanwhile): nothing to wait for; the caller asks again (and creates it).
        if (!p) return { queued: false, free: 0, waiting: 0 };
        let queued = false;
        if (!p.holders.includes(holder.holder)) {
          // Idempotent: a second enqueue keeps the first place (its `since`).
          if (!p.waiters.some((w) => w.holder === holder.holder)) p.waiters.push(clone(holder));
          queued = true;
        }
        return { queued, free: Math.max(0, p.slots - p.holders.length), waiting: p.waiters.length };
      }),

    grant: (name, holder, t, effects) =>
      s.mutate('grantPool', () => {
        const p = s.pools.get(name);
        const i = p ? p.waiters.findIndex((w) => w.holder === holder.holder) : -1;
        if (!p || i < 0) return 'gone' as const;
        const job = s.job(t.workflowExecutionId, t.jobKey);
        if (
          !job ||
          job.attempt !== t.expect.attempt ||
          !t.expect.statuses.includes(job.execution_status) ||
          (t.expect.instanceId !== undefined && job.instance_id !== t.expect.instanceId) ||
          job.waiting_for !== `pool:${name}`
        )
          return 'gone' as const;
        if (p.holders.length >= p.slots) return 'no-slot' as const;
        p.waiters.splice(i, 1);
        p.holders.push(holder.holder);
        s.writeJob({ ...clone(job), ...clone(t.set) } as JobAuditRecord);
        s.applyEffects(effects);
        return 'granted' as const;
      }),

    release: (name, holder, effects) =>
      s.mutate('releasePool', () => {
        const p = s.pools.get(name);
        const i = p ? p.holders.indexOf(holder) : -1;
        if (!p || i < 0) return 'not-held' as const;
        p.holders.splice(i, 1);
        s.applyEffects(effects);
        return 'released' as const;
      }),

    dequeue: (name, holder) =>
      s.mutate('dequeuePool', () => {
        const p = s.pools.get(name);
        const i = p ? p.waiters.findIndex((w) => w.holder === holder) : -1;
        if (!p || i < 0) return false;
        p.waiters.splice(i, 1);
        return true;
      }),
  };
}
