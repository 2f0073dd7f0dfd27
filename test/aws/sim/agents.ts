/**
 * The simulated EC2 agent hosts: each a folder with the agent's config (agent/config.ts), spool and
 * log folder, and an `rsqlo-agent` daemon over the REAL AWS adapters (agent/main.ts `awsPorts`):
 * EventBridge, Step Functions task callbacks, CloudWatch Logs, Secrets Manager. Their SDK clients
 * reach the harness's simulators:
 *
 * - `in-process`: the daemon (agent/daemon.ts `createAgentDaemon`) runs in the test process, where
 *   aws-sdk-client-mock routes every client to the simulators;
 * - `process`: the daemon runs as its own process (test/aws/agent-process.ts), whose mocked clients
 *   forward every request over IPC to the harness and answer with its reply, so the daemon can be
 *   SIGKILLed mid-job and another started on the same spool.
 *
 * Jobs get the package's RSQL runner first on their PATH as `rsql` (as the local engine does), the
 * database from the secret, and a private TEST_OUT folder.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type AgentConfig, parseAgentConfig } from '../../../agent/config.js';
import { type AgentDaemon, createAgentDaemon } from '../../../agent/daemon.js';
import { awsPorts } from '../../../agent/main.js';
import { nodeArgs } from '../../../bin/load.js';
import { rsqlCommand, rsqlShimDir } from '../../../runtime/local/database.js';
import type { Logger } from '../../../services/ports.js';
import type { SimHost } from './ssm.js';

/** What the harness answers an agent's AWS request with. */
export type AwsCall = (service: string, command: string, input: unknown) => Promise<unknown>;

export interface AgentHostOptions {
  instanceId: string;
  dir: string;
  scriptRoot: string;
  busName: string;
  logGroup: string;
  secretId?: string;
  maxConcurrency: number;
  heartbeatEverySeconds?: number;
  mode: 'in-process' | 'process';
  awsCall: AwsCall;
}

/** One agent log line (the daemon's Logger port). */
export interface AgentLogLine {
  host: string;
  level: 'info' | 'warn' | 'error';
  message: string;
  fields: Record<string, unknown>;
}

/** The agent adapters' retry (shorter than AGENT_RETRY: the simulators answer at once). */
export const AGENT_TEST_RETRY = { maxAttempts: 3, baseDelayMs: 50, maxDelayMs: 400 };
/** Daemon pass and report-retry timing for tests (the defaults are 1 s and 1 s … 5 min). */
export const AGENT_TEST_TIMING = { pollMs: 100, retryBackoff: { baseMs: 200, maxMs: 1000 } };

export class AgentHost implements SimHost {
  readonly instanceId: string;
  online = true;
  readonly tags: Record<string, string> = { 'rsqlo-agent': 'true' };
  readonly dir: string;
  readonly configFile: string;
  readonly config: AgentConfig;
  readonly log: AgentLogLine[] = [];
  private daemon: AgentDaemon | undefined;
  private child: ChildProcess | undefined;
  private childExit: Promise<void> | undefined;
  private starts = 0;

  constructor(private readonly opts: AgentHostOptions) {
    this.instanceId = opts.instanceId;
    this.dir = opts.dir;
    mkdirSync(opts.dir, { recursive: true });
    const out = path.join(opts.dir, 'out');
    mkdirSync(out, { recursive: true });
    const raw = {
      region: 'us-east-1',
      eventBusName: opts.busName,
      logGroup: opts.logGroup,
      ...(opts.secretId ? { redshiftSecretId: opts.secretId } : {}),
      scriptRoot: opts.scriptRoot,
      logDir: path.join(opts.dir, 'logs'),
      spoolDir: path.join(opts.dir, 'spool'),
      maxConcurrency: opts.maxConcurrency,
      rsqlCommand: rsqlCommand(),
      ...(opts.heartbeatEverySeconds ? { heartbeatEverySeconds: opts.heartbeatEverySeconds } : {}),
      logShipEverySeconds: 0.5,
      killGraceSeconds: 1,
      path: `${rsqlShimDir(opts.dir)}${path.delimiter}/usr/local/bin:/usr/bin:/bin`,
      env: { TEST_OUT: out },
      shutdownFlushSeconds: 1,
    };
    this.configFile = path.join(opts.dir, 'agent.json');
    writeFileSync(this.configFile, JSON.stringify(raw, null, 2));
    this.config = parseAgentConfig(raw);
  }

