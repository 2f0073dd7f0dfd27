/**
 * An SSM Run Command simulator for the agent hosts, running the DEPLOYED document
 * (runtime/aws/ssm-document.ts `ssmDocumentContent()`) the way SSM Agent does:
 *
 * - DescribeInstanceInformation: the simulated hosts, filtered by `InstanceIds`, `tag:<key>` and
 *   `PingStatus` filters; MaxResults 5–50 with NextToken paging.
 * - SendCommand: the document must be ours; one instance, known to SSM (else InvalidInstanceId);
 *   only parameters the document declares, each checked against its `allowedPattern` (else
 *   InvalidParameters); TimeoutSeconds 30–2,592,000; Comment ≤ 100 characters. The command then
 *   runs on the host asynchronously (after `deliveryDelayMs`, SSM's delivery latency): the step's
 *   `runCommand` lines with `{{ name }}` parameters interpolated, the `interpolationType: ENV_VAR`
 *   parameters also in the environment as `SSM_<name>`, in the per-command folder
 *   `…/orchestration/<command id>/awsrunShellScript/<step>` (where `submit` reads the command id).
 *
 * Parameters are checked twice, as AWS does: SendCommand (the service) checks each value against the
 * document's `minChars` / `maxChars` and `allowedPattern`; then, on the host, the SSM Agent
 * validates every parameter again with Go's `regexp` before it runs anything
 * (agent/framework/docparser/paramvalidator/allowedregexparamvalidator in aws/amazon-ssm-agent:
 * `regexp.Compile(parameter.AllowedPattern)`, then `MatchString`). That second check runs here with
 * re2js, a port of RE2 with Go's syntax and limits: a pattern Go cannot compile (a repeat count
 * above 1000) or a value it does not match fails the command on the host, and the step never runs
 * — the job then waits for its heartbeat timeout, exactly as on AWS. JavaScript's RegExp accepts
 * such patterns, which is how the original `{16,32000}` pattern passed this suite.
 *
 * Two ways to run the step: `shell` runs the lines with bash, `agentBin` being a shim that runs
 * `bin/rsqlo-agent.js` (a real process per command); `in-process` checks the lines are the
 * document's and calls the agent's `submitMain` with the arguments of its `exec` line (the same
 * code, no process; for large runs). `duplicate` runs every command twice (SSM retrying delivery).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  InvalidDocument,
  InvalidFilterKey,
  InvalidInstanceId,
  InvalidParameters,
  SSMServiceException,
} from '@aws-sdk/client-ssm';
import { RE2JS } from 're2js';
import { submitMain } from '../../../agent/submit.js';
import type { ssmDocumentContent } from '../../../runtime/aws/ssm-document.js';

export interface SimHost {
  instanceId: string;
  /** PingStatus Online when true, ConnectionLost otherwise. */
  online: boolean;
  tags: Record<string, string>;
  /** Host folder: SSM's per-command folders go under it. */
  dir: string;
  /** The agent config file `submit` finds through $RSQLO_AGENT_CONFIG. */
  configFile: string;
}

export type SsmDocument = ReturnType<typeof ssmDocumentContent>;

export interface SsmSimulatorOptions {
  documentName: string;
  document: SsmDocument;
  /** The path the document's runCommand executes (DEFAULT_AGENT_BIN replaced by a shim). */
  agentBin: string;
  hosts: () => SimHost[];
  mode: 'shell' | 'in-process';
  duplicate?: boolean;
  deliveryDelayMs?: number;
}

/** One run of a command's step on its host. */
export interface CommandRun {
  commandId: string;
  instanceId: string;
  exitCode: number;
  output: string;
}

const meta = { $metadata: { httpStatusCode: 400 } };

/** A document parameter as SSM reads it. */
interface ParameterSpec {
  allowedPattern?: string;
  default?: string;
  interpolationType?: string;
  minChars?: number;
  maxChars?: number;
}

/**
 * The SSM Agent's mandatory parameter validation on the host, with RE2 as Go's `regexp`: for every
 * document parameter, compile its `allowedPattern` and match the value (unanchored, like
 * `MatchString`). Returns the agent's error texts; empty when the command may run.
 */
export function agentParameterErrors(
  document: { parameters: Record<string, unknown> },
  values: Record<string, string>,
): string[] {
  const errors: string[] = [];
  for (const [name, raw] of Object.entries(document.parameters)) {
    const spec = raw as ParameterSpec;
    if (!spec.allowedPattern) continue;
    let re: RE2JS;
    try {
      re = RE2JS.compile(spec.allowedPattern);
    } catch (err) {
      errors.push(
        `error thrown in 'AllowedRegexParamValidator' while validating parameter /${name}/: encountered error while compiling allowed pattern - internal error: ${(err as Error).message}`,
      );
      continue;
    }
    const value = values[name] ?? '';
    if (!re.matcher(value).find())
      errors.push(
        `error thrown in 'AllowedRegexParamValidator' while validating parameter /${name}/: parameter value /${value.slice(0, 40)}…/ does not match the allowed pattern /${spec.allowedPattern}/`,
      );
  }
  return errors;
}

