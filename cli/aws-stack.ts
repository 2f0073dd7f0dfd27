/**
 * The commands' side of a deployed stack (`--aws`): which stack (`--stack`, default `rsqlo`),
 * region and profile (as the AWS CLI resolves them), the names read from the stack's outputs, and
 * the same repositories and publisher the services use (runtime/aws/*) over them. A composition
 * root: production passes nothing and gets the SDK's clients; tests pass clients wired to the
 * emulators (AwsCliDeps).
 */

import type { createStsClient } from '../runtime/aws/caller-identity.js';
import { createCloudWatchLogReader } from '../runtime/aws/cloudwatch-log-view.js';
import { createDynamoDefinitionRepository } from '../runtime/aws/dynamo-definitions.js';
import { createDynamoJobRepository } from '../runtime/aws/dynamo-jobs.js';
import { createDynamoRunView } from '../runtime/aws/dynamo-run-view.js';
import { createDynamoRunRepository } from '../runtime/aws/dynamo-runs.js';
import { createEffectsSink } from '../runtime/aws/effects.js';
import { createEventBridgePublisher } from '../runtime/aws/eventbridge-publisher.js';
import {
  createOperatorClients,
  DEFAULT_STACK_NAME,
  type OperatorClients,
  type OperatorConnection,
  RegionMissingError,
  readStackResources,
  resolvedRegion,
  StackNotFoundError,
  StackOutputMissingError,
  type StackResourceName,
  type StackResources,
} from '../runtime/aws/stack-outputs.js';
import { UsageError } from './command-kit.js';
import { EXIT, type Io } from './drive.js';

/** What the AWS commands are given besides their arguments (tests inject clients here). */
export interface AwsCliDeps {
  /** Default: the SDK's clients for the --region / --profile given (createOperatorClients). */
  connect?: (conn: OperatorConnection) => OperatorClients;
  /** How often a followed run or log is read again (default 1000 ms: two reads a second at most). */
  pollMs?: number;
  /** How long `run --aws` waits for the starter to create the run (default 60 s). */
  startTimeoutMs?: number;
  /** The STS client for `iam:<arn>` of operator requests (default: the SDK's, same region/profile). */
  sts?: typeof createStsClient;
}

/** The options every `--aws` command takes. */
export const AWS_OPTIONS = {
  aws: { type: 'boolean' },
  stack: { type: 'string' },
  region: { type: 'string' },
  profile: { type: 'string' },
} as const;

/** One stack, connected: its resources' names and the adapters over them. */
export interface StackTarget {
  stack: string;
  region: string;
  resources: StackResources;
  clients: OperatorClients;
  /** ` --aws --stack S` (as typed, for suggested commands). */
  flags: string;
  definitions: ReturnType<typeof createDynamoDefinitionRepository>;
  runs: ReturnType<typeof createDynamoRunRepository>;
  jobs: ReturnType<typeof createDynamoJobRepository>;
  events: ReturnType<typeof createEventBridgePublisher>;
  view: ReturnType<typeof createDynamoRunView>;
  logs: ReturnType<typeof createCloudWatchLogReader>;
}

const STACK_NAME = /^[A-Za-z][A-Za-z0-9-]{0,127}$/;

/**
 * Connects to the stack the options name: reads its outputs (one DescribeStacks) and composes the
 * adapters. A bad stack name is a UsageError; a missing stack or output is the error
 * runtime/aws/stack-outputs.ts raises (naming the stack, region and output).
 */
export async function connectStack(
  values: { stack?: unknown; region?: unknown; profile?: unknown },
  deps: AwsCliDeps,
  need: readonly StackResourceName[] = [
    'eventBus',
    'configTable',
    'workflowAuditTable',
    'jobAuditTable',
    'logGroup',
  ],
): Promise<StackTarget> {
  const stack = (values.stack as string | undefined) ?? DEFAULT_STACK_NAME;
  if (!STACK_NAME.test(stack))
    throw new UsageError(
      `--stack: "${stack}" is not a stack name (a letter, then letters, digits and "-", at most 128)`,
    );
  const conn: OperatorConnection = {
    ...(typeof values.region === 'string' ? { region: values.region } : {}),
    ...(typeof values.profile === 'string' ? { profile: values.profile } : {}),
  };
  const clients = (deps.connect ?? createOperatorClients)(conn);
  const region = await resolvedRegion(clients.cloudFormation);
  const got = await readStackResources(clients.cloudFormation, stack, need);
  const resources = got as StackResources;
  const events = createEventBridgePublisher({
    client: clients.eventBridge,
    eventBusName: resources.eventBus,
  });
  // Reads only: the repositories' writes are never used here, so their effects go nowhere.
  const effects = createEffectsSink({});
  const tables = {
    workflowAudit: resources.workflowAuditTable,
    jobAudit: resources.jobAuditTable,
    config: resources.configTable,
  };
  const flags = [
    ' --aws',
    stack !== DEFAULT_STACK_NAME ? ` --stack ${stack}` : '',
    conn.region ? ` --region ${conn.region}` : '',
    conn.profile ? ` --profile ${conn.profile}` : '',
  ].join('');
  return {
    stack,
    region,
    resources,
    clients,
    flags,
    definitions: createDynamoDefinitionRepository({ client: clients.documents, tableName: tables.config }),
    runs: createDynamoRunRepository({ client: clients.documents, tables, effects }),
    jobs: createDynamoJobRepository({
      client: clients.documents,
      tableName: tables.jobAudit,
      effects,
      clock: { now: () => new Date() },
    }),
    events,
    view: createDynamoRunView({
      client: clients.documents,
      tables: { workflowAudit: tables.workflowAudit, config: tables.config },
    }),
    logs: createCloudWatchLogReader(clients.logs),
  };
}

/** Where a run lives, for messages: "in stack S (region)". */
export function where(t: StackTarget): string {
  return `in stack ${t.stack} (${t.region})`;
}

/**
 * Runs a command against a stack, saying a missing stack, output or region as one line (exit 2:
 * nothing was requested or written).
 */
export async function stackCommand(io: Io, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (err) {
    if (
      err instanceof StackNotFoundError ||
      err instanceof StackOutputMissingError ||
      err instanceof RegionMissingError
    ) {
      io.stderr.write(`rsqlo: ${err.message}\n`);
      return EXIT.usage;
    }
    throw err;
  }
}
