/**
 * The agent daemon as a real process for tests that kill it (SIGKILL) and start another: the real
 * AWS adapters of agent/main.ts over aws-sdk-client-mock clients that answer success and append
 * every request to `<dir>/calls.jsonl` (one JSON object per line: service, command, input).
 *
 * Usage: node <this> <dir>  (config in <dir>/agent.json)
 */
import { appendFileSync } from 'node:fs';
import path from 'node:path';
import {
  CloudWatchLogsClient,
  CreateLogStreamCommand,
  PutLogEventsCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { loadAgentConfig } from '../config.js';
import { createAgentDaemon } from '../daemon.js';
import { awsPorts } from '../main.js';
import { TEST_SECRET } from './fixtures.js';

const dir = path.resolve(process.argv[2] ?? '.');
const calls = path.join(dir, 'calls.jsonl');
const record = (service: string, command: string, input: unknown) =>
  appendFileSync(calls, `${JSON.stringify({ service, command, input, pid: process.pid })}\n`);

const sfn = mockClient(SFNClient);
for (const [name, cmd] of [
  ['SendTaskSuccess', SendTaskSuccessCommand],
  ['SendTaskFailure', SendTaskFailureCommand],
  ['SendTaskHeartbeat', SendTaskHeartbeatCommand],
] as const) {
  sfn.on(cmd as typeof SendTaskSuccessCommand).callsFake((input) => {
    record('sfn', name, input);
    return {};
  });
}
mockClient(EventBridgeClient)
  .on(PutEventsCommand)
  .callsFake((input: { Entries?: unknown[] }) => {
    record('events', 'PutEvents', input);
    return { FailedEntryCount: 0, Entries: (input.Entries ?? []).map((_, i) => ({ EventId: `e${i}` })) };
  });
const cwl = mockClient(CloudWatchLogsClient);
cwl.on(CreateLogStreamCommand).callsFake((input) => {
  record('logs', 'CreateLogStream', input);
  return {};
});
cwl.on(PutLogEventsCommand).callsFake((input) => {
  record('logs', 'PutLogEvents', input);
  return {};
});
mockClient(SecretsManagerClient)
  .on(GetSecretValueCommand)
  .callsFake((input) => {
    record('secrets', 'GetSecretValue', input);
    return { SecretString: JSON.stringify(TEST_SECRET) };
  });

const config = loadAgentConfig(path.join(dir, 'agent.json'));
const daemon = createAgentDaemon({
  config,
  ...awsPorts(config),
  pollMs: 50,
  retryBackoff: { baseMs: 50, maxMs: 200 },
});
await daemon.start();
process.once('SIGTERM', () => {
  void daemon.stop().then(() => process.exit(0));
});
