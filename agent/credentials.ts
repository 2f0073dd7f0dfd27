/**
 * The database credentials of the EC2 agent's jobs (the port; agent/main.ts implements it on
 * Secrets Manager).
 */

/**
 * The database credentials for jobs: variables for their environment, and the secret values the
 * agent blanks wherever it reports text. Implemented on Secrets Manager in agent/main.ts.
 */
export interface CredentialSource {
  get(): Promise<{ env: Record<string, string>; secrets: string[] }>;
}
