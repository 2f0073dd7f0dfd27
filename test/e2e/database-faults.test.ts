/**
 * The embedded PostgreSQL under faults (issue 10, class 9), with real processes: the engine (and
 * initdb) SIGKILLed during the first initdb, then `resume`; a server left running by a killed
 * engine; a cluster that cannot start. The database never runs on PostgreSQL's defaults, no
 * server of the home is left behind, and no job runs without the database it expects.
 */
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { removeTestDir } from '../support/cleanup.js';
import { processesMentioning, spawnRsqlo, until } from '../support/processes.js';
import { cli, stages, workspace } from '../support/workspace.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** A workspace whose home the server's OS user can reach (class 10 covers the other case). */
function dbWorkspace() {
  const ws = workspace();
  chmodSync(ws.dir, 0o755);
  cleanups.push(async () => removeTestDir(ws.dir));
  return ws;
}

/** A job that proves it reached the database and says where the server listens. */
const PROBE = `rsql -At -c "select 'answer=' || (40 + 2), 'port=' || inet_server_port(), 'sockets=' || current_setting('unix_socket_directories')"`;

function probeWorkflow(ws: ReturnType<typeof workspace>, id: string): string {
  ws.script('probe.sh', `set -e\necho "PGPORT=$PGPORT"\n${PROBE}`);
  return ws.workflow({ workflow_id: id, workflow_stages: stages(['sequential', ['probe.sh']]) });
}

/** Any PG_VERSION under the home's pg/ (the cluster, or one being made). */
function initdbUnderway(home: string): boolean {
  const pg = path.join(home, 'pg');
  if (!existsSync(pg)) return false;
  const started = readdirSync(pg).some((d) => existsSync(path.join(pg, d, 'PG_VERSION')));
  return started && processesMentioning(pg).some((p) => /initdb/.test(p.args));
}

function expectProbeRan(ws: ReturnType<typeof workspace>, exec: string): void {
  const log = readFileSync(path.join(ws.home, 'logs', exec, '1.1.a1.log'), 'utf8');
  const state = JSON.parse(readFileSync(path.join(ws.home, 'pg', 'connection.json'), 'utf8')) as {
    port: number;
  };
  expect(log).toContain('answer=42');
  expect(log).toContain(`port=${state.port}`);
  expect(state.port).not.toBe(5432);
  const sockets = /sockets=(.*)/.exec(log)?.[1] ?? '<none>';
  expect(sockets === '' || sockets.startsWith(path.join(ws.home, 'pg'))).toBe(true);
}

/** Nothing of the home runs any more (the server the resume started is stopped). */
function expectNothingLeft(home: string): void {
  expect(processesMentioning(path.join(home, 'pg')).map((p) => p.args)).toEqual([]);
}

describe('the embedded database under faults', { timeout: 600_000 }, () => {
  for (const victim of ['the engine and initdb', 'the engine alone'] as const) {
    it(`SIGKILL of ${victim} during the first initdb, then resume: the cluster is made again and the job uses it`, async () => {
      const ws = dbWorkspace();
      const run = spawnRsqlo([
        'run',
        probeWorkflow(ws, 'initdb_kill'),
        '--home',
        ws.home,
        '--execution-id',
        'ik-1',
      ]);
      await until(() => initdbUnderway(ws.home), 'initdb to be creating the cluster');
      const pid = run.child.pid as number;
      process.kill(victim === 'the engine alone' ? pid : -pid, 'SIGKILL');
      expect(await run.exit).toBe('SIGKILL');

      const resumed = spawnRsqlo(['resume', '--home', ws.home]);
      expect(await resumed.exit, resumed.stderr()).toBe(0);
      expect(resumed.stderr()).not.toMatch(/could not be started|without a database/);
      expect(resumed.stdout()).toMatch(/ik-1: Completed/);
      expectProbeRan(ws, 'ik-1');
      expectNothingLeft(ws.home);
    });
  }

  it('a server left running by a killed engine is taken over by resume and stopped at its end', async () => {
    const ws = dbWorkspace();
    const go = path.join(ws.dir, 'go');
    ws.script('wait.sh', `${PROBE}\nwhile [ ! -e '${go}' ]; do sleep 0.02; done`);
    const def = ws.workflow({
      workflow_id: 'orphan_db',
      workflow_stages: stages(['sequential', ['wait.sh']]),
    });
    const run = spawnRsqlo(['run', def, '--home', ws.home, '--execution-id', 'od-1']);
    const log = path.join(ws.home, 'logs', 'od-1', '1.1.a1.log');
    await until(() => existsSync(log) && readFileSync(log, 'utf8').includes('answer=42'), 'the job to query');
    process.kill(run.child.pid as number, 'SIGKILL');
    await run.exit;
    // The server outlives its engine (jobs may still use it) ...
    expect(processesMentioning(path.join(ws.home, 'pg', 'pgdata')).length).toBeGreaterThan(0);
    writeFileSync(go, '');
    // ... until the next engine on the home takes it over and stops it when done.
    const resumed = spawnRsqlo(['resume', '--home', ws.home]);
    expect(await resumed.exit, resumed.stderr()).toBe(0);
    expectNothingLeft(ws.home);
  });

  it('a database that cannot start fails the run with the reason; no job runs without it', async () => {
    const ws = dbWorkspace();
    const marker = path.join(ws.dir, 'ran');
    ws.script('job.sh', `touch '${marker}'`);
    const def = ws.workflow({ workflow_id: 'no_db', workflow_stages: stages(['sequential', ['job.sh']]) });
    const first = await cli(['run', def, '--home', ws.home], {}, { database: true });
    expect(first.code, first.stderr).toBe(0);
    expect(existsSync(marker)).toBe(true);
    // A cluster this server cannot open (as after an upgrade of the files by a newer PostgreSQL).
    writeFileSync(path.join(ws.home, 'pg', 'pgdata', 'PG_VERSION'), '99\n');
    rmSync(marker);

    const r = await cli(['run', def, '--home', ws.home, '--execution-id', 'nodb-2'], {}, { database: true });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the database could not be started: .*incompatible/);
    expect(r.stdout).toMatch(/1\.1 job\.sh: Failed/);
    expect(r.stdout).toMatch(/not run: the database it needs could not be started/);
    expect(existsSync(marker)).toBe(false);

    // Only --no-database runs jobs without one.
    const without = await cli(['run', def, '--home', ws.home, '--no-database']);
    expect(without.code, without.stderr).toBe(0);
    expect(existsSync(marker)).toBe(true);
    expectNothingLeft(ws.home);
  });
});