function clientError(name: string, message: string) {
  return new SSMServiceException({ name, $fault: 'client', message, ...meta });
}

export class SsmSimulator {
  readonly commands: Array<{ commandId: string; instanceId: string; parameters: Record<string, string[]> }> =
    [];
  readonly runs: CommandRun[] = [];
  readonly violations: string[] = [];
  private inFlight = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(private readonly opts: SsmSimulatorOptions) {}

  pending(): number {
    return this.inFlight;
  }

  describeInstanceInformation(input: {
    Filters?: Array<{ Key?: string; Values?: string[] }>;
    MaxResults?: number;
    NextToken?: string;
  }) {
    const max = input.MaxResults ?? 50;
    if (max < 5 || max > 50) throw clientError('ValidationException', 'MaxResults must be 5–50');
    let hosts = this.opts.hosts();
    for (const f of input.Filters ?? []) {
      const values = f.Values ?? [];
      if (values.length < 1 || values.length > 100)
        throw clientError('ValidationException', 'filter values: 1–100');
      if (f.Key === 'InstanceIds') hosts = hosts.filter((h) => values.includes(h.instanceId));
      else if (f.Key === 'PingStatus')
        hosts = hosts.filter((h) => values.includes(h.online ? 'Online' : 'ConnectionLost'));
      else if (f.Key?.startsWith('tag:')) {
        const key = f.Key.slice(4);
        hosts = hosts.filter((h) => h.tags[key] !== undefined && values.includes(h.tags[key] as string));
      } else throw new InvalidFilterKey({ message: `unknown filter key ${f.Key}`, ...meta });
    }
    const start = input.NextToken ? Number(input.NextToken) : 0;
    const page = hosts.slice(start, start + max);
    return {
      InstanceInformationList: page.map((h) => ({
        InstanceId: h.instanceId,
        PingStatus: h.online ? 'Online' : 'ConnectionLost',
        PlatformType: 'Linux',
        PlatformName: 'Amazon Linux',
      })),
      NextToken: start + max < hosts.length ? String(start + max) : undefined,
    };
  }

  sendCommand(input: {
    DocumentName?: string;
    InstanceIds?: string[];
    Targets?: unknown[];
    Parameters?: Record<string, string[]>;
    TimeoutSeconds?: number;
    Comment?: string;
    MaxConcurrency?: string;
    MaxErrors?: string;
  }) {
    const doc = this.opts.document;
    if (input.DocumentName !== this.opts.documentName)
      throw new InvalidDocument({ message: `no document ${input.DocumentName}`, ...meta });
    const ids = input.InstanceIds ?? [];
    if (input.Targets?.length || ids.length !== 1) {
      // SSM would accept up to 50 targets; the design sends each command to exactly one host.
      this.violations.push(`SendCommand to ${ids.length} instances / ${input.Targets?.length ?? 0} targets`);
      throw clientError('ValidationException', 'rsqlo sends each command to exactly one instance');
    }
    const host = this.opts.hosts().find((h) => h.instanceId === ids[0]);
    if (!host) throw new InvalidInstanceId({ message: `instance ${ids[0]} is not managed`, ...meta });
    if (input.TimeoutSeconds !== undefined && (input.TimeoutSeconds < 30 || input.TimeoutSeconds > 2_592_000))
      throw clientError('ValidationException', 'TimeoutSeconds must be 30–2592000');
    if ((input.Comment ?? '').length > 100) throw clientError('ValidationException', 'Comment over 100');
    const declared = doc.parameters as Record<string, ParameterSpec>;
    const values: Record<string, string> = {};
    for (const [name, v] of Object.entries(input.Parameters ?? {})) {
      const spec = declared[name];
      if (!spec)
        throw new InvalidParameters({ message: `parameter ${name} is not in the document`, ...meta });
      if (v.length !== 1)
        throw new InvalidParameters({ message: `parameter ${name}: one value expected`, ...meta });
      values[name] = v[0] as string;
    }
    for (const [name, spec] of Object.entries(declared)) {
      const value = values[name] ?? spec.default;
      if (value === undefined)
        throw new InvalidParameters({ message: `parameter ${name} is required`, ...meta });
      if (
        (spec.minChars !== undefined && value.length < spec.minChars) ||
        (spec.maxChars !== undefined && value.length > spec.maxChars)
      )
        throw new InvalidParameters({
          message: `parameter ${name}: ${value.length} characters, outside minChars/maxChars`,
          ...meta,
        });
      if (spec.allowedPattern && !new RegExp(spec.allowedPattern).test(value))
        throw new InvalidParameters({
          message: `parameter ${name} does not match its allowedPattern`,
          ...meta,
        });
      values[name] = value;
    }
    const commandId = randomUUID();
    this.commands.push({ commandId, instanceId: host.instanceId, parameters: input.Parameters ?? {} });
    const times = this.opts.duplicate ? 2 : 1;
    for (let i = 0; i < times; i++)
      this.schedule(host, commandId, values, (this.opts.deliveryDelayMs ?? 0) + i * 30);
    return {
      Command: {
        CommandId: commandId,
        DocumentName: input.DocumentName,
        InstanceIds: ids,
        Status: 'Pending',
        Comment: input.Comment,
      },
    };
  }

