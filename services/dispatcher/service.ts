import { EVENT_VERSION } from '../../contracts/events.js';
import { type JobMessage, jobRunName, type TaskRequest } from '../../contracts/jobs.js';
import { StaleTaskError } from '../errors.js';
import type {
  AgentFleet,
  Clock,
  JobRepository,
  JobRunOrchestrator,
  Logger,
  RunRepository,
} from '../ports.js';

export interface DispatcherDeps {
  runs: RunRepository;
  jobs: JobRepository;
  orchestrator: JobRunOrchestrator;
  agents: AgentFleet;
  clock: Clock;
  log: Logger;
}

/** What to do with a queue message: drop it (done or stale), or show it again later (backoff). */
export type MessageResult = { ack: true; note: string } | { ack: false; retryAfterSeconds: number };

/**
 * The dispatcher: a queue message starts the single-job wrapper for that attempt (named after it,
 * so a second start is harmless) and marks the job Dispatched; the wrapper then hands it a task
 * token, and it sends ONE command carrying the job and the token to ONE online agent.
 */
export function createDispatcherService(deps: DispatcherDeps) {
  const { runs, jobs, orchestrator, agents, clock, log } = deps;

  return {
    async handleMessage(msg: JobMessage): Promise<MessageResult> {
      const job = await jobs.getJob(msg.workflow_execution_id, msg.job_key);
      if (!job) return { ack: true, note: 'unknown job' };
      if (job.attempt !== msg.attempt) return { ack: true, note: `stale: job is at attempt ${job.attempt}` };
      if (job.execution_status !== 'Queued' && job.execution_status !== 'Dispatched') {
        return { ack: true, note: `job is ${job.execution_status}` };
      }
      const now = clock.now();
      if (job.not_before && Date.parse(job.not_before) > now.getTime()) {
        return {
          ack: false,
          retryAfterSeconds: Math.ceil((Date.parse(job.not_before) - now.getTime()) / 1000),
        };
      }
      const run = await runs.getRun(job.workflow_execution_id);
      if (run?.execution_status !== 'Running' || run.cancel_requested) {
        if (job.execution_status === 'Queued') {
          await jobs.transition({
            workflowExecutionId: job.workflow_execution_id,
            jobKey: job.job_key,
            expect: { attempt: job.attempt, statuses: ['Queued'] },
            set: {
              execution_status: 'Cancelled',
              execution_end_ts: now.toISOString(),
              error_message: 'the run was cancelled before this job started',
            },
          });
        }
        return { ack: true, note: 'run is not accepting work' };
      }
      const name = jobRunName(job.workflow_execution_id, job.job_key, job.attempt);
      await orchestrator.start({
        version: EVENT_VERSION,
        job_run_name: name,
        workflow_id: job.workflow_id,
        workflow_execution_id: job.workflow_execution_id,
        job_key: job.job_key,
        job_name: job.job_name,
        stage: job.stage,
        attempt: job.attempt,
        timeout_seconds: job.timeout_seconds,
        heartbeat_seconds: Math.min(job.heartbeat_seconds, job.timeout_seconds),
      });
      await jobs.transition({
        workflowExecutionId: job.workflow_execution_id,
        jobKey: job.job_key,
        expect: { attempt: job.attempt, statuses: ['Queued'] },
        set: { execution_status: 'Dispatched' },
      });
      return { ack: true, note: 'dispatched' };
    },

    /**
     * Called by the wrapper with its task token: pick one online agent and send it one command.
     * A token for an attempt the job has left behind is refused (StaleTaskError), so a late
     * wrapper never runs a script twice.
     */
    async handleTask(req: TaskRequest): Promise<{ instanceId: string; commandId: string | null }> {
      const { job: input } = req;
      const job = await jobs.getJob(input.workflow_execution_id, input.job_key);
      if (!job)
        throw new StaleTaskError(`job ${input.job_key} of ${input.workflow_execution_id} does not exist`);
      if (
        job.attempt === input.attempt &&
        job.instance_id !== null &&
        (job.execution_status === 'Dispatched' || job.execution_status === 'Running')
      ) {
        // A repeated invocation for an attempt already handed to an agent (at-least-once): the
        // command went out, so neither send a second one nor refuse (the wrapper would end the
        // attempt while its script runs). ONE command per attempt.
        return { instanceId: job.instance_id, commandId: job.ssm_command_id };
      }
      if (
        job.attempt !== input.attempt ||
        (job.execution_status !== 'Queued' && job.execution_status !== 'Dispatched')
      ) {
        throw new StaleTaskError(
          `job ${input.job_key} of ${input.workflow_execution_id} is ${job.execution_status} at attempt ${job.attempt}; not running attempt ${input.attempt}`,
        );
      }
      const run = await runs.getRun(job.workflow_execution_id);
      if (run?.execution_status !== 'Running' || run.cancel_requested) {
        throw new StaleTaskError(`run ${job.workflow_execution_id} is not running`);
      }
      const agent = await agents.pick(input.job_run_name);
      const { commandId } = await agents.send(agent, {
        version: EVENT_VERSION,
        task_token: req.task_token,
        job_run_name: input.job_run_name,
        workflow_id: job.workflow_id,
        workflow_execution_id: job.workflow_execution_id,
        job_key: job.job_key,
        job_name: job.job_name,
        stage: job.stage,
        attempt: job.attempt,
        script: job.job_name,
        args: job.args,
        timeout_seconds: job.timeout_seconds,
        heartbeat_seconds: Math.min(job.heartbeat_seconds, job.timeout_seconds),
        parameters: run.parameters,
      });
      await jobs.transition({
        workflowExecutionId: job.workflow_execution_id,
        jobKey: job.job_key,
        expect: { attempt: job.attempt, statuses: ['Queued', 'Dispatched'] },
        set: { execution_status: 'Dispatched', instance_id: agent.instanceId, ssm_command_id: commandId },
      });
      log.info('job sent to agent', {
        job_run_name: input.job_run_name,
        instance_id: agent.instanceId,
        command_id: commandId,
      });
      return { instanceId: agent.instanceId, commandId };
    },
  };
}

export type DispatcherService = ReturnType<typeof createDispatcherService>;
