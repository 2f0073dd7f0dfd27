/**
 * `kill --aws` and `restart --aws` on the AWS-path harness with real agent processes: the kill is
 * a WorkflowCancelRequested on the bus, the starter stops the job, the agent kills its process
 * tree (the script and the child it started); a restart is a new run from the point of failure.
 * And `definitions push` then `run --aws` runs what was pushed.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveAws } from '../../cli/aws-serve.js';
import { webRequester } from '../../cli/who.js';
import { ActionResult } from '../../contracts/run-view.js';
import { isSameProcessAlive } from '../../platform/processes.js';
import { dynamoLocal } from '../support/dynamodb-local.js';
import { stages, workspace } from '../support/workspace.js';
import { captureIo, rsqloAws, stackDeps } from './cli-stack.js';
import { type AwsHarness, createAwsHarness } from './harness.js';

const ddb = dynamoLocal('test/aws/cli-kill.test.ts');

describe.skipIf(!ddb.endpoint)('rsqlo kill/restart --aws with agent processes', () => {
  let h: AwsHarness;
  let deps: ReturnType<typeof stackDeps>['deps'];
  const ws = workspace('rsqlo-cli-kill-');
  ws.script(
    'long.sh',
    [
      'if [ -f "$(dirname "$0")/fast" ]; then echo "fast this time"; exit 0; fi',
      'echo "long started"',
      'echo $$ > "$TEST_OUT/long.pid"',
      'sleep 300 &',
      'echo $! > "$TEST_OUT/long.child"',
      'wait',
    ].join('\n'),
  );
  ws.script('first.sh', 'echo first');
  ws.script('after.sh', 'echo after');
  const definition = {
    workflow_id: 'cli_kill',
    workflow_description: 'one long job between two short ones',
    workflow_stages: stages(['sequential', ['first.sh', 'long.sh', 'after.sh']]),
  };
  ws.workflow(definition);

  beforeAll(async () => {
    h = await createAwsHarness({
      endpoint: ddb.endpoint as string,
      scriptRoot: ws.scripts,
      hosts: 1,
      agentMode: 'process',
      ssmMode: 'in-process',
    });
    ({ deps } = stackDeps(h, ddb.endpoint as string));
  });
  afterAll(async () => {
    await h?.dispose();
  });

  it('kill --aws cancels the running job and kills its process tree; restart --aws finishes from the point of failure', async () => {
    expect((await rsqloAws(deps, 'definitions', ['push', ws.dir, '--aws'])).code).toBe(0);
    const host = h.hosts[0];
    if (!host) throw new Error('no host');
    const running = rsqloAws(deps, 'run', ['cli_kill', '--aws', '--execution-id', 'kill-1']);
    const childFile = path.join(host.dir, 'out', 'long.child');
    await h.until(
      async () => existsSync(childFile) && (await h.job('kill-1', '1.2'))?.execution_status === 'Running',
      'the long job to run',
    );
    const pids = [path.join(host.dir, 'out', 'long.pid'), childFile].map((f) =>
      Number(readFileSync(f, 'utf8')),
    );
    expect(pids.every((p) => isSameProcessAlive(p, undefined))).toBe(true);

    // Following the job's log while it runs: what it printed so far, then on until it ends.
    const following = rsqloAws(deps, 'logs', ['kill-1', '1.2', '--aws', '--follow']);
    await h.until(
      async () => h.logs.text('kill-1--1-2--a1').includes('long started'),
      'the log to be shipped',
    );
    // Another run while this one is active: refused as locally (exit 3), before any request.
    const requests = h.bus.requests.length;
    const second = await rsqloAws(deps, 'run', ['cli_kill', '--aws', '--execution-id', 'kill-x']);
    expect(second).toMatchObject({
      code: 3,
      stderr:
        'rsqlo: request refused (ActiveRunLimit): workflow cli_kill already has 1 active run(s) (kill-1); max_active_runs is 1\n',
    });
    expect(h.bus.requests.length).toBe(requests);

    const kill = await rsqloAws(deps, 'kill', ['kill-1', '--aws']);
    expect(kill.stderr).toBe('');
    expect(kill.code).toBe(0);
    const lines = kill.stdout.split('\n');
    expect(lines[0]).toBe('kill-1 is Cancelled');
    expect(lines[1]).toMatch(
      /^ {2}cut: 1\.2 long\.sh was killed while running after [\d.]+ s \(log: cloudwatch:/,
    );
    expect(lines).toContain('  not started: 1.3');
    expect(lines).toContain('restart with: rsqlo restart kill-1 --aws');
    // The script and the child it started are gone: the agent killed the job's process tree.
    await h.until(
      async () => pids.every((p) => !isSameProcessAlive(p, undefined)),
      'the job tree to be killed',
    );

    const log = await following;
    expect(log.code).toBe(0);
    expect(log.stdout).toMatch(
      /^==> 1\.2 long\.sh attempt 1 \(Running\) cloudwatch:\/ops\/rsql-logs\/:kill-1--1-2--a1 <==\nlong started\n/,
    );

    // The run being followed ends Cancelled: exit 1, with what the kill cut.
    const followed = await running;
    expect(followed.code).toBe(1);
    expect(followed.stdout).toContain(
      'cli_kill kill-1: Cancelled (1 completed, 0 failed, 0 timed out, 1 cancelled, 1 skipped of 3)',
    );
    expect(followed.stdout).toContain('restart with: rsqlo restart kill-1 --aws');
    // The cancel went on the bus once, as the local kill puts it.
    expect(h.bus.events('WorkflowCancelRequested').map((e) => e.detail)).toEqual([
      {
        version: 1,
        workflow_id: 'cli_kill',
        workflow_execution_id: 'kill-1',
        requested_by: 'rsqlo-cli',
        reason: 'rsqlo kill',
      },
    ]);

    expect((await rsqloAws(deps, 'kill', ['kill-1', '--aws'])).stdout).toBe('kill-1 is already Cancelled\n');

    writeFileSync(path.join(ws.scripts, 'fast'), '');
    const restart = await rsqloAws(deps, 'restart', ['kill-1', '--aws', '--execution-id', 'kill-2']);
    expect(restart.stderr).toBe('');
    expect(restart.code).toBe(0);
    expect(restart.stdout.split('\n')[0]).toBe(
      'restarting kill-1 as kill-2 with the definition of cli_kill in stack rsqlo (us-east-1) (jobs that completed are skipped)',
    );
    expect(restart.stdout).toContain(
      'cli_kill kill-2: Completed (2 completed, 0 failed, 0 timed out, 0 cancelled, 1 skipped of 3)',
    );
    const jobs = await h.jobs('kill-2');
    expect(jobs.map((j) => [j.job_key, j.execution_status, j.skip_reason])).toEqual([
      ['1.1', 'Skipped', 'completed in run kill-1'],
      ['1.2', 'Completed', null],
      ['1.3', 'Completed', null],
    ]);
    expect((await h.run('kill-2'))?.restart_of).toBe('kill-1');

    // A run is restarted once; a completed run is not restarted.
    const again = await rsqloAws(deps, 'restart', ['kill-1', '--aws']);
    expect(again).toMatchObject({
      code: 3,
      stderr:
        'rsqlo: request refused: kill-1 was already restarted as kill-2 (Completed); restart that one instead\n',
    });
    const done = await rsqloAws(deps, 'restart', ['kill-2', '--aws']);
    expect(done).toMatchObject({
      code: 3,
      stderr: 'rsqlo: request refused: kill-2 is Completed; only a failed or cancelled run is restarted\n',
    });
    expect(await h.problems()).toEqual([]);
  });

  it('definitions push then run --aws runs the pushed definition (a stage added)', async () => {
    ws.workflow({
      ...definition,
      workflow_description: 'now with a second stage',
      workflow_stages: stages(['sequential', ['first.sh']], ['parallel', ['after.sh', 'long.sh']]),
    });
    const push = await rsqloAws(deps, 'definitions', ['push', ws.dir, '--aws']);
    expect(push.code).toBe(0);
    const list = await rsqloAws(deps, 'definitions', ['list', '--aws']);
    expect(list.stdout).toMatch(/^cli_kill +2 stages {2}now with a second stage\n$/);
    const run = await rsqloAws(deps, 'run', [
      path.join(ws.dir, 'workflow.json'),
      '--aws',
      '--execution-id',
      'kill-3',
    ]);
    expect(run.code).toBe(0);
    // The file is the pushed one: no note that it differs.
    expect(run.stdout).not.toContain('differs');
    const rec = await h.run('kill-3');
    expect(rec?.stages.map((s) => [s.stage, s.execution_type, s.total])).toEqual([
      [1, 'sequential', 1],
      [2, 'parallel', 2],
    ]);
    expect(rec?.workflow_description).toBe('now with a second stage');

    // A file that differs from what the stack stores: said, and the stack's definition runs.
    ws.workflow({ ...definition, workflow_stages: stages(['sequential', ['first.sh']]) });
    const differs = await rsqloAws(deps, 'run', [ws.dir, '--aws', '--execution-id', 'kill-4']);
    expect(differs.code).toBe(0);
    expect(differs.stdout).toMatch(
      /^note: .*workflow\.json differs from the definition of cli_kill in stack rsqlo/,
    );
    expect((await h.run('kill-4'))?.counts.total).toBe(3);
  });

  it('serve --aws: kill and restart from the run view go on the bus; --region and --profile reach the clients', async () => {
    rmSync(path.join(ws.scripts, 'fast'), { force: true });
    ws.workflow(definition);
    expect((await rsqloAws(deps, 'definitions', ['push', ws.dir, '--aws'])).code).toBe(0);
    const running = rsqloAws(deps, 'run', ['cli_kill', '--aws', '--execution-id', 'kill-5']);
    await h.until(async () => (await h.job('kill-5', '1.2'))?.execution_status === 'Running', 'the long job');

    const conns: unknown[] = [];
    let stop!: () => void;
    const stopSignal = new Promise<void>((r) => {
      stop = r;
    });
    let url = '';
    const served = serveAws(
      ['--aws', '--port', '0', '--region', 'us-east-1', '--profile', 'ops'],
      captureIo(),
      {
        ...deps,
        connect: (conn) => {
          conns.push(conn);
          return (deps.connect as NonNullable<typeof deps.connect>)(conn);
        },
        stopSignal,
        onListening: (u) => {
          url = u;
        },
      },
    );
    await h.until(async () => url !== '', 'the view to listen');
    const act = (run: string, name: string) =>
      fetch(`${url}/api/runs/${run}/actions/${name}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: url },
        body: '{}',
      });
    try {
      expect(conns).toEqual([{ region: 'us-east-1', profile: 'ops' }]);
      const kill = await act('kill-5', 'kill');
      expect(kill.status).toBe(200);
      expect(ActionResult.parse(await kill.json())).toMatchObject({ ok: true });
      expect(h.bus.events('WorkflowCancelRequested').at(-1)?.detail).toEqual({
        version: 1,
        workflow_id: 'cli_kill',
        workflow_execution_id: 'kill-5',
        reason: 'killed from the run view',
        // who, as the audit records it (issue 14: web:<OS user of the view>)
        requested_by: webRequester(),
      });
      const followed = await running;
      expect(followed.code).toBe(1);
      expect(followed.stdout).toContain('cli_kill kill-5: Cancelled');

      writeFileSync(path.join(ws.scripts, 'fast'), '');
      const restart = await act('kill-5', 'restart');
      expect(restart.status).toBe(200);
      const result = ActionResult.parse(await restart.json());
      expect(result).toMatchObject({ ok: true });
      const next = result.execution_id as string;
      const { run } = await h.finished(next);
      expect(run).toMatchObject({ execution_status: 'Completed', restart_of: 'kill-5' });
      // A second restart of the same run is refused by the view, and nothing goes on the bus.
      const requests = h.bus.requests.length;
      expect((await act('kill-5', 'restart')).status).toBe(409);
      expect(h.bus.requests.length).toBe(requests);
    } finally {
      stop();
    }
    expect(await served).toBe(0);
    expect(await h.problems()).toEqual([]);
  });
});
