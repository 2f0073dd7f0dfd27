/**
 * `rsqlo-agent submit --job-env VAR | --job-file FILE`: what the SSM document runs on the agent
 * host (runtime/aws/ssm-document.ts). It decodes and validates one JobCommand and drops it into the
 * daemon's spool, atomically and at most once per job run name (a redelivered command is a no-op;
 * the same job with another task token, from a retried Dispatch, is kept for the daemon to adopt),
 * then exits: it never starts the job itself, so the SSM command ends in well under a second and
 * the job's lifetime is the daemon's business. The same parameter may carry a JobCancel
 * (`"kind": "cancel"`, a cancelled run): it is spooled for the daemon, which kills that attempt.
 *
 * The command carries a task token: it is never printed, and error messages name fields, never
 * values.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ContractError, parseContract } from '../contracts/common.js';
import {
  type JobCancel,
  JobCancel as JobCancelSchema,
  type JobCommand,
  JobCommand as JobCommandSchema,
} from '../contracts/jobs.js';
import { JOB_ENV_VAR } from '../runtime/aws/ssm-document.js';
import { configPath, loadAgentConfig } from './config.js';
import {
  isSafeJobRunName,
  type SpooledCancel,
  type SpooledCommand,
  spoolCancel,
  spoolCommand,
} from './spool.js';

/** The largest job command accepted, encoded (base64 JSON) or as a file: 64 KiB. */
export const MAX_JOB_BYTES = 65_536;

/** The job could not be decoded or is not a valid JobCommand; the message names what is wrong. */
export class InvalidJobError extends Error {
  override name = 'InvalidJobError';
}

/** What `submit` hands the daemon: a job to run, or "stop this attempt". */
export type AgentInstruction = { kind: 'job'; command: JobCommand } | { kind: 'cancel'; cancel: JobCancel };

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the input, which holds the task token.
    throw new InvalidJobError(`${source} is not valid JSON`);
  }
}

function checkName(name: string, source: string, what: string): void {
  if (!isSafeJobRunName(name))
    throw new InvalidJobError(
      `${source} is not a valid ${what}: job_run_name may only contain letters, digits, "_", "." and "-"`,
    );
}

/** Parses a job command from its JSON text. */
export function parseJobJson(text: string, source: string): JobCommand {
  const instruction = parseInstructionJson(text, source);
  if (instruction.kind !== 'job') throw new InvalidJobError(`${source} is a cancel, not a job command`);
  return instruction.command;
}

/** Parses a job command or a cancel (`"kind": "cancel"`) from its JSON text. */
export function parseInstructionJson(text: string, source: string): AgentInstruction {
  const json = parseJson(text, source);
  const isCancel =
    typeof json === 'object' && json !== null && (json as { kind?: unknown }).kind === 'cancel';
  try {
    if (isCancel) {
      const cancel = parseContract(JobCancelSchema, json, `${source} is not a valid job cancel`);
      checkName(cancel.job_run_name, source, 'job cancel');
      return { kind: 'cancel', cancel };
    }
    const command = parseContract(JobCommandSchema, json, `${source} is not a valid job command`);
    checkName(command.job_run_name, source, 'job command');
    return { kind: 'job', command };
  } catch (err) {
    if (err instanceof ContractError) throw new InvalidJobError(err.message);
    throw err;
  }
}

/** Decodes the SSM parameter's value: base64 of the JSON JobCommand. */
export function decodeJob(value: string, source: string): JobCommand {
  const instruction = decodeInstruction(value, source);
  if (instruction.kind !== 'job') throw new InvalidJobError(`${source} is a cancel, not a job command`);
  return instruction.command;
}

/** Decodes the SSM parameter's value: base64 of the JSON JobCommand or JobCancel. */
export function decodeInstruction(value: string, source: string): AgentInstruction {
  const trimmed = value.trim();
  if (trimmed === '') throw new InvalidJobError(`${source} is empty`);
  if (trimmed.length > MAX_JOB_BYTES)
    throw new InvalidJobError(`${source} is ${trimmed.length} bytes; the limit is ${MAX_JOB_BYTES}`);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed) || trimmed.length % 4 === 1)
    throw new InvalidJobError(`${source} is not base64 (expected the base64-encoded JSON job command)`);
  return parseInstructionJson(Buffer.from(trimmed, 'base64').toString('utf8'), `${source} (decoded)`);
}

