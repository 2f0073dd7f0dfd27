import { z } from 'zod';
import { DEFAULT_LOG_GROUP } from '../runtime/aws/cloudwatch-logs.js';
import { DEFAULT_TABLE_PREFIX } from '../runtime/aws/tables.js';

/**
 * The app's parameters, read from the CDK context (`cdk.json` or `-c key=value`). The seed's
 * names are accepted unchanged (`ec2_instance_id`, `redshift_secret_id`, `rsql_script_path`,
 * `rsql_log_path`), at the top level of the context or inside the seed's `environment` object.
 * Everything is checked at synth; an error names the context key and says what is wrong.
 */
export interface RsqloContext {
  /** CloudFormation stack name. Default `rsqlo`. */
  stackName: string;
  /** EC2 instances that may run jobs (may be empty when `agentInstanceTag` is set). */
  agentInstanceIds: string[];
  /** `key=value`: instances carrying this tag may run jobs (alternative to, or besides, the ids). */
  agentInstanceTag: { key: string; value: string } | undefined;
  /** Name or ARN of the Secrets Manager secret holding the Redshift credentials. */
  redshiftSecretId: string;
  /** Absolute folder on the agent hosts holding the RSQL scripts. */
  rsqlScriptPath: string;
  /** Absolute folder on the agent hosts for the job log files. */
  rsqlLogPath: string;
  /** Address subscribed to the alert topic; no subscription when absent. */
  alertEmail: string | undefined;
  /** Folder (relative to the repository root, or absolute) whose workflow definitions are deployed. */
  workflowsPath: string | undefined;
  /** Prefix of the physical DynamoDB table names. Default `rsqlo` (runtime/aws/tables.ts). */
  tablePrefix: string;
  /** Accounts whose rules may subscribe to the bus (cross-account rule management). */
  allowSubscribeAccountIds: string[];
  /** Retention of every log group the stack creates. Default 90 days. */
  logRetentionDays: number;
  /** CloudWatch Logs group of the job logs. Default `/ops/rsql-logs/` (the seed's). */
  jobLogGroup: string;
  /** Context keys that were given but do nothing here (the seed's `rsql_script_wrapper`). */
  ignored: string[];
}

/** Keys the app reads. Anything else in the context (CDK feature flags…) is not ours to judge. */
export const CONTEXT_KEYS = [
  'stack_name',
  'ec2_instance_id',
  'agent_instance_tag',
  'redshift_secret_id',
  'rsql_script_path',
  'rsql_log_path',
  'alert_email',
  'workflows_path',
  'table_prefix',
  'allow_subscribe_account_ids',
  'log_retention_days',
  'job_log_group',
] as const;
export type ContextKey = (typeof CONTEXT_KEYS)[number];

/** Seed keys that rsqlo accepts but does not need (its agent replaces the seed's wrapper script). */
export const IGNORED_SEED_KEYS = ['rsql_script_wrapper'] as const;

/** The retention periods CloudWatch Logs accepts, in days. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

export class ContextError extends Error {
  override name = 'ContextError';
}

const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;
const ACCOUNT_ID = /^[0-9]{12}$/;

/** A list given as a JSON array, a comma-separated string (`-c key=a,b`) or a single string. */
const stringList = (what: string) =>
  z.preprocess(
    (v) => {
      if (typeof v !== 'string') return v;
      const t = v.trim();
      if (t.startsWith('[')) {
        try {
          return JSON.parse(t);
        } catch {
          return v;
        }
      }
      return t === '' ? [] : t.split(',').map((s) => s.trim());
    },
    z.array(z.string({ error: `each ${what} must be a string` }), {
      error: `must be a ${what}, a list of them, or a comma-separated string`,
    }),
  );

const absolutePath = z
  .string({ error: 'must be a string' })
  .min(1, { error: 'must not be empty' })
  .refine((p) => p.startsWith('/'), { error: 'must be an absolute path on the agent hosts (start with "/")' })
  .refine((p) => !/[\0\n]/.test(p), { error: 'must not contain NUL or newline characters' });

