import type { JobAuditRecord } from '../../contracts/audit.js';
import type { RunFreed, StageReady } from '../../contracts/events.js';
import { EVENT_VERSION } from '../../contracts/events.js';
import type {
  Clock,
  JobRepository,
  Logger,
  OutgoingMessage,
  PoolRepository,
  RunRepository,
} from '../ports.js';
import { jobMessageOf } from '../shared/job-message.js';
import { type WakeResult, wakePool } from '../shared/pools.js';
import { inFlight, stageOutcome, stageReadyEvent } from '../shared/progress.js';

export interface PlannerDeps {
  runs: RunRepository;
  jobs: JobRepository;
  /** Resource pools (issue 14): PoolSlotFreed / PoolResized wake their waiters here. */
  pools: PoolRepository;
  clock: Clock;
  log: Logger;
  /** How many times to re-read and retry when another planner moved the stage meanwhile (default 5). */
  maxConflicts?: number;
}

export type PlanResult = { queued: string[]; reason?: string };

/** Jobs read per page while looking for the next Pending ones (pre-skipped jobs are passed over). */
const PAGE = 100;
/**
 * Most jobs one claim queues. A claim is one transaction (DynamoDB allows 100 items in one), so a
 * wide stage is claimed in steps, each announcing the next with a StageReady of its own.
 */
export const MAX_CLAIM = 50;

/**
 * On StageReady: choose the runnable jobs of the stage and queue them. Sequential stages run the
 * next Pending job when none is in flight; parallel ones fill up to max_concurrency; nothing starts
 * after the stage failed or the run was cancelled. Level-triggered: StageReady only says "look
 * again", so duplicates and stale events are harmless, and the work is O(jobs queued).
 */
