import { z } from 'zod';

/**
 * What the Lambda functions read from their environment, by variable name. The CDK app sets these
 * (from the resources it creates); each handler reads them once at module scope (its composition
 * root) and fails fast with a message naming the missing or malformed variable.
 */
export const ENV = {
  configTable: 'RSQLO_CONFIG_TABLE',
  workflowAuditTable: 'RSQLO_WORKFLOW_AUDIT_TABLE',
  jobAuditTable: 'RSQLO_JOB_AUDIT_TABLE',
  eventBus: 'RSQLO_EVENT_BUS',
  jobQueueUrl: 'RSQLO_JOB_QUEUE_URL',
  wrapperStateMachineArn: 'RSQLO_WRAPPER_STATE_MACHINE_ARN',
  ssmDocument: 'RSQLO_SSM_DOCUMENT',
  /** Comma-separated EC2 instance ids the dispatcher may send commands to. */
  agentInstanceIds: 'RSQLO_AGENT_INSTANCE_IDS',
  /** `key=value`: instances carrying this tag are agents (instead of, or besides, the ids). */
  agentTag: 'RSQLO_AGENT_TAG',
  logGroup: 'RSQLO_LOG_GROUP',
  /** DynamoDB table the idempotency utility writes to (handlers with side effects outside our tables). */
  idempotencyTable: 'RSQLO_IDEMPOTENCY_TABLE',
  /** The SNS topic the notifier publishes readable alerts to. */
  alertTopicArn: 'RSQLO_ALERT_TOPIC_ARN',
  /** The schedule group of the run deadline checks (one EventBridge Scheduler schedule per run). */
  runWatchGroup: 'RSQLO_RUN_WATCH_GROUP',
  /** The run watchdog function the checks invoke. */
  runWatchTargetArn: 'RSQLO_RUN_WATCH_TARGET_ARN',
  /** The role EventBridge Scheduler assumes to invoke it. */
  runWatchRoleArn: 'RSQLO_RUN_WATCH_ROLE_ARN',
  /** The dead-letter queue of checks that could not be invoked. */
  runWatchDeadLetterArn: 'RSQLO_RUN_WATCH_DLQ_ARN',
  /** The version (SHA-256) of the scripts the stack ships (infra/constructs/script-assets.ts). */
  scriptVersion: 'RSQLO_SCRIPT_VERSION',
  /** Comma-separated ids of the workflows whose scripts that version holds. */
  scriptWorkflows: 'RSQLO_SCRIPT_WORKFLOWS',
} as const;

export type SettingName = keyof typeof ENV;

export class SettingsError extends Error {
  override name = 'SettingsError';
}

const nonEmpty = z.string().min(1);

const SCHEMAS: Record<SettingName, z.ZodType<string>> = {
  configTable: nonEmpty,
  workflowAuditTable: nonEmpty,
  jobAuditTable: nonEmpty,
  eventBus: nonEmpty,
  jobQueueUrl: z.string().url(),
  wrapperStateMachineArn: z
    .string()
    .regex(/^arn:aws[a-z-]*:states:/, 'must be a Step Functions state machine ARN'),
  ssmDocument: nonEmpty,
  agentInstanceIds: z
    .string()
    .regex(/^(i-[0-9a-f]{8,17})(,i-[0-9a-f]{8,17})*$/, 'must be comma-separated instance ids'),
  agentTag: z.string().regex(/^[^=]+=.+$/, 'must be key=value'),
  logGroup: nonEmpty,
  idempotencyTable: nonEmpty,
  alertTopicArn: z
    .string()
    .regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w.-]{1,256}$/, 'must be an SNS topic ARN'),
  // Scheduler's ScheduleGroupName: 1–64 of [0-9a-zA-Z-_.] (its API model).
  runWatchGroup: z.string().regex(/^[0-9a-zA-Z_.-]{1,64}$/, 'must be a schedule group name'),
  runWatchTargetArn: z.string().regex(/^arn:aws[a-z-]*:lambda:/, 'must be a Lambda function ARN'),
  // Scheduler's RoleArn pattern (its API model).
  runWatchRoleArn: z
    .string()
    .regex(/^arn:aws(-[a-z]+)?:iam::\d{12}:role\/[\w+=,.@/-]+$/, 'must be an IAM role ARN'),
  // Scheduler's DeadLetterConfig.Arn pattern (its API model).
  runWatchDeadLetterArn: z
    .string()
    .regex(/^arn:aws(-[a-z]+)?:sqs:[a-z0-9-]+:\d{12}:[a-zA-Z0-9_-]+$/, 'must be an SQS queue ARN'),
  scriptVersion: z.string().regex(/^[0-9a-f]{64}$/, 'must be a SHA-256 in hex'),
  scriptWorkflows: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+(,[A-Za-z0-9_.-]+)*$/, 'must be comma-separated workflow ids'),
};

/**
 * Reads the named settings from the environment; throws one SettingsError listing every missing or
 * malformed variable. `optional` ones may be absent (then undefined).
 */
export function readSettings<R extends SettingName, O extends SettingName = never>(
  required: readonly R[],
  optional: readonly O[] = [],
  env: NodeJS.ProcessEnv = process.env,
): Record<R, string> & Partial<Record<O, string>> {
  const out: Record<string, string> = {};
  const problems: string[] = [];
  for (const name of [...required, ...optional]) {
    const variable = ENV[name];
    const value = env[variable];
    if (value === undefined || value === '') {
      if ((required as readonly string[]).includes(name)) problems.push(`${variable} is not set`);
      continue;
    }
    const r = SCHEMAS[name].safeParse(value);
    if (!r.success) problems.push(`${variable}: ${r.error.issues[0]?.message ?? 'invalid'}`);
    else out[name] = r.data;
  }
  if (problems.length) throw new SettingsError(`configuration error: ${problems.join('; ')}`);
  return out as Record<R, string> & Partial<Record<O, string>>;
}
