import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseAgentConfig } from './config.js';
import { isAuthFailure } from './credentials.js';
import { awsPorts } from './main.js';
import { TEST_PASSWORD, TEST_SECRET } from './testing/fixtures.js';

const sm = mockClient(SecretsManagerClient);
const quiet = { info() {}, warn() {}, error() {} };

const config = (over: Record<string, unknown> = {}) =>
  parseAgentConfig({
    region: 'us-east-1',
    eventBusName: 'rsqlo',
    redshiftSecretId: 'blog-secret',
    scriptRoot: '/opt/scripts',
    logDir: '/var/log/rsqlo',
    ...over,
  });

describe('the agent’s database credentials', () => {
  let t: number;
  const now = () => t;
  const reads = () => sm.commandCalls(GetSecretValueCommand).length;

  beforeEach(() => {
    sm.reset();
    sm.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify(TEST_SECRET) });
    t = Date.parse('2025-03-01T00:00:00Z');
  });
  afterEach(() => sm.reset());

  it('reads the secret once per 15 minutes by default, however many jobs ask, concurrently or not', async () => {
    const c = awsPorts(config(), { log: quiet, now }).credentials;
    if (!c) throw new Error('no credentials');
    const first = await Promise.all(Array.from({ length: 20 }, () => c.get()));
    expect(reads()).toBe(1);
    expect(first[0]?.env.PGPASSWORD).toBe(TEST_PASSWORD);
    expect(first[0]?.secrets).toEqual([TEST_PASSWORD]);
    for (let i = 0; i < 30; i++) {
      t += 29_000; // 30 jobs over 14.5 minutes
      await c.get();
    }
    expect(reads()).toBe(1);
    t = Date.parse('2025-03-01T00:15:00Z');
    await c.get();
    expect(reads()).toBe(2);
    expect(sm.commandCalls(GetSecretValueCommand).map((x) => x.args[0].input)).toEqual([
      { SecretId: 'blog-secret' },
      { SecretId: 'blog-secret' },
    ]);
  });

  it('follows secretRefreshSeconds, and reads again at once after refresh()', async () => {
    const c = awsPorts(config({ secretRefreshSeconds: 60 }), { log: quiet, now }).credentials;
    if (!c?.refresh) throw new Error('no refreshable credentials');
    await c.get();
    t += 59_999;
    await c.get();
    expect(reads()).toBe(1);
    t += 1;
    await c.get();
    expect(reads()).toBe(2);
    c.refresh();
    await c.get();
    expect(reads()).toBe(3);
    await c.get();
    expect(reads()).toBe(3);
  });

  it('has no credentials without a secret id, and makes no call', () => {
    const cfg = config();
    delete (cfg as { redshiftSecretId?: string }).redshiftSecretId;
    expect(awsPorts(cfg, { log: quiet }).credentials).toBeUndefined();
    expect(reads()).toBe(0);
  });

  it('refuses a secretRefreshSeconds that is not a positive number', () => {
    expect(() => config({ secretRefreshSeconds: 0 })).toThrow(/secretRefreshSeconds/);
    expect(() => config({ secretRefreshSeconds: '900' })).toThrow(/secretRefreshSeconds/);
  });
});

describe('isAuthFailure', () => {
  it('knows the database refusing a login, as psql, our rsql, ODBC and JDBC print it', () => {
    for (const text of [
      'psql: error: connection to server at "cluster.example" (10.0.0.1), port 5439 failed: FATAL:  password authentication failed for user "etl_user"',
      'rsql: password authentication failed for user "etl_user"',
      '[Amazon][Amazon Redshift] (30) Error occurred while trying to connect: [SQLState 28000] FATAL:  password authentication failed for user "etl_user"',
      'ERROR: [Amazon](500150) Error setting/closing connection: SQLState: 28000',
      'FATAL: 28P01: authentication failed',
    ])
      expect(isAuthFailure(text), text).toBe(true);
  });

  it('says nothing of other failures', () => {
    for (const text of [
      'ERROR: relation "rsql_blog.missing" does not exist',
      'ERROR: permission denied for relation sales (SQLState 42501)',
      'could not connect to server: Connection timed out',
      'loaded 28000 rows',
      '',
      null,
      undefined,
    ])
      expect(isAuthFailure(text), String(text)).toBe(false);
  });
});
