import { describe, expect, it } from 'vitest';
import { ConninfoError, clientConfig, parseConnectionUri, parseConninfo } from './conninfo.js';

describe('parseConninfo', () => {
  it('reads libpq key=value strings with quoting', () => {
    expect(
      parseConninfo("host=db.example port=5439 dbname='my db' user=etl password='it\\'s' sslmode=require"),
    ).toEqual({
      host: 'db.example',
      port: 5439,
      database: 'my db',
      user: 'etl',
      password: "it's",
      sslmode: 'require',
    });
    expect(parseConninfo('  dbname = dev  application_name=job connect_timeout=5 options=-ctest=1')).toEqual({
      database: 'dev',
      applicationName: 'job',
      connectTimeoutSeconds: 5,
    });
  });

  it.each(['host', "dbname='open", 'port=abc'])('rejects %j', (text) => {
    expect(() => parseConninfo(text)).toThrow(ConninfoError);
  });
});

describe('parseConnectionUri', () => {
  it('reads user, password, host, port, database and query parameters', () => {
    expect(
      parseConnectionUri(
        'postgres://etl:p%40ss@db.example:5439/my%20db?sslmode=require&application_name=job',
      ),
    ).toEqual({
      user: 'etl',
      password: 'p@ss',
      host: 'db.example',
      port: 5439,
      database: 'my db',
      sslmode: 'require',
      applicationName: 'job',
    });
    expect(parseConnectionUri('postgresql:///dev?host=/tmp/sock')).toEqual({
      database: 'dev',
      host: '/tmp/sock',
    });
  });

  it('rejects other schemes without echoing a password', () => {
    expect(() => parseConnectionUri('mysql://u:secret@h/db')).toThrow(ConninfoError);
    expect(() => parseConnectionUri('postgres://u:secret@[bad')).toThrow(/^(?!.*secret)/);
  });
});

describe('clientConfig', () => {
  it('maps sslmode and always pipelines', () => {
    expect(clientConfig({ host: 'h', sslmode: 'require' })).toMatchObject({
      host: 'h',
      pipeline: true,
      ssl: { rejectUnauthorized: false },
      password: '',
    });
    expect(clientConfig({ sslmode: 'verify-full' }).ssl).toBe(true);
    expect(clientConfig({ sslmode: 'disable' }).ssl).toBeUndefined();
  });
});
