/**
 * The `--aws` commands on the AWS-path harness (DynamoDB Local, fauxqs, the routed bus, the
 * simulated wrapper and agents): `definitions push` then `run --aws` of the blog workflow with the
 * live view; `status/runs/history/logs --aws` print what the local commands print for the same
 * run (their --json equal but for ids and times); `serve --aws` serves the web view from the
 * stack; bad input is refused with nothing requested or written.
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DescribeStacksCommand as DescribeStacks } from '@aws-sdk/client-cloudformation';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { serveAws } from '../../cli/aws-serve.js';
import { RunListPage, RunPage } from '../../contracts/run-view.js';
import type { PgConnectionInfo } from '../../rsql/embedded-postgres.js';
import { dynamoLocal } from '../support/dynamodb-local.js';
import { createTestDatabase } from '../support/postgres.js';
import { cli, stages, workspace } from '../support/workspace.js';
import { captureIo, harnessOutputs, rsqloAws, shape, stackDeps } from './cli-stack.js';
import { type AwsHarness, createAwsHarness } from './harness.js';

const ddb = dynamoLocal('test/aws/cli-run.test.ts');
const BLOG = path.resolve('examples/blog');
const EXEC = 'cli-blog-1';

/** Masks what differs between two prints of one run: times, durations, ids, log locations. */
function masked(text: string): string {
  return text
    .replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, '<time>')
    .replace(/\d+\.\d+ s\b/g, '<dur>')
    .replace(/==> (.*) (\/\S+|cloudwatch:\S+) <==/g, '==> $1 <log> <==')
    .replace(/ +running\b/g, ' running');
}