  close() {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private schedule(host: SimHost, commandId: string, values: Record<string, string>, delayMs: number) {
    this.inFlight++;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (this.closed) {
        this.inFlight--;
        return;
      }
      void this.runStep(host, commandId, values)
        .then(
          (r) => this.runs.push(r),
          (err: unknown) =>
            this.runs.push({ commandId, instanceId: host.instanceId, exitCode: -1, output: String(err) }),
        )
        .finally(() => {
          this.inFlight--;
        });
    }, delayMs);
    this.timers.add(t);
  }

  /** The step's commands with `{{ name }}` interpolated (values already passed allowedPattern). */
  private script(values: Record<string, string>): { lines: string[]; timeoutSeconds: number } {
    const [step] = this.opts.document.mainSteps;
    if (step?.action !== 'aws:runShellScript') throw new Error('the document has no runShellScript step');
    const interpolate = (s: string) =>
      s.replace(/\{\{\s*(\w+)\s*\}\}/g, (_m, name: string) => {
        const v = values[name];
        if (v === undefined) throw new Error(`{{ ${name} }} is not a parameter`);
        return v;
      });
    return {
      lines: step.inputs.runCommand.map(interpolate),
      timeoutSeconds: Number(interpolate(step.inputs.timeoutSeconds)),
    };
  }

  private env(host: SimHost, values: Record<string, string>): Record<string, string> {
    const declared = this.opts.document.parameters as Record<string, { interpolationType?: string }>;
    const env: Record<string, string> = {
      PATH: '/usr/local/bin:/usr/bin:/bin',
      HOME: host.dir,
      AWS_SSM_INSTANCE_ID: host.instanceId,
      AWS_SSM_REGION_NAME: 'us-east-1',
      RSQLO_AGENT_CONFIG: host.configFile,
    };
    for (const [name, spec] of Object.entries(declared))
      if (spec.interpolationType === 'ENV_VAR' && values[name] !== undefined)
        env[`SSM_${name}`] = values[name];
    return env;
  }

  private async runStep(
    host: SimHost,
    commandId: string,
    values: Record<string, string>,
  ): Promise<CommandRun> {
    const [step] = this.opts.document.mainSteps;
    const cwd = path.join(
      host.dir,
      'ssm',
      'orchestration',
      commandId,
      'awsrunShellScript',
      step?.name ?? 'step',
    );
    mkdirSync(cwd, { recursive: true });
    const refused = agentParameterErrors(this.opts.document, values);
    if (refused.length > 0) {
      const output = `all errors during param validation errors: ${refused.join('\n')}`;
      this.violations.push(`command ${commandId} failed on ${host.instanceId}: ${output}`);
      return { commandId, instanceId: host.instanceId, exitCode: 1, output };
    }
    const { lines, timeoutSeconds } = this.script(values);
    const env = this.env(host, values);
    if (this.opts.mode === 'shell') {
      const file = path.join(cwd, '_script.sh');
      writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o700 });
      return new Promise<CommandRun>((resolve) => {
        let output = '';
        const child = spawn('bash', [file], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
        const timer = setTimeout(() => child.kill('SIGKILL'), timeoutSeconds * 1000);
        child.stdout.on('data', (c) => {
          output += String(c);
        });
        child.stderr.on('data', (c) => {
          output += String(c);
        });
        child.on('close', (code) => {
          clearTimeout(timer);
          resolve({ commandId, instanceId: host.instanceId, exitCode: code ?? -1, output });
        });
      });
    }
    // in-process: the lines must be the document's; run its exec line's program in this process.
    const exec = lines.at(-1) ?? '';
    const prefix = `exec ${this.opts.agentBin} `;
    if (lines[0] !== 'set -eu' || !exec.startsWith(prefix) || /["'$`\\]/.test(exec.slice(prefix.length)))
      throw new Error(`unexpected runCommand: ${JSON.stringify(lines)}`);
    const [command, ...argv] = exec.slice(prefix.length).split(/\s+/).filter(Boolean);
    if (command !== 'submit') throw new Error(`the document runs "${command}", not submit`);
    let output = '';
    const exitCode = submitMain(argv, {
      env,
      cwd,
      out: (l) => {
        output += `${l}\n`;
      },
      err: (l) => {
        output += `${l}\n`;
      },
    });
    return { commandId, instanceId: host.instanceId, exitCode, output };
  }
}
