/**
 * The CLI behaves like the tools people know (issue 12 item 4): --help per command, one-line
 * usage errors with "did you mean", exit codes as documented (a busy home is a refusal: 3), hints
 * printed the way rsqlo was invoked, init / plan / completion, logs of a job that completed in an
 * earlier run, and what Ctrl-C or kill cut.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../../cli/help.js';
import { createTestDatabase } from '../support/postgres.js';
import { cli, stages, workspace } from '../support/workspace.js';

const BIN = path.resolve('bin/rsqlo.js');

/** Runs the real rsqlo process; `env` replaces npm's markers so each case starts clean. */
function rsqlo(args: string[], env: Record<string, string | undefined> = {}, cwd = process.cwd()) {
  const clean = { ...process.env };
  delete clean.npm_command;
  delete clean.npm_lifecycle_event;
  delete clean.npm_lifecycle_script;
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd, env: { ...clean, ...env } });
}

async function until(what: string, ok: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

describe('help, usage errors and exit codes', () => {
  it('every command has --help (exit 0, its usage and the exit codes)', async () => {
    for (const name of Object.keys(COMMANDS)) {
      const r = await cli([name, '--help']);
      expect(r.code, name).toBe(0);
      expect(r.stdout, name).toMatch(new RegExp(`^Usage: \\S+(?: \\S+)* ${name}\\b`));
      expect(r.stdout, name).toContain('3 refused');
    }
    // -h too, except for sql where -h is the runner's host option
    expect((await cli(['status', '-h'])).stdout).toMatch(/^Usage: .* status <execution-id>/);
  });

  it('an unknown option is one line with "did you mean", exit 2, nothing written', async () => {
    const ws = workspace();
    const r = await cli(['run', 'examples/blog', '--home', ws.home, '--jsno']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(
      /^rsqlo run: unknown option --jsno \(did you mean --json\?\); see .*run --help\n$/,
    );
    expect(existsSync(ws.home)).toBe(false);
    const restart = await cli(['restart', 'x', '--same-defintion']);
    expect(restart.stderr).toContain('(did you mean --same-definition?)');
    const far = await cli(['logs', 'x', '--zzzzzz']);
    expect(far.stderr).not.toContain('did you mean');
    const cmd = await cli(['restrat', 'x']);
    expect(cmd.code).toBe(2);
    expect(cmd.stderr).toMatch(/^rsqlo: unknown command "restrat" \(did you mean restart\?\)/);
  });

  it('hints print the command the way rsqlo was invoked', () => {
    const ws = workspace();
    // node and the path typed (relative to where it was run)
    const viaNode = rsqlo(['run', '--bogus']);
    expect(viaNode.status).toBe(2);
    expect(viaNode.stderr).toContain('see node bin/rsqlo.js run --help');
    // npx / npm exec
    const npx = { npm_command: 'exec', npm_lifecycle_event: 'npx' };
    expect(rsqlo(['run', '--bogus'], { ...npx, npm_lifecycle_script: 'rsqlo' }).stderr).toContain(
      'see npx rsqlo run --help',
    );
    // started by something else npx ran (npx vitest → a test spawning rsqlo): not "npx rsqlo"
    expect(rsqlo(['run', '--bogus'], { ...npx, npm_lifecycle_script: 'vitest' }).stderr).toContain(
      'see node bin/rsqlo.js run --help',
    );
    // on PATH (npm install -g . / npm link put a symlink named rsqlo in a bin folder)
    const bin = path.join(ws.dir, 'bin');
    mkdirSync(bin);
    symlinkSync(BIN, path.join(bin, 'rsqlo'));
    const onPath = spawnSync(path.join(bin, 'rsqlo'), ['run', '--bogus'], {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH}`, npm_command: '' },
    });
    expect(onPath.stderr).toContain('see rsqlo run --help');
    // the same symlink not on PATH: the path as typed
    const offPath = spawnSync(path.join(bin, 'rsqlo'), ['run', '--bogus'], {
      encoding: 'utf8',
      cwd: ws.dir,
      env: { ...process.env, npm_command: '' },
    });
    expect(offPath.stderr).toContain('see bin/rsqlo run --help');
  });

  it('completion bash completes commands and options in a real bash; zsh gets a compdef script', async () => {
    const script = rsqlo(['completion', 'bash']).stdout;
    const ask = (words: string[]) =>
      spawnSync(
        'bash',
        [
          '-c',
          `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _rsqlo; echo "\${COMPREPLY[*]}"`,
        ],
        { encoding: 'utf8' },
      ).stdout.trim();
    expect(ask(['rsqlo', 're']).split(' ').sort()).toEqual(['rerun', 'restart', 'resume']);
    expect(ask(['rsqlo', 'restart', 'x', '--sa'])).toBe('--same-definition');
    expect(ask(['rsqlo', 'completion', ''])).toBe('bash zsh');
    const zsh = rsqlo(['completion', 'zsh']);
    expect(zsh.status).toBe(0);
    expect(zsh.stdout).toMatch(/^#compdef rsqlo/);
    expect(zsh.stdout).toContain("restart) opts=('--same-definition'");
    expect((await cli(['completion', 'fish'])).code).toBe(2);
  });
});

describe('init and plan', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    db = await createTestDatabase('cli_habits');
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('rsqlo init DIR makes a workflow that rsqlo run DIR runs at once; init never overwrites', async () => {
    const ws = workspace();
    const dir = path.join(ws.dir, 'nightly-load');
    const init = await cli(['init', dir]);
    expect(init.code).toBe(0);
    expect(init.stdout).toContain('workflow nightly-load: run it with');
    for (const f of ['workflow.json', 'scripts/load_example.sh', 'scripts/report_example.sql', 'README.md'])
      expect(existsSync(path.join(dir, f)), f).toBe(true);
    expect((await cli(['validate', dir])).code).toBe(0);
    const run = await cli(['run', dir, '--home', ws.home, '--json', '--database-url', db.connection.url]);
    expect(run.code, run.stderr).toBe(0);
    const doc = JSON.parse(run.stdout) as { workflow: { execution_status: string } };
    expect(doc.workflow.execution_status).toBe('Completed');
    const exec = (doc.workflow as unknown as { workflow_execution_id: string }).workflow_execution_id;
    const logs = await cli(['logs', exec, '--home', ws.home]);
    expect(logs.stdout).toContain('1 row inserted');
    expect(logs.stdout).toMatch(/example\s*\|\s*1/);
    // a second init into the same folder changes nothing
    const before = readFileSync(path.join(dir, 'workflow.json'), 'utf8');
    const again = await cli(['init', dir]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('is not empty');
    expect(readFileSync(path.join(dir, 'workflow.json'), 'utf8')).toBe(before);
  });

  it('rsqlo plan shows resolved paths, policies and what is disabled, and runs nothing', async () => {
    const ws = workspace();
    const marker = path.join(ws.dir, 'ran');
    ws.script('a.sh', `touch '${marker}'`);
    ws.script('b.sh', `touch '${marker}'`);
    writeFileSync(path.join(ws.scripts, 'q.sql'), 'select 1;\n');
    ws.workflow({
      workflow_id: 'planned',
      defaults: { retries: 2, timeout_seconds: 600 },
      workflow_stages: stages(
        ['sequential', ['a.sh', { script: 'q.sql', timeout_seconds: 30 }]],
        ['parallel', ['b.sh'], { execution_flag: 'n', max_concurrency: 2 }],
      ),
    });
    const r = await cli(['plan', ws.dir, '--param', 'DAY=mon']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`1.1    bash ${path.join(ws.scripts, 'a.sh')}`);
    expect(r.stdout).toContain(`1.2    rsql -f ${path.join(ws.scripts, 'q.sql')}`);
    expect(r.stdout).toMatch(/timeout 30 s, heartbeat \d+ s, retries 2 \(backoff 30 s × 2\)/);
    expect(r.stdout).toContain('stage 2 parallel (at most 2 at once)  DISABLED (execution_flag "n")');
    expect(r.stdout).toContain('2.1    (skipped) bash');
    expect(r.stdout).toContain('parameters DAY="mon" (--param)');
    expect(r.stdout).toContain('2 stage(s), 3 job(s), 2 would run');
    const json = JSON.parse((await cli(['plan', ws.dir, '--json'])).stdout) as {
      stages: Array<{ jobs: Array<{ job_key: string; timeout_seconds: number; skipped: string | null }> }>;
    };
    expect(json.stages[0]?.jobs.map((j) => j.timeout_seconds)).toEqual([600, 30]);
    expect(json.stages[1]?.jobs[0]?.skipped).toMatch(/disabled/);
    expect(existsSync(marker)).toBe(false);
    expect(existsSync(ws.home)).toBe(false);
  });
});

describe('logs and interruptions', () => {
  it('logs of a job that completed in an earlier run shows that run’s log and says so', async () => {
    const ws = workspace();
    ws.script('a.sh', 'echo "a ran in $RSQLO_EXECUTION_ID"');
    ws.script('b.sh', 'exit 4');
    ws.workflow({ workflow_id: 'earlier', workflow_stages: stages(['sequential', ['a.sh', 'b.sh']]) });
    const first = await cli(['run', ws.dir, '--home', ws.home, '--json']);
    const r1 = (JSON.parse(first.stdout) as { workflow: { workflow_execution_id: string } }).workflow
      .workflow_execution_id;
    ws.script('b.sh', 'exit 0');
    const second = await cli(['restart', r1, '--home', ws.home, '--json']);
    expect(second.code).toBe(0);
    const r2 = (JSON.parse(second.stdout) as { workflow: { workflow_execution_id: string } }).workflow
      .workflow_execution_id;
    const logs = await cli(['logs', r2, '1.1', '--home', ws.home]);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toContain(`(Completed in the earlier run ${r1}: it was not run again in ${r2})`);
    expect(logs.stdout).toContain(`a ran in ${r1}`);
  });

  it('a busy home refuses a second engine with exit 3; after Ctrl-C the summary names the job cut and what to run next', async () => {
    const ws = workspace();
    const started = path.join(ws.dir, 'started');
    ws.script('quick.sh', 'true');
    ws.script('long.sh', `touch '${started}'; sleep 60`);
    ws.workflow({
      workflow_id: 'cut',
      workflow_stages: stages(['sequential', ['quick.sh', 'long.sh', 'never.sh']]),
    });
    ws.script('never.sh', 'true');
    const child = spawn(process.execPath, [BIN, 'run', ws.dir, '--home', ws.home, '--no-database'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, npm_command: '' },
    });
    let out = '';
    child.stdout?.on('data', (c) => {
      out += String(c);
    });
    try {
      await until('the long job to start', () => existsSync(started));
      const other = workspace();
      other.script('x.sh', 'true');
      other.workflow({ workflow_id: 'other', workflow_stages: stages(['sequential', ['x.sh']]) });
      const busy = await cli(['run', other.dir, '--home', ws.home]);
      expect(busy.code).toBe(3);
      child.kill('SIGINT');
      expect(await exited(child)).toBe(130);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    expect(out).toMatch(/: Cancelled \(1 completed/);
    expect(out).toMatch(
      / {2}cut: 1\.2 long\.sh was killed while running after \d+\.\d s \(log: .*1\.2\.a1\.log\)/,
    );
    expect(out).toContain('  not started: 1.3');
    expect(out).toMatch(new RegExp(`restart with: node bin/rsqlo\\.js restart cut-\\S+ --home ${ws.home}`));
  });
});