  /** The daemon's Logger port: lines kept for assertions. */
  private logger(): Logger {
    const line = (level: AgentLogLine['level']) => (message: string, fields?: Record<string, unknown>) => {
      this.log.push({ host: this.instanceId, level, message, fields: fields ?? {} });
    };
    return { info: line('info'), warn: line('warn'), error: line('error') };
  }

  /** Starts a daemon on this host's spool (adopting what a previous one left). */
  async start(): Promise<void> {
    this.starts++;
    if (this.opts.mode === 'in-process') {
      this.daemon = createAgentDaemon({
        config: this.config,
        ...awsPorts(this.config, { log: this.logger(), retry: AGENT_TEST_RETRY }),
        ...AGENT_TEST_TIMING,
      });
      await this.daemon.start();
      return;
    }
    const outFile = openSync(path.join(this.dir, `daemon-${this.starts}.out`), 'a');
    const child = spawn(process.execPath, [...nodeArgs('test/aws/agent-process.ts'), this.dir], {
      stdio: ['ignore', outFile, outFile, 'ipc'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/', LANG: 'C.UTF-8' },
    });
    closeSync(outFile);
    this.child = child;
    this.childExit = new Promise((resolve) => child.once('exit', () => resolve()));
    const ready = new Promise<void>((resolve, reject) => {
      child.once('exit', (code, signal) => reject(new Error(`agent process exited (${code ?? signal})`)));
      child.on('message', (msg: AgentProcessMessage) => {
        if (msg.type === 'ready') resolve();
        else if (msg.type === 'log') this.log.push({ host: this.instanceId, ...msg.line });
        else if (msg.type === 'aws') this.answer(child, msg);
      });
    });
    await ready;
  }

  private answer(child: ChildProcess, msg: Extract<AgentProcessMessage, { type: 'aws' }>) {
    this.opts.awsCall(msg.service, msg.command, msg.input).then(
      (output) => {
        if (child.connected) child.send({ type: 'aws-result', id: msg.id, output: output ?? {} });
      },
      (err: {
        name?: string;
        message?: string;
        $fault?: string;
        $metadata?: { httpStatusCode?: number };
      }) => {
        if (child.connected)
          child.send({
            type: 'aws-error',
            id: msg.id,
            error: {
              name: err?.name ?? 'Error',
              message: err?.message ?? String(err),
              fault: err?.$fault ?? 'server',
              status: err?.$metadata?.httpStatusCode ?? 500,
            },
          });
      },
    );
  }

  /** Jobs the in-process daemon has not finished with (undefined for a process daemon). */
  active() {
    return this.daemon?.active();
  }

  /** The daemon process's pid (process mode). */
  pid(): number | undefined {
    return this.child?.pid;
  }

  /** SIGKILL (process mode): no flush, no goodbye; its jobs' processes go on. */
  async kill(): Promise<void> {
    if (!this.child) throw new Error('only a daemon process can be killed');
    this.child.kill('SIGKILL');
    await this.childExit;
    this.child = undefined;
  }

  /** A clean stop (SIGTERM for a process). */
  async stop(): Promise<void> {
    if (this.daemon) {
      await this.daemon.stop();
      this.daemon = undefined;
    }
    if (this.child) {
      const child = this.child;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await this.childExit;
        clearTimeout(timer);
      }
      this.child = undefined;
    }
  }
}

/** Messages between the harness and test/aws/agent-process.ts. */
export type AgentProcessMessage =
  | { type: 'ready' }
  | { type: 'log'; line: Omit<AgentLogLine, 'host'> }
  | { type: 'aws'; id: number; service: string; command: string; input: unknown };
