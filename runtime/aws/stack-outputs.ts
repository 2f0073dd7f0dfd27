/**
 * What an operator's command needs to reach a deployed stack: the names of its bus, tables and job
 * log group, read from the stack's CloudFormation outputs (infra/rsqlo-stack.ts declares them), and
 * the SDK clients to use them, created with the region and profile resolved as the AWS CLI resolves
 * them (the SDK's default provider chain: `--region`/`--profile` when given, else AWS_REGION /
 * AWS_PROFILE, then the shared config and credentials files). Nobody types a table name.
 */
import { CloudFormationClient, DescribeStacksCommand, type Stack } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** The stack the operator commands use when `--stack` is not given (infra/app.ts's default id). */
export const DEFAULT_STACK_NAME = 'rsqlo';

/**
 * The stack outputs the operator commands read, by the name infra/rsqlo-stack.ts gives them
 * (its CfnOutput ids). A test synthesizes the stack and checks every one is there.
 */
export const STACK_OUTPUTS = {
  eventBus: 'EventBusName',
  configTable: 'ConfigTableName',
  workflowAuditTable: 'WorkflowAuditTableName',
  jobAuditTable: 'JobAuditTableName',
  logGroup: 'JobLogGroupName',
} as const;

export type StackResourceName = keyof typeof STACK_OUTPUTS;
export type StackResources = Record<StackResourceName, string>;

/** The SDK clients an operator command uses against a stack. */
export interface OperatorClients {
  cloudFormation: CloudFormationClient;
  dynamodb: DynamoDBClient;
  /** lib-dynamodb over `dynamodb` (the repositories' client). */
  documents: DynamoDBDocumentClient;
  eventBridge: EventBridgeClient;
  logs: CloudWatchLogsClient;
}

/** Where to connect: both optional, resolved by the SDK as the AWS CLI does when absent. */
export interface OperatorConnection {
  region?: string;
  profile?: string;
}

/**
 * Creates the clients (no network until first use). Region and credentials: the SDK's default
 * provider chain, with `region` / `profile` taking precedence, as `aws --region/--profile` does.
 */
export function createOperatorClients(conn: OperatorConnection = {}): OperatorClients {
  const base = {
    ...(conn.region ? { region: conn.region } : {}),
    ...(conn.profile ? { profile: conn.profile } : {}),
  };
  const dynamodb = new DynamoDBClient(base);
  return {
    cloudFormation: new CloudFormationClient(base),
    dynamodb,
    documents: DynamoDBDocumentClient.from(dynamodb, {
      marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
    }),
    eventBridge: new EventBridgeClient(base),
    logs: new CloudWatchLogsClient(base),
  };
}

/** No region could be resolved (no --region, AWS_REGION or region in the profile). */
export class RegionMissingError extends Error {
  override name = 'RegionMissingError';
}

/** The stack does not exist in the region (or the caller may not describe it). */
export class StackNotFoundError extends Error {
  override name = 'StackNotFoundError';
}

/** The stack exists but lacks an output the command needs (deployed by an older rsqlo, say). */
export class StackOutputMissingError extends Error {
  override name = 'StackOutputMissingError';
}

/** The region the client resolved (for messages); a RegionMissingError when there is none. */
export async function resolvedRegion(client: CloudFormationClient): Promise<string> {
  try {
    const region = await client.config.region();
    if (region) return region;
  } catch {
    // below
  }
  throw new RegionMissingError(
    'no AWS region: pass --region, set AWS_REGION, or set a region in your AWS profile',
  );
}

/**
 * Reads the stack's outputs with one DescribeStacks and returns the named resources. A stack that
 * does not exist, or lacks one of the outputs, is an error naming the stack, the region and (for
 * an output) which one and what it holds. A stack that is being deleted or failed to create is
 * refused too: its resources are gone or were never made.
 */
export async function readStackResources<K extends StackResourceName>(
  client: CloudFormationClient,
  stackName: string,
  need: readonly K[],
): Promise<Pick<StackResources, K>> {
  const region = await resolvedRegion(client);
  let stacks: Stack[];
  try {
    stacks = (await client.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks ?? [];
  } catch (err) {
    // CloudFormation answers a missing stack with a ValidationError "Stack with id X does not exist".
    if (err instanceof Error && err.name === 'ValidationError' && /does not exist/.test(err.message))
      throw new StackNotFoundError(
        `no stack ${stackName} in ${region} (deploy it with cdk deploy, or pass --stack NAME / --region REGION)`,
      );
    throw err;
  }
  const stack = stacks[0];
  if (!stack)
    throw new StackNotFoundError(`no stack ${stackName} in ${region} (pass --stack NAME / --region REGION)`);
  const status = stack.StackStatus ?? '';
  if (/^(DELETE_|CREATE_FAILED$|ROLLBACK_COMPLETE$|ROLLBACK_FAILED$)/.test(status))
    throw new StackNotFoundError(
      `stack ${stackName} in ${region} is ${status}: its resources are not usable`,
    );
  const outputs = new Map((stack.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']));
  const out: Partial<StackResources> = {};
  const missing: string[] = [];
  for (const name of need) {
    const value = outputs.get(STACK_OUTPUTS[name]);
    if (value) out[name] = value;
    else missing.push(STACK_OUTPUTS[name]);
  }
  if (missing.length > 0)
    throw new StackOutputMissingError(
      `stack ${stackName} in ${region} has no output ${missing.join(', ')} (deployed by an older rsqlo? redeploy it)`,
    );
  return out as Pick<StackResources, K>;
}
