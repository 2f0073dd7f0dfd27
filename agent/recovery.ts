/**
 * Recovery on the EC2 agent: carrying out, on the spool, what host/recovery.ts decides for a job
 * the daemon had started before it stopped (or whose job host died). The decisions are shared with
 * the local engine; what is done with them is the agent's own: adopt a process that still runs
 * (watched by pid and start ticks, heartbeated, reported from the exit journal when it ends),
 * report one that ended meanwhile, start one that never ran, report one that vanished without an
 * exit status as Failed, outcome unknown. `load` is the daemon's start: every unfinished job in the
 * spool is tracked again and recovered.
 */
import { readExitFile, reclaimAbandonedAttempt } from '../host/job-runner.js';
import {
  ADOPT_POLL_MS,
  decideRecovery,
  type JobProcess,
  type LookDecision,
  lookAtAttempt,
  type UnknownReason,
  unknownOutcomeMessage,
} from '../host/recovery.js';
import { agentJobStarted } from '../host/reports.js';
import { isSameProcessAlive } from '../platform/processes.js';
import type { AgentContext } from './agent-context.js';
import type { JobEnding } from './job-ending.js';
import type { Job } from './job-state.js';
import { commandFile, listStates, readJson, SpooledCommand, stateFile, writeFileAtomic } from './spool.js';

export interface Recovery {
  /** Tracks every unfinished job of the spool again, recovering those that had started. */
  load(): void;
  /** Carries out the shared recovery decision for a job that had started (after `waitedMs` of waiting). */
  recoverRunning(job: Job, waitedMs?: number): void;
  /** The job host ended while running this job: it is watched by pid from now on. */
  onHostLost(id: string): void;
}

/** Recovery over the daemon's shared state; jobs end through `ending`. */
export function createRecovery(ctx: AgentContext, ending: JobEnding): Recovery {
  const { log, now } = ctx;

  function recoverRunning(job: Job, waitedMs = 0): void {
    const { state } = job;
    if (ctx.closed || state.outcome) return;
    const act = (d: LookDecision): void => {
      switch (d.kind) {
        case 'report-exit':
          ending.finishFromJournal(job, d.exit, '');
          return;
        case 'start':
          // Nothing ran (never claimed, or the claim was taken back): starting it now runs it once.
          state.phase = 'accepted';
          ctx.save(job);
          job.busy = false;
          return;
        case 'wait-for-claim':
          // Claimed by a job host that has not started it yet: look again shortly.
          job.busy = true;
          setTimeout(() => {
            job.busy = false;
            recoverRunning(job, d.waitedMs);
          }, d.afterMs);
          return;
        case 'reclaim':
          job.busy = false;
          act(
            decideRecovery({
              step: 'reclaimed',
              result: reclaimAbandonedAttempt({ logFile: state.log_file, exitFile: state.exit_file }),
            }),
          );
          return;
        case 'look-again':
          recoverRunning(job);
          return;
        case 'unknown':
          ending.finishFromJournal(job, undefined, unknownOutcomeMessage(d.reason, 'agent'));
          return;
        case 'await-exit':
          recordFound(job, d.process);
          job.busy = false;
          awaitExitStatus(job, 0, d.unknown);
          return;
        case 'adopt': {
          recordFound(job, d.process);
          job.busy = false;
          const { pid, startTicks: ticks } = d.process;
          job.adopted = { pid, ticks };
          log.info('adopted a running job', { job_run_name: state.name, pid });
          job.watch = setInterval(() => {
            if (isSameProcessAlive(pid, ticks)) return;
            clearInterval(job.watch);
            job.watch = undefined;
            awaitExitStatus(job, 0, 'ended-unrecorded');
          }, ADOPT_POLL_MS.agent);
          return;
        }
      }
    };
    act(
      decideRecovery(
        lookAtAttempt({
          exitFile: state.exit_file,
          logFile: state.log_file,
          pid: state.pid,
          startTicks: state.start_ticks ?? undefined,
          waitedMs,
        }),
      ),
    );
  }

  /** A job's process found by its marker (its pid never recorded): recorded now, and JobStarted. */
  function recordFound(job: Job, p: JobProcess & { byMarker: boolean }): void {
    if (!p.byMarker) return;
    const { state } = job;
    state.pid = p.pid;
    state.start_ticks = p.startTicks ?? null;
    state.phase = 'running';
    if (!state.started_at) {
      state.started_at = new Date(now()).toISOString();
      state.reports.push({
        id: 'started',
        kind: 'event',
        event: agentJobStarted(job.cmd, state.started_at, ctx.place(job)),
      });
    }
    ctx.save(job);
  }

  function awaitExitStatus(job: Job, waitedMs: number, why: UnknownReason): void {
    if (ctx.closed || job.state.outcome) return;
    const d = decideRecovery({
      step: 'exit-wait',
      journal: readExitFile(job.state.exit_file, job.state.log_file),
      waitedMs,
      unknown: why,
    });
    if (d.kind === 'wait-for-exit') {
      job.busy = true;
      setTimeout(() => awaitExitStatus(job, d.waitedMs, why), d.afterMs);
      return;
    }
    job.busy = false;
    if (d.kind === 'report-exit') ending.finishFromJournal(job, d.exit, '');
    else ending.finishFromJournal(job, undefined, unknownOutcomeMessage(d.reason, 'agent'));
  }

  function onHostLost(id: string): void {
    const job = ctx.jobs.get(id);
    if (!job || ctx.closed) return;
    job.hosted = undefined;
    log.warn('the job host ended while running this job; watching it by pid', { job_run_name: id });
    recoverRunning(job);
  }

  function load(): void {
    const { paths } = ctx;
    for (const name of listStates(paths)) {
      const state = ctx.readState(name);
      if (!state || state.phase === 'done') continue;
      let entry: SpooledCommand | undefined;
      try {
        const r = SpooledCommand.safeParse(readJson(commandFile(paths, name)));
        if (r.success) entry = r.data;
      } catch {
        // handled below
      }
      if (!entry) {
        log.error('a job in the spool lost its command file; it is dropped', { job_run_name: name });
        state.phase = 'done';
        state.done_at = new Date(now()).toISOString();
        writeFileAtomic(stateFile(paths, name), JSON.stringify(state));
        continue;
      }
      const job = ctx.newJob(state, entry);
      ctx.jobs.set(name, job);
      if (state.outcome) {
        state.phase = 'finished';
      } else if (state.phase === 'starting' || state.phase === 'running') {
        recoverRunning(job);
      }
    }
  }

  return { load, recoverRunning, onHostLost };
}
