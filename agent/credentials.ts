/**
 * The database credentials of the EC2 agent's jobs. They come from the Secrets Manager secret the
 * config names (`redshiftSecretId`), read through runtime/aws/secrets.ts's in-memory cache: one
 * GetSecretValue per secret per `secretRefreshSeconds` (default 15 minutes) however many jobs run,
 * concurrent jobs sharing one request, never written to disk. AWS's own caching clients
 * (aws-secretsmanager-caching) work the same way with a 1-hour `secret_refresh_interval`; ours is
 * shorter because a rotated password reaches jobs only when the cache refreshes.
 *
 * A job that fails because the database refused its password (a rotation since the value was
 * cached) makes the next job read the secret again at once ({@link CredentialSource.refresh}),
 * rather than failing for the rest of the interval. A wrong secret is then read once per failing
 * job, which costs what the job itself costs; nothing retries on its own.
 */
import { credentialsEnv, type SecretsReader } from '../runtime/aws/secrets.js';

/**
 * The database credentials for jobs: variables for their environment, and the secret values the
 * agent blanks wherever it reports text. Implemented on Secrets Manager by {@link secretCredentials}.
 */
export interface CredentialSource {
  get(): Promise<{ env: Record<string, string>; secrets: string[] }>;
  /**
   * The database refused the credentials a job was given: forget the cached value, so the next
   * {@link get} reads the secret again (it may have been rotated). Default: nothing to forget.
   */
  refresh?(): void;
}

/**
 * Whether a job's error text says the database refused its login: PostgreSQL's and Redshift's
 * "password authentication failed for user …" (SQLSTATE 28P01), or an ODBC / JDBC message naming
 * the SQLSTATE of an authorization failure (28000, 28P01). Other failures (a bad query, a lost
 * connection) say nothing about the secret.
 */
export function isAuthFailure(text: string | null | undefined): boolean {
  if (!text) return false;
  return /password authentication failed|\b28P01\b|SQL ?State\W{0,3}28000\b/i.test(text);
}

/** The credentials of `secretId` through `reader` (its cache), as a job's environment. */
export function secretCredentials(reader: SecretsReader, secretId: string): CredentialSource {
  return {
    async get() {
      const c = await reader.get(secretId);
      return { env: credentialsEnv(c), secrets: [c.password] };
    },
    refresh() {
      reader.invalidate(secretId);
    },
  };
}
