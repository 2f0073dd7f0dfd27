/**
 * The `--aws` commands wired to the AWS-path harness: the stack's outputs name the harness's tables,
 * bus and log group; DynamoDB is DynamoDB Local; EventBridge and CloudWatch Logs clients go through
 * the harness's simulators (its mocked clients); CloudFormation, which has no emulator, is
 * aws-sdk-client-mock answering DescribeStacks for the stack `rsqlo` (tests assert the request).
 */
import { PassThrough } from 'node:stream';
import {
  CloudFormationClient,
  CloudFormationServiceException,
  DescribeStacksCommand,
} from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { type AwsCliDeps, awsCommand } from '../../cli/aws-commands.js';
import type { Io } from '../../cli/drive.js';
import { STACK_OUTPUTS } from '../../runtime/aws/stack-outputs.js';
import { LOCAL_AWS, localClients } from '../support/dynamodb-local.js';
import type { AwsHarness } from './harness.js';

/** The outputs a deployed stack has, naming the harness's resources. */
export function harnessOutputs(h: AwsHarness): Record<string, string> {
  return {
    [STACK_OUTPUTS.eventBus]: h.busName,
    [STACK_OUTPUTS.configTable]: h.tableNames.config,
    [STACK_OUTPUTS.workflowAuditTable]: h.tableNames.workflowAudit,
    [STACK_OUTPUTS.jobAuditTable]: h.tableNames.jobAudit,
    [STACK_OUTPUTS.logGroup]: h.logGroup,
    AlertTopicArn: 'arn:aws:sns:us-east-1:123456789012:rsqlo-alerts',
  };
}

/** Clients for the commands, and the DescribeStacks mock (stack `rsqlo` exists, others do not). */
export function stackDeps(
  h: AwsHarness,
  endpoint: string,
  outputs: Record<string, string> = harnessOutputs(h),
): { deps: AwsCliDeps & { pollMs: number }; cfn: ReturnType<typeof mockClient> } {
  const cloudFormation = new CloudFormationClient(LOCAL_AWS);
  const cfn = mockClient(cloudFormation);
  cfn.on(DescribeStacksCommand).callsFake((input: { StackName?: string }) => {
    if (input.StackName !== 'rsqlo')
      // The service's answer for an unknown stack (boto/boto3#2807 shows the response body).
      throw new CloudFormationServiceException({
        name: 'ValidationError',
        $fault: 'client',
        $metadata: { httpStatusCode: 400 },
        message: `Stack with id ${input.StackName} does not exist`,
      });
    return {
      Stacks: [
        {
          StackName: 'rsqlo',
          StackStatus: 'UPDATE_COMPLETE',
          CreationTime: new Date(),
          Outputs: Object.entries(outputs).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })),
        },
      ],
    };
  });
  const { dynamodb, documents } = localClients(endpoint);
  const clients = {
    cloudFormation,
    dynamodb,
    documents,
    // The harness mocks these classes: their requests reach its bus and log simulators.
    eventBridge: new EventBridgeClient(LOCAL_AWS),
    logs: new CloudWatchLogsClient(LOCAL_AWS),
  };
  return { deps: { connect: () => clients, pollMs: 100 }, cfn };
}

/** An Io capturing what a command writes (a terminal when `tty`). */
export function captureIo(tty = false): Io & { out: () => string; err: () => string } {
  const stdout = new PassThrough() as PassThrough & { isTTY?: boolean; rows?: number };
  const stderr = new PassThrough() as PassThrough & { isTTY?: boolean; rows?: number };
  if (tty) {
    stdout.isTTY = true;
    stdout.rows = 40;
  }
  let out = '';
  let err = '';
  stdout.on('data', (c) => {
    out += String(c);
  });
  stderr.on('data', (c) => {
    err += String(c);
  });
  return { stdout, stderr, out: () => out, err: () => err };
}

/** Runs `rsqlo <command> <argv...>` (argv should hold --aws) against the harness's stack. */
export async function rsqloAws(
  deps: AwsCliDeps,
  command: string,
  argv: string[],
  opts: { tty?: boolean } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = captureIo(opts.tty);
  const code = await awsCommand(command, argv, io, deps);
  return { code, stdout: io.out(), stderr: io.err() };
}

/**
 * A --json document with what differs between runtimes and runs replaced: ids, times, hosts and
 * log locations (compare.ts lists why each differs); everything else must be equal.
 */
export function shape(value: unknown): unknown {
  const IDS = new Set(['workflow_execution_id', 'restart_of', 'restarted_as']);
  const TIMES = new Set([
    'execution_start_ts',
    'execution_end_ts',
    'started_at',
    'finished_at',
    'not_before',
  ]);
  const PRESENCE = new Set(['instance_id', 'log_location']);
  const DROPPED = new Set(['definition_source', 'ssm_command_id']);
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (typeof v !== 'object' || v === null) return v;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) {
      if (DROPPED.has(k)) continue;
      if (IDS.has(k)) out[k] = x === null || x === undefined ? x : '<id>';
      else if (TIMES.has(k)) out[k] = x === null ? null : '<time>';
      else if (PRESENCE.has(k)) out[k] = x === null ? null : `<${k}>`;
      else out[k] = walk(x);
    }
    return out;
  };
  return walk(value);
}
