/**
 * The operator commands with `--aws` on the AWS-path harness: what they put on the stack's bus
 * (the request's exact shape, `requested_by` = `iam:<arn>` from STS GetCallerIdentity), what they
 * refuse before sending anything (the shared rules: exit 3; bad input: exit 2) and `pool list`
 * from the config table's `pool:` items. STS has no emulator: aws-sdk-client-mock answers
 * GetCallerIdentity, and the test asserts the request. What the services then do with the
 * requests is tested by test/aws/operator-actions.test.ts and pools.test.ts.
 */
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dynamoLocal, LOCAL_AWS, localClients } from '../support/dynamodb-local.js';
import { stages, workspace } from '../support/workspace.js';
import { rsqloAws, stackDeps } from './cli-stack.js';
import { type AwsHarness, createAwsHarness } from './harness.js';

const ddb = dynamoLocal('test/aws/cli-operator.test.ts');
const ARN = 'arn:aws:sts::123456789012:assumed-role/etl-operator/alice';

describe.skipIf(!ddb.endpoint)('operator commands --aws', () => {
  let h: AwsHarness;
  let deps: ReturnType<typeof stackDeps>['deps'];
  const sts = new STSClient(LOCAL_AWS);
  const stsMock = mockClient(sts);
  const ws = workspace('rsqlo-cli-operator-');
  ws.script('ok.sh', 'echo ok');
  ws.script('bad.sh', 'echo "bad rows" >&2; exit 3');
  ws.script('later.sh', 'echo later');
  ws.workflow({
    workflow_id: 'cli_ops',
    workflow_stages: stages(['sequential', ['ok.sh', 'bad.sh']], ['sequential', ['later.sh']]),
  });

  beforeAll(async () => {
    h = await createAwsHarness({
      endpoint: ddb.endpoint as string,
      scriptRoot: ws.scripts,
      hosts: 1,
      ssmMode: 'in-process',
    });
    ({ deps } = stackDeps(h, ddb.endpoint as string));
    stsMock
      .on(GetCallerIdentityCommand)
      .resolves({ Arn: ARN, Account: '123456789012', UserId: 'AROAEXAMPLE:alice' });
    deps = { ...deps, sts: () => sts };
    expect((await rsqloAws(deps, 'definitions', ['push', ws.dir, '--aws'])).code).toBe(0);
    const failed = await rsqloAws(deps, 'run', ['cli_ops', '--aws', '--execution-id', 'ops-1']);
    expect(failed.code, failed.stderr).toBe(1);
    // The operator commands wait this long for the services to apply a request.
    deps = { ...deps, startTimeoutMs: 300 };
  });
  afterAll(async () => {
    await h?.dispose();
  });

  it('refuses bad input (exit 2) and what the rules refuse (exit 3) before asking STS or the bus', async () => {
    const before = h.bus.requests.length;
    stsMock.resetHistory();
    // Usage errors are thrown to main (one line, exit 2).
    await expect(rsqloAws(deps, 'set-ok', ['ops-1', '1.2', '--aws'])).rejects.toThrow(/needs --reason TEXT/);
    await expect(rsqloAws(deps, 'pool', ['set', 'wlm', '1001', '--aws'])).rejects.toThrow(
      /must be at most 1000/,
    );
    expect(await rsqloAws(deps, 'set-ok', ['ops-1', '9.9', '--reason', 'x', '--aws'])).toMatchObject({
      code: 2,
      stderr: 'rsqlo: run ops-1 has no job 9.9 (its jobs: 1.1, 1.2, 2.1)\n',
    });
    expect(await rsqloAws(deps, 'set-ok', ['ops-404', '1.2', '--reason', 'x', '--aws'])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^rsqlo: no run ops-404 in stack rsqlo/),
    });
    expect(await rsqloAws(deps, 'set-ok', ['ops-1', '1.1', '--reason', 'x', '--aws'])).toMatchObject({
      code: 3,
      stderr:
        'rsqlo: request refused (NotAllowed): job 1.1 is Completed: only a Failed or TimedOut job can be set OK\n',
    });
    expect(await rsqloAws(deps, 'bypass', ['ops-1', '1.2', '--reason', 'x', '--aws'])).toMatchObject({
      code: 3,
      stderr: expect.stringMatching(/job 1\.2 has started \(Failed\)/),
    });
    expect(await rsqloAws(deps, 'hold', ['ops-1', '--aws'])).toMatchObject({
      code: 3,
      stderr: expect.stringMatching(/run ops-1 is Failed: only a Running run can be held/),
    });
    expect(h.bus.requests.length).toBe(before);
    expect(stsMock.commandCalls(GetCallerIdentityCommand)).toHaveLength(0);
  });

  it('set-ok puts JobSetOkRequested on the bus from iam:<arn>, about the failed attempt', async () => {
    stsMock.resetHistory();
    // The outcome (the run going on) is the services' part: here only the request is asserted.
    await rsqloAws(deps, 'set-ok', ['ops-1', '1.2', '--reason', 'fixed by hand', '--aws']);
    const calls = stsMock.commandCalls(GetCallerIdentityCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input).toEqual({});
    const sent = h.bus.events('JobSetOkRequested').map((e) => e.detail as Record<string, unknown>);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toEqual({
      version: 1,
      event_id: expect.stringMatching(/^JobSetOkRequested:[0-9A-HJKMNP-TV-Z]{26}$/),
      occurred_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      requested_by: `iam:${ARN}`,
      workflow_id: 'cli_ops',
      workflow_execution_id: 'ops-1',
      job_key: '1.2',
      attempt: 1,
      reason: 'fixed by hand',
    });
  });

  it('pool list reads the pool: items; pool set puts PoolResizeRequested on the bus', async () => {
    const { documents } = localClients(ddb.endpoint as string);
    await documents.send(
      new PutCommand({
        TableName: h.tableNames.config,
        Item: {
          workflow_id: 'pool:wlm',
          slots: 2,
          holders: new Set(['ops-9--1-1--a1']),
          waiters: { 'ops-9--1-2--a1': { since: 1 }, 'ops-9--1-3--a1': { since: 2 } },
          created_by: 'definition:cli_ops',
        },
      }),
    );
    const list = await rsqloAws(deps, 'pool', ['list', '--aws', '--json']);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([
      { pool: 'wlm', slots: 2, in_use: 1, waiting: 2, created_by: 'definition:cli_ops' },
    ]);
    // A definition is not a pool.
    expect(JSON.parse(list.stdout).map((p: { pool: string }) => p.pool)).not.toContain('cli_ops');
    const text = await rsqloAws(deps, 'pool', ['list', '--aws']);
    expect(text.stdout).toMatch(
      /^POOL\s+SLOTS\s+IN USE\s+WAITING\s+CREATED BY\nwlm\s+2\s+1\s+2\s+definition:cli_ops\n$/,
    );

    // The pool already has 2 slots: the command sees it so at once (the request is still sent).
    const set = await rsqloAws(deps, 'pool', ['set', 'wlm', '2', '--reason', 'wlm queue 2', '--aws']);
    expect(set).toMatchObject({ code: 0, stdout: 'pool wlm now has 2 slot(s) in stack rsqlo (us-east-1)\n' });
    const sent = h.bus.events('PoolResizeRequested').map((e) => e.detail);
    expect(sent).toEqual([
      {
        version: 1,
        event_id: expect.stringMatching(/^PoolResizeRequested:[0-9A-HJKMNP-TV-Z]{26}$/),
        occurred_at: expect.any(String),
        requested_by: `iam:${ARN}`,
        pool: 'wlm',
        slots: 2,
        reason: 'wlm queue 2',
      },
    ]);
  });
});
