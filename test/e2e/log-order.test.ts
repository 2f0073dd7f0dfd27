/**
 * Job logs in order (issue 12 item 6): a job's stdout and stderr lines appear in its log in the
 * order they were written — an `rsql: ERROR` line before the `\echo` lines that follow it — on the
 * local engine with the real RSQL runner and a real database. (The EC2 agent runs jobs with the
 * same job runner; agent/daemon.test.ts checks its log file and what it ships to CloudWatch Logs.)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobAuditRecord } from '../../contracts/audit.js';
import { createTestDatabase } from '../support/postgres.js';
import { cli, stages, workspace } from '../support/workspace.js';

let db: Awaited<ReturnType<typeof createTestDatabase>>;
beforeAll(async () => {
  db = await createTestDatabase('log_order');
});
afterAll(async () => {
  await db?.drop();
});

describe('job logs keep stdout and stderr in the order written', () => {
  it('rsql errors between \\echo lines (ON_ERROR_STOP off, pipelined), then bash echo and >&2, many times', async () => {
    const ws = workspace();
    const N = 150;
    const rsql: string[] = [];
    const expected: string[] = [];
    for (let i = 1; i <= N; i++) {
      rsql.push(
        `\\echo before ${i}`,
        'select 1/0;',
        `\\echo after ${i}`,
        `select 'row ${i}' as r;`,
        `\\remark remark ${i}`,
      );
      expected.push(
        `before ${i}`,
        'rsql: ERROR: division by zero',
        `after ${i}`,
        'r',
        `row ${i}`,
        '(1 row)',
        `remark ${i}`,
      );
    }
    for (let i = 1; i <= N; i++) expected.push(`out ${i}`, `err ${i}`);
    writeFileSync(
      path.join(ws.scripts, 'interleave.sh'),
      [
        '#!/bin/bash',
        `rsql -h "$HOST" -U "$USER" -d "$DB" <<'RSQL'`,
        ...rsql,
        'RSQL',
        `for i in $(seq 1 ${N}); do echo "out $i"; echo "err $i" >&2; done`,
        '',
      ].join('\n'),
    );
    ws.workflow({ workflow_id: 'log_order', workflow_stages: stages(['sequential', ['interleave.sh']]) });
    const r = await cli(['run', ws.dir, '--home', ws.home, '--json', '--database-url', db.connection.url]);
    expect(r.code, r.stderr).toBe(0);
    const job = (JSON.parse(r.stdout) as { jobs: JobAuditRecord[] }).jobs[0] as JobAuditRecord;
    const lines = readFileSync(job.log_location as string, 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !/^-+$/.test(l)); // the result table's rule line
    expect(lines).toEqual(expected);
  });
});
