/**
 * `rsqlo-agent`, the EC2 agent's command (bin/rsqlo-agent.js): `serve` runs the daemon
 * (agent/daemon.ts) over the real AWS adapters, `submit` hands one job to its spool
 * (agent/submit.ts). This file is the agent's composition root: the only place that builds AWS
 * clients and reads the process environment.
 */
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { createCloudWatchLogShipper } from '../runtime/aws/cloudwatch-logs.js';
import { createEventBridgePublisher } from '../runtime/aws/eventbridge-publisher.js';
import type { RetryOptions } from '../runtime/aws/retry.js';
import { createSecretsReader } from '../runtime/aws/secrets.js';
import { createTaskCallbacks } from '../runtime/aws/task-callbacks.js';
import type { Logger } from '../services/ports.js';
import { type AgentConfig, AgentConfigError, configPath, loadAgentConfig } from './config.js';
import { type CredentialSource, secretCredentials } from './credentials.js';
import { AgentLockedError, createAgentDaemon } from './daemon.js';
import { createJsonLogger } from './logger.js';
import { createS3ScriptSource } from './s3-scripts.js';
import { submitMain } from './submit.js';

const USAGE = `usage: rsqlo-agent <command>

  serve [--config FILE]     run the agent daemon (systemd runs this)
  check-config [--config FILE]
                            validate the config file and print it with its defaults
  submit --job-env VAR      hand one job to the daemon's spool (the SSM document runs this)
  submit --job-file FILE
  help                      this text

The config file defaults to $RSQLO_AGENT_CONFIG, else /etc/rsqlo/agent.json.`;

/**
 * The real ports of a configured agent. `opts.log` defaults to JSON lines on stdout, `opts.retry`
 * to the adapters' own default (AGENT_RETRY), `opts.now` (the secret cache's clock) to Date.now.
 */
export function awsPorts(
  config: AgentConfig,
  opts: { log?: Logger; retry?: RetryOptions; now?: () => number } = {},
) {
  const region = config.region;
  const log = opts.log ?? createJsonLogger();
  const retry = opts.retry;
  const secretId = config.redshiftSecretId;
  const credentials: CredentialSource | undefined = secretId
    ? secretCredentials(
        createSecretsReader({
          client: new SecretsManagerClient({ region }),
          retry,
          ttlMs: config.secretRefreshSeconds * 1000,
          ...(opts.now ? { now: opts.now } : {}),
        }),
        secretId,
      )
    : undefined;
  return {
    log,
    events: createEventBridgePublisher({
      client: new EventBridgeClient({ region }),
      eventBusName: config.eventBusName,
      ...(retry ? { retry } : {}),
    }),
    tasks: createTaskCallbacks({ client: new SFNClient({ region }), log, retry }),
    logs: createCloudWatchLogShipper({
      client: new CloudWatchLogsClient({ region }),
      logGroup: config.logGroup,
      log,
      retry,
    }),
    credentials,
    // The scripts the stack ships, by version (S3 GetObject; config shippedScripts).
    ...(config.shippedScripts
      ? {
          scriptSource: createS3ScriptSource({
            client: new S3Client({ region }),
            bucket: config.shippedScripts.bucket,
            keyPrefix: config.shippedScripts.keyPrefix,
          }),
        }
      : {}),
  };
}

/** Reads `--config FILE` and loads the config; a number is the exit code of a failure. */
function configFromArgs(command: string, argv: string[]): AgentConfig | number {
  let flag: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--config') flag = argv[++i];
    else if (a.startsWith('--config=')) flag = a.slice('--config='.length);
    else {
      process.stderr.write(`rsqlo-agent ${command}: unknown argument ${JSON.stringify(a)}\n${USAGE}\n`);
      return 2;
    }
  }
  try {
    return loadAgentConfig(configPath(flag));
  } catch (err) {
    if (err instanceof AgentConfigError) {
      process.stderr.write(`rsqlo-agent: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

async function serve(argv: string[]): Promise<number> {
  const config = configFromArgs('serve', argv);
  if (typeof config === 'number') return config;
  const ports = awsPorts(config);
  const daemon = createAgentDaemon({ config, ...ports });
  try {
    await daemon.start();
  } catch (err) {
    if (err instanceof AgentLockedError) {
      process.stderr.write(`rsqlo-agent: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  // Graceful shutdown: the first SIGTERM/SIGINT stops the daemon; running jobs go on.
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      ports.log.info('stopping', { signal });
      resolve();
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  await daemon.stop();
  return 0;
}

/** Runs `rsqlo-agent` with its arguments; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve(rest);
    case 'check-config': {
      const config = configFromArgs('check-config', rest);
      if (typeof config === 'number') return config;
      process.stdout.write(`${JSON.stringify(config, null, 2)}\n`);
      return 0;
    }
    case 'submit':
      return submitMain(rest, {
        env: process.env,
        cwd: process.cwd(),
        out: (l) => process.stdout.write(`${l}\n`),
        err: (l) => process.stderr.write(`${l}\n`),
      });
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`rsqlo-agent: unknown command ${JSON.stringify(command)}\n${USAGE}\n`);
      return 2;
  }
}
