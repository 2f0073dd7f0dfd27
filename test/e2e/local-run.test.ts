import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { JobAuditRecord, WorkflowAuditRecord } from '../../contracts/audit.js';
import { cli, stages, workspace } from '../support/workspace.js';

type Doc = { workflow: WorkflowAuditRecord; jobs: JobAuditRecord[] };

function doc(stdout: string): Doc {
  return JSON.parse(stdout) as Doc;
}

/** Start/end marks each script writes with a monotonic-enough clock (ns since epoch). */
const MARK = (ws: string, name: string) =>
  `echo "start ${name} $(date +%s%N)" >> ${ws}/marks\nsleep 0.3\necho "end ${name} $(date +%s%N)" >> ${ws}/marks`;

function intervals(marks: string): Map<string, { start: bigint; end: bigint }> {
  const m = new Map<string, { start: bigint; end: bigint }>();
  for (const line of marks.trim().split('\n')) {
    const [kind, name, ns] = line.split(' ') as [string, string, string];
    const cur = m.get(name) ?? { start: 0n, end: 0n };
    if (kind === 'start') cur.start = BigInt(ns);
    else cur.end = BigInt(ns);
    m.set(name, cur);
  }
  return m;
}

function maxOverlap(iv: Iterable<{ start: bigint; end: bigint }>): number {
  const points: Array<[bigint, number]> = [];
  for (const i of iv) points.push([i.start, 1], [i.end, -1]);
  points.sort((a, b) => (a[0] === b[0] ? a[1] - b[1] : a[0] < b[0] ? -1 : 1));
  let cur = 0;
  let max = 0;
  for (const [, d] of points) {
    cur += d;
    max = Math.max(max, cur);
  }
  return max;
}

