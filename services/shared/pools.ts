/**
 * Resource pools at run time (issue 14, plan §4): what the planner (on PoolSlotFreed /
 * PoolResized) and the dispatcher (the lost-wake race, a slot it gives back) both do to start
 * waiting jobs. No polling anywhere: a slot that frees wakes the oldest waiters through the
 * choreography.
 */

import type { JobAuditRecord } from '../../contracts/audit.js';
import { EVENT_VERSION, eventIds, type RsqloEvent } from '../../contracts/events.js';
import { jobRunName } from '../../contracts/jobs.js';
import type {
  Clock,
  EventPublisher,
  JobRepository,
  Logger,
  PoolHolder,
  PoolRepository,
  RunRepository,
} from '../ports.js';
import { jobMessageOf } from './job-message.js';

export interface WakePoolDeps {
  pools: PoolRepository;
  jobs: JobRepository;
  runs: RunRepository;
  clock: Clock;
  log: Logger;
}

/** What one wake pass did. */
export interface WakeResult {
  pool: string;
  /** Waiters moved to the holders (each with its job's message). */
  granted: string[];
  /** Waiters whose job no longer waits (cancelled, bypassed, moved on): taken out of the queue. */
  dropped: string[];
}

/** `waiting_for` of a job that waits for a slot of `pool`. */
export function poolWait(pool: string): `pool:${string}` {
  return `pool:${pool}`;
}

/** The waiter/holder entry of one job attempt: per attempt, so a slot is released once per attempt. */
export function poolHolder(
  job: { workflow_execution_id: string; job_key: string; attempt: number },
  since: string,
): PoolHolder {
  return {
    holder: jobRunName(job.workflow_execution_id, job.job_key, job.attempt),
    workflowExecutionId: job.workflow_execution_id,
    jobKey: job.job_key,
    attempt: job.attempt,
    since,
  };
}

/** The PoolSlotFreed of one attempt: the same event (same id) however often it is derived. */
export function poolSlotFreedEvent(
  job: { workflow_id: string; workflow_execution_id: string; job_key: string; attempt: number },
  pool: string,
  at: string,
): RsqloEvent {
  return {
    detailType: 'PoolSlotFreed',
    detail: {
      version: EVENT_VERSION,
      event_id: eventIds.poolSlotFreed(pool, jobRunName(job.workflow_execution_id, job.job_key, job.attempt)),
      occurred_at: at,
      workflow_id: job.workflow_id,
      workflow_execution_id: job.workflow_execution_id,
      pool,
      job_key: job.job_key,
      attempt: job.attempt,
    },
  };
}

/**
 * Wakes as many of `pool`'s waiters as it has free slots: the oldest first, in (since, holder)
 * order, which is request order across every workflow. Each grant moves the waiter to the holders,
 * clears its job's `waiting_for` and sends the job's message, atomically; the dispatcher then finds
 * itself a holder and starts it. A waiter whose job no longer waits (`gone`) is dequeued and the
 * next one is tried; `no-slot` means someone else took the slot meanwhile, so the pass ends.
 * Level-triggered: running it twice, or for a pool with nothing to do, changes nothing.
 */
export async function wakePool(deps: WakePoolDeps, pool: string): Promise<WakeResult> {
  const { pools, jobs, log } = deps;
  const result: WakeResult = { pool, granted: [], dropped: [] };
  const state = await pools.get(pool);
  if (!state || state.waiters.length === 0) return result;
  let free = state.slots - state.holders.length;
  for (const w of state.waiters) {
    if (free <= 0) break;
    const job = await jobs.getJob(w.workflowExecutionId, w.jobKey);
    if (!job || job.attempt !== w.attempt || job.waiting_for !== poolWait(pool)) {
      // The job moved on (cancelled, bypassed, another attempt): it will never claim this place.
      if (await pools.dequeue(pool, w.holder)) result.dropped.push(w.holder);
      continue;
    }
    const outcome = await pools.grant(
      pool,
      w,
      {
        workflowExecutionId: job.workflow_execution_id,
        jobKey: job.job_key,
        expect: { attempt: job.attempt, statuses: ['Queued'] },
        set: { waiting_for: null },
      },
      {
        messages: [{ body: jobMessageOf(job) }],
      },
    );
    if (outcome === 'granted') {
      result.granted.push(w.holder);
      free--;
    } else if (outcome === 'gone') {
      if (await pools.dequeue(pool, w.holder)) result.dropped.push(w.holder);
    } else {
      break;
    }
  }
  if (result.granted.length > 0 || result.dropped.length > 0)
    log.info('pool woken', { pool, granted: result.granted, dropped: result.dropped });
  return result;
}

/**
 * A final attempt gives its pool slot back (the aggregator, on the job's final status), exactly
 * once per attempt: the holder is the attempt's jobRunName, so a duplicate or reordered record
 * finds it released already, and a late record of attempt n never touches attempt n+1's holder.
 * The release and its PoolSlotFreed (the wake of the oldest waiters) commit together. `not-held`
 * on a job that ran is a redelivery: the event is re-derived in case the first delivery crashed
 * between its write and its publish (AWS; a spurious wake is harmless). A job that never got a
 * slot leaves the queue instead (it ended while waiting) or does nothing (it ended before it asked).
 */
export async function releasePoolSlot(
  deps: { pools: PoolRepository; events: EventPublisher; clock: Clock; log: Logger },
  job: JobAuditRecord,
  pool: string,
): Promise<'released' | 'dequeued' | 'not-held'> {
  const { pools, events, clock, log } = deps;
  const holder = jobRunName(job.workflow_execution_id, job.job_key, job.attempt);
  if (job.waiting_for) {
    // Waiting (for a slot or a free) when it ended: a grant clears waiting_for in the same write
    // as it adds the holder, so it holds nothing.
    const left = await pools.dequeue(pool, holder);
    if (left) log.info('waiting job left its pool queue', { pool, holder });
    return left ? 'dequeued' : 'not-held';
  }
  const freed = poolSlotFreedEvent(job, pool, clock.now().toISOString());
  if ((await pools.release(pool, holder, { events: [freed] })) === 'released') {
    log.info('pool slot freed', { pool, holder });
    return 'released';
  }
  // Ended before it was ever dispatched (cancelled while Queued): it never held a slot, and no
  // PoolSlotFreed of it was ever published. Anything that ran held one (taken before the wrapper).
  const ran =
    job.execution_status !== 'Cancelled' || job.instance_id !== null || job.execution_start_ts !== null;
  if (ran) await events.ensurePublished([freed]);
  return 'not-held';
}
