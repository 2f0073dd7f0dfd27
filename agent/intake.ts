/**
 * The daemon's intake: the commands `rsqlo-agent submit` dropped into `<spool>/jobs/`, each taken
 * once. A command becomes a tracked job with a state file (`accepted`); a file that is not a job
 * (unsafe name, unreadable, its name not its job run name) is dropped with an error in the log; a
 * redelivery of a job this host already finished (its tombstone says `done`) is ignored, and one
 * of a job it is still running or reporting is left alone (the job already has it). SSM delivers at
 * least once, so the same command arriving twice, or long after, must never run a script twice.
 */
import { hostname } from 'node:os';
import path from 'node:path';
import { logStreamName } from '../runtime/aws/cloudwatch-logs.js';
import { redactToken } from '../runtime/aws/task-callbacks.js';
import type { AgentContext } from './agent-context.js';
import type { JobState } from './job-state.js';
import {
  commandFile,
  isSafeJobRunName,
  listCommands,
  readJson,
  removeFile,
  SpooledCommand,
} from './spool.js';

export interface Intake {
  /** Takes the new commands of the spool (nothing while the daemon is stopping). */
  scan(): void;
}

/** The intake over the daemon's shared state: accepted jobs go into `ctx.jobs`. */
export function createIntake(ctx: AgentContext): Intake {
  const { config, log, now } = ctx;

  function scan(): void {
    if (ctx.stopping) return;
    const { paths } = ctx;
    for (const name of listCommands(paths)) {
      if (ctx.jobs.has(name)) continue;
      const file = commandFile(paths, name);
      if (!isSafeJobRunName(name)) {
        log.error('ignoring a spool file whose name is not a job run name', { file });
        removeFile(file);
        continue;
      }
      const existing = ctx.readState(name);
      if (existing) {
        if (existing.phase === 'done') {
          log.info('a finished job was submitted again; ignored', { job_run_name: name });
          removeFile(file);
        }
        continue;
      }
      let entry: SpooledCommand;
      try {
        const r = SpooledCommand.safeParse(readJson(file));
        if (!r.success)
          throw new Error(r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
        entry = r.data;
        if (entry.command.job_run_name !== name) throw new Error('the file name does not match job_run_name');
      } catch (err) {
        log.error('dropping an unreadable job from the spool', { file, error: (err as Error).message });
        removeFile(file);
        continue;
      }
      accept(entry);
    }
  }

  function accept(entry: SpooledCommand): void {
    const cmd = entry.command;
    const exec = cmd.workflow_execution_id;
    const state: JobState = {
      v: 1,
      name: cmd.job_run_name,
      phase: 'accepted',
      accepted_at: new Date(now()).toISOString(),
      log_file: path.join(config.logDir, exec, `${cmd.job_key}.a${cmd.attempt}.log`),
      exit_file: path.join(ctx.paths.exits, exec),
      stream: logStreamName(cmd.job_run_name),
      instance_id: config.instanceId ?? entry.instance_id ?? hostname(),
      command_id: entry.command_id,
      pid: null,
      start_ticks: null,
      started_at: null,
      killed_for: null,
      gave_up: null,
      shipped: 0,
      logs_final: false,
      outcome: null,
      reports: [],
      done_at: null,
    };
    const job = ctx.newJob(state, entry);
    ctx.jobs.set(state.name, job);
    ctx.save(job);
    log.info('job accepted', {
      job_run_name: state.name,
      script: cmd.script,
      task_token: redactToken(cmd.task_token),
    });
  }

  return { scan };
}
