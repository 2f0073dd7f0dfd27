/**
 * Issue 10's acceptance soak: a 300-job workflow, and 20 rounds of SIGKILL at random moments — of
 * the engine, of the job host(s), or of both — each followed by `rsqlo resume`. The run must end
 * Completed with every job's script run exactly once (a ledger each job writes to as it starts and
 * as it ends).
 *
 * The jobs are of every kind the kills used to hurt: plain bash, bash writing to stderr (its reader
 * used to be the host), bash with its own EXIT trap, and executables that are not bash. Kills are
 * drawn from a seeded generator: a failure names its seed (RSQLO_SOAK_SEED replays it).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { JobAuditRecord, WorkflowAuditRecord } from '../../contracts/audit.js';
import { seededRandom } from '../../services/testing/in-memory.js';
import { commandLine, killHard, processesWith, until } from '../support/attack.js';
import { cli, type Workspace, workspace } from '../support/workspace.js';

type Doc = { workflow: WorkflowAuditRecord; jobs: JobAuditRecord[] };
const BIN = path.resolve('bin/rsqlo.js');
const ROUNDS = 20;
const EXEC = 'soak-1';

/** 300 jobs in 6 stages: parallel stages of 60 (8 at a time) and sequential stages of 15. */
function soakWorkflow(ws: Workspace): { file: string; keys: string[] } {
  const ledger = path.join(ws.dir, 'ledger');
  const pause = (i: number) => `0.${String(5 + ((i * 7) % 20)).padStart(2, '0')}`;
  const body = (i: number, kind: number): string => {
    const start = `echo "start $RSQLO_JOB_KEY" >> ${ledger}`;
    const end = `echo "end $RSQLO_JOB_KEY" >> ${ledger}`;
    switch (kind) {
      case 0:
        return `${start}\nsleep ${pause(i)}\n${end}`;
      case 1:
        return `${start}\necho "working on $RSQLO_JOB_KEY" >&2\nsleep ${pause(i)}\necho "still working" >&2\n${end}`;
      case 2:
        return `trap 'echo "cleanup of $RSQLO_JOB_KEY" >&2' EXIT\n${start}\nsleep ${pause(i)}\n${end}`;
      default:
        return `${start}\nsleep ${pause(i)}\n${end}\nexit 0`;
    }
  };
  const layout: Array<['parallel' | 'sequential', number]> = [
    ['parallel', 60],
    ['sequential', 15],
    ['parallel', 60],
    ['parallel', 60],
    ['sequential', 15],
    ['parallel', 90],
  ];
  let n = 0;
  const keys: string[] = [];
  const stages = layout.map(([type, count], s) => {
    const scripts: string[] = [];
    for (let j = 0; j < count; j++, n++) {
      const kind = n % 4;
      const name = `j${String(n).padStart(3, '0')}${kind === 3 ? '.run' : '.sh'}`;
      const file = ws.script(name, '');
      // kind 3 is executed directly by its #! line (no bash of ours).
      writeFileSync(file, `${kind === 3 ? '#!/bin/sh' : '#!/bin/bash'}\n${body(n, kind)}\n`);
      scripts.push(name);
      keys.push(`${s + 1}.${j + 1}`);
    }
    return {
      execution_flag: 'y',
      execution_type: type,
      scripts,
      ...(type === 'parallel' ? { max_concurrency: 8 } : {}),
    };
  });
  expect(n).toBe(300);
  return { file: ws.workflow({ workflow_id: 'soak', workflow_stages: stages }), keys };
}

