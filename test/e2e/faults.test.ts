import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { JobAuditRecord, WorkflowAuditRecord } from '../../contracts/audit.js';
import { cli, stages, workspace } from '../support/workspace.js';

type Doc = { workflow: WorkflowAuditRecord; jobs: JobAuditRecord[] };
const BIN = path.resolve('bin/rsqlo.js');

/** Audit records without what legitimately differs between two runs (times, paths, pids). */
function normalize(d: Doc): unknown {
  const strip = (o: unknown): unknown => {
    if (Array.isArray(o)) return o.map(strip);
    if (o && typeof o === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(o)) {
        if (/_ts$|_at$|^not_before$|^log_location$|^duration_ms$/.test(k))
          out[k] = v === null ? null : '<set>';
        else out[k] = strip(v);
      }
      return out;
    }
    return o;
  };
  return strip(d);
}

function chaosWorkflow(ws: ReturnType<typeof workspace>) {
  const once = (name: string) =>
    `if [ ! -e ${ws.dir}/${name}.failed-once ]; then touch ${ws.dir}/${name}.failed-once; echo "first try of ${name} fails" >&2; exit 3; fi\necho ${name} >> ${ws.dir}/ledger`;
  const ok = (name: string) => `sleep 0.05\necho ${name} >> ${ws.dir}/ledger`;
  ws.script('a.sh', ok('a'));
  ws.script('b.sh', once('b'));
  for (const n of ['c', 'd', 'e', 'g']) ws.script(`${n}.sh`, ok(n));
  ws.script('x.sh', ok('x'));
  ws.script('f.sh', 'echo "f cannot load" >&2\nexit 5');
  return ws.workflow({
    workflow_id: 'chaos_test',
    defaults: { retry_backoff_seconds: 1 },
    workflow_stages: [
      ...stages(
        ['sequential', ['a.sh', { script: 'b.sh', retries: 1 }]],
        ['parallel', ['c.sh', 'd.sh', 'e.sh'], { max_concurrency: 2 }],
      ),
      { execution_flag: 'n', execution_type: 'sequential', scripts: ['x.sh'] },
      ...stages(['parallel', ['f.sh', 'g.sh']], ['sequential', ['c.sh']]),
    ],
  });
}