describe.skipIf(!ddb.endpoint)('rsqlo --aws on the AWS-path harness', () => {
  let db: { connection: PgConnectionInfo; drop: () => Promise<void> };
  let h: AwsHarness;
  let deps: ReturnType<typeof stackDeps>['deps'];
  let cfn: ReturnType<typeof stackDeps>['cfn'];
  const ws = workspace('rsqlo-cli-aws-');

  beforeAll(async () => {
    db = await createTestDatabase('aws_cli');
    h = await createAwsHarness({
      endpoint: ddb.endpoint as string,
      scriptRoot: path.join(BLOG, 'scripts'),
      database: db.connection,
      ssmMode: 'in-process',
    });
    ({ deps, cfn } = stackDeps(h, ddb.endpoint as string));
    // The same run on the local engine, for the comparisons.
    cpSync(BLOG, ws.dir, { recursive: true });
    const local = await cli([
      'run',
      ws.dir,
      '--home',
      ws.home,
      '--execution-id',
      'local-blog-1',
      '--database-url',
      db.connection.url,
    ]);
    if (local.code !== 0) throw new Error(`the local run failed: ${local.stderr}`);
  });
  afterAll(async () => {
    await h?.dispose();
    await db?.drop();
  });

  it('definitions push, then run --aws: the pushed blog workflow completes, followed in the live view', async () => {
    const pushed = await rsqloAws(deps, 'definitions', ['push', BLOG, '--aws']);
    expect(pushed).toMatchObject({ code: 0, stderr: '' });
    expect(pushed.stdout).toBe(
      `pushed blog_test_workflow (${path.join(BLOG, 'workflow.json')}) to stack rsqlo\n`,
    );
    const listed = await rsqloAws(deps, 'definitions', ['list', '--aws', '--json']);
    expect(JSON.parse(listed.stdout)).toEqual([
      JSON.parse(readFileSync(path.join(BLOG, 'workflow.json'), 'utf8')),
    ]);

    vi.stubEnv('CI', ''); // the live view is for terminals outside CI (drive.ts progressSink)
    const run = await rsqloAws(deps, 'run', ['blog_test_workflow', '--aws', '--execution-id', EXEC], {
      tty: true,
    });
    vi.stubEnv('CI', process.env.CI ?? '');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    // The live view redraws in place (cursor up, clear) and shows every stage with its jobs.
    expect(run.stdout).toMatch(/\u001b\[\d+A\u001b\[J/);
    expect(run.stdout).toMatch(/blog_test_workflow {2}cli-blog-1 {2}\u001b\[36mRunning/);
    for (const s of [1, 2, 3]) expect(run.stdout).toMatch(new RegExp(`stage ${s} {2}(sequential|parallel)`));
    expect(run.stdout).toMatch(/rsql_blog_script_3\.sh/);
    expect(run.stdout.trimEnd().split('\n').pop()).toBe(
      'blog_test_workflow cli-blog-1: Completed (6 completed, 0 failed, 0 timed out, 0 cancelled, 0 skipped of 6)',
    );
    // The stack's names came from one DescribeStacks per command, of the default stack.
    expect(cfn.commandCalls(DescribeStacks).every((c) => c.args[0].input.StackName === 'rsqlo')).toBe(true);
    expect(await h.problems()).toEqual([]);
  });

  it('validate --aws: each file checked, and compared with what the stack stores', async () => {
    const same = await rsqloAws(deps, 'validate', [BLOG, '--aws']);
    expect(same).toMatchObject({ code: 0, stderr: '' });
    expect(same.stdout).toBe(
      `${path.join(BLOG, 'workflow.json')}: ok (blog_test_workflow, 3 stages); the same in stack rsqlo\n`,
    );
    const changed = workspace('rsqlo-cli-validate-');
    cpSync(BLOG, changed.dir, { recursive: true });
    const def = JSON.parse(readFileSync(path.join(BLOG, 'workflow.json'), 'utf8'));
    changed.workflow({ ...def, workflow_description: 'changed' });
    const differs = await rsqloAws(deps, 'validate', [changed.dir, '--aws']);
    expect(differs.stdout).toMatch(
      /: ok \(blog_test_workflow, 3 stages\); differs from stack rsqlo's: push it with /,
    );
    changed.workflow({ ...def, workflow_id: 'not_pushed' });
    expect((await rsqloAws(deps, 'validate', [changed.dir, '--aws'])).stdout).toMatch(
      /; not in stack rsqlo: push it/,
    );
  });

  it('without a terminal: one line per event on stderr and the result document on stdout (--json)', async () => {
    const run = await rsqloAws(deps, 'run', [
      'blog_test_workflow',
      '--aws',
      '--json',
      '--execution-id',
      'cli-blog-2',
    ]);
    expect(run.code).toBe(0);
    const doc = JSON.parse(run.stdout);
    expect(doc.workflow).toMatchObject({
      workflow_execution_id: 'cli-blog-2',
      execution_status: 'Completed',
    });
    const lines = run.stderr.split('\n').map((l) => l.replace(/^[\d:.]+ {2}/, ''));
    expect(lines).toContain('workflow blog_test_workflow started as cli-blog-2: 6 jobs in 3 stages');
    expect(lines).toContain('job 1.1 rsql_blog_script_1.sh started (attempt 1)');
    expect(lines.some((l) => /^job 2\.2 rsql_blog_script_4\.sh Completed exit 0 /.test(l))).toBe(true);
    expect(lines).toContain('stage 3 Completed: 2 completed, 0 failed, 0 skipped of 2');
    expect(lines.some((l) => /^workflow cli-blog-2 Completed in /.test(l))).toBe(true);
    // Each event once, in order: a job ends after it starts, stage 1 before stage 2.
    const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
    expect(at(/^job 1\.1 .* started/)).toBeLessThan(at(/^job 1\.1 .* Completed/));
    expect(at(/^stage 1 Completed/)).toBeLessThan(at(/^job 2\.1 .* started/));
    expect(lines.filter((l) => /^job 1\.1 .* started/.test(l))).toHaveLength(1);
  });

  it('status, runs and history --aws print what the local commands print (--json equal but for ids and times)', async () => {
    const local = (argv: string[]) => cli([...argv, '--home', ws.home]);
    const aws = (argv: string[]) => rsqloAws(deps, argv[0] as string, [...argv.slice(1), '--aws']);

    const ls = await local(['status', 'local-blog-1', '--json']);
    const as = await aws(['status', EXEC, '--json']);
    expect(as.code).toBe(0);
    expect(shape(JSON.parse(as.stdout))).toEqual(shape(JSON.parse(ls.stdout)));
    const lt = await local(['status', 'local-blog-1']);
    const at = await aws(['status', EXEC]);
    expect(masked(at.stdout).replace(EXEC, 'X')).toBe(masked(lt.stdout).replace('local-blog-1', 'X'));

    const lh = JSON.parse((await local(['history', 'blog_test_workflow', '--json', '--limit', '1'])).stdout);
    const ah = JSON.parse(
      (await aws(['history', 'blog_test_workflow', '--json', '--limit', '1', '--stack', 'rsqlo'])).stdout,
    );
    expect(ah.map((r: { workflow_execution_id: string }) => r.workflow_execution_id)).toEqual(['cli-blog-2']);
    expect(shape(ah)).toEqual(shape(lh));

    const lr = JSON.parse((await local(['runs', '--json'])).stdout);
    const ar = JSON.parse(
      (await aws(['runs', '--json', '--workflow', 'blog_test_workflow', '--limit', '1'])).stdout,
    );
    expect(shape(ar)).toEqual(shape(lr));
    const all = JSON.parse((await aws(['runs', '--json'])).stdout);
    expect(all.map((r: { workflow_execution_id: string }) => r.workflow_execution_id)).toEqual([
      'cli-blog-2',
      EXEC,
    ]);
    const text = (await aws(['runs', '--status', 'Completed'])).stdout.split('\n').filter(Boolean);
    expect(text).toHaveLength(2);
    // The same line (ids of different lengths pad differently).
    const squeeze = (l: string) => masked(l).replace(/ +/g, ' ');
    expect(squeeze(text[1] as string).replace(EXEC, 'X')).toBe(
      squeeze((await local(['runs'])).stdout.trim()).replace('local-blog-1', 'X'),
    );
    expect((await aws(['runs', '--status', 'Failed'])).stdout).toBe(
      'no Failed runs in stack rsqlo (us-east-1)\n',
    );
  });

  it('logs --aws: each attempt from its CloudWatch stream, with the local headers; --tail; --follow of an ended run', async () => {
    const aws = await rsqloAws(deps, 'logs', [EXEC, '1.1', '--aws']);
    const local = await cli(['logs', 'local-blog-1', '1.1', '--home', ws.home]);
    expect(aws.code).toBe(0);
    expect(aws.stdout).toMatch(
      /^==> 1\.1 rsql_blog_script_1\.sh attempt 1 \(Completed\) cloudwatch:\/ops\/rsql-logs\/:cli-blog-1--1-1--a1 <==\n/,
    );
    // The same header as locally (but for where the log is), then the stream exactly as shipped.
    const [header, ...body] = aws.stdout.split('\n');
    expect(masked(header as string)).toBe(masked(local.stdout.split('\n')[0] as string));
    expect(body.join('\n')).toBe(`${h.logs.text('cli-blog-1--1-1--a1')}\n`);
    const whole = await rsqloAws(deps, 'logs', [EXEC, '--aws']);
    expect(whole.stdout.match(/^==> /gm)).toHaveLength(6);
    const tail = await rsqloAws(deps, 'logs', [EXEC, 'rsql_blog_script_1.sh', '--aws', '--tail', '2']);
    expect(tail.stdout.trimEnd().split('\n').slice(1)).toEqual(aws.stdout.trimEnd().split('\n').slice(-2));
    const followed = await rsqloAws(deps, 'logs', [EXEC, '1.1', '--aws', '--follow']);
    expect(followed).toEqual(aws);
    const noJob = await rsqloAws(deps, 'logs', [EXEC, '9.9', '--aws']);
    expect(noJob).toMatchObject({ code: 2, stderr: `rsqlo: run ${EXEC} has no job 9.9\n` });
  });

  it('serve --aws: the run view from the stack over HTTP; kill of an ended run refused', async () => {
    let stop!: () => void;
    const stopSignal = new Promise<void>((r) => {
      stop = r;
    });
    let url = '';
    const io = captureIo();
    const served = serveAws(['--aws', '--port', '0'], io, {
      ...deps,
      stopSignal,
      onListening: (u) => {
        url = u;
      },
    });
    await vi.waitFor(() => expect(url).not.toBe(''), { timeout: 30_000 });
    try {
      const list = RunListPage.parse(await (await fetch(`${url}/api/runs`)).json());
      expect(list.runs.map((r) => r.workflow_execution_id)).toEqual(['cli-blog-2', EXEC]);
      const page = RunPage.parse(await (await fetch(`${url}/api/runs/${EXEC}`)).json());
      expect(page.jobs.map((j) => [j.job_key, j.execution_status])).toEqual([
        ['1.1', 'Completed'],
        ['1.2', 'Completed'],
        ['2.1', 'Completed'],
        ['2.2', 'Completed'],
        ['3.1', 'Completed'],
        ['3.2', 'Completed'],
      ]);
      expect(page.actions.find((a) => a.name === 'kill')).toMatchObject({ available: false });
      const wf = await fetch(`${url}/api/workflows/blog_test_workflow`);
      expect(wf.status).toBe(200);
      expect((await fetch(`${url}/api/runs/no-such-run`)).status).toBe(404);
      const log = await (await fetch(`${url}/api/runs/${EXEC}/jobs/1.1/attempts/1/log?tail=all`)).text();
      expect(log).toContain('event: end');
      expect(log).toContain('"reason":"finished"');
      const puts = h.bus.requests.length;
      const kill = await fetch(`${url}/api/runs/${EXEC}/actions/kill`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: url },
        body: '{}',
      });
      expect(kill.status).toBe(409);
      expect(h.bus.requests.length).toBe(puts);
    } finally {
      stop();
    }
    expect(await served).toBe(0);
    expect(io.out()).toMatch(/^rsqlo serve: stack rsqlo \(us-east-1\) at http:\/\/127\.0\.0\.1:\d+\/ /);
  });

  it('bad input: unknown stack, missing output, unknown run, bad folder, unpushed workflow — a clear error, nothing requested or written', async () => {
    const before = h.bus.requests.length;
    const defsBefore = (await rsqloAws(deps, 'definitions', ['list', '--aws', '--json'])).stdout;

    const noStack = await rsqloAws(deps, 'run', ['blog_test_workflow', '--aws', '--stack', 'nope']);
    expect(noStack).toMatchObject({ code: 2, stdout: '' });
    expect(noStack.stderr).toBe(
      'rsqlo: no stack nope in us-east-1 (deploy it with cdk deploy, or pass --stack NAME / --region REGION)\n',
    );
    const { JobLogGroupName: _gone, ...fewer } = harnessOutputs(h);
    const old = stackDeps(h, ddb.endpoint as string, fewer).deps;
    const noOutput = await rsqloAws(old, 'status', [EXEC, '--aws']);
    expect(noOutput).toMatchObject({
      code: 2,
      stderr:
        'rsqlo: stack rsqlo in us-east-1 has no output JobLogGroupName (deployed by an older rsqlo? redeploy it)\n',
    });
    for (const [cmd, args] of [
      ['status', ['no-such-run']],
      ['kill', ['no-such-run']],
      ['restart', ['no-such-run']],
      ['logs', ['no-such-run']],
    ] as const) {
      const r = await rsqloAws(deps, cmd, [...args, '--aws']);
      expect(r, cmd).toMatchObject({
        code: 2,
        stderr: 'rsqlo: no run no-such-run in stack rsqlo (us-east-1)\n',
      });
    }
    const notPushed = await rsqloAws(deps, 'run', ['never_pushed', '--aws']);
    expect(notPushed.code).toBe(2);
    expect(notPushed.stderr).toMatch(
      /^rsqlo: no definition of never_pushed in stack rsqlo \(us-east-1\); push it with /,
    );
    const badParam = await rsqloAws(deps, 'run', [
      'blog_test_workflow',
      '--aws',
      '--param',
      'no-equals-sign',
    ]);
    expect(badParam.code).toBe(2);

    // A folder with one good definition and one bad: nothing is pushed.
    const bad = workspace('rsqlo-cli-aws-bad-');
    bad.script('a.sh', 'true');
    writeFileSync(
      path.join(bad.dir, 'good.json'),
      JSON.stringify({ workflow_id: 'good_one', workflow_stages: stages(['sequential', ['scripts/a.sh']]) }),
    );
    writeFileSync(
      path.join(bad.dir, 'bad.json'),
      JSON.stringify({ workflow_id: 'bad one', workflow_stages: [] }),
    );
    const push = await rsqloAws(deps, 'definitions', ['push', bad.dir, '--aws']);
    expect(push.code).toBe(2);
    expect(push.stderr).toContain(`${path.join(bad.dir, 'bad.json')}: invalid workflow definition`);
    expect(push.stderr).toMatch(/nothing was pushed\n$/);
    expect((await rsqloAws(deps, 'definitions', ['list', '--aws', '--json'])).stdout).toBe(defsBefore);
    expect(h.bus.requests.length).toBe(before);
    expect(cfn.commandCalls(DescribeStacks).length).toBeGreaterThan(0);
  });
});