describe('rsqlo run (local engine)', () => {
  it('runs stages in order: sequential jobs never overlap, parallel ones do, disabled stages are skipped', async () => {
    const ws = workspace();
    for (const n of ['a1', 'a2', 'a3']) ws.script(`${n}.sh`, MARK(ws.dir, n));
    // Parallel jobs meet at a barrier: each waits (up to 20 s) for the other to have started.
    for (const [me, other] of [
      ['b1', 'b2'],
      ['b2', 'b1'],
    ] as const) {
      ws.script(
        `${me}.sh`,
        `touch ${ws.dir}/${me}.started\nfor i in $(seq 200); do [ -e ${ws.dir}/${other}.started ] && break; sleep 0.1; done\n[ -e ${ws.dir}/${other}.started ] || { echo "no overlap" >&2; exit 9; }\n${MARK(ws.dir, me)}`,
      );
    }
    ws.script('c1.sh', `touch ${ws.dir}/c1.ran`);
    ws.script('c2.sh', `touch ${ws.dir}/c2.ran`);
    const file = ws.workflow({
      workflow_id: 'order_test',
      workflow_stages: [
        ...stages(['sequential', ['a1.sh', 'a2.sh', 'a3.sh']], ['parallel', ['b1.sh', 'b2.sh']]),
        { execution_flag: 'N', execution_type: 'parallel', scripts: ['c1.sh', 'c2.sh'] },
      ],
    });
    const r = await cli(['run', file, '--home', ws.home, '--json']);
    expect(r.stderr).not.toMatch(/rsqlo:/);
    expect(r.code).toBe(0);
    const { workflow, jobs } = doc(r.stdout);
    expect(workflow.execution_status).toBe('Completed');
    expect(jobs.map((j) => [j.job_key, j.job_name, j.execution_status])).toEqual([
      ['1.1', 'a1.sh', 'Completed'],
      ['1.2', 'a2.sh', 'Completed'],
      ['1.3', 'a3.sh', 'Completed'],
      ['2.1', 'b1.sh', 'Completed'],
      ['2.2', 'b2.sh', 'Completed'],
      ['3.1', 'c1.sh', 'Skipped'],
      ['3.2', 'c2.sh', 'Skipped'],
    ]);
    expect(jobs[5]?.skip_reason).toMatch(/stage 3 is disabled/);
    expect(existsSync(path.join(ws.dir, 'c1.ran'))).toBe(false);
    expect(existsSync(path.join(ws.dir, 'c2.ran'))).toBe(false);
    const iv = intervals(ws.read('marks'));
    const a = ['a1', 'a2', 'a3'].map((n) => iv.get(n)!);
    expect(a[0]!.end <= a[1]!.start && a[1]!.end <= a[2]!.start).toBe(true);
    expect(maxOverlap(a)).toBe(1);
    // Stage 2 starts only after stage 1 ended.
    expect(a[2]!.end <= iv.get('b1')!.start && a[2]!.end <= iv.get('b2')!.start).toBe(true);
    expect(maxOverlap([iv.get('b1')!, iv.get('b2')!])).toBe(2);
    // The seed's audit attribute names are there, with values.
    expect(workflow.rsql_jobs).toEqual(['a1.sh', 'a2.sh', 'a3.sh', 'b1.sh', 'b2.sh', 'c1.sh', 'c2.sh']);
    expect(workflow.execution_end_ts).not.toBeNull();
    expect(jobs[0]).toMatchObject({
      instance_id: 'local',
      exit_code: 0,
      attempt: 1,
      workflow_id: 'order_test',
    });
    expect(jobs[0]?.execution_start_ts).toBeTruthy();
    expect(readFileSync(jobs[0]?.log_location as string, 'utf8')).toBe('');
    // A clean run logs no warning: no delivery failed and was retried on the way.
    const engineLog = path.join(ws.home, 'engine.log');
    expect(existsSync(engineLog) ? readFileSync(engineLog, 'utf8') : '').toBe('');
  });

  it('never exceeds max_concurrency and uses it', async () => {
    const ws = workspace();
    const names = Array.from({ length: 9 }, (_, i) => `p${i + 1}`);
    for (const n of names) ws.script(`${n}.sh`, MARK(ws.dir, n));
    const file = ws.workflow({
      workflow_id: 'concurrency_test',
      workflow_stages: stages(['parallel', names.map((n) => `${n}.sh`), { max_concurrency: 3 }]),
    });
    const r = await cli(['run', file, '--home', ws.home, '--json']);
    expect(r.code).toBe(0);
    const iv = intervals(ws.read('marks'));
    expect(iv.size).toBe(9);
    expect(maxOverlap(iv.values())).toBe(3);
  });

  it('a failing job fails the workflow with its exit code and last error lines; restart runs only the rest', async () => {
    const ws = workspace();
    const ledger = path.join(ws.dir, 'ledger');
    const step = (n: string) => `echo ${n} >> ${ledger}`;
    ws.script('s1.sh', step('s1'));
    ws.script(
      's2.sh',
      `echo "loading rows"\nif [ -e ${ws.dir}/broken ]; then echo "psql: ERROR: relation \\"x\\" does not exist" >&2; echo "step 2 failed" >&2; exit 12; fi\n${step('s2')}`,
    );
    ws.script('s3.sh', step('s3'));
    ws.script('p1.sh', step('p1'));
    ws.script('p2.sh', step('p2'));
    writeFileSync(path.join(ws.dir, 'broken'), '');
    const file = ws.workflow({
      workflow_id: 'fail_test',
      workflow_stages: stages(['sequential', ['s1.sh', 's2.sh', 's3.sh']], ['parallel', ['p1.sh', 'p2.sh']]),
    });
    const r = await cli(['run', file, '--home', ws.home, '--json']);
    expect(r.code).toBe(1);
    const first = doc(r.stdout);
    expect(first.workflow.execution_status).toBe('Failed');
    const byKey = new Map(first.jobs.map((j) => [j.job_key, j]));
    expect(byKey.get('1.2')).toMatchObject({ execution_status: 'Failed', exit_code: 12 });
    expect(byKey.get('1.2')?.error_message).toContain('relation "x" does not exist');
    expect(byKey.get('1.2')?.error_message?.split('\n').pop()).toBe('step 2 failed');
    expect(byKey.get('1.3')?.execution_status).toBe('Skipped');
    expect(byKey.get('1.3')?.skip_reason).toMatch(/stage 1 failed/);
    expect(byKey.get('2.1')?.execution_status).toBe('Skipped');
    expect(first.workflow.failed_jobs.map((f) => f.job_key)).toEqual(['1.2']);
    expect(readFileSync(ledger, 'utf8')).toBe('s1\n');

    // Fix the cause and restart: s1 is not run again, the rest is.
    const { rmSync } = await import('node:fs');
    rmSync(path.join(ws.dir, 'broken'));
    const again = await cli(['restart', first.workflow.workflow_execution_id, '--home', ws.home, '--json']);
    expect(again.code).toBe(0);
    const second = doc(again.stdout);
    expect(second.workflow.restart_of).toBe(first.workflow.workflow_execution_id);
    expect(second.workflow.execution_status).toBe('Completed');
    const k2 = new Map(second.jobs.map((j) => [j.job_key, j]));
    expect(k2.get('1.1')).toMatchObject({
      execution_status: 'Skipped',
      skip_reason: `completed in run ${first.workflow.workflow_execution_id}`,
    });
    expect(['1.2', '1.3', '2.1', '2.2'].map((k) => k2.get(k)?.execution_status)).toEqual([
      'Completed',
      'Completed',
      'Completed',
      'Completed',
    ]);
    const lines = readFileSync(ledger, 'utf8').trim().split('\n');
    expect(lines.filter((l) => l === 's1')).toHaveLength(1);
    expect(lines.sort()).toEqual(['p1', 'p2', 's1', 's2', 's3']);

    // A completed run cannot be restarted.
    const third = await cli(['restart', second.workflow.workflow_execution_id, '--home', ws.home]);
    expect(third.code).toBe(3);
    expect(third.stderr).toMatch(/only Failed or Cancelled runs can be restarted/);
  });

  it('times a job out and kills its whole process tree', async () => {
    const ws = workspace();
    const pids = path.join(ws.dir, 'pids');
    ws.script(
      'slow.sh',
      `sleep 300 & echo $! >> ${pids}\nsetsid sleep 300 & echo $! >> ${pids}\n( sleep 300 ) & echo $! >> ${pids}\necho $$ >> ${pids}\nwait`,
    );
    const file = ws.workflow({
      workflow_id: 'timeout_test',
      workflow_stages: stages(['sequential', [{ script: 'slow.sh', timeout_seconds: 2 }]]),
    });
    const r = await cli(['run', file, '--home', ws.home, '--json']);
    expect(r.code).toBe(1);
    const { jobs } = doc(r.stdout);
    expect(jobs[0]?.execution_status).toBe('TimedOut');
    expect(jobs[0]?.error_message).toMatch(/timed out after 2 s/);
    const alive = readFileSync(pids, 'utf8')
      .trim()
      .split('\n')
      .filter((p) => {
        try {
          const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
          return !/\) [ZX] /.test(stat);
        } catch {
          return false;
        }
      });
    expect(alive).toEqual([]);
  });

  it('retries a failing job after its backoff and records every attempt', async () => {
    const ws = workspace();
    const count = path.join(ws.dir, 'count');
    ws.script(
      'flaky.sh',
      `n=$(cat ${count} 2>/dev/null || echo 0); n=$((n+1)); echo $n > ${count}\n[ $n -ge 3 ] || { echo "attempt $n failed" >&2; exit 4; }\necho ok`,
    );
    const file = ws.workflow({
      workflow_id: 'retry_test',
      defaults: { retry_backoff_seconds: 1, retry_backoff_rate: 1 },
      workflow_stages: stages(['sequential', [{ script: 'flaky.sh', retries: 2 }]]),
    });
    const r = await cli(['run', file, '--home', ws.home, '--json']);
    expect(r.code).toBe(0);
    const job = doc(r.stdout).jobs[0] as JobAuditRecord;
    expect(job).toMatchObject({ execution_status: 'Completed', attempt: 3, max_attempts: 3 });
    expect(
      job.previous_attempts.map((a) => [a.attempt, a.execution_status, a.exit_code, a.error_message]),
    ).toEqual([
      [1, 'Failed', 4, 'attempt 1 failed'],
      [2, 'Failed', 4, 'attempt 2 failed'],
    ]);
    const gap =
      Date.parse(job.previous_attempts[1]?.execution_start_ts as string) -
      Date.parse(job.previous_attempts[0]?.execution_end_ts as string);
    expect(gap).toBeGreaterThanOrEqual(900);
    // Each attempt has its own log.
    expect(new Set([...job.previous_attempts.map((a) => a.log_location), job.log_location]).size).toBe(3);
  });

  it('writes one log per attempt and shows it with rsqlo logs; status and history read the audit', async () => {
    const ws = workspace();
    ws.script(
      'hello.sh',
      'echo "hello from $RSQLO_JOB_KEY attempt $RSQLO_ATTEMPT of $RSQLO_WORKFLOW_ID"\necho "param=$REGION"',
    );
    const file = ws.workflow({
      workflow_id: 'logs_test',
      parameters: { REGION: 'eu-west-1' },
      workflow_stages: stages(['sequential', ['hello.sh']]),
    });
    const r = await cli(['run', file, '--home', ws.home, '--json', '--execution-id', 'logs_test-run1']);
    expect(r.code).toBe(0);
    const logs = await cli(['logs', 'logs_test-run1', '--home', ws.home]);
    expect(logs.stdout).toContain('hello from 1.1 attempt 1 of logs_test');
    expect(logs.stdout).toContain('param=eu-west-1');
    const status = await cli(['status', 'logs_test-run1', '--home', ws.home, '--json']);
    expect(doc(status.stdout)).toEqual(doc(r.stdout));
    const human = await cli(['status', 'logs_test-run1', '--home', ws.home]);
    expect(human.stdout).toMatch(/1\.1\s+hello\.sh\s+Completed/);
    const hist = await cli(['history', 'logs_test', '--home', ws.home]);
    expect(hist.stdout).toMatch(/logs_test-run1\s+Completed/);
    const dup = await cli(['run', file, '--home', ws.home, '--execution-id', 'logs_test-run1']);
    expect(dup.code).toBe(0);
    expect(readdirSync(path.join(ws.home, 'logs', 'logs_test-run1'))).toEqual(['1.1.a1.log']);
  });
});
