/**
 * The agent installed by the stack (infra/constructs/agent-install.ts): the template holds the
 * bundle asset, the install document and its associations, and the hosts' read access to exactly
 * that object; and the document's shell steps, run in a temporary root on this machine with `aws`
 * and `systemctl` faked by scripts on PATH, install a bundle that runs with plain `node` (no
 * node_modules anywhere near it), start the daemon the way the unit says, and that daemon takes a
 * job and reports it (its AWS calls answered by a local endpoint, AWS_ENDPOINT_URL).
 *
 * State Manager's rule the upgrade relies on (AWS Systems Manager User Guide, "Working with
 * associations", UpdateAssociation): "When you update an association, the association immediately
 * runs against the specified targets." A new bundle changes `agentUri` and `agentSha256`, so the
 * CloudFormation update of the association is an UpdateAssociation and the hosts install it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { RE2JS } from 're2js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_VERSION } from '../contracts/events.js';
import { AgentInstall, INSTALL_PARAMETERS } from './constructs/agent-install.js';
import { PROJECT_ROOT } from './rsqlo-stack.js';
import { resources, synth } from './testing.js';

describe('the stack publishes the agent and installs it with State Manager', () => {
  const s = synth();
  const associations = resources(s.json, 'AWS::SSM::Association');
  const docId = s.stack.getLogicalId(s.stack.agentInstall.document);

  it('has one association per target kind, on the install document, with the bundle and its hash', () => {
    const byKey = Object.fromEntries(
      associations.map(([, r]) => {
        const t = (r.Properties?.Targets as Array<{ Key: string; Values: string[] }> | undefined)?.[0];
        return [t?.Key, t?.Values];
      }),
    );
    // TEST_CONTEXT has both: the tag and two instance ids, the targets the dispatcher uses too.
    expect(byKey).toEqual({
      'tag:rsqlo-agent': ['true'],
      InstanceIds: ['i-0123456789abcdef0', 'i-0fedcba9876543210'],
    });
    const sha = s.stack.agentInstall.sha256;
    for (const [, r] of associations) {
      expect(r.Properties?.Name).toEqual({ Ref: docId });
      expect(r.Properties?.DocumentVersion).toBe('$LATEST');
      expect(r.Properties?.ScheduleExpression).toBe('rate(30 minutes)');
      const p = r.Properties?.Parameters as Record<string, unknown[]>;
      expect(p.agentSha256).toEqual([sha]);
      expect(JSON.stringify(p.agentUri)).toContain(`/rsqlo-agent-${sha}.mjs`);
      expect(Object.keys(p).sort()).toEqual(Object.keys(INSTALL_PARAMETERS).sort());
    }
  });

  it('publishes the bundle as a file asset named by its hash, and the hosts may read exactly it', () => {
    const assembly = s.app.synth();
    const manifest = assembly.artifacts.find((a) => a.id === `${s.stack.artifactId}.assets`);
    const file = JSON.parse(
      readFileSync(path.join(assembly.directory, `${s.stack.artifactId}.assets.json`), 'utf8'),
    ) as { files: Record<string, { source: { path: string; packaging: string } }> };
    expect(manifest).toBeDefined();
    const id = `rsqlo-agent-${s.stack.agentInstall.sha256}`;
    expect(file.files[id]?.source.packaging).toBe('file');
    const bytes = readFileSync(path.join(assembly.directory, file.files[id]?.source.path as string));
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(s.stack.agentInstall.sha256);

    const [, policy] = resources(s.json, 'AWS::IAM::ManagedPolicy').find(([, r]) =>
      JSON.stringify(r).includes('ReadShippedFiles'),
    ) as unknown as [
      string,
      { Properties: { PolicyDocument: { Statement: Array<Record<string, unknown>> } } },
    ];
    const reads = policy.Properties.PolicyDocument.Statement.filter((st) =>
      JSON.stringify(st.Action).includes('s3:'),
    );
    expect(reads).toHaveLength(1);
    expect(reads[0]?.Action).toBe('s3:GetObject');
    // The bundle by its exact key, and this stack's script versions (the fixtures ship scripts).
    const [bundle, scripts, ...rest] = (reads[0]?.Resource ?? []) as unknown[];
    expect(rest).toEqual([]);
    expect(JSON.stringify(bundle)).toContain(`/rsqlo-agent-${s.stack.agentInstall.sha256}.mjs"`);
    expect(JSON.stringify(scripts)).toContain('/rsqlo-scripts-*.json"');
  });

  it('every allowedPattern of the install document compiles in RE2 and admits what the stack passes', () => {
    const content = s.json.Resources[docId]?.Properties?.Content as {
      parameters: Record<string, { allowedPattern: string }>;
    };
    const ok = (name: string, v: string) =>
      RE2JS.compile(content.parameters[name]?.allowedPattern as string)
        .matcher(v)
        .find();
    expect(ok('agentSha256', s.stack.agentInstall.sha256)).toBe(true);
    expect(ok('agentSha256', `${s.stack.agentInstall.sha256}; reboot`)).toBe(false);
    expect(
      ok('agentUri', `s3://cdk-hnb659fds-assets-123456789012-us-east-1/rsqlo-agent-${'a'.repeat(64)}.mjs`),
    ).toBe(true);
    expect(ok('agentUri', 's3://bucket/key $(reboot)')).toBe(false);
    expect(ok('config', Buffer.from('{"region":"us-east-1"}').toString('base64'))).toBe(true);
    expect(ok('runUser', 'rsqlo')).toBe(true);
    expect(ok('runUser', 'rsqlo;id')).toBe(false);
    expect(ok('region', 'eu-west-1')).toBe(true);
  });
});

// ---- the document's steps on a simulated host -------------------------------------------------

interface AwsCall {
  target: string;
  body: Record<string, unknown>;
}

/** A local endpoint for the daemon's AWS JSON-protocol calls (EventBridge, Step Functions, Logs). */
function fakeAws(): Promise<{ server: Server; url: string; calls: AwsCall[] }> {
  const calls: AwsCall[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const parsed = body ? (JSON.parse(body) as Record<string, unknown>) : {};
      calls.push({ target, body: parsed });
      let out: unknown = {};
      if (target.endsWith('.PutEvents')) {
        const entries = (parsed.Entries as unknown[]) ?? [];
        out = {
          FailedEntryCount: 0,
          Entries: entries.map((_, i) => ({ EventId: `event-${calls.length}-${i}` })),
        };
      }
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify(out));
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      resolve({ server, url: `http://127.0.0.1:${port}`, calls });
    }),
  );
}

