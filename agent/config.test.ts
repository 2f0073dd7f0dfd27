import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentConfigError, configPath, loadAgentConfig, parseAgentConfig } from './config.js';

const minimal = {
  region: 'eu-west-1',
  eventBusName: 'rsqlo',
  scriptRoot: '/home/ec2-user/blog_test/rsql_scripts/',
  logDir: '/home/ec2-user/blog_test/logs/',
};

describe('agent config', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('applies the documented defaults', () => {
    expect(parseAgentConfig(minimal)).toEqual({
      ...minimal,
      logGroup: '/ops/rsql-logs/',
      spoolDir: '/var/spool/rsqlo',
      maxConcurrency: 4,
      rsqlCommand: ['rsql'],
      logShipEverySeconds: 5,
      killGraceSeconds: 10,
      path: '/usr/local/bin:/usr/bin:/bin',
      env: {},
      doneRetentionHours: 168,
      shutdownFlushSeconds: 5,
      secretRefreshSeconds: 900,
    });
  });

  it('names every problem by its path', () => {
    expect(() =>
      parseAgentConfig({
        ...minimal,
        region: 'mars',
        eventBusName: undefined,
        scriptRoot: 'relative/path',
        maxConcurrency: 0,
        env: { PGPASSWORD: 'x', 'BAD-NAME': 'y' },
        maxConcurency: 2,
      }),
    ).toThrow(
      new AgentConfigError(
        'agent config: region: must be an AWS region such as "us-east-1"; eventBusName: is required; scriptRoot: must be an absolute path; maxConcurrency: must be at least 1; env.PGPASSWORD: is set by rsqlo itself; env["BAD-NAME"]: is not a valid environment variable name; (root): unknown key maxConcurency',
      ),
    );
  });

  it('loads a file, and says clearly when it is missing or not JSON', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rsqlo-cfg-'));
    dirs.push(dir);
    const file = path.join(dir, 'agent.json');
    expect(() => loadAgentConfig(file)).toThrow(
      /agent config .*agent\.json does not exist \(install the agent/,
    );
    writeFileSync(file, '{ nope');
    expect(() => loadAgentConfig(file)).toThrow(/is not valid JSON/);
    writeFileSync(file, JSON.stringify({ ...minimal, maxConcurrency: 8 }));
    expect(loadAgentConfig(file).maxConcurrency).toBe(8);
  });

  it('finds the file from the flag, then RSQLO_AGENT_CONFIG, then /etc/rsqlo/agent.json', () => {
    expect(configPath('/x.json', { RSQLO_AGENT_CONFIG: '/y.json' })).toBe('/x.json');
    expect(configPath(undefined, { RSQLO_AGENT_CONFIG: '/y.json' })).toBe('/y.json');
    expect(configPath(undefined, {})).toBe('/etc/rsqlo/agent.json');
  });
});
