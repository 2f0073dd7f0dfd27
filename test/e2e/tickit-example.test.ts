/**
 * The converted-style example (examples/tickit, issue 16's acceptance): `rsqlo run examples/tickit` on the
 * embedded PostgreSQL — COPY from the local "S3" under <home>/s3, the stl_load_errors error branch,
 * transforms with Redshift functions, an UNLOAD — ends Completed with the row counts its README documents.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { JobAuditRecord, WorkflowAuditRecord } from '../../contracts/audit.js';
import { cli, workspace } from '../support/workspace.js';

type Doc = { workflow: WorkflowAuditRecord; jobs: JobAuditRecord[] };

/** The counts examples/tickit/README.md documents, as `name|count` lines. */
const COUNTS_SQL = `select 'users', count(*) from tickit.users
union all select 'users without e-mail', count(*) from tickit.users where email is null
union all select 'venue', count(*) from tickit.venue
union all select 'venues without seats', count(*) from tickit.venue where venueseats is null
union all select 'event', count(*) from tickit.event
union all select 'sales', count(*) from tickit.sales
union all select 'load_rejects', count(*) from tickit.load_rejects
union all select 'venue_sales', count(*) from tickit.venue_sales
union all select 'tickets', sum(tickets) from tickit.venue_sales`;

const DOCUMENTED = [
  'users|120',
  'users without e-mail|12',
  'venue|20',
  'venues without seats|3',
  'event|60',
  'sales|300',
  'load_rejects|2',
  'venue_sales|20',
  'tickets|762',
];

describe('examples/tickit', () => {
  it('runs on the embedded PostgreSQL, ends Completed with the documented row counts, and re-runs', async () => {
    const ws = workspace();
    chmodSync(ws.dir, 0o755); // as root, the server runs as the postgres user and must reach it
    cpSync('examples/tickit', ws.dir, { recursive: true });
    const env = { RSQL_S3_ROOT: undefined };
    const r = await cli(['run', ws.dir, '--home', ws.home, '--json'], env, { database: true });
    expect(r.stderr).not.toMatch(/warning|rsqlo:/);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as Doc;
    expect(doc.workflow.execution_status).toBe('Completed');
    expect(doc.jobs.map((j) => [j.job_name, j.execution_status])).toEqual([
      ['tickit_01_land_files.sh', 'Completed'],
      ['tickit_02_create_tables.sh', 'Completed'],
      ['tickit_03_load_dimensions.sh', 'Completed'],
      ['tickit_04_load_sales.sh', 'Completed'],
      ['tickit_05_venue_sales.sh', 'Completed'],
      ['tickit_06_unload.sh', 'Completed'],
    ]);

    // the error branch ran: the strict COPY failed as on Redshift and stl_load_errors was read
    const salesLog = readFileSync(doc.jobs[3]?.log_location as string, 'utf8');
    expect(salesLog).toContain(
      "rsql: ERROR: Load into table 'sales' failed.  Check 'stl_load_errors' system table for details.",
    );
    expect(salesLog).toMatch(
      /s3:\/\/tickit-landing\/2008\/sales_tab\.txt\.0\.gz \|\s+151 \| qtysold \|\s+1207/,
    );
    expect(salesLog).toContain('sales loaded: 300');
    expect(salesLog).not.toContain('arn:aws:iam'); // the role is accepted and ignored, never printed

    const sql = (text: string) => cli(['sql', '--home', ws.home, '-At', '-c', text]);
    const counts = await sql(COUNTS_SQL);
    expect(counts.stderr).toBe('');
    expect(counts.stdout.trim().split('\n')).toEqual(DOCUMENTED);
    const rejects = await sql(
      'select filename, line_number, colname, err_code from tickit.load_rejects order by filename, line_number',
    );
    expect(rejects.stdout).toBe(
      's3://tickit-landing/2008/sales_tab.txt.0.gz|151|qtysold|1207\ns3://tickit-landing/2008/sales_tab.txt.1.gz|71|saletime|1206\n',
    );

    // the UNLOAD: one CSV file with a header (PARALLEL OFF → <prefix>000) and its manifest
    const exports = path.join(ws.home, 's3', 'tickit-exports', 'venue_sales');
    expect(readdirSync(exports).sort()).toEqual(['venue_sales_000', 'venue_sales_manifest']);
    const csv = readFileSync(path.join(exports, 'venue_sales_000'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('venueid,venuename,region,seats,events,tickets,revenue,event_names');
    expect(csv).toHaveLength(21);
    expect(JSON.parse(readFileSync(path.join(exports, 'venue_sales_manifest'), 'utf8'))).toEqual({
      entries: [{ url: 's3://tickit-exports/venue_sales/venue_sales_000' }],
    });

    // a second run (files landed again, tables recreated, ALLOWOVERWRITE) ends the same way
    const again = await cli(['run', ws.dir, '--home', ws.home, '--json'], env, { database: true });
    expect(again.code).toBe(0);
    expect((JSON.parse(again.stdout) as Doc).workflow.execution_status).toBe('Completed');
    expect((await sql(COUNTS_SQL)).stdout.trim().split('\n')).toEqual(DOCUMENTED);

    // nothing left running under that home
    const ps = spawnSync('bash', ['-c', `ps -eo args | grep -F -- '${ws.home}/pg' | grep -v grep || true`], {
      encoding: 'utf8',
    });
    expect(ps.stdout.trim()).toBe('');
  });
});
