/**
 * The fake single-job wrapper: Step Functions' role in the simulation (start, stop, timeout, the
 * task token handed to the dispatcher, the Catch that reports a dispatch failure).
 */
import { eventIds } from '../../contracts/events.js';
import type { JobRunInput } from '../../contracts/jobs.js';
import { StaleTaskError } from '../errors.js';
import type { JobRunOrchestrator } from '../ports.js';
import { jobEventBase } from './scripted-agent-fleet.js';
import type { Simulation } from './simulation.js';
import type { SimulationItem, WrapperRun } from './simulation-types.js';

const clone = <T>(v: T): T => structuredClone(v);

/**
 * The single-job wrapper (Step Functions' role): `start` records the job run, arms its timeout and
 * invokes the dispatcher with a task token; `stop` aborts it; its timeout reports TimedOut and kills
 * the process; when the dispatcher cannot hand the job to an agent its Catch reports Failed.
 */
export class FakeWrapper implements JobRunOrchestrator {
  readonly runs = new Map<string, WrapperRun>();
  /** Every start call, including repeated ones (`exists`). */
  readonly starts: Array<{ name: string; at: number; result: 'started' | 'exists' }> = [];
  readonly stops: Array<{ name: string; reason: string; at: number }> = [];

  constructor(private readonly sim: Simulation) {}

  async start(input: JobRunInput): Promise<'started' | 'exists'> {
    const now = this.sim.clock.millis;
    if (this.runs.has(input.job_run_name)) {
      this.starts.push({ name: input.job_run_name, at: now, result: 'exists' });
      return 'exists';
    }
    const timeoutAt = now + input.timeout_seconds * 1000;
    this.runs.set(input.job_run_name, {
      name: input.job_run_name,
      input: clone(input),
      status: 'Running',
      startedAt: now,
      endedAt: null,
      timeoutAt,
    });
    this.starts.push({ name: input.job_run_name, at: now, result: 'started' });
    this.sim.schedule({ kind: 'timeout', name: input.job_run_name }, timeoutAt);
    this.sim.schedule(
      { kind: 'task', request: { task_token: `token:${input.job_run_name}`, job: clone(input) }, attempt: 1 },
      now,
    );
    return 'started';
  }

  async stop(jobRunName: string, reason: string): Promise<void> {
    this.stops.push({ name: jobRunName, reason, at: this.sim.clock.millis });
    if (this.end(jobRunName, 'Aborted')) this.sim.agent.kill(jobRunName, 'Cancelled');
  }

  /** Ends a run that is still Running; false when it had ended already. */
  end(name: string, status: Exclude<WrapperRun['status'], 'Running'>): boolean {
    const run = this.runs.get(name);
    if (run?.status !== 'Running') return false;
    run.status = status;
    run.endedAt = this.sim.clock.millis;
    // Step Functions drops the timeout of an execution that ended.
    this.sim.unschedule((item) => item.kind === 'timeout' && item.name === name);
    return true;
  }

  /** The agent's SendTaskSuccess / SendTaskFailure; false when the run had ended already. */
  taskResult(name: string, succeeded: boolean): boolean {
    return this.end(name, succeeded ? 'Succeeded' : 'Failed');
  }

  /** The timeout timer fired: report TimedOut (as the wrapper's Catch does) and kill the process. */
  onTimeout(name: string): void {
    const run = this.runs.get(name);
    if (run?.status !== 'Running' || this.sim.clock.millis < run.timeoutAt) return;
    this.end(name, 'TimedOut');
    const exec = this.sim.agent.execution(name);
    const input = run.input;
    const now = this.sim.clock.now();
    const startedAt = exec ? new Date(exec.startedAt) : null;
    this.reportFinished(input, now, {
      status: 'TimedOut',
      error_message: `timed out after ${input.timeout_seconds} s (timeout_seconds); the process tree was killed`,
      started_at: startedAt ? startedAt.toISOString() : null,
      duration_ms: startedAt ? now.getTime() - startedAt.getTime() : null,
      instance_id: exec?.instanceId ?? null,
      ssm_command_id: exec?.commandId ?? null,
      log_location: exec?.logLocation ?? null,
    });
    this.sim.agent.kill(name, 'TimedOut');
  }

  /** The wrapper invokes the dispatcher with its task token (Lambda waitForTaskToken). */
  async deliverTask(item: Extract<SimulationItem, { kind: 'task' }>): Promise<void> {
    const name = item.request.job.job_run_name;
    const run = this.runs.get(name);
    if (run?.status !== 'Running') return;
    try {
      await this.sim.services.dispatcher.handleTask(item.request);
    } catch (err) {
      if (err instanceof StaleTaskError) {
        // The job moved on: the wrapper ends without a second report (like the engine).
        this.end(name, 'Failed');
        return;
      }
      if (item.attempt < this.sim.maxTaskAttempts) {
        this.sim.schedule(
          { ...item, attempt: item.attempt + 1 },
          this.sim.clock.millis + 1000 * 2 ** item.attempt,
        );
        return;
      }
      // The Catch: the attempt failed to dispatch; report it so the job does not wait for its timeout.
      if (!this.end(name, 'Failed')) return;
      const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      this.reportFinished(run.input, this.sim.clock.now(), {
        status: 'Failed',
        error_message: `could not dispatch the job: ${message}`,
        started_at: null,
        duration_ms: null,
        instance_id: null,
        ssm_command_id: null,
        log_location: null,
      });
    }
  }

  /** The wrapper's own JobFinished (its timeout or its Catch), with no exit code. */
  private reportFinished(
    input: JobRunInput,
    now: Date,
    f: {
      status: 'TimedOut' | 'Failed';
      error_message: string;
      started_at: string | null;
      duration_ms: number | null;
      instance_id: string | null;
      ssm_command_id: string | null;
      log_location: string | null;
    },
  ): void {
    const id = eventIds.jobFinished(input.workflow_execution_id, input.job_key, input.attempt);
    this.sim.publish([
      {
        detailType: 'JobFinished',
        detail: {
          ...jobEventBase(input, id, now),
          status: f.status,
          exit_code: null,
          error_message: f.error_message,
          started_at: f.started_at,
          finished_at: now.toISOString(),
          duration_ms: f.duration_ms,
          instance_id: f.instance_id,
          ssm_command_id: f.ssm_command_id,
          log_location: f.log_location,
          reported_by: 'wrapper',
        },
      },
    ]);
  }
}