describe('faults', () => {
  it('duplicated and reordered deliveries change neither the outcome nor the audit records', async () => {
    const clean = workspace();
    const chaos = workspace();
    const a = await cli([
      'run',
      chaosWorkflow(clean),
      '--home',
      clean.home,
      '--json',
      '--execution-id',
      'chaos_test-1',
    ]);
    const b = await cli(
      ['run', chaosWorkflow(chaos), '--home', chaos.home, '--json', '--execution-id', 'chaos_test-1'],
      {
        RSQLO_TEST_CHAOS: 'all,seed=7',
      },
    );
    expect(a.code).toBe(1);
    expect(b.code).toBe(1);
    const da = JSON.parse(a.stdout) as Doc;
    const db = JSON.parse(b.stdout) as Doc;
    expect(da.workflow.execution_status).toBe('Failed');
    expect(da.jobs.find((j) => j.job_key === '1.2')).toMatchObject({
      execution_status: 'Completed',
      attempt: 2,
    });
    expect(da.jobs.find((j) => j.job_key === '4.1')).toMatchObject({
      execution_status: 'Failed',
      exit_code: 5,
      error_message: 'f cannot load',
    });
    expect(da.jobs.find((j) => j.job_key === '5.1')?.execution_status).toBe('Skipped');
    expect(normalize(db)).toEqual(normalize(da));
    // Every script that ran, ran once, in both.
    const ledger = (ws: ReturnType<typeof workspace>) =>
      readFileSync(path.join(ws.dir, 'ledger'), 'utf8').trim().split('\n').sort();
    expect(ledger(chaos)).toEqual(ledger(clean));
    expect(ledger(clean)).toEqual(['a', 'b', 'c', 'd', 'e', 'g']);
  });

  it('SIGKILL of the engine at any point, then resume, finishes the run without re-running completed jobs', async () => {
    const delays = [150, 450, 700, 950, 1200, 1500, 1900, 2400];
    for (const delay of delays) {
      const ws = workspace('rsqlo-crash-');
      const job = (n: string, secs: number) => `sleep ${secs}\necho ${n} >> ${ws.dir}/ledger`;
      const names = ['s1', 's2', 's3', 'p1', 'p2', 'p3', 'p4', 'p5', 't1', 't2'];
      for (const n of names) ws.script(`${n}.sh`, job(n, n.startsWith('p') ? 0.25 : 0.1));
      const file = ws.workflow({
        workflow_id: 'crash_test',
        workflow_stages: stages(
          ['sequential', ['s1.sh', 's2.sh', 's3.sh']],
          ['parallel', ['p1.sh', 'p2.sh', 'p3.sh', 'p4.sh', 'p5.sh'], { max_concurrency: 3 }],
          ['sequential', ['t1.sh', 't2.sh']],
        ),
      });
      const child = spawn(
        process.execPath,
        [BIN, 'run', file, '--home', ws.home, '--execution-id', 'crash_test-1', '--no-database'],
        {
          stdio: 'ignore',
        },
      );
      await new Promise((r) => setTimeout(r, delay));
      await killHard(child);
      // Resume until it is over (a resume may itself be killed once, for good measure).
      if (delay === 950) {
        const again = spawn(process.execPath, [BIN, 'resume', '--home', ws.home, '--no-database'], {
          stdio: 'ignore',
        });
        await new Promise((r) => setTimeout(r, 400));
        await killHard(again);
      }
      let status = '';
      for (let i = 0; i < 3 && status !== 'Completed'; i++) {
        if (!existsSync(path.join(ws.home, 'rsqlo.db'))) {
          // Killed before anything was written: running it again is the user's move.
          const r = await cli(['run', file, '--home', ws.home, '--execution-id', 'crash_test-1']);
          expect(r.code).toBe(0);
        } else {
          const r = await cli(['resume', '--home', ws.home]);
          expect(r.stderr).not.toMatch(/rsqlo:/);
        }
        const s = await cli(['status', 'crash_test-1', '--home', ws.home, '--json']);
        if (s.code === 2) {
          // The request never reached the database: run it.
          const r = await cli(['run', file, '--home', ws.home, '--execution-id', 'crash_test-1']);
          expect(r.code).toBe(0);
          continue;
        }
        status = (JSON.parse(s.stdout) as Doc).workflow.execution_status;
      }
      expect({ delay, status }).toEqual({ delay, status: 'Completed' });
      const lines = readFileSync(path.join(ws.dir, 'ledger'), 'utf8').trim().split('\n').sort();
      expect({ delay, lines }).toEqual({ delay, lines: [...names].sort() });
    }
  }, 180_000);

  it('a second engine on the same home says so clearly and changes nothing', async () => {
    const ws = workspace();
    ws.script('slow.sh', 'sleep 3');
    const file = ws.workflow({
      workflow_id: 'lock_test',
      workflow_stages: stages(['sequential', ['slow.sh']]),
    });
    const child = spawn(process.execPath, [BIN, 'run', file, '--home', ws.home, '--no-database'], {
      stdio: 'ignore',
    });
    try {
      await waitFor(() => existsSync(path.join(ws.home, 'engine.lock')), 15_000);
      const r = await cli(['run', file, '--home', ws.home]);
      // a busy home is a refusal: exit 3, as everywhere (README, "The command")
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(new RegExp(`another rsqlo engine \\(pid ${child.pid}\\) is using`));
    } finally {
      await killHard(child);
    }
    const r = await cli(['resume', '--home', ws.home]);
    expect(r.code).toBe(0);
  }, 60_000);
});

async function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}