const SCHEMA = z.object({
  stack_name: z
    .string({ error: 'must be a string' })
    .regex(/^[A-Za-z][A-Za-z0-9-]{0,63}$/, {
      error: 'must start with a letter and contain only letters, digits and "-" (at most 64)',
    })
    .default('rsqlo'),
  ec2_instance_id: stringList('EC2 instance id')
    .refine((ids) => ids.every((id) => INSTANCE_ID.test(id)), {
      error: (iss) => {
        const bad = (iss.input as string[]).find((id) => !INSTANCE_ID.test(id));
        return `${JSON.stringify(bad)} is not an EC2 instance id (i- followed by 8 or 17 hex digits, like i-0123456789abcdef0)`;
      },
    })
    .optional(),
  agent_instance_tag: z
    .string({ error: 'must be a string "key=value"' })
    .regex(/^[^=\s][^=]{0,127}=[^=]{1,256}$/, {
      error: 'must be "key=value" (an EC2 tag the agent instances carry, e.g. "rsqlo-agent=true")',
    })
    .refine((t) => !t.toLowerCase().startsWith('aws:'), {
      error: 'tag keys starting with "aws:" are reserved',
    })
    .optional(),
  redshift_secret_id: z
    .string({ error: 'must be the name or ARN of a Secrets Manager secret' })
    .regex(/^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:)?[A-Za-z0-9/_+=.@-]{1,512}$/, {
      error: 'must be the name or ARN of a Secrets Manager secret (letters, digits and /_+=.@-)',
    }),
  rsql_script_path: absolutePath,
  rsql_log_path: absolutePath,
  alert_email: z.email({ error: 'must be an email address' }).optional(),
  workflows_path: z
    .string({ error: 'must be a folder path' })
    .min(1, { error: 'must not be empty' })
    .optional(),
  table_prefix: z
    .string({ error: 'must be a string' })
    .regex(/^[A-Za-z0-9_.-]{1,200}$/, {
      error: 'must be 1-200 letters, digits, "_", "." or "-" (DynamoDB table name characters)',
    })
    .default(DEFAULT_TABLE_PREFIX),
  allow_subscribe_account_ids: stringList('AWS account id')
    .refine((ids) => ids.every((id) => ACCOUNT_ID.test(id)), {
      error: (iss) => {
        const bad = (iss.input as string[]).find((id) => !ACCOUNT_ID.test(id));
        return `${JSON.stringify(bad)} is not a 12-digit AWS account id`;
      },
    })
    .default([]),
  job_log_group: z
    .string({ error: 'must be a string' })
    .regex(/^[.\-_/#A-Za-z0-9]{1,512}$/, { error: 'must be a CloudWatch Logs group name' })
    .default(DEFAULT_LOG_GROUP),
  log_retention_days: z.preprocess(
    (v) => (typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v),
    z
      .number({ error: 'must be a number of days' })
      .refine((d) => (LOG_RETENTION_DAYS as readonly number[]).includes(d), {
        error: `must be one of the CloudWatch Logs retention periods: ${LOG_RETENTION_DAYS.join(', ')}`,
      })
      .default(90),
  ),
});

/**
 * Parses the context. `lookup` reads one key (`app.node.tryGetContext`). Keys may also sit in the
 * seed's `environment` object; a key given both ways with different values is an error.
 */
export function parseContext(lookup: (key: string) => unknown): RsqloContext {
  const envObject = lookup('environment');
  if (
    envObject !== undefined &&
    (envObject === null || typeof envObject !== 'object' || Array.isArray(envObject))
  )
    throw new ContextError(
      'context "environment": must be an object of parameters (the seed\'s cdk.json layout)',
    );
  const seed = (envObject ?? {}) as Record<string, unknown>;

  const raw: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const key of CONTEXT_KEYS) {
    const top = lookup(key);
    const nested = seed[key];
    if (top !== undefined && nested !== undefined && JSON.stringify(top) !== JSON.stringify(nested))
      problems.push(
        `context "${key}": given both at the top level and in "environment" with different values`,
      );
    const v = top ?? nested;
    if (v !== undefined && v !== null && v !== '') raw[key] = v;
  }
  for (const key of Object.keys(seed)) {
    if (
      !(CONTEXT_KEYS as readonly string[]).includes(key) &&
      !(IGNORED_SEED_KEYS as readonly string[]).includes(key)
    )
      problems.push(
        `context "environment.${key}": unknown parameter (known: ${[...CONTEXT_KEYS, ...IGNORED_SEED_KEYS].join(', ')})`,
      );
  }

  const parsed = SCHEMA.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = String(issue.path[0] ?? '(context)');
      const message = issue.code === 'invalid_type' && raw[key] === undefined ? 'is required' : issue.message;
      problems.push(`context "${key}": ${message}`);
    }
  }
  if (problems.length || !parsed.success) throw new ContextError(formatProblems(problems));

  const c = parsed.data;
  const ids = [...new Set(c.ec2_instance_id ?? [])];
  if (ids.length === 0 && !c.agent_instance_tag)
    throw new ContextError(
      formatProblems([
        'context "ec2_instance_id": give the agent instances as "ec2_instance_id" (an id or a list) or "agent_instance_tag" ("key=value")',
      ]),
    );
  const [tagKey, tagValue] = c.agent_instance_tag ? splitTag(c.agent_instance_tag) : [];
  return {
    stackName: c.stack_name,
    agentInstanceIds: ids,
    agentInstanceTag:
      tagKey !== undefined && tagValue !== undefined ? { key: tagKey, value: tagValue } : undefined,
    redshiftSecretId: c.redshift_secret_id,
    rsqlScriptPath: c.rsql_script_path,
    rsqlLogPath: c.rsql_log_path,
    alertEmail: c.alert_email,
    workflowsPath: c.workflows_path,
    tablePrefix: c.table_prefix,
    allowSubscribeAccountIds: [...new Set(c.allow_subscribe_account_ids)],
    logRetentionDays: c.log_retention_days,
    jobLogGroup: c.job_log_group,
    ignored: IGNORED_SEED_KEYS.filter((k) => seed[k] !== undefined || lookup(k) !== undefined),
  };
}

function splitTag(tag: string): [string, string] {
  const i = tag.indexOf('=');
  return [tag.slice(0, i), tag.slice(i + 1)];
}

function formatProblems(problems: string[]): string {
  return `invalid CDK context (cdk.json or -c key=value):\n${problems.map((p) => `  ${p}`).join('\n')}`;
}
