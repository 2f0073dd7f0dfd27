/**
 * How a run's end is told: the summary (failed jobs, what a cancel cut, how to restart), the exit
 * code, why a run cannot go on, and the same for a run followed on a server.
 */
import type { JobAuditRecord, WorkflowAuditRecord } from '../contracts/audit.js';
import type { LocalEngine } from '../runtime/local/engine.js';
import { EXIT, type Io, resultDocument } from './drive.js';
import { homeArg } from './errors.js';
import { command as suggest } from './invocation.js';
import type { RemoteOutcome } from './remote.js';

/** 0 when the run Completed, else 1 (Failed, Cancelled, or no run). */
export function exitFor(run: WorkflowAuditRecord | undefined): number {
  return run?.execution_status === 'Completed' ? EXIT.completed : EXIT.failed;
}

/**
 * The lines a run ends with: its counts, each failed job with its last error lines and log.
 * `flags` end the suggested restart command (default: the home's --home, if not the default one).
 */
export function summary(
  run: WorkflowAuditRecord,
  jobs: JobAuditRecord[],
  home: string,
  flags: string = homeArg(home),
): string {
  const c = run.counts;
  const lines = [
    `${run.workflow_id} ${run.workflow_execution_id}: ${run.execution_status} (${c.completed} completed, ${c.failed} failed, ${c.timed_out} timed out, ${c.cancelled} cancelled, ${c.skipped} skipped of ${c.total})`,
  ];
  for (const j of jobs) {
    if (j.execution_status === 'Failed' || j.execution_status === 'TimedOut') {
      lines.push(
        `  ${j.job_key} ${j.job_name}: ${j.execution_status}${j.exit_code !== null ? ` (exit ${j.exit_code})` : ''}`,
      );
      if (j.error_message) for (const l of j.error_message.split('\n').slice(-5)) lines.push(`      ${l}`);
      if (j.log_location) lines.push(`      log: ${j.log_location}`);
    }
  }
  lines.push(...cutLines(run, jobs));
  if (run.execution_status === 'Failed' || run.execution_status === 'Cancelled') {
    lines.push(`restart with: ${suggest(`restart ${run.workflow_execution_id}${flags}`)}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * After Ctrl-C or `rsqlo kill`: the jobs that were cut while running (they will run again from
 * their start on restart) and those that never started.
 */
export function cutLines(run: WorkflowAuditRecord, jobs: JobAuditRecord[]): string[] {
  if (run.execution_status !== 'Cancelled') return [];
  const cut = jobs.filter((j) => j.execution_status === 'Cancelled' && j.execution_start_ts !== null);
  const never = jobs.filter(
    (j) =>
      (j.execution_status === 'Cancelled' || j.execution_status === 'Skipped') &&
      j.execution_start_ts === null &&
      !j.skip_reason?.startsWith('completed in run') &&
      !j.skip_reason?.startsWith('stage '),
  );
  const lines: string[] = [];
  for (const j of cut) {
    const ran = j.execution_end_ts
      ? ` after ${((Date.parse(j.execution_end_ts) - Date.parse(j.execution_start_ts as string)) / 1000).toFixed(1)} s`
      : '';
    lines.push(
      `  cut: ${j.job_key} ${j.job_name} was killed while running${ran}${j.log_location ? ` (log: ${j.log_location})` : ''}`,
    );
  }
  if (cut.length === 0) lines.push('  no job was running when the run was cancelled');
  if (never.length > 0) lines.push(`  not started: ${never.map((j) => j.job_key).join(', ')}`);
  if (cut.length + never.length > 0)
    lines.push('  a restart runs these again (and skips the jobs that completed)');
  return lines;
}

/** The end of a run followed on a server, said as startAndWatch says it. */
export function reportRemote(io: Io, opts: { home: string; json: boolean }, r: RemoteOutcome): number {
  if (r.kind === 'left') {
    io.stderr.write(
      `rsqlo: left ${r.exec} running in the server (pid ${r.server.info.pid}); see it with rsqlo status ${r.exec}${homeArg(opts.home)} or at ${r.server.info.url}/runs/${r.exec}\n`,
    );
    return EXIT.interrupted;
  }
  if (r.kind === 'lost') {
    io.stderr.write(
      `rsqlo: the server (pid ${r.server.info.pid}) stopped before ${r.exec} ended; the next engine adopts its jobs and finishes it (rsqlo serve, or rsqlo resume${homeArg(opts.home)})\n`,
    );
    return r.interrupted ? EXIT.interrupted : EXIT.failed;
  }
  const { end, exec } = r;
  if (end.halted) {
    io.stderr.write(`rsqlo: run ${exec} stopped in the server: ${end.halted}\n`);
    return EXIT.failed;
  }
  if (end.rejected) {
    io.stderr.write(`rsqlo: request refused (${end.rejected.reason}): ${end.rejected.message}\n`);
    return EXIT.rejected;
  }
  if (end.stuck) {
    const lines = [`rsqlo: run ${exec} cannot make progress: nothing is left to do for it in ${opts.home}.`];
    if (end.stuck.length > 0) {
      lines.push('  deliveries that failed for good (newest first):');
      for (const d of end.stuck) lines.push(`    ${d.at} ${d.source}: ${d.error}`);
    }
    io.stderr.write(`${lines.join('\n')}\n`);
    return EXIT.failed;
  }
  if (!end.run) {
    io.stderr.write(`rsqlo: the run ${exec} did not start\n`);
    return EXIT.failed;
  }
  if (opts.json) io.stdout.write(`${JSON.stringify(resultDocument(end.run, end.jobs), null, 2)}\n`);
  else io.stdout.write(summary(end.run, end.jobs, opts.home));
  if (r.interrupted && end.run.execution_status !== 'Completed') return EXIT.interrupted;
  return exitFor(end.run);
}

/** Why a run cannot go on: the dead letters that stopped it. */
export function stuckMessage(engine: LocalEngine, exec: string, home: string): string {
  const dead = engine.store.deadLetters(5);
  const lines = [`rsqlo: run ${exec} cannot make progress: nothing is left to do for it in ${home}.`];
  if (dead.length > 0) {
    lines.push('  deliveries that failed for good (newest first):');
    for (const d of dead) lines.push(`    ${d.at} ${d.source}: ${d.error}`);
  }
  return `${lines.join('\n')}\n`;
}
