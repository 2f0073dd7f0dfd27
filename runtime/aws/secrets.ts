/**
 * The Redshift credentials the agent puts in each job's environment (ARCHITECTURE.md §4), read from Secrets
 * Manager: the secret the seed's `redshift_secret_id` names, in the shape RDS and Redshift secrets
 * have (`username`, `password`, `host`, `port`, `dbname`, plus keys we ignore such as `engine`).
 *
 * Values never leave this module except as the returned object: errors name the secret and the
 * missing or malformed keys, never a value, and never echo the secret text (JSON.parse's own
 * messages quote the input, so they are not passed on).
 */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import type { RetryOptions } from './retry.js';
import { isTransientAwsError, retryTransient, rootError } from './task-callbacks.js';

/** The keys the agent needs; others (engine, dbClusterIdentifier…) are ignored. */
export const RedshiftSecret = z.object({
  username: z.string().min(1),
  password: z.string().min(1),
  host: z.string().min(1),
  port: z.union([
    z.number().int().min(1).max(65_535),
    z
      .string()
      .regex(/^[0-9]{1,5}$/)
      .transform(Number)
      .pipe(z.number().int().min(1).max(65_535)),
  ]),
  dbname: z.string().min(1),
});
/** Parsed credentials; `port` is always a number. */
export type RedshiftCredentials = z.infer<typeof RedshiftSecret>;

/** The secret could not be read or does not have the expected shape. The message holds no value. */
export class RedshiftSecretError extends Error {
  override name = 'RedshiftSecretError';
  constructor(
    message: string,
    /** Whether trying again later may help (throttling, network); false for a bad secret. */
    readonly transient = false,
  ) {
    super(message);
  }
}

/** Describes the problems of a secret by key name only (zod's own messages may quote the input). */
function describeIssues(secretId: string, error: z.ZodError): string {
  const missing: string[] = [];
  const invalid: string[] = [];
  for (const issue of error.issues) {
    const key = String(issue.path[0] ?? '(root)');
    if (issue.code === 'invalid_type' && issue.input === undefined) missing.push(key);
    else invalid.push(key);
  }
  const parts: string[] = [];
  if (missing.length)
    parts.push(
      `missing key${missing.length > 1 ? 's' : ''} ${[...new Set(missing)].map((k) => `"${k}"`).join(', ')}`,
    );
  if (invalid.length) {
    parts.push(
      `invalid value for ${[...new Set(invalid)].map((k) => `"${k}"`).join(', ')} (expected non-empty strings; "port" a number 1-65535)`,
    );
  }
  return `secret ${secretId}: ${parts.join('; ')}`;
}

/** Parses a secret's text into credentials, or throws a RedshiftSecretError naming what is wrong. */
export function parseRedshiftSecret(secretId: string, text: string | undefined): RedshiftCredentials {
  if (text === undefined)
    throw new RedshiftSecretError(
      `secret ${secretId} has no SecretString (binary secrets are not supported)`,
    );
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new RedshiftSecretError(
      `secret ${secretId} is not a JSON object (expected username, password, host, port, dbname)`,
    );
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new RedshiftSecretError(
      `secret ${secretId} is not a JSON object (expected username, password, host, port, dbname)`,
    );
  const r = RedshiftSecret.safeParse(json);
  if (!r.success) throw new RedshiftSecretError(describeIssues(secretId, r.error));
  return r.data;
}

/**
 * The credentials as a job's environment: the names the seed's wrapper scripts use
 * (`rsql -h $HOST -U $USER -d $DB`, password in RSPASSWORD) and libpq's PG* names.
 */
export function credentialsEnv(c: RedshiftCredentials): Record<string, string> {
  const port = String(c.port);
  return {
    HOST: c.host,
    PORT: port,
    USER: c.username,
    DB: c.dbname,
    RSPASSWORD: c.password,
    PGHOST: c.host,
    PGPORT: port,
    PGUSER: c.username,
    PGDATABASE: c.dbname,
    PGPASSWORD: c.password,
  };
}

/** Where the agent gets credentials; {@link createSecretsReader} implements it on Secrets Manager. */
export interface SecretsReader {
  /** The secret's credentials, from the cache while fresh. */
  get(secretId: string): Promise<RedshiftCredentials>;
  /** Forgets cached values (e.g. after a login failure that suggests a rotation). */
  invalidate(secretId?: string): void;
}

export interface SecretsReaderDeps {
  client: SecretsManagerClient;
  /** How long a value is served from memory; default 5 minutes (rotations show up within that). */
  ttlMs?: number;
  /**
   * How long past its TTL a value may still be served when Secrets Manager cannot be reached
   * (throttling, network); default 1 hour. A job then still runs through a short outage.
   */
  maxStaleMs?: number;
  /** Default AGENT_RETRY (runtime/aws/task-callbacks.ts). */
  retry?: RetryOptions;
  now?: () => number;
}

/**
 * Reads secrets with a short in-memory cache (never on disk): one GetSecretValue per secret per
 * TTL, concurrent callers share one request.
 */
export function createSecretsReader(deps: SecretsReaderDeps): SecretsReader {
  const ttl = deps.ttlMs ?? 5 * 60_000;
  const maxStale = deps.maxStaleMs ?? 60 * 60_000;
  const now = deps.now ?? Date.now;
  const cache = new Map<string, { value: RedshiftCredentials; at: number }>();
  const inflight = new Map<string, Promise<RedshiftCredentials>>();

  async function fetch(secretId: string): Promise<RedshiftCredentials> {
    let text: string | undefined;
    try {
      const out = await retryTransient(
        'GetSecretValue',
        () => deps.client.send(new GetSecretValueCommand({ SecretId: secretId })),
        deps.retry,
      );
      text = out.SecretString;
    } catch (caught) {
      const e = rootError(caught) as { name?: string } | null;
      const transient = isTransientAwsError(caught);
      throw new RedshiftSecretError(
        `cannot read secret ${secretId}: ${e?.name ?? 'Error'}${transient ? ' (will try again)' : ''}`,
        transient,
      );
    }
    return parseRedshiftSecret(secretId, text);
  }

  return {
    async get(secretId) {
      const hit = cache.get(secretId);
      const t = now();
      if (hit && t - hit.at < ttl) return hit.value;
      let p = inflight.get(secretId);
      if (!p) {
        p = fetch(secretId).finally(() => inflight.delete(secretId));
        inflight.set(secretId, p);
      }
      try {
        const value = await p;
        cache.set(secretId, { value, at: now() });
        return value;
      } catch (err) {
        if (hit && err instanceof RedshiftSecretError && err.transient && t - hit.at < ttl + maxStale)
          return hit.value;
        throw err;
      }
    },
    invalidate(secretId) {
      if (secretId === undefined) cache.clear();
      else cache.delete(secretId);
    },
  };
}
