import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  CloudWatchLogsClient,
  CreateLogStreamCommand,
  PutLogEventsCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
  TaskTimedOut,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JobFinished, JobStarted } from '../contracts/events.js';
import type { JobCommand } from '../contracts/jobs.js';
import { isSameProcessAlive, killProcessTree, processInfo } from '../platform/processes.js';
import type { Logger } from '../services/ports.js';
import { type AgentDaemon, createAgentDaemon } from './daemon.js';
import { awsPorts } from './main.js';
import { submitMain } from './submit.js';
import {
  encodeJob,
  jobCommand,
  makeWorkspace,
  TEST_PASSWORD,
  TEST_SECRET,
  TEST_TOKEN,
  until,
  type Workspace,
  writeScript,
} from './testing/fixtures.js';

const sfn = mockClient(SFNClient);
const eb = mockClient(EventBridgeClient);
const cwl = mockClient(CloudWatchLogsClient);
const sm = mockClient(SecretsManagerClient);

const SSM_CWD =
  '/var/lib/amazon/ssm/i-0123456789abcdef0/document/orchestration/1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d/submitJob';

function awsUp(): void {
  sfn.reset();
  eb.reset();
  cwl.reset();
  sm.reset();
  sfn.on(SendTaskSuccessCommand).resolves({});
  sfn.on(SendTaskFailureCommand).resolves({});
  sfn.on(SendTaskHeartbeatCommand).resolves({});
  eb.on(PutEventsCommand).callsFake((input: { Entries?: unknown[] }) => ({
    FailedEntryCount: 0,
    Entries: (input.Entries ?? []).map((_, i) => ({ EventId: `id-${i}` })),
  }));
  cwl.on(CreateLogStreamCommand).resolves({});
  cwl.on(PutLogEventsCommand).resolves({});
  sm.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify(TEST_SECRET) });
}

/** Every entry PutEvents was called with (including calls that failed). */
function entries(): PutEventsRequestEntry[] {
  return eb.commandCalls(PutEventsCommand).flatMap((c) => c.args[0].input.Entries ?? []);
}

/** Details of the entries of `type` from calls that succeeded. */
async function delivered(type: string): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = [];
  for (const call of eb.commandCalls(PutEventsCommand)) {
    const ok = await Promise.resolve(call.returnValue).then(
      () => true,
      () => false,
    );
    if (!ok) continue;
    for (const e of call.args[0].input.Entries ?? [])
      if (e.DetailType === type) out.push(JSON.parse(e.Detail ?? '{}') as Record<string, unknown>);
  }
  return out;
}

async function succeeded<T extends object>(
  calls: Array<{ args: [{ input: T }]; returnValue: Promise<unknown> }>,
) {
  const out: T[] = [];
  for (const c of calls)
    if (
      await Promise.resolve(c.returnValue).then(
        () => true,
        () => false,
      )
    )
      out.push(c.args[0].input);
  return out;
}

function recordingLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const push = (level: string) => (m: string, f?: Record<string, unknown>) =>
    lines.push(JSON.stringify({ level, m, ...f }));
  return { lines, log: { info: push('info'), warn: push('warn'), error: push('error') } };
}

function submit(ws: Workspace, cmd: unknown): { code: number; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  const code = submitMain(['--job-env', 'SSM_job', '--spool', ws.spool], {
    env: { SSM_job: encodeJob(cmd), AWS_SSM_INSTANCE_ID: 'i-0123456789abcdef0' },
    cwd: SSM_CWD,
    out: (l) => out.push(l),
    err: (l) => err.push(l),
  });
  return { code, out, err };
}

function stateOf(ws: Workspace, cmd: JobCommand): { phase: string; pid: number | null } | undefined {
  const file = path.join(ws.spool, 'state', `${cmd.job_run_name}.json`);
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : undefined;
}

function isDone(ws: Workspace, cmd: JobCommand): boolean {
  return stateOf(ws, cmd)?.phase === 'done';
}

