import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobRunInput } from '../../contracts/jobs.js';
import { createStepFunctionsOrchestrator, executionArn } from './step-functions-orchestrator.js';

const sfn = mockClient(SFNClient);
afterEach(() => sfn.reset());

const ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:rsqlo-wrapper';
const input: JobRunInput = {
  version: 1,
  job_run_name: 'r1--1-2--a1',
  workflow_id: 'wf',
  workflow_execution_id: 'r1',
  job_key: '1.2',
  job_name: 'b.sh',
  stage: 1,
  attempt: 1,
  timeout_seconds: 60,
  heartbeat_seconds: 30,
};
const orchestrator = () =>
  createStepFunctionsOrchestrator({
    client: new SFNClient({ region: 'eu-west-1' }),
    stateMachineArn: ARN,
    retry: { sleep: async () => {} },
  });

describe('Step Functions orchestrator', () => {
  it('starts the wrapper named after the job run with the JobRunInput', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: 'x', startDate: new Date() });
    expect(await orchestrator().start(input)).toBe('started');
    expect(sfn.commandCalls(StartExecutionCommand).map((c) => c.args[0].input)).toEqual([
      { stateMachineArn: ARN, name: 'r1--1-2--a1', input: JSON.stringify(input) },
    ]);
  });

  it('treats ExecutionAlreadyExists as started before, and retries throttling', async () => {
    sfn
      .on(StartExecutionCommand)
      .rejectsOnce(Object.assign(new Error('rate'), { name: 'ThrottlingException' }))
      .rejects(new ExecutionAlreadyExists({ message: 'exists', $metadata: {} }));
    expect(await orchestrator().start(input)).toBe('exists');
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(2);
  });

  it('fails on anything else', async () => {
    sfn
      .on(StartExecutionCommand)
      .rejects(Object.assign(new Error('no such machine'), { name: 'StateMachineDoesNotExist' }));
    await expect(orchestrator().start(input)).rejects.toThrow('no such machine');
  });

  it('stops the execution by its ARN with the reason; a missing or ended one is fine', async () => {
    expect(executionArn(ARN, 'r1--1-2--a1')).toBe(
      'arn:aws:states:eu-west-1:123456789012:execution:rsqlo-wrapper:r1--1-2--a1',
    );
    expect(() => executionArn('arn:aws:lambda:x:y:function:f', 'n')).toThrow(/not a state machine ARN/);
    sfn.on(StopExecutionCommand).resolves({ stopDate: new Date() });
    await orchestrator().stop('r1--1-2--a1', 'cancelled by request');
    expect(sfn.commandCalls(StopExecutionCommand)[0]?.args[0].input).toEqual({
      executionArn: 'arn:aws:states:eu-west-1:123456789012:execution:rsqlo-wrapper:r1--1-2--a1',
      error: 'Cancelled',
      cause: 'cancelled by request',
    });
    sfn.reset();
    sfn.on(StopExecutionCommand).rejects(new ExecutionDoesNotExist({ message: 'none', $metadata: {} }));
    await orchestrator().stop('r1--1-2--a1', 'x');
    sfn.reset();
    sfn
      .on(StopExecutionCommand)
      .rejects(Object.assign(new Error('not running'), { name: 'ValidationException' }));
    sfn.on(DescribeExecutionCommand).resolves({ status: 'SUCCEEDED' } as never);
    await orchestrator().stop('r1--1-2--a1', 'x');
    sfn.on(DescribeExecutionCommand).resolves({ status: 'RUNNING' } as never);
    await expect(orchestrator().stop('r1--1-2--a1', 'x')).rejects.toThrow('not running');
  });
});
