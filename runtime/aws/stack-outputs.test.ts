import {
  CloudFormationClient,
  CloudFormationServiceException,
  DescribeStacksCommand,
} from '@aws-sdk/client-cloudformation';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createOperatorClients,
  readStackResources,
  STACK_OUTPUTS,
  StackNotFoundError,
  StackOutputMissingError,
} from './stack-outputs.js';

const credentials = { accessKeyId: 'k', secretAccessKey: 's' };

function outputs(values: Record<string, string>) {
  return Object.entries(values).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue }));
}

const ALL = {
  EventBusName: 'rsqlo',
  ConfigTableName: 'rsqlo-config',
  WorkflowAuditTableName: 'rsqlo-workflow-audit-v2',
  JobAuditTableName: 'rsqlo-job-audit-v2',
  JobLogGroupName: '/ops/rsql-logs/',
  AlertTopicArn: 'arn:aws:sns:eu-west-1:123456789012:rsqlo-alerts',
};

describe('the stack outputs the operator commands read', () => {
  const client = new CloudFormationClient({ region: 'eu-west-1', credentials });
  const cfn = mockClient(client);
  afterEach(() => cfn.reset());

  it('reads every name with one DescribeStacks of the named stack', async () => {
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [
        {
          StackName: 'rsqlo',
          StackStatus: 'UPDATE_COMPLETE',
          CreationTime: new Date(),
          Outputs: outputs(ALL),
        },
      ],
    });
    const got = await readStackResources(client, 'rsqlo', Object.keys(STACK_OUTPUTS) as never);
    expect(got).toEqual({
      eventBus: 'rsqlo',
      configTable: 'rsqlo-config',
      workflowAuditTable: 'rsqlo-workflow-audit-v2',
      jobAuditTable: 'rsqlo-job-audit-v2',
      logGroup: '/ops/rsql-logs/',
    });
    // The exact request: one stack by name, nothing else (no NextToken paging of every stack).
    expect(cfn.commandCalls(DescribeStacksCommand).map((c) => c.args[0].input)).toEqual([
      { StackName: 'rsqlo' },
    ]);
  });

  it('a stack that does not exist: an error naming it and the region', async () => {
    // CloudFormation answers DescribeStacks of an unknown stack with a 400 ValidationError
    // "Stack with id foo does not exist" (boto/boto3#2807 shows the service's response body).
    cfn.on(DescribeStacksCommand).rejects(
      new CloudFormationServiceException({
        name: 'ValidationError',
        $fault: 'client',
        $metadata: { httpStatusCode: 400 },
        message: 'Stack with id nope does not exist',
      }),
    );
    const err = await readStackResources(client, 'nope', ['eventBus']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StackNotFoundError);
    expect((err as Error).message).toMatch(/^no stack nope in eu-west-1 /);
  });

  it('other failures (no permission, throttling) are not called a missing stack', async () => {
    cfn.on(DescribeStacksCommand).rejects(
      new CloudFormationServiceException({
        name: 'AccessDenied',
        $fault: 'client',
        $metadata: { httpStatusCode: 403 },
        message: 'User is not authorized to perform: cloudformation:DescribeStacks',
      }),
    );
    const err = await readStackResources(client, 'rsqlo', ['eventBus']).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(StackNotFoundError);
    expect((err as Error).name).toBe('AccessDenied');
  });

  it('a stack without an output: an error naming the stack, region and every missing output', async () => {
    const { JobLogGroupName: _l, ConfigTableName: _c, ...some } = ALL;
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [
        {
          StackName: 'old',
          StackStatus: 'CREATE_COMPLETE',
          CreationTime: new Date(),
          Outputs: outputs(some),
        },
      ],
    });
    const err = await readStackResources(client, 'old', Object.keys(STACK_OUTPUTS) as never).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StackOutputMissingError);
    expect((err as Error).message).toBe(
      'stack old in eu-west-1 has no output ConfigTableName, JobLogGroupName (deployed by an older rsqlo? redeploy it)',
    );
  });

  it('a stack being deleted or that never finished creating is refused', async () => {
    for (const status of ['DELETE_IN_PROGRESS', 'ROLLBACK_COMPLETE', 'CREATE_FAILED']) {
      cfn.reset();
      cfn.on(DescribeStacksCommand).resolves({
        Stacks: [
          {
            StackName: 'rsqlo',
            StackStatus: status as never,
            CreationTime: new Date(),
            Outputs: outputs(ALL),
          },
        ],
      });
      const err = await readStackResources(client, 'rsqlo', ['eventBus']).catch((e: unknown) => e);
      expect(err, status).toBeInstanceOf(StackNotFoundError);
      expect((err as Error).message).toContain(status);
    }
  });

  it('clients take --region and --profile over the environment, as the AWS CLI does', async () => {
    const c = createOperatorClients({ region: 'ap-southeast-2', profile: 'ops' });
    expect(await c.cloudFormation.config.region()).toBe('ap-southeast-2');
    expect(await c.dynamodb.config.region()).toBe('ap-southeast-2');
    expect(await c.logs.config.region()).toBe('ap-southeast-2');
    expect((c.eventBridge.config as { profile?: string }).profile).toBe('ops');
  });
});