/** Synthesizes a stack holding only the install construct, with the real bundle. */
function installStack() {
  const app = new App({ outdir: mkdtempSync(path.join(tmpdir(), 'rsqlo-install-cdk-')) });
  const stack = new Stack(app, 'install', { env: { account: '123456789012', region: 'us-east-1' } });
  const install = new AgentInstall(stack, 'Install', {
    projectRoot: PROJECT_ROOT,
    namePrefix: 'rsqlo',
    instanceIds: [],
    instanceTag: { key: 'rsqlo-agent', value: 'true' },
    agentConfig: { region: 'us-east-1' },
  });
  const json = Template.fromStack(stack).toJSON() as {
    Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
  };
  const doc = Object.values(json.Resources).find((r) => r.Type === 'AWS::SSM::Document');
  const content = doc?.Properties.Content as {
    mainSteps: Array<{ inputs: { runCommand: string[] } }>;
  };
  const assembly = app.synth();
  const bundle = readFileSync(path.join(assembly.directory, `asset.rsqlo-agent-${install.sha256}.mjs`));
  return {
    install,
    commands: content.mainSteps[0]?.inputs.runCommand ?? [],
    bundle,
    outdir: assembly.directory,
  };
}

const FAKE_AWS_CLI = `#!/bin/sh
# aws s3 cp s3://BUCKET/KEY DEST ...: copies $FAKE_S3/BUCKET/KEY (records the call)
echo "aws $*" >>"$FAKE_LOG"
[ "$1 $2" = "s3 cp" ] || { echo "fake aws: unexpected $*" >&2; exit 2; }
src="\${3#s3://}"
[ -f "$FAKE_S3/$src" ] || { echo "fatal error: An error occurred (404) when calling the HeadObject operation: Not Found" >&2; exit 1; }
cp "$FAKE_S3/$src" "$4"
`;