describe('soak: SIGKILL of the engine and of the job host, resumed each time', () => {
  const strays: number[] = [];
  const marker = `RSQLO_SOAK_ID=${randomUUID()}`;
  afterAll(() => {
    for (const pid of [...strays, ...processesWith('spawner', marker)]) killHard(pid);
  });

  it('300 jobs, 20 rounds: ends Completed with every script run exactly once', async () => {
    const seed = Number(process.env.RSQLO_SOAK_SEED ?? Date.now() % 1_000_000);
    const rand = seededRandom(seed); // replayable: a failing soak names its seed
    const ws = workspace('rsqlo-soak-');
    const { file, keys } = soakWorkflow(ws);
    const env = { ...process.env, [marker.split('=')[0] as string]: marker.split('=')[1] };

    const startEngine = (argv: string[]): { child: ChildProcess; exited: Promise<number | null> } => {
      const child = spawn(process.execPath, [BIN, ...argv, '--home', ws.home, '--no-database'], {
        stdio: ['ignore', 'ignore', 'pipe'],
        env,
      });
      child.stderr?.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      strays.push(child.pid ?? 0);
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      return { child, exited };
    };

    const ledgerFile = path.join(ws.dir, 'ledger');
    const ledgerSize = () => (existsSync(ledgerFile) ? readFileSync(ledgerFile, 'utf8').length : 0);
    /** `run` again if the killed engine never recorded the run, else `resume`. */
    const restart = async () => {
      const s = await cli(['status', EXEC, '--home', ws.home, '--json']);
      return startEngine(s.code === 0 ? ['resume'] : ['run', file, '--execution-id', EXEC]);
    };

    const log: string[] = [];
    let stderr = '';
    /** What a failure says: the seed that replays it, the rounds so far, the engines' stderr. */
    const story = () =>
      `seed ${seed}; ${rounds} rounds in ${((Date.now() - t0) / 1000).toFixed(1)} s:\n${log.join('\n')}\nengines' stderr:\n${stderr.slice(-4000)}`;
    let engine = startEngine(['run', file, '--execution-id', EXEC]);
    let engineAlive = true;
    const watch = (e: typeof engine) =>
      void e.exited.then(() => {
        if (engine === e) engineAlive = false;
      });
    watch(engine);
    let rounds = 0;
    const t0 = Date.now();
    for (; rounds < ROUNDS; rounds++) {
      // Each round strikes while jobs make progress: after the ledger grew, at a random moment.
      const before = ledgerSize();
      await until(() => ledgerSize() > before || !engineAlive, 'the jobs to make progress', 60_000).catch(
        async (err: unknown) => {
          // What the engine believes (the run's rows as status shows them), and what still runs:
          // the processes of this soak (the marker is in their environment), job hosts included.
          const s = await cli(['status', EXEC, '--home', ws.home]);
          const procs = processesWith('', marker).map((pid) => `${pid} ${commandLine(pid).slice(0, 160)}`);
          throw new Error(
            `${err instanceof Error ? err.message : String(err)}; ${story()}\nstatus:\n${s.stdout}${s.stderr}\nprocesses:\n${procs.join('\n')}`,
          );
        },
      );
      const delay = Math.floor(rand() * 800);
      const victim = rand();
      await Promise.race([engine.exited, new Promise((r) => setTimeout(r, delay))]);
      if (!engineAlive) {
        const s = await cli(['status', EXEC, '--home', ws.home, '--json']);
        if (s.code === 0 && (JSON.parse(s.stdout) as Doc).workflow.execution_status === 'Completed') break;
      }
      const killHost = victim < 0.7;
      const killEngine = victim >= 0.35;
      const hosts = killHost ? processesWith('spawner', marker) : [];
      for (const pid of hosts) killHard(pid);
      if (killEngine && engineAlive) engine.child.kill('SIGKILL');
      log.push(
        `round ${rounds + 1} at ${((Date.now() - t0) / 1000).toFixed(1)} s, +${delay} ms: ${killHost ? `killed ${hosts.length} job host(s)` : 'spared the job host'}${killEngine ? ', killed the engine' : ''}`,
      );
      if (killEngine || !engineAlive) {
        await engine.exited;
        engine = await restart();
        engineAlive = true;
        watch(engine);
      }
    }
    // The last engine runs what is left; it must keep making progress until it exits. A stall says
    // so with the seed and the engines' stderr (a bare test timeout would say neither).
    for (let last = -1; engineAlive; ) {
      const size = ledgerSize();
      if (size === last) {
        const s = await cli(['status', EXEC, '--home', ws.home]);
        engine.child.kill('SIGKILL');
        throw new Error(
          `the last engine made no progress for 60 s\nstatus:\n${s.stdout}${s.stderr}\n${story()}`,
        );
      }
      last = size;
      await Promise.race([engine.exited, new Promise((r) => setTimeout(r, 60_000))]);
    }
    // Whatever the last round left (an engine killed at its very start), resume until it is over.
    let doc: Doc | undefined;
    for (let i = 0; i < 3; i++) {
      const s = await cli(['status', EXEC, '--home', ws.home, '--json']);
      if (s.code === 0) {
        doc = JSON.parse(s.stdout) as Doc;
        if (doc.workflow.execution_status === 'Completed') break;
      }
      const s2 = await cli(['status', EXEC, '--home', ws.home]);
      await cli(
        s2.code === 0
          ? ['resume', '--home', ws.home]
          : ['run', file, '--home', ws.home, '--execution-id', EXEC],
      );
    }

    const failed = (doc?.jobs ?? [])
      .filter((j) => j.execution_status !== 'Completed')
      .map((j) => `${j.job_key} ${j.execution_status} ${j.exit_code}: ${j.error_message}`);
    const context = `${story()}\nnot completed:\n${failed.join('\n')}`;
    expect(doc?.workflow.execution_status, context).toBe('Completed');
    expect(rounds, context).toBe(ROUNDS);
    expect(
      doc?.jobs.filter((j) => j.execution_status !== 'Completed' || j.exit_code !== 0),
      context,
    ).toEqual([]);
    expect(doc?.jobs.map((j) => j.job_key).sort(), context).toEqual([...keys].sort());
    // The ledger: every job started once and ended once.
    const lines = existsSync(path.join(ws.dir, 'ledger'))
      ? readFileSync(path.join(ws.dir, 'ledger'), 'utf8').trim().split('\n')
      : [];
    const count = new Map<string, number>();
    for (const l of lines) count.set(l, (count.get(l) ?? 0) + 1);
    const wrong = keys.flatMap((k) =>
      ['start', 'end']
        .map((what) => `${what} ${k}`)
        .filter((l) => count.get(l) !== 1)
        .map((l) => `${l} × ${count.get(l) ?? 0}`),
    );
    expect(wrong, context).toEqual([]);
    expect(lines, context).toHaveLength(600);
  }, 600_000);
});
