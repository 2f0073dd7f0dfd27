/**
 * Scripts shipped by the stack, on the AWS path: a run records the script version the stack had
 * deployed when it started (the starter's environment), every job of it runs that version on
 * every host (fetched from S3 into the host's cache), a deploy during the run changes nothing for
 * it, and its restart — a new run — takes the version deployed by then.
 *
 * The versions are what the CDK app publishes: infra/workflows.ts bundleScripts over a workflows
 * folder, uploaded to S3 (fauxqs's S3 emulator) under the key the stack gives the agents. A
 * "deploy" is what a CloudFormation update does to the starter: new containers with the new
 * environment (RSQLO_SCRIPT_VERSION).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { type FauxqsServer, startFauxqs } from 'fauxqs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { jobRunName } from '../../contracts/jobs.js';
import { bundleScripts, loadWorkflowFolder, type ScriptBundle } from '../../infra/workflows.js';
import { ENV } from '../../runtime/aws/settings.js';
import { dynamoLocal } from '../support/dynamodb-local.js';
import { stages } from '../support/workspace.js';
import { type AwsHarness, createAwsHarness } from './harness.js';
import { LambdaFunction } from './sim/lambda.js';

const ddb = dynamoLocal('test/aws/script-version.test.ts');
const BUCKET = 'cdk-hnb659fds-assets-123456789012-us-east-1';
const KEY_PREFIX = 'rsqlo-scripts-';
const WF = 'shipped_scripts';

/** A workflows folder holding WF with its scripts; each script says which version it is. */
function versionFolder(root: string, v: string, gate: string): string {
  const dir = path.join(root, v, WF);
  mkdirSync(path.join(dir, 'scripts'), { recursive: true });
  writeFileSync(
    path.join(dir, 'workflow.json'),
    JSON.stringify({
      workflow_id: WF,
      workflow_stages: stages(
        ['parallel', ['first_a.sh', 'first_b.sh']],
        ['sequential', ['hold.sh', 'last.sh']],
      ),
    }),
  );
  const script = (name: string, body: string) =>
    writeFileSync(path.join(dir, 'scripts', name), `#!/bin/bash\n${body}\n`, { mode: 0o755 });
  script('first_a.sh', `echo "${v} first_a"`);
  script('first_b.sh', `echo "${v} first_b"`);
  // Waits for the test's go-ahead (the deploy happens meanwhile).
  script('hold.sh', `echo "${v} hold"; while [ ! -f ${gate} ]; do sleep 0.05; done`);
  script(
    'last.sh',
    v === 'v1' ? `echo "${v} last"; echo "ERROR: ${v} last is broken" >&2; exit 3` : `echo "${v} last fixed"`,
  );
  return path.join(root, v);
}

