/**
 * The scripted agent fleet: tests decide what each job attempt does (complete, fail, time out,
 * hang), and the fleet reports JobStarted / JobFinished as the real agents do.
 */
import { EVENT_VERSION, eventIds } from '../../contracts/events.js';
import type { JobCommand, JobRunInput } from '../../contracts/jobs.js';
import { NoAgentAvailableError } from '../errors.js';
import type { AgentFleet, AgentRef } from '../ports.js';
import type { Simulation } from './simulation.js';
import type { AgentMatch, AgentOutcome, TimelineEntry } from './simulation-types.js';

const clone = <T>(v: T): T => structuredClone(v);

/** One attempt an agent accepted. */
export interface AgentExecution {
  name: string;
  command: JobCommand;
  instanceId: string;
  commandId: string;
  logLocation: string;
  outcome: AgentOutcome;
  startedAt: number;
  endedAt: number | null;
  status: TimelineEntry['status'] | null;
}

/**
 * The agent fleet, scripted: tests decide per job (name or key) and attempt whether it completes,
 * fails with an exit code and a message, times out, or hangs. An accepted command emits JobStarted
 * at once and JobFinished when the script ends (plus the task result to the wrapper); a command
 * for a job run it already accepted is ignored, like the real agents do.
 */
export class ScriptedAgentFleet implements AgentFleet {
  readonly executions = new Map<string, AgentExecution>();
  /** Every send, including ignored repeats. */
  readonly sends: Array<{ instanceId: string; command: JobCommand; accepted: boolean; at: number }> = [];
  private readonly rules: Array<{ match: AgentMatch; outcome: AgentOutcome }> = [];
  private online = true;

  constructor(
    private readonly sim: Simulation,
    private readonly instances: string[],
    private readonly fallback: ((cmd: JobCommand) => AgentOutcome | undefined) | undefined,
    private readonly defaultDurationSeconds: number,
  ) {}

  /** Scripts the attempts that `match` selects. Rules are checked in the order added; the first match wins. */
  when(match: AgentMatch, outcome: AgentOutcome): this {
    this.rules.push({ match, outcome });
    return this;
  }

  /** Takes every agent off line (pick throws NoAgentAvailableError) or brings them back. */
  setOnline(online: boolean): void {
    this.online = online;
  }

  async pick(jobRunName: string): Promise<AgentRef> {
    if (!this.online || this.instances.length === 0) throw new NoAgentAvailableError('no agent is online');
    let h = 0;
    for (const ch of jobRunName) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
    return { instanceId: this.instances[h % this.instances.length] as string };
  }

  async send(agent: AgentRef, command: JobCommand): Promise<{ commandId: string | null }> {
    const now = this.sim.clock.millis;
    const existing = this.executions.get(command.job_run_name);
    this.sends.push({ instanceId: agent.instanceId, command: clone(command), accepted: !existing, at: now });
    if (existing) return { commandId: existing.commandId };
    const exec: AgentExecution = {
      name: command.job_run_name,
      command: clone(command),
      instanceId: agent.instanceId,
      commandId: `cmd-${command.job_run_name}`,
      logLocation: `/ops/rsql-logs/${command.workflow_execution_id}/${command.job_key}.a${command.attempt}`,
      outcome: this.outcomeFor(command),
      startedAt: now,
      endedAt: null,
      status: null,
    };
    this.executions.set(command.job_run_name, exec);
    this.sim.recordTimeline('start', exec);
    const startedAt = new Date(now).toISOString();
    this.sim.publish([
      {
        detailType: 'JobStarted',
        detail: {
          ...jobEventBase(
            command,
            eventIds.jobStarted(command.workflow_execution_id, command.job_key, command.attempt),
            new Date(now),
          ),
          started_at: startedAt,
          instance_id: exec.instanceId,
          ssm_command_id: exec.commandId,
          log_location: exec.logLocation,
        },
      },
    ]);
    const o = exec.outcome;
    if (o.outcome === 'complete' || o.outcome === 'fail') {
      const secs = o.durationSeconds ?? this.defaultDurationSeconds;
      this.sim.schedule({ kind: 'agent-finish', name: exec.name }, now + secs * 1000);
    }
    return { commandId: exec.commandId };
  }

  /** The execution of a job run, if an agent accepted it. */
  execution(name: string): AgentExecution | undefined {
    return this.executions.get(name);
  }

  /** Whether an attempt is scripted to run into its timeout (then the timeout drives the clock). */
  expectsTimeout(name: string): boolean {
    const e = this.executions.get(name);
    return e !== undefined && e.endedAt === null && e.outcome.outcome === 'timeout';
  }

  /** The script ends by itself: report JobFinished and the task result. */
  finish(
    name: string,
    result: { ok: true } | { ok: false; exitCode: number; message: string | null },
  ): boolean {
    const e = this.executions.get(name);
    if (!e || e.endedAt !== null) return false;
    const now = this.sim.clock.now();
    e.endedAt = now.getTime();
    e.status = result.ok ? 'Completed' : 'Failed';
    this.sim.recordTimeline('finish', e);
    // Like the real agent: the report goes out only if the wrapper still waits for it.
    if (!this.sim.wrapper.taskResult(name, result.ok)) return true;
    const cmd = e.command;
    this.sim.publish([
      {
        detailType: 'JobFinished',
        detail: {
          ...jobEventBase(
            cmd,
            eventIds.jobFinished(cmd.workflow_execution_id, cmd.job_key, cmd.attempt),
            now,
          ),
          status: result.ok ? 'Completed' : 'Failed',
          exit_code: result.ok ? 0 : result.exitCode,
          error_message: result.ok ? null : (result.message ?? `exited with code ${result.exitCode}`),
          started_at: new Date(e.startedAt).toISOString(),
          finished_at: now.toISOString(),
          duration_ms: now.getTime() - e.startedAt,
          instance_id: e.instanceId,
          ssm_command_id: e.commandId,
          log_location: e.logLocation,
          reported_by: 'agent',
        },
      },
    ]);
    return true;
  }

  /** The process is killed (timeout or cancel); the wrapper or the engine reports it. */
  kill(name: string, status: 'TimedOut' | 'Cancelled'): void {
    const e = this.executions.get(name);
    if (!e || e.endedAt !== null) return;
    e.endedAt = this.sim.clock.millis;
    e.status = status;
    this.sim.recordTimeline('finish', e);
  }

  private outcomeFor(cmd: JobCommand): AgentOutcome {
    for (const r of this.rules) {
      const m = r.match;
      if (m.job !== cmd.job_name && m.job !== cmd.job_key) continue;
      if (m.attempt !== undefined && m.attempt !== cmd.attempt) continue;
      if (m.workflowExecutionId !== undefined && m.workflowExecutionId !== cmd.workflow_execution_id)
        continue;
      return r.outcome;
    }
    return this.fallback?.(cmd) ?? { outcome: 'complete' };
  }
}

/** The fields every job event (JobStarted, JobFinished) carries, from the job run they are about. */
export function jobEventBase(
  j: Pick<
    JobRunInput,
    'workflow_id' | 'workflow_execution_id' | 'job_key' | 'job_name' | 'stage' | 'attempt'
  >,
  id: string,
  at: Date,
) {
  return {
    version: EVENT_VERSION,
    event_id: id,
    occurred_at: at.toISOString(),
    workflow_id: j.workflow_id,
    workflow_execution_id: j.workflow_execution_id,
    job_key: j.job_key,
    job_name: j.job_name,
    stage: j.stage,
    attempt: j.attempt,
  };
}