export function createPlannerService(deps: PlannerDeps) {
  const { runs, jobs, clock, log } = deps;
  const maxConflicts = deps.maxConflicts ?? 5;

  const planner = {
    async handleStageReady(ev: StageReady): Promise<PlanResult> {
      for (let round = 0; round <= maxConflicts; round++) {
        const run = await runs.getRun(ev.workflow_execution_id);
        if (!run) {
          log.warn('StageReady for an unknown run', { workflow_execution_id: ev.workflow_execution_id });
          return { queued: [], reason: 'unknown run' };
        }
        if (run.execution_status !== 'Running')
          return { queued: [], reason: `run is ${run.execution_status}` };
        // A held run starts no new job until freed (claimJobs refuses it too, atomically).
        if (run.hold_state?.held) {
          log.info('run is held: nothing planned', { workflow_execution_id: run.workflow_execution_id });
          return { queued: [], reason: 'run is held' };
        }
        const st = run.stages[ev.stage - 1];
        if (!st) return { queued: [], reason: `no stage ${ev.stage}` };
        if (st.status !== 'Running') return { queued: [], reason: `stage is ${st.status}` };
        const outcome = stageOutcome(st, run.cancel_requested);
        if (outcome.done || !outcome.canLaunch) return { queued: [], reason: 'nothing may start' };
        const limit =
          st.execution_type === 'sequential' ? 1 : (st.max_concurrency ?? Number.POSITIVE_INFINITY);
        const slots = limit - inFlight(st);
        if (slots <= 0) return { queued: [], reason: 'no free slot' };
        const free = Math.min(slots, MAX_CLAIM);

        const take: JobAuditRecord[] = [];
        let cursor = st.cursor;
        let after = st.cursor;
        scan: while (take.length < free && after < st.total) {
          // Exactly the rows still wanted: each row read through the keys-only index is billed as
          // a full read, and a Skipped row met on the way only costs another page.
          const want = Math.min(PAGE, free - take.length);
          const page = await jobs.listStageJobs(run.workflow_execution_id, ev.stage, after, want);
          if (page.length === 0) break;
          for (const job of page) {
            after = job.job_no;
            if (job.execution_status === 'Pending' && job.attempt === 1) {
              if (take.length >= free) break scan;
              take.push(job);
              cursor = job.job_no;
            } else if (job.execution_status === 'Skipped' && take.length < free) {
              // Skipped from the start: pass over it without using a slot.
              cursor = job.job_no;
            } else {
              break scan;
            }
          }
        }
        if (cursor === st.cursor) return { queued: [], reason: 'no runnable job' };
        const at = clock.now().toISOString();
        const messages: OutgoingMessage[] = take.map((j) => ({
          body: {
            version: EVENT_VERSION,
            workflow_id: j.workflow_id,
            workflow_execution_id: j.workflow_execution_id,
            job_key: j.job_key,
            attempt: j.attempt,
          },
        }));
        // Capped by MAX_CLAIM with slots and jobs left: look again right after this claim.
        const more = take.length === MAX_CLAIM && slots > MAX_CLAIM && cursor < st.total;
        const claimed = await runs.claimJobs(
          {
            workflowExecutionId: run.workflow_execution_id,
            stage: ev.stage,
            expectedCursor: st.cursor,
            newCursor: cursor,
            jobs: take.map((j) => ({ jobKey: j.job_key, attempt: j.attempt })),
            at,
            run,
          },
          { messages, events: more ? [stageReadyEvent(run, ev.stage, `claimed-${cursor}`, at)] : [] },
        );
        if (claimed === 'claimed') return { queued: take.map((j) => j.job_key) };
        log.info('stage moved meanwhile; planning again', {
          workflow_execution_id: run.workflow_execution_id,
          stage: ev.stage,
        });
      }
      return { queued: [], reason: 'gave up after repeated conflicts' };
    },

    /**
     * RunFreed: the run's hold ended. Wakes the jobs the dispatcher parked while it was held
     * (`Queued`, `waiting_for: 'hold'`: cleared, with their message again) and plans the current
     * stage as a StageReady would. A workflow-scope RunFreed (no run) does nothing here: each run
     * that workflow held gets its own. O(cursor), once per free.
     */
    async handleRunFreed(ev: RunFreed): Promise<PlanResult & { woken: string[] }> {
      const exec = ev.workflow_execution_id;
      if (exec === null)
        return { queued: [], woken: [], reason: 'workflow scope: its runs are freed one by one' };
      const run = await runs.getRun(exec);
      if (!run) {
        log.warn('RunFreed for an unknown run', { workflow_execution_id: exec });
        return { queued: [], woken: [], reason: 'unknown run' };
      }
      if (run.execution_status !== 'Running')
        return { queued: [], woken: [], reason: `run is ${run.execution_status}` };
      // A newer hold stands (a free and a hold crossed): it keeps the run held.
      if (run.hold_state?.held) return { queued: [], woken: [], reason: 'run is held' };
      const stage = run.current_stage;
      const st = stage === null ? undefined : run.stages[stage - 1];
      if (stage === null || !st) return { queued: [], woken: [], reason: 'no current stage' };
      const woken: string[] = [];
      let after = 0;
      while (after < st.cursor) {
        const page = await jobs.listStageJobs(exec, stage, after, Math.min(PAGE, st.cursor - after));
        if (page.length === 0) break;
        for (const job of page) {
          after = job.job_no;
          if (job.execution_status !== 'Queued' || job.waiting_for !== 'hold') continue;
          const moved = await jobs.transition(
            {
              workflowExecutionId: exec,
              jobKey: job.job_key,
              expect: { attempt: job.attempt, statuses: ['Queued'] },
              set: { waiting_for: null },
            },
            { messages: [jobMessage(job)] },
          );
          if (moved) woken.push(job.job_key);
        }
      }
      if (woken.length > 0) log.info('parked jobs woken', { workflow_execution_id: exec, jobs: woken });
      const planned = await planner.handleStageReady({
        version: EVENT_VERSION,
        event_id: ev.event_id,
        occurred_at: ev.occurred_at,
        workflow_id: run.workflow_id,
        workflow_execution_id: exec,
        stage,
      });
      return { ...planned, woken };
    },

    /**
     * On PoolSlotFreed / PoolResized: grants the pool's free slots to its oldest waiters, each with
     * its job's message (services/shared/pools.ts). Level-triggered like StageReady: a duplicate or
     * a stale wake grants nothing more than the pool has free.
     */
    async handlePoolWake(pool: string): Promise<WakeResult> {
      return wakePool(deps, pool);
    },
  };
  return planner;
}

/** The queue message of a job's current attempt. */
function jobMessage(job: JobAuditRecord): OutgoingMessage {
  return { body: jobMessageOf(job) };
}

export type PlannerService = ReturnType<typeof createPlannerService>;
