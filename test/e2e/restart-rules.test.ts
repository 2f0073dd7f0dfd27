/**
 * Restart that does what people mean (issue 12 item 3): a restart runs the definition file the run
 * came from when it still validates and prints what changed; --same-definition runs the stored one;
 * both are recorded in the audit; a run is restarted once (exit 3 naming the run that restarted it).
 * --param values are recorded in the run and reused by its restart.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { WorkflowAuditRecord } from '../../contracts/audit.js';
import { cli, stages, workspace } from '../support/workspace.js';

type Doc = { workflow: WorkflowAuditRecord; jobs: Array<{ job_key: string; execution_status: string }> };

/** A workflow whose second job outlives a 2 s timeout: it fails until the timeout is raised. */
function timingOut(timeout: number) {
  const ws = workspace();
  ws.script('a.sh', 'echo "a DAY=$DAY REGION=$REGION"');
  ws.script('slow.sh', 'sleep 3; echo "slow done DAY=$DAY REGION=$REGION"');
  const write = (t: number, params: Record<string, string> = { REGION: 'eu' }) =>
    ws.workflow({
      workflow_id: 'restart_rules',
      parameters: params,
      workflow_stages: stages(
        ['sequential', ['a.sh']],
        ['sequential', [{ script: 'slow.sh', timeout_seconds: t }]],
      ),
    });
  write(timeout);
  return { ws, write };
}

const execOf = (out: string) => /restart with: \S+(?: \S+)* restart (\S+)/.exec(out)?.[1] as string;

describe('rsqlo restart', () => {
  it('applies an edited definition and prints the change; a second restart of the same run exits 3', async () => {
    const { ws, write } = timingOut(2);
    const first = await cli(['run', ws.dir, '--home', ws.home, '--param', 'DAY=mon']);
    expect(first.code).toBe(1);
    expect(first.stdout).toMatch(/2\.1 slow\.sh: TimedOut/);
    const r1 = execOf(first.stdout);
    expect(r1).toMatch(/^restart_rules-/);

    write(60, { REGION: 'us' });
    const second = await cli(['restart', r1, '--home', ws.home, '--json']);
    expect(second.code).toBe(0);
    expect(second.stderr).toContain(`restarting ${r1} with ${path.join(ws.dir, 'workflow.json')}`);
    expect(second.stderr).toContain('2.1 timeout_seconds 2 → 60');
    expect(second.stderr).toContain('parameters.REGION eu → us');
    const doc = JSON.parse(second.stdout) as Doc;
    expect(doc.workflow).toMatchObject({
      execution_status: 'Completed',
      restart_of: r1,
      // recorded in the audit: which definition, from where, and what changed
      definition_source: {
        kind: 'file',
        file: path.join(ws.dir, 'workflow.json'),
        changes: expect.arrayContaining(['2.1 timeout_seconds 2 → 60', 'parameters.REGION eu → us']),
      },
      // --param of the first run reused; the edited definition's own parameter applied
      parameters: { DAY: 'mon', REGION: 'us' },
      requested_parameters: { DAY: 'mon' },
    });
    expect(doc.jobs.map((j) => [j.job_key, j.execution_status])).toEqual([
      ['1.1', 'Skipped'],
      ['2.1', 'Completed'],
    ]);
    const r2 = doc.workflow.workflow_execution_id;
    const log = await cli(['logs', r2, '2.1', '--home', ws.home]);
    expect(log.stdout).toContain('slow done DAY=mon REGION=us');

    const status = await cli(['status', r1, '--home', ws.home, '--json']);
    expect((JSON.parse(status.stdout) as Doc).workflow.restarted_as).toBe(r2);

    const again = await cli(['restart', r1, '--home', ws.home]);
    expect(again.code).toBe(3);
    expect(again.stderr).toContain(`${r1} was already restarted as ${r2} (Completed)`);
    const history = await cli(['history', 'restart_rules', '--home', ws.home, '--json']);
    expect(
      (JSON.parse(history.stdout) as WorkflowAuditRecord[]).map((r) => r.workflow_execution_id).sort(),
    ).toEqual([r1, r2].sort());
  });

  it('--same-definition reuses the stored definition (and says so in the audit); the chain is restarted at its end', async () => {
    const { ws, write } = timingOut(2);
    const r1 = execOf((await cli(['run', ws.dir, '--home', ws.home])).stdout);
    write(60);
    const same = await cli(['restart', r1, '--home', ws.home, '--same-definition', '--json']);
    expect(same.code).toBe(1); // the stored 2 s timeout applies again
    expect(same.stderr).toContain(`restarting ${r1} with the definition stored with it`);
    const doc = JSON.parse(same.stdout) as Doc;
    expect(doc.workflow.definition_source).toEqual({
      kind: 'stored',
      file: path.join(ws.dir, 'workflow.json'),
      changes: [],
    });
    expect(doc.jobs.find((j) => j.job_key === '2.1')?.execution_status).toBe('TimedOut');
    const r2 = doc.workflow.workflow_execution_id;
    // r1 may not be restarted again: the message points at the latest run of the chain.
    const refused = await cli(['restart', r1, '--home', ws.home]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain(
      `${r1} was already restarted as ${r2} (Failed); a run is restarted once: restart the latest of its chain, ${r2} (Failed)`,
    );
    // and restarting r2 from the (edited) file works
    const third = await cli(['restart', r2, '--home', ws.home]);
    expect(third.code).toBe(0);
    expect(third.stdout).toContain('2.1 timeout_seconds 2 → 60');
  });

  it('an edited file that no longer validates is refused (exit 2, nothing started), pointing at --same-definition', async () => {
    const { ws } = timingOut(2);
    const r1 = execOf((await cli(['run', ws.dir, '--home', ws.home])).stdout);
    writeFileSync(
      path.join(ws.dir, 'workflow.json'),
      '{"workflow_id": "restart_rules", "workflow_stages": [}',
    );
    const r = await cli(['restart', r1, '--home', ws.home]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not valid JSON at line 1/);
    expect(r.stderr).toContain('--same-definition');
    const status = await cli(['status', r1, '--home', ws.home, '--json']);
    expect((JSON.parse(status.stdout) as Doc).workflow.restarted_as ?? null).toBeNull();
  });

  it('--param is validated like parameters (exit 2, nothing written)', async () => {
    const ws = workspace();
    ws.script('a.sh', 'true');
    ws.workflow({ workflow_id: 'params', workflow_stages: stages(['sequential', ['a.sh']]) });
    for (const [arg, says] of [
      ['RSQLO_JOB_KEY=x', /--param RSQLO_JOB_KEY: "RSQLO_JOB_KEY" is set by rsqlo/],
      ['1BAD=x', /--param 1BAD: parameter names must be usable as environment variable names/],
      ['NOEQUALS', /--param NOEQUALS: must be KEY=VALUE/],
    ] as const) {
      const r = await cli(['run', ws.dir, '--home', ws.home, '--param', arg]);
      expect(r.code, arg).toBe(2);
      expect(r.stderr).toMatch(says);
    }
    const ok = await cli(['run', ws.dir, '--home', ws.home, '--param', 'A=1=2', '--param', 'B=', '--json']);
    expect(ok.code).toBe(0);
    expect((JSON.parse(ok.stdout) as Doc).workflow.parameters).toEqual({ A: '1=2', B: '' });
  });
});
