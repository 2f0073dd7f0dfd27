import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { createSecretsReader, credentialsEnv, parseRedshiftSecret, RedshiftSecretError } from './secrets.js';

const PASSWORD = 'pa55-W0rd!sup3r';
const SECRET = {
  username: 'etl_user',
  password: PASSWORD,
  engine: 'redshift',
  host: 'cluster.abc.us-east-1.redshift.amazonaws.com',
  port: 5439,
  dbClusterIdentifier: 'cluster',
  dbname: 'dev',
};

const sm = mockClient(SecretsManagerClient);

describe('parseRedshiftSecret', () => {
  it('accepts the RDS/Redshift secret shape (port as a number or a numeric string)', () => {
    expect(parseRedshiftSecret('s', JSON.stringify(SECRET))).toEqual({
      username: 'etl_user',
      password: PASSWORD,
      host: SECRET.host,
      port: 5439,
      dbname: 'dev',
    });
    expect(parseRedshiftSecret('s', JSON.stringify({ ...SECRET, port: '5439' })).port).toBe(5439);
  });

  it('names missing and malformed keys, never a value', () => {
    const { dbname: _d, username: _u, ...partial } = SECRET;
    expect(() => parseRedshiftSecret('blog-secret', JSON.stringify(partial))).toThrow(
      /secret blog-secret: missing keys "username", "dbname"/,
    );
    const bad = { ...SECRET, port: 'not-a-port', password: '' };
    let message = '';
    try {
      parseRedshiftSecret('blog-secret', JSON.stringify(bad));
    } catch (err) {
      expect(err).toBeInstanceOf(RedshiftSecretError);
      message = (err as Error).message;
    }
    expect(message).toMatch(/invalid value for "password", "port"/);
    expect(message).not.toContain('not-a-port');
    expect(message).not.toContain(SECRET.host);
  });

  it('refuses text that is not a JSON object without quoting it', () => {
    const text = `{"password": "${PASSWORD}", oops`;
    let message = '';
    try {
      parseRedshiftSecret('s', text);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/secret s is not a JSON object/);
    expect(message).not.toContain(PASSWORD);
    expect(() => parseRedshiftSecret('s', undefined)).toThrow(/no SecretString/);
    expect(() => parseRedshiftSecret('s', '[1,2]')).toThrow(/not a JSON object/);
  });
});

describe('credentialsEnv', () => {
  it('gives the seed wrappers’ names and libpq’s', () => {
    const env = credentialsEnv(parseRedshiftSecret('s', JSON.stringify(SECRET)));
    expect(env).toEqual({
      HOST: SECRET.host,
      PORT: '5439',
      USER: 'etl_user',
      DB: 'dev',
      RSPASSWORD: PASSWORD,
      PGHOST: SECRET.host,
      PGPORT: '5439',
      PGUSER: 'etl_user',
      PGDATABASE: 'dev',
      PGPASSWORD: PASSWORD,
    });
  });
});

describe('createSecretsReader', () => {
  beforeEach(() => sm.reset());
  const noSleep = { sleep: async () => {}, random: () => 0 };

  it('reads once per TTL and shares concurrent requests', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify(SECRET) });
    let t = 0;
    const reader = createSecretsReader({ client: new SecretsManagerClient({}), ttlMs: 1000, now: () => t });
    const [a, b] = await Promise.all([reader.get('blog-secret'), reader.get('blog-secret')]);
    expect(a.password).toBe(PASSWORD);
    expect(b).toEqual(a);
    t = 999;
    await reader.get('blog-secret');
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    expect(sm.commandCalls(GetSecretValueCommand)[0]?.args[0].input).toEqual({ SecretId: 'blog-secret' });
    t = 1000;
    await reader.get('blog-secret');
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
    reader.invalidate('blog-secret');
    await reader.get('blog-secret');
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(3);
  });

  it('serves a stale value while Secrets Manager is unreachable, then gives up after maxStale', async () => {
    let t = 0;
    const reader = createSecretsReader({
      client: new SecretsManagerClient({}),
      ttlMs: 1000,
      maxStaleMs: 5000,
      now: () => t,
      retry: noSleep,
    });
    sm.on(GetSecretValueCommand).resolvesOnce({ SecretString: JSON.stringify(SECRET) });
    await reader.get('s');
    sm.on(GetSecretValueCommand).rejects(
      Object.assign(new Error('connect ETIMEDOUT'), { code: 'ETIMEDOUT' }),
    );
    t = 3000;
    expect((await reader.get('s')).password).toBe(PASSWORD);
    t = 7000;
    const err = await reader.get('s').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RedshiftSecretError);
    expect((err as RedshiftSecretError).transient).toBe(true);
  });

  it('reports a missing secret as permanent, naming the secret only', async () => {
    sm.on(GetSecretValueCommand).rejects(
      Object.assign(new Error("Secrets Manager can't find the specified secret."), {
        name: 'ResourceNotFoundException',
        $fault: 'client',
        $metadata: { httpStatusCode: 400 },
      }),
    );
    const reader = createSecretsReader({ client: new SecretsManagerClient({}), retry: noSleep });
    const err = await reader.get('nope').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RedshiftSecretError);
    expect((err as RedshiftSecretError).transient).toBe(false);
    expect((err as Error).message).toBe('cannot read secret nope: ResourceNotFoundException');
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });
});
