import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JobCommand } from '../contracts/jobs.js';
import { type AttemptTokens, createAttemptTokens, supersedes } from './attempt-tokens.js';
import { createIntake } from './intake.js';
import { createJobEnding } from './job-ending.js';
import type { Job } from './job-state.js';
import { commandFile, type SpooledCommand, spoolCommand } from './spool.js';
import { jobCommand, TEST_TOKEN } from './testing/fixtures.js';
import { type PartsBench, partsBench, spooled } from './testing/parts.js';

const ARN = 'arn:aws:states:us-east-1:123456789012:execution:rsqlo-job-run:x';
const tokenOf = (n: number) => `${TEST_TOKEN}-dispatch-${n}`;

describe('agent attempt tokens (a retried Dispatch)', () => {
  let b: PartsBench;
  let tokens: AttemptTokens;

  beforeEach(() => {
    b = partsBench();
    tokens = createAttemptTokens(b.ctx, createJobEnding(b.ctx));
  });
  afterEach(() => b.cleanup());

  /** A job taken by the intake, its command from try `dispatch` of Dispatch. */
  function accepted(dispatch: number): { job: Job; cmd: JobCommand } {
    const cmd = jobCommand('ok.sh', { task_token: tokenOf(dispatch), dispatch, execution_arn: ARN });
    spoolCommand(b.ws.spool, spooled(cmd));
    createIntake(b.ctx).scan();
    return { job: b.ctx.jobs.get(cmd.job_run_name) as Job, cmd };
  }
  /** The same job submitted again with the token of try `dispatch`: `submit` keeps it in tokens/. */
  function redispatched(cmd: JobCommand, dispatch: number): void {
    expect(spoolCommand(b.ws.spool, spooled({ ...cmd, task_token: tokenOf(dispatch), dispatch }))).toBe(
      'token',
    );
  }
  const tokenFiles = () => readdirSync(b.ctx.paths.tokens);
  const spooledToken = (cmd: JobCommand) =>
    (JSON.parse(readFileSync(commandFile(b.ctx.paths, cmd.job_run_name), 'utf8')) as SpooledCommand).command
      .task_token;

  it('refuses the token of an earlier try without asking Step Functions', async () => {
    const { job, cmd } = accepted(2);
    redispatched(cmd, 1);
    tokens.scanTokens();
    await b.settle();
    expect(b.taskCalls).toEqual([]);
    expect(tokenFiles()).toEqual([]);
    expect(job.cmd.task_token).toBe(tokenOf(2));
    expect(spooledToken(cmd)).toBe(tokenOf(2));
  });

  it('adopts a later try’s token once a heartbeat with it is accepted, in the spool too', async () => {
    const { job, cmd } = accepted(0);
    redispatched(cmd, 1);
    tokens.scanTokens();
    await b.settle();
    expect(b.taskCalls).toEqual([{ op: 'heartbeat', token: tokenOf(1) }]);
    expect(job.cmd).toMatchObject({ task_token: tokenOf(1), dispatch: 1 });
    // A restarted daemon reads the live token from the command file.
    expect(spooledToken(cmd)).toBe(tokenOf(1));
    expect(tokenFiles()).toEqual([]);
    expect(JSON.stringify(b.lines)).not.toContain(tokenOf(1));
  });

  it('keeps the held token when the other is refused; asks again later when Step Functions is unreachable', async () => {
    const { job, cmd } = accepted(0);
    redispatched(cmd, 1);
    b.answer = async () => {
      throw new Error('getaddrinfo EAI_AGAIN states.us-east-1.amazonaws.com');
    };
    tokens.scanTokens();
    await b.settle();
    expect(tokenFiles()).toHaveLength(1);
    // Not again before its backoff…
    tokens.scanTokens();
    expect(b.taskCalls).toHaveLength(1);
    // …then refused: the file goes, the job keeps its token.
    b.answer = async () => ({ outcome: 'gave-up', reason: 'TaskTimedOut' });
    b.clock.t += 8000;
    tokens.scanTokens();
    await b.settle();
    expect(b.taskCalls).toHaveLength(2);
    expect(tokenFiles()).toEqual([]);
    expect(job.cmd.task_token).toBe(tokenOf(0));
    expect(existsSync(commandFile(b.ctx.paths, cmd.job_run_name))).toBe(true);
  });

  it('compares tries only when both commands say which they are', () => {
    const c = (dispatch?: number) => jobCommand('ok.sh', dispatch === undefined ? {} : { dispatch });
    expect(supersedes(c(2), c(1))).toBe(true);
    expect(supersedes(c(1), c(2))).toBe(false);
    expect(supersedes(c(1), c(1))).toBe(false);
    expect(supersedes(c(), c(1))).toBe(false);
    expect(supersedes(c(1), c())).toBe(false);
  });
});
