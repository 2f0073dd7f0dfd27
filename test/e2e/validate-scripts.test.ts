/**
 * Scripts that would break when they run are caught by `validate` (and `run` refuses them before
 * writing anything): CRLF line endings in a shell script, a directly-run script without the exec
 * bit, a script that is not a regular file. A carriage return a job prints shows up visibly (`\r`)
 * in its error message.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, stages, workspace } from '../support/workspace.js';

function flow(ws: ReturnType<typeof workspace>, scripts: string[]) {
  return ws.workflow({ workflow_id: 'checks', workflow_stages: stages(['sequential', scripts]) });
}

describe('validate catches scripts that will break', () => {
  it('a .sh wrapper with CRLF line endings: exit 2 naming the file and the first such line', async () => {
    const ws = workspace();
    ws.script('ok.sh', 'true');
    const file = path.join(ws.scripts, 'win.sh');
    writeFileSync(file, '#!/bin/bash\n# fine so far\necho one\r\necho two\r\necho three\r\n');
    chmodSync(file, 0o755);
    flow(ws, ['ok.sh', 'win.sh']);
    const v = await cli(['validate', ws.dir]);
    expect(v.code).toBe(2);
    expect(v.stderr).toContain('workflow_stages[0].scripts[1]: ');
    expect(v.stderr).toContain(
      `"win.sh" has Windows (CRLF) line endings at line 3 (and 2 more lines) (${file})`,
    );
    expect(v.stderr).toContain('\\r');
    const r = await cli(['run', ws.dir, '--home', ws.home]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('CRLF');
    expect(existsSync(ws.home)).toBe(false);
  });

  it('a shell script named otherwise (shebang) with CRLF is caught; a .sql file with CRLF is not', async () => {
    const ws = workspace();
    const tool = path.join(ws.scripts, 'load_it');
    writeFileSync(tool, '#!/usr/bin/env bash\r\necho hi\r\n');
    chmodSync(tool, 0o755);
    writeFileSync(path.join(ws.scripts, 'q.sql'), 'select 1;\r\nselect 2;\r\n');
    flow(ws, ['load_it', 'q.sql']);
    const v = await cli(['validate', ws.dir]);
    expect(v.code).toBe(2);
    expect(v.stderr).toMatch(
      /scripts\[0\]: "load_it" has Windows \(CRLF\) line endings at line 1 \(and 1 more line\)/,
    );
    expect(v.stderr).not.toContain('scripts[1]');
  });

  it('a script run directly (not .sh or .sql) without the exec bit', async () => {
    const ws = workspace();
    const p = path.join(ws.scripts, 'extract.py');
    writeFileSync(p, '#!/usr/bin/env python3\nprint(1)\n');
    chmodSync(p, 0o644);
    writeFileSync(path.join(ws.scripts, 'plain.sh'), 'true\n'); // .sh runs with bash: no exec bit needed
    chmodSync(path.join(ws.scripts, 'plain.sh'), 0o644);
    flow(ws, ['plain.sh', 'extract.py']);
    const v = await cli(['validate', ws.dir]);
    expect(v.code).toBe(2);
    expect(v.stderr).toContain(`workflow_stages[0].scripts[1]: "extract.py" is not executable (${p})`);
    expect(v.stderr).toContain('chmod +x');
    expect(v.stderr).not.toContain('scripts[0]');
    chmodSync(p, 0o755);
    expect((await cli(['validate', ws.dir])).code).toBe(0);
  });

  it('a script that is not a regular file: a FIFO (which would block the job) and a folder', async () => {
    const ws = workspace();
    execFileSync('mkfifo', [path.join(ws.scripts, 'pipe.sh')]);
    mkdirSync(path.join(ws.scripts, 'dir.sh'));
    flow(ws, ['pipe.sh', 'dir.sh']);
    const v = await cli(['validate', ws.dir]);
    expect(v.code).toBe(2);
    expect(v.stderr).toMatch(/scripts\[0\]: "pipe.sh" is a named pipe \(FIFO\), not a regular file/);
    expect(v.stderr).toMatch(/scripts\[1\]: "dir.sh" is a folder, not a regular file/);
  });
});

describe('a carriage return in a job error message is shown as \\r', () => {
  it('in the audit record and the failure summary', async () => {
    const ws = workspace();
    ws.script('bad.sh', `printf 'cd: /data\\r: No such file or directory\\r\\n' >&2; exit 1`);
    flow(ws, ['bad.sh']);
    const r = await cli(['run', ws.dir, '--home', ws.home, '--json']);
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as { jobs: Array<{ error_message: string | null }> };
    const msg = doc.jobs[0]?.error_message ?? '';
    expect(msg).toBe('cd: /data\\r: No such file or directory\\r');
    expect(msg).not.toContain('\r');
    const s = await cli(['run', ws.dir, '--home', ws.home]);
    expect(s.stdout).toContain('cd: /data\\r: No such file or directory\\r');
    expect(s.stdout).not.toContain('\r');
  });
});