function readPid(ws: Workspace, name: string): number | undefined {
  try {
    const n = Number(readFileSync(path.join(ws.out, name), 'utf8').trim());
    return n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

/** Processes whose command line contains `text`. */
function processesWithArgv(text: string): number[] {
  const hits: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`).includes(text)) hits.push(Number(name));
    } catch {
      // gone
    }
  }
  return hits;
}

describe('rsqlo-agent daemon', () => {
  let ws: Workspace;
  let daemons: AgentDaemon[];
  let logLines: string[];

  const start = async (
    over: Partial<Parameters<typeof createAgentDaemon>[0]> = {},
    portOpts: { now?: () => number } = {},
  ): Promise<AgentDaemon> => {
    const { log, lines } = recordingLogger();
    logLines = lines;
    const ports = awsPorts(ws.config, {
      log,
      retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 5 },
      ...portOpts,
    });
    const d = createAgentDaemon({
      config: ws.config,
      ...ports,
      pollMs: 50,
      retryBackoff: { baseMs: 50, maxMs: 200 },
      ...over,
    });
    daemons.push(d);
    await d.start();
    return d;
  };

  /** What a secret must never appear in: the daemon's log, events, Step Functions and Logs requests, the spool. */
  const everythingVisible = (): string =>
    [
      ...logLines,
      ...entries().map((e) => JSON.stringify(e)),
      ...sfn.calls().map((c) => JSON.stringify(c.args[0].input)),
      ...cwl.calls().map((c) => JSON.stringify(c.args[0].input)),
      ...filesUnder(ws.spool).map((f) => readFileSync(f, 'utf8')),
    ].join('\n');

  beforeEach(() => {
    awsUp();
    daemons = [];
    logLines = [];
    ws = makeWorkspace();
    writeScript(
      ws,
      'ok.sh',
      'echo "hello from $RSQLO_JOB_KEY on $LOAD_DATE"\necho "$RSQLO_JOB_RUN" >> "$TEST_OUT/runs"',
    );
    writeScript(
      ws,
      'fail.sh',
      'echo "step 1 ok"\necho \'ERROR: relation "rsql_blog.missing" does not exist\' >&2\nexit 3',
    );
    writeScript(
      ws,
      'wait.sh',
      'echo $$ > "$TEST_OUT/$RSQLO_JOB_KEY.pid"\necho "waiting"\nwhile [ ! -f "$TEST_OUT/$RSQLO_JOB_KEY.go" ]; do sleep 0.05; done\necho "released"',
    );
  });

  afterEach(async () => {
    for (const d of daemons) await d.stop();
    for (const f of readdirSync(ws.out)) {
      if (!/\.(pid|child|escaped)$/.test(f)) continue;
      const pid = readPid(ws, f);
      if (pid) await killProcessTree(pid, 0);
    }
    rmSync(ws.root, { recursive: true, force: true });
  });

  it('runs a submitted job and reports JobStarted, JobFinished and SendTaskSuccess; ships its log', async () => {
    await start();
    const cmd = jobCommand('ok.sh');
    expect(submit(ws, cmd).code).toBe(0);
    await until(() => isDone(ws, cmd), 'the job to be done');

    const [started] = await delivered('JobStarted');
    const [finished] = await delivered('JobFinished');
    const location = `cloudwatch:/ops/rsql-logs/:${cmd.job_run_name}`;
    expect(started).toMatchObject({
      event_id: `JobStarted:${cmd.workflow_execution_id}:1.1:a1`,
      workflow_execution_id: cmd.workflow_execution_id,
      job_key: '1.1',
      attempt: 1,
      instance_id: 'i-0123456789abcdef0',
      ssm_command_id: '1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d',
      log_location: location,
    });
    expect(finished).toMatchObject({
      event_id: `JobFinished:${cmd.workflow_execution_id}:1.1:a1`,
      status: 'Completed',
      exit_code: 0,
      error_message: null,
      reported_by: 'agent',
      log_location: location,
    });
    expect(entries().every((e) => e.Source === 'rsqlo' && e.EventBusName === 'rsqlo-bus')).toBe(true);
    // They satisfy the event contracts.
    expect(() => JobStarted.parse(started)).not.toThrow();
    expect(() => JobFinished.parse(finished)).not.toThrow();
    const success = sfn.commandCalls(SendTaskSuccessCommand).map((c) => c.args[0].input);
    expect(success).toHaveLength(1);
    expect(success[0]?.taskToken).toBe(TEST_TOKEN);
    expect(JSON.parse(success[0]?.output ?? '{}')).toMatchObject({ status: 'Completed', exit_code: 0 });
    expect(sfn.commandCalls(SendTaskFailureCommand)).toHaveLength(0);

    const logFile = path.join(ws.logs, cmd.workflow_execution_id, '1.1.a1.log');
    expect(readFileSync(logFile, 'utf8')).toContain('hello from 1.1 on 2024-01-31');
    const shipped = cwl.commandCalls(PutLogEventsCommand).flatMap((c) => c.args[0].input.logEvents ?? []);
    expect(shipped.map((e) => e.message)).toContain('hello from 1.1 on 2024-01-31');
    expect(cwl.commandCalls(CreateLogStreamCommand)[0]?.args[0].input).toEqual({
      logGroupName: '/ops/rsql-logs/',
      logStreamName: cmd.job_run_name,
    });
    // The command (task token) is gone from the spool; the tombstone stays.
    expect(existsSync(path.join(ws.spool, 'jobs', `${cmd.job_run_name}.json`))).toBe(false);
  });

  it('keeps stdout and stderr lines in the order written, in the log file and in CloudWatch Logs', async () => {
    await start();
    // bash echo and >&2 alternating, then a node process writing as the rsql runner does
    // (process.stdout / process.stderr, both the job's log), many times each.
    writeScript(
      ws,
      'interleave.sh',
      [
        'for i in $(seq 1 300); do echo "out $i"; echo "err $i" >&2; done',
        `"${process.execPath}" -e 'for (let i = 1; i <= 300; i++) { process.stdout.write("echo " + i + "\\n"); process.stderr.write("rsql: ERROR: " + i + "\\n"); }'`,
      ].join('\n'),
    );
    const cmd = jobCommand('interleave.sh');
    expect(submit(ws, cmd).code).toBe(0);
    await until(() => isDone(ws, cmd), 'the job to be done');
    const expected: string[] = [];
    for (let i = 1; i <= 300; i++) expected.push(`out ${i}`, `err ${i}`);
    for (let i = 1; i <= 300; i++) expected.push(`echo ${i}`, `rsql: ERROR: ${i}`);
    const logFile = path.join(ws.logs, cmd.workflow_execution_id, '1.1.a1.log');
    expect(readFileSync(logFile, 'utf8').split('\n').filter(Boolean)).toEqual(expected);
    await until(
      () =>
        cwl.commandCalls(PutLogEventsCommand).flatMap((c) => c.args[0].input.logEvents ?? []).length >=
        expected.length,
      'the log to be shipped',
    );
    const shipped = cwl.commandCalls(PutLogEventsCommand).flatMap((c) => c.args[0].input.logEvents ?? []);
    expect(shipped.map((e) => e.message)).toEqual(expected);
  });

  it('reports a failing script: JobFinished Failed with exit code and error lines, SendTaskFailure(JobFailed)', async () => {
    await start();
    const cmd = jobCommand('fail.sh');
    submit(ws, cmd);
    await until(() => isDone(ws, cmd), 'the job to be done');
    const [finished] = await delivered('JobFinished');
    expect(finished).toMatchObject({ status: 'Failed', exit_code: 3 });
    expect(finished?.error_message).toContain('ERROR: relation "rsql_blog.missing" does not exist');
    const failures = sfn.commandCalls(SendTaskFailureCommand).map((c) => c.args[0].input);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ taskToken: TEST_TOKEN, error: 'JobFailed' });
    expect(failures[0]?.cause).toContain('does not exist');
    expect(sfn.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
  });

  it('fails a job whose script does not exist, without starting anything', async () => {
    await start();
    const cmd = jobCommand('missing/nope.sh');
    submit(ws, cmd);
    await until(() => isDone(ws, cmd), 'the job to be done');
    expect(await delivered('JobStarted')).toHaveLength(0);
    const [finished] = await delivered('JobFinished');
    expect(finished).toMatchObject({ status: 'Failed', exit_code: null, started_at: null });
    expect(finished?.error_message).toMatch(/script not found: .*missing\/nope\.sh/);
    expect(() => JobFinished.parse(finished)).not.toThrow();
    expect(sfn.commandCalls(SendTaskFailureCommand)).toHaveLength(1);
  });

  it('heartbeats while the job runs and kills its process tree when the orchestrator gives up', async () => {
    writeScript(
      ws,
      'tree.sh',
      [
        'echo $$ > "$TEST_OUT/tree.pid"',
        'sleep 300 &',
        'echo $! > "$TEST_OUT/tree.child"',
        'setsid sleep 301 &',
        'echo $! > "$TEST_OUT/tree.escaped"',
        'wait',
      ].join('\n'),
    );
    const treePids = () => {
      const p = ['tree.pid', 'tree.child', 'tree.escaped'].map((f) => readPid(ws, f));
      return p.every((x) => x !== undefined) ? (p as number[]) : undefined;
    };
    // The first heartbeat is the agent's check before it starts the job; three more are accepted
    // once the job runs (its processes wrote their pids, so its log exists), then the orchestrator
    // gives up. Counting from the job's start, not the first beat, keeps a slow job host (a loaded
    // machine) from being given up on before it spawned the job.
    let whileRunning = 0;
    sfn.on(SendTaskHeartbeatCommand).callsFake(() => {
      if (!treePids() || whileRunning++ < 3) return {};
      throw new TaskTimedOut({ message: 'Task Timed Out', $metadata: {} });
    });
    await start();
    const cmd = jobCommand('tree.sh');
    submit(ws, cmd);
    const pids = await until(treePids, 'the job and its children');
    await until(() => isDone(ws, cmd), 'the job to be killed and done');
    const beats = sfn.commandCalls(SendTaskHeartbeatCommand).map((c) => c.args[0].input);
    expect(beats.length).toBeGreaterThanOrEqual(5);
    expect(beats.every((b) => b.taskToken === TEST_TOKEN)).toBe(true);
    await until(
      () => pids.every((p) => !isSameProcessAlive(p, undefined)),
      'every process of the job to be gone',
    );
    // The wrapper reported TimedOut itself: the agent adds no JobFinished and no task result.
    expect(await delivered('JobFinished')).toHaveLength(0);
    expect(sfn.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
    expect(sfn.commandCalls(SendTaskFailureCommand)).toHaveLength(0);
    const log = readFileSync(path.join(ws.logs, cmd.workflow_execution_id, '1.1.a1.log'), 'utf8');
    expect(log).toContain('the orchestrator no longer waits for this attempt (TaskTimedOut)');
  });

  it('kills a job that outlives its timeout_seconds and reports it TimedOut without a task result', async () => {
    await start();
    const cmd = jobCommand('wait.sh', { timeout_seconds: 1 });
    submit(ws, cmd);
    await until(() => isDone(ws, cmd), 'the job to time out');
    const [finished] = await delivered('JobFinished');
    expect(finished).toMatchObject({ status: 'TimedOut', exit_code: null });
    expect(sfn.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
    expect(sfn.commandCalls(SendTaskFailureCommand)).toHaveLength(0);
    const pid = readPid(ws, '1.1.pid');
    expect(pid && isSameProcessAlive(pid, undefined)).toBeFalsy();
  });

  it('keeps reports made while EventBridge and Step Functions are down, across a restart, and delivers them once back', async () => {
    eb.reset();
    eb.on(PutEventsCommand).rejects(Object.assign(new Error('connect ETIMEDOUT'), { code: 'ETIMEDOUT' }));
    sfn.reset();
    sfn.on(SendTaskHeartbeatCommand).resolves({});
    sfn.on(SendTaskSuccessCommand).rejects(
      Object.assign(new Error('Service Unavailable'), {
        name: 'ServiceUnavailable',
        $fault: 'server',
        $metadata: { httpStatusCode: 503 },
      }),
    );
    const first = await start();
    const cmd = jobCommand('ok.sh');
    submit(ws, cmd);
    await until(() => stateOf(ws, cmd)?.phase === 'finished', 'the job to finish');
    await until(() => eb.commandCalls(PutEventsCommand).length >= 4, 'several delivery attempts');
    await until(
      () => sfn.commandCalls(SendTaskSuccessCommand).length >= 4,
      'several SendTaskSuccess attempts',
    );
    await first.stop();
    const pending = JSON.parse(
      readFileSync(path.join(ws.spool, 'state', `${cmd.job_run_name}.json`), 'utf8'),
    ) as { reports: Array<{ id: string }> };
    expect(pending.reports.map((r) => r.id).sort()).toEqual(['finished', 'started', 'task']);

    awsUp();
    await start();
    await until(() => isDone(ws, cmd), 'the reports to be delivered');
    expect((await delivered('JobStarted')).map((d) => d.event_id)).toEqual([
      `JobStarted:${cmd.workflow_execution_id}:1.1:a1`,
    ]);
    expect((await delivered('JobFinished')).map((d) => d.status)).toEqual(['Completed']);
    expect(await succeeded(sfn.commandCalls(SendTaskSuccessCommand))).toHaveLength(1);
    // It ran once.
    expect(readFileSync(path.join(ws.out, 'runs'), 'utf8').trim().split('\n')).toEqual([cmd.job_run_name]);
  });

  it('puts the credentials in the job environment only: not in argv, logs, events, task results or the spool', async () => {
    writeScript(
      ws,
      'env.sh',
      [
        'env > "$TEST_OUT/env.txt"',
        'echo "connecting as $USER with $PGPASSWORD" >&2',
        'while [ ! -f "$TEST_OUT/env.go" ]; do sleep 0.05; done',
        'exit 4',
      ].join('\n'),
    );
    await start();
    const cmd = jobCommand('env.sh');
    submit(ws, cmd);
    await until(
      () => existsSync(path.join(ws.out, 'env.txt')) && readFileSync(path.join(ws.out, 'env.txt'), 'utf8'),
      'the env dump',
    );
    const env = Object.fromEntries(
      readFileSync(path.join(ws.out, 'env.txt'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    expect(env).toMatchObject({
      HOST: TEST_SECRET.host,
      PORT: '5439',
      USER: 'etl_user',
      DB: 'dev',
      RSPASSWORD: TEST_PASSWORD,
      PGHOST: TEST_SECRET.host,
      PGPORT: '5439',
      PGUSER: 'etl_user',
      PGDATABASE: 'dev',
      PGPASSWORD: TEST_PASSWORD,
      LOAD_DATE: '2024-01-31',
      RSQLO_JOB_KEY: '1.1',
      RSQLO_EXECUTION_ID: cmd.workflow_execution_id,
      RSQLO_ATTEMPT: '1',
      TEST_OUT: ws.out,
    });
    // While it runs: no process has the password on its command line.
    expect(processesWithArgv(TEST_PASSWORD)).toEqual([]);
    writeFileSync(path.join(ws.out, 'env.go'), '');
    await until(() => isDone(ws, cmd), 'the job to be done');

    const [finished] = await delivered('JobFinished');
    expect(finished).toMatchObject({ status: 'Failed', exit_code: 4 });
    expect(finished?.error_message).toContain('connecting as etl_user with ********');
    const everything = everythingVisible();
    expect(everything).toContain('connecting as etl_user with ********');
    expect(everything).not.toContain(TEST_PASSWORD);
    expect(logLines.join('\n')).not.toContain(TEST_TOKEN);
    expect(sm.commandCalls(GetSecretValueCommand)[0]?.args[0].input).toEqual({ SecretId: 'blog-secret' });
  });

  it('reads the secret once for many jobs, again after secretRefreshSeconds, and at once after a refused login', async () => {
    // The secret cache's clock (the daemon keeps real time): 15 minutes pass without a sleep.
    let t = Date.parse('2025-03-01T00:00:00Z');
    const reads = () => sm.commandCalls(GetSecretValueCommand).length;
    writeScript(
      ws,
      'refused.sh',
      'echo "rsql: password authentication failed for user \\"$USER\\"" >&2\nexit 2',
    );
    await start({}, { now: () => t });
    const run = async (script: string, n = 1) => {
      const cmds = Array.from({ length: n }, () => jobCommand(script));
      for (const cmd of cmds) submit(ws, cmd);
      await until(() => cmds.every((c) => isDone(ws, c)), `${n} ${script} job(s) to be done`);
      return cmds;
    };
    await run('ok.sh', 6);
    expect(reads()).toBe(1);
    t += 14 * 60_000;
    await run('ok.sh');
    expect(reads()).toBe(1);
    t += 60_000;
    await run('ok.sh');
    expect(reads()).toBe(2);
    // The database refused the cached password (rotated meanwhile): the next job reads it again.
    const [refused] = await run('refused.sh');
    expect(reads()).toBe(2);
    expect(
      (await delivered('JobFinished')).find(
        (e) => e.job_key === refused?.job_key && e.workflow_execution_id === refused?.workflow_execution_id,
      ),
    ).toMatchObject({ status: 'Failed' });
    expect(logLines.some((l) => l.includes('the database refused the job'))).toBe(true);
    await run('ok.sh');
    expect(reads()).toBe(3);
    expect(readFileSync(path.join(ws.out, 'runs'), 'utf8').trim().split('\n')).toHaveLength(9);
    expect(logLines.join('\n')).not.toContain(TEST_PASSWORD);
  });

  it('still blanks the old password of a job that started before the secret was rotated', async () => {
    const rotated = 'R0tated-Pa55word-Two';
    sm.reset();
    sm.on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: JSON.stringify(TEST_SECRET) })
      .resolves({ SecretString: JSON.stringify({ ...TEST_SECRET, password: rotated }) });
    let t = Date.parse('2025-03-01T00:00:00Z');
    writeScript(
      ws,
      'leaky.sh',
      [
        'echo $$ > "$TEST_OUT/$RSQLO_JOB_KEY.pid"',
        'while [ ! -f "$TEST_OUT/$RSQLO_JOB_KEY.go" ]; do sleep 0.05; done',
        'echo "still using $PGPASSWORD" >&2',
        'exit 4',
      ].join('\n'),
    );
    await start({}, { now: () => t });
    const exec = `wf-rotation-${process.pid}`;
    const before = jobCommand('leaky.sh', { job_key: '1.1', workflow_execution_id: exec });
    submit(ws, before);
    await until(() => readPid(ws, '1.1.pid'), 'the first job to run');
    t += 15 * 60_000; // the cache refreshes: the second job gets the rotated password
    const after = jobCommand('leaky.sh', { job_key: '1.2', workflow_execution_id: exec });
    submit(ws, after);
    await until(() => readPid(ws, '1.2.pid'), 'the second job to run');
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
    // The first job prints its (old) password only now, after the redactor learnt the new one.
    for (const key of ['1.1', '1.2']) writeFileSync(path.join(ws.out, `${key}.go`), '');
    await until(() => isDone(ws, before) && isDone(ws, after), 'both jobs to be done');
    const finished = await delivered('JobFinished');
    expect(finished.map((e) => e.error_message)).toEqual([
      expect.stringContaining('still using ********'),
      expect.stringContaining('still using ********'),
    ]);
    const everything = everythingVisible();
    expect(everything).not.toContain(TEST_PASSWORD);
    expect(everything).not.toContain(rotated);
  });

  it('runs at most maxConcurrency jobs at once; the others wait in the spool', async () => {
    ws = makeWorkspace({ maxConcurrency: 1 });
    writeScript(
      ws,
      'wait.sh',
      'echo $$ > "$TEST_OUT/$RSQLO_JOB_KEY.pid"\nwhile [ ! -f "$TEST_OUT/$RSQLO_JOB_KEY.go" ]; do sleep 0.05; done',
    );
    const d = await start();
    const a = jobCommand('wait.sh', { job_key: '1.1' });
    const b = jobCommand('wait.sh', { job_key: '1.2', workflow_execution_id: a.workflow_execution_id });
    submit(ws, a);
    await until(() => readPid(ws, '1.1.pid'), 'the first job to start');
    submit(ws, b);
    await until(() => d.active().some((j) => j.name === b.job_run_name), 'the second job to be accepted');
    // Passes later it still waits: the first one holds the only slot (a pass runs synchronously,
    // so what it decided is visible as soon as poke returns).
    d.poke();
    d.poke();
    expect(readPid(ws, '1.2.pid')).toBeUndefined();
    expect(d.active().find((j) => j.name === b.job_run_name)?.phase).toBe('accepted');
    writeFileSync(path.join(ws.out, '1.1.go'), '');
    await until(() => readPid(ws, '1.2.pid'), 'the second job to start');
    writeFileSync(path.join(ws.out, '1.2.go'), '');
    await until(() => isDone(ws, a) && isDone(ws, b), 'both jobs to be done');
    expect((await delivered('JobFinished')).map((f) => f.status)).toEqual(['Completed', 'Completed']);
  });

  it('does not run a redelivered command twice, while queued or after it finished', async () => {
    const d = await start();
    const cmd = jobCommand('ok.sh');
    expect(submit(ws, cmd).out).toEqual([`rsqlo-agent: job ${cmd.job_run_name} handed to the agent daemon`]);
    const again = submit(ws, cmd);
    expect(again.code).toBe(0);
    expect(again.out[0]).toContain('was submitted before');
    await until(() => isDone(ws, cmd), 'the job to be done');
    const late = submit(ws, cmd);
    expect(late.code).toBe(0);
    expect(late.out[0]).toContain('was submitted before');
    // A pass over the spool after the late copy (synchronous): it takes nothing up again.
    d.poke();
    expect(d.active().some((j) => j.name === cmd.job_run_name)).toBe(false);
    expect(readFileSync(path.join(ws.out, 'runs'), 'utf8').trim().split('\n')).toEqual([cmd.job_run_name]);
    expect(await delivered('JobStarted')).toHaveLength(1);
    expect(sfn.commandCalls(SendTaskSuccessCommand)).toHaveLength(1);
  });

  it('on stop leaves a running job running; the next daemon adopts it and reports it once', async () => {
    const first = await start();
    const cmd = jobCommand('wait.sh');
    submit(ws, cmd);
    const pid = await until(() => readPid(ws, '1.1.pid'), 'the job to start');
    await until(() => entries().some((e) => e.DetailType === 'JobStarted'), 'JobStarted');
    // The script runs under its wrapper, the job's process-group leader: the pid the daemon keeps.
    const leader = processInfo(pid)?.pgrp;
    expect(leader).toBeDefined();
    expect(first.active().find((j) => j.name === cmd.job_run_name)?.pid).toBe(leader);
    await first.stop();
    expect(isSameProcessAlive(pid, undefined)).toBe(true);
    const second = await start();
    await until(
      () => second.active().find((j) => j.name === cmd.job_run_name && j.pid === leader),
      'adoption',
    );
    const beatsBefore = sfn.commandCalls(SendTaskHeartbeatCommand).length;
    await until(
      () => sfn.commandCalls(SendTaskHeartbeatCommand).length > beatsBefore,
      'a heartbeat for the adopted job',
    );
    writeFileSync(path.join(ws.out, '1.1.go'), '');
    await until(() => isDone(ws, cmd), 'the adopted job to be reported');
    expect(await delivered('JobStarted')).toHaveLength(1);
    expect((await delivered('JobFinished')).map((f) => [f.status, f.exit_code])).toEqual([['Completed', 0]]);
    expect(sfn.commandCalls(SendTaskSuccessCommand)).toHaveLength(1);
  });
});