describe.skipIf(!ddb.endpoint)('AWS path: scripts shipped as versions', () => {
  let h: AwsHarness | undefined;
  let s3Server: FauxqsServer | undefined;
  const dirs: string[] = [];
  afterEach(async () => {
    await h?.dispose();
    h = undefined;
    await s3Server?.stop();
    s3Server = undefined;
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  /** A new starter container set with the deployed version in its environment (a deploy). */
  async function deployStarter(harness: AwsHarness, bundle: ScriptBundle) {
    vi.stubEnv(ENV.scriptVersion, bundle.version);
    vi.stubEnv(ENV.scriptWorkflows, bundle.workflows.map((w) => w.workflowId).join(','));
    const containers = [];
    for (let i = 0; i < 2; i++) {
      vi.resetModules();
      containers.push((await import('../../services/starter/handler.js')).handler);
    }
    harness.functions.set('starter', new LambdaFunction('starter', containers));
  }

  it('a run keeps the version it started with across a deploy; its restart takes the new one', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'rsqlo-shipped-'));
    dirs.push(root);
    const gate = path.join(root, 'go');
    const v1 = bundleScripts(versionFolder(root, 'v1', gate), loadWorkflowFolder(path.join(root, 'v1')));
    const v2 = bundleScripts(versionFolder(root, 'v2', gate), loadWorkflowFolder(path.join(root, 'v2')));
    expect(v1.version).not.toBe(v2.version);
    const definition = loadWorkflowFolder(path.join(root, 'v1'))[0]?.raw as Record<string, unknown>;

    // S3 (fauxqs) with v1 published, as the first deploy leaves it.
    s3Server = await startFauxqs({ port: 0, logger: false });
    const endpoint = `http://s3.localhost:${s3Server.port}`;
    const s3 = new S3Client({
      // The uploader goes by address (the harness resolves *.localhost only once it runs).
      endpoint: `http://127.0.0.1:${s3Server.port}`,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      forcePathStyle: true,
    });
    const publish = (b: ScriptBundle) =>
      s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${KEY_PREFIX}${b.version}.json`, Body: b.bytes }));
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    await publish(v1);

    // The hosts' own script folder is empty: a job that ran from it would fail "not found".
    const emptyRoot = path.join(root, 'rsql_script_path');
    mkdirSync(emptyRoot);
    h = await createAwsHarness({
      endpoint: ddb.endpoint as string,
      scriptRoot: emptyRoot,
      hosts: 2,
      ssmMode: 'in-process',
    });
    vi.stubEnv('AWS_ENDPOINT_URL_S3', endpoint);
    // The agents as the stack's association installs them: with shippedScripts in their config.
    for (const host of h.hosts) {
      await host.stop();
      host.config.shippedScripts = { bucket: BUCKET, keyPrefix: KEY_PREFIX };
      await host.start();
    }
    await deployStarter(h, v1);
    await h.putDefinition(definition);

    h.request({ workflow_id: WF, workflow_execution_id: 'ship-1' });
    await h.until(
      async () => (await h?.job('ship-1', '2.1'))?.execution_status === 'Running',
      'hold.sh running',
    );

    // A deploy while ship-1 runs: v2 published, the starter's environment now names it.
    await publish(v2);
    await deployStarter(h, v2);
    writeFileSync(gate, '');

    const first = await h.finished('ship-1');
    expect(first.run.execution_status).toBe('Failed');
    expect(first.run.script_version).toBe(v1.version);
    const text = (exec: string, key: string) => h?.logs.text(jobRunName(exec, key, 1)) ?? '';
    expect(text('ship-1', '1.1')).toContain('v1 first_a');
    expect(text('ship-1', '1.2')).toContain('v1 first_b');
    expect(text('ship-1', '2.1')).toContain('v1 hold');
    // The job after the deploy still ran v1 (broken), not v2 (fixed).
    expect(text('ship-1', '2.2')).toContain('v1 last');
    expect(first.jobs.find((j) => j.job_key === '2.2')?.error_message).toContain('ERROR: v1 last is broken');

    // The restart is a new run: it takes v2, where last.sh is fixed.
    h.request({ workflow_id: WF, workflow_execution_id: 'ship-2', restart_of: 'ship-1' });
    const second = await h.finished('ship-2');
    expect(second.run.execution_status).toBe('Completed');
    expect(second.run.script_version).toBe(v2.version);
    expect(text('ship-2', '2.2')).toContain('v2 last fixed');
    expect(text('ship-2', '2.2')).not.toContain('v1');
    // Both versions in the audit.
    expect((await h.run('ship-1'))?.script_version).toBe(v1.version);
    expect((await h.run('ship-2'))?.script_version).toBe(v2.version);
    // Each host that ran a job holds complete versions only (no temporary folder left).
    for (const host of h.hosts) {
      const cache = path.join(host.config.spoolDir, 'scripts');
      if (!existsSync(cache)) continue;
      for (const name of readdirSync(cache)) expect([v1.version, v2.version]).toContain(name);
    }
    expect(await h.problems([/ERROR: v1 last is broken/])).toEqual([]);
  }, 180_000);

  it('a run whose version is gone from the bucket fails its jobs with a clear error', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'rsqlo-shipped-'));
    dirs.push(root);
    const gate = path.join(root, 'go');
    writeFileSync(gate, '');
    const v1 = bundleScripts(versionFolder(root, 'v1', gate), loadWorkflowFolder(path.join(root, 'v1')));
    const definition = loadWorkflowFolder(path.join(root, 'v1'))[0]?.raw as Record<string, unknown>;
    s3Server = await startFauxqs({ port: 0, logger: false });
    const endpoint = `http://s3.localhost:${s3Server.port}`;
    const s3 = new S3Client({
      // The uploader goes by address (the harness resolves *.localhost only once it runs).
      endpoint: `http://127.0.0.1:${s3Server.port}`,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      forcePathStyle: true,
    });
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    // Nothing published (e.g. removed by `cdk gc`).
    const emptyRoot = path.join(root, 'rsql_script_path');
    mkdirSync(emptyRoot);
    h = await createAwsHarness({
      endpoint: ddb.endpoint as string,
      scriptRoot: emptyRoot,
      hosts: 1,
      ssmMode: 'in-process',
    });
    vi.stubEnv('AWS_ENDPOINT_URL_S3', endpoint);
    for (const host of h.hosts) {
      await host.stop();
      host.config.shippedScripts = { bucket: BUCKET, keyPrefix: KEY_PREFIX };
      await host.start();
    }
    await deployStarter(h, v1);
    await h.putDefinition(definition);
    h.request({ workflow_id: WF, workflow_execution_id: 'gone-1' });
    const run = await h.finished('gone-1');
    expect(run.run.execution_status).toBe('Failed');
    const failed = run.jobs.filter((j) => j.execution_status === 'Failed');
    expect(failed.length).toBeGreaterThan(0);
    for (const j of failed)
      expect(j.error_message).toContain(
        `script version ${v1.version} is not in s3://${BUCKET}/${KEY_PREFIX}${v1.version}.json`,
      );
  }, 120_000);
});