// systemctl: records every call; \`restart\` starts the unit's ExecStart (paths under the install
// root) in the background, as systemd would, and remembers its pid.
const FAKE_SYSTEMCTL = `#!/bin/sh
echo "systemctl $*" >>"$FAKE_LOG"
if [ "$1" = "is-active" ]; then
  [ -f "$RSQLO_INSTALL_ROOT/daemon.pid" ] && kill -0 "$(cat "$RSQLO_INSTALL_ROOT/daemon.pid")" 2>/dev/null
  exit $?
fi
if [ "$1" = "restart" ]; then
  unit="$RSQLO_INSTALL_ROOT/etc/systemd/system/$2"
  cmd="$(sed -n 's/^ExecStart=//p' "$unit" | sed -e "s|/opt/rsqlo/|$RSQLO_INSTALL_ROOT/opt/rsqlo/|g" -e "s|/etc/rsqlo/|$RSQLO_INSTALL_ROOT/etc/rsqlo/|g")"
  if [ -f "$RSQLO_INSTALL_ROOT/daemon.pid" ]; then kill "$(cat "$RSQLO_INSTALL_ROOT/daemon.pid")" 2>/dev/null || true; fi
  # A unit whose process dies at once (a host where the daemon cannot start).
  if [ -n "\${FAKE_NO_START:-}" ]; then rm -f "$RSQLO_INSTALL_ROOT/daemon.pid"; exit 0; fi
  setsid sh -c "exec $cmd" >>"$RSQLO_INSTALL_ROOT/daemon.log" 2>&1 </dev/null &
  echo $! >"$RSQLO_INSTALL_ROOT/daemon.pid"
fi
`;

