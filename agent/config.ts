/**
 * The agent daemon's configuration file (`/etc/rsqlo/agent.json`, written by
 * `agent/install/install.sh`). Parsed with zod; every problem is reported with its JSON path, and
 * unknown keys are refused (a typo would otherwise silently fall back to a default).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ENV_NAME_PATTERN, formatPath, isReservedEnvName } from '../contracts/common.js';
import { DEFAULT_LOG_GROUP } from '../runtime/aws/cloudwatch-logs.js';

/** Where the daemon and `submit` look for the config unless told otherwise. */
export const DEFAULT_CONFIG_PATH = '/etc/rsqlo/agent.json';
/** Environment variable naming another config file (used by `submit`, which SSM runs without flags). */
export const CONFIG_ENV = 'RSQLO_AGENT_CONFIG';
/** The spool's default location. */
export const DEFAULT_SPOOL_DIR = '/var/spool/rsqlo';

/** "is required" for a missing key, else `message`. */
const typeError = (message: string) => (iss: { input?: unknown }) =>
  iss.input === undefined ? 'is required' : message;
const str = () => z.string({ error: typeError('must be a string') });

const absolutePath = str()
  .min(1, { error: 'must not be empty' })
  .refine((p) => path.isAbsolute(p), { error: 'must be an absolute path' });

const num = () => z.number({ error: typeError('must be a number') });
const positive = num().positive({ error: 'must be greater than 0' });

export const AgentConfigSchema = z.strictObject(
  {
    /** AWS region of the bus, the state machine, the log group and the secret. */
    region: str().regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, { error: 'must be an AWS region such as "us-east-1"' }),
    /** The rsqlo EventBridge bus (name or ARN). */
    eventBusName: str().min(1, { error: 'must not be empty' }),
    /** CloudWatch Logs group for job logs; default `/ops/rsql-logs/`. */
    logGroup: str()
      .regex(/^[.\-_/#A-Za-z0-9]{1,512}$/, { error: 'must be a CloudWatch Logs group name' })
      .default(DEFAULT_LOG_GROUP),
    /** Secrets Manager secret with the Redshift credentials (the seed's `redshift_secret_id`); none: jobs get none. */
    redshiftSecretId: str().min(1, { error: 'must not be empty' }).optional(),
    /**
     * How long the secret's value is served from memory before Secrets Manager is asked again;
     * default 900 (15 minutes). A job refused by the database (authentication failed) makes the
     * next job read it again at once. AWS's caching clients default to 3600.
     */
    secretRefreshSeconds: positive.default(900),
    /** Where scripts live (the seed's `rsql_script_path`); job script names resolve under it. */
    scriptRoot: absolutePath,
    /**
     * The scripts the stack ships (infra/constructs/script-assets.ts): a run that carries a
     * `script_version` runs its jobs from that version, fetched from `s3://<bucket>/<keyPrefix><version>.json`
     * and kept under `cacheDir` (default `<spoolDir>/scripts`). Absent: every job runs from `scriptRoot`.
     */
    shippedScripts: z
      .strictObject({
        bucket: str().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, { error: 'must be an S3 bucket name' }),
        keyPrefix: str().regex(/^[A-Za-z0-9!_.*()/-]*$/, { error: 'must be an S3 key prefix' }),
        cacheDir: absolutePath.optional(),
      })
      .optional(),
    /** Where job logs are written, one file per attempt (the seed's `rsql_log_path`). */
    logDir: absolutePath,
    /** The daemon's spool: submitted jobs, their state and pending reports; default /var/spool/rsqlo. */
    spoolDir: absolutePath.default(DEFAULT_SPOOL_DIR),
    /** Most jobs running at once on this host; default 4. More wait in the spool. */
    maxConcurrency: num()
      .int({ error: 'must be an integer' })
      .min(1, { error: 'must be at least 1' })
      .max(1024, { error: 'must be at most 1024' })
      .default(4),
    /** How `.sql` scripts run; default `["rsql"]` (the real RSQL on EC2). */
    rsqlCommand: z
      .array(z.string().min(1), { error: 'must be an array of strings' })
      .min(1, { error: 'must name a program' })
      .default(['rsql']),
    /** Seconds between heartbeats; default a third of each job's heartbeat_seconds. */
    heartbeatEverySeconds: positive.optional(),
    /** Seconds between log shipments of a running job; default 5. */
    logShipEverySeconds: positive.default(5),
    /** Seconds between SIGTERM and SIGKILL when a job is killed; default 10. */
    killGraceSeconds: num().min(0, { error: 'must not be negative' }).default(10),
    /** This host's id in events; default: what SSM says (AWS_SSM_INSTANCE_ID), else the host name. */
    instanceId: z.string().min(1).optional(),
    /** PATH of the jobs; default `/usr/local/bin:/usr/bin:/bin`. */
    path: z.string().min(1).default('/usr/local/bin:/usr/bin:/bin'),
    /** Extra variables every job gets (ODBC settings for RSQL, PGSSLMODE…); no reserved names. */
    env: z
      .record(z.string(), z.string({ error: 'values must be strings' }))
      .superRefine((env, ctx) => {
        for (const name of Object.keys(env)) {
          if (!ENV_NAME_PATTERN.test(name))
            ctx.addIssue({
              code: 'custom',
              path: [name],
              message: 'is not a valid environment variable name',
            });
          else if (isReservedEnvName(name) || name === 'PORT')
            ctx.addIssue({ code: 'custom', path: [name], message: 'is set by rsqlo itself' });
        }
      })
      .default({}),
    /** How long finished jobs are remembered (a redelivered command stays a no-op); default 168 h. */
    doneRetentionHours: positive.default(168),
    /** On SIGTERM, how long to keep delivering reports and logs before exiting; default 5 s. */
    shutdownFlushSeconds: num().min(0, { error: 'must not be negative' }).default(5),
  },
  {
    error: (iss) =>
      iss.code === 'unrecognized_keys'
        ? `unknown key${iss.keys.length > 1 ? 's' : ''} ${iss.keys.join(', ')}`
        : undefined,
  },
);

/** The agent configuration with defaults applied. */
export type AgentConfig = z.infer<typeof AgentConfigSchema>;
/** The configuration as written in the file (defaults optional). */
export type AgentConfigInput = z.input<typeof AgentConfigSchema>;

/** The config file is missing, not JSON, or invalid; the message says which and where. */
export class AgentConfigError extends Error {
  override name = 'AgentConfigError';
}

/** Validates a parsed config; throws AgentConfigError listing every problem by JSON path. */
export function parseAgentConfig(value: unknown, source = 'agent config'): AgentConfig {
  const r = AgentConfigSchema.safeParse(value);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`);
  throw new AgentConfigError(`${source}: ${problems.join('; ')}`);
}

/** Reads and validates the config file. */
export function loadAgentConfig(file: string): AgentConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new AgentConfigError(
      code === 'ENOENT'
        ? `agent config ${file} does not exist (install the agent with agent/install/install.sh, or pass --config)`
        : `cannot read agent config ${file}: ${code ?? String(err)}`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new AgentConfigError(`agent config ${file} is not valid JSON: ${(err as Error).message}`);
  }
  return parseAgentConfig(json, `agent config ${file}`);
}

/** The config file to use: the flag, else $RSQLO_AGENT_CONFIG, else /etc/rsqlo/agent.json. */
export function configPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? env[CONFIG_ENV] ?? DEFAULT_CONFIG_PATH;
}
