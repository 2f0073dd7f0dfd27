/**
 * Test fixtures for the agent: a workspace (script root, log dir, spool, config), job commands,
 * and a poller. Used by agent/*.test.ts and by the daemon harness process.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EVENT_VERSION } from '../../contracts/events.js';
import { type JobCommand, jobRunName } from '../../contracts/jobs.js';
import { type AgentConfig, parseAgentConfig } from '../config.js';

export const TEST_TOKEN = `AAAAKgAAAAIAAAAAAAAAA${'t'.repeat(300)}TOKENEND`;
export const TEST_PASSWORD = 'Sup3r-Secret-Pa55word';
export const TEST_SECRET = {
  username: 'etl_user',
  password: TEST_PASSWORD,
  engine: 'redshift',
  host: 'cluster.example.us-east-1.redshift.amazonaws.com',
  port: 5439,
  dbname: 'dev',
};

export interface Workspace {
  root: string;
  scripts: string;
  logs: string;
  spool: string;
  /** Where test scripts leave traces (env dumps, pids, flags). */
  out: string;
  config: AgentConfig;
  configFile: string;
}

/** A fresh workspace with the given config overrides. */
export function makeWorkspace(overrides: Record<string, unknown> = {}): Workspace {
  const root = mkdtempSync(path.join(tmpdir(), 'rsqlo-agent-'));
  const ws = {
    root,
    scripts: path.join(root, 'scripts'),
    logs: path.join(root, 'logs'),
    spool: path.join(root, 'spool'),
    out: path.join(root, 'out'),
  };
  for (const d of [ws.scripts, ws.out]) mkdirSync(d, { recursive: true });
  const raw = {
    region: 'us-east-1',
    eventBusName: 'rsqlo-bus',
    redshiftSecretId: 'blog-secret',
    scriptRoot: ws.scripts,
    logDir: ws.logs,
    spoolDir: ws.spool,
    heartbeatEverySeconds: 0.2,
    logShipEverySeconds: 0.2,
    killGraceSeconds: 0.5,
    shutdownFlushSeconds: 1,
    ...overrides,
    env: { TEST_OUT: ws.out, ...((overrides.env as Record<string, string>) ?? {}) },
  };
  const configFile = path.join(root, 'agent.json');
  writeFileSync(configFile, JSON.stringify(raw, null, 2));
  return { ...ws, config: parseAgentConfig(raw), configFile };
}

/** Writes an executable bash script under the workspace's script root. */
export function writeScript(ws: Workspace, name: string, body: string): void {
  const file = path.join(ws.scripts, name);
  writeFileSync(file, `#!/bin/bash\n${body}\n`);
  chmodSync(file, 0o755);
}

let seq = 0;

/** A valid job command for `script`; each call gets a fresh execution unless given one. */
export function jobCommand(script: string, over: Partial<JobCommand> = {}): JobCommand {
  const exec =
    over.workflow_execution_id ?? `wf-${process.pid}-${++seq}-${Math.random().toString(36).slice(2, 8)}`;
  const jobKey = over.job_key ?? '1.1';
  const attempt = over.attempt ?? 1;
  return {
    version: EVENT_VERSION,
    task_token: TEST_TOKEN,
    job_run_name: jobRunName(exec, jobKey, attempt),
    workflow_id: 'wf',
    workflow_execution_id: exec,
    job_key: jobKey,
    job_name: script,
    stage: 1,
    attempt,
    script,
    args: [],
    timeout_seconds: 600,
    heartbeat_seconds: 60,
    parameters: { LOAD_DATE: '2024-01-31' },
    ...over,
  };
}

/** The SSM parameter value for a command: base64 JSON. */
export function encodeJob(cmd: unknown): string {
  return Buffer.from(JSON.stringify(cmd)).toString('base64');
}

/** Polls `check` until it returns a truthy value (generous liveness bound, not a timing assertion). */
export async function until<T>(
  check: () => T | undefined | false | null,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** One AWS request the daemon harness recorded (agent/testing/daemon-harness.ts, `calls.jsonl`). */
export interface Call {
  service: string;
  command: string;
  input: Record<string, unknown>;
  pid: number;
}

/** Every request the daemon made, in order. */
export function calls(ws: Workspace): Call[] {
  const file = path.join(ws.root, 'calls.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Call);
}

/** The details of the events of `type` the daemon published. */
export function events(ws: Workspace, type: string): Array<Record<string, unknown>> {
  return calls(ws)
    .filter((c) => c.command === 'PutEvents')
    .flatMap((c) => (c.input.Entries as Array<{ DetailType: string; Detail: string }>) ?? [])
    .filter((e) => e.DetailType === type)
    .map((e) => JSON.parse(e.Detail) as Record<string, unknown>);
}