/** The SSM command id, when the submit step runs in SSM's per-command folder (…/<command id>/…). */
export function ssmCommandId(cwd: string): string | null {
  const m = /\/orchestration\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:\/|$)/.exec(
    cwd,
  );
  return m?.[1] ?? null;
}

export interface SubmitIo {
  env: NodeJS.ProcessEnv;
  cwd: string;
  out: (line: string) => void;
  err: (line: string) => void;
}

const USAGE = `usage: rsqlo-agent submit (--job-env VAR | --job-file FILE) [--config FILE | --spool DIR]

Hands one job to the rsqlo agent daemon's spool and exits. VAR holds the base64-encoded JSON job
command (the SSM document passes it as ${JOB_ENV_VAR}); FILE holds the JSON itself. The spool
folder comes from --spool, else from the agent config (--config, $RSQLO_AGENT_CONFIG, or
/etc/rsqlo/agent.json).`;

/** Runs `submit`; returns the exit code (0 queued or already there, 1 failure, 2 usage). */
export function submitMain(argv: string[], io: SubmitIo): number {
  const opts: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '-h' || a === '--help') {
      io.out(USAGE);
      return 0;
    }
    const m = /^--(job-env|job-file|config|spool)(?:=(.*))?$/.exec(a);
    if (!m?.[1]) {
      io.err(`rsqlo-agent submit: unknown argument ${JSON.stringify(a)}\n${USAGE}`);
      return 2;
    }
    const value = m[2] ?? argv[++i];
    if (value === undefined || value === '') {
      io.err(`rsqlo-agent submit: --${m[1]} needs a value\n${USAGE}`);
      return 2;
    }
    opts[m[1]] = value;
  }
  if ((opts['job-env'] === undefined) === (opts['job-file'] === undefined)) {
    io.err(`rsqlo-agent submit: give exactly one of --job-env and --job-file\n${USAGE}`);
    return 2;
  }
  try {
    let instruction: AgentInstruction;
    if (opts['job-env'] !== undefined) {
      const name = opts['job-env'];
      const value = io.env[name];
      if (value === undefined) throw new InvalidJobError(`environment variable ${name} is not set`);
      instruction = decodeInstruction(value, `environment variable ${name}`);
    } else {
      const file = opts['job-file'] as string;
      let text: string;
      try {
        const buf = readFileSync(file);
        if (buf.length > MAX_JOB_BYTES)
          throw new InvalidJobError(`job file ${file} is ${buf.length} bytes; the limit is ${MAX_JOB_BYTES}`);
        text = buf.toString('utf8');
      } catch (err) {
        if (err instanceof InvalidJobError) throw err;
        throw new InvalidJobError(
          `cannot read job file ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`,
        );
      }
      instruction = parseInstructionJson(text, `job file ${file}`);
    }
    const spool = opts.spool ?? loadAgentConfig(configPath(opts.config, io.env)).spoolDir;
    const seen = {
      v: 1 as const,
      submitted_at: new Date().toISOString(),
      instance_id: io.env.AWS_SSM_INSTANCE_ID || null,
      command_id: ssmCommandId(io.cwd),
    };
    const write = <T>(f: () => T): T => {
      try {
        return f();
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new Error(
          code === 'ENOENT'
            ? `the spool ${spool} does not exist: is rsqlo-agent installed and its daemon started?`
            : `cannot write to the spool ${spool}: ${code ?? (err as Error).message}`,
        );
      }
    };
    if (instruction.kind === 'cancel') {
      const entry: SpooledCancel = { ...seen, cancel: instruction.cancel };
      const result = write(() => spoolCancel(path.resolve(spool), entry));
      io.out(
        result === 'queued'
          ? `rsqlo-agent: cancel of ${instruction.cancel.job_run_name} handed to the agent daemon`
          : `rsqlo-agent: cancel of ${instruction.cancel.job_run_name} was submitted before; nothing to do`,
      );
      return 0;
    }
    const cmd: JobCommand = instruction.command;
    const entry: SpooledCommand = { ...seen, command: cmd };
    const result = write(() => spoolCommand(path.resolve(spool), entry));
    io.out(
      result === 'queued'
        ? `rsqlo-agent: job ${cmd.job_run_name} handed to the agent daemon`
        : result === 'token'
          ? `rsqlo-agent: job ${cmd.job_run_name} was submitted before with another task token; the daemon adopts the live one`
          : `rsqlo-agent: job ${cmd.job_run_name} was submitted before; nothing to do`,
    );
    return 0;
  } catch (err) {
    io.err(`rsqlo-agent submit: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}