describe('the install document on a simulated host', () => {
  let built: ReturnType<typeof installStack>;
  let aws: Awaited<ReturnType<typeof fakeAws>>;
  let root: string;
  let bin: string;
  let s3: string;
  let log: string;
  const KEY = 'cdk-assets/rsqlo-agent.mjs';

  const config = () => ({
    region: 'us-east-1',
    eventBusName: 'rsqlo',
    scriptRoot: path.join(root, 'srv/scripts'),
    logDir: path.join(root, 'var/log/rsqlo'),
    spoolDir: path.join(root, 'var/spool/rsqlo'),
    heartbeatEverySeconds: 1,
    logShipEverySeconds: 0.5,
  });

  /** Runs the document's commands as SSM would (bash, parameters as SSM_<name> variables). */
  function runDocument(over: Record<string, string> = {}) {
    const script = path.join(root, 'document.sh');
    writeFileSync(script, `${built.commands.join('\n')}\n`);
    return spawnSync('bash', [script], {
      encoding: 'utf8',
      env: {
        PATH: `${bin}:/usr/bin:/bin`,
        HOME: root,
        FAKE_S3: s3,
        FAKE_LOG: log,
        RSQLO_INSTALL_ROOT: root,
        AWS_ENDPOINT_URL: aws.url,
        AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
        AWS_SECRET_ACCESS_KEY: 'example-secret',
        AWS_REGION: 'us-east-1',
        SSM_agentUri: `s3://${KEY}`,
        SSM_agentSha256: built.install.sha256,
        SSM_config: Buffer.from(JSON.stringify(config())).toString('base64'),
        SSM_runUser: 'root',
        SSM_region: 'us-east-1',
        ...over,
      },
      timeout: 60_000,
    });
  }

  const daemonPid = () =>
    existsSync(path.join(root, 'daemon.pid'))
      ? Number(readFileSync(path.join(root, 'daemon.pid'), 'utf8'))
      : 0;

  beforeAll(async () => {
    built = installStack();
    aws = await fakeAws();
    root = mkdtempSync(path.join(tmpdir(), 'rsqlo-host-'));
    bin = path.join(root, 'fake-bin');
    s3 = path.join(root, 'fake-s3');
    log = path.join(root, 'calls.log');
    mkdirSync(bin);
    mkdirSync(path.join(s3, path.dirname(KEY)), { recursive: true });
    writeFileSync(path.join(bin, 'aws'), FAKE_AWS_CLI);
    writeFileSync(path.join(bin, 'systemctl'), FAKE_SYSTEMCTL);
    chmodSync(path.join(bin, 'aws'), 0o755);
    chmodSync(path.join(bin, 'systemctl'), 0o755);
  });

  afterAll(async () => {
    const pid = daemonPid();
    if (pid) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {}
    }
    aws?.server.close();
    if (root) rmSync(root, { recursive: true, force: true });
    if (built) rmSync(built.outdir, { recursive: true, force: true });
  });

  it('refuses a corrupt download: nothing installed, no service touched', () => {
    const corrupt = Buffer.from(built.bundle);
    corrupt[corrupt.length - 10] = (corrupt[corrupt.length - 10] ?? 0) ^ 0xff;
    writeFileSync(path.join(s3, KEY), corrupt);
    const r = runDocument();
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`expected ${built.install.sha256}: not installed`);
    expect(existsSync(path.join(root, 'opt/rsqlo/bin/rsqlo-agent.mjs'))).toBe(false);
    expect(readFileSync(log, 'utf8')).not.toContain('systemctl');
  });

  it('refuses a missing object', () => {
    rmSync(path.join(s3, KEY), { force: true });
    const r = runDocument();
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('404');
    expect(existsSync(path.join(root, 'opt/rsqlo/bin/rsqlo-agent.mjs'))).toBe(false);
  });

  it('installs the bundle, its config and unit, starts the daemon, and the daemon takes a job', async () => {
    writeFileSync(path.join(s3, KEY), built.bundle);
    const r = runDocument();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`rsqlo agent ${built.install.sha256} installed`);
    const installed = path.join(root, 'opt/rsqlo/bin/rsqlo-agent.mjs');
    expect(createHash('sha256').update(readFileSync(installed)).digest('hex')).toBe(built.install.sha256);
    // No node_modules anywhere above the installed bundle: it runs on its own.
    for (let d = path.dirname(installed); d !== path.dirname(d); d = path.dirname(d))
      expect(existsSync(path.join(d, 'node_modules'))).toBe(false);
    const unit = readFileSync(path.join(root, 'etc/systemd/system/rsqlo-agent.service'), 'utf8');
    expect(unit).toContain('ExecStart=/opt/rsqlo/bin/rsqlo-agent serve --config /etc/rsqlo/agent.json');
    expect(unit).toMatch(/^User=root$/m);
    expect(JSON.parse(readFileSync(path.join(root, 'etc/rsqlo/agent.json'), 'utf8'))).toEqual(config());
    expect(
      readFileSync(log, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('systemctl')),
    ).toEqual([
      'systemctl daemon-reload',
      'systemctl enable rsqlo-agent.service',
      'systemctl restart rsqlo-agent.service',
    ]);

    // A job, handed over the way the job document does it (`rsqlo-agent submit`).
    const scripts = config().scriptRoot;
    writeFileSync(path.join(scripts, 'hello.sh'), '#!/bin/bash\necho "hello from $RSQLO_JOB_KEY"\n');
    chmodSync(path.join(scripts, 'hello.sh'), 0o755);
    const exec = `install-test-${process.pid}`;
    const token = `AAAA${'k'.repeat(100)}`;
    const job = {
      version: EVENT_VERSION,
      task_token: token,
      job_run_name: `${exec}--1-1--a1`,
      workflow_id: 'wf',
      workflow_execution_id: exec,
      job_key: '1.1',
      job_name: 'hello.sh',
      stage: 1,
      attempt: 1,
      script: 'hello.sh',
      args: [],
      timeout_seconds: 120,
      heartbeat_seconds: 60,
      parameters: {},
    };
    const jobFile = path.join(root, 'job.json');
    writeFileSync(jobFile, JSON.stringify(job));
    execFileSync(path.join(root, 'opt/rsqlo/bin/rsqlo-agent'), ['submit', '--job-file', jobFile], {
      env: { PATH: '/usr/bin:/bin', RSQLO_AGENT_CONFIG: path.join(root, 'etc/rsqlo/agent.json') },
    });
    const detailTypes = () =>
      aws.calls
        .filter((c) => c.target.endsWith('.PutEvents'))
        .flatMap((c) => (c.body.Entries as Array<{ DetailType: string }>).map((e) => e.DetailType));
    const success = () =>
      aws.calls.find((c) => c.target.endsWith('.SendTaskSuccess') && c.body.taskToken === token);
    // Reports may come in any order (each is retried on its own): wait for all of them.
    const deadline = Date.now() + 45_000;
    while (!(success() && detailTypes().includes('JobFinished')) && Date.now() < deadline)
      await new Promise((res) => setTimeout(res, 100));
    const daemonLog = existsSync(path.join(root, 'daemon.log'))
      ? readFileSync(path.join(root, 'daemon.log'), 'utf8')
      : '';
    expect(success(), `no SendTaskSuccess; daemon log:\n${daemonLog}`).toBeDefined();
    expect(detailTypes()).toEqual(expect.arrayContaining(['JobStarted', 'JobFinished']));
    const logFile = path.join(config().logDir, exec, '1.1.a1.log');
    expect(readFileSync(logFile, 'utf8')).toContain('hello from 1.1');
  });

  it('applied again with the same bundle and config (its schedule), it downloads nothing and leaves the daemon alone', () => {
    const pid = daemonPid();
    rmSync(path.join(s3, KEY), { force: true });
    writeFileSync(log, '');
    const r = runDocument();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('already installed and running: nothing to do');
    expect(readFileSync(log, 'utf8').trim().split('\n')).toEqual([
      'systemctl enable rsqlo-agent.service',
      'systemctl is-active --quiet rsqlo-agent.service',
    ]);
    expect(daemonPid()).toBe(pid);
    writeFileSync(path.join(s3, KEY), built.bundle);
  });

  it('a config change alone restarts the daemon with it', () => {
    const pid = daemonPid();
    writeFileSync(log, '');
    const r = runDocument({
      SSM_config: Buffer.from(JSON.stringify({ ...config(), maxConcurrency: 2 })).toString('base64'),
    });
    expect(r.status).toBe(0);
    expect(readFileSync(log, 'utf8')).not.toContain('aws s3 cp');
    expect(readFileSync(log, 'utf8')).toContain('systemctl restart rsqlo-agent.service');
    expect(daemonPid()).not.toBe(pid);
    expect(JSON.parse(readFileSync(path.join(root, 'etc/rsqlo/agent.json'), 'utf8')).maxConcurrency).toBe(2);
  });

  it('an upgrade with a corrupt bundle leaves the installed agent in place and running', () => {
    const before = readFileSync(path.join(root, 'opt/rsqlo/bin/rsqlo-agent.mjs'));
    const pid = daemonPid();
    writeFileSync(path.join(s3, KEY), Buffer.concat([built.bundle, Buffer.from('\n// tampered\n')]));
    // A new version is announced (another hash) but what arrives is not it.
    const r = runDocument({ SSM_agentSha256: 'f'.repeat(64) });
    expect(r.status).not.toBe(0);
    expect(readFileSync(path.join(root, 'opt/rsqlo/bin/rsqlo-agent.mjs')).equals(before)).toBe(true);
    expect(daemonPid()).toBe(pid);
    expect(() => process.kill(pid, 0)).not.toThrow();
  });

  it('fails when the daemon does not come up: a job sent next would find no spool', () => {
    // systemd's restart returns once the process is forked; the install waits for the daemon's
    // spool (a CI run once submitted a job before the daemon had made it).
    const pid = daemonPid();
    process.kill(-pid, 'SIGKILL');
    rmSync(config().spoolDir, { recursive: true, force: true });
    const r = runDocument({ FAKE_NO_START: '1', RSQLO_READY_SECONDS: '1' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(
      `the daemon did not make its spool ${config().spoolDir} within 1 s: see journalctl -u rsqlo-agent`,
    );
    expect(r.stdout).not.toContain('started');
  });
});
