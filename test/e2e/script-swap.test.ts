/**
 * Issue 10, class 4: scripts are resolved when they start, not only when the workflow was
 * validated. A script replaced by a symlink to a file outside the script folder after `validate`
 * (and after a first run) must not be run by `restart`; the job fails saying why.
 */
import { existsSync, readFileSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { JobAuditRecord, WorkflowAuditRecord } from '../../contracts/audit.js';
import { cli, stages, type Workspace, workspace } from '../support/workspace.js';

type Doc = { workflow: WorkflowAuditRecord; jobs: JobAuditRecord[] };

function ledger(ws: Workspace): string[] {
  const file = path.join(ws.dir, 'ledger');
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : [];
}

describe('a script swapped after validation', () => {
  it('restart refuses a script that now resolves outside the script folder', async () => {
    const ws = workspace('rsqlo-swap-');
    // A symlink that stays inside the folder is fine, before and after.
    ws.script('lib/first-impl.sh', `echo first >> ${ws.dir}/ledger`);
    symlinkSync(path.join(ws.scripts, 'lib/first-impl.sh'), path.join(ws.scripts, 'first.sh'));
    ws.script('load.sh', `echo "load fails" >&2\nexit 3`);
    const file = ws.workflow({
      workflow_id: 'swap_test',
      workflow_stages: stages(['sequential', ['first.sh']], ['sequential', ['load.sh']]),
    });
    expect((await cli(['validate', file])).code).toBe(0);
    const first = await cli(['run', file, '--home', ws.home, '--execution-id', 'swap_test-1']);
    expect(first.code).toBe(1);
    expect(ledger(ws)).toEqual(['first']);

    // The attack: load.sh becomes a symlink to a script elsewhere.
    const outside = path.join(ws.dir, 'outside.sh');
    writeFileSync(outside, `#!/bin/bash\necho ESCAPED >> ${ws.dir}/ledger\n`);
    unlinkSync(path.join(ws.scripts, 'load.sh'));
    symlinkSync(outside, path.join(ws.scripts, 'load.sh'));

    // A restart re-reads the definition file and validates it as it now is: refused, nothing runs.
    const checked = await cli(['restart', 'swap_test-1', '--home', ws.home, '--json']);
    expect(checked.code).toBe(2);
    expect(checked.stderr).toMatch(/outside the script root/);
    expect(ledger(ws)).toEqual(['first']);

    // The stored definition skips that check: the spawn-time check still refuses the script.
    const again = await cli(['restart', 'swap_test-1', '--same-definition', '--home', ws.home, '--json']);
    expect(again.code).toBe(1);
    expect(ledger(ws)).toEqual(['first']);
    const doc = JSON.parse(again.stdout) as Doc;
    const load = doc.jobs.find((j) => j.job_key === '2.1');
    expect(load?.execution_status).toBe('Failed');
    expect(load?.error_message).toMatch(/load\.sh resolves to .*outside\.sh, outside the script folder/);
    // validate says the same about the folder as it now is.
    const v = await cli(['validate', file]);
    expect(v.code).toBe(2);
    expect(v.stderr).toMatch(/outside the script root/);
  }, 120_000);
});
