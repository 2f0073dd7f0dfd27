/** `rsqlo runs` without a server (issue 12): every run of a home, newest first, filtered. */
import { describe, expect, it } from 'vitest';
import type { RunSummary } from '../../contracts/run-view.js';
import { cli, stages, workspace } from '../support/workspace.js';

describe('rsqlo runs', () => {
  it('lists every run of every workflow newest first, filters by workflow and status, limits, and refuses bad input', async () => {
    const ws = workspace('rsqlo-runs-');
    expect((await cli(['runs', '--home', ws.home])).stdout).toBe(`no runs in ${ws.home}\n`);
    ws.script('ok.sh', 'echo ok');
    ws.script('bad.sh', 'exit 4');
    const good = ws.workflow({ workflow_id: 'good_wf', workflow_stages: stages(['sequential', ['ok.sh']]) });
    expect((await cli(['run', good, '--home', ws.home, '--execution-id', 'good-1'])).code).toBe(0);
    const bad = ws.workflow({ workflow_id: 'bad_wf', workflow_stages: stages(['sequential', ['bad.sh']]) });
    expect((await cli(['run', bad, '--home', ws.home, '--execution-id', 'bad-1'])).code).toBe(1);
    const good2 = ws.workflow({ workflow_id: 'good_wf', workflow_stages: stages(['sequential', ['ok.sh']]) });
    expect((await cli(['run', good2, '--home', ws.home, '--execution-id', 'good-2'])).code).toBe(0);

    const all = await cli(['runs', '--home', ws.home, '--json']);
    expect(all.code).toBe(0);
    expect(
      (JSON.parse(all.stdout) as RunSummary[]).map((r) => [r.workflow_execution_id, r.execution_status]),
    ).toEqual([
      ['good-2', 'Completed'],
      ['bad-1', 'Failed'],
      ['good-1', 'Completed'],
    ]);
    const text = await cli(['runs', '--home', ws.home]);
    expect(text.stdout.split('\n')[1]).toMatch(/bad-1\s+Failed\s+[\d.]+ s {2}0\/1 completed$/);
    const ofGood = JSON.parse(
      (await cli(['runs', '--home', ws.home, '--workflow', 'good_wf', '--json'])).stdout,
    );
    expect(ofGood.map((r: RunSummary) => r.workflow_execution_id)).toEqual(['good-2', 'good-1']);
    const failed = JSON.parse(
      (await cli(['runs', '--home', ws.home, '--status', 'Failed', '--json'])).stdout,
    );
    expect(failed.map((r: RunSummary) => r.workflow_execution_id)).toEqual(['bad-1']);
    const one = JSON.parse((await cli(['runs', '--home', ws.home, '--limit', '1', '--json'])).stdout);
    expect(one).toHaveLength(1);
    expect((await cli(['runs', '--home', ws.home, '--status', 'Running'])).stdout).toBe(
      `no Running runs in ${ws.home}\n`,
    );

    for (const [args, message] of [
      [['--status', 'Done'], '--status must be one of'],
      [['--limit', '0'], '--limit must be a whole number from 1 to 500'],
      [['--limit', '2x'], '--limit must be a whole number'],
      [['--workflow', 'no spaces'], 'is not a valid workflow_id'],
      [['--colour'], "Unknown option '--colour'"],
      [['extra'], 'unexpected argument "extra"'],
    ] as const) {
      const r = await cli(['runs', '--home', ws.home, ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toContain(message);
    }
  }, 120_000);
});
