/**
 * An rsqlo-agent daemon as its own process, for the AWS-path tests that SIGKILL it (see
 * test/aws/sim/agents.ts): the real daemon over the real AWS adapters of agent/main.ts, whose SDK
 * clients (EventBridge, Step Functions, CloudWatch Logs, Secrets Manager) are mocked to forward
 * every request over IPC to the test harness and answer with its reply — the harness's simulators
 * decide, exactly as for an in-process daemon.
 *
 * Usage: node <this> <host dir>   (config in <host dir>/agent.json; started with an IPC channel)
 */
import path from 'node:path';
import {
  CloudWatchLogsClient,
  CreateLogStreamCommand,
  PutLogEventsCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  DescribeExecutionCommand,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { loadAgentConfig } from '../../agent/config.js';
import { createAgentDaemon } from '../../agent/daemon.js';
import { awsPorts } from '../../agent/main.js';
import type { Logger } from '../../services/ports.js';
import { AGENT_TEST_RETRY, AGENT_TEST_TIMING, type AgentProcessMessage } from './sim/agents.js';

type Reply =
  | { type: 'aws-result'; id: number; output: unknown }
  | {
      type: 'aws-error';
      id: number;
      error: { name: string; message: string; fault: string; status: number };
    };

const send = (msg: AgentProcessMessage) => {
  if (process.connected) process.send?.(msg);
};

let seq = 0;
const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
process.on('message', (msg: Reply) => {
  const w = waiting.get(msg.id);
  if (!w) return;
  waiting.delete(msg.id);
  if (msg.type === 'aws-result') w.resolve(msg.output);
  else {
    const e = Object.assign(new Error(msg.error.message), {
      name: msg.error.name,
      $fault: msg.error.fault,
      $metadata: { httpStatusCode: msg.error.status },
    });
    w.reject(e);
  }
});
// The harness going away ends this process too (it would otherwise wait forever).
process.on('disconnect', () => process.exit(0));

function forward(service: string, command: string) {
  return (input: unknown) =>
    new Promise((resolve, reject) => {
      const id = ++seq;
      waiting.set(id, { resolve, reject });
      send({ type: 'aws', id, service, command, input });
    });
}

// The commands the agent's adapters send, each forwarded under its API name; anything else fails.
const unexpected = (input: unknown) => Promise.reject(new Error(`not simulated: ${JSON.stringify(input)}`));
mockClient(EventBridgeClient)
  .onAnyCommand()
  .callsFake(unexpected)
  .on(PutEventsCommand)
  .callsFake(forward('events', 'PutEvents'));
mockClient(SFNClient)
  .onAnyCommand()
  .callsFake(unexpected)
  .on(SendTaskSuccessCommand)
  .callsFake(forward('sfn', 'SendTaskSuccess'))
  .on(SendTaskFailureCommand)
  .callsFake(forward('sfn', 'SendTaskFailure'))
  .on(SendTaskHeartbeatCommand)
  .callsFake(forward('sfn', 'SendTaskHeartbeat'))
  // A refused token: is its wrapper execution still running (a retried Dispatch) or over?
  .on(DescribeExecutionCommand)
  .callsFake(forward('sfn', 'DescribeExecution'));
mockClient(CloudWatchLogsClient)
  .onAnyCommand()
  .callsFake(unexpected)
  .on(CreateLogStreamCommand)
  .callsFake(forward('logs', 'CreateLogStream'))
  .on(PutLogEventsCommand)
  .callsFake(forward('logs', 'PutLogEvents'));
mockClient(SecretsManagerClient)
  .onAnyCommand()
  .callsFake(unexpected)
  .on(GetSecretValueCommand)
  .callsFake(forward('secrets', 'GetSecretValue'));

const log: Logger = {
  info: (message, fields) => send({ type: 'log', line: { level: 'info', message, fields: fields ?? {} } }),
  warn: (message, fields) => send({ type: 'log', line: { level: 'warn', message, fields: fields ?? {} } }),
  error: (message, fields) => send({ type: 'log', line: { level: 'error', message, fields: fields ?? {} } }),
};

const dir = path.resolve(process.argv[2] ?? '.');
const config = loadAgentConfig(path.join(dir, 'agent.json'));
const daemon = createAgentDaemon({
  config,
  ...awsPorts(config, { log, retry: AGENT_TEST_RETRY }),
  ...AGENT_TEST_TIMING,
});
await daemon.start();
send({ type: 'ready' });
process.once('SIGTERM', () => {
  void daemon.stop().then(() => process.exit(0));
});
