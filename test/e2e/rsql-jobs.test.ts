import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobAuditRecord, WorkflowAuditRecord } from '../../contracts/audit.js';
import type { PgConnectionInfo } from '../../rsql/embedded-postgres.js';
import { createTestDatabase, query } from '../support/postgres.js';
import { cli, stages, workspace } from '../support/workspace.js';

type Doc = { workflow: WorkflowAuditRecord; jobs: JobAuditRecord[] };
const BIN = path.resolve('bin/rsqlo.js');

let db: { connection: PgConnectionInfo; drop: () => Promise<void> };
beforeAll(async () => {
  db = await createTestDatabase('rsql_jobs');
});
afterAll(async () => {
  await db.drop();
});

describe('RSQL jobs on the local engine', () => {
  it('runs the seed workflow for real: schema, table, four rows', async () => {
    const ws = workspace();
    cpSync('examples/blog', ws.dir, { recursive: true });
    const r = await cli(['run', ws.dir, '--home', ws.home, '--json', '--database-url', db.connection.url]);
    expect(r.stderr).not.toMatch(/rsqlo:/);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as Doc;
    expect(doc.jobs.map((j) => j.execution_status)).toEqual(Array(6).fill('Completed'));
    const rows = await query<{ s_no: number; script_name: string }>(
      db.connection,
      'select s_no, script_name from rsql_blog.blog_table order by s_no',
    );
    expect(rows.map((x) => x.script_name)).toEqual([
      'rsql_blog_script_3.sh',
      'rsql_blog_script_4.sh',
      'rsql_blog_script_5.sh',
      'rsql_blog_script_6.sh',
    ]);
    // The wrappers' output is in the job logs: the runner's echo, command tags and \remark.
    const log = readFileSync(doc.jobs[1]?.log_location as string, 'utf8');
    expect(log).toContain('CREATE TABLE');
    expect(log).toContain('**** Statement executed successfully ****');
  });

  it('a seed-style wrapper that hits an SQL error and \\exit 12 fails its job with exit code 12 and the error text', async () => {
    const ws = workspace();
    ws.script(
      'broken.sh',
      [
        'rsql -h "$HOST" -U "$USER" -d "$DB" << EOF',
        'begin;',
        "SET query_group to 'etl';",
        'insert into no_such_schema.no_such_table values (1);',
        '\\if :ERROR <> 0',
        "  \\echo 'Insert failed with error code' :ERRORCODE",
        '  \\remark :LAST_ERROR_MESSAGE',
        '  \\exit 12',
        '\\endif',
        'commit;',
        'EOF',
        'exit $?',
      ].join('\n'),
    );
    ws.script('after.sh', `touch ${ws.dir}/after.ran`);
    const file = ws.workflow({
      workflow_id: 'rsql_fail',
      workflow_stages: stages(['sequential', ['broken.sh', 'after.sh']]),
    });
    const r = await cli(['run', file, '--home', ws.home, '--json', '--database-url', db.connection.url]);
    expect(r.code).toBe(1);
    const job = (JSON.parse(r.stdout) as Doc).jobs[0] as JobAuditRecord;
    expect(job).toMatchObject({ execution_status: 'Failed', exit_code: 12 });
    expect(job.error_message).toContain('relation "no_such_schema.no_such_table" does not exist');
    const log = readFileSync(job.log_location as string, 'utf8');
    expect(log).toContain('Insert failed with error code 42P01');
  });

  it('runs .sql scripts through the runner directly, with -v style parameters from the workflow', async () => {
    const ws = workspace();
    writeFileSync(
      path.join(ws.scripts, 'load.sql'),
      [
        'create table if not exists sql_job_target (region text, n int);',
        "insert into sql_job_target select :'target_region', count(*) from generate_series(1, 5);",
        '\\if :ACTIVITYCOUNT <> 1',
        '  \\exit 7',
        '\\endif',
      ].join('\n'),
    );
    const file = ws.workflow({
      workflow_id: 'sql_job',
      workflow_stages: stages([
        'sequential',
        [{ script: 'load.sql', args: ['-v', 'target_region=eu-west-1'] }],
      ]),
    });
    const r = await cli(['run', file, '--home', ws.home, '--json', '--database-url', db.connection.url]);
    expect(r.stderr).not.toMatch(/rsqlo:/);
    expect(r.code).toBe(0);
    expect(await query(db.connection, 'select region, n from sql_job_target')).toEqual([
      { region: 'eu-west-1', n: 5 },
    ]);
  });

  it('rsqlo sql runs -c, -f and a script on stdin against the engine database', async () => {
    const ws = workspace();
    const url = db.connection.url;
    const c = await cli(['sql', '--database-url', url, '-At', '-c', 'select 40 + 2']);
    expect(c).toMatchObject({ code: 0, stdout: '42\n' });
    const f = path.join(ws.dir, 'q.sql');
    writeFileSync(f, "\\set who 'world'\nselect 'hello ' || :'who' as greeting;\n");
    const fr = await cli(['sql', '-f', f, '--database-url', url, '-t', '-A']);
    expect(fr).toMatchObject({ code: 0, stdout: 'hello world\n' });
    const piped = spawnSync(process.execPath, [BIN, 'sql', '--database-url', url, '-At'], {
      input: 'select 1;\n\\if :ERROR\n\\exit 9\n\\endif\nselect 2;\n\\exit 5\n',
      encoding: 'utf8',
    });
    expect(piped.stdout).toBe('1\n2\n');
    expect(piped.status).toBe(5);
    const bad = await cli(['sql', '--database-url', url, '-c', 'select * from nope']);
    expect(bad.stderr).toContain('rsql: ERROR:');
  });

  it('starts the embedded PostgreSQL under the engine home on demand and stops it afterwards', async () => {
    const ws = workspace();
    chmodSync(ws.dir, 0o755); // as root, the server runs as the postgres user and must reach it
    cpSync('examples/blog', ws.dir, { recursive: true });
    const r = await cli(['run', ws.dir, '--home', ws.home], {}, { database: true });
    expect(r.stderr).not.toMatch(/warning|rsqlo:/);
    expect(r.code).toBe(0);
    const count = await cli([
      'sql',
      '--home',
      ws.home,
      '-At',
      '-c',
      'select count(*) from rsql_blog.blog_table',
    ]);
    expect(count).toMatchObject({ code: 0, stdout: '4\n' });
    // Nothing left running under that home: both commands stopped the server they started.
    const ps = spawnSync('bash', ['-c', `ps -eo args | grep -F -- '${ws.home}/pg' | grep -v grep || true`], {
      encoding: 'utf8',
    });
    expect(ps.stdout.trim()).toBe('');
  });
});
